//! The admin console (`/admin`): HTML pages for users whose roles allow `gatehouse:admin`,
//! behind the same login page and second factor as everything else, with the same CSRF,
//! cookie and header rules. Each handler asks `admin::console` to admit the session and run
//! one operation, then renders. Today: the overview (counts, recent security events),
//! clients (list, register with the secret shown once, delete after a confirmation) and
//! users (search, create, disable, reset the password, roles, TOTP off, end sessions).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::admin::console::{Console, Refused};
use crate::admin::{self, ClientSpec, ClientView, PasswordRules, UserView};
use crate::web::csrf::CsrfForm;
use crate::web::flow::storage_failed;
use crate::web::pages::{self, LoginPage, TotpPage};
use crate::web::paths::{
    console_name, CONSOLE_CLIENTS_PATH, CONSOLE_NEXT, LOGIN_PATH, SECOND_FACTOR_PATH,
};
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

#[derive(Template)]
#[template(path = "console_clients.html")]
struct ClientsPage<'a> {
    csrf_token: &'a str,
    admin: &'a str,
    clients: Vec<ClientView>,
    next: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console_client.html")]
struct ClientPage<'a> {
    csrf_token: &'a str,
    admin: &'a str,
    client: ClientView,
    /// Just registered: the secret, shown this once.
    secret: Option<String>,
    confirm_delete: bool,
}

/// The answer to a session the console does not admit: the login (or the code it owes),
/// whose success leads back here; 403 for a signed-in user who is not an admin.
fn refused(
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
async fn session_of(
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
struct After {
    after: Option<String>,
}

pub async fn clients(
    req: HttpRequest,
    console: web::Data<Console>,
    browser: web::Data<BrowserSessions>,
) -> HttpResponse {
    let (session, response, now) = session_of(&req, &browser).await;
    let after = serde_urlencoded::from_str::<After>(req.query_string())
        .ok()
        .and_then(|a| a.after);
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            Ok((
                admin.user.username.clone(),
                admin::page_clients(conn, after.as_deref(), None)?,
            ))
        })
        .await;
    match answer {
        Ok((username, page)) => pages::render_with(
            response,
            &ClientsPage {
                csrf_token: &session.csrf,
                admin: &username,
                clients: page.clients,
                next: page.next,
                error: None,
            },
        ),
        Err(why) => refused(response, &session, why),
    }
}

/// `POST /admin/clients`: the register form; the new client's page shows its secret once.
pub async fn register(console: web::Data<Console>, posted: CsrfForm) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let words = |name: &str| -> Vec<String> {
        form.param(name)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let ticked = |name: &str| form.param(name) == Some("on");
    let grant_types = [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "password",
    ]
    .into_iter()
    .filter(|g| ticked(&format!("grant_{g}")))
    .map(str::to_owned)
    .collect();
    let spec = ClientSpec {
        name: form.param("name").unwrap_or_default().to_owned(),
        redirect_uris: words("redirect_uris"),
        post_logout_redirect_uris: Vec::new(),
        grant_types,
        scopes: words("scopes"),
        public: ticked("public"),
        introspect: false,
    };
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            let username = admin.user.username.clone();
            match admin::create_client(conn, &admin.actor, spec, now) {
                Ok(created) => Ok((username, Ok(created))),
                Err(admin::AdminError::Invalid(why)) => {
                    let page = admin::page_clients(conn, None, None)?;
                    Ok((username, Err((why, page))))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    let response = pages::page(StatusCode::OK);
    match answer {
        Ok((username, Ok(created))) => pages::render_with(
            response,
            &ClientPage {
                csrf_token: &session.csrf,
                admin: &username,
                client: created.client,
                secret: created.client_secret,
                confirm_delete: false,
            },
        ),
        Ok((username, Err((why, page)))) => pages::render_with(
            pages::page(StatusCode::BAD_REQUEST),
            &ClientsPage {
                csrf_token: &session.csrf,
                admin: &username,
                clients: page.clients,
                next: page.next,
                error: Some(why),
            },
        ),
        Err(why) => refused(response, &session, why),
    }
}

pub async fn client(
    req: HttpRequest,
    console: web::Data<Console>,
    browser: web::Data<BrowserSessions>,
    id: web::Path<String>,
) -> HttpResponse {
    let (session, response, now) = session_of(&req, &browser).await;
    let id = id.into_inner();
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            Ok((admin.user.username.clone(), admin::show_client(conn, &id)?))
        })
        .await;
    match answer {
        Ok((username, client)) => pages::render_with(
            response,
            &ClientPage {
                csrf_token: &session.csrf,
                admin: &username,
                client,
                secret: None,
                confirm_delete: false,
            },
        ),
        Err(why) => refused(response, &session, why),
    }
}

