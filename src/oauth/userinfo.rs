//! The UserInfo endpoint (OpenID Connect Core 1.0 §5.3): the signed-in user's claims, for an
//! access token granted `openid`, as far as the token's scopes release them.
//!
//! The token is checked as introspection checks it (`live_token`), so a revoked token
//! stops working here, not when it expires. An answer is remembered for [`ANSWER_MAX_AGE`], for apps that ask again and
//! again with one token: a revocation on this instance (at `/revoke`, by a reused refresh
//! token or a replayed code) makes it forget at once (`RevokedHere`); one made elsewhere
//! (another instance, or the CLI deleting a user or a client) is seen within that second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use gatehouse_resource::AuthError;
use serde::Serialize;

use super::issuer::Minter;
use super::live_token::{self, Refused};
use super::openid::profile_claims;
use super::revoked_here::RevokedHere;
use super::ScopeSet;
use crate::domain::{Clock, OPENID};
use crate::storage::{accounts, Database};
use crate::tokens::id_token::ProfileClaims;

/// The answer: `sub` and what the scopes release.
#[derive(Debug, Serialize)]
pub struct UserInfo {
    pub sub: String,
    #[serde(flatten)]
    pub claims: ProfileClaims,
}

pub struct UserInfoEndpoint {
    db: Database,
    minter: Arc<Minter>,
    clock: Clock,
    revoked: Arc<RevokedHere>,
    /// Answers by the SHA-256 of their token.
    answers: RwLock<HashMap<[u8; 32], Remembered>>,
}

/// How long an answer is remembered.
pub const ANSWER_MAX_AGE: Duration = Duration::from_secs(1);
/// At most this many tokens' answers are remembered; past it the memory starts over.
const MAX_ANSWERS: usize = 10_000;

struct Remembered {
    at: Instant,
    /// `RevokedHere`'s count when the token was checked.
    epoch: u64,
    /// The token's `exp`.
    exp: i64,
    info: Arc<UserInfo>,
}

impl UserInfoEndpoint {
    pub fn new(db: Database, minter: Arc<Minter>, clock: Clock, revoked: Arc<RevokedHere>) -> Self {
        UserInfoEndpoint {
            db,
            minter,
            clock,
            revoked,
            answers: RwLock::default(),
        }
    }

    /// The claims for `token`; 401 for a token that is not live, 403 without `openid`.
    pub async fn answer(&self, token: String) -> Result<Arc<UserInfo>, AuthError> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = self.clock.now();
        if let Some(info) = self.remembered(&fingerprint, now) {
            return Ok(info);
        }
        // Read before the check: a revocation that races it moves the count past this.
        let epoch = self.revoked.epoch();
        let (info, exp) = self.check(token, now).await?;
        let info = Arc::new(info);
        if let Ok(mut answers) = self.answers.write() {
            if answers.len() >= MAX_ANSWERS {
                answers.clear();
            }
            let remembered = Remembered {
                at: Instant::now(),
                epoch,
                exp,
                info: info.clone(),
            };
            answers.insert(fingerprint, remembered);
        }
        Ok(info)
    }

    fn remembered(&self, fingerprint: &[u8; 32], now: i64) -> Option<Arc<UserInfo>> {
        let answers = self.answers.read().ok()?;
        let r = answers.get(fingerprint)?;
        let fresh =
            r.at.elapsed() < ANSWER_MAX_AGE && r.epoch == self.revoked.epoch() && r.exp > now;
        fresh.then(|| r.info.clone())
    }

    /// The token checked against the database: its claims, and its `exp`.
    async fn check(&self, token: String, now: i64) -> Result<(UserInfo, i64), AuthError> {
        let minter = self.minter.clone();
        self.db
            .run(move |conn| -> Result<_, Refused> {
                let (claims, _) = live_token::check(conn, &minter, &token, now)?;
                let scope = ScopeSet::parse(&claims.scope).unwrap_or_default();
                if !scope.contains(OPENID) {
                    return Err(Refused(AuthError::InsufficientScope(OPENID.into())));
                }
                // A client-credentials token's `sub` is its client: no user, no claims.
                let user = accounts::find_user(conn, &claims.sub)?
                    .filter(|u| u.disabled_at.is_none())
                    .ok_or_else(|| Refused::invalid("the token names no user who may sign in"))?;
                let info = UserInfo {
                    sub: user.id.clone(),
                    claims: profile_claims(user, &scope),
                };
                Ok((info, claims.exp))
            })
            .await
            .map_err(|Refused(e)| e)
    }
}
