//! Load driver for complete authorization-code round trips, the way a browser and a client
//! app make them: GET /authorize → login form → consent form → redirect with a code →
//! POST /token with the PKCE verifier. A fixed-request load generator cannot follow forms.
//!
//! Modes:
//!   consent     a new browser per round trip, logging in as a user who has never approved
//!               the app: login page, password check, consent page, allow, token
//!   remembered  a new browser per round trip, a user who approved before: login page,
//!               password check, straight back with a code, token
//!   session     one browser per connection, already logged in, consent remembered:
//!               /authorize answers with the code at once, then token
//!
//! Users are USER_PREFIX0 … USER_PREFIX{USERS-1}, all with PASSWORD. In `consent` mode each
//! is used once (the run ends early if USERS runs out, and each run needs a client nobody has
//! approved yet); in the other modes connection c is user c, who approves once before the
//! clock starts. Prints round trips/s and the p50/p99
//! of the whole trip, of the password-check step (POST /login), and of everything else.
//! Started by bench/load.sh; by hand:
//!
//!   cargo bench --bench code_flow_load -- BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI \
//!       MODE USER_PREFIX USERS PASSWORD CONNECTIONS SECONDS

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

// Each driver uses part of the browser.
#[allow(dead_code)]
#[path = "support/browser.rs"]
mod browser;
use browser::{round_trip, Browser, Config};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [base, client_id, client_secret, redirect, mode, prefix, users, password, connections, seconds] =
        &args[..]
    else {
        eprintln!("usage: code_flow_load BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI MODE USER_PREFIX USERS PASSWORD CONNECTIONS SECONDS");
        std::process::exit(2);
    };
    let cfg = Config {
        base: Url::parse(base).expect("BASE_URL"),
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        redirect: redirect.clone(),
        prefix: prefix.clone(),
        password: password.clone(),
    };
    let users: usize = users.parse().expect("USERS");
    let connections: usize = connections.parse().expect("CONNECTIONS");
    let duration = Duration::from_secs(seconds.parse().expect("SECONDS"));
    let mode = mode.clone();
    assert!(
        ["consent", "remembered", "session"].contains(&mode.as_str()),
        "MODE is consent, remembered or session"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let next_user = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for c in 0..connections {
            let (cfg, mode, next_user) = (cfg.clone(), mode.clone(), next_user.clone());
            tasks.push(tokio::spawn(async move {
                // Approve (and for `session`, stay logged in) once, outside the measurement.
                let session = (mode == "session").then(|| Browser::new(None));
                if mode != "consent" {
                    let warm = Browser::new(None);
                    round_trip(&cfg, session.as_ref().unwrap_or(&warm), c % users)
                        .await
                        .expect("warm-up round trip");
                }
                let (mut trips, mut failures) = (Vec::new(), 0u64);
                let end = Instant::now() + duration;
                while Instant::now() < end {
                    let user = match mode.as_str() {
                        "consent" => match next_user.fetch_add(1, Ordering::Relaxed) {
                            n if n < users => n,
                            _ => break, // every user has approved once: the run is over
                        },
                        _ => c % users,
                    };
                    let fresh;
                    let browser = match &session {
                        Some(browser) => browser,
                        None => {
                            fresh = Browser::new(None);
                            &fresh
                        }
                    };
                    match round_trip(&cfg, browser, user).await {
                        Ok(trip) => trips.push(trip),
                        Err(e) => {
                            failures += 1;
                            eprintln!("round trip failed: {e}");
                        }
                    }
                }
                (trips, failures)
            }));
        }
        let started = Instant::now();
        let (mut trips, mut failures) = (Vec::new(), 0);
        for task in tasks {
            let (t, f) = task.await.unwrap();
            trips.extend(t);
            failures += f;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let pct = |mut v: Vec<Duration>, p: f64| {
            v.sort();
            v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let total: Vec<Duration> = trips.iter().map(|t| t.total).collect();
        let login: Vec<Duration> = trips.iter().map(|t| t.login).collect();
        let rest: Vec<Duration> = trips.iter().map(|t| t.total - t.login).collect();
        println!(
            "{:<11} {:>5} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6}",
            mode,
            connections,
            trips.len() as f64 / elapsed,
            pct(total.clone(), 0.50),
            pct(total, 0.99),
            pct(login.clone(), 0.50),
            pct(login, 0.99),
            pct(rest.clone(), 0.50),
            pct(rest, 0.99),
            failures
        );
    });
}