/// `POST /admin/clients/{id}/delete`: first the question, then (with `confirm=yes`) the
/// deletion, after which every instance refuses the client.
pub async fn delete(
    console: web::Data<Console>,
    posted: CsrfForm,
    id: web::Path<String>,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let (id, confirmed) = (id.into_inner(), form.param("confirm") == Some("yes"));
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            let username = admin.user.username.clone();
            if confirmed {
                admin::delete_client(conn, &admin.actor, &id, now)?;
                return Ok((username, None));
            }
            Ok((username, Some(admin::show_client(conn, &id)?)))
        })
        .await;
    match answer {
        Ok((_, None)) => {
            crate::oauth::client_cache::settle().await;
            HttpResponse::SeeOther()
                .insert_header((actix_web::http::header::LOCATION, CONSOLE_CLIENTS_PATH))
                .finish()
        }
        Ok((username, Some(client))) => pages::render(
            StatusCode::OK,
            &ClientPage {
                csrf_token: &session.csrf,
                admin: &username,
                client,
                secret: None,
                confirm_delete: true,
            },
        ),
        Err(why) => refused(pages::page(StatusCode::OK), &session, why),
    }
}

#[derive(Template)]
#[template(path = "console_users.html")]
struct UsersPage<'a> {
    csrf_token: &'a str,
    admin: &'a str,
    search: String,
    users: Vec<UserView>,
    next: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console_user.html")]
struct UserPage<'a> {
    csrf_token: &'a str,
    admin: &'a str,
    user: UserView,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct UserQuery {
    search: Option<String>,
    after: Option<String>,
}

/// `GET /admin/users`: a page of users, or those whose name starts with `search`.
pub async fn users(
    req: HttpRequest,
    console: web::Data<Console>,
    browser: web::Data<BrowserSessions>,
) -> HttpResponse {
    let (session, response, now) = session_of(&req, &browser).await;
    let q = serde_urlencoded::from_str::<UserQuery>(req.query_string()).unwrap_or(UserQuery {
        search: None,
        after: None,
    });
    let search = q.search.unwrap_or_default();
    let shown = search.clone();
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            let page = admin::list_users(conn, Some(&search), q.after.as_deref(), None)?;
            Ok((admin.user.username.clone(), page))
        })
        .await;
    match answer {
        Ok((username, page)) => pages::render_with(
            response,
            &UsersPage {
                csrf_token: &session.csrf,
                admin: &username,
                search: shown,
                users: page.users,
                next: page.next,
                error: None,
            },
        ),
        Err(why) => refused(response, &session, why),
    }
}

