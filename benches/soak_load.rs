//! Load driver for a mixed workload, the way a fleet's clients use gatehouse at once:
//! client credentials, introspection, userinfo, refresh rotation, authorization-code round
//! trips with an existing session, and (when SOAK_REGISTER_EVERY is set) dynamic client
//! registration. Started by bench/soak.sh and tests/faults.sh; every setting is an
//! environment variable:
//!
//!   SOAK_BASES         comma-separated base URLs; connection c starts on base c % n and moves
//!                      to the next one when a connection is refused (a load balancer's retry:
//!                      the request never reached a server). One URL behind nginx for the soak.
//!   SOAK_CA            a PEM certificate to trust (nginx's test certificate), optional
//!   SOAK_SERVICE       `id:secret` of a client-credentials client registered with --introspect
//!   SOAK_APP           `id:secret` of the browser app (authorization_code + refresh_token,
//!                      scopes bench:read openid profile), redirect URI SOAK_REDIRECT
//!   SOAK_USER_PREFIX, SOAK_USERS, SOAK_PASSWORD   the users; connection c is user c % USERS
//!   SOAK_ADMIN_TOKEN   a gatehouse:admin access token, for registrations
//!   SOAK_REGISTER_EVERY  one registration every N operations of a connection (0: none)
//!   SOAK_REGISTERED    file that receives each acknowledged registration's client_id
//!   SOAK_CONNECTIONS, SOAK_SECONDS, SOAK_PROGRESS_SECS (a progress line every N s)
//!   SOAK_EXPECT_CUTS   1 when an instance is killed: requests cut off mid-way (transport errors)
//!                      are counted, not failures; without it any transport error fails
//!   SOAK_ALLOW_503     1 while the database is being restarted: 503 (with Retry-After) is
//!                      the answer expected then, and is retried; any other 5xx still fails
//!
//! Prints per operation: count, p50/p99/max latency, answers by status, transport errors;
//! then the refresh ledger: every refresh token a client received in a 200 must work on its
//! next use, unless that use was cut off mid-request (then a retry either works or finds the
//! token legitimately rotated by the answer the client never saw). Exits 1 on any 5xx other
//! than 503, on a broken refresh token, or on an unexpected status.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

// Each driver uses part of the browser.
#[allow(dead_code)]
#[path = "support/browser.rs"]
mod browser;
use browser::{round_trip, Browser, Config, TripError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    ClientCredentials,
    Introspect,
    Userinfo,
    Refresh,
    CodeRoundTrip,
    Register,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::ClientCredentials => "client_credentials",
            Op::Introspect => "introspect",
            Op::Userinfo => "userinfo",
            Op::Refresh => "refresh",
            Op::CodeRoundTrip => "code_round_trip",
            Op::Register => "register",
        }
    }
}

/// The mix, in turn: tokens for services and their checks dominate, as in a real fleet.
const MIX: &[Op] = &[
    Op::ClientCredentials,
    Op::Introspect,
    Op::Userinfo,
    Op::Refresh,
    Op::ClientCredentials,
    Op::Introspect,
    Op::CodeRoundTrip,
    Op::Userinfo,
];

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

#[derive(Default)]
struct Ledger {
    /// Refresh tokens received and later used successfully.
    rotated: u64,
    /// Uses cut off mid-request whose retry found the token already rotated.
    rotated_by_lost_answer: u64,
    /// Tokens received in a 200 and refused on their next, uninterrupted use.
    broken: u64,
}

struct Shared {
    stats: Mutex<BTreeMap<Op, Stats>>,
    ledger: Mutex<Ledger>,
    unexpected: Mutex<Vec<String>>,
    registered: Option<Mutex<std::fs::File>>,
    done: AtomicU64,
}

struct Settings {
    bases: Vec<Url>,
    root: Option<reqwest::Certificate>,
    service: (String, String),
    app: Config,
    users: usize,
    admin_token: String,
    register_every: u64,
    allow_503: bool,
    expect_cuts: bool,
    connections: usize,
    duration: Duration,
    progress: Duration,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("soak_load: set {name} (see the module comment)");
        std::process::exit(2)
    })
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn pair(name: &str) -> (String, String) {
    let value = env(name);
    let (id, secret) = value.split_once(':').expect("id:secret");
    (id.to_owned(), secret.to_owned())
}

