//! oxide-auth's `Authorizer`, backed by the `authorization_codes` table: codes are 256-bit
//! random strings stored as SHA-256, live `tokens.authorization_code_ttl_secs`, and are
//! exchanged at most once (RFC 6749 §4.1.2).

use std::cell::RefCell;

use chrono::{TimeZone, Utc};
use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::grant::{Extensions, Grant, Value};

use super::registrar::{DbRegistrar, SharedConn};
use crate::domain::secret::{PlainSecret, SecretHash};
use crate::domain::Authentication;
use crate::storage::authorization_codes::{self, Exchange, Issuing, NewCode, StoredCode};
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::StorageError;

/// Why a code was not exchanged.
#[derive(Debug)]
pub enum CodeRejection {
    Unknown,
    Expired,
    /// Exchanged before: what that exchange issued has just been revoked.
    Replayed,
    /// The pending authorization already issued its one code.
    AlreadyIssued,
    Storage(StorageError),
}

/// What a claimed code kept from the authorization endpoint, beside oxide-auth's grant.
#[derive(Debug, Default)]
pub struct Kept {
    /// The user's role names; `None` for codes from before they were kept.
    pub roles: Option<Vec<String>>,
    pub authentication: Option<Authentication>,
}

pub struct DbAuthorizer<'a> {
    conn: SharedConn<'a>,
    /// The authenticated client, at the token endpoint: a code is only exchanged by the
    /// client it was issued to.
    registrar: Option<&'a DbRegistrar<'a>>,
    now: i64,
    ttl: i64,
    /// The requester's address, for the security event log.
    ip: Option<&'a str>,
    /// The pending authorization a code is issued for (one code each).
    request_id: Option<&'a str>,
    /// The user's roles when the code is issued, for the access token it buys.
    roles: &'a [String],
    /// The login and nonce when the code is granted `openid`, for its id_token.
    authentication: Option<&'a Authentication>,
    /// At the token endpoint: what the exchange will issue, recorded as the code is claimed.
    issues: Option<Issuing<'a>>,
    /// At the token endpoint: where what the claimed code kept goes.
    kept: Option<&'a RefCell<Kept>>,
    exchanged: Option<SecretHash>,
    rejection: Option<CodeRejection>,
}

impl<'a> DbAuthorizer<'a> {
    /// For the authorization endpoint, which issues the one code of pending authorization
    /// `request_id`.
    pub fn issuing(
        conn: SharedConn<'a>,
        request_id: &'a str,
        roles: &'a [String],
        authentication: Option<&'a Authentication>,
        now: i64,
        ttl: i64,
    ) -> Self {
        DbAuthorizer {
            conn,
            registrar: None,
            now,
            ttl,
            ip: None,
            request_id: Some(request_id),
            roles,
            authentication,
            issues: None,
            kept: None,
            exchanged: None,
            rejection: None,
        }
    }

    /// For the token endpoint, which exchanges codes for `registrar`'s client, recording what
    /// the exchange `issues`; what the code kept goes to `kept`.
    pub fn exchanging(
        conn: SharedConn<'a>,
        registrar: &'a DbRegistrar<'a>,
        issues: Issuing<'a>,
        kept: &'a RefCell<Kept>,
        ip: Option<&'a str>,
        now: i64,
    ) -> Self {
        DbAuthorizer {
            conn,
            registrar: Some(registrar),
            now,
            ttl: 0,
            ip,
            request_id: None,
            roles: &[],
            authentication: None,
            issues: Some(issues),
            kept: Some(kept),
            exchanged: None,
            rejection: None,
        }
    }

    /// The code this request won, once `extract` succeeded.
    pub fn exchanged(&self) -> Option<&SecretHash> {
        self.exchanged.as_ref()
    }

    pub fn take_rejection(&mut self) -> Option<CodeRejection> {
        self.rejection.take()
    }

    fn reject(&mut self, why: CodeRejection) {
        if let CodeRejection::Storage(e) = &why {
            tracing::error!(error = %e, "authorization code storage failed");
        }
        self.rejection = Some(why);
    }
}

