//! The login service shared by the login form and the password grant: a password check
//! and a second-factor check, each in the same order of steps.
//!
//! 0. a look at the password line: a full line, or an address with its share taken, is
//!    turned away in memory, before any database work;
//! 1. the attempt reserved against the login limits, in the database, before any check
//!    (a waiting username or address is answered from one read);
//! 2. a place in the password line (a full line answers at once, and the reservation is
//!    handed back); its shares are keyed like the username's counter, so a stranger
//!    keeping checks of alice's in flight does not take the places of alice's known address;
//! 3. the check (bcrypt on the password threads, against a dummy hash for unknown names);
//! 4. the attempt settled: a failure stays counted and is logged; a success is refunded.
//!
//! Completing a login forgets the username's failures, remembers the address as one the
//! user signs in from, and, on the login form, records the new browser session.

use std::sync::Arc;

use diesel::Connection;

use super::login_attempts::{LoginKeys, LoginLimits};
use super::password::{Busy, PasswordChecker};
use super::two_factor;
use crate::domain::secret::SecretHash;
use crate::domain::Amr;
use crate::storage::accounts::{self, User};
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::{login_sessions, Database, DbConnection, StorageError};
use crate::tokens::sealing::SealingKeys;

/// Who is trying to sign in, and from where.
#[derive(Debug, Clone)]
pub struct LoginContext {
    pub ip: Option<String>,
    /// The client the login is for, if any (for the event log).
    pub client_id: Option<String>,
    /// What the event log says about the path (e.g. "password grant").
    pub detail: Option<&'static str>,
}

impl LoginContext {
    fn event<'a>(&'a self, actor: &'a str) -> Event<'a> {
        Event {
            actor: Some(actor),
            client_id: self.client_id.as_deref(),
            ip: self.ip.as_deref(),
            detail: self.detail,
        }
    }
}

/// What a password check found.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// The right password. Not a complete login yet: see `second_factor` and `complete`.
    Right {
        user: User,
        keys: LoginKeys,
        second_factor: bool,
    },
    /// Unknown user or wrong password: one answer for both.
    Wrong,
    /// The address or the username must wait this many seconds; nothing was checked.
    Wait(i64),
    /// No place in the password line; nothing was checked.
    Busy(Busy),
}

/// The browser session a login on the form starts: its `login_sessions` row.
#[derive(Debug, Clone)]
pub struct NewLoginSession {
    pub sid: String,
    pub expires_at: i64,
}

/// What a second-factor check found.
#[derive(Debug)]
pub enum CodeOutcome {
    /// The right code: the login is complete.
    Right,
    Wrong,
    Wait(i64),
    /// The password was changed (or the user disabled) since it was checked: nothing was
    /// checked, the login starts over.
    StartOver,
}

/// What the browser keeps, sealed, of the password a user gave before their second factor:
/// enough to tell that it still stands, nothing that helps guess it.
pub fn password_fingerprint(user: &User) -> String {
    use base64::Engine;
    let hash = SecretHash::of(user.password_hash.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..16])
}

pub struct LoginService {
    db: Database,
    passwords: PasswordChecker,
    limits: LoginLimits,
    sealing: Arc<SealingKeys>,
}

impl LoginService {
    /// Password checks admitted and waiting or running now (`/metrics`).
    pub fn password_queue_depth(&self) -> usize {
        self.passwords.queued()
    }

    pub fn new(
        db: Database,
        passwords: PasswordChecker,
        limits: LoginLimits,
        sealing: Arc<SealingKeys>,
    ) -> Self {
        LoginService {
            db,
            passwords,
            limits,
            sealing,
        }
    }

    /// Checks `username`'s password.
    pub async fn check_password(
        &self,
        username: &str,
        password: String,
        context: &LoginContext,
        now: i64,
    ) -> Result<PasswordOutcome, StorageError> {
        if let Err(busy) = self.passwords.has_room(context.ip.as_deref()) {
            return Ok(PasswordOutcome::Busy(busy));
        }
        let (limits, name, ip) = (self.limits, username.to_owned(), context.ip.clone());
        let reserved = self
            .db
            .run(move |conn| -> Result<_, StorageError> {
                let user = accounts::find_user_by_name(conn, &name)?;
                let user_id = user.as_ref().map(|u| u.id.as_str());
                let keys = LoginKeys::new(conn, &limits, &name, user_id, ip.as_deref(), now)?;
                Ok(keys
                    .reserve(conn, &limits, now)?
                    .map(|attempt| (attempt, user)))
            })
            .await?;
        let (attempt, user) = match reserved {
            Ok(reserved) => reserved,
            Err(wait) => return Ok(PasswordOutcome::Wait(wait)),
        };
        let ticket = match self
            .passwords
            .admit(attempt.account_key(), context.ip.as_deref())
        {
            Ok(ticket) => ticket,
            Err(busy) => {
                // Nothing was checked: the attempt is handed back.
                self.db
                    .run(move |conn| attempt.refund(conn, &limits))
                    .await?;
                return Ok(PasswordOutcome::Busy(busy));
            }
        };
        // Unknown user and wrong password: the same answer after the same bcrypt work.
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let verified = self.passwords.verify(ticket, password, hash).await;
        let (context, typed) = (context.clone(), username.to_owned());
        self.db
            .run(move |conn| match user.filter(|_| verified) {
                None => {
                    let event = context.event(&typed);
                    attempt.failed(conn, EventKind::LoginFailed, &event, now)?;
                    Ok(PasswordOutcome::Wrong)
                }
                // A disabled user's right password gets the answer a wrong one gets: the
                // form must not tell a guesser that the password was right.
                Some(user) if user.disabled_at.is_some() => {
                    let event = Event {
                        detail: Some("the account is disabled"),
                        ..context.event(&user.id)
                    };
                    attempt.failed(conn, EventKind::LoginFailed, &event, now)?;
                    Ok(PasswordOutcome::Wrong)
                }
                Some(user) => {
                    let second_factor = crate::storage::two_factor::is_on(conn, &user.id)?;
                    let keys = attempt.refund(conn, &limits)?;
                    Ok(PasswordOutcome::Right {
                        user,
                        keys,
                        second_factor,
                    })
                }
            })
            .await
    }

