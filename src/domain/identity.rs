//! What an OpenID Connect id_token says about a login (Core 1.0 §2): when it happened, how,
//! in which browser session, and the nonce of the request it answers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::SecretHash;

/// How a user signed in, as `amr` values (RFC 8176 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amr {
    /// A password alone.
    Password,
    /// A password, then a one-time code (TOTP or a recovery code).
    PasswordAndOtp,
}

impl Amr {
    /// The stored form: the values separated by spaces.
    pub fn as_stored(self) -> &'static str {
        match self {
            Amr::Password => "pwd",
            Amr::PasswordAndOtp => "pwd otp",
        }
    }

    /// A stored form read back; anything else is read as a password login, the weakest.
    pub fn from_stored(stored: &str) -> Self {
        if stored == Amr::PasswordAndOtp.as_stored() {
            Amr::PasswordAndOtp
        } else {
            Amr::Password
        }
    }

    pub fn values(self) -> Vec<String> {
        self.as_stored().split(' ').map(str::to_owned).collect()
    }
}

/// A login as an id_token describes it. Kept with an authorization code granted `openid`
/// (with the request's nonce), and with the refresh family that code starts (without).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// When the user signed in: the browser session's start (`auth_time`).
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// The browser session, as [`public_sid`] names it (`sid`).
    pub sid: String,
    /// Exactly as the authorization request sent it; never kept past the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl Authentication {
    /// The same login without its nonce: what a refresh family keeps, since the id_token
    /// of a refresh carries none (Core 1.0 §12.2).
    pub fn without_nonce(&self) -> Self {
        Authentication {
            nonce: None,
            ..self.clone()
        }
    }
}

/// The `sid` claim of a browser session: a digest of its id, so the value relying parties
/// see and log cannot be used to name the session to gatehouse.
pub fn public_sid(session_id: &str) -> String {
    let digest = SecretHash::of(format!("gatehouse sid {session_id}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_round_trips_through_its_stored_form() {
        for amr in [Amr::Password, Amr::PasswordAndOtp] {
            assert_eq!(Amr::from_stored(amr.as_stored()), amr);
        }
        assert_eq!(Amr::PasswordAndOtp.values(), ["pwd", "otp"]);
    }

    #[test]
    fn the_public_sid_is_stable_and_hides_the_session_id() {
        assert_eq!(public_sid("a"), public_sid("a"));
        assert_ne!(public_sid("a"), public_sid("b"));
        assert!(!public_sid("session-a").contains("session-a"));
    }
}
