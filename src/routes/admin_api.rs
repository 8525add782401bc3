//! The admin JSON API under `/admin/api/` (SPEC "Administration over HTTP") and its OpenAPI 3
//! document at `/admin/openapi.json`, generated from these handlers and the types they take
//! and return, so the two cannot drift. Each handler reads the request, calls one admin
//! operation through `admin::api::AdminApi` (which first judges the admin token), answers.

use actix_web::{web, HttpRequest, HttpResponse};
use gatehouse_resource::bearer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

use crate::admin::api::{
    self, AdminApi, ApiError, EventQuery, NewRoleBody, NewUserBody, PageQuery, PasswordBody,
    RoleScopesBody, UserChangeBody, UserQuery,
};
use crate::admin::{
    self, ClientChange, ClientPage, ClientSpec, ClientView, ConsentView, CreatedClient, Ended,
    NewUser, ProfileChange, RoleView, SessionView, StoredEvent, UserPage, UserView,
};
use crate::oauth::client_cache;
use crate::oauth::json_body::JsonBody;
use crate::oauth::OAuthError;

type Answer = Result<HttpResponse, ApiError>;
type Body = Result<JsonBody, OAuthError>;

fn token(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    bearer::from_header(req).map_err(ApiError::Bearer)
}

fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    api::body(body.map(|b| b.0))
}

fn ok(value: impl serde::Serialize) -> Answer {
    Ok(HttpResponse::Ok().json(value))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct NewSecret {
    client_secret: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Error {
    error: String,
    error_description: String,
}

struct AdminToken;

impl utoipa::Modify for AdminToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme = Http::builder()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An access token of this gatehouse granted `gatehouse:admin`.",
            ))
            .build();
        components.add_security_scheme("admin_token", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "gatehouse admin API", description = "Users, roles, consents, sessions, clients and the security event log."),
    paths(
        list_users, create_user, show_user, update_user, delete_user, disable_user, enable_user,
        set_password, add_role, remove_role, list_sessions, revoke_sessions, disable_totp,
        list_consents, revoke_consent, list_roles, create_role, show_role, set_role_scopes,
        delete_role, list_clients, create_client, show_client, update_client, delete_client,
        rotate_secret, list_events,
    ),
    components(schemas(Error)),
    modifiers(&AdminToken),
    security(("admin_token" = [])),
)]
pub struct AdminApiDoc;

// Users --------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/admin/api/users", tag = "users", params(UserQuery),
    responses((status = 200, body = UserPage), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error)))]
pub async fn list_users(req: HttpRequest, api: web::Data<AdminApi>) -> Answer {
    let q: UserQuery = api::query(req.query_string())?;
    let page = api
        .run(token(&req)?, move |conn, _, _| {
            admin::list_users(conn, q.search.as_deref(), q.after.as_deref(), q.limit)
        })
        .await?;
    ok(page)
}

#[utoipa::path(post, path = "/admin/api/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, body = UserView), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error)))]
pub async fn create_user(req: HttpRequest, api: web::Data<AdminApi>, body: Body) -> Answer {
    let user = api
        .run_with(
            token(&req)?,
            json_body::<NewUserBody>(body),
            move |conn, actor, cx, b| {
                let new = NewUser {
                    username: &b.username,
                    password: &b.password,
                    roles: &b.roles,
                    email: b.email.as_deref(),
                    name: b.name.as_deref(),
                };
                admin::create_user(conn, actor, &cx.rules, new, cx.now)
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(user))
}

#[utoipa::path(get, path = "/admin/api/users/{user}", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 200, body = UserView), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn show_user(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
) -> Answer {
    let user = user.into_inner();
    ok(api
        .run(token(&req)?, move |conn, _, _| {
            admin::show_user(conn, &user)
        })
        .await?)
}

#[utoipa::path(patch, path = "/admin/api/users/{user}", tag = "users", request_body = UserChangeBody,
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 200, body = UserView), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn update_user(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
    body: Body,
) -> Answer {
    let user = user.into_inner();
    let view = api
        .run_with(
            token(&req)?,
            json_body::<UserChangeBody>(body),
            move |conn, actor, cx, b| {
                let change = ProfileChange {
                    email: b.email.as_deref(),
                    name: b.name.as_deref(),
                };
                admin::update_user(conn, actor, &user, change, cx.now)
            },
        )
        .await?;
    ok(view)
}

