//! The headers every response carries unless its handler set its own: the one place where
//! `no-store` is decided.

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;

/// Nothing gatehouse answers may be cached unless the handler says otherwise (tokens:
/// RFC 6749 §5.1; introspection: RFC 7662 §4; pages carry CSRF tokens and codes); only
/// the JWKS and the metadata set their own `Cache-Control`. Nothing is framed, sniffed or
/// sent a referrer. `DefaultHeaders` adds a header only where the response has none, so a
/// page's own stricter `Content-Security-Policy` wins.
pub fn defaults() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CACHE_CONTROL, "no-store"))
        .add((header::PRAGMA, "no-cache"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .add((header::REFERRER_POLICY, "no-referrer"))
}
