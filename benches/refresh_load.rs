//! Load driver for the refresh-token grant, which a fixed-request load generator cannot
//! drive: every refresh hands back the token the next request must present.
//!
//! Each of C connections logs in once (password grant), then refreshes in a loop with the
//! token it just received, for D seconds. Prints refreshes/s, p50 and p99 latency and
//! failures. Started by bench/load.sh; by hand:
//!
//!   cargo bench --bench refresh_load -- URL CLIENT_ID CLIENT_SECRET USERNAME PASSWORD CONNECTIONS SECONDS

use std::time::{Duration, Instant};

use serde_json::Value;

async fn post(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Option<Value> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let res = http
        .post(url)
        .basic_auth(id, Some(secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .ok()?;
    if !res.status().is_success() {
        return None;
    }
    res.json().await.ok()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, id, secret, user, password, connections, seconds] = &args[..] else {
        eprintln!(
            "usage: refresh_load URL CLIENT_ID CLIENT_SECRET USERNAME PASSWORD CONNECTIONS SECONDS"
        );
        std::process::exit(2);
    };
    let connections: usize = connections.parse().expect("CONNECTIONS");
    let duration = Duration::from_secs(seconds.parse().expect("SECONDS"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (url, id, secret, user, password) = (
                url.clone(),
                id.clone(),
                secret.clone(),
                user.clone(),
                password.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let login = post(
                    &http,
                    &url,
                    &id,
                    &secret,
                    &[
                        ("grant_type", "password"),
                        ("username", &user),
                        ("password", &password),
                    ],
                )
                .await
                .expect("login");
                let mut token = login["refresh_token"]
                    .as_str()
                    .expect("refresh_token")
                    .to_owned();
                let (mut latencies, mut failures) = (Vec::new(), 0u64);
                let end = Instant::now() + duration;
                while Instant::now() < end {
                    let start = Instant::now();
                    match post(
                        &http,
                        &url,
                        &id,
                        &secret,
                        &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                    )
                    .await
                    {
                        Some(body) => {
                            latencies.push(start.elapsed());
                            token = body["refresh_token"]
                                .as_str()
                                .expect("rotated token")
                                .to_owned();
                        }
                        None => {
                            failures += 1;
                            break; // the chain is broken: this connection is done
                        }
                    }
                }
                (latencies, failures)
            }));
        }
        let started = Instant::now();
        let (mut all, mut failures) = (Vec::new(), 0);
        for task in tasks {
            let (latencies, failed) = task.await.unwrap();
            all.extend(latencies);
            failures += failed;
        }
        let elapsed = started.elapsed().as_secs_f64().max(duration.as_secs_f64());
        all.sort();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "{:<12} {:12.0} {:10.2} {:10.2} {:8}",
            connections,
            all.len() as f64 / elapsed,
            pct(0.50),
            pct(0.99),
            failures
        );
    });
}
