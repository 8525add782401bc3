//! `/account/security`: a signed-in user turns on two-step verification by scanning a QR code
//! and confirming with a first code and the password, turns it off or renews the recovery
//! codes (the password again), changes the password, revokes apps and signs out everywhere. Signing in here needs no third-party app: the login form
//! of this page posts to `/login` with no authorization request, and comes back here.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use qrcode::render::svg;
use qrcode::QrCode;

use crate::accounts::self_service::{Security, SelfService};
use crate::accounts::totp::TotpSecret;
use crate::admin::account::{
    AccountService, NotConfirmed, PasswordChange, TwoStepChange, TwoStepOutcome,
};
use crate::admin::ConsentView;
use crate::oauth::request::client_ip;
use crate::web::csrf::CsrfForm;
use crate::web::flow::storage_failed;
use crate::web::pages::{self, AccountSecurityPage, LoginPage, TotpPage};
use crate::web::paths::{
    account_name, ACCOUNT_PASSWORD_PATH, ACCOUNT_PATH, ACCOUNT_RECOVERY_CODES_PATH,
    ACCOUNT_REVOKE_APP_PATH, ACCOUNT_SIGN_OUT_EVERYWHERE_PATH, ACCOUNT_TWO_STEP_OFF_PATH,
    LOGIN_PATH, SECOND_FACTOR_PATH,
};
use crate::web::session::{BrowserSessions, Session};

/// What the login page says when a change needs a fresh sign-in.
const REAUTHENTICATE: &str = "To change your security settings, confirm it is you: sign in again.";

/// What the page shows besides two-step verification: the apps, and what the last change
/// did.
#[derive(Default)]
struct Extras {
    apps: Vec<ConsentView>,
    min_password_length: usize,
    notice: Option<String>,
    password_error: Option<String>,
    /// Why the last two-step change was refused.
    two_step_error: Option<String>,
}

/// The page as it stands for `session`, with what a change just said.
async fn current_page(
    response: actix_web::HttpResponseBuilder,
    service: &SelfService,
    account: &AccountService,
    session: &Session,
    now: i64,
    extras: Extras,
) -> HttpResponse {
    let security = match session.signed_in(now) {
        None => Security::SignedOut,
        Some(who) => match service.security(who, now).await {
            Ok(security) => security,
            Err(e) => return storage_failed(&e),
        },
    };
    judged_page(response, account, session, now, security, extras).await
}

pub async fn show(
    req: HttpRequest,
    service: web::Data<SelfService>,
    account: web::Data<AccountService>,
    browser: web::Data<BrowserSessions>,
) -> HttpResponse {
    let now = browser.now();
    let existing = browser.read(&req, now).await;
    let session = existing.clone().unwrap_or_else(|| browser.anonymous(now));
    let mut response = pages::page(StatusCode::OK);
    if existing.is_none() {
        response.cookie(browser.cookie(&session, now));
    }
    current_page(
        response,
        &service,
        &account,
        &session,
        now,
        Extras::default(),
    )
    .await
}

/// `POST /account/password`: the current password (under the login limits), the new one
/// twice.
pub async fn change_password(
    req: HttpRequest,
    service: web::Data<SelfService>,
    account: web::Data<AccountService>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let Some(who) = session.signed_in(now) else {
        return pages::redirect(ACCOUNT_PATH).finish();
    };
    let field = |name| form.param(name).unwrap_or_default().to_owned();
    let outcome = account
        .change_password(
            who,
            field("current_password"),
            field("new_password"),
            field("confirm_password"),
            client_ip(&req),
            now,
        )
        .await;
    let mut extras = Extras::default();
    match outcome {
        Err(e) => return storage_failed(&e),
        Ok(PasswordChange::SignedOut) => return pages::redirect(ACCOUNT_PATH).finish(),
        Ok(PasswordChange::Changed(ended)) => {
            extras.notice = Some(format!(
                "Your password was changed. {} other session(s) were signed out and {} app sign-in(s) ended.",
                ended.sessions, ended.refresh_families
            ))
        }
        Ok(refused) => {
            extras.password_error = Some(match refused {
                PasswordChange::Mismatch => "The new passwords do not match.".to_owned(),
                PasswordChange::Refused(why) => format!("That password cannot be used: {why}."),
                PasswordChange::NotConfirmed(why) => not_confirmed(why, "Your current password"),
                _ => "The password was not changed.".to_owned(),
            })
        }
    }
    let status = if extras.password_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    current_page(
        pages::page(status),
        &service,
        &account,
        &session,
        now,
        extras,
    )
    .await
}

