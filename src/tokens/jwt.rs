//! RFC 9068 JWT access tokens, signed with jsonwebtoken's aws-lc-rs ES256 signer.

use std::cell::RefCell;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse_resource::ecdsa;
use jsonwebtoken::crypto::JwtSigner;
use jsonwebtoken::{Algorithm, EncodingKey};

use super::id_token::IdTokenClaims;
use super::keys::SigningKey;

use gatehouse_resource::claims::is_access_token_typ;
pub use gatehouse_resource::claims::AccessTokenClaims;

#[derive(Debug, thiserror::Error)]
#[error("signing a token failed: {0}")]
pub struct SigningError(String);

thread_local! {
    // jsonwebtoken's signers are not `Send`; parsing the PKCS#8 key costs more than the
    // signature itself, so each thread keeps the parsed signer for the current key.
    static SIGNER: RefCell<Option<(String, Box<dyn JwtSigner>)>> = const { RefCell::new(None) };
}

/// Signs an access token's `claims` with `key`: `header.claims.signature`, all base64url.
pub fn sign(key: &SigningKey, claims: &AccessTokenClaims) -> Result<String, SigningError> {
    sign_jws(key, &key.encoded_header, claims)
}

/// Signs an OpenID Connect id_token with `key`.
pub fn sign_id_token(key: &SigningKey, claims: &IdTokenClaims) -> Result<String, SigningError> {
    sign_jws(key, &key.encoded_id_header, claims)
}

fn sign_jws(
    key: &SigningKey,
    header: &str,
    claims: &impl serde::Serialize,
) -> Result<String, SigningError> {
    let payload = serde_json::to_vec(claims).map_err(|e| SigningError(e.to_string()))?;
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 100);
    token.push_str(header);
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
    let mut signature: [u8; ecdsa::SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|s: Vec<u8>| SigningError(format!("an ES256 signature of {} bytes", s.len())))?;
    // One spelling per token: see `ecdsa`.
    ecdsa::normalize(&mut signature);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// Checks a token the way a resource server would, with gatehouse's own published keys:
/// `typ`, ES256, signature in its low-`s` form (the only one gatehouse signs), `iss`, `aud`,
/// and expiry against `now` (the injectable clock, not the system's). `None` for anything
/// that is not a live token of ours.
pub fn verify(
    token: &str,
    keyring: &super::keys::Keyring,
    conn: &mut crate::storage::DbConnection,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<Option<AccessTokenClaims>, crate::storage::StorageError> {
    use sha2::Digest;
    let fingerprint: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
    if let Some(claims) = keyring.remembered(&fingerprint) {
        return Ok((claims.exp > now).then_some(claims));
    }
    if !ecdsa::jws_has_low_s(token) {
        return Ok(None);
    }
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return Ok(None);
    };
    let Some(kid) = header.kid.as_deref() else {
        return Ok(None);
    };
    if !is_access_token_typ(header.typ.as_deref()) {
        return Ok(None);
    }
    if header.alg != Algorithm::ES256 {
        return Ok(None);
    }
    let Some(key) = keyring.verifying_key(conn, kid, now)? else {
        return Ok(None);
    };
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let claims = match jsonwebtoken::decode::<AccessTokenClaims>(token, &key, &validation) {
        Ok(data) => data.claims,
        Err(_) => return Ok(None),
    };
    keyring.remember(fingerprint, &claims);
    Ok((claims.exp > now).then_some(claims))
}

/// A token that cannot be signed is a server error.
impl From<SigningError> for crate::domain::OAuthError {
    fn from(e: SigningError) -> Self {
        crate::domain::OAuthError::server_error(&e)
    }
}
