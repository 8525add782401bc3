//! Checking gatehouse's access tokens in an actix-web API (RFC 6750 bearer tokens in the
//! RFC 9068 profile), behind the `resource` cargo feature.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use gatehouse::resource::{Caller, RequireScope, TokenVerifier, Verification};
//!
//! async fn add_book(caller: Caller) -> String {
//!     format!("added by {}", caller.sub)
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let verifier = TokenVerifier::discover(Verification::new("http://127.0.0.1:8080"))
//!         .await
//!         .map_err(std::io::Error::other)?;
//!     let verifier = web::Data::new(verifier);
//!     HttpServer::new(move || {
//!         App::new().app_data(verifier.clone()).route(
//!             "/books",
//!             web::post().to(add_book).wrap(RequireScope::new("books:write")),
//!         )
//!     })
//!     .bind("127.0.0.1:8081")?
//!     .run()
//!     .await
//! }
//! ```
//!
//! What is checked, in order: a `Bearer` token in the `Authorization` header (the query
//! parameter only when enabled); `typ: at+jwt`; an allowed `alg` (ES256 by default: never
//! `none`, never an HMAC); a known `kid` (the JWKS is fetched from the issuer's metadata,
//! cached, and fetched again for an unknown `kid` at most once per `jwks_refresh_interval`);
//! the signature (an ES256 one only in its low-`s` form, the one gatehouse signs); `iss`;
//! `aud`; `exp` and `nbf` with a small leeway; and, when configured, gatehouse's
//! introspection endpoint, so a revoked token is refused before it expires.
//! A missing token is 401 with a bare `WWW-Authenticate: Bearer`; a bad one 401 with
//! `error="invalid_token"`; a good one without the route's scope 403 with
//! `error="insufficient_scope"` and the scope (RFC 6750 §3).

use std::collections::{BTreeSet, HashMap};
use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use crate::domain::clock::Clock;

/// How a resource server checks tokens.
#[derive(Debug, Clone)]
pub struct Verification {
    /// gatehouse's issuer URL: where the metadata is, and the expected `iss`.
    pub issuer: String,
    /// The expected `aud`; gatehouse's default audience is its issuer URL.
    pub audience: String,
    pub algorithms: Vec<Algorithm>,
    /// Allowed clock difference for `exp` and `nbf`.
    pub leeway_secs: i64,
    /// Accept `?access_token=` (RFC 6750 §2.3). Off: tokens in URLs end up in logs.
    pub allow_query_token: bool,
    /// The shortest time between two JWKS fetches caused by unknown `kid`s.
    pub jwks_refresh_interval: Duration,
    /// Ask gatehouse whether each token is still active (RFC 7662), with these client
    /// credentials, caching each answer this long.
    pub introspection: Option<IntrospectionClient>,
    /// The clock expiry is checked against (tests move it).
    pub clock: Clock,
}

/// The credentials the resource server introspects with: a client registered with
/// `gatehouse client create --introspect`, or it learns only about its own tokens.
#[derive(Debug, Clone)]
pub struct IntrospectionClient {
    pub client_id: String,
    pub client_secret: String,
    pub cache_for: Duration,
}

impl Verification {
    /// Defaults: audience = issuer, ES256, 30 s leeway, header only, refetch at most every
    /// 10 s, no introspection.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into().trim_end_matches('/').to_owned();
        Verification {
            audience: issuer.clone(),
            issuer,
            algorithms: vec![Algorithm::ES256],
            leeway_secs: 30,
            allow_query_token: false,
            jwks_refresh_interval: Duration::from_secs(10),
            introspection: None,
            clock: Clock::default(),
        }
    }
}

/// Who is calling, as the token says.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user's id, or the client id for client credentials.
    pub sub: String,
    pub client_id: String,
    pub scopes: BTreeSet<String>,
    /// The user's roles when the token was issued (none for client credentials).
    pub roles: BTreeSet<String>,
    /// Every claim, for anything else a handler needs.
    pub claims: Value,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("the token lacks the scope {0}")]
    InsufficientScope(String),
    #[error("the token could not be checked: {0}")]
    Unavailable(String),
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let quote = |s: &str| s.replace(['"', '\\'], "");
        let challenge = match self {
            AuthError::Missing => "Bearer".to_owned(),
            AuthError::InvalidToken(why) => {
                format!(
                    r#"Bearer error="invalid_token", error_description="{}""#,
                    quote(why)
                )
            }
            AuthError::InsufficientScope(scope) => format!(
                r#"Bearer error="insufficient_scope", scope="{}""#,
                quote(scope)
            ),
            AuthError::Unavailable(_) => "Bearer".to_owned(),
        };
        HttpResponse::build(self.status_code())
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(
                serde_json::json!({ "error": self.code(), "error_description": self.to_string() }),
            )
    }
}

