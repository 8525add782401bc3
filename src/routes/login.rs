//! `POST /login` (the login form), `POST /login/totp` (its second factor) and `POST /logout`.
//!
//! The login form carries the pending authorization (sealed, in a hidden input) when it is
//! part of one; a successful login starts a new session (new id, new CSRF token), moves the
//! pending authorization to it, and sends the browser on to `/authorize/resume`, which shows
//! the consent page or goes straight back to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::accounts::login::{
    password_fingerprint, CodeOutcome, LoginContext, LoginService, NewLoginSession, PasswordOutcome,
};
use crate::accounts::password::Busy;
use crate::oauth::authorization_service::AuthorizationService;
use crate::oauth::pending::PendingAuthorization;
use crate::oauth::request::{client_ip, FormRequest};
use crate::web::csrf::CsrfForm;
use crate::web::flow::{refused, storage_failed};
use crate::web::pages::{self, LoginPage, MessagePage, TotpPage};
use crate::web::paths::{
    account_name, console_name, ACCOUNT_PATH, CONSOLE_NEXT, CONSOLE_PATH, LOGIN_PATH, RESUME_PATH,
    SECOND_FACTOR_PATH,
};
use crate::web::session::{BrowserSessions, Session};

/// Same words for an unknown user and a wrong password: no user enumeration.
const BAD_LOGIN: &str = "Incorrect username or password.";
const MISSING: &str = "Enter your username and password.";
/// The same for a wrong, replayed or spent code.
const BAD_CODE: &str =
    "That code did not work. Use the current code from your app, or a recovery code.";
/// The same for a blocked username and a blocked address, known or not.
const TOO_MANY: &str = "Too many failed sign-in attempts. Wait a little, then try again.";
/// The password checks are all taken: nothing was checked.
const BUSY: &str = "Too many people are signing in right now. Try again in a moment.";

pub async fn login(
    req: HttpRequest,
    login: web::Data<LoginService>,
    browser: web::Data<BrowserSessions>,
    service: web::Data<AuthorizationService>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    // The authorization request must be good before any password work is done for it.
    let destination = match Destination::of(&service, &form, &session, now).await {
        Ok(destination) => destination,
        Err(page) => return page,
    };
    let username = form.param("username").unwrap_or_default().to_owned();
    let render = |response: actix_web::HttpResponseBuilder, error: &str| {
        pages::render_with(
            response,
            &LoginPage {
                client_name: &destination.name(),
                action: LOGIN_PATH,
                csrf_token: &session.csrf,
                authorization: destination.sealed(),
                next: destination.next_field(),
                username: &username,
                error: Some(error),
            },
        )
    };
    let Some(password) = form.param("password").map(str::to_owned) else {
        return render(pages::page(StatusCode::BAD_REQUEST), MISSING);
    };
    if username.is_empty() {
        return render(pages::page(StatusCode::BAD_REQUEST), MISSING);
    }

    let context = LoginContext {
        ip: client_ip(&req),
        client_id: destination.client_id(),
        detail: destination.detail(),
    };
    let checked = login
        .check_password(&username, password, &context, now)
        .await;
    let (user, keys, second_factor) = match checked {
        Ok(PasswordOutcome::Right {
            user,
            keys,
            second_factor,
        }) => (user, keys, second_factor),
        Ok(PasswordOutcome::Wrong) => return render(pages::page(StatusCode::OK), BAD_LOGIN),
        Ok(PasswordOutcome::Wait(wait)) => {
            let mut response = pages::page(StatusCode::TOO_MANY_REQUESTS);
            response.insert_header((header::RETRY_AFTER, wait.to_string()));
            return render(response, TOO_MANY);
        }
        Ok(PasswordOutcome::Busy(busy)) => {
            let mut response = pages::page(busy_status(busy));
            response.insert_header((header::RETRY_AFTER, Busy::RETRY_AFTER_SECS.to_string()));
            return render(response, BUSY);
        }
        Err(e) => return storage_failed(&e),
    };
    if second_factor {
        // The password was right; the session is not logged in until the code is.
        let session = browser.awaiting_second_factor(&user.id, password_fingerprint(&user), now);
        return onwards(
            &browser,
            &session,
            &destination.next(&service, &session),
            now,
        );
    }
    let session = browser.logged_in(&user.id, now);
    match login
        .sign_in(keys, user, context, started(&session), now)
        .await
    {
        // The password was changed, or the user disabled, while it was checked.
        Ok(false) => render(pages::page(StatusCode::OK), BAD_LOGIN),
        Ok(true) => onwards(
            &browser,
            &session,
            &destination.next(&service, &session),
            now,
        ),
        Err(e) => storage_failed(&e),
    }
}

/// The `login_sessions` row of a session a login starts (new id, new CSRF token).
fn started(session: &Session) -> NewLoginSession {
    NewLoginSession {
        sid: session.sid.clone(),
        expires_at: session.exp,
    }
}

/// 503 when the whole password line is full (the server is busy); 429 when this username or
/// address already has its share of it.
fn busy_status(busy: Busy) -> StatusCode {
    match busy {
        Busy::Full => StatusCode::SERVICE_UNAVAILABLE,
        Busy::TooManyFor(_) => StatusCode::TOO_MANY_REQUESTS,
    }
}

/// On to `next` (`Destination::next`) with the session.
fn onwards(browser: &BrowserSessions, session: &Session, next: &str, now: i64) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(browser.cookie(session, now))
        .finish()
}

