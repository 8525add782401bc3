//! What signed-in users do to their own two-step verification (the `/account` page): turn it
//! on with a first code, turn it off, get new recovery codes. Each step first checks that the
//! session is still signed in (its `login_sessions` row is there) and, for a change, that the
//! user signed in recently; the password asked again for each change is checked by the caller
//! (`admin::account`), which has the login limits.

use std::sync::Arc;

use super::totp::TotpSecret;
use super::two_factor;
use crate::storage::accounts::User;
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::two_factor as stored_factor;
use crate::storage::{login_sessions, Database, DbConnection, StorageError};
use crate::tokens::sealing::SealingKeys;

/// The browser session a request comes with, as far as the account pages care.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub sid: String,
    pub user_id: String,
    /// Signed in recently enough to change security settings without signing in again.
    pub recently: bool,
}

/// Where the user's two-step verification stands.
pub enum Security {
    /// The session was signed out meanwhile.
    SignedOut,
    /// Signed in, but not recently: sign in again before changing anything.
    Reauthenticate(User),
    On(User),
    /// Just turned on, or new codes asked for: the recovery codes, shown this once.
    JustOn(User, Vec<String>),
    /// Off: the secret to scan, waiting for its first code.
    Enrol {
        user: User,
        secret: TotpSecret,
        /// The code just posted did not work.
        wrong_code: bool,
    },
}

pub struct SelfService {
    db: Database,
    sealing: Arc<SealingKeys>,
}

impl SelfService {
    pub fn new(db: Database, sealing: Arc<SealingKeys>) -> Self {
        SelfService { db, sealing }
    }

    /// The security page.
    pub async fn security(&self, who: SignedIn, now: i64) -> Result<Security, StorageError> {
        let sealing = self.sealing.clone();
        self.db
            .run(move |conn| {
                let Some(user) = login_sessions::signed_in(conn, &who.sid, &who.user_id, now)?
                else {
                    return Ok(Security::SignedOut);
                };
                if !who.recently {
                    return Ok(Security::Reauthenticate(user));
                }
                if stored_factor::is_on(conn, &user.id)? {
                    return Ok(Security::On(user));
                }
                enrol(conn, &sealing, user, false, now)
            })
            .await
    }

    /// Turns two-step verification on with the first code from the user's app.
    pub async fn confirm_second_factor(
        &self,
        who: SignedIn,
        code: String,
        ip: Option<String>,
        now: i64,
    ) -> Result<Security, StorageError> {
        let sealing = self.sealing.clone();
        self.db
            .run(move |conn| {
                let Some(user) = login_sessions::signed_in(conn, &who.sid, &who.user_id, now)?
                else {
                    return Ok(Security::SignedOut);
                };
                if stored_factor::is_on(conn, &user.id)? {
                    return Ok(Security::On(user));
                }
                // The code alone is not enough: a session cookie must not turn a factor on.
                if !who.recently {
                    return Ok(Security::Reauthenticate(user));
                }
                let event = Event {
                    actor: Some(&user.id),
                    ip: ip.as_deref(),
                    ..Event::default()
                };
                if let Some(codes) = two_factor::confirm(conn, &sealing, &user.id, &code, now)? {
                    security_events::record(conn, EventKind::TotpEnabled, &event, now)?;
                    return Ok(Security::JustOn(user, codes));
                }
                security_events::record(conn, EventKind::TotpFailed, &event, now)?;
                enrol(conn, &sealing, user, true, now)
            })
            .await
    }
}

impl SelfService {
    /// Turns two-step verification off: the password alone signs in again.
    pub async fn turn_off(
        &self,
        who: SignedIn,
        ip: Option<String>,
        now: i64,
    ) -> Result<Security, StorageError> {
        self.change(who, now, move |conn, sealing, user| {
            if stored_factor::remove(conn, &user.id)? {
                record(conn, EventKind::TotpDisabled, &user, ip.as_deref(), now)?;
            }
            enrol(conn, sealing, user, false, now)
        })
        .await
    }

    /// New recovery codes, the earlier ones void; shown this once.
    pub async fn renew_recovery_codes(
        &self,
        who: SignedIn,
        ip: Option<String>,
        now: i64,
    ) -> Result<Security, StorageError> {
        self.change(
            who,
            now,
            move |conn, sealing, user| match two_factor::renew_recovery_codes(conn, &user.id, now)?
            {
                Some(codes) => {
                    let kind = EventKind::RecoveryCodesReplaced;
                    record(conn, kind, &user, ip.as_deref(), now)?;
                    Ok(Security::JustOn(user, codes))
                }
                None => enrol(conn, sealing, user, false, now),
            },
        )
        .await
    }

    /// Runs `change` for the signed-in user, if the session is still signed in and recent.
    async fn change(
        &self,
        who: SignedIn,
        now: i64,
        change: impl FnOnce(&mut DbConnection, &SealingKeys, User) -> Result<Security, StorageError>
            + Send
            + 'static,
    ) -> Result<Security, StorageError> {
        let sealing = self.sealing.clone();
        self.db
            .run(move |conn| match changeable(conn, &who, now)? {
                None => Ok(Security::SignedOut),
                Some(Err(refused)) => Ok(refused),
                Some(Ok(user)) => change(conn, &sealing, user),
            })
            .await
    }
}

/// The user a change is for: `None` once signed out, `Err` with the answer when the sign-in
/// is not recent enough to change anything.
fn changeable(
    conn: &mut DbConnection,
    who: &SignedIn,
    now: i64,
) -> Result<Option<Result<User, Security>>, StorageError> {
    let Some(user) = login_sessions::signed_in(conn, &who.sid, &who.user_id, now)? else {
        return Ok(None);
    };
    if !who.recently {
        return Ok(Some(Err(Security::Reauthenticate(user))));
    }
    Ok(Some(Ok(user)))
}

/// A change the user made to their own account, in the event log.
fn record(
    conn: &mut DbConnection,
    kind: EventKind,
    user: &User,
    ip: Option<&str>,
    now: i64,
) -> Result<(), StorageError> {
    let event = Event {
        actor: Some(&user.id),
        ip,
        detail: Some("via account"),
        ..Event::default()
    };
    security_events::record(conn, kind, &event, now)
}

/// Two-step verification still off: the secret waiting for its first code.
fn enrol(
    conn: &mut DbConnection,
    sealing: &SealingKeys,
    user: User,
    wrong_code: bool,
    now: i64,
) -> Result<Security, StorageError> {
    let secret = two_factor::pending(conn, sealing, &user, now)?;
    Ok(Security::Enrol {
        user,
        secret,
        wrong_code,
    })
}
