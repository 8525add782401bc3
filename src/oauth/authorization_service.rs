//! The authorization service: the browser's way through the authorization-code flow, as
//! three steps the routes only render.
//!
//! - [`begin`](AuthorizationService::begin) (`GET /authorize`) validates the request once and
//!   seals it for the visitor's session;
//! - [`after_login`](AuthorizationService::after_login) (after `POST /login` or the second
//!   factor) opens it for the new session;
//! - [`decide`](AuthorizationService::decide) (`POST /consent`) answers it.
//!
//! Each step after the first is one unseal: the request is not parsed or run through
//! oxide-auth's flow again. What may change between steps is read again: that the session is
//! still signed in, the user's roles and the remembered consent (one query), and that the
//! client's registration still admits the request (`authorization::still_holds`). The code
//! itself is sealed (`oauth::code`): issuing it writes nothing, so a returning user's
//! `GET /authorize` only reads.

use std::sync::Arc;

use url::Url;

use super::authorization::{self, to_client, Decision, Refusal, Rules};
use super::pending::{NotPending, PendingAuthorization};
use super::request::FormRequest;
use super::ScopeSet;
use crate::storage::login_sessions::{self, Standing};
use crate::storage::{consents, Database, DbConnection};
use crate::tokens::sealing::SealingKeys;

/// Who is at the browser, as their session cookie says.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The session's id: pending requests are bound to it.
    pub sid: String,
    /// The user the session is signed in as, if any (its row is checked too).
    pub uid: Option<String>,
    /// The password was right and the second factor is owed.
    pub owes_second_factor: bool,
}

/// A page that carries the pending request on.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub client_name: String,
    /// The pending request, sealed for the visitor's session: the form's hidden input.
    pub sealed: String,
    /// The username the client suggested (`login_hint`), for the login form.
    pub login_hint: Option<String>,
}

/// Where the browser goes next.
#[derive(Debug)]
pub enum Next {
    LogIn(Prompt),
    SecondFactor(Prompt),
    Consent {
        prompt: Prompt,
        username: String,
        /// What allowing grants: the request within the user's roles.
        scope: ScopeSet,
    },
    /// Back to the client: a code, or an error at its redirect URI.
    Back(Url),
}

/// `prompt=none` when a page would be needed (Core 1.0 §3.1.2.6).
const LOGIN_REQUIRED: &str = "the user is not signed in, or not recently enough";
const CONSENT_REQUIRED: &str = "the user has not approved this request";

/// What the pending request does not survive: a page for the user.
const NOT_PENDING: &str = "This sign-in request has expired or was started in another browser. Go back to the application and start again.";

#[derive(Clone)]
pub struct AuthorizationService {
    db: Database,
    keys: Arc<SealingKeys>,
    /// Named in every response sent back to the client (RFC 9207 `iss`).
    issuer: Arc<str>,
    rules: Rules,
}

impl AuthorizationService {
    pub fn new(db: Database, keys: Arc<SealingKeys>, issuer: String, rules: Rules) -> Self {
        AuthorizationService {
            db,
            keys,
            issuer: issuer.into(),
            rules,
        }
    }

    /// `GET /authorize`: validates `request`, then the login page, the consent page, or with
    /// consent remembered straight back with a code.
    pub async fn begin(
        &self,
        request: FormRequest,
        visitor: Visitor,
        now: i64,
    ) -> Result<Next, Refusal> {
        let service = self.clone();
        let next = self
            .db
            .run(move |conn| {
                let validated = authorization::validate(conn, &request, service.rules.pkce)?;
                let pending = PendingAuthorization::new(validated, &visitor.sid, now);
                service.onward(conn, pending, &visitor, now)
            })
            .await;
        self.naming_issuer(next)
    }

    /// After a login (or its second factor) started the visitor's new session: the sealed
    /// request, moved to it by [`rebind`](Self::rebind), goes on to consent or back.
    pub async fn after_login(
        &self,
        sealed: &str,
        visitor: Visitor,
        now: i64,
    ) -> Result<Next, Refusal> {
        let pending = self.open(sealed, &visitor.sid, now).await?;
        let service = self.clone();
        let next = self
            .db
            .run(move |conn| {
                authorization::still_holds(conn, &pending, service.rules.pkce)?;
                service.onward(conn, pending, &visitor, now)
            })
            .await;
        self.naming_issuer(next)
    }

