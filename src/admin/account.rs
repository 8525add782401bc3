//! Account self-service on `/account`: a signed-in user changes their password (the old one
//! checked under the login limits, as at the login form), sees and revokes the apps they
//! have allowed, and signs out everywhere. Every step first checks that the browser session
//! is still signed in (its `login_sessions` row is there), and each change is logged with
//! the user as its actor (`via account`).

use std::sync::Arc;

use super::{list_consents, PasswordRules};
use super::{revoke_consent, revoke_sessions, users, Actor, AdminError, ConsentView, Ended};
use crate::accounts::login::{LoginContext, LoginService, PasswordOutcome};
use crate::accounts::self_service::SignedIn;
use crate::storage::accounts::User;
use crate::storage::{login_sessions, Database, DbConnection, StorageError};

/// What a password change came to.
#[derive(Debug)]
pub enum PasswordChange {
    SignedOut,
    /// The new password and its confirmation differ.
    Mismatch,
    /// Refused by the password rules (too short…), with why.
    Refused(String),
    /// The current password is wrong (or the account may not sign in).
    Wrong,
    /// Too many wrong passwords: wait this many seconds.
    Wait(i64),
    /// The password line is full; try again shortly.
    Busy,
    Changed(Ended),
}

pub struct AccountService {
    db: Database,
    login: Arc<LoginService>,
    rules: PasswordRules,
}

fn live(conn: &mut DbConnection, who: &SignedIn, now: i64) -> Result<Option<User>, StorageError> {
    login_sessions::signed_in(conn, &who.sid, &who.user_id, now)
}

/// An admin refusal the steps above rule out, told as the storage failure it would be.
fn storage(e: AdminError) -> StorageError {
    match e {
        AdminError::Storage(e) => e,
        other => StorageError::Corrupt(other.to_string()),
    }
}

impl AccountService {
    pub fn new(db: Database, login: Arc<LoginService>, rules: PasswordRules) -> Self {
        AccountService { db, login, rules }
    }

    /// What the page tells the browser about new passwords.
    pub fn min_password_length(&self) -> usize {
        self.rules.min_length
    }

    /// The apps the user has allowed; `None` once the session is signed out.
    pub async fn apps(
        &self,
        who: SignedIn,
        now: i64,
    ) -> Result<Option<Vec<ConsentView>>, StorageError> {
        self.db
            .run(move |conn| match live(conn, &who, now)? {
                None => Ok(None),
                Some(user) => match list_consents(conn, &user.id) {
                    Ok(apps) => Ok(Some(apps)),
                    // Deleted a moment ago: as signed out.
                    Err(AdminError::NoSuchUser(_)) => Ok(None),
                    Err(e) => Err(storage(e)),
                },
            })
            .await
    }

    pub async fn change_password(
        &self,
        who: SignedIn,
        current: String,
        new: String,
        confirmation: String,
        ip: Option<String>,
        now: i64,
    ) -> Result<PasswordChange, StorageError> {
        let probe = who.clone();
        let Some(user) = self.db.run(move |conn| live(conn, &probe, now)).await? else {
            return Ok(PasswordChange::SignedOut);
        };
        if new != confirmation {
            return Ok(PasswordChange::Mismatch);
        }
        // The cheap checks before any bcrypt.
        if let Err(e) = self.rules.check(&new) {
            return Ok(PasswordChange::Refused(e.to_string()));
        }
        let context = LoginContext {
            ip,
            client_id: None,
            detail: Some("password change"),
        };
        match self
            .login
            .check_password(&user.username, current, &context, now)
            .await?
        {
            PasswordOutcome::Right { user: checked, .. } if checked.id == user.id => {}
            PasswordOutcome::Right { .. } | PasswordOutcome::Wrong => {
                return Ok(PasswordChange::Wrong)
            }
            PasswordOutcome::Wait(secs) => return Ok(PasswordChange::Wait(secs)),
            PasswordOutcome::Busy(_) => return Ok(PasswordChange::Busy),
        }
        let rules = self.rules;
        self.db
            .run(move |conn| {
                // Signed out everywhere while the password was checked: nothing changes.
                if live(conn, &who, now)?.is_none() {
                    return Ok(PasswordChange::SignedOut);
                }
                match users::change_own_password(conn, &rules, &user, &who.sid, &new, now) {
                    Ok(ended) => Ok(PasswordChange::Changed(ended)),
                    Err(AdminError::Invalid(why)) => Ok(PasswordChange::Refused(why)),
                    Err(e) => Err(storage(e)),
                }
            })
            .await
    }

    /// Withdraws the consent for `client_id` and revokes that app's tokens for the user;
    /// `None` once the session is signed out, `Some(false)` when there was nothing to revoke.
    pub async fn revoke_app(
        &self,
        who: SignedIn,
        client_id: String,
        now: i64,
    ) -> Result<Option<bool>, StorageError> {
        self.db
            .run(move |conn| {
                let Some(user) = live(conn, &who, now)? else {
                    return Ok(None);
                };
                let actor = Actor::own_account(&user.id);
                match revoke_consent(conn, &actor, &user.id, &client_id, now) {
                    Ok(_) => Ok(Some(true)),
                    Err(AdminError::Invalid(_)) => Ok(Some(false)),
                    Err(AdminError::NoSuchUser(_)) => Ok(None),
                    Err(e) => Err(storage(e)),
                }
            })
            .await
    }

    /// Ends every browser session of the user, this one too, and every refresh token.
    pub async fn sign_out_everywhere(
        &self,
        who: SignedIn,
        now: i64,
    ) -> Result<Option<Ended>, StorageError> {
        self.db
            .run(move |conn| {
                let Some(user) = live(conn, &who, now)? else {
                    return Ok(None);
                };
                let actor = Actor::own_account(&user.id);
                match revoke_sessions(conn, &actor, &user.id, now) {
                    Ok(ended) => Ok(Some(ended)),
                    Err(AdminError::NoSuchUser(_)) => Ok(None),
                    Err(e) => Err(storage(e)),
                }
            })
            .await
    }
}
