//! The console's users: search, create, disable and enable, reset the password, roles, TOTP
//! off, end sessions.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{read_page, refused, session_of};
use crate::admin::console::Console;
use crate::admin::{self, PasswordRules, UserView};
use crate::web::csrf::CsrfForm;
use crate::web::pages;
use crate::web::session::{BrowserSessions, Session};

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
    let id = id.into_inner();
    let read = move |conn: &mut _, _: &_| admin::show_user(conn, &id);
    read_page(
        &req,
        &console,
        &browser,
        read,
        |response, session, me, user| render_user(response, session, me, user, None, None),
    )
    .await
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
