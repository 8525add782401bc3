//! A cookie-keeping HTTP client that reads HTML forms and submits them the way a browser
//! does: hidden inputs as they are, the fields a person fills in, and the button clicked.
//! Redirects within gatehouse are followed; a redirect anywhere else (the client's redirect
//! URI) ends the trip and is handed back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderMap;
use scraper::{Html, Selector};
use sha2::{Digest, Sha256};
use url::Url;

use crate::helpers::TestApp;

pub struct Browser {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    base: Url,
}

/// A page gatehouse answered with.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: String,
}

/// Where a request ended up.
#[derive(Debug)]
pub enum Landing {
    /// A page of gatehouse's.
    Page(Page),
    /// A redirect away from gatehouse: the client's redirect URI.
    Left(Url),
}

impl Landing {
    #[track_caller]
    pub fn page(self) -> Page {
        match self {
            Landing::Page(page) => page,
            Landing::Left(url) => panic!("expected a page, was sent to {url}"),
        }
    }

    #[track_caller]
    pub fn left(self) -> Url {
        match self {
            Landing::Left(url) => url,
            Landing::Page(page) => panic!(
                "expected a redirect to the client, got a {} page: {}",
                page.status, page.body
            ),
        }
    }
}

/// A form as the page declares it.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: Url,
    pub method: String,
    pub fields: Vec<(String, String)>,
    /// Named submit buttons: (name, value).
    pub buttons: Vec<(String, String)>,
}

impl Page {
    pub fn contains(&self, text: &str) -> bool {
        self.body.contains(text)
    }

    /// The text of each element matching a CSS `selector`.
    pub fn select_text(&self, selector: &str) -> Vec<String> {
        let html = Html::parse_document(&self.body);
        let selector = Selector::parse(selector).expect("a valid selector");
        html.select(&selector)
            .map(|e| e.text().collect::<String>())
            .collect()
    }

    /// The forms on the page, in document order.
    pub fn forms(&self) -> Vec<Form> {
        let html = Html::parse_document(&self.body);
        let form_sel = Selector::parse("form").unwrap();
        let input_sel = Selector::parse("input[name]").unwrap();
        let button_sel = Selector::parse("button[name]").unwrap();
        html.select(&form_sel)
            .map(|form| {
                let action = form.value().attr("action").unwrap_or("");
                Form {
                    action: self.url.join(action).expect("form action resolves"),
                    method: form.value().attr("method").unwrap_or("get").to_lowercase(),
                    fields: form
                        .select(&input_sel)
                        // As a browser sends them: an unticked box is not sent.
                        .filter(|i| {
                            let v = i.value();
                            !matches!(v.attr("type"), Some("checkbox" | "radio"))
                                || v.attr("checked").is_some()
                        })
                        .map(|i| {
                            let attr = |n| i.value().attr(n).unwrap_or("").to_owned();
                            (attr("name"), attr("value"))
                        })
                        .collect(),
                    buttons: form
                        .select(&button_sel)
                        .map(|b| {
                            let attr = |n| b.value().attr(n).unwrap_or("").to_owned();
                            (attr("name"), attr("value"))
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// The first form with an input (or button) named `name`.
    #[track_caller]
    pub fn form_with(&self, name: &str) -> Form {
        self.forms()
            .into_iter()
            .find(|f| {
                f.fields.iter().any(|(n, _)| n == name) || f.buttons.iter().any(|(n, _)| n == name)
            })
            .unwrap_or_else(|| panic!("no form with `{name}` on the page: {}", self.body))
    }
}

impl Form {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The form with `name` set to `value` (added if the form has no such input).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    /// The form without the input `name`.
    pub fn without(mut self, name: &str) -> Self {
        self.fields.retain(|(n, _)| n != name);
        self
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self::with_headers(app, HeaderMap::new())
    }

    /// A browser at `ip`, as a proxy that the server trusts reports it in `X-Forwarded-For`.
    pub fn from_address(app: &TestApp, ip: &str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", ip.parse().expect("an address"));
        Self::with_headers(app, headers)
    }

    fn with_headers(app: &TestApp, headers: HeaderMap) -> Self {
        let jar = Arc::new(Jar::default());
        Browser {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .default_headers(headers)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            jar,
            base: Url::parse(&app.address).unwrap(),
        }
    }

    /// The same browser (its cookies) talking to another instance of a fleet, as a load
    /// balancer might send its next request there: every instance is on 127.0.0.1, and
    /// cookies are the host's whatever the port, as behind one name.
    pub fn on(&self, app: &TestApp) -> Browser {
        Browser {
            http: self.http.clone(),
            jar: self.jar.clone(),
            base: Url::parse(&app.address).unwrap(),
        }
    }

    /// The cookies the browser holds for gatehouse, as a `Cookie` header value.
    pub fn cookies(&self) -> String {
        self.jar
            .cookies(&self.base)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// Opens a URL (or a path on gatehouse) and follows gatehouse's redirects.
    pub async fn open(&self, url: &str) -> Landing {
        let url = self.base.join(url).unwrap();
        let response = self.http.get(url.clone()).send().await.expect("GET");
        self.follow(url, response).await
    }

    /// Submits `form`, clicking the button with `value` if given. It is posted to the
    /// browser's own server (the page's, but for a browser moved [`on`](Self::on) another
    /// instance).
    pub async fn submit(&self, form: &Form, button: Option<&str>) -> Landing {
        let mut fields = form.fields.clone();
        if let Some(value) = button {
            let (name, value) = form
                .buttons
                .iter()
                .find(|(_, v)| v == value)
                .unwrap_or_else(|| panic!("no button {value} in {form:?}"));
            fields.push((name.clone(), value.clone()));
        }
        assert_eq!(form.method, "post", "gatehouse's forms post");
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let action = self
            .base
            .join(&form.action[url::Position::BeforePath..])
            .expect("the action's path resolves");
        let response = self
            .http
            .post(action.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        self.follow(action, response).await
    }

    async fn follow(&self, mut url: Url, mut response: reqwest::Response) -> Landing {
        for _ in 0..10 {
            if !response.status().is_redirection() {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.text().await.expect("body");
                return Landing::Page(Page {
                    status,
                    url,
                    headers,
                    body,
                });
            }
            let location = response
                .headers()
                .get("location")
                .expect("a redirect has a Location")
                .to_str()
                .unwrap();
            let next = url.join(location).expect("Location resolves");
            if next.origin() != self.base.origin() {
                return Landing::Left(next);
            }
            response = self.http.get(next.clone()).send().await.expect("GET");
            url = next;
        }
        panic!("redirect loop")
    }
}

/// A PKCE pair (RFC 7636): a random verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A query parameter of a URL the browser was sent to.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}