impl AuthError {
    fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_token",
            AuthError::InvalidToken(_) => "invalid_token",
            AuthError::InsufficientScope(_) => "insufficient_scope",
            AuthError::Unavailable(_) => "temporarily_unavailable",
        }
    }
}

/// Why jsonwebtoken refused a token, in words for `error_description`.
fn rejection(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidAlgorithm => "signing algorithm not allowed",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed token",
    }
}

fn invalid(why: impl Into<String>) -> AuthError {
    AuthError::InvalidToken(why.into())
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
    introspection_endpoint: Option<String>,
}

/// Checks tokens; share one per API (`web::Data`).
pub struct TokenVerifier {
    config: Verification,
    http: reqwest::Client,
    jwks_uri: String,
    introspection_endpoint: Option<String>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When an unknown `kid` last caused a fetch: such fetches are rate-limited.
    last_miss_fetch: Mutex<Option<Instant>>,
    fetches: std::sync::atomic::AtomicU64,
    /// Introspection answers by SHA-256 of the token: (active, until).
    introspected: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
}

impl TokenVerifier {
    /// Reads the issuer's RFC 8414 metadata and its JWKS.
    pub async fn discover(config: Verification) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let url = format!("{}/.well-known/oauth-authorization-server", config.issuer);
        let metadata: Metadata = fetch_json(&http, &url).await?;
        let verifier = TokenVerifier {
            config,
            http,
            jwks_uri: metadata.jwks_uri,
            introspection_endpoint: metadata.introspection_endpoint,
            keys: RwLock::new(HashMap::new()),
            last_miss_fetch: Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
            introspected: Mutex::new(HashMap::new()),
        };
        verifier.fetch_keys().await?;
        Ok(verifier)
    }

    /// The clock expiry is checked against.
    pub fn clock(&self) -> &Clock {
        &self.config.clock
    }

    /// How many times the JWKS has been fetched (for monitoring a flood of bogus `kid`s).
    pub fn jwks_fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks `token`; answers the caller it speaks for.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(invalid("not an access token (typ must be at+jwt)"));
        }
        if !self.config.algorithms.contains(&header.alg) {
            return Err(invalid("signing algorithm not allowed"));
        }
        // gatehouse signs ES256 only in the low-`s` form; the other spelling of the same
        // signature is refused so each token has exactly one (crate::tokens::ecdsa).
        if header.alg == Algorithm::ES256 && !crate::tokens::ecdsa::jws_has_low_s(token) {
            return Err(invalid("signature not in canonical (low-s) form"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no key id"))?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.refetch_for_unknown_kid().await?;
                self.key(&kid)
                    .await
                    .ok_or_else(|| invalid("unknown signing key"))?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.algorithms = self.config.algorithms.clone();
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        // Expiry is checked below against the configured clock.
        validation.validate_exp = false;
        validation.required_spec_claims = ["iss", "aud", "sub", "exp"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| invalid(rejection(&e)))?;
        let claims = data.claims;
        let now = self.config.clock.now();
        let leeway = self.config.leeway_secs;
        let exp = claims["exp"]
            .as_i64()
            .ok_or_else(|| invalid("exp is not a number"))?;
        if exp + leeway <= now {
            return Err(invalid("expired"));
        }
        if claims["nbf"].as_i64().is_some_and(|nbf| nbf - leeway > now) {
            return Err(invalid("not yet valid"));
        }
        if self.config.introspection.is_some() && !self.active(token).await? {
            return Err(invalid("revoked"));
        }
        let text = |name: &str| claims[name].as_str().unwrap_or_default().to_owned();
        Ok(Caller {
            sub: text("sub"),
            client_id: text("client_id"),
            scopes: claims["scope"]
                .as_str()
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            roles: claims["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            claims,
        })
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().await.get(kid).cloned()
    }

    /// Fetches the JWKS again, unless it was fetched within the refresh interval.
    async fn refetch_for_unknown_kid(&self) -> Result<(), AuthError> {
        {
            let mut last = self
                .last_miss_fetch
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.config.jwks_refresh_interval) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.fetch_keys().await
    }

    async fn fetch_keys(&self) -> Result<(), AuthError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let set: JwkSet = fetch_json(&self.http, &self.jwks_uri).await?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        *self.keys.write().await = keys;
        Ok(())
    }

    /// Asks gatehouse whether the token is active, remembering the answer briefly.
    async fn active(&self, token: &str) -> Result<bool, AuthError> {
        let Some(client) = &self.config.introspection else {
            return Ok(true);
        };
        let endpoint = self.introspection_endpoint.as_deref().ok_or_else(|| {
            AuthError::Unavailable("the issuer has no introspection endpoint".into())
        })?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        {
            let mut cache = self.introspected.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if let Some((active, _)) = cache.get(&hash) {
                return Ok(*active);
            }
        }
        let answer: Value = self
            .http
            .post(endpoint)
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .error_for_status()
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let active = answer["active"].as_bool().unwrap_or(false);
        let until = Instant::now() + client.cache_for;
        self.introspected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, (active, until));
        Ok(active)
    }

    /// The token a request carries: `Authorization: Bearer …` (RFC 6750 §2.1), or when
    /// enabled `?access_token=` (§2.3). More than one is an invalid request.
    fn token_of(&self, req: &HttpRequest) -> Result<String, AuthError> {
        let mut headers = req.headers().get_all(header::AUTHORIZATION);
        let from_header = match (headers.next(), headers.next()) {
            (Some(_), Some(_)) => return Err(invalid("more than one Authorization header")),
            (Some(value), None) => {
                let value = value
                    .to_str()
                    .map_err(|_| invalid("malformed Authorization header"))?;
                let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
                if !scheme.eq_ignore_ascii_case("bearer") {
                    return Err(AuthError::Missing);
                }
                let token = token.trim();
                if token.is_empty() {
                    return Err(invalid("empty bearer token"));
                }
                Some(token.to_owned())
            }
            (None, _) => None,
        };
        let from_query = self
            .config
            .allow_query_token
            .then(|| {
                url::form_urlencoded::parse(req.query_string().as_bytes())
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.into_owned())
            })
            .flatten();
        match (from_header, from_query) {
            (Some(_), Some(_)) => Err(invalid("a token in both the header and the query")),
            (Some(token), None) | (None, Some(token)) => Ok(token),
            (None, None) => Err(AuthError::Missing),
        }
    }

    /// The request's caller, checked once per request and then remembered in its extensions.
    async fn caller_of(&self, req: &HttpRequest) -> Result<Caller, AuthError> {
        if let Some(caller) = req.extensions().get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = self.token_of(req)?;
        let caller = self.verify(&token).await?;
        req.extensions_mut().insert(caller.clone());
        Ok(caller)
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, AuthError> {
    http.get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?
        .json()
        .await
        .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))
}