impl Authorizer for DbAuthorizer<'_> {
    fn authorize(&mut self, mut grant: Grant) -> Result<String, ()> {
        let pkce = grant
            .extensions
            .remove(&Pkce::optional())
            .map(Value::into_private_value)
            .transpose()
            .map_err(|()| self.reject(CodeRejection::Unknown))?
            .flatten();
        let code = PlainSecret::generate();
        let stored = authorization_codes::insert(
            &mut self.conn.borrow_mut(),
            &NewCode {
                hash: &code.hash(),
                client_id: &grant.client_id,
                user_id: &grant.owner_id,
                redirect_uri: grant.redirect_uri.as_str(),
                scope: &grant.scope.to_string(),
                pkce: pkce.as_deref(),
                now: self.now,
                expires_at: self.now + self.ttl,
                request_id: self.request_id,
                roles: self.roles,
                authentication: self.authentication,
            },
        );
        match stored {
            Ok(true) => return Ok(code.expose().to_owned()),
            Ok(false) => self.reject(CodeRejection::AlreadyIssued),
            Err(e) => self.reject(CodeRejection::Storage(e)),
        }
        Err(())
    }

    fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let hash = SecretHash::of(code.as_bytes());
        let client_id = self
            .registrar
            .and_then(DbRegistrar::client)
            .map(|c| String::from(c.id))
            .unwrap_or_default();
        let Some(issues) = self.issues else {
            // An issuing authorizer exchanges nothing.
            return Ok(None);
        };
        let exchange = authorization_codes::exchange(
            &mut self.conn.borrow_mut(),
            &hash,
            &client_id,
            &issues,
            self.now,
        );
        let stored = match exchange {
            Ok(Exchange::Won(stored)) => stored,
            Ok(Exchange::Replayed { user_id }) => {
                tracing::warn!(
                    security_event = "authorization_code_replay",
                    client_id = %client_id,
                    "an authorization code was presented again; its tokens are revoked"
                );
                let event = Event {
                    actor: Some(&user_id),
                    client_id: Some(&client_id),
                    ip: self.ip,
                    detail: Some(
                        "an authorization code was presented again; its tokens are revoked",
                    ),
                };
                security_events::record_or_log(
                    &mut self.conn.borrow_mut(),
                    EventKind::AuthorizationCodeReplay,
                    &event,
                    self.now,
                );
                self.reject(CodeRejection::Replayed);
                return Ok(None);
            }
            Ok(Exchange::Expired) => {
                self.reject(CodeRejection::Expired);
                return Ok(None);
            }
            Ok(Exchange::Unknown) => {
                self.reject(CodeRejection::Unknown);
                return Ok(None);
            }
            Err(e) => {
                self.reject(CodeRejection::Storage(e));
                return Err(());
            }
        };
        if let Some(kept) = self.kept {
            kept.replace(Kept {
                roles: stored.roles(),
                authentication: stored.authentication(),
            });
        }
        let grant = to_grant(stored).map_err(|e| self.reject(CodeRejection::Storage(e)))?;
        self.exchanged = Some(hash);
        Ok(Some(grant))
    }
}

fn to_grant(stored: StoredCode) -> Result<Grant, StorageError> {
    let corrupt = |what: &str| StorageError::Corrupt(format!("authorization code {what}"));
    let mut extensions = Extensions::new();
    if let Some(pkce) = stored.pkce {
        extensions.set(&Pkce::optional(), Value::private(Some(pkce)));
    }
    Ok(Grant {
        owner_id: stored.user_id,
        client_id: stored.client_id,
        scope: stored.scope.parse().map_err(|_| corrupt("scope"))?,
        redirect_uri: stored
            .redirect_uri
            .parse()
            .map_err(|_| corrupt("redirect URI"))?,
        until: Utc
            .timestamp_opt(stored.expires_at, 0)
            .single()
            .ok_or_else(|| corrupt("expiry"))?,
        extensions,
    })
}
