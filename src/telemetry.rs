//! Logging: tracing to stderr, one line per request; and the request's count and latency
//! in the server's metrics, whose scrape ([`Scrape`]) is here too.
//!
//! Request lines carry method, path (never the query string, which may hold codes or
//! tokens), status and latency, and for a server error its cause: errors are logged here,
//! once, not where they are built. No handler logs a secret, password or token.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use tracing_subscriber::EnvFilter;

use crate::accounts::login::LoginService;
use crate::domain::OAuthError;
use crate::metrics::{Metrics, UNMATCHED_ROUTE};
use crate::settings::{LogFormat, LogSettings};
use crate::storage::Database;

/// Installs the global subscriber. The returned guard flushes buffered lines on drop.
pub fn init(log: &LogSettings) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    // The writer thread gets lines in batches under load: buffered, one write per batch
    // instead of one per line, flushed whenever the queue runs empty (so an idle server's
    // lines still appear at once).
    let stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking(stderr);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

/// Logs one line per request, and counts it in the server's metrics.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    // Debug formatting escapes control characters a hostile path might carry.
    let path: String = req.path().chars().take(200).collect();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let response = next.call(req).await;
    let (status, cause) = match &response {
        Ok(res) => (res.status(), res.response().error().and_then(cause_of)),
        Err(e) => (e.as_response_error().status_code(), cause_of(e)),
    };
    if let Some(metrics) = metrics {
        // The pattern the request matched, never its path: the series stay few whatever
        // paths and methods strangers send.
        let route = response
            .as_ref()
            .ok()
            .and_then(|r| r.request().match_pattern());
        let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
        metrics.request(
            route,
            method_label(&method),
            status.as_str(),
            started.elapsed(),
        );
    }
    let status = status.as_u16();
    match cause {
        // A server error's cause is logged here, once, on the request's own line.
        Some(cause) => tracing::error!(
            method = %method,
            path = ?path,
            status,
            latency_us = started.elapsed().as_micros() as u64,
            error = cause,
            "request failed"
        ),
        None => tracing::info!(
            method = %method,
            path = ?path,
            status,
            latency_us = started.elapsed().as_micros() as u64,
            "request"
        ),
    }
    response
}

/// The methods gatehouse answers, as themselves; any other as `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| name)
}

/// What `/metrics` answers: the server's metrics, with the gauges of the current state (the
/// database pool, the password queue) read at the moment of the scrape.
pub struct Scrape {
    metrics: Arc<Metrics>,
    db: Database,
    login: Arc<LoginService>,
}

impl Scrape {
    pub fn new(metrics: Arc<Metrics>, db: Database, login: Arc<LoginService>) -> Self {
        Scrape { metrics, db, login }
    }

    /// The text a Prometheus server scrapes.
    pub fn render(&self) -> String {
        let m = &self.metrics;
        let (open, idle, max) = self.db.pool_state();
        m.pool_connections
            .with_label_values(&["idle"])
            .set(idle.into());
        m.pool_connections
            .with_label_values(&["in_use"])
            .set(open.saturating_sub(idle).into());
        m.pool_max_connections.set(max.into());
        m.password_queue_depth
            .set(self.login.password_queue_depth() as i64);
        m.render()
    }
}

/// The operator-facing cause carried by a server error, if the error is one of ours.
fn cause_of(e: &actix_web::Error) -> Option<&str> {
    match e.as_error::<OAuthError>() {
        Some(e) => e.cause(),
        None => match e.as_error::<crate::admin::api::ApiError>() {
            Some(e) => e.cause(),
            None => e
                .as_error::<crate::admin::registration::RegistrationError>()
                .and_then(|e| e.cause()),
        },
    }
}
