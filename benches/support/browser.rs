//! A browser for the load drivers: a cookie jar, forms read from the page, and one whole
//! authorization-code round trip with PKCE (GET /authorize → login → consent → redirect with
//! a code → POST /token). A fixed-request load generator cannot follow forms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::cookie::Jar;
use scraper::{Html, Selector};
use sha2::{Digest, Sha256};
use url::Url;

#[derive(Clone)]
pub struct Config {
    pub base: Url,
    pub client_id: String,
    pub client_secret: String,
    pub redirect: String,
    pub prefix: String,
    pub password: String,
}

/// One round trip's timings and the token response it ended with.
pub struct Trip {
    pub total: Duration,
    /// POST /login alone: the bcrypt check and the session write.
    pub login: Duration,
    pub token: serde_json::Value,
}

/// Why a round trip stopped: the server's answer, or no answer at all (the connection was
/// refused or cut), which a driver facing several instances may retry elsewhere.
#[derive(Debug)]
pub enum TripError {
    Status { step: &'static str, status: u16 },
    Transport { refused: bool, message: String },
    Page(String),
}

impl std::fmt::Display for TripError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TripError::Status { step, status } => write!(f, "{step} answered {status}"),
            TripError::Transport { message, .. } => write!(f, "transport: {message}"),
            TripError::Page(message) => f.write_str(message),
        }
    }
}

impl From<reqwest::Error> for TripError {
    fn from(e: reqwest::Error) -> Self {
        TripError::Transport {
            refused: e.is_connect(),
            message: e.to_string(),
        }
    }
}

pub struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    /// `root` is a PEM certificate to trust besides the system's (a test CA).
    pub fn new(root: Option<&reqwest::Certificate>) -> Self {
        let mut builder = reqwest::Client::builder()
            .cookie_provider(Arc::new(Jar::default()))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(root) = root {
            builder = builder.add_root_certificate(root.clone());
        }
        Browser {
            http: builder.build().unwrap(),
        }
    }

    /// GET or POST, answering (status, Location, body).
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, Option<String>, String), TripError> {
        let res = req.send().await?;
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.text().await?;
        Ok((status, location, body))
    }

    async fn get(&self, url: &Url) -> Result<(u16, Option<String>, String), TripError> {
        self.send(self.http.get(url.clone())).await
    }

    async fn post_form(
        &self,
        url: &Url,
        fields: &[(String, String)],
    ) -> Result<(u16, Option<String>, String), TripError> {
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
fn form(page_url: &Url, body: &str) -> Result<(Url, Vec<(String, String)>), TripError> {
    let html = Html::parse_document(body);
    let form = html
        .select(&Selector::parse("form").unwrap())
        .next()
        .ok_or_else(|| TripError::Page("no form on the page".into()))?;
    let action = page_url
        .join(form.value().attr("action").unwrap_or(""))
        .map_err(|e| TripError::Page(e.to_string()))?;
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

/// One round trip as user `user`: logs in and approves when the server asks.
pub async fn round_trip(cfg: &Config, browser: &Browser, user: usize) -> Result<Trip, TripError> {
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
            return Err(TripError::Status {
                step: "login",
                status,
            });
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
        (302, Some(location)) => {
            Url::parse(&location).map_err(|e| TripError::Page(e.to_string()))?
        }
        (status, _) => {
            return Err(TripError::Status {
                step: "authorize",
                status,
            })
        }
    };
    let code = back
        .query_pairs()
        .find(|(n, _)| n == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| TripError::Page(format!("no code in {back}")))?;
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
        .await?;
    let status = token.status().as_u16();
    if status != 200 {
        return Err(TripError::Status {
            step: "token",
            status,
        });
    }
    let token = token.json().await?;
    Ok(Trip {
        total: start.elapsed(),
        login,
        token,
    })
}
