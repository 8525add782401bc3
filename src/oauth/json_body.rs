//! A JSON request body (RFC 7591's client metadata), read under the same size limit and
//! deadline as a token request: 413 when too large, 408 when it stops arriving, and
//! `invalid_request` when it is not `application/json`. Parsing is the caller's, so each
//! endpoint names its own error for a document it cannot use.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;

use super::request::read_limited;
use super::OAuthError;

pub struct JsonBody(pub Vec<u8>);

impl FromRequest for JsonBody {
    type Error = OAuthError;
    type Future = LocalBoxFuture<'static, Result<Self, OAuthError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        read_limited(req, payload, "application/json")
            .map(|body| body.map(JsonBody))
            .boxed_local()
    }
}