/// `POST /account/apps/revoke`: forget an app's consent and end its tokens for this user.
pub async fn revoke_app(
    service: web::Data<SelfService>,
    account: web::Data<AccountService>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let Some(who) = session.signed_in(now) else {
        return pages::redirect(ACCOUNT_PATH).finish();
    };
    let client_id = form.param("client_id").unwrap_or_default().to_owned();
    let notice = match account.revoke_app(who, client_id, now).await {
        Err(e) => return storage_failed(&e),
        Ok(None) => return pages::redirect(ACCOUNT_PATH).finish(),
        Ok(Some(true)) => "Access revoked: the app must ask you again.",
        Ok(Some(false)) => "That app has no access to revoke.",
    };
    let extras = Extras {
        notice: Some(notice.to_owned()),
        ..Extras::default()
    };
    current_page(
        pages::page(StatusCode::OK),
        &service,
        &account,
        &session,
        now,
        extras,
    )
    .await
}

/// `POST /account/sign-out-everywhere`: every browser session, this one too, and every app
/// sign-in end.
pub async fn sign_out_everywhere(
    account: web::Data<AccountService>,
    browser: web::Data<BrowserSessions>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { session, now, .. } = posted;
    if let Some(who) = session.signed_in(now) {
        if let Err(e) = account.sign_out_everywhere(who, now).await {
            return storage_failed(&e);
        }
    }
    pages::redirect(ACCOUNT_PATH)
        .cookie(browser.removal())
        .finish()
}

/// What the page says when the password asked again did not confirm a change.
fn not_confirmed(why: NotConfirmed, whose: &str) -> String {
    match why {
        NotConfirmed::Wrong => format!("{whose} is not right."),
        NotConfirmed::Wait(secs) => {
            format!("Too many wrong passwords. Try again in {secs} seconds.")
        }
        NotConfirmed::Busy => "Too many sign-ins at once. Try again shortly.".to_owned(),
    }
}

/// `POST /account/security`: `password` and the first `code` from the app turn two-step
/// verification on.
pub async fn confirm(
    req: HttpRequest,
    account: web::Data<AccountService>,
    posted: CsrfForm,
) -> HttpResponse {
    let code = posted.form.param("code").unwrap_or_default().to_owned();
    change_two_step(req, account, posted, TwoStepChange::TurnOn { code }, None).await
}

/// `POST /account/two-step/off`: with `password`, the password alone signs in again.
pub async fn turn_off(
    req: HttpRequest,
    account: web::Data<AccountService>,
    posted: CsrfForm,
) -> HttpResponse {
    let notice = "Two-step verification is off: signing in asks for your password alone.";
    change_two_step(req, account, posted, TwoStepChange::TurnOff, Some(notice)).await
}

/// `POST /account/recovery-codes`: with `password`, ten new recovery codes, the old ones void.
pub async fn renew_recovery_codes(
    req: HttpRequest,
    account: web::Data<AccountService>,
    posted: CsrfForm,
) -> HttpResponse {
    let notice = "New recovery codes: the earlier ones no longer work.";
    let change = TwoStepChange::RenewRecoveryCodes;
    change_two_step(req, account, posted, change, Some(notice)).await
}