impl Settings {
    fn from_env() -> Self {
        let bases: Vec<Url> = env("SOAK_BASES")
            .split(',')
            .map(|b| Url::parse(b).expect("SOAK_BASES"))
            .collect();
        let root = std::env::var("SOAK_CA").ok().map(|path| {
            reqwest::Certificate::from_pem(&std::fs::read(path).expect("SOAK_CA")).unwrap()
        });
        let (app_id, app_secret) = pair("SOAK_APP");
        Settings {
            app: Config {
                base: bases[0].clone(),
                client_id: app_id,
                client_secret: app_secret,
                redirect: env("SOAK_REDIRECT"),
                prefix: env("SOAK_USER_PREFIX"),
                password: env("SOAK_PASSWORD"),
            },
            bases,
            root,
            service: pair("SOAK_SERVICE"),
            users: env("SOAK_USERS").parse().expect("SOAK_USERS"),
            admin_token: env_or("SOAK_ADMIN_TOKEN", ""),
            register_every: env_or("SOAK_REGISTER_EVERY", "0").parse().unwrap(),
            allow_503: env_or("SOAK_ALLOW_503", "0") == "1",
            expect_cuts: env_or("SOAK_EXPECT_CUTS", "0") == "1",
            connections: env("SOAK_CONNECTIONS").parse().unwrap(),
            duration: Duration::from_secs(env("SOAK_SECONDS").parse().unwrap()),
            progress: Duration::from_secs(env_or("SOAK_PROGRESS_SECS", "60").parse().unwrap()),
        }
    }
}

/// One connection: a logged-in browser with its tokens, a service with its token.
struct Client {
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    cfg: Config,
    base: usize,
    user: usize,
    browser: Browser,
    user_access: String,
    refresh: String,
    service_access: String,
}

/// Why a code round trip stopped: an answer it did not expect (status 0: a page without its
/// form or a redirect without its code), or a connection cut off.
#[derive(Debug)]
enum Stopped {
    Answered(u16, String),
    Cut(#[allow(dead_code)] String),
}

/// What one request came to.
enum Answer {
    Status(u16, Value),
    /// Cut off: the request may or may not have been carried out.
    Interrupted,
}

impl Client {
    fn url(&self, path: &str) -> Url {
        self.settings.bases[self.base].join(path).unwrap()
    }

    /// Moves to the next instance (the connection was refused: this one is down).
    fn fail_over(&mut self) {
        self.base = (self.base + 1) % self.settings.bases.len();
        self.cfg.base = self.settings.bases[self.base].clone();
    }

