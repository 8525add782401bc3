//! Second factors: turn TOTP on or off for a user.

use std::sync::Arc;

use crate::accounts::two_factor::{self, Enrollment};
use crate::storage::accounts::{self};
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::DbConnection;
use crate::tokens::kek::KeyEncryptionKey;
use crate::tokens::sealing::SealingKeys;

use super::{invalid, AdminError};

/// `user totp enable`: a new authenticator secret for the user, on at once; prints the
/// secret, its `otpauth://` URI and ten recovery codes, once. A user who already has TOTP on
/// keeps it unless `force`: replacing it silently would lock them out of their own
/// authenticator app (a pending, unconfirmed enrolment from the account page is replaced).
pub fn enable_totp(
    conn: &mut DbConnection,
    kek: Arc<KeyEncryptionKey>,
    username: &str,
    force: bool,
    now: i64,
) -> Result<Enrollment, AdminError> {
    let user = accounts::find_user_by_name(conn, username)?
        .ok_or_else(|| AdminError::NoSuchUser(username.to_owned()))?;
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
    let event = Event {
        actor: Some(security_events::ADMIN),
        detail: Some(&format!("TOTP {verb} for user {}", user.id)),
        ..Event::default()
    };
    security_events::record_or_log(conn, EventKind::TotpEnabled, &event, now);
    Ok(enrollment)
}

/// `user totp disable`: the user logs in with the password alone again.
pub fn disable_totp(conn: &mut DbConnection, username: &str, now: i64) -> Result<bool, AdminError> {
    let user = accounts::find_user_by_name(conn, username)?
        .ok_or_else(|| AdminError::NoSuchUser(username.to_owned()))?;
    let removed = crate::storage::two_factor::remove(conn, &user.id)?;
    if removed {
        let event = Event {
            actor: Some(security_events::ADMIN),
            detail: Some(&format!("TOTP disabled for user {}", user.id)),
            ..Event::default()
        };
        security_events::record_or_log(conn, EventKind::TotpDisabled, &event, now);
    }
    Ok(removed)
}