#[utoipa::path(delete, path = "/admin/api/users/{user}", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 204), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn delete_user(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
) -> Answer {
    let user = user.into_inner();
    api.run(token(&req)?, move |conn, actor, cx| {
        admin::delete_user(conn, actor, &user, cx.now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/admin/api/users/{user}/disable", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 200, body = Ended), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn disable_user(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
) -> Answer {
    let user = user.into_inner();
    ok(api
        .run(token(&req)?, move |conn, actor, cx| {
            admin::disable_user(conn, actor, &user, cx.now)
        })
        .await?)
}

#[utoipa::path(post, path = "/admin/api/users/{user}/enable", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 200, body = UserView), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn enable_user(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
) -> Answer {
    let user = user.into_inner();
    ok(api
        .run(token(&req)?, move |conn, actor, cx| {
            admin::enable_user(conn, actor, &user, cx.now)
        })
        .await?)
}

#[utoipa::path(put, path = "/admin/api/users/{user}/password", tag = "users", request_body = PasswordBody,
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 200, body = Ended), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn set_password(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
    body: Body,
) -> Answer {
    let user = user.into_inner();
    let ended = api
        .run_with(
            token(&req)?,
            json_body::<PasswordBody>(body),
            move |conn, actor, cx, b| {
                admin::set_password(conn, actor, &cx.rules, &user, &b.password, cx.now)
            },
        )
        .await?;
    ok(ended)
}

#[utoipa::path(put, path = "/admin/api/users/{user}/roles/{role}", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id"), ("role" = String, Path)),
    responses((status = 200, body = UserView), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn add_role(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    path: web::Path<(String, String)>,
) -> Answer {
    let (user, role) = path.into_inner();
    ok(api
        .run(token(&req)?, move |conn, actor, cx| {
            admin::add_role(conn, actor, &user, &role, cx.now)
        })
        .await?)
}

#[utoipa::path(delete, path = "/admin/api/users/{user}/roles/{role}", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id"), ("role" = String, Path)),
    responses((status = 200, body = UserView), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn remove_role(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    path: web::Path<(String, String)>,
) -> Answer {
    let (user, role) = path.into_inner();
    ok(api
        .run(token(&req)?, move |conn, actor, cx| {
            admin::remove_role(conn, actor, &user, &role, cx.now)
        })
        .await?)
}

#[utoipa::path(get, path = "/admin/api/users/{user}/sessions", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn list_sessions(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
) -> Answer {
    let user = user.into_inner();
    ok(api
        .run(token(&req)?, move |conn, _, cx| {
            admin::list_sessions(conn, &user, cx.now)
        })
        .await?)
}

#[utoipa::path(delete, path = "/admin/api/users/{user}/sessions", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 200, body = Ended), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn revoke_sessions(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
) -> Answer {
    let user = user.into_inner();
    ok(api
        .run(token(&req)?, move |conn, actor, cx| {
            admin::revoke_sessions(conn, actor, &user, cx.now)
        })
        .await?)
}

#[utoipa::path(delete, path = "/admin/api/users/{user}/totp", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 204), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn disable_totp(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
) -> Answer {
    let user = user.into_inner();
    api.run(token(&req)?, move |conn, actor, cx| {
        admin::disable_totp(conn, actor, &user, cx.now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/admin/api/users/{user}/consents", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id")),
    responses((status = 200, body = Vec<ConsentView>), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn list_consents(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    user: web::Path<String>,
) -> Answer {
    let user = user.into_inner();
    ok(api
        .run(token(&req)?, move |conn, _, _| {
            admin::list_consents(conn, &user)
        })
        .await?)
}

#[utoipa::path(delete, path = "/admin/api/users/{user}/consents/{client_id}", tag = "users",
    params(("user" = String, Path, description = "A username (any case) or a user id"), ("client_id" = String, Path)),
    responses((status = 200, body = Ended), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn revoke_consent(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    path: web::Path<(String, String)>,
) -> Answer {
    let (user, client) = path.into_inner();
    ok(api
        .run(token(&req)?, move |conn, actor, cx| {
            admin::revoke_consent(conn, actor, &user, &client, cx.now)
        })
        .await?)
}

// Roles --------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/admin/api/roles", tag = "roles",
    responses((status = 200, body = Vec<RoleView>), (status = 401, body = Error), (status = 403, body = Error)))]
pub async fn list_roles(req: HttpRequest, api: web::Data<AdminApi>) -> Answer {
    ok(api
        .run(token(&req)?, move |conn, _, _| admin::list_roles(conn))
        .await?)
}

#[utoipa::path(post, path = "/admin/api/roles", tag = "roles", request_body = NewRoleBody,
    responses((status = 201, body = RoleView), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error)))]
pub async fn create_role(req: HttpRequest, api: web::Data<AdminApi>, body: Body) -> Answer {
    let role = api
        .run_with(
            token(&req)?,
            json_body::<NewRoleBody>(body),
            move |conn, actor, cx, b| admin::create_role(conn, actor, &b.name, &b.scopes, cx.now),
        )
        .await?;
    Ok(HttpResponse::Created().json(role))
}

