//! CORS (the Fetch standard's CORS protocol) for the endpoints a single-page app calls from
//! the browser: token, revocation, userinfo, JWKS and the two discovery documents. A
//! browser app is a public client with PKCE; it calls from the origin of its redirect URI.
//!
//! Only an origin that is the origin of some client's registered redirect URI is answered
//! with `Access-Control-Allow-Origin`, and then with that origin, never `*`, and never with
//! `Access-Control-Allow-Credentials`: these endpoints take no cookies. The pages and
//! `/authorize` are navigations, not fetches, and get no CORS headers at all.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::domain::OAuthError;
use crate::oauth::discovery::Discovery;

/// How long a browser may cache a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";
/// What an app's fetch may send beyond the CORS-safelisted headers.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type";

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let admitted = match (origin.to_str(), req.app_data::<web::Data<Discovery>>()) {
        (Ok(text), Some(discovery)) => match discovery.admits_origin(text).await {
            Ok(admitted) => admitted,
            // The origins could not be read: the answer of any request that needs the
            // database (503 and Retry-After while it is unavailable), its cause logged once,
            // on the request's line.
            Err(e) => {
                let error = OAuthError::from(e);
                return Ok(req.error_response(error).map_into_boxed_body());
            }
        },
        _ => false,
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let response = if admitted {
            HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
                .insert_header((header::VARY, "Origin"))
                .finish()
        } else {
            HttpResponse::build(StatusCode::FORBIDDEN)
                .insert_header((header::VARY, "Origin"))
                .content_type("text/plain; charset=utf-8")
                .body("this origin is not the origin of any registered redirect URI")
        };
        return Ok(req.into_response(response));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if admitted {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // An app reads why userinfo refused it, and how long to wait after a 429.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, Retry-After"),
        );
    }
    Ok(response)
}
