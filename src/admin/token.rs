//! The admin credential of SPEC.md "Administration over HTTP": an access token of ours,
//! live (`live_token`), granted `gatehouse:admin`, whose holder may still have it now.
//!
//! A token says what was granted when it was minted; the check also asks whether that is
//! still so, because an admin who is removed must lose the API at once, not in minutes: the
//! token's client must still be registered for the scope, and a user's token needs the
//! user enabled and a role that allows the scope today.

use gatehouse_resource::AuthError;

use super::Actor;
use crate::domain::ScopeSet;
use crate::oauth::issuer::Minter;
use crate::oauth::live_token::{self, Refused};
use crate::storage::{accounts, DbConnection};

/// The scope that makes an access token an admin credential.
pub const ADMIN_SCOPE: &str = "gatehouse:admin";

/// The admin a bearer token names, or why it is refused: 401 for a token that is not a
/// live token of ours, 403 for one without the admin scope (RFC 6750 §3.1).
pub fn admit(
    conn: &mut DbConnection,
    minter: &Minter,
    token: &str,
    now: i64,
) -> Result<Actor, Refused> {
    let (claims, client) = live_token::check(conn, minter, token, now)?;
    let insufficient = || Refused(AuthError::InsufficientScope(ADMIN_SCOPE.into()));
    let granted = ScopeSet::parse(&claims.scope).unwrap_or_default();
    if !granted.contains(ADMIN_SCOPE) {
        return Err(insufficient());
    }
    // The token's client must still be registered for the scope, whoever holds it: an
    // admin who narrows a client ends its admin tokens at once.
    if !client.scopes.contains(ADMIN_SCOPE) {
        return Err(insufficient());
    }
    // Client credentials: the client acts for itself (its id is the `sub`).
    let still_holds = if claims.sub == claims.client_id {
        true
    } else {
        let enabled =
            accounts::find_user(conn, &claims.sub)?.is_some_and(|u| u.disabled_at.is_none());
        if !enabled {
            return Err(Refused::invalid("the token names no user who may sign in"));
        }
        accounts::scopes_allowed_to(conn, &claims.sub)?.contains(ADMIN_SCOPE)
    };
    if !still_holds {
        return Err(insufficient());
    }
    Ok(Actor::token(&claims.sub))
}