    /// `POST /consent`: the user's answer. `allow` remembers the approval and issues a code
    /// under it (the request buys one exchange, however often it is answered); `deny` sends
    /// `access_denied`.
    pub async fn decide(
        &self,
        sealed: &str,
        visitor: Visitor,
        decision: Decision,
        now: i64,
    ) -> Result<Next, Refusal> {
        let pending = self.open(sealed, &visitor.sid, now).await?;
        let service = self.clone();
        let next = self
            .db
            .run(move |conn| {
                // The login checks of `onward` hold here too: a login page's sealed request
                // posted to the consent form must not skip `prompt=login` or `max_age`.
                let standing = standing(conn, &visitor, &pending, now)?
                    .filter(|s| pending.accepts_login(&visitor.sid, s.auth_time, now));
                let Some(standing) = standing else {
                    // Signed out meanwhile (elsewhere, or the session ended), or the login is
                    // not one the request accepts: log in again.
                    return Ok(Next::LogIn(service.prompt(&pending)));
                };
                if decision == Decision::Deny {
                    return Ok(Next::Back(authorization::deny(&pending)?));
                }
                authorization::still_holds(conn, &pending, service.rules.pkce)?;
                let scope = authorization::narrow(&pending, &standing.allowed)?;
                // Remembered first: the code names the consent it was issued under, and
                // dies with it (`storage::consents`).
                let client_id = &pending.request.client_id;
                let grant = consents::remember(conn, &standing.user_id, client_id, &scope, now)?;
                let keys = &service.keys;
                let url = authorization::issue(
                    keys,
                    &pending,
                    &standing,
                    &grant,
                    &scope,
                    service.rules,
                    now,
                )?;
                Ok(Next::Back(url))
            })
            .await;
        self.naming_issuer(next)
    }

    /// Every response that goes back to the client names this issuer (RFC 9207 `iss`), so a
    /// client that talks to several servers can tell whose answer it got (mix-up attacks).
    fn naming_issuer(&self, next: Result<Next, Refusal>) -> Result<Next, Refusal> {
        let named = |mut url: Url| {
            url.query_pairs_mut().append_pair("iss", &self.issuer);
            url
        };
        match next {
            Ok(Next::Back(url)) => Ok(Next::Back(named(url))),
            Err(Refusal::Redirect(url)) => Err(Refusal::Redirect(named(url))),
            other => other,
        }
    }

    /// Opens a pending request for the session `sid`, as a login form posts it.
    pub async fn open(
        &self,
        sealed: &str,
        sid: &str,
        now: i64,
    ) -> Result<PendingAuthorization, Refusal> {
        match PendingAuthorization::open(&self.keys, sealed, sid, now) {
            Err(NotPending::UnknownKey) if self.keys.reload_if_due(&self.db, now).await => {
                PendingAuthorization::open(&self.keys, sealed, sid, now)
            }
            opened => opened,
        }
        .map_err(|_| Refusal::Page(NOT_PENDING))
    }

    /// The pending request sealed for the session a login just started (new id, no fixation).
    pub fn rebind(&self, pending: PendingAuthorization, sid: &str) -> String {
        pending.rebound(sid).seal(&self.keys)
    }

    fn prompt(&self, pending: &PendingAuthorization) -> Prompt {
        Prompt {
            client_name: pending.request.client_name.clone(),
            sealed: pending.seal(&self.keys),
            login_hint: pending.request.login_hint.clone(),
        }
    }

    /// Where a validated request goes for this visitor.
    fn onward(
        &self,
        conn: &mut DbConnection,
        pending: PendingAuthorization,
        visitor: &Visitor,
        now: i64,
    ) -> Result<Next, Refusal> {
        let rules = pending.request.prompt;
        let standing = standing(conn, visitor, &pending, now)?
            .filter(|s| pending.accepts_login(&visitor.sid, s.auth_time, now));
        let Some(standing) = standing else {
            if rules.none {
                return Err(to_client(
                    &pending.request,
                    "login_required",
                    LOGIN_REQUIRED,
                ));
            }
            let prompt = self.prompt(&pending);
            return Ok(if visitor.owes_second_factor {
                Next::SecondFactor(prompt)
            } else {
                Next::LogIn(prompt)
            });
        };
        let scope = authorization::narrow(&pending, &standing.allowed)?;
        let remembered = standing
            .consented
            .as_ref()
            .filter(|r| scope.is_subset(&r.scope));
        if let Some(consent) = remembered.filter(|_| !rules.consent) {
            let grant = &consent.grant_id;
            let url = authorization::issue(
                &self.keys, &pending, &standing, grant, &scope, self.rules, now,
            )?;
            return Ok(Next::Back(url));
        }
        if rules.none {
            return Err(to_client(
                &pending.request,
                "consent_required",
                CONSENT_REQUIRED,
            ));
        }
        // The consent form carries what the page shows: allowing can grant no more than
        // that, even if the user's roles grow before the answer comes.
        let mut shown = pending;
        shown.request.scope = scope.to_string();
        Ok(Next::Consent {
            prompt: self.prompt(&shown),
            username: standing.username,
            scope,
        })
    }
}

/// Where the visitor's signed-in user stands with the request's client, in one query; `None`
/// while nobody is signed in (or the session's row is gone).
fn standing(
    conn: &mut DbConnection,
    visitor: &Visitor,
    pending: &PendingAuthorization,
    now: i64,
) -> Result<Option<Standing>, Refusal> {
    let Some(uid) = &visitor.uid else {
        return Ok(None);
    };
    let client_id = &pending.request.client_id;
    Ok(login_sessions::standing(
        conn,
        &visitor.sid,
        uid,
        client_id,
        now,
    )?)
}
