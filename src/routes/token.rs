//! The token, introspection and revocation endpoints: each runs its flow on the blocking
//! pool (through `Database::run`); `web::headers` marks every answer `no-store`.

use actix_web::{web, HttpResponse};

use crate::oauth::request::FormRequest;
use crate::oauth::{
    authorization_code, client_credentials, introspection, password_grant, refresh, revocation,
    ErrorCode, GrantType, OAuthError,
};
use crate::startup::AppState;
use crate::storage::DbConnection;

/// RFC 6749 §3.2: dispatch on `grant_type`.
pub async fn token(
    state: web::Data<AppState>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
    let grant_type = request.required("grant_type")?;
    let unsupported = || {
        let shown: String = grant_type.chars().take(40).collect();
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("unsupported grant_type `{shown}`"),
        )
    };
    let grant = grant_type.parse::<GrantType>().map_err(|_| unsupported())?;
    let shared = state.clone();
    let response = match grant {
        GrantType::Password => password_grant::grant(state, request).await?,
        grant => {
            let flow = move |conn: &mut DbConnection| {
                let s = &shared;
                let now = s.clock.now();
                s.client_guard
                    .guarded(conn, &request, now, |conn| match grant {
                        GrantType::ClientCredentials => {
                            client_credentials::grant(&s.minter, conn, &request, now)
                        }
                        GrantType::RefreshToken => {
                            refresh::grant(conn, &s.minter, &s.sessions, &request, now)
                        }
                        _ => authorization_code::grant(conn, &s.minter, &s.sessions, &request, now),
                    })
            };
            state.db.run(flow).await?
        }
    };
    Ok(HttpResponse::Ok().json(response))
}

/// RFC 7662 introspection.
pub async fn introspect(
    state: web::Data<AppState>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
    let shared = state.clone();
    let answer = state
        .db
        .run(move |conn| {
            let now = shared.clock.now();
            shared.client_guard.guarded(conn, &request, now, |conn| {
                introspection::introspect(conn, &shared.minter, &request, now)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// RFC 7009 revocation: 200 with an empty body.
pub async fn revoke(
    state: web::Data<AppState>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
    let shared = state.clone();
    state
        .db
        .run(move |conn| {
            let now = shared.clock.now();
            shared.client_guard.guarded(conn, &request, now, |conn| {
                revocation::revoke(conn, &shared.minter, &request, now)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().finish())
}
