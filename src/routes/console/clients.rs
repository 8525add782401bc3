//! The console's clients: list, register (the secret shown once), edit, rotate the secret and
//! delete (each of the last two after a confirmation).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{read_page, refused, session_of, After};
use crate::admin::console::Console;
use crate::admin::{self, ClientSpec, ClientView};
use crate::oauth::request::FormRequest;
use crate::web::csrf::CsrfForm;
use crate::web::pages;
use crate::web::paths::CONSOLE_CLIENTS_PATH;
use crate::web::session::{BrowserSessions, Session};

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
    /// Just registered or rotated: the secret, shown this once.
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    /// The question asked before a deletion or a rotation.
    confirm: Option<Confirm>,
}

impl ClientPage<'_> {
    /// Whether the client may use grant type `g` (the edit form's ticked boxes).
    fn has_grant(&self, g: &str) -> bool {
        self.client.grant_types.iter().any(|t| t == g)
    }
}

/// What the client page asks before doing it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Confirm {
    Delete,
    Rotate,
}

/// What the client page shows besides the client.
#[derive(Default)]
struct Shown {
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    confirm: Option<Confirm>,
}

fn client_page(
    response: actix_web::HttpResponseBuilder,
    session: &Session,
    admin: &str,
    client: ClientView,
    shown: Shown,
) -> HttpResponse {
    pages::render_with(
        response,
        &ClientPage {
            csrf_token: &session.csrf,
            admin,
            client,
            secret: shown.secret,
            notice: shown.notice,
            error: shown.error,
            confirm: shown.confirm,
        },
    )
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
    let fields = ClientFields::of(&form);
    let spec = ClientSpec {
        name: fields.name,
        redirect_uris: fields.redirect_uris,
        post_logout_redirect_uris: Vec::new(),
        grant_types: fields.grant_types,
        scopes: fields.scopes,
        public: form.param("public") == Some("on"),
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
        Ok((username, Ok(created))) => {
            let notice = match created.client_secret {
                Some(_) => "The client is registered. Copy its secret now: it is shown only this once, and only its hash is kept.",
                None => "The client is registered.",
            };
            let shown = Shown {
                secret: created.client_secret,
                notice: Some(notice.to_owned()),
                ..Shown::default()
            };
            client_page(response, &session, &username, created.client, shown)
        }
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
    let id = id.into_inner();
    let read = move |conn: &mut _, _: &_| admin::show_client(conn, &id);
    read_page(
        &req,
        &console,
        &browser,
        read,
        |response, session, me, client| {
            client_page(response, session, me, client, Shown::default())
        },
    )
    .await
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
        Ok((username, Some(client))) => {
            let shown = Shown {
                confirm: Some(Confirm::Delete),
                ..Shown::default()
            };
            client_page(
                pages::page(StatusCode::OK),
                &session,
                &username,
                client,
                shown,
            )
        }
        Err(why) => refused(pages::page(StatusCode::OK), &session, why),
    }
}

/// What the register and edit forms say about a client.
struct ClientFields {
    name: String,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
}

impl ClientFields {
    fn of(form: &FormRequest) -> Self {
        let words = |name: &str| -> Vec<String> {
            form.param(name)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        let grant_types = GRANT_TYPES
            .into_iter()
            .filter(|g| form.param(&format!("grant_{g}")) == Some("on"))
            .map(str::to_owned)
            .collect();
        ClientFields {
            name: form.param("name").unwrap_or_default().to_owned(),
            redirect_uris: words("redirect_uris"),
            grant_types,
            scopes: words("scopes"),
        }
    }
}

/// The grant types the forms offer, each a checkbox `grant_…`.
const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
];

/// `POST /admin/clients/{id}/{action}`: `edit` (name, redirect URIs, grant types, scopes, each
/// replacing what is registered, checked by the rules of a registration) or `secret` (first
/// the question, then with `confirm=yes` a new secret, shown once; the old one stops working).
pub async fn client_action(
    console: web::Data<Console>,
    posted: CsrfForm,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
    let (id, action) = path.into_inner();
    let confirmed = form.param("confirm") == Some("yes");
    let fields = ClientFields::of(&form);
    let answer = console
        .run(session.signed_in(now), now, move |conn, admin| {
            let me = admin.user.username.clone();
            let done: Result<Shown, admin::AdminError> = match action.as_str() {
                "edit" => {
                    let change = admin::ClientChange {
                        name: Some(fields.name),
                        redirect_uris: Some(fields.redirect_uris),
                        grant_types: Some(fields.grant_types),
                        scopes: Some(fields.scopes),
                        ..admin::ClientChange::default()
                    };
                    admin::update_client(conn, &admin.actor, &id, change, now).map(|_| Shown {
                        notice: Some("Saved.".to_owned()),
                        ..Shown::default()
                    })
                }
                "secret" if confirmed => admin::rotate_client_secret(conn, &admin.actor, &id, now)
                    .map(|secret| Shown {
                        secret: Some(secret),
                        notice: Some("A new secret: copy it now, it is shown only this once. The old one no longer works.".to_owned()),
                        ..Shown::default()
                    }),
                "secret" => Ok(Shown {
                    confirm: Some(Confirm::Rotate),
                    ..Shown::default()
                }),
                other => Err(admin::AdminError::Invalid(format!("no action `{other}`"))),
            };
            match done {
                Ok(shown) => Ok((me, admin::show_client(conn, &id)?, Ok(shown))),
                // A refusal about the form is said on the client's page; nothing changed.
                Err(admin::AdminError::Invalid(why)) => {
                    Ok((me, admin::show_client(conn, &id)?, Err(why)))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    match answer {
        Ok((me, client, Ok(shown))) => {
            // A change is seen by every instance before the page says it is done; a question
            // changed nothing.
            if shown.confirm.is_none() {
                crate::oauth::client_cache::settle().await;
            }
            client_page(pages::page(StatusCode::OK), &session, &me, client, shown)
        }
        Ok((me, client, Err(why))) => {
            let shown = Shown {
                error: Some(why),
                ..Shown::default()
            };
            client_page(
                pages::page(StatusCode::BAD_REQUEST),
                &session,
                &me,
                client,
                shown,
            )
        }
        Err(why) => refused(pages::page(StatusCode::OK), &session, why),
    }
}