/// `POST /login/totp`: the second factor of a user whose password was right.
pub async fn second_factor(
    req: HttpRequest,
    login: web::Data<LoginService>,
    browser: web::Data<BrowserSessions>,
    service: web::Data<AuthorizationService>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let destination = match Destination::of(&service, &form, &session, now).await {
        Ok(destination) => destination,
        Err(page) => return page,
    };
    let Some(user_id) = session.pending.clone() else {
        // Nothing owed (expired, or already logged in): on to where the flow stands.
        return onwards(
            &browser,
            &session,
            &destination.next(&service, &session),
            now,
        );
    };
    let render = |response: actix_web::HttpResponseBuilder, error: &str| {
        pages::render_with(
            response,
            &TotpPage {
                client_name: &destination.name(),
                action: SECOND_FACTOR_PATH,
                csrf_token: &session.csrf,
                authorization: destination.sealed(),
                next: destination.next_field(),
                error: Some(error),
            },
        )
    };
    let Some(code) = form.param("code").map(str::to_owned) else {
        return render(
            pages::page(StatusCode::BAD_REQUEST),
            "Enter the code from your authenticator app.",
        );
    };
    let context = LoginContext {
        ip: client_ip(&req),
        client_id: destination.client_id(),
        detail: destination.detail(),
    };
    // Made now, recorded only if the code is right.
    let logged_in = browser.logged_in(&user_id, now);
    let outcome = login
        .second_factor(
            user_id,
            session.pending_password.clone(),
            code,
            context,
            started(&logged_in),
            now,
        )
        .await;
    match outcome {
        Ok(CodeOutcome::Right) => onwards(
            &browser,
            &logged_in,
            &destination.next(&service, &logged_in),
            now,
        ),
        Ok(CodeOutcome::Wrong) => render(pages::page(StatusCode::OK), BAD_CODE),
        // The password changed meanwhile: a fresh session, and the login page again.
        Ok(CodeOutcome::StartOver) => {
            let fresh = browser.anonymous(now);
            onwards(&browser, &fresh, &destination.next(&service, &fresh), now)
        }
        Ok(CodeOutcome::Wait(wait)) => {
            let mut response = pages::page(StatusCode::TOO_MANY_REQUESTS);
            response.insert_header((header::RETRY_AFTER, wait.to_string()));
            render(response, TOO_MANY)
        }
        Err(e) => storage_failed(&e),
    }
}

/// Where a login leads: on with the pending authorization its form carries, or, with none,
/// to the user's own account page.
enum Destination {
    Authorize {
        pending: Box<PendingAuthorization>,
        /// As posted: sealed for the session that posted it, to show the form again.
        sealed: String,
    },
    Account,
    /// The admin console (`next=console`), which judges the user's roles itself.
    Console,
}

impl Destination {
    async fn of(
        service: &AuthorizationService,
        form: &FormRequest,
        session: &Session,
        now: i64,
    ) -> Result<Destination, HttpResponse> {
        let Some(sealed) = form.param("authorization") else {
            return Ok(match form.param("next") {
                Some(CONSOLE_NEXT) => Destination::Console,
                _ => Destination::Account,
            });
        };
        match service.open(sealed, &session.sid, now).await {
            Ok(pending) => Ok(Destination::Authorize {
                pending: Box::new(pending),
                sealed: sealed.to_owned(),
            }),
            Err(refusal) => Err(refused(refusal)),
        }
    }

    /// What the pages say the login is for.
    fn name(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Destination::Authorize { pending, .. } => pending.request.client_name.as_str().into(),
            Destination::Account => account_name().into(),
            Destination::Console => console_name().into(),
        }
    }

    fn client_id(&self) -> Option<String> {
        match self {
            Destination::Authorize { pending, .. } => Some(pending.request.client_id.clone()),
            Destination::Account | Destination::Console => None,
        }
    }

    /// The form's hidden `next` input, for a login that leads to the console.
    fn next_field(&self) -> Option<&'static str> {
        matches!(self, Destination::Console).then_some(CONSOLE_NEXT)
    }

    /// What the event log says the login was for.
    fn detail(&self) -> Option<&'static str> {
        matches!(self, Destination::Console).then_some("admin console")
    }

    /// The form's hidden input, when there is a pending authorization.
    fn sealed(&self) -> Option<&str> {
        match self {
            Destination::Authorize { sealed, .. } => Some(sealed),
            Destination::Account | Destination::Console => None,
        }
    }

    /// Where the browser goes with `session`, the one the login leaves it in.
    fn next(&self, service: &AuthorizationService, session: &Session) -> String {
        match self {
            Destination::Authorize { pending, .. } => {
                let sealed = service.rebind((**pending).clone(), &session.sid);
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("authorization", &sealed)
                    .finish();
                format!("{RESUME_PATH}?{query}")
            }
            Destination::Account => ACCOUNT_PATH.to_owned(),
            Destination::Console => CONSOLE_PATH.to_owned(),
        }
    }
}

pub async fn logout(browser: web::Data<BrowserSessions>, posted: CsrfForm) -> HttpResponse {
    let session = posted.session;
    if session.uid.is_some() {
        if let Err(e) = browser.end(session.sid).await {
            return storage_failed(&e);
        }
    }
    let mut response = pages::page(StatusCode::OK);
    response.cookie(browser.removal());
    pages::render_with(
        response,
        &MessagePage {
            title: "Signed out",
            message: "You are signed out of gatehouse.",
            is_error: false,
        },
    )
}
