//! `/account/security`: a signed-in user turns on two-step verification by scanning a QR code
//! and confirming with a first code. Signing in here needs no third-party app: the login form
//! of this page posts to `/login` with no authorization request, and comes back here.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use qrcode::render::svg;
use qrcode::QrCode;

use crate::accounts::self_service::{Security, SelfService, SignedIn};
use crate::accounts::totp::TotpSecret;
use crate::accounts::two_factor::ISSUER_LABEL;
use crate::oauth::request::client_ip;
use crate::web::csrf::CsrfForm;
use crate::web::flow::storage_failed;
use crate::web::pages::{self, AccountSecurityPage, LoginPage, TotpPage};
use crate::web::paths::{ACCOUNT_NAME, ACCOUNT_PATH, LOGIN_PATH, SECOND_FACTOR_PATH};
use crate::web::session::{BrowserSessions, Session};

/// What the login page says when a change needs a fresh sign-in.
const REAUTHENTICATE: &str = "To change your security settings, confirm it is you: sign in again.";

/// Who the account pages talk to: nobody signed in (nothing to read), or the signed-in user.
fn signed_in(session: &Session, now: i64) -> Option<SignedIn> {
    Some(SignedIn {
        sid: session.sid.clone(),
        user_id: session.uid.clone()?,
        recently: session.recently_authenticated(now),
    })
}

pub async fn show(
    req: HttpRequest,
    service: web::Data<SelfService>,
    browser: web::Data<BrowserSessions>,
) -> HttpResponse {
    let now = browser.now();
    let existing = browser.read(&req, now).await;
    let session = existing.clone().unwrap_or_else(|| browser.anonymous(now));
    let security = match signed_in(&session, now) {
        Some(who) => service.security(who, now).await,
        None => Ok(Security::SignedOut),
    };
    let mut response = pages::page(StatusCode::OK);
    if existing.is_none() {
        response.cookie(browser.cookie(&session, now));
    }
    match security {
        Ok(security) => render(response, &session, security),
        Err(e) => storage_failed(&e),
    }
}

pub async fn confirm(
    req: HttpRequest,
    service: web::Data<SelfService>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let code = form.param("code").unwrap_or_default().to_owned();
    let security = match signed_in(&session, now) {
        Some(who) => {
            service
                .confirm_second_factor(who, code, client_ip(&req), now)
                .await
        }
        None => Ok(Security::SignedOut),
    };
    match security {
        // Signed out meanwhile: the page itself offers the login.
        Ok(Security::SignedOut) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, ACCOUNT_PATH))
            .finish(),
        Ok(security) => render(pages::page(StatusCode::OK), &session, security),
        Err(e) => storage_failed(&e),
    }
}

fn render(
    response: actix_web::HttpResponseBuilder,
    session: &Session,
    security: Security,
) -> HttpResponse {
    let csrf = session.csrf.as_str();
    let page = |user, on, codes, secret, error| account_page(user, csrf, on, codes, secret, error);
    match security {
        // The password was right and the second factor is owed.
        Security::SignedOut if session.pending.is_some() => pages::render_with(
            response,
            &TotpPage {
                client_name: ACCOUNT_NAME,
                action: SECOND_FACTOR_PATH,
                csrf_token: csrf,
                authorization: None,
                error: None,
            },
        ),
        Security::SignedOut => pages::render_with(
            response,
            &LoginPage {
                client_name: ACCOUNT_NAME,
                action: LOGIN_PATH,
                csrf_token: csrf,
                authorization: None,
                username: "",
                error: None,
            },
        ),
        Security::Reauthenticate(user) => pages::render_with(
            response,
            &LoginPage {
                client_name: ACCOUNT_NAME,
                action: LOGIN_PATH,
                csrf_token: csrf,
                authorization: None,
                username: &user.username,
                error: Some(REAUTHENTICATE),
            },
        ),
        Security::On(user) => {
            pages::render_with(response, &page(&user.username, true, None, None, None))
        }
        Security::JustOn(user, codes) => pages::render_with(
            response,
            &page(&user.username, true, Some(codes), None, None),
        ),
        Security::Enrol {
            user,
            secret,
            wrong_code,
        } => {
            let error = wrong_code
                .then_some("That code did not work. Enter the current code from your app.");
            pages::render_with(
                response,
                &page(&user.username, false, None, Some(&secret), error),
            )
        }
    }
}

fn account_page<'a>(
    username: &'a str,
    csrf_token: &'a str,
    on: bool,
    recovery_codes: Option<Vec<String>>,
    secret: Option<&TotpSecret>,
    error: Option<&'a str>,
) -> AccountSecurityPage<'a> {
    AccountSecurityPage {
        username,
        csrf_token,
        action: ACCOUNT_PATH,
        on,
        recovery_codes,
        qr_svg: secret
            .map(|s| qr_svg(&s.otpauth_uri(ISSUER_LABEL, username)))
            .unwrap_or_default(),
        secret: secret.map(TotpSecret::base32).unwrap_or_default(),
        error,
    }
}

/// The QR code of `uri` as inline SVG, so the page loads nothing from elsewhere.
fn qr_svg(uri: &str) -> String {
    match QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(e) => {
            tracing::error!(error = %e, "could not draw a QR code");
            String::new()
        }
    }
}
