//! Dynamic client registration (`POST /register`, RFC 7591) and client configuration
//! (`GET`/`PUT`/`DELETE /register/{client_id}`, RFC 7592): extract the bearer token and the
//! JSON body, call `oauth::registration`, answer.

use actix_web::{web, HttpRequest, HttpResponse};
use gatehouse_resource::bearer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

use crate::admin::registration::{
    ClientMetadata, RegisteredClient, Registration, RegistrationError,
};
use crate::oauth::json_body::JsonBody;

/// An error answer, as RFC 6749 §5.2 and RFC 7591 §3.2.2 shape it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only its schema is used
pub(super) struct Error {
    error: String,
    error_description: String,
}

/// The registration endpoints' part of `/admin/openapi.json`: `POST /register` takes the
/// document's admin token; a client's own URI takes its registration access token.
#[derive(OpenApi)]
#[openapi(paths(register, read, replace, delete), components(schemas(Error)), modifiers(&RegistrationToken))]
pub struct RegistrationDoc;

struct RegistrationToken;

impl utoipa::Modify for RegistrationToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme = Http::builder()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The registration access token answered, once, when the client was registered.",
            ))
            .build();
        components.add_security_scheme("registration_token", SecurityScheme::Http(scheme));
    }
}

fn token(req: &HttpRequest) -> Result<Option<String>, RegistrationError> {
    bearer::from_header(req).map_err(RegistrationError::Bearer)
}

/// RFC 7591: registers a client, with an admin token (SPEC: "Administration over HTTP").
#[utoipa::path(post, path = "/register", tag = "registration",
    request_body(content = ClientMetadata, content_type = "application/json"),
    responses((status = 201, body = RegisteredClient), (status = 400, body = Error), (status = 401, body = Error),
        (status = 403, body = Error), (status = 413, body = Error)))]
pub async fn register(
    req: HttpRequest,
    registration: web::Data<Registration>,
    body: Result<JsonBody, crate::oauth::OAuthError>,
) -> Result<HttpResponse, RegistrationError> {
    // The body's refusal (size, type) waits until the token is judged.
    let created = registration
        .register(token(&req)?, body.map(|b| b.0))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// RFC 7592: the client's registered metadata, with its registration access token.
#[utoipa::path(get, path = "/register/{client_id}", tag = "registration",
    params(("client_id" = String, Path)), security(("registration_token" = [])),
    responses((status = 200, body = RegisteredClient), (status = 401, body = Error)))]
pub async fn read(
    req: HttpRequest,
    registration: web::Data<Registration>,
    id: web::Path<String>,
) -> Result<HttpResponse, RegistrationError> {
    let client = registration.read(id.into_inner(), token(&req)?).await?;
    Ok(HttpResponse::Ok().json(client))
}

/// RFC 7592: replaces the client's metadata, with its registration access token.
#[utoipa::path(put, path = "/register/{client_id}", tag = "registration",
    params(("client_id" = String, Path)), security(("registration_token" = [])),
    request_body(content = ClientMetadata, content_type = "application/json"),
    responses((status = 200, body = RegisteredClient), (status = 400, body = Error), (status = 401, body = Error),
        (status = 413, body = Error)))]
pub async fn replace(
    req: HttpRequest,
    registration: web::Data<Registration>,
    id: web::Path<String>,
    body: Result<JsonBody, crate::oauth::OAuthError>,
) -> Result<HttpResponse, RegistrationError> {
    let body = body.map(|b| b.0);
    let client = registration
        .replace(id.into_inner(), token(&req)?, body)
        .await?;
    Ok(HttpResponse::Ok().json(client))
}

/// RFC 7592: deletes the client, with its registration access token.
#[utoipa::path(delete, path = "/register/{client_id}", tag = "registration",
    params(("client_id" = String, Path)), security(("registration_token" = [])),
    responses((status = 204), (status = 401, body = Error)))]
pub async fn delete(
    req: HttpRequest,
    registration: web::Data<Registration>,
    id: web::Path<String>,
) -> Result<HttpResponse, RegistrationError> {
    registration.delete(id.into_inner(), token(&req)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