    /// Sends the request built for the current base; a refused connection moves to the next
    /// base and tries again (once per base).
    async fn send(
        &mut self,
        build: impl Fn(&Client) -> reqwest::RequestBuilder,
    ) -> Result<Answer, reqwest::Error> {
        let mut tries = self.settings.bases.len();
        loop {
            match build(self).send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    if status == 503 && !res.headers().contains_key("retry-after") {
                        self.unexpected_here(format!("503 without Retry-After from {}", res.url()));
                    }
                    let body = res.bytes().await;
                    return Ok(match body {
                        Ok(body) => Answer::Status(
                            status,
                            serde_json::from_slice(&body).unwrap_or_default(),
                        ),
                        Err(_) => Answer::Interrupted,
                    });
                }
                Err(e) if e.is_connect() && tries > 1 => {
                    tries -= 1;
                    self.fail_over();
                }
                Err(e) if e.is_connect() => return Err(e),
                Err(_) => return Ok(Answer::Interrupted),
            }
        }
    }

    fn record(&self, op: Op, started: Instant, answer: &Answer) {
        let mut stats = self.shared.stats.lock().unwrap();
        let stats = stats.entry(op).or_default();
        match answer {
            Answer::Status(status, _) => {
                *stats.statuses.entry(*status).or_default() += 1;
                stats
                    .latencies_us
                    .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            Answer::Interrupted => stats.transport_errors += 1,
        }
    }

    /// A 503 while the database is down is the answer asked for (SOAK_ALLOW_503).
    fn tolerated(&self, status: u16) -> bool {
        status == 503 && self.settings.allow_503
    }

    fn unexpected_here(&self, what: String) {
        let mut list = self.shared.unexpected.lock().unwrap();
        if list.len() < 50 {
            list.push(what);
        }
    }

    fn unexpected(&self, op: Op, what: String) {
        self.unexpected_here(format!("{}: {what}", op.name()));
    }

    /// A code round trip on the current base, keeping its tokens.
    async fn code_round_trip(&mut self) -> Result<(), Stopped> {
        let started = Instant::now();
        let mut tries = self.settings.bases.len();
        let result = loop {
            match round_trip(&self.cfg, &self.browser, self.user).await {
                Err(TripError::Transport { refused: true, .. }) if tries > 1 => {
                    tries -= 1;
                    self.fail_over();
                }
                other => break other,
            }
        };
        let mut stats = self.shared.stats.lock().unwrap();
        let stats = stats.entry(Op::CodeRoundTrip).or_default();
        match result {
            Ok(trip) => {
                *stats.statuses.entry(200).or_default() += 1;
                stats
                    .latencies_us
                    .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                self.user_access = trip.token["access_token"].as_str().unwrap().to_owned();
                self.refresh = trip.token["refresh_token"].as_str().unwrap().to_owned();
                Ok(())
            }
            Err(TripError::Status { step, status }) => {
                *stats.statuses.entry(status).or_default() += 1;
                Err(Stopped::Answered(
                    status,
                    format!("{step} answered {status}"),
                ))
            }
            Err(TripError::Transport { message, .. }) => {
                stats.transport_errors += 1;
                Err(Stopped::Cut(message))
            }
            Err(TripError::Page(message)) => Err(Stopped::Answered(0, message)),
        }
    }

    /// POST /token with the client's Basic credentials, recorded under `op`.
    async fn token(&mut self, op: Op, client: (String, String), form: &[(&str, &str)]) -> Answer {
        let started = Instant::now();
        let (id, secret) = client;
        let answer = self
            .send(|c| {
                c.browser
                    .http
                    .post(c.url("/token"))
                    .basic_auth(&id, Some(&secret))
                    .form(form)
            })
            .await
            .unwrap_or(Answer::Interrupted);
        self.record(op, started, &answer);
        answer
    }

    async fn service_token(&mut self) -> Answer {
        let service = self.settings.service.clone();
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", "bench:read"),
        ];
        let answer = self.token(Op::ClientCredentials, service, &form).await;
        if let Answer::Status(200, body) = &answer {
            self.service_access = body["access_token"].as_str().unwrap_or_default().to_owned();
        }
        answer
    }

    async fn run(&mut self, op: Op) {
        let started = Instant::now();
        let expect_200 = |this: &Client, answer: &Answer| {
            if let Answer::Status(status, body) = answer {
                if *status != 200 && *status != 201 && !this.tolerated(*status) {
                    this.unexpected(op, format!("{status} {body}"));
                }
            }
        };
        match op {
            Op::ClientCredentials => {
                let answer = self.service_token().await;
                expect_200(self, &answer);
            }
            Op::Introspect => {
                let (id, secret) = self.settings.service.clone();
                let token = self.service_access.clone();
                let answer = self
                    .send(|c| {
                        c.browser
                            .http
                            .post(c.url("/introspect"))
                            .basic_auth(&id, Some(&secret))
                            .form(&[("token", token.as_str())])
                    })
                    .await
                    .unwrap_or(Answer::Interrupted);
                self.record(op, started, &answer);
                expect_200(self, &answer);
                if let Answer::Status(200, body) = &answer {
                    if body["active"] != Value::Bool(true) {
                        self.unexpected(op, format!("a live token introspected as {body}"));
                    }
                }
            }
            Op::Userinfo => {
                let token = self.user_access.clone();
                let answer = self
                    .send(|c| c.browser.http.get(c.url("/userinfo")).bearer_auth(&token))
                    .await
                    .unwrap_or(Answer::Interrupted);
                self.record(op, started, &answer);
                expect_200(self, &answer);
            }
            Op::Refresh => self.refresh().await,
            // A cut connection is counted with the transport errors, not here.
            Op::CodeRoundTrip => {
                if let Err(Stopped::Answered(status, e)) = self.code_round_trip().await {
                    if !self.tolerated(status) {
                        self.unexpected(op, e);
                    }
                }
            }
            Op::Register => self.register().await,
        }
    }

    async fn refresh_once(&mut self) -> Answer {
        let app = (self.cfg.client_id.clone(), self.cfg.client_secret.clone());
        let token = self.refresh.clone();
        let form = [("grant_type", "refresh_token"), ("refresh_token", &token)];
        self.token(Op::Refresh, app, &form).await
    }

    /// Rotates the refresh token, keeping the ledger of what happened to each one received.
    async fn refresh(&mut self) {
        let keep = |this: &mut Client, body: &Value| {
            this.refresh = body["refresh_token"].as_str().unwrap().to_owned();
            this.user_access = body["access_token"].as_str().unwrap().to_owned();
        };
        match self.refresh_once().await {
            Answer::Status(200, body) => {
                keep(self, &body);
                self.shared.ledger.lock().unwrap().rotated += 1;
            }
            // The database is down: the token is untouched, and used again next time.
            Answer::Status(status, _) if self.tolerated(status) => {}
            Answer::Status(status, body) => {
                self.shared.ledger.lock().unwrap().broken += 1;
                self.unexpected(
                    Op::Refresh,
                    format!("a received token refused: {status} {body}"),
                );
                let _ = self.code_round_trip().await; // a new family, to go on
            }
            Answer::Interrupted => {
                // The answer was lost: the rotation may have happened. Retry once, as a
                // client would; if the token is now refused, the lost answer rotated it.
                tokio::time::sleep(Duration::from_millis(200)).await;
                match self.refresh_once().await {
                    Answer::Status(200, body) => {
                        keep(self, &body);
                        self.shared.ledger.lock().unwrap().rotated += 1;
                    }
                    Answer::Status(400, body) if body["error"] == "invalid_grant" => {
                        self.shared.ledger.lock().unwrap().rotated_by_lost_answer += 1;
                        let _ = self.code_round_trip().await;
                    }
                    _ => {
                        let _ = self.code_round_trip().await;
                    }
                }
            }
        }
    }

    async fn register(&mut self) {
        let started = Instant::now();
        let admin = self.settings.admin_token.clone();
        let name = format!("soak {}", rand::random::<u64>());
        let answer = self
            .send(|c| {
                c.browser
                    .http
                    .post(c.url("/register"))
                    .bearer_auth(&admin)
                    .json(&serde_json::json!({
                        "client_name": name,
                        "grant_types": ["client_credentials"],
                        "scope": "bench:read",
                    }))
            })
            .await
            .unwrap_or(Answer::Interrupted);
        self.record(Op::Register, started, &answer);
        match &answer {
            Answer::Status(201, body) => {
                if let Some(file) = &self.shared.registered {
                    let id = body["client_id"].as_str().unwrap_or_default();
                    writeln!(file.lock().unwrap(), "{id}").unwrap();
                }
            }
            Answer::Status(status, _) if self.tolerated(*status) => {}
            Answer::Status(status, body) => {
                self.unexpected(Op::Register, format!("{status} {body}"))
            }
            Answer::Interrupted => {}
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |us| *us as f64 / 1000.0)
}