#[utoipa::path(get, path = "/admin/api/roles/{role}", tag = "roles", params(("role" = String, Path)),
    responses((status = 200, body = RoleView), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn show_role(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    role: web::Path<String>,
) -> Answer {
    let role = role.into_inner();
    ok(api
        .run(token(&req)?, move |conn, _, _| {
            admin::show_role(conn, &role)
        })
        .await?)
}

#[utoipa::path(put, path = "/admin/api/roles/{role}", tag = "roles", request_body = RoleScopesBody, params(("role" = String, Path)),
    responses((status = 200, body = RoleView), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn set_role_scopes(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    role: web::Path<String>,
    body: Body,
) -> Answer {
    let role = role.into_inner();
    let view = api
        .run_with(
            token(&req)?,
            json_body::<RoleScopesBody>(body),
            move |conn, actor, cx, b| {
                let scopes = admin::parse_scopes(&b.scopes)?;
                admin::set_role_scopes(conn, actor, &role, &scopes, cx.now)
            },
        )
        .await?;
    ok(view)
}

#[utoipa::path(delete, path = "/admin/api/roles/{role}", tag = "roles", params(("role" = String, Path)),
    responses((status = 204), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn delete_role(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    role: web::Path<String>,
) -> Answer {
    let role = role.into_inner();
    api.run(token(&req)?, move |conn, actor, cx| {
        admin::delete_role(conn, actor, &role, cx.now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// Clients ------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/admin/api/clients", tag = "clients", params(PageQuery),
    responses((status = 200, body = ClientPage), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error)))]
pub async fn list_clients(req: HttpRequest, api: web::Data<AdminApi>) -> Answer {
    let q: PageQuery = api::query(req.query_string())?;
    ok(api
        .run(token(&req)?, move |conn, _, _| {
            admin::page_clients(conn, q.after.as_deref(), q.limit)
        })
        .await?)
}

#[utoipa::path(post, path = "/admin/api/clients", tag = "clients", request_body = ClientSpec,
    responses((status = 201, body = CreatedClient), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error)))]
pub async fn create_client(req: HttpRequest, api: web::Data<AdminApi>, body: Body) -> Answer {
    let created = api
        .run_with(
            token(&req)?,
            json_body::<ClientSpec>(body),
            move |conn, actor, cx, spec| admin::create_client(conn, actor, spec, cx.now),
        )
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/admin/api/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn show_client(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    id: web::Path<String>,
) -> Answer {
    let id = id.into_inner();
    ok(api
        .run(token(&req)?, move |conn, _, _| {
            admin::show_client(conn, &id)
        })
        .await?)
}

#[utoipa::path(patch, path = "/admin/api/clients/{client_id}", tag = "clients", request_body = ClientChange, params(("client_id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn update_client(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    id: web::Path<String>,
    body: Body,
) -> Answer {
    let id = id.into_inner();
    let view = api
        .run_with(
            token(&req)?,
            json_body::<ClientChange>(body),
            move |conn, actor, cx, change| admin::update_client(conn, actor, &id, change, cx.now),
        )
        .await?;
    client_cache::settle().await;
    ok(view)
}

#[utoipa::path(delete, path = "/admin/api/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 204), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn delete_client(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    id: web::Path<String>,
) -> Answer {
    let id = id.into_inner();
    api.run(token(&req)?, move |conn, actor, cx| {
        admin::delete_client(conn, actor, &id, cx.now)
    })
    .await?;
    client_cache::settle().await;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/admin/api/clients/{client_id}/secret", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 200, body = NewSecret), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error), (status = 404, body = Error)))]
pub async fn rotate_secret(
    req: HttpRequest,
    api: web::Data<AdminApi>,
    id: web::Path<String>,
) -> Answer {
    let id = id.into_inner();
    let client_secret = api
        .run(token(&req)?, move |conn, actor, cx| {
            admin::rotate_client_secret(conn, actor, &id, cx.now)
        })
        .await?;
    client_cache::settle().await;
    ok(NewSecret { client_secret })
}

// Events -------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/admin/api/events", tag = "events", params(EventQuery),
    responses((status = 200, body = Vec<StoredEvent>), (status = 400, body = Error), (status = 401, body = Error), (status = 403, body = Error)))]
pub async fn list_events(req: HttpRequest, api: web::Data<AdminApi>) -> Answer {
    let q: EventQuery = api::query(req.query_string())?;
    let limit = admin::page_size(q.limit.filter(|&n| n != 0))?;
    let limit = if q.limit == Some(0) { 0 } else { limit };
    ok(api
        .run(token(&req)?, move |conn, _, _| {
            admin::list_events(conn, q.user.as_deref(), q.since, limit)
        })
        .await?)
}
