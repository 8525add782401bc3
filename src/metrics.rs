//! What `/metrics` reports: one [`Metrics`] per running server, with its own Prometheus
//! registry (no process-wide statics: several servers may share a process, as the fleet
//! tests run them), and the text format Prometheus scrapes.
//!
//! The counters are moved where things happen; the gauges that describe a current state (the
//! pool, the password queue) are set by `telemetry::scrape` just before each scrape.
//!
//! Security events are counted where they are recorded (`storage::security_events`), which
//! sees only a database connection: [`Metrics::scope`] makes the server's metrics the
//! current ones on the blocking thread for the length of one `Database::run`.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::GrantType;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Latency buckets in seconds, from a token minted in memory (under a millisecond) to a
/// request that waited out the pool or a password queue.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A request whose path matched no route: one label value, whatever the path was, so a
/// stranger cannot grow the number of series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    tokens_issued: IntCounterVec,
    security_events: IntCounterVec,
    pub pool_connections: IntGaugeVec,
    pub pool_max_connections: IntGauge,
    pool_wait: Histogram,
    pub password_queue_depth: IntGauge,
    housekeeping_runs: IntCounterVec,
    housekeeping_purged: IntCounterVec,
    housekeeping_last_run: IntGauge,
    table_rows: IntGaugeVec,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Metrics>>> = const { RefCell::new(None) };
}

/// How one housekeeping tick went.
#[derive(Debug, Clone, Copy)]
pub enum HousekeepingRun {
    /// This instance purged (perhaps nothing).
    Purged,
    /// Another instance's run held the lock.
    Skipped,
    Failed,
}

