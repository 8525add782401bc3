//! RFC 9068 JWT access tokens, signed with jsonwebtoken's aws-lc-rs ES256 signer.

use std::cell::RefCell;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::crypto::JwtSigner;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::{Deserialize, Serialize};

use super::keys::SigningKey;

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
}

#[derive(Debug, thiserror::Error)]
#[error("signing the access token failed: {0}")]
pub struct SigningError(String);

thread_local! {
    // jsonwebtoken's signers are not `Send`; parsing the PKCS#8 key costs more than the
    // signature itself, so each thread keeps the parsed signer for the current key.
    static SIGNER: RefCell<Option<(String, Box<dyn JwtSigner>)>> = const { RefCell::new(None) };
}

/// Signs `claims` with `key`: `header.claims.signature`, all base64url.
pub fn sign(key: &SigningKey, claims: &AccessTokenClaims) -> Result<String, SigningError> {
    let payload = serde_json::to_vec(claims).map_err(|e| SigningError(e.to_string()))?;
    let mut token = String::with_capacity(key.encoded_header.len() + payload.len() * 4 / 3 + 100);
    token.push_str(&key.encoded_header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = SIGNER.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.as_ref().is_none_or(|(kid, _)| *kid != key.kid) {
            let provider = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
            let signer =
                (provider.signer_factory)(&Algorithm::ES256, &EncodingKey::from_ec_der(&key.pkcs8))
                    .map_err(|e| SigningError(e.to_string()))?;
            *cached = Some((key.kid.clone(), signer));
        }
        let (_, signer) = cached.as_ref().expect("just filled");
        signer
            .try_sign(token.as_bytes())
            .map_err(|e| SigningError(e.to_string()))
    })?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}