async fn change_two_step(
    req: HttpRequest,
    account: web::Data<AccountService>,
    posted: CsrfForm,
    change: TwoStepChange,
    notice: Option<&str>,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let Some(who) = session.signed_in(now) else {
        return pages::redirect(ACCOUNT_PATH).finish();
    };
    let password = form.param("password").unwrap_or_default().to_owned();
    let outcome = account
        .change_two_step(who, password, change, client_ip(&req), now)
        .await;
    match outcome {
        Err(e) => storage_failed(&e),
        // Signed out meanwhile: the page itself offers the login.
        Ok(TwoStepOutcome {
            security: Security::SignedOut,
            ..
        }) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, ACCOUNT_PATH))
            .finish(),
        Ok(TwoStepOutcome {
            security,
            refused: Some(why),
        }) => {
            let extras = Extras {
                two_step_error: Some(not_confirmed(why, "Your password")),
                ..Extras::default()
            };
            let page = pages::page(StatusCode::BAD_REQUEST);
            judged_page(page, &account, &session, now, security, extras).await
        }
        Ok(TwoStepOutcome {
            security,
            refused: None,
        }) => {
            let extras = Extras {
                notice: notice.map(str::to_owned),
                ..Extras::default()
            };
            let page = pages::page(StatusCode::OK);
            judged_page(page, &account, &session, now, security, extras).await
        }
    }
}

/// The page for `security` as already judged, with the user's apps.
async fn judged_page(
    response: actix_web::HttpResponseBuilder,
    account: &AccountService,
    session: &Session,
    now: i64,
    security: Security,
    mut extras: Extras,
) -> HttpResponse {
    extras.min_password_length = account.min_password_length();
    if let Some(who) = session.signed_in(now) {
        match account.apps(who, now).await {
            Ok(apps) => extras.apps = apps.unwrap_or_default(),
            Err(e) => return storage_failed(&e),
        }
    }
    render(response, session, security, extras)
}

fn render(
    response: actix_web::HttpResponseBuilder,
    session: &Session,
    security: Security,
    extras: Extras,
) -> HttpResponse {
    let csrf = session.csrf.as_str();
    let refused = extras.two_step_error.as_deref();
    let page = |user, on, codes, secret, error| {
        account_page(user, csrf, on, codes, secret, error, &extras)
    };
    match security {
        // The password was right and the second factor is owed.
        Security::SignedOut if session.pending.is_some() => pages::render_with(
            response,
            &TotpPage {
                client_name: &account_name(),
                action: SECOND_FACTOR_PATH,
                csrf_token: csrf,
                authorization: None,
                next: None,
                error: None,
            },
        ),
        Security::SignedOut => pages::render_with(
            response,
            &LoginPage {
                client_name: &account_name(),
                action: LOGIN_PATH,
                csrf_token: csrf,
                authorization: None,
                next: None,
                username: "",
                error: None,
            },
        ),
        Security::Reauthenticate(user) => pages::render_with(
            response,
            &LoginPage {
                client_name: &account_name(),
                action: LOGIN_PATH,
                csrf_token: csrf,
                authorization: None,
                next: None,
                username: &user.username,
                error: Some(REAUTHENTICATE),
            },
        ),
        Security::On(user) => {
            pages::render_with(response, &page(&user.username, true, None, None, refused))
        }
        Security::JustOn(user, codes) => pages::render_with(
            response,
            &page(&user.username, true, Some(codes), None, refused),
        ),
        Security::Enrol {
            user,
            secret,
            wrong_code,
        } => {
            let error = refused.or(wrong_code
                .then_some("That code did not work. Enter the current code from your app."));
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
    extras: &'a Extras,
) -> AccountSecurityPage<'a> {
    AccountSecurityPage {
        apps: extras.apps.clone(),
        revoke_action: ACCOUNT_REVOKE_APP_PATH,
        password_action: ACCOUNT_PASSWORD_PATH,
        everywhere_action: ACCOUNT_SIGN_OUT_EVERYWHERE_PATH,
        turn_off_action: ACCOUNT_TWO_STEP_OFF_PATH,
        recovery_codes_action: ACCOUNT_RECOVERY_CODES_PATH,
        min_password_length: extras.min_password_length,
        notice: extras.notice.as_deref(),
        password_error: extras.password_error.as_deref(),
        username,
        csrf_token,
        action: ACCOUNT_PATH,
        on,
        recovery_codes,
        qr_svg: secret
            .map(|s| {
                let label = crate::web::brand::with_current(|b| b.name.clone());
                qr_svg(&s.otpauth_uri(&label, username))
            })
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
