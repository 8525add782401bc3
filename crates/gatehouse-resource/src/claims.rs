//! The access-token claims (RFC 9068 §2.2) and the `typ` rule (§4), written once for the
//! server that mints and introspects tokens and for the APIs that check them.

use serde::{Deserialize, Serialize};

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The user's id, or the client id for client credentials.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// The refresh-token family (session) the token belongs to, so introspection can tell
    /// a revoked session with one indexed lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The user's roles when the token was issued, for APIs that decide by role as well as
    /// by scope. Absent for client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// Whether a JOSE header's `typ` marks an access token: `at+jwt`, or its full media type
/// `application/at+jwt`. RFC 9068 §4 has verifiers check it, and media types compare
/// without regard to case (RFC 2045 §5.1), so `AT+JWT` is one too.
pub fn is_access_token_typ(typ: Option<&str>) -> bool {
    typ.is_some_and(|typ| {
        typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
    })
}

#[cfg(test)]
mod tests {
    use super::is_access_token_typ;

    #[test]
    fn typ_is_at_jwt_in_either_spelling_and_any_case() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            assert!(is_access_token_typ(Some(typ)), "{typ}");
        }
        for typ in [
            None,
            Some(""),
            Some("JWT"),
            Some("at+jwt "),
            Some("application/jwt"),
        ] {
            assert!(!is_access_token_typ(typ), "{typ:?}");
        }
    }
}
