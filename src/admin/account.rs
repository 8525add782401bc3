//! Account self-service on `/account`: a signed-in user changes their password, turns two-step
//! verification on or off and gets new recovery codes (each change asks for the password again,
//! checked under the login limits as at the login form), sees and revokes the apps they have
//! allowed, and signs out everywhere. Every step first checks that the browser session
//! is still signed in (its `login_sessions` row is there), and each change is logged with
//! the user as its actor (`via account`).

use std::sync::Arc;

use super::{list_consents, PasswordRules};
use super::{revoke_consent, revoke_sessions, users, Actor, AdminError, ConsentView, Ended};
use crate::accounts::login::{LoginContext, LoginService, PasswordOutcome};
use crate::accounts::self_service::{Security, SelfService, SignedIn};
use crate::storage::accounts::User;
use crate::storage::{login_sessions, Database, DbConnection, StorageError};

/// Why the password asked again before a change did not confirm it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotConfirmed {
    /// The password is wrong (or the account may not sign in).
    Wrong,
    /// Too many wrong passwords: wait this many seconds.
    Wait(i64),
    /// The password line is full; try again shortly.
    Busy,
}

/// What a password change came to.
#[derive(Debug)]
pub enum PasswordChange {
    SignedOut,
    /// The new password and its confirmation differ.
    Mismatch,
    /// Refused by the password rules (too short…), with why.
    Refused(String),
    /// The current password did not confirm it is the user.
    NotConfirmed(NotConfirmed),
    Changed(Ended),
}

/// A change to the user's own two-step verification.
#[derive(Debug, Clone)]
pub enum TwoStepChange {
    /// On, with the first code from the authenticator app.
    TurnOn {
        code: String,
    },
    TurnOff,
    RenewRecoveryCodes,
}

/// What a two-step change came to: where it stands now, and whether the password confirmed
/// the change (when it did not, nothing changed).
pub struct TwoStepOutcome {
    pub security: Security,
    pub refused: Option<NotConfirmed>,
}

pub struct AccountService {
    db: Database,
    login: Arc<LoginService>,
    two_step: Arc<SelfService>,
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
    pub fn new(
        db: Database,
        login: Arc<LoginService>,
        two_step: Arc<SelfService>,
        rules: PasswordRules,
    ) -> Self {
        AccountService {
            db,
            login,
            two_step,
            rules,
        }
    }

    /// Checks `user`'s password again before a change, under the login limits.
    async fn reconfirm(
        &self,
        user: &User,
        password: String,
        ip: Option<String>,
        detail: &'static str,
        now: i64,
    ) -> Result<Option<NotConfirmed>, StorageError> {
        let context = LoginContext {
            ip,
            client_id: None,
            detail: Some(detail),
        };
        Ok(
            match self
                .login
                .check_password(&user.username, password, &context, now)
                .await?
            {
                PasswordOutcome::Right { user: checked, .. } if checked.id == user.id => None,
                PasswordOutcome::Right { .. } | PasswordOutcome::Wrong => Some(NotConfirmed::Wrong),
                PasswordOutcome::Wait(secs) => Some(NotConfirmed::Wait(secs)),
                PasswordOutcome::Busy(_) => Some(NotConfirmed::Busy),
            },
        )
    }

    /// Turns two-step verification on or off, or renews the recovery codes, once the password
    /// confirms it is the user.
    pub async fn change_two_step(
        &self,
        who: SignedIn,
        password: String,
        change: TwoStepChange,
        ip: Option<String>,
        now: i64,
    ) -> Result<TwoStepOutcome, StorageError> {
        let probe = who.clone();
        let Some(user) = self.db.run(move |conn| live(conn, &probe, now)).await? else {
            return Ok(TwoStepOutcome {
                security: Security::SignedOut,
                refused: None,
            });
        };
        // Not signed in recently: sign in again first, before any password is checked.
        if !who.recently {
            return Ok(TwoStepOutcome {
                security: Security::Reauthenticate(user),
                refused: None,
            });
        }
        let detail = match change {
            TwoStepChange::TurnOn { .. } => "two-step verification on",
            TwoStepChange::TurnOff => "two-step verification off",
            TwoStepChange::RenewRecoveryCodes => "new recovery codes",
        };
        if let Some(refused) = self
            .reconfirm(&user, password, ip.clone(), detail, now)
            .await?
        {
            return Ok(TwoStepOutcome {
                security: self.two_step.security(who, now).await?,
                refused: Some(refused),
            });
        }
        let security = match change {
            TwoStepChange::TurnOn { code } => {
                self.two_step
                    .confirm_second_factor(who, code, ip, now)
                    .await?
            }
            TwoStepChange::TurnOff => self.two_step.turn_off(who, ip, now).await?,
            TwoStepChange::RenewRecoveryCodes => {
                self.two_step.renew_recovery_codes(who, ip, now).await?
            }
        };
        Ok(TwoStepOutcome {
            security,
            refused: None,
        })
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
        if let Some(refused) = self
            .reconfirm(&user, current, ip, "password change", now)
            .await?
        {
            return Ok(PasswordChange::NotConfirmed(refused));
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
