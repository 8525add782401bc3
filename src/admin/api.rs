//! The admin JSON API's service: every call takes the admin token (`admin::token`) and runs
//! one admin operation with it on the blocking pool, in the same connection, so the token is
//! judged as of the change it makes. The request bodies are here, strict: an unknown field,
//! a field given twice or a wrong type is a 400 that names it.

use std::sync::Arc;

use gatehouse_resource::AuthError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{token, Actor, AdminError, PasswordRules};
use crate::domain::{Clock, OAuthError};
use crate::oauth::issuer::Minter;
use crate::oauth::live_token::Refused;
use crate::storage::{Database, DbConnection, StorageError};

/// Why an admin API call is refused: the token (401/403, RFC 6750), the request (400, 404
/// for what does not exist), or a body that could not be read (413, 408).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Bearer(AuthError),
    #[error("{0}")]
    Refused(AdminError),
    #[error("{0}")]
    Request(OAuthError),
}

impl ApiError {
    /// A server error's cause, for the request's log line.
    pub fn cause(&self) -> Option<&str> {
        match self {
            ApiError::Request(e) => e.cause(),
            _ => None,
        }
    }
}

impl From<Refused> for ApiError {
    fn from(Refused(e): Refused) -> Self {
        ApiError::Bearer(e)
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Storage(e) => ApiError::Request(e.into()),
            other => ApiError::Refused(other),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::Request(e.into())
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError::Request(e)
    }
}

/// What an operation is given besides the connection and the acting admin.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now: i64,
    pub rules: PasswordRules,
}

pub struct AdminApi {
    db: Database,
    minter: Arc<Minter>,
    clock: Clock,
    rules: PasswordRules,
}

impl AdminApi {
    pub fn new(db: Database, minter: Arc<Minter>, clock: Clock, rules: PasswordRules) -> Self {
        AdminApi {
            db,
            minter,
            clock,
            rules,
        }
    }

    /// Runs `op` for the holder of `bearer`, if it is an admin token now.
    pub async fn run<T, F>(&self, bearer: Option<String>, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Actor, Context) -> Result<T, AdminError> + Send + 'static,
    {
        self.run_with(bearer, Ok(()), move |conn, actor, cx, ()| {
            op(conn, actor, cx)
        })
        .await
    }

    /// As [`run`](Self::run), with a request body read before: a refused body is told only
    /// to an admin, after the token.
    pub async fn run_with<B, T, F>(
        &self,
        bearer: Option<String>,
        body: Result<B, ApiError>,
        op: F,
    ) -> Result<T, ApiError>
    where
        B: Send + 'static,
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Actor, Context, B) -> Result<T, AdminError> + Send + 'static,
    {
        let bearer = bearer.ok_or(ApiError::Bearer(AuthError::Missing))?;
        let minter = self.minter.clone();
        let context = Context {
            now: self.clock.now(),
            rules: self.rules,
        };
        self.db
            .run(move |conn| -> Result<T, ApiError> {
                let actor = token::admit(conn, &minter, &bearer, context.now)?;
                let body = body?;
                Ok(op(conn, &actor, context, body)?)
            })
            .await
    }
}

/// A request body, or why it cannot be used (a 400 naming the field).
pub fn body<T: DeserializeOwned>(body: Result<Vec<u8>, OAuthError>) -> Result<T, ApiError> {
    let body = body?;
    let mut reader = serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(&mut reader)
        .map_err(|e| ApiError::Refused(AdminError::Invalid(format!("the request body: {e}"))))
}

/// A query string, or why it cannot be used; a parameter given twice is refused.
pub fn query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::Refused(AdminError::Invalid(format!("the query: {e}"))))
}

/// `POST /admin/api/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub roles: Vec<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// `PATCH /admin/api/users/{user}`: each field given replaces the claim; `""` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChangeBody {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// `PUT /admin/api/users/{user}/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: String,
}

/// `POST /admin/api/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoleBody {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `PUT /admin/api/roles/{role}`: the role's scopes, replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleScopesBody {
    pub scopes: Vec<String>,
}

/// `GET /admin/api/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only usernames starting with this, without regard to case.
    pub search: Option<String>,
    /// The `next` of the page before.
    pub after: Option<String>,
    /// 1 to 500; default 50.
    pub limit: Option<i64>,
}

/// `GET /admin/api/clients`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next` of the page before.
    pub after: Option<String>,
    /// 1 to 500; default 50.
    pub limit: Option<i64>,
}

/// `GET /admin/api/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// A username (any case), a user id or `admin`.
    pub user: Option<String>,
    /// Unix seconds: only events at or after this.
    pub since: Option<i64>,
    /// The newest this many (0 to 500; default 50), oldest first.
    pub limit: Option<i64>,
}