fn verifier_of(req: &HttpRequest) -> Result<web::Data<TokenVerifier>, AuthError> {
    req.app_data::<web::Data<TokenVerifier>>()
        .cloned()
        .ok_or_else(|| AuthError::Unavailable("no TokenVerifier in the app data".into()))
}

impl FromRequest for Caller {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Caller, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { verifier_of(&req)?.caller_of(&req).await })
    }
}

/// Middleware: the route answers only callers whose token carries `scope`.
#[derive(Clone)]
pub struct RequireScope(Rc<str>);

impl RequireScope {
    pub fn new(scope: &str) -> Self {
        RequireScope(Rc::from(scope))
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireScope
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<actix_web::body::EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireScopeService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopeService {
            service: Rc::new(service),
            scope: self.0.clone(),
        }))
    }
}

pub struct RequireScopeService<S> {
    service: Rc<S>,
    scope: Rc<str>,
}

impl<S, B> Service<ServiceRequest> for RequireScopeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<actix_web::body::EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (service, scope) = (self.service.clone(), self.scope.clone());
        Box::pin(async move {
            let checked = match verifier_of(req.request()) {
                Ok(verifier) => verifier.caller_of(req.request()).await,
                Err(e) => Err(e),
            };
            let refusal = match checked {
                Ok(caller) if caller.has_scope(&scope) => None,
                Ok(_) => Some(AuthError::InsufficientScope(scope.to_string())),
                Err(e) => Some(e),
            };
            match refusal {
                None => Ok(service.call(req).await?.map_into_left_body()),
                Some(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
            }
        })
    }
}
