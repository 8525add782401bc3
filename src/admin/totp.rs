//! Second factors: turn TOTP on or off for a user.

use std::sync::Arc;

use crate::accounts::two_factor::{self, Enrollment};
use crate::storage::security_events::EventKind;
use crate::storage::DbConnection;
use crate::tokens::kek::KeyEncryptionKey;
use crate::tokens::sealing::SealingKeys;

use super::{find_user, invalid, Actor, AdminError};

/// `user totp enable`: a new authenticator secret for the user, on at once; prints the
/// secret, its `otpauth://` URI and ten recovery codes, once. A user who already has TOTP on
/// keeps it unless `force`: replacing it silently would lock them out of their own
/// authenticator app (a pending, unconfirmed enrolment from the account page is replaced).
pub fn enable_totp(
    conn: &mut DbConnection,
    actor: &Actor,
    kek: Arc<KeyEncryptionKey>,
    username: &str,
    force: bool,
    now: i64,
) -> Result<Enrollment, AdminError> {
    let user = find_user(conn, username)?;
    let replacing = crate::storage::two_factor::is_on(conn, &user.id)?;
    if replacing && !force {
        return invalid(format!(
            "user `{}` already has TOTP on; `--force` replaces the secret and the recovery \
             codes (the authenticator app set up before stops working)",
            user.username
        ));
    }
    let keys = SealingKeys::load(conn, kek, now)?;
    let enrollment = two_factor::enroll(conn, &keys, &user, now)?;
    let verb = if replacing { "replaced" } else { "enabled" };
    let what = format!("TOTP {verb} for user {}", user.id);
    actor.record(conn, EventKind::TotpEnabled, None, &what, now);
    Ok(enrollment)
}

/// `user totp disable`: the user logs in with the password alone again.
pub fn disable_totp(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &str,
    now: i64,
) -> Result<bool, AdminError> {
    let user = find_user(conn, username)?;
    let removed = crate::storage::two_factor::remove(conn, &user.id)?;
    if removed {
        let what = format!("TOTP disabled for user {}", user.id);
        actor.record(conn, EventKind::TotpDisabled, None, &what, now);
    }
    Ok(removed)
}
