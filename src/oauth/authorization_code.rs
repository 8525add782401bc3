//! The authorization-code grant at the token endpoint (RFC 6749 §4.1.3), driven through
//! oxide-auth's access-token flow:
//!
//! ```text
//!  client ── POST /token grant_type=authorization_code ──▶ authenticate   (ClientAuthenticator)
//!                                                         ▶ spend the code (CodeAuthorizer::extract)
//!                                                         ▶ PKCE           (PkceVerifier)
//!         ◀── access + refresh token ──────────────────── start session  (SessionIssuer)
//! ```
//!
//! The client is authenticated first. A code that does not open, is another client's or has
//! expired is refused then, without a write. The rest runs in one transaction whose first
//! statement spends the code (`storage::spent_codes`: only if it is still live) and records
//! the ids of what the exchange will issue, so a replay, however soon, finds them and
//! revokes what they name (§4.1.2). That is the round trip's only write transaction: the
//! code itself is sealed (`oauth::code`), issued without one.

use std::cell::RefCell;

use chrono::{TimeZone, Utc};
use diesel::Connection;
use oxide_auth::code_grant::accesstoken::{access_token, Endpoint, Error as FlowError, Extension};
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::grant::Grant;
use oxide_auth::primitives::issuer::{IssuedToken, Issuer, RefreshedToken, TokenType};
use oxide_auth::primitives::registrar::Registrar;

use super::authorizer::{CodeAuthorizer, CodeRejection, Kept};
use super::client_auth::{self, Presented};
use super::issuer::{Minter, TokenResponse};
use super::pkce::PkceVerifier;
use super::registrar::{DbRegistrar, Rejection, SharedConn};
use super::request::FormRequest;
use super::sessions::{self, NewUserSession, Planned, SessionPolicy, Started};
use super::{GrantType, OAuthError, ScopeSet};
use crate::storage::spent_codes::Issuing;
use crate::storage::{DbConnection, StorageError};
use crate::tokens::sealing::SealingKeys;

struct CodeEndpoint<'a> {
    registrar: &'a DbRegistrar<'a>,
    authorizer: CodeAuthorizer<'a>,
    issuer: SessionIssuer<'a>,
    extension: PkceVerifier<'a>,
}

impl Endpoint for CodeEndpoint<'_> {
    fn registrar(&self) -> &dyn Registrar {
        self.registrar
    }

    fn authorizer(&mut self) -> &mut dyn Authorizer {
        &mut self.authorizer
    }

    fn issuer(&mut self) -> &mut dyn Issuer {
        &mut self.issuer
    }

    fn extension(&mut self) -> &mut dyn Extension {
        &mut self.extension
    }
}

/// Issues through `sessions::start`, like every user grant: an access token for the user
/// and, when the client may refresh, a new refresh-token family.
struct SessionIssuer<'a> {
    conn: SharedConn<'a>,
    registrar: &'a DbRegistrar<'a>,
    minter: &'a Minter,
    policy: &'a SessionPolicy,
    /// The ids the spent code's row recorded.
    planned: &'a Planned,
    /// What the code kept, once spent.
    kept: &'a RefCell<Kept>,
    now: i64,
    started: Option<Started>,
    failure: Option<OAuthError>,
}

impl Issuer for SessionIssuer<'_> {
    fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let Some(client) = self.registrar.client() else {
            self.failure = Some(OAuthError::server_error(&"no authenticated client"));
            return Err(());
        };
        let scope = ScopeSet::try_from(&grant.scope).map_err(|_| {
            self.failure = Some(OAuthError::server_error(&"stored code scope is malformed"));
        })?;
        let kept = self.kept.take();
        let session = NewUserSession {
            client: &client,
            user_id: &grant.owner_id,
            scope: &scope,
            roles: kept.roles,
            authentication: kept.authentication,
            planned: self.planned.clone(),
        };
        let started = sessions::start(
            &mut self.conn.borrow_mut(),
            self.minter,
            session,
            self.policy,
            self.now,
        )
        .map_err(|e| self.failure = Some(e))?;
        let issued = IssuedToken {
            token: started.response.access_token.clone(),
            refresh: started.response.refresh_token.clone(),
            until: Utc
                .timestamp_opt(started.access_expires_at, 0)
                .single()
                .ok_or(())?,
            token_type: TokenType::Bearer,
        };
        self.started = Some(started);
        Ok(issued)
    }

    fn refresh(&mut self, _: &str, _: Grant) -> Result<RefreshedToken, ()> {
        Err(())
    }

    fn recover_token<'t>(&'t self, _: &'t str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }

    fn recover_refresh<'t>(&'t self, _: &'t str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }
}

