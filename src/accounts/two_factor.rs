//! The second factor: enrolling a TOTP authenticator, checking a code (a current TOTP code
//! not used before, or an unused recovery code), and turning it off.
//!
//! The TOTP secret is sealed with the database's sealing keys, bound to the user's id, so a
//! copy of the table alone reveals nothing and a sealed secret cannot be moved to another user.

use serde::Serialize;

use super::totp::TotpSecret;
use crate::domain::secret::{random_id, SecretHash};
use crate::storage::accounts::User;
use crate::storage::{two_factor, DbConnection, StorageError};
use crate::tokens::sealing::{SealingKeys, Unsealed};

pub const RECOVERY_CODES: usize = 10;
/// The issuer authenticator apps show next to the account.
pub const ISSUER_LABEL: &str = "gatehouse";

/// What a user needs to set up an authenticator, shown once.
#[derive(Debug, Serialize)]
pub struct Enrollment {
    /// Base32, for typing into an authenticator by hand.
    pub secret: String,
    pub otpauth_uri: String,
    pub recovery_codes: Vec<String>,
}

fn purpose(user_id: &str) -> String {
    format!("totp {user_id}")
}

/// How long a secret shown on the account page waits for its first code.
const PENDING_SECS: i64 = 600;

/// An administrator's `user totp enable`: a new secret and recovery codes, on at once,
/// replacing any earlier ones.
pub fn enroll(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    user: &User,
    now: i64,
) -> Result<Enrollment, StorageError> {
    let secret = TotpSecret::generate();
    let sealed = keys.seal(&purpose(&user.id), secret.as_bytes());
    let (recovery_codes, hashes) = new_recovery_codes();
    two_factor::replace(conn, &user.id, &sealed, Some(now), &hashes, now)?;
    Ok(Enrollment {
        otpauth_uri: secret.otpauth_uri(ISSUER_LABEL, &user.username),
        secret: secret.base32(),
        recovery_codes,
    })
}

/// The account page: the secret waiting for its first code, or a new one. Nothing is on
/// until `confirm`.
pub fn pending(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    user: &User,
    now: i64,
) -> Result<TotpSecret, StorageError> {
    if let Some(stored) = two_factor::find(conn, &user.id)? {
        if stored.confirmed_at.is_none() && now - stored.created_at < PENDING_SECS {
            return open_secret(conn, keys, &user.id, &stored.secret_sealed, now);
        }
    }
    let secret = TotpSecret::generate();
    let sealed = keys.seal(&purpose(&user.id), secret.as_bytes());
    two_factor::replace(conn, &user.id, &sealed, None, &[], now)?;
    Ok(secret)
}

fn new_recovery_codes() -> (Vec<String>, Vec<SecretHash>) {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| random_id(10)).collect();
    let hashes = codes.iter().map(|c| SecretHash::of(c.as_bytes())).collect();
    (codes, hashes)
}

/// Checks a code at login. Only for a confirmed factor; each code works once.
pub fn check(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, StorageError> {
    let code = without_spaces(code);
    if !two_factor::is_on(conn, user_id)? {
        return Ok(false);
    }
    if code.bytes().all(|b| b.is_ascii_digit()) {
        return check_totp(conn, keys, user_id, &code, now);
    }
    two_factor::use_recovery_code(conn, user_id, &SecretHash::of(code.as_bytes()), now)
}

/// Switches a pending factor on with the user's first good code; answers the recovery codes,
/// to be shown once.
pub fn confirm(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<Option<Vec<String>>, StorageError> {
    let code = without_spaces(code);
    if !(check_totp(conn, keys, user_id, &code, now)? && two_factor::confirm(conn, user_id, now)?) {
        return Ok(None);
    }
    let (codes, hashes) = new_recovery_codes();
    two_factor::replace_recovery_codes(conn, user_id, &hashes, now)?;
    Ok(Some(codes))
}

/// New recovery codes for a factor that is on, the earlier ones void; `None` when it is off.
pub fn renew_recovery_codes(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
) -> Result<Option<Vec<String>>, StorageError> {
    if !two_factor::is_on(conn, user_id)? {
        return Ok(None);
    }
    let (codes, hashes) = new_recovery_codes();
    two_factor::replace_recovery_codes(conn, user_id, &hashes, now)?;
    Ok(Some(codes))
}

fn check_totp(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, StorageError> {
    let Some(stored) = two_factor::find(conn, user_id)? else {
        return Ok(false);
    };
    let secret = open_secret(conn, keys, user_id, &stored.secret_sealed, now)?;
    match secret.matching_step(code, now) {
        // Never a step at or before the last one accepted: a replayed code fails.
        Some(step) if step > stored.last_step.unwrap_or(i64::MIN) => {
            two_factor::use_step(conn, user_id, step)
        }
        _ => Ok(false),
    }
}

fn open_secret(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    user_id: &str,
    sealed: &str,
    now: i64,
) -> Result<TotpSecret, StorageError> {
    let corrupt = || StorageError::Corrupt("a TOTP secret does not open".into());
    match keys.open(&purpose(user_id), sealed) {
        Ok(bytes) => Ok(TotpSecret::from_bytes(bytes)),
        Err(Unsealed::UnknownKey) => {
            // Sealed by an instance whose key this one has not loaded yet.
            keys.reload(conn, now)?;
            keys.open(&purpose(user_id), sealed)
                .map(TotpSecret::from_bytes)
                .map_err(|_| corrupt())
        }
        Err(Unsealed::Invalid) => Err(corrupt()),
    }
}

/// Codes as people type them: "123 456" is "123456".
fn without_spaces(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}