/// `POST /admin/users`: creates a user, then shows them.
pub async fn create_user(
    console: web::Data<Console>,
    rules: web::Data<PasswordRules>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let field = |name: &str| form.param(name).unwrap_or_default().to_owned();
    let (username, password) = (field("username"), field("password"));
    let roles: Vec<String> = field("roles")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let rules = **rules;
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            let new = admin::NewUser {
                username: &username,
                password: &password,
                roles: &roles,
                email: None,
                name: None,
            };
            let me = admin.user.username.clone();
            match admin::create_user(conn, &admin.actor, &rules, new, now) {
                Ok(user) => Ok((me, Ok(user))),
                Err(admin::AdminError::Invalid(why)) => {
                    Ok((me, Err((why, admin::list_users(conn, None, None, None)?))))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    match answer {
        Ok((me, Ok(user))) => render_user(
            pages::page(StatusCode::OK),
            &session,
            &me,
            user,
            Some("The user was created.".into()),
            None,
        ),
        Ok((me, Err((why, page)))) => pages::render_with(
            pages::page(StatusCode::BAD_REQUEST),
            &UsersPage {
                csrf_token: &session.csrf,
                admin: &me,
                search: String::new(),
                users: page.users,
                next: page.next,
                error: Some(why),
            },
        ),
        Err(why) => refused(pages::page(StatusCode::OK), &session, why),
    }
}

fn render_user(
    response: actix_web::HttpResponseBuilder,
    session: &Session,
    admin: &str,
    user: UserView,
    notice: Option<String>,
    error: Option<String>,
) -> HttpResponse {
    pages::render_with(
        response,
        &UserPage {
            csrf_token: &session.csrf,
            admin,
            user,
            notice,
            error,
        },
    )
}

pub async fn user(
    req: HttpRequest,
    console: web::Data<Console>,
    browser: web::Data<BrowserSessions>,
    id: web::Path<String>,
) -> HttpResponse {
    let (session, response, now) = session_of(&req, &browser).await;
    let id = id.into_inner();
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            Ok((admin.user.username.clone(), admin::show_user(conn, &id)?))
        })
        .await;
    match answer {
        Ok((me, user)) => render_user(response, &session, &me, user, None, None),
        Err(why) => refused(response, &session, why),
    }
}

/// `POST /admin/users/{id}/{action}`: disable, enable, password, add-role, remove-role,
/// end-sessions, totp-off; the user's page again, saying what happened.
pub async fn user_action(
    console: web::Data<Console>,
    rules: web::Data<PasswordRules>,
    posted: CsrfForm,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let (id, action) = path.into_inner();
    let role = form.param("role").unwrap_or_default().to_owned();
    let password = form.param("new_password").unwrap_or_default().to_owned();
    let rules = **rules;
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            let actor = &admin.actor;
            let done: Result<String, admin::AdminError> = match action.as_str() {
                "disable" => admin::disable_user(conn, actor, &id, now).map(|e| {
                    format!(
                        "Disabled: {} session(s) and {} app sign-in(s) ended.",
                        e.sessions, e.refresh_families
                    )
                }),
                "enable" => {
                    admin::enable_user(conn, actor, &id, now).map(|_| "Enabled.".to_owned())
                }
                "password" => {
                    admin::set_password(conn, actor, &rules, &id, &password, now).map(|_| {
                        "The password was set; their sessions and app sign-ins ended.".to_owned()
                    })
                }
                "add-role" => admin::add_role(conn, actor, &id, &role, now)
                    .map(|_| format!("Role {role} given.")),
                "remove-role" => admin::remove_role(conn, actor, &id, &role, now)
                    .map(|_| format!("Role {role} taken.")),
                "end-sessions" => admin::revoke_sessions(conn, actor, &id, now).map(|e| {
                    format!(
                        "{} session(s) and {} app sign-in(s) ended.",
                        e.sessions, e.refresh_families
                    )
                }),
                "totp-off" => admin::disable_totp(conn, actor, &id, now)
                    .map(|_| "Two-step verification is off.".to_owned()),
                other => Err(admin::AdminError::Invalid(format!("no action `{other}`"))),
            };
            let me = admin.user.username.clone();
            match done {
                Ok(notice) => Ok((me, admin::show_user(conn, &id)?, Ok(notice))),
                // A refusal about the form is said on the user's page.
                Err(e @ (admin::AdminError::Invalid(_) | admin::AdminError::NoSuchRole(_))) => {
                    Ok((me, admin::show_user(conn, &id)?, Err(e.to_string())))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    match answer {
        Ok((me, user, Ok(notice))) => render_user(
            pages::page(StatusCode::OK),
            &session,
            &me,
            user,
            Some(notice),
            None,
        ),
        Ok((me, user, Err(why))) => render_user(
            pages::page(StatusCode::BAD_REQUEST),
            &session,
            &me,
            user,
            None,
            Some(why),
        ),
        Err(why) => refused(pages::page(StatusCode::OK), &session, why),
    }
}
