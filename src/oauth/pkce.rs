//! PKCE (RFC 7636) through oxide-auth's `Pkce` extension: S256 only (no `plain`), required
//! for every client unless configured otherwise for confidential ones, and once a challenge
//! is sent the verifier must follow.

use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::code_grant::{accesstoken, authorization};
use oxide_auth::primitives::grant::{Extensions, Value};

use super::registrar::DbRegistrar;
use super::{ErrorCode, OAuthError};
use crate::storage::clients::Client;

/// Which clients must send a code challenge (`tokens.pkce_required_for_confidential_clients`).
///
/// RFC 9700 §2.1.1 and OAuth 2.1 require PKCE of every client: it also stops a stolen code
/// from being used by an attacker who has the client's secret or can inject the code into
/// the real client. Public clients have no secret at all, so for them it is never relaxed.
#[derive(Debug, Clone, Copy)]
pub struct PkcePolicy {
    pub required_for_confidential_clients: bool,
}

impl Default for PkcePolicy {
    fn default() -> Self {
        PkcePolicy {
            required_for_confidential_clients: true,
        }
    }
}

impl PkcePolicy {
    pub fn requires_challenge(&self, client: &Client) -> bool {
        client.is_public() || self.required_for_confidential_clients
    }
}

/// The authorization side: checks and records the challenge.
#[derive(Default)]
pub struct PkceChallenge {
    /// Set by the endpoint once it knows the client (`PkcePolicy::requires_challenge`).
    pub required: bool,
    failure: Option<&'static str>,
    /// The challenge as a code stores it, once accepted.
    recorded: Option<String>,
}

impl PkceChallenge {
    /// Why the challenge was refused: the `error_description` of the `invalid_request`.
    pub fn take_failure(&mut self) -> Option<&'static str> {
        self.failure.take()
    }

    /// The accepted challenge, encoded with its method as the code stores it.
    pub fn take_recorded(&mut self) -> Option<String> {
        self.recorded.take()
    }

    fn fail(&mut self, why: &'static str) -> Result<Extensions, ()> {
        self.failure = Some(why);
        Err(())
    }
}

impl authorization::Extension for PkceChallenge {
    fn extend(&mut self, request: &dyn authorization::Request) -> Result<Extensions, ()> {
        let method = request.extension("code_challenge_method");
        let challenge = request.extension("code_challenge");
        match (method.as_deref(), challenge.as_deref()) {
            // RFC 7636 §4.4.1: a required challenge that is missing is `invalid_request`.
            (None, None) if self.required => {
                return self
                    .fail("code_challenge is required: send PKCE with code_challenge_method=S256")
            }
            (Some("S256"), Some(c)) if !is_s256_challenge(c) => {
                return self.fail("code_challenge must be 43 base64url characters (S256)")
            }
            (Some("S256"), Some(_)) | (None, None) => {}
            (Some("S256"), None) => {
                return self.fail("code_challenge_method without code_challenge")
            }
            // RFC 7636 §4.3: without a method the challenge is `plain`, which is not supported.
            (None, Some(_)) | (Some(_), _) => {
                return self.fail("only code_challenge_method=S256 is supported")
            }
        }
        let pkce = if self.required {
            Pkce::required()
        } else {
            Pkce::optional()
        };
        let mut extensions = Extensions::new();
        match pkce.challenge(method, challenge) {
            Ok(Some(encoded)) => {
                self.recorded = encoded.clone().into_private_value().ok().flatten();
                extensions.set(&pkce, encoded)
            }
            Ok(None) => {}
            Err(()) => return self.fail("invalid PKCE parameters"),
        }
        Ok(extensions)
    }
}

/// The token side: checks the verifier against the challenge stored with the code.
pub struct PkceVerifier<'a> {
    registrar: &'a DbRegistrar<'a>,
    failure: Option<OAuthError>,
}

impl<'a> PkceVerifier<'a> {
    pub fn new(registrar: &'a DbRegistrar<'a>) -> Self {
        PkceVerifier {
            registrar,
            failure: None,
        }
    }

    pub fn take_failure(&mut self) -> Option<OAuthError> {
        self.failure.take()
    }

    fn fail(&mut self, code: ErrorCode, why: &'static str) -> Result<Extensions, ()> {
        self.failure = Some(OAuthError::new(code, why));
        Err(())
    }
}

impl accesstoken::Extension for PkceVerifier<'_> {
    fn extend(
        &mut self,
        request: &dyn accesstoken::Request,
        mut data: Extensions,
    ) -> Result<Extensions, ()> {
        let public = self.registrar.client().is_some_and(|c| c.is_public());
        let pkce = if public {
            Pkce::required()
        } else {
            Pkce::optional()
        };
        let challenge: Option<Value> = data.remove(&pkce);
        let verifier = request.extension("code_verifier");
        if verifier.as_deref().is_some_and(|v| !is_verifier(v)) {
            return self.fail(
                ErrorCode::InvalidRequest,
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
            );
        }
        match (&challenge, &verifier) {
            // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is refused,
            // or PKCE could be downgraded.
            (None, Some(_)) => {
                return self.fail(
                    ErrorCode::InvalidGrant,
                    "code_verifier sent for a code issued without code_challenge",
                )
            }
            (Some(_), None) => {
                return self.fail(ErrorCode::InvalidGrant, "code_verifier is required")
            }
            _ => {}
        }
        if pkce.verify(challenge, verifier).is_err() {
            return self.fail(
                ErrorCode::InvalidGrant,
                "code_verifier does not match the code_challenge",
            );
        }
        Ok(Extensions::new())
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(is_unreserved)
}

/// BASE64URL(SHA-256(verifier)) without padding is always 43 characters.
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
