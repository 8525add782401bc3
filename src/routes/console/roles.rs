//! The console's roles and the scopes each allows (Django's groups and their permissions):
//! list, create, edit the scopes, delete after a confirmation.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{read_page, refused};
use crate::admin::console::Console;
use crate::admin::{self, RoleView};
use crate::web::csrf::CsrfForm;
use crate::web::pages;
use crate::web::paths::CONSOLE_ROLES_PATH;
use crate::web::session::{BrowserSessions, Session};

#[derive(Template)]
#[template(path = "console_roles.html")]
struct RolesPage<'a> {
    csrf_token: &'a str,
    admin: &'a str,
    roles: Vec<RoleView>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console_role.html")]
struct RolePage<'a> {
    csrf_token: &'a str,
    admin: &'a str,
    role: RoleView,
    notice: Option<String>,
    error: Option<String>,
    confirm_delete: bool,
}

/// What the role page shows besides the role.
#[derive(Default)]
struct Shown {
    notice: Option<String>,
    error: Option<String>,
    confirm_delete: bool,
}

fn role_page(
    response: actix_web::HttpResponseBuilder,
    session: &Session,
    admin: &str,
    role: RoleView,
    shown: Shown,
) -> HttpResponse {
    pages::render_with(
        response,
        &RolePage {
            csrf_token: &session.csrf,
            admin,
            role,
            notice: shown.notice,
            error: shown.error,
            confirm_delete: shown.confirm_delete,
        },
    )
}

fn scopes_of(form: &crate::oauth::request::FormRequest) -> Vec<String> {
    form.param("scopes")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

pub async fn roles(
    req: HttpRequest,
    console: web::Data<Console>,
    browser: web::Data<BrowserSessions>,
) -> HttpResponse {
    let read = |conn: &mut _, _: &_| admin::list_roles(conn);
    read_page(
        &req,
        &console,
        &browser,
        read,
        |response, session, me, roles| roles_page(response, session, me, roles, None),
    )
    .await
}

fn roles_page(
    response: actix_web::HttpResponseBuilder,
    session: &Session,
    admin: &str,
    roles: Vec<RoleView>,
    error: Option<String>,
) -> HttpResponse {
    pages::render_with(
        response,
        &RolesPage {
            csrf_token: &session.csrf,
            admin,
            roles,
            error,
        },
    )
}

/// `POST /admin/roles`: `name` and `scopes` (space-separated); the new role's page.
pub async fn create_role(console: web::Data<Console>, posted: CsrfForm) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let name = form.param("name").unwrap_or_default().to_owned();
    let scopes = scopes_of(&form);
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            let me = admin.user.username.clone();
            match admin::create_role(conn, &admin.actor, &name, &scopes, now) {
                Ok(role) => Ok((me, Ok(role))),
                Err(admin::AdminError::Invalid(why)) => {
                    Ok((me, Err((why, admin::list_roles(conn)?))))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    match answer {
        Ok((me, Ok(role))) => {
            let shown = Shown {
                notice: Some("The role was created.".to_owned()),
                ..Shown::default()
            };
            role_page(pages::page(StatusCode::OK), &session, &me, role, shown)
        }
        Ok((me, Err((why, roles)))) => roles_page(
            pages::page(StatusCode::BAD_REQUEST),
            &session,
            &me,
            roles,
            Some(why),
        ),
        Err(why) => refused(pages::page(StatusCode::OK), &session, why),
    }
}

pub async fn role(
    req: HttpRequest,
    console: web::Data<Console>,
    browser: web::Data<BrowserSessions>,
    name: web::Path<String>,
) -> HttpResponse {
    let name = name.into_inner();
    let read = move |conn: &mut _, _: &_| admin::show_role(conn, &name);
    read_page(
        &req,
        &console,
        &browser,
        read,
        |response, session, me, role| role_page(response, session, me, role, Shown::default()),
    )
    .await
}

/// `POST /admin/roles/{name}/{action}`: `scopes` (the role's scopes, replaced; its users get
/// them in their next token) or `delete` (first the question, then with `confirm=yes` the
/// deletion, after which the roles page).
pub async fn role_action(
    console: web::Data<Console>,
    posted: CsrfForm,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let (name, action) = path.into_inner();
    let confirmed = form.param("confirm") == Some("yes");
    let scopes = scopes_of(&form);
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            let me = admin.user.username.clone();
            let done = match action.as_str() {
                "scopes" => admin::parse_scopes(&scopes)
                    .and_then(|set| admin::set_role_scopes(conn, &admin.actor, &name, &set, now))
                    .map(|role| {
                        let shown = Shown {
                            notice: Some(
                                "Saved: its users get these scopes in their next token.".to_owned(),
                            ),
                            ..Shown::default()
                        };
                        Some((role, shown))
                    }),
                "delete" if confirmed => {
                    admin::delete_role(conn, &admin.actor, &name, now).map(|_| None)
                }
                "delete" => admin::show_role(conn, &name).map(|role| {
                    let shown = Shown {
                        confirm_delete: true,
                        ..Shown::default()
                    };
                    Some((role, shown))
                }),
                other => Err(admin::AdminError::Invalid(format!("no action `{other}`"))),
            };
            match done {
                Ok(shown) => Ok((me, Ok(shown))),
                // A refusal about the form is said on the role's page; nothing changed.
                Err(admin::AdminError::Invalid(why)) => {
                    Ok((me, Err((admin::show_role(conn, &name)?, why))))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    match answer {
        Ok((_, Ok(None))) => HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, CONSOLE_ROLES_PATH))
            .finish(),
        Ok((me, Ok(Some((role, shown))))) => {
            role_page(pages::page(StatusCode::OK), &session, &me, role, shown)
        }
        Ok((me, Err((role, why)))) => {
            let shown = Shown {
                error: Some(why),
                ..Shown::default()
            };
            role_page(
                pages::page(StatusCode::BAD_REQUEST),
                &session,
                &me,
                role,
                shown,
            )
        }
        Err(why) => refused(pages::page(StatusCode::OK), &session, why),
    }
}
