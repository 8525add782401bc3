//! `GET` and `POST /userinfo` (OpenID Connect Core 1.0 §5.3), with the access token in
//! `Authorization: Bearer` (RFC 6750 §2.1); refusals are RFC 6750 §3 challenges.

use actix_web::{web, HttpRequest, HttpResponse};
use gatehouse_resource::{bearer, AuthError};

use crate::oauth::userinfo::UserInfoEndpoint;

pub async fn userinfo(
    req: HttpRequest,
    endpoint: web::Data<UserInfoEndpoint>,
) -> Result<HttpResponse, AuthError> {
    let token = bearer::from_header(&req)?.ok_or(AuthError::Missing)?;
    let info = endpoint.answer(token).await?;
    Ok(HttpResponse::Ok().json(&*info))
}
