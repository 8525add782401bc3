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

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::cookie::Jar;
use scraper::{Html, Selector};
use sha2::{Digest, Sha256};
use url::Url;

#[derive(Clone)]
struct Config {
    base: Url,
    client_id: String,
    client_secret: String,
    redirect: String,
    prefix: String,
    password: String,
}

/// One round trip's timings.
struct Trip {
    total: Duration,
    /// POST /login alone: the bcrypt check and the session write.
    login: Duration,
}

struct Browser {
    http: reqwest::Client,
}

impl Browser {
    fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .cookie_provider(Arc::new(Jar::default()))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// GET or POST, answering (status, Location, body).
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, Option<String>, String), String> {
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.text().await.map_err(|e| e.to_string())?;
        Ok((status, location, body))
    }

    async fn get(&self, url: &Url) -> Result<(u16, Option<String>, String), String> {
        self.send(self.http.get(url.clone())).await
    }

    async fn post_form(
        &self,
        url: &Url,
        fields: &[(String, String)],
    ) -> Result<(u16, Option<String>, String), String> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            self.http
                .post(url.clone())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }
}

/// The first form on the page: its action and its inputs' names and values.
fn form(page_url: &Url, body: &str) -> Result<(Url, Vec<(String, String)>), String> {
    let html = Html::parse_document(body);
    let form = html
        .select(&Selector::parse("form").unwrap())
        .next()
        .ok_or("no form on the page")?;
    let action = page_url
        .join(form.value().attr("action").unwrap_or(""))
        .map_err(|e| e.to_string())?;
    let fields = form
        .select(&Selector::parse("input[name]").unwrap())
        .map(|i| {
            let attr = |n| i.value().attr(n).unwrap_or("").to_owned();
            (attr("name"), attr("value"))
        })
        .collect();
    Ok((action, fields))
}

fn set(fields: &mut [(String, String)], name: &str, value: &str) {
    if let Some(slot) = fields.iter_mut().find(|(n, _)| n == name) {
        slot.1 = value.to_owned();
    }
}

async fn round_trip(cfg: &Config, browser: &Browser, user: usize) -> Result<Trip, String> {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = cfg.base.join("/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &cfg.client_id)
        .append_pair("redirect_uri", &cfg.redirect)
        .append_pair("state", "bench")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");

    let start = Instant::now();
    let mut login = Duration::ZERO;
    let (mut status, mut location, mut body) = browser.get(&url).await?;
    let mut page_url = url;
    if status == 200 && body.contains("name=\"password\"") {
        let (action, mut fields) = form(&page_url, &body)?;
        set(&mut fields, "username", &format!("{}{user}", cfg.prefix));
        set(&mut fields, "password", &cfg.password);
        let posted = Instant::now();
        (status, location, _) = browser.post_form(&action, &fields).await?;
        login = posted.elapsed();
        if status != 303 {
            return Err(format!("login answered {status}"));
        }
        page_url = cfg.base.join(location.as_deref().unwrap_or("")).unwrap();
        (status, location, body) = browser.get(&page_url).await?;
    }
    if status == 200 && body.contains("name=\"decision\"") {
        let (action, mut fields) = form(&page_url, &body)?;
        fields.push(("decision".into(), "allow".into()));
        (status, location, _) = browser.post_form(&action, &fields).await?;
    }
    let back = match (status, location) {
        (302, Some(location)) => Url::parse(&location).map_err(|e| e.to_string())?,
        (status, _) => return Err(format!("expected the redirect back, got {status}")),
    };
    let code = back
        .query_pairs()
        .find(|(n, _)| n == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| format!("no code in {back}"))?;
    let token = browser
        .http
        .post(cfg.base.join("/token").unwrap())
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &cfg.redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !token.status().is_success() {
        return Err(format!("token answered {}", token.status()));
    }
    token.bytes().await.map_err(|e| e.to_string())?;
    Ok(Trip {
        total: start.elapsed(),
        login,
    })
}

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
                let session = (mode == "session").then(Browser::new);
                if mode != "consent" {
                    let warm = Browser::new();
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
                            fresh = Browser::new();
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
