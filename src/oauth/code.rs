//! The authorization code (RFC 6749 §4.1.2): a sealed value, as the pending authorization is,
//! so `/authorize` and `POST /consent` issue one without writing anything.
//!
//! It is sealed with the sealing keys (AES-256-GCM under keys that the key-encryption key
//! wraps, so a copy of the database forges and opens nothing), with its own purpose, so no
//! other sealed value (a session cookie, a pending authorization) opens as a code. It carries
//! everything the exchange needs: the grant (client, redirect URI, scope, PKCE challenge,
//! user and roles), the login for the id_token, its expiry, and what makes it live: the
//! pending authorization it answered (its one use: `storage::spent_codes`), the browser
//! session it was issued in and the identity of the consent it was issued under.
//!
//! The field names are one letter: the code travels in a redirect URL.

use serde::{Deserialize, Serialize};

use super::pending::PENDING_TTL_SECS;
use crate::domain::identity::{public_sid, Amr};
use crate::domain::Authentication;
use crate::storage::spent_codes::Presented;
use crate::tokens::sealing::{SealingKeys, Unsealed};

/// The sealing purpose, bound in as associated data.
const PURPOSE: &str = "authorization code";

/// What an authorization code stands for. Its `Debug` leaves out the browser session's id
/// (the cookie's secret) and the nonce.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    /// The pending authorization it answers: every code of one request buys one exchange.
    #[serde(rename = "r")]
    pub request_id: String,
    #[serde(rename = "c")]
    pub client_id: String,
    /// Exactly as the authorization request named it; the exchange must name it again.
    #[serde(rename = "u")]
    pub redirect_uri: String,
    /// What was granted: requested, within the client's registration and the user's roles.
    #[serde(rename = "s")]
    pub scope: String,
    /// oxide-auth's encoding of the PKCE challenge and its method, when one was sent.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<String>,
    #[serde(rename = "o")]
    pub user_id: String,
    /// The user's role names, for the access token.
    #[serde(rename = "l")]
    pub roles: Vec<String>,
    /// The browser session the code was issued in: ended, the code is worthless.
    #[serde(rename = "b")]
    pub login_session: String,
    /// The identity of the consent it was issued under (`storage::consents`).
    #[serde(rename = "g")]
    pub consent_grant: String,
    /// With `openid` granted: the login, for the id_token.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub login: Option<Login>,
    #[serde(rename = "i")]
    pub issued_at: i64,
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// The login an id_token describes (`domain::Authentication`), without its `sid`, which
/// is derived from the session's id the code carries anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    #[serde(rename = "t")]
    pub auth_time: i64,
    /// `amr` in its stored form (`pwd`, `pwd otp`).
    #[serde(rename = "m")]
    pub amr: String,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("request_id", &self.request_id)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("user_id", &self.user_id)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a presented code does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotACode {
    /// Sealed under a key this instance has not loaded (another instance may just have made it).
    UnknownKey,
    /// Not made here: forged, tampered with, or sealed for something else.
    Invalid,
}

impl AuthorizationCode {
    pub fn seal(&self, keys: &SealingKeys) -> String {
        let plain = serde_json::to_vec(self).expect("an authorization code serializes");
        keys.seal(PURPOSE, &plain)
    }

    /// Opens a presented code. Whose it is and whether it expired are the caller's to judge.
    pub fn open(keys: &SealingKeys, sealed: &str) -> Result<Self, NotACode> {
        let plain = keys.open(PURPOSE, sealed).map_err(|e| match e {
            Unsealed::UnknownKey => NotACode::UnknownKey,
            Unsealed::Invalid => NotACode::Invalid,
        })?;
        serde_json::from_slice(&plain).map_err(|_| NotACode::Invalid)
    }

    /// The login for the id_token, when `openid` was granted.
    pub fn authentication(&self) -> Option<Authentication> {
        self.login.as_ref().map(|login| Authentication {
            auth_time: login.auth_time,
            amr: Amr::from_stored(&login.amr).values(),
            sid: public_sid(&self.login_session),
            nonce: login.nonce.clone(),
        })
    }

    /// The code as the exchange spends it. Its row is kept until no code of the same request
    /// can be presented any more: such a code is issued before the request expires, and the
    /// request began before this code was issued, so at most [`PENDING_TTL_SECS`] after it.
    pub fn presented(&self) -> Presented<'_> {
        Presented {
            request_id: &self.request_id,
            client_id: &self.client_id,
            user_id: &self.user_id,
            login_session: &self.login_session,
            consent_grant: &self.consent_grant,
            keep_until: self.expires_at + PENDING_TTL_SECS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> AuthorizationCode {
        AuthorizationCode {
            request_id: crate::domain::secret::random_id(16),
            client_id: crate::domain::secret::random_id(16),
            redirect_uri: "https://app.example/callback".into(),
            scope: "books:read openid".into(),
            pkce: Some(format!("S256:{}", "x".repeat(43))),
            user_id: crate::domain::secret::random_id(16),
            roles: vec!["reader".into()],
            login_session: crate::domain::secret::random_id(32),
            consent_grant: crate::domain::secret::random_id(16),
            login: Some(Login {
                auth_time: 1_000,
                amr: "pwd otp".into(),
                nonce: Some("n-0S6_WzA2Mj".into()),
            }),
            issued_at: 1_000,
            expires_at: 1_060,
        }
    }

    #[test]
    fn opens_what_was_sealed_and_nothing_tampered_with() {
        let keys = SealingKeys::with_secret(7);
        let code = code();
        let sealed = code.seal(&keys);
        assert_eq!(AuthorizationCode::open(&keys, &sealed), Ok(code.clone()));
        let other = SealingKeys::with_secret(8);
        assert_eq!(
            AuthorizationCode::open(&other, &sealed),
            Err(NotACode::Invalid)
        );
        let mut flipped = sealed.clone().into_bytes();
        let at = flipped.len() / 2;
        flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            AuthorizationCode::open(&keys, std::str::from_utf8(&flipped).unwrap()),
            Err(NotACode::Invalid)
        );
        assert_eq!(
            AuthorizationCode::open(&keys, &sealed.replacen("k.", "z.", 1)),
            Err(NotACode::UnknownKey)
        );
    }

    #[test]
    fn no_other_sealed_value_opens_as_a_code() {
        let keys = SealingKeys::with_secret(7);
        let plain = serde_json::to_vec(&code()).unwrap();
        for purpose in ["pending authorization", "gatehouse_session", "totp secret"] {
            let sealed = keys.seal(purpose, &plain);
            assert_eq!(
                AuthorizationCode::open(&keys, &sealed),
                Err(NotACode::Invalid)
            );
        }
    }

    #[test]
    fn a_code_is_short_enough_for_a_redirect_url() {
        let sealed = code().seal(&SealingKeys::with_secret(7));
        assert!(sealed.len() < 700, "{} characters", sealed.len());
        assert!(sealed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    }

    #[test]
    fn the_login_comes_back_with_the_sessions_public_sid() {
        let code = code();
        let login = code.authentication().unwrap();
        assert_eq!(login.sid, public_sid(&code.login_session));
        assert_eq!(login.amr, vec!["pwd", "otp"]);
        assert_eq!(login.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert!(!format!("{code:?}").contains(&code.login_session));
    }
}