    /// Completes a login on the form whose password was right and that owes no second
    /// factor, starting `session`.
    /// Answers false, starting nothing, when the password was changed or the user disabled
    /// while it was checked.
    pub async fn sign_in(
        &self,
        keys: LoginKeys,
        user: User,
        context: LoginContext,
        session: NewLoginSession,
        now: i64,
    ) -> Result<bool, StorageError> {
        self.db
            .run(move |conn| {
                let session = (&session, Amr::Password);
                complete_session(conn, &keys, &user, &context, session, now)
            })
            .await
    }

    /// Checks the second factor of `user_id`, whose password was right, and on the right
    /// code completes the login, starting `session`.
    pub async fn second_factor(
        &self,
        user_id: String,
        password: Option<String>,
        code: String,
        context: LoginContext,
        session: NewLoginSession,
        now: i64,
    ) -> Result<CodeOutcome, StorageError> {
        let (limits, sealing) = (self.limits, self.sealing.clone());
        self.db
            .run(move |conn| {
                let user = accounts::find_user(conn, &user_id)?;
                // Disabled between the password and the code: no login.
                let Some(user) = user.filter(|u| u.disabled_at.is_none()) else {
                    return Ok(CodeOutcome::StartOver);
                };
                // The password given is no longer the password: no code is worth checking.
                if password.as_deref() != Some(password_fingerprint(&user).as_str()) {
                    return Ok(CodeOutcome::StartOver);
                }
                let keys = LoginKeys::for_code(&user.id, context.ip.as_deref());
                let attempt = match keys.reserve(conn, &limits, now)? {
                    Ok(attempt) => attempt,
                    Err(wait) => return Ok(CodeOutcome::Wait(wait)),
                };
                if two_factor::check(conn, &sealing, &user.id, &code, now)? {
                    let keys = attempt.refund(conn, &limits)?;
                    let session = (&session, Amr::PasswordAndOtp);
                    if !complete_session(conn, &keys, &user, &context, session, now)? {
                        return Ok(CodeOutcome::StartOver);
                    }
                    return Ok(CodeOutcome::Right);
                }
                attempt.failed(conn, EventKind::TotpFailed, &context.event(&user.id), now)?;
                Ok(CodeOutcome::Wrong)
            })
            .await
    }

    /// Completes a password grant's login, on the blocking pool (no browser session), in the
    /// caller's transaction, which must roll back on `false`: the password was changed or the
    /// user disabled while it was checked. The login's writes come first, so on SQLite the
    /// transaction holds the write lock before the check reads.
    pub fn complete_grant(
        &self,
        conn: &mut DbConnection,
        keys: &LoginKeys,
        user: &User,
        context: &LoginContext,
        now: i64,
    ) -> Result<bool, StorageError> {
        complete(conn, keys, &user.id, context, now)?;
        accounts::may_still_sign_in(conn, &user.id, &user.password_hash)
    }
}

/// The last step of every login: the username's failures are forgotten, the address
/// remembered, the login logged.
fn complete(
    conn: &mut DbConnection,
    keys: &LoginKeys,
    user_id: &str,
    context: &LoginContext,
    now: i64,
) -> Result<(), StorageError> {
    keys.logged_in(conn, user_id, context.ip.as_deref(), now)?;
    security_events::record(
        conn,
        EventKind::LoginSucceeded,
        &context.event(user_id),
        now,
    )
}

/// A browser's login, completed: its session starts only while the password the login
/// checked is still the user's (a reset or a disable committed since starts nothing), in one
/// transaction with the rest of [`complete`]. On PostgreSQL it first shares the hold on the
/// user's row that every end of access takes exclusively (`accounts::hold`), so a session
/// started while an end is in flight is either refused or seen and ended by it. `false` when
/// nothing started.
fn complete_session(
    conn: &mut DbConnection,
    keys: &LoginKeys,
    user: &User,
    context: &LoginContext,
    (session, amr): (&NewLoginSession, Amr),
    now: i64,
) -> Result<bool, StorageError> {
    conn.transaction(|conn| {
        accounts::hold(conn, &user.id, accounts::Hold::Shared)?;
        let (sid, expires_at) = (&session.sid, session.expires_at);
        let started = login_sessions::start_while_password_stands(
            conn,
            sid,
            &user.id,
            &user.password_hash,
            amr,
            now,
            expires_at,
        )?;
        if started {
            complete(conn, keys, &user.id, context, now)?;
            tracing::info!(user_id = %user.id, "user logged in");
        }
        Ok(started)
    })
}
