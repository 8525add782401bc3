//! The HTML pages (Askama templates in `templates/`) and the headers every page carries.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

use super::brand;
use crate::domain::ScopeSet;

/// Pages load nothing from anywhere else and run no script; only their own inline style and
/// the configured logo (served by gatehouse itself, `web::brand`) apply.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub client_name: &'a str,
    pub action: &'a str,
    pub csrf_token: &'a str,
    /// The pending authorization, sealed; none when signing in to the account page.
    pub authorization: Option<&'a str>,
    /// Where a login without an authorization goes (`console`), if not the account page.
    pub next: Option<&'a str>,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "totp.html")]
pub struct TotpPage<'a> {
    pub client_name: &'a str,
    pub action: &'a str,
    pub csrf_token: &'a str,
    pub authorization: Option<&'a str>,
    pub next: Option<&'a str>,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "account_security.html")]
pub struct AccountSecurityPage<'a> {
    pub username: &'a str,
    pub csrf_token: &'a str,
    pub action: &'a str,
    /// Two-step verification is on (and the codes were shown before).
    pub on: bool,
    /// Just switched on: the recovery codes, shown this once.
    pub recovery_codes: Option<Vec<String>>,
    /// Enrolment: the QR code (inline SVG, made here, never from input) and the key.
    pub qr_svg: String,
    pub secret: String,
    pub error: Option<&'a str>,
    /// The apps the user has allowed, each with a revoke button.
    pub apps: Vec<crate::admin::ConsentView>,
    pub revoke_action: &'a str,
    pub password_action: &'a str,
    pub everywhere_action: &'a str,
    pub turn_off_action: &'a str,
    pub recovery_codes_action: &'a str,
    pub min_password_length: usize,
    /// What the last change did.
    pub notice: Option<&'a str>,
    pub password_error: Option<&'a str>,
}

/// One line on the consent page.
pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

/// The consent page's words for each scope (`scopes.descriptions`); a scope without any is
/// shown by its name.
#[derive(Debug, Clone, Default)]
pub struct ScopeDescriptions(pub BTreeMap<String, String>);

impl ScopeDescriptions {
    pub fn lines(&self, scope: &ScopeSet) -> Vec<ScopeLine> {
        scope
            .iter()
            .map(|name| ScopeLine {
                name: name.to_owned(),
                description: self.0.get(name).cloned().unwrap_or_else(|| name.to_owned()),
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: Vec<ScopeLine>,
    pub action: &'a str,
    pub csrf_token: &'a str,
    pub authorization: &'a str,
}

/// RP-Initiated Logout's question, when the request did not prove it comes from the
/// session's own application.
#[derive(Template)]
#[template(path = "end_session.html")]
pub struct EndSessionPage<'a> {
    pub client_name: Option<&'a str>,
    pub action: &'a str,
    pub csrf_token: &'a str,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    /// Where "stay signed in" leads.
    pub stay: &'a str,
}

/// The end of a sign-out with nowhere registered to go: a way back in, no dead end.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage<'a> {
    pub client_name: Option<&'a str>,
    pub sign_in: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub is_error: bool,
}

/// A page response, under its own stricter CSP (`web::headers` adds no-store: a page may
/// carry a CSRF token).
pub fn page(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP));
    response
}

/// Renders `template` into a page response.
pub fn render(status: StatusCode, template: &impl Template) -> HttpResponse {
    render_with(page(status), template)
}

/// Renders into `response` (which may carry cookies), under the request's brand (the
/// templates' runtime value `brand`); a template that fails to render is a 500 rather than a
/// panic.
pub fn render_with(mut response: HttpResponseBuilder, template: &impl Template) -> HttpResponse {
    let rendered = brand::with_current(|b| {
        let brand: &dyn std::any::Any = b;
        template.render_with_values(&("brand", brand))
    });
    match rendered {
        Ok(body) => response.body(body),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("internal error")
        }
    }
}

/// The error page: the user is told, nobody is redirected.
pub fn error(status: StatusCode, message: &str) -> HttpResponse {
    render(
        status,
        &MessagePage {
            title: if status.is_server_error() {
                "Something went wrong"
            } else {
                "This request cannot go on"
            },
            message,
            is_error: true,
        },
    )
}

/// A 302 to the client (RFC 6749 §4.1.2); `web::headers` marks it no-store.
pub fn redirect(location: &str) -> HttpResponseBuilder {
    let mut response = HttpResponse::Found();
    response.insert_header((header::LOCATION, location));
    response
}