fn main() {
    let settings = Arc::new(Settings::from_env());
    let shared = Arc::new(Shared {
        stats: Mutex::default(),
        ledger: Mutex::default(),
        unexpected: Mutex::default(),
        registered: std::env::var("SOAK_REGISTERED")
            .ok()
            .map(|path| Mutex::new(std::fs::File::create(path).expect("SOAK_REGISTERED"))),
        done: AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        let mut tasks = Vec::new();
        // Every connection warms up before any starts the measured loop.
        let ready = Arc::new(tokio::sync::Barrier::new(settings.connections + 1));
        for c in 0..settings.connections {
            let (settings, shared, ready) = (settings.clone(), shared.clone(), ready.clone());
            tasks.push(tokio::spawn(async move {
                let base = c % settings.bases.len();
                let mut cfg = settings.app.clone();
                cfg.base = settings.bases[base].clone();
                let mut client = Client {
                    browser: Browser::new(settings.root.as_ref()),
                    user: c % settings.users,
                    cfg,
                    base,
                    settings: settings.clone(),
                    shared: shared.clone(),
                    user_access: String::new(),
                    refresh: String::new(),
                    service_access: String::new(),
                };
                // Log in, approve and get a service token once, before the clock starts.
                client.code_round_trip().await.expect("warm-up round trip");
                client.service_token().await;
                ready.wait().await; // warmed up
                ready.wait().await; // the warm-up's figures cleared
                let end = Instant::now() + settings.duration;
                let mut n = 0u64;
                while Instant::now() < end {
                    n += 1;
                    let op = if settings.register_every > 0
                        && n.is_multiple_of(settings.register_every)
                    {
                        Op::Register
                    } else {
                        MIX[(n as usize + c) % MIX.len()]
                    };
                    client.run(op).await;
                    shared.done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        ready.wait().await;
        shared.stats.lock().unwrap().clear();
        shared.done.store(0, Ordering::Relaxed);
        ready.wait().await;
        let started = Instant::now();
        let progress = {
            let (shared, every) = (shared.clone(), settings.progress);
            tokio::spawn(async move {
                let mut last = 0;
                loop {
                    tokio::time::sleep(every).await;
                    let done = shared.done.load(Ordering::Relaxed);
                    let failures: u64 = shared
                        .stats
                        .lock()
                        .unwrap()
                        .values()
                        .map(|s| {
                            s.transport_errors
                                + s.statuses
                                    .iter()
                                    .filter(|(status, _)| **status >= 500)
                                    .map(|(_, n)| n)
                                    .sum::<u64>()
                        })
                        .sum();
                    println!(
                        "progress t={:>5.0}s ops/s={:>8.0} 5xx+transport so far={failures}",
                        started.elapsed().as_secs_f64(),
                        (done - last) as f64 / every.as_secs_f64(),
                    );
                    last = done;
                }
            })
        };
        for task in tasks {
            task.await.unwrap();
        }
        progress.abort();
        let elapsed = started.elapsed().as_secs_f64();
        report(&shared, &settings, elapsed)
    });
    std::process::exit(status);
}

/// Prints the figures; answers the exit status.
fn report(shared: &Shared, settings: &Settings, elapsed: f64) -> i32 {
    let mut failed = false;
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>9}  answers (status×count), transport errors",
        "operation", "count", "per_s", "p50_ms", "p99_ms", "max_ms"
    );
    for (op, stats) in shared.stats.lock().unwrap().iter_mut() {
        stats.latencies_us.sort_unstable();
        let answers: Vec<String> = stats
            .statuses
            .iter()
            .map(|(status, n)| format!("{status}×{n}"))
            .collect();
        for status in stats.statuses.keys() {
            failed |= *status >= 500 && !(*status == 503 && settings.allow_503);
        }
        failed |= stats.transport_errors > 0 && !settings.expect_cuts;
        println!(
            "{:<20} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>9.2}  {} transport={}",
            op.name(),
            stats.latencies_us.len(),
            stats.latencies_us.len() as f64 / elapsed,
            percentile(&stats.latencies_us, 0.50),
            percentile(&stats.latencies_us, 0.99),
            percentile(&stats.latencies_us, 1.0),
            answers.join(" "),
            stats.transport_errors
        );
    }
    let ledger = shared.ledger.lock().unwrap();
    println!(
        "refresh ledger: {} rotated, {} rotated by an answer lost to a cut connection, {} broken",
        ledger.rotated, ledger.rotated_by_lost_answer, ledger.broken
    );
    failed |= ledger.broken > 0;
    let unexpected = shared.unexpected.lock().unwrap();
    for line in unexpected.iter() {
        println!("unexpected: {line}");
    }
    failed |= !unexpected.is_empty();
    println!("result: {}", if failed { "FAILED" } else { "ok" });
    i32::from(failed)
}
