//! oxide-auth's `Authorizer` at the token endpoint, for sealed codes (`oauth::code`).
//!
//! `extract` opens the code and refuses, before any write, one that does not open, belongs
//! to another client (which can still exchange it) or is past its expiry
//! (`tokens.authorization_code_ttl_secs`). Then it spends the code
//! (`storage::spent_codes::spend`): one statement that checks the code is still live and
//! records what the exchange will issue, so it is exchanged at most once (RFC 6749 §4.1.2).
//! Codes are issued by `authorization::issue`, never through oxide-auth.

use std::cell::RefCell;

use chrono::{TimeZone, Utc};
use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::grant::{Extensions, Grant, Value};

use super::code::AuthorizationCode;
use super::registrar::{DbRegistrar, SharedConn};
use crate::domain::Authentication;
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::spent_codes::{self, Issuing, Spend};
use crate::storage::StorageError;
use crate::tokens::sealing::SealingKeys;

/// Why a code was not exchanged.
#[derive(Debug)]
pub enum CodeRejection {
    /// Not made here, or not this client's.
    Unknown,
    Expired,
    /// Exchanged before: what that exchange issued has just been revoked.
    Replayed,
    /// Its user is disabled, its browser session ended or its consent withdrawn.
    Withdrawn,
    Storage(StorageError),
}

/// What a spent code kept from the authorization endpoint, beside oxide-auth's grant.
#[derive(Debug, Default)]
pub struct Kept {
    /// The user's role names.
    pub roles: Option<Vec<String>>,
    pub authentication: Option<Authentication>,
}

pub struct CodeAuthorizer<'a> {
    conn: SharedConn<'a>,
    keys: &'a SealingKeys,
    /// The authenticated client: a code is only exchanged by the client it was issued to.
    registrar: &'a DbRegistrar<'a>,
    /// What the exchange will issue, recorded as the code is spent.
    issues: Issuing<'a>,
    /// Where what the spent code kept goes.
    kept: &'a RefCell<Kept>,
    /// The requester's address, for the security event log.
    ip: Option<&'a str>,
    now: i64,
    exchanged: bool,
    rejection: Option<CodeRejection>,
}

impl<'a> CodeAuthorizer<'a> {
    /// Exchanges codes for `registrar`'s client, recording what the exchange `issues`; what
    /// the code kept goes to `kept`.
    pub fn new(
        conn: SharedConn<'a>,
        keys: &'a SealingKeys,
        registrar: &'a DbRegistrar<'a>,
        issues: Issuing<'a>,
        kept: &'a RefCell<Kept>,
        ip: Option<&'a str>,
        now: i64,
    ) -> Self {
        CodeAuthorizer {
            conn,
            keys,
            registrar,
            issues,
            kept,
            ip,
            now,
            exchanged: false,
            rejection: None,
        }
    }

    /// Whether this request spent the code, once `extract` succeeded.
    pub fn exchanged(&self) -> bool {
        self.exchanged
    }

    pub fn take_rejection(&mut self) -> Option<CodeRejection> {
        self.rejection.take()
    }

    fn reject(&mut self, why: CodeRejection) {
        if let CodeRejection::Storage(e) = &why {
            tracing::error!(error = %e, "spending an authorization code failed");
        }
        self.rejection = Some(why);
    }

    fn replayed(&mut self, user_id: &str, client_id: &str) {
        tracing::warn!(
            security_event = "authorization_code_replay",
            client_id = %client_id,
            "an authorization code was presented again; its tokens are revoked"
        );
        let event = Event {
            actor: Some(user_id),
            client_id: Some(client_id),
            ip: self.ip,
            detail: Some("an authorization code was presented again; its tokens are revoked"),
        };
        security_events::record_or_log(
            &mut self.conn.borrow_mut(),
            EventKind::AuthorizationCodeReplay,
            &event,
            self.now,
        );
        self.reject(CodeRejection::Replayed);
    }
}

impl Authorizer for CodeAuthorizer<'_> {
    fn authorize(&mut self, _: Grant) -> Result<String, ()> {
        // Codes are sealed by `authorization::issue`; the token endpoint issues none.
        Err(())
    }

    fn extract(&mut self, sealed: &str) -> Result<Option<Grant>, ()> {
        let client_id = self
            .registrar
            .client()
            .map(|c| String::from(c.id))
            .unwrap_or_default();
        // Refused before any write: forged or tampered with, another client's (it stays
        // good for that one), or expired.
        let code = match AuthorizationCode::open(self.keys, sealed) {
            Ok(code) if code.client_id == client_id => code,
            _ => {
                self.reject(CodeRejection::Unknown);
                return Ok(None);
            }
        };
        if code.expires_at <= self.now {
            // Too late to buy anything; but if it was exchanged in its minute, this is a
            // replay, and what it bought is revoked (RFC 6749 §4.1.2). Only this error path
            // reads.
            let spent =
                spent_codes::revoke_spent(&mut self.conn.borrow_mut(), &code.request_id, self.now);
            match spent {
                Ok(Some(user_id)) => self.replayed(&user_id, &client_id),
                Ok(None) => self.reject(CodeRejection::Expired),
                Err(e) => {
                    self.reject(CodeRejection::Storage(e));
                    return Err(());
                }
            }
            return Ok(None);
        }
        let spent = spent_codes::spend(
            &mut self.conn.borrow_mut(),
            &code.presented(),
            &self.issues,
            self.now,
        );
        match spent {
            Ok(Spend::Won) => {}
            Ok(Spend::Replayed { user_id }) => {
                self.replayed(&user_id, &client_id);
                return Ok(None);
            }
            Ok(Spend::Withdrawn) => {
                self.reject(CodeRejection::Withdrawn);
                return Ok(None);
            }
            Err(e) => {
                self.reject(CodeRejection::Storage(e));
                return Err(());
            }
        }
        self.kept.replace(Kept {
            roles: Some(code.roles.clone()),
            authentication: code.authentication(),
        });
        let grant = to_grant(code).map_err(|e| self.reject(CodeRejection::Storage(e)))?;
        self.exchanged = true;
        Ok(Some(grant))
    }
}

fn to_grant(code: AuthorizationCode) -> Result<Grant, StorageError> {
    // Only this server seals codes: a field that does not parse is a bug, not an attack.
    let corrupt = |what: &str| StorageError::Corrupt(format!("authorization code {what}"));
    let mut extensions = Extensions::new();
    if let Some(pkce) = code.pkce {
        extensions.set(&Pkce::optional(), Value::private(Some(pkce)));
    }
    Ok(Grant {
        owner_id: code.user_id,
        client_id: code.client_id,
        scope: code.scope.parse().map_err(|_| corrupt("scope"))?,
        redirect_uri: code
            .redirect_uri
            .parse()
            .map_err(|_| corrupt("redirect URI"))?,
        until: Utc
            .timestamp_opt(code.expires_at, 0)
            .single()
            .ok_or_else(|| corrupt("expiry"))?,
        extensions,
    })
}
