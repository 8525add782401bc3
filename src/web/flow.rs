//! How the browser routes answer when a flow goes no further, and who a session is logged in
//! as: shared by the authorize, login, consent and account routes.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::oauth::authorization::Refusal;
use crate::storage::accounts::User;
use crate::storage::{login_sessions, DbConnection, StorageError};
use crate::web::pages;
use crate::web::session::Session;

/// The user a session is logged in as, if its `login_sessions` row is still there.
pub fn logged_in_user(
    conn: &mut DbConnection,
    session: &Session,
    now: i64,
) -> Result<Option<User>, Refusal> {
    let Some(uid) = &session.uid else {
        return Ok(None);
    };
    let user = login_sessions::find_user(conn, &session.sid, now).map_err(Refusal::Storage)?;
    Ok(user.filter(|u| &u.id == uid))
}

/// What the user or the client is told when the request goes no further.
pub fn refused(refusal: Refusal) -> HttpResponse {
    match refusal {
        Refusal::Page(message) => pages::error(StatusCode::BAD_REQUEST, message),
        Refusal::Redirect(url) => pages::redirect(url.as_str()).finish(),
        Refusal::Storage(e) => storage_failed(&e),
    }
}

pub fn storage_failed(e: &StorageError) -> HttpResponse {
    tracing::error!(error = %e, "storage failed during a browser flow");
    pages::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is having trouble right now. Please try again in a moment.",
    )
}