/// Runs the grant for one request. Synchronous: call it on the blocking pool.
pub fn grant(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    minter: &Minter,
    policy: &SessionPolicy,
    presented: &Presented<'_>,
    request: &FormRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    // Precise errors for the credentials first; oxide-auth reads them again itself, and
    // its `check` is answered from the client authenticated here.
    presented.credentials()?;
    request.required("code")?;
    // oxide-auth refuses a redirect_uri that is no URL before it authenticates the client.
    if url::Url::parse(request.required("redirect_uri")?).is_err() {
        return Err(OAuthError::invalid_request(
            "malformed authorization code request",
        ));
    }
    // Before the transaction, so that spending the code is its first statement.
    let client = presented.authenticate(conn, true)?;
    let planned = Planned::for_client(&client);
    let issues = Issuing {
        family_id: planned.family_id.as_deref(),
        access_jti: &planned.access_jti,
        access_expires_at: now + minter.access_token_ttl_secs,
    };
    let outcome = conn.transaction(|conn| {
        let conn = RefCell::new(conn);
        let registrar =
            DbRegistrar::new(&conn, GrantType::AuthorizationCode).with_client(client.clone());
        let kept = RefCell::new(Kept::default());
        let mut endpoint = CodeEndpoint {
            registrar: &registrar,
            authorizer: CodeAuthorizer::new(
                &conn,
                keys,
                &registrar,
                issues,
                &kept,
                request.ip(),
                now,
            ),
            issuer: SessionIssuer {
                conn: &conn,
                registrar: &registrar,
                minter,
                policy,
                planned: &planned,
                kept: &kept,
                now,
                started: None,
                failure: None,
            },
            extension: PkceVerifier::new(&registrar),
        };
        let flow = access_token(&mut endpoint, request);
        let answer = match flow {
            Ok(_) => finish(&mut endpoint),
            Err(flow_error) => explain(&mut endpoint, flow_error),
        };
        match answer {
            // Only a failure of the server rolls back (storage, or signing, or storage inside
            // the issuer, which reaches here as a server error): a refused exchange (a wrong
            // PKCE verifier or redirect URI) keeps the code spent, and a replay its revocations.
            Err(Failure::Storage(e)) => Err(Rollback::Storage(e)),
            Err(Failure::OAuth(e)) if e.status() >= 500 => Err(Rollback::Server(e)),
            Err(Failure::OAuth(e)) => Ok(Err(e)),
            Ok(response) => Ok(Ok(response)),
        }
    });
    match outcome {
        Ok(answer) => answer,
        Err(Rollback::Storage(e)) => Err(e.into()),
        Err(Rollback::Server(e)) => Err(e),
    }
}

/// Why the exchange's transaction rolled back.
enum Rollback {
    Storage(StorageError),
    Server(OAuthError),
}

impl From<diesel::result::Error> for Rollback {
    fn from(e: diesel::result::Error) -> Self {
        Rollback::Storage(e.into())
    }
}

enum Failure {
    Storage(StorageError),
    OAuth(OAuthError),
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Failure::OAuth(e)
    }
}

fn finish(endpoint: &mut CodeEndpoint<'_>) -> Result<TokenResponse, Failure> {
    match (
        endpoint.authorizer.exchanged(),
        endpoint.issuer.started.take(),
    ) {
        (true, Some(started)) => Ok(started.response),
        _ => Err(OAuthError::server_error(&"the code flow reported success without tokens").into()),
    }
}

/// Turns oxide-auth's coarse error and the primitives' recorded reasons into the RFC 6749
/// answer.
fn explain(
    endpoint: &mut CodeEndpoint<'_>,
    flow_error: FlowError,
) -> Result<TokenResponse, Failure> {
    if let Some(failure) = endpoint.issuer.failure.take() {
        return Err(failure.into());
    }
    if let Some(failure) = endpoint.extension.take_failure() {
        return Err(failure.into());
    }
    let bad_code = |why: &'static str| Err(OAuthError::invalid_grant(why).into());
    match endpoint.authorizer.take_rejection() {
        Some(CodeRejection::Storage(e)) => return Err(Failure::Storage(e)),
        Some(CodeRejection::Replayed) => {
            return bad_code(
                "authorization code already used; the tokens issued with it are revoked",
            )
        }
        Some(CodeRejection::Expired) => return bad_code("authorization code expired"),
        Some(CodeRejection::Withdrawn) => {
            return bad_code(
                "authorization code revoked: the sign-in or consent it was issued under has ended",
            )
        }
        Some(CodeRejection::Unknown) => {
            return bad_code("authorization code unknown or issued to another client")
        }
        None => {}
    }
    match endpoint.registrar.take_rejection() {
        Some(Rejection::Storage(e)) => return Err(Failure::Storage(e)),
        Some(Rejection::GrantNotAllowed(grant)) => {
            return Err(client_auth::grant_not_allowed(grant).into())
        }
        Some(_) => return Err(OAuthError::invalid_client("client authentication failed").into()),
        None => {}
    }
    Err(match flow_error {
        // The code was spent, then the redirect URI did not match the one it was issued for.
        FlowError::Invalid(_) if endpoint.authorizer.exchanged() => {
            OAuthError::invalid_grant("redirect_uri does not match the authorization request")
        }
        FlowError::Invalid(_) => {
            OAuthError::invalid_request("malformed authorization code request")
        }
        FlowError::Unauthorized(..) => OAuthError::invalid_client("client authentication failed"),
        FlowError::Primitive(_) => {
            OAuthError::server_error(&"the authorization code flow failed without a reason")
        }
    }
    .into())
}
