//! Checking gatehouse's access tokens in an actix-web API (RFC 6750 bearer tokens in the
//! RFC 9068 profile).
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use gatehouse_resource::{Caller, RequireScope, TokenVerifier, Verification};
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
//!
//! Without the default `client` feature the crate is only the parts gatehouse itself
//! shares with its APIs: the access-token claims and `typ` rule ([`claims`]) and the
//! one-spelling rule for ES256 signatures ([`ecdsa`]), so the server does not build an
//! HTTP client it never uses. The `bearer` feature adds the reading of a bearer token and
//! its refusals ([`bearer`], [`AuthError`]), for the server's own userinfo endpoint.

pub mod claims;
pub mod clock;
pub mod ecdsa;

#[cfg(feature = "bearer")]
pub mod bearer;
#[cfg(feature = "client")]
mod config;
#[cfg(feature = "bearer")]
mod error;
#[cfg(feature = "client")]
mod extract;
#[cfg(feature = "client")]
mod verifier;

pub use claims::AccessTokenClaims;
pub use clock::Clock;
#[cfg(feature = "client")]
pub use config::{Caller, IntrospectionClient, Verification};
#[cfg(feature = "bearer")]
pub use error::{AuthError, UNAVAILABLE_RETRY_AFTER_SECS};
#[cfg(feature = "client")]
pub use extract::{RequireScope, RequireScopeService};
#[cfg(feature = "client")]
pub use verifier::TokenVerifier;
