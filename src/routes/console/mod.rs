//! The admin console (`/admin`): HTML pages for users whose roles allow `gatehouse:admin`,
//! behind the same login page and second factor as everything else, with the same CSRF,
//! cookie and header rules. Each handler asks `admin::console` to admit the session and run
//! one operation, then renders. Here: what every console page shares, and the overview
//! (counts, recent security events); clients, users and roles have a module each.

mod clients;
mod roles;
mod users;

pub use clients::{client, client_action, clients, delete, register};
pub use roles::{create_role, role, role_action, roles};
pub use users::{create_user, user, user_action, users};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;

use crate::admin;
use crate::admin::console::{Connection, Console, ConsoleUser, Refused};
use crate::admin::AdminError;
use crate::web::flow::storage_failed;
use crate::web::pages::{self, LoginPage, TotpPage};
use crate::web::paths::{console_name, CONSOLE_NEXT, LOGIN_PATH, SECOND_FACTOR_PATH};
use crate::web::session::{BrowserSessions, Session};

struct EventLine {
    at: String,
    kind: String,
    outcome: String,
    actor: String,
    client_id: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console_home.html")]
struct HomePage<'a> {
    csrf_token: &'a str,
    admin: &'a str,
    users: i64,
    clients: i64,
    events: Vec<EventLine>,
}

pub(super) fn refused(
    response: actix_web::HttpResponseBuilder,
    session: &Session,
    why: Refused,
) -> HttpResponse {
    match why {
        Refused::SignIn if session.pending.is_some() => pages::render_with(
            response,
            &TotpPage {
                client_name: &console_name(),
                action: SECOND_FACTOR_PATH,
                csrf_token: &session.csrf,
                authorization: None,
                next: Some(CONSOLE_NEXT),
                error: None,
            },
        ),
        Refused::SignIn => pages::render_with(
            response,
            &LoginPage {
                client_name: &console_name(),
                action: LOGIN_PATH,
                csrf_token: &session.csrf,
                authorization: None,
                next: Some(CONSOLE_NEXT),
                username: "",
                error: None,
            },
        ),
        Refused::NotAdmin => pages::error(
            StatusCode::FORBIDDEN,
            "Your account may not use the admin console.",
        ),
        Refused::Admin(e) => pages::error(StatusCode::NOT_FOUND, &e.to_string()),
        Refused::Storage(e) => storage_failed(&e),
    }
}

/// The session a page request comes with, a new anonymous one (with its cookie) if none.
pub(super) async fn session_of(
    req: &HttpRequest,
    browser: &BrowserSessions,
) -> (Session, actix_web::HttpResponseBuilder, i64) {
    let now = browser.now();
    let existing = browser.read(req, now).await;
    let session = existing.clone().unwrap_or_else(|| browser.anonymous(now));
    let mut response = pages::page(StatusCode::OK);
    if existing.is_none() {
        response.cookie(browser.cookie(&session, now));
    }
    (session, response, now)
}

fn time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(
        || at.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// A console page that only reads: admits the session, runs `read`, renders what it found
/// with the admin's username; the login page or 403 for a session the console refuses.
pub(super) async fn read_page<T: Send + 'static>(
    req: &HttpRequest,
    console: &Console,
    browser: &BrowserSessions,
    read: impl FnOnce(&mut Connection, &ConsoleUser) -> Result<T, AdminError> + Send + 'static,
    render: impl FnOnce(HttpResponseBuilder, &Session, &str, T) -> HttpResponse,
) -> HttpResponse {
    let (session, response, now) = session_of(req, browser).await;
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            Ok((admin.user.username.clone(), read(conn, admin)?))
        })
        .await;
    match answer {
        Ok((me, found)) => render(response, &session, &me, found),
        Err(why) => refused(response, &session, why),
    }
}

pub async fn home(
    req: HttpRequest,
    console: web::Data<Console>,
    browser: web::Data<BrowserSessions>,
) -> HttpResponse {
    let (session, response, now) = session_of(&req, &browser).await;
    let answer = console
        .run(session.signed_in(now), now, |conn, admin| {
            let users = admin::count_users(conn)?;
            let clients = admin::count_clients(conn)?;
            let events = admin::list_events(conn, None, None, 20)?;
            Ok((admin.user.username.clone(), users, clients, events))
        })
        .await;
    match answer {
        Ok((username, users, clients, events)) => pages::render_with(
            response,
            &HomePage {
                csrf_token: &session.csrf,
                admin: &username,
                users,
                clients,
                events: events
                    .into_iter()
                    .rev()
                    .map(|e| EventLine {
                        at: time(e.at),
                        kind: e.kind,
                        outcome: e.outcome,
                        actor: e.actor.unwrap_or_default(),
                        client_id: e.client_id.unwrap_or_default(),
                        detail: e.detail.unwrap_or_default(),
                    })
                    .collect(),
            },
        ),
        Err(why) => refused(response, &session, why),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct After {
    pub after: Option<String>,
}
