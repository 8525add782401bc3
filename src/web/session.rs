//! The browser session: a sealed cookie (`sealing_keys`) holding a session id, the logged-in
//! user if any, and the CSRF token every form must echo.
//!
//! A visitor gets an anonymous session (id and CSRF token only) with the first page, so even
//! the login form is CSRF-protected. Logging in replaces it with a new id (no session
//! fixation) recorded in `login_sessions`; logging out deletes that row, so a copied cookie
//! dies with it.

use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::accounts::self_service::SignedIn;
use crate::domain::secret::random_id;
use crate::domain::Clock;
use crate::oauth::authorization_service::Visitor;
use crate::storage::{login_sessions, Database, StorageError};
use crate::tokens::sealing::{SealingKeys, Unsealed};

pub const COOKIE_NAME: &str = "gatehouse_session";
/// How long after signing in account-security changes need no new sign-in.
pub const REAUTHENTICATE_AFTER_SECS: i64 = 300;
/// How long the second-factor page waits after the password.
const SECOND_FACTOR_SECS: i64 = 300;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// For a logged-in session, the `login_sessions` row.
    pub sid: String,
    /// The user, once logged in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// A user who gave the right password and still owes the second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// The fingerprint of the password hash that `pending` gave: a code is only taken while
    /// that password still stands (an admin's reset in between ends the login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_password: Option<String>,
    pub csrf: String,
    pub exp: i64,
    /// When the user last gave their password (and second factor); 0 when not logged in,
    /// and in cookies made before this field existed.
    #[serde(default)]
    pub auth_time: i64,
}

impl Session {
    /// Who the authorization service is dealing with.
    pub fn visitor(&self) -> Visitor {
        Visitor {
            sid: self.sid.clone(),
            uid: self.uid.clone(),
            owes_second_factor: self.pending.is_some(),
        }
    }

    /// Whether a form's `csrf_token` is this session's, compared in constant time.
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.csrf.as_bytes())))
    }

    /// Whether the user signed in within the last [`REAUTHENTICATE_AFTER_SECS`]: changes to
    /// account security ask for the password again after that, so a stolen or forgotten
    /// session cookie alone cannot turn on a second factor (or change anything else there).
    pub fn recently_authenticated(&self, now: i64) -> bool {
        self.uid.is_some() && now - self.auth_time <= REAUTHENTICATE_AFTER_SECS
    }

    /// Who the account pages and the console talk to, if anyone is signed in.
    pub fn signed_in(&self, now: i64) -> Option<SignedIn> {
        Some(SignedIn {
            sid: self.sid.clone(),
            user_id: self.uid.clone()?,
            recently: self.recently_authenticated(now),
        })
    }
}

/// Seals and opens session cookies; one per server, shared by every request.
pub struct BrowserSessions {
    keys: Arc<SealingKeys>,
    ttl: i64,
    secure: bool,
    /// Where to look for a sealing key another instance just made.
    db: Database,
    clock: Clock,
}

impl BrowserSessions {
    /// `secure` marks cookies Secure: the issuer is https.
    pub fn new(keys: Arc<SealingKeys>, ttl: i64, secure: bool, db: Database, clock: Clock) -> Self {
        BrowserSessions {
            keys,
            ttl,
            secure,
            db,
            clock,
        }
    }

    /// The time every expiry of the browser flow is judged by.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A fresh session with no user.
    pub fn anonymous(&self, now: i64) -> Session {
        Session {
            sid: random_id(16),
            uid: None,
            pending: None,
            pending_password: None,
            csrf: random_id(16),
            exp: now + self.ttl,
            auth_time: 0,
        }
    }

    /// A fresh session for a user who gave the right password and must now give the second
    /// factor, within a few minutes.
    pub fn awaiting_second_factor(
        &self,
        user_id: &str,
        password_fingerprint: String,
        now: i64,
    ) -> Session {
        Session {
            pending: Some(user_id.to_owned()),
            pending_password: Some(password_fingerprint),
            exp: now + SECOND_FACTOR_SECS.min(self.ttl),
            ..self.anonymous(now)
        }
    }

    /// A fresh session for a user who just logged in: new id, new CSRF token.
    pub fn logged_in(&self, user_id: &str, now: i64) -> Session {
        Session {
            uid: Some(user_id.to_owned()),
            auth_time: now,
            ..self.anonymous(now)
        }
    }

    /// The request's session, if its cookie opens and has not expired.
    pub async fn read(&self, req: &HttpRequest, now: i64) -> Option<Session> {
        let cookie = req.cookie(COOKIE_NAME)?;
        let plain = match self.keys.open(COOKIE_NAME, cookie.value()) {
            Err(Unsealed::UnknownKey) if self.keys.reload_if_due(&self.db, now).await => {
                self.keys.open(COOKIE_NAME, cookie.value()).ok()?
            }
            opened => opened.ok()?,
        };
        let session: Session = serde_json::from_slice(&plain).ok()?;
        (session.exp > now).then_some(session)
    }

    /// The `Set-Cookie` for `session`.
    pub fn cookie(&self, session: &Session, now: i64) -> Cookie<'static> {
        let plain = serde_json::to_vec(session).expect("a session serializes");
        let mut cookie = self.base(self.keys.seal(COOKIE_NAME, &plain));
        cookie.set_max_age(actix_web::cookie::time::Duration::seconds(
            (session.exp - now).max(0),
        ));
        cookie
    }

    /// Signs the session out everywhere its cookie is: its `login_sessions` row goes.
    pub async fn end(&self, sid: String) -> Result<(), StorageError> {
        self.db
            .run(move |conn| login_sessions::end(conn, &sid))
            .await
    }

    /// The `Set-Cookie` that removes the session.
    pub fn removal(&self) -> Cookie<'static> {
        let mut cookie = self.base(String::new());
        cookie.make_removal();
        cookie
    }

    fn base(&self, value: String) -> Cookie<'static> {
        Cookie::build(COOKIE_NAME, value)
            .path("/")
            .http_only(true)
            // Lax: the session comes along when a client's link brings the user to
            // /authorize, but not on cross-site form posts.
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish()
    }
}
