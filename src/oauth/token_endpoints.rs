//! The token, introspection and revocation endpoints as one service under thin routes: each
//! parses the client's credentials once, authenticates the client with the one
//! authenticator, and runs its flow where it belongs.
//!
//! Where: Diesel is synchronous, so anything that needs the database runs on the blocking
//! pool (`Database::run`), under the per-address back-off for failed client
//! authentications. The one exception is the hot path: a client-credentials request whose
//! client is in memory and admitted needs neither storage nor the back-off (a correct
//! secret always passes), so it is answered on the HTTP worker without a hop between
//! thread pools.

use std::sync::Arc;

use super::client_auth::{ClientAuthenticator, Presented};
use super::introspection::{self, Introspection};
use super::issuer::{Minter, TokenResponse};
use super::request::FormRequest;
use super::revoked_here::RevokedHere;
use super::sessions::SessionPolicy;
use super::{
    authorization_code, client_credentials, password_grant, refresh, revocation, ErrorCode,
    OAuthError,
};
use crate::accounts::login::LoginService;
use crate::domain::Clock;
use crate::storage::{Database, DbConnection};
use crate::tokens::sealing::SealingKeys;

pub struct TokenEndpoints {
    pub db: Database,
    /// Open authorization codes (`oauth::code`).
    pub keys: Arc<SealingKeys>,
    pub minter: Arc<Minter>,
    pub clock: Clock,
    pub sessions: SessionPolicy,
    pub clients: ClientAuthenticator,
    /// The password grant's login, shared with the login form.
    pub login: Arc<LoginService>,
    /// Moved by every revocation made here, for userinfo's memory.
    pub revoked: Arc<RevokedHere>,
}

impl TokenEndpoints {
    /// RFC 6749 §4.4.
    pub async fn client_credentials(
        self: &Arc<Self>,
        request: FormRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let checked = client_credentials::precheck(&request);
        if let Ok(creds) = &checked {
            if let Some(client) = self.clients.from_memory(creds) {
                let now = self.clock.now();
                return client_credentials::grant(&self.minter, client, &request, now);
            }
        }
        // Only a failed client authentication is counted by the back-off; any other
        // refusal is answered here, without the database.
        if let Err(e) = &checked {
            if e.code != ErrorCode::InvalidClient {
                return Err(e.clone());
            }
        }
        let this = self.clone();
        self.db
            .run(move |conn| {
                let now = this.clock.now();
                let guarded = |conn: &mut DbConnection| {
                    let creds = checked.as_ref().map_err(OAuthError::clone)?;
                    let client = this.clients.authenticate(conn, creds, false)?;
                    client_credentials::grant(&this.minter, client, &request, now)
                };
                let creds = checked.as_ref().ok();
                this.clients.guarded(conn, &request, creds, now, guarded)
            })
            .await
    }

    /// RFC 6749 §4.3.
    pub async fn password(
        self: &Arc<Self>,
        request: FormRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let asked = password_grant::Asked::from_request(&request)?;
        let client = self
            .guarded(request, |_, conn, presented, _, _| {
                password_grant::authenticate(conn, presented)
            })
            .await?;
        let (minter, policy) = (self.minter.clone(), self.sessions.clone());
        let now = self.clock.now();
        password_grant::grant(&self.db, &self.login, minter, policy, client, asked, now).await
    }

    /// RFC 6749 §6.
    pub async fn refresh(
        self: &Arc<Self>,
        request: FormRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let answer = self
            .guarded(request, |this, conn, presented, request, now| {
                refresh::grant(conn, &this.minter, &this.sessions, presented, request, now)
            })
            .await;
        self.note_revocations(answer)
    }

    /// RFC 6749 §4.1.3.
    pub async fn authorization_code(
        self: &Arc<Self>,
        request: FormRequest,
    ) -> Result<TokenResponse, OAuthError> {
        // A code sealed under a key another instance just made: load it (at most once a
        // second) before the grant, which opens the code after authenticating the client.
        if request
            .param("code")
            .is_some_and(|c| !self.keys.knows_key_of(c))
        {
            self.keys.reload_if_due(&self.db, self.clock.now()).await;
        }
        let answer = self
            .guarded(request, |this, conn, presented, request, now| {
                authorization_code::grant(
                    conn,
                    &this.keys,
                    &this.minter,
                    &this.sessions,
                    presented,
                    request,
                    now,
                )
            })
            .await;
        self.note_revocations(answer)
    }

    /// A refused refresh token or code may have revoked a family (reuse, replay): what
    /// remembers token checks forgets. Refusals are rare; a false alarm costs a cache.
    fn note_revocations<T>(&self, answer: Result<T, OAuthError>) -> Result<T, OAuthError> {
        if answer
            .as_ref()
            .is_err_and(|e| e.code == ErrorCode::InvalidGrant)
        {
            self.revoked.moved();
        }
        answer
    }

    /// RFC 7662.
    pub async fn introspect(
        self: &Arc<Self>,
        request: FormRequest,
    ) -> Result<Introspection, OAuthError> {
        self.guarded(request, |this, conn, presented, request, now| {
            introspection::introspect(conn, &this.minter, presented, request, now)
        })
        .await
    }

    /// RFC 7009.
    pub async fn revoke(self: &Arc<Self>, request: FormRequest) -> Result<(), OAuthError> {
        let answer = self
            .guarded(request, |this, conn, presented, request, now| {
                revocation::revoke(conn, &this.minter, presented, request, now)
            })
            .await;
        // Only a revocation that ran: a refused client must not flush what userinfo keeps.
        if answer.is_ok() {
            self.revoked.moved();
        }
        answer
    }

    /// Runs `flow` on the blocking pool with the request's credentials parsed once, under
    /// the back-off for failed client authentications.
    pub(super) async fn guarded<T, F>(
        self: &Arc<Self>,
        request: FormRequest,
        flow: F,
    ) -> Result<T, OAuthError>
    where
        T: Send + 'static,
        F: FnOnce(
                &Self,
                &mut DbConnection,
                &Presented<'_>,
                &FormRequest,
                i64,
            ) -> Result<T, OAuthError>
            + Send
            + 'static,
    {
        let this = self.clone();
        self.db
            .run(move |conn| {
                let now = this.clock.now();
                let presented = this.clients.presented(&request);
                let creds = presented.credentials.as_ref().ok();
                this.clients.guarded(conn, &request, creds, now, |conn| {
                    flow(&this, conn, &presented, &request, now)
                })
            })
            .await
    }
}
