//! The bearer token of a request's `Authorization` header (RFC 6750 §2.1).

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::error::{invalid, AuthError};

/// `Authorization: Bearer TOKEN`: the token, `None` without the header, and a refusal for
/// two headers, another scheme (as if none was sent: `Missing`) or an empty token.
pub fn from_header(req: &HttpRequest) -> Result<Option<String>, AuthError> {
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    match (headers.next(), headers.next()) {
        (Some(_), Some(_)) => Err(invalid("more than one Authorization header")),
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
            Ok(Some(token.to_owned()))
        }
        (None, _) => Ok(None),
    }
}
