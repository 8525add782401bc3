//! `/account/security`: a signed-in user turns on two-step verification by scanning a QR code
//! and confirming with a first code. Signing in here needs no third-party app: the login form
//! of this page posts to `/login` with no authorization request, and comes back here.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use qrcode::render::svg;
use qrcode::QrCode;

use crate::accounts::totp::TotpSecret;
use crate::accounts::two_factor::{self, ISSUER_LABEL};
use crate::oauth::authorization::Refusal;
use crate::oauth::request::client_ip;
use crate::startup::AppState;
use crate::storage::accounts::User;
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::two_factor as stored_factor;
use crate::web::csrf::CsrfForm;
use crate::web::flow::{logged_in_user, refused, storage_failed};
use crate::web::pages::{self, AccountSecurityPage, LoginPage, TotpPage};
use crate::web::paths::{ACCOUNT_NAME, ACCOUNT_PATH, LOGIN_PATH, SECOND_FACTOR_PATH};
use crate::web::session::{BrowserSessions, Session};

/// What the login page says when a change needs a fresh sign-in.
const REAUTHENTICATE: &str = "To change your security settings, confirm it is you: sign in again.";

enum View {
    LogIn,
    /// Signed in, but not recently: sign in again before changing anything.
    Reauthenticate(User),
    SecondFactor,
    On(User),
    Enrol(User, TotpSecret),
    JustOn(User, Vec<String>),
    WrongCode(User, TotpSecret),
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    browser: web::Data<BrowserSessions>,
) -> HttpResponse {
    let now = browser.now();
    let existing = browser.read(&req, now).await;
    let session = existing.clone().unwrap_or_else(|| browser.anonymous(now));
    let (shared, for_view) = (state.clone(), session.clone());
    let view = state
        .db
        .run(move |conn| -> Result<View, Refusal> {
            let Some(user) = logged_in_user(conn, &for_view, now)? else {
                return Ok(match for_view.pending {
                    Some(_) => View::SecondFactor,
                    None => View::LogIn,
                });
            };
            if !for_view.recently_authenticated(now) {
                return Ok(View::Reauthenticate(user));
            }
            if stored_factor::is_on(conn, &user.id)? {
                return Ok(View::On(user));
            }
            let secret = two_factor::pending(conn, &shared.sealing, &user, now)?;
            Ok(View::Enrol(user, secret))
        })
        .await;
    let mut response = pages::page(StatusCode::OK);
    if existing.is_none() {
        response.cookie(browser.cookie(&session, now));
    }
    match view {
        Ok(view) => render(response, &session, view),
        Err(refusal) => refused(refusal),
    }
}

pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let code = form.param("code").unwrap_or_default().to_owned();
    let ip = client_ip(&req);
    let (shared, for_view) = (state.clone(), session.clone());
    let view = state
        .db
        .run(move |conn| -> Result<Option<View>, Refusal> {
            let Some(user) = logged_in_user(conn, &for_view, now)? else {
                return Ok(None);
            };
            if stored_factor::is_on(conn, &user.id)? {
                return Ok(Some(View::On(user)));
            }
            // The code alone is not enough: a session cookie must not turn a factor on.
            if !for_view.recently_authenticated(now) {
                return Ok(Some(View::Reauthenticate(user)));
            }
            let event = Event {
                actor: Some(&user.id),
                ip: ip.as_deref(),
                ..Event::default()
            };
            let confirmed = two_factor::confirm(conn, &shared.sealing, &user.id, &code, now)?;
            if let Some(codes) = confirmed {
                security_events::record(conn, EventKind::TotpEnabled, &event, now)?;
                return Ok(Some(View::JustOn(user, codes)));
            }
            security_events::record(conn, EventKind::TotpFailed, &event, now)?;
            let secret = two_factor::pending(conn, &shared.sealing, &user, now)?;
            Ok(Some(View::WrongCode(user, secret)))
        })
        .await;
    match view {
        Ok(Some(view)) => render(pages::page(StatusCode::OK), &session, view),
        // Signed out meanwhile: the page itself offers the login.
        Ok(None) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, ACCOUNT_PATH))
            .finish(),
        Err(Refusal::Storage(e)) => storage_failed(&e),
        Err(refusal) => refused(refusal),
    }
}

fn render(response: actix_web::HttpResponseBuilder, session: &Session, view: View) -> HttpResponse {
    let csrf = session.csrf.as_str();
    let page = |user, on, codes, secret, error| account_page(user, csrf, on, codes, secret, error);
    match view {
        View::LogIn => pages::render_with(
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
        View::Reauthenticate(user) => pages::render_with(
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
        View::SecondFactor => pages::render_with(
            response,
            &TotpPage {
                client_name: ACCOUNT_NAME,
                action: SECOND_FACTOR_PATH,
                csrf_token: csrf,
                authorization: None,
                error: None,
            },
        ),
        View::On(user) => pages::render_with(response, &page(&user, true, None, None, None)),
        View::JustOn(user, codes) => {
            pages::render_with(response, &page(&user, true, Some(codes), None, None))
        }
        View::Enrol(user, secret) => {
            pages::render_with(response, &page(&user, false, None, Some(&secret), None))
        }
        View::WrongCode(user, secret) => pages::render_with(
            response,
            &page(
                &user,
                false,
                None,
                Some(&secret),
                Some("That code did not work. Enter the current code from your app."),
            ),
        ),
    }
}

fn account_page<'a>(
    user: &'a User,
    csrf_token: &'a str,
    on: bool,
    recovery_codes: Option<Vec<String>>,
    secret: Option<&TotpSecret>,
    error: Option<&'a str>,
) -> AccountSecurityPage<'a> {
    AccountSecurityPage {
        username: &user.username,
        csrf_token,
        action: ACCOUNT_PATH,
        on,
        recovery_codes,
        qr_svg: secret
            .map(|s| qr_svg(&s.otpauth_uri(ISSUER_LABEL, &user.username)))
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
