//! Dynamic client registration (`POST /register`, RFC 7591) and client configuration
//! (`GET`/`PUT`/`DELETE /register/{client_id}`, RFC 7592): extract the bearer token and the
//! JSON body, call `oauth::registration`, answer.

use actix_web::{web, HttpRequest, HttpResponse};
use gatehouse_resource::bearer;

use crate::admin::registration::{Registration, RegistrationError};
use crate::oauth::json_body::JsonBody;

fn token(req: &HttpRequest) -> Result<Option<String>, RegistrationError> {
    bearer::from_header(req).map_err(RegistrationError::Bearer)
}

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

pub async fn read(
    req: HttpRequest,
    registration: web::Data<Registration>,
    id: web::Path<String>,
) -> Result<HttpResponse, RegistrationError> {
    let client = registration.read(id.into_inner(), token(&req)?).await?;
    Ok(HttpResponse::Ok().json(client))
}

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

pub async fn delete(
    req: HttpRequest,
    registration: web::Data<Registration>,
    id: web::Path<String>,
) -> Result<HttpResponse, RegistrationError> {
    registration.delete(id.into_inner(), token(&req)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