impl HousekeepingRun {
    fn as_str(self) -> &'static str {
        match self {
            HousekeepingRun::Purged => "purged",
            HousekeepingRun::Skipped => "skipped",
            HousekeepingRun::Failed => "failed",
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric")
        };
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("a valid metric");
        let seconds = |name: &str, help: &str| {
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
        };
        let metrics = Metrics {
            registry: Registry::new(),
            requests: counter(
                "gatehouse_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
                &["route", "method", "status"],
            ),
            latency: HistogramVec::new(
                seconds(
                    "gatehouse_http_request_duration_seconds",
                    "Time from the request's head to its answer, by route pattern and status \
                     class (2xx, 4xx, ...).",
                ),
                &["route", "status_class"],
            )
            .expect("a valid metric"),
            tokens_issued: counter(
                "gatehouse_tokens_issued_total",
                "Successful answers of the token endpoint, by grant type.",
                &["grant_type"],
            ),
            security_events: counter(
                "gatehouse_security_events_total",
                "Security events recorded by this instance, by kind (refresh_token_reuse, \
                 lockout, login_failed, authorization_code_replay, ...).",
                &["kind"],
            ),
            pool_connections: gauges(
                "gatehouse_db_pool_connections",
                "Database connections the pool holds, by state (idle, in_use).",
                &["state"],
            ),
            pool_max_connections: gauge(
                "gatehouse_db_pool_max_connections",
                "The most database connections the pool opens.",
            ),
            pool_wait: Histogram::with_opts(seconds(
                "gatehouse_db_pool_wait_seconds",
                "Time a request waited for a pooled database connection (including waits \
                 that ended in a timeout).",
            ))
            .expect("a valid metric"),
            password_queue_depth: gauge(
                "gatehouse_password_queue_depth",
                "Password checks admitted and waiting or running.",
            ),
            housekeeping_runs: counter(
                "gatehouse_housekeeping_runs_total",
                "Housekeeping ticks, by outcome (purged; skipped: another instance's run \
                 held the lock; failed).",
                &["outcome"],
            ),
            housekeeping_purged: counter(
                "gatehouse_housekeeping_purged_rows_total",
                "Expired rows housekeeping deleted, by table.",
                &["table"],
            ),
            housekeeping_last_run: gauge(
                "gatehouse_housekeeping_last_run_timestamp_seconds",
                "When this instance last finished a housekeeping tick that did not fail.",
            ),
            table_rows: gauges(
                "gatehouse_table_rows",
                "Rows in each table housekeeping keeps bounded (counted up to 1,000,000), \
                 reported by the instance whose run purged last.",
                &["table"],
            ),
        };
        metrics.register_all();
        // Series that exist from the start, so that an increase over them counts the first
        // event after a restart (a series that appears with 1 is not an increase).
        for grant in GrantType::ALL {
            metrics.tokens_issued.with_label_values(&[grant.as_str()]);
        }
        for run in [
            HousekeepingRun::Purged,
            HousekeepingRun::Skipped,
            HousekeepingRun::Failed,
        ] {
            metrics.housekeeping_runs.with_label_values(&[run.as_str()]);
        }
        metrics
    }

    fn register_all(&self) {
        let r = &self.registry;
        let all: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.requests.clone()),
            Box::new(self.latency.clone()),
            Box::new(self.tokens_issued.clone()),
            Box::new(self.security_events.clone()),
            Box::new(self.pool_connections.clone()),
            Box::new(self.pool_max_connections.clone()),
            Box::new(self.pool_wait.clone()),
            Box::new(self.password_queue_depth.clone()),
            Box::new(self.housekeeping_runs.clone()),
            Box::new(self.housekeeping_purged.clone()),
            Box::new(self.housekeeping_last_run.clone()),
            Box::new(self.table_rows.clone()),
        ];
        for c in all {
            r.register(c).expect("each metric registered once");
        }
        // Memory, CPU, open files of this process (Linux): what "flat memory" is read from.
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("the process collector registered once");
    }

    /// One answered request. `route` is the pattern it matched, never the raw path.
    /// The histogram has fewer labels than the counter: its series are many lines each.
    pub fn request(&self, route: &str, method: &str, status: &str, took: Duration) {
        self.requests
            .with_label_values(&[route, method, status])
            .inc();
        let class = match status.as_bytes().first() {
            Some(b'1') => "1xx",
            Some(b'2') => "2xx",
            Some(b'3') => "3xx",
            Some(b'4') => "4xx",
            _ => "5xx",
        };
        self.latency
            .with_label_values(&[route, class])
            .observe(took.as_secs_f64());
    }

    /// Starts the series of these security event kinds at 0 (see [`Metrics::new`]).
    pub fn expect_security_events<'a>(&self, kinds: impl IntoIterator<Item = &'a str>) {
        for kind in kinds {
            self.security_events.with_label_values(&[kind]);
        }
    }

    pub fn token_issued(&self, grant: GrantType) {
        self.tokens_issued
            .with_label_values(&[grant.as_str()])
            .inc();
    }

    pub fn pool_waited(&self, took: Duration) {
        self.pool_wait.observe(took.as_secs_f64());
    }

    pub fn housekeeping_ran(&self, run: HousekeepingRun, at: i64) {
        let outcome = run.as_str();
        self.housekeeping_runs.with_label_values(&[outcome]).inc();
        if !matches!(run, HousekeepingRun::Failed) {
            self.housekeeping_last_run.set(at);
        }
    }

    pub fn purged(&self, table: &str, rows: usize) {
        self.housekeeping_purged
            .with_label_values(&[table])
            .inc_by(rows as u64);
    }

    pub fn table_rows(&self, table: &str, rows: i64) {
        self.table_rows.with_label_values(&[table]).set(rows);
    }

    /// Another instance counts the rows now: this one stops reporting its older figures.
    pub fn forget_table_rows(&self) {
        self.table_rows.reset();
    }

    /// Runs `f` with `metrics` as the current thread's (see the module's comment).
    pub fn scope<T>(metrics: Option<&Arc<Metrics>>, f: impl FnOnce() -> T) -> T {
        struct Restore(Option<Arc<Metrics>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| *c.borrow_mut() = self.0.take());
            }
        }
        let Some(metrics) = metrics else {
            return f();
        };
        let before = CURRENT.with(|c| c.borrow_mut().replace(metrics.clone()));
        let _restore = Restore(before);
        f()
    }

    /// Counts a security event of `kind` for the server running this thread's work, if any
    /// (the CLI's commands count nothing).
    pub fn security_event(kind: &str) {
        CURRENT.with(|c| {
            if let Some(m) = c.borrow().as_ref() {
                m.security_events.with_label_values(&[kind]).inc();
            }
        });
    }

    /// Everything registered, in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("the text encoder writes to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
