//! The pending authorization: an authorization request that `/authorize` has validated once,
//! carried through login, second factor and consent as a sealed value instead of being
//! checked again at every step.
//!
//! It is sealed with the sealing keys (AES-256-GCM, its own purpose, so a session cookie never
//! opens as one), names the browser session it belongs to, and expires. A copy taken from a
//! page or a URL is useless without that session's cookie, and each one buys at most one
//! exchange: its `id` goes into every code it issues (`oauth::code`), and the exchange spends
//! it (`storage::spent_codes`, primary key).

use serde::{Deserialize, Serialize};

use crate::domain::secret::random_id;
use crate::domain::ScopeSet;
use crate::tokens::sealing::{SealingKeys, Unsealed};

/// The sealing purpose, bound in as associated data.
const PURPOSE: &str = "pending authorization";
/// How long a user has from `/authorize` to the answer on the consent page.
pub const PENDING_TTL_SECS: i64 = 600;

/// An authorization request as `/authorize` validated it (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Validated {
    pub client_id: String,
    pub client_name: String,
    /// Exactly as registered and as the request named it.
    pub redirect_uri: String,
    /// Within the client's registration; narrowed to the user's roles once a user is known.
    pub scope: String,
    pub state: Option<String>,
    /// The PKCE challenge as stored with the code (oxide-auth's encoding of it and its method).
    pub pkce: Option<String>,
    /// OpenID Connect's `nonce`, exactly as sent, for the id_token (Core 1.0 §3.1.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `prompt`: which pages must be shown, or that none may be.
    #[serde(default)]
    pub prompt: PromptRules,
    /// `max_age`: the oldest login, in seconds, that the client accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// `login_hint`: the username to pre-fill on the login page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
}

/// OpenID Connect's `prompt` values (Core 1.0 §3.1.2.1); `select_account` is `login`, as
/// gatehouse keeps one account per browser.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PromptRules {
    /// `none`: answer without any page, or with an error.
    #[serde(default)]
    pub none: bool,
    /// `login` (or `select_account`): a new login, even with a session.
    #[serde(default)]
    pub login: bool,
    /// `consent`: the consent page, even when consent is remembered.
    #[serde(default)]
    pub consent: bool,
}

/// A validated request, bound to one browser session until it expires.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// One use: named by the codes this request issues, spent by their one exchange.
    pub id: String,
    /// The browser session it belongs to; rebound when logging in starts a new one.
    pub sid: String,
    pub exp: i64,
    pub request: Validated,
    /// With `prompt=login`: the session the request found at `/authorize`, which it does not
    /// accept; the login the user is asked for starts another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_sid: Option<String>,
}

/// Why a sealed authorization is not acted on. One answer for all: which check failed is of
/// no use to the user and of some use to someone probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPending {
    /// Sealed under a key this instance has not loaded (another instance may just have made it).
    UnknownKey,
    /// Tampered with, sealed for something else, for another session, or expired.
    Invalid,
}

impl PendingAuthorization {
    pub fn new(request: Validated, sid: &str, now: i64) -> Self {
        PendingAuthorization {
            id: random_id(16),
            sid: sid.to_owned(),
            exp: now + PENDING_TTL_SECS,
            stale_sid: request.prompt.login.then(|| sid.to_owned()),
            request,
        }
    }

    /// Whether the login of session `sid`, made at `auth_time`, is one this request accepts:
    /// not the session `prompt=login` refused, and not older than `max_age`, unless it was
    /// made after the request began (a login it asked for: the time the user then spends on
    /// the consent page, or a slow redirect, must not send them round again).
    pub fn accepts_login(&self, sid: &str, auth_time: i64, now: i64) -> bool {
        let begun_at = self.exp - PENDING_TTL_SECS;
        let recent = |max: i64| now - auth_time <= max;
        self.stale_sid.as_deref() != Some(sid)
            && (auth_time >= begun_at || self.request.max_age.is_none_or(recent))
    }

    /// The scope to grant, as validated when it was sealed.
    pub fn scope(&self) -> ScopeSet {
        ScopeSet::parse(&self.request.scope).unwrap_or_default()
    }

    /// The same request for the session that logging in started.
    pub fn rebound(mut self, sid: &str) -> Self {
        sid.clone_into(&mut self.sid);
        self
    }

    pub fn seal(&self, keys: &SealingKeys) -> String {
        let plain = serde_json::to_vec(self).expect("a pending authorization serializes");
        keys.seal(PURPOSE, &plain)
    }

    /// Opens `sealed` for the session `sid` at `now`.
    pub fn open(keys: &SealingKeys, sealed: &str, sid: &str, now: i64) -> Result<Self, NotPending> {
        let plain = keys.open(PURPOSE, sealed).map_err(|e| match e {
            Unsealed::UnknownKey => NotPending::UnknownKey,
            _ => NotPending::Invalid,
        })?;
        let pending: PendingAuthorization =
            serde_json::from_slice(&plain).map_err(|_| NotPending::Invalid)?;
        let ours = bool::from(subtle::ConstantTimeEq::ct_eq(
            pending.sid.as_bytes(),
            sid.as_bytes(),
        ));
        if !ours || pending.exp <= now {
            return Err(NotPending::Invalid);
        }
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(now: i64) -> PendingAuthorization {
        let request = Validated {
            client_id: "app".into(),
            client_name: "App".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: "books:read".into(),
            state: Some("xyz".into()),
            pkce: None,
            nonce: None,
            prompt: PromptRules::default(),
            max_age: None,
            login_hint: None,
        };
        PendingAuthorization::new(request, "session-a", now)
    }

    #[test]
    fn opens_only_for_its_session_until_it_expires() {
        let keys = SealingKeys::with_secret(7);
        let p = pending(1_000);
        let sealed = p.seal(&keys);
        assert_eq!(
            PendingAuthorization::open(&keys, &sealed, "session-a", 1_001),
            Ok(p.clone())
        );
        assert_eq!(
            PendingAuthorization::open(&keys, &sealed, "session-b", 1_001),
            Err(NotPending::Invalid)
        );
        assert_eq!(
            PendingAuthorization::open(&keys, &sealed, "session-a", 1_000 + PENDING_TTL_SECS),
            Err(NotPending::Invalid)
        );
        let moved = p.rebound("session-b").seal(&keys);
        assert!(PendingAuthorization::open(&keys, &moved, "session-b", 1_001).is_ok());
        assert_eq!(
            PendingAuthorization::open(&keys, &moved, "session-a", 1_001),
            Err(NotPending::Invalid)
        );
    }

    #[test]
    fn a_session_cookie_does_not_open_as_a_pending_authorization() {
        let keys = SealingKeys::with_secret(7);
        let cookie = keys.seal(
            "gatehouse_session",
            &serde_json::to_vec(&pending(1)).unwrap(),
        );
        assert_eq!(
            PendingAuthorization::open(&keys, &cookie, "session-a", 2),
            Err(NotPending::Invalid)
        );
    }
}
