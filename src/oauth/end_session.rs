//! RP-Initiated Logout 1.0: a relying party sends the browser to `end_session_endpoint` to
//! sign the user out of gatehouse, and names where the browser may go afterwards.
//!
//! Only a registered `post_logout_redirect_uri` of the client named by the `id_token_hint`
//! (or by `client_id`) is ever redirected to, matched exactly as redirect URIs are (§3.1).
//! A request that does not prove it comes from the session's own relying party (an
//! `id_token_hint` of this very session) is asked to confirm first (§2: the OP SHOULD ask),
//! so a link on another site cannot sign a user out.

use std::sync::Arc;

use url::Url;

use super::issuer::Minter;
use super::request::FormRequest;
use crate::domain::identity::public_sid;
use crate::storage::{clients, Database, StorageError};
use crate::tokens::id_token;

/// A logout request as the relying party sent it.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

impl LogoutRequest {
    pub fn from_form(form: &FormRequest) -> Self {
        let owned = |name: &str| {
            form.param(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        LogoutRequest {
            id_token_hint: owned("id_token_hint"),
            client_id: owned("client_id"),
            post_logout_redirect_uri: owned("post_logout_redirect_uri"),
            state: owned("state"),
        }
    }
}

/// Where the browser goes once signed out.
#[derive(Debug, Clone)]
pub enum Afterwards {
    /// To the relying party's registered URI, with `state`.
    Redirect(Url),
    /// A page saying so, naming the application when one is known.
    Page { client_name: Option<String> },
}

/// What to do with a logout request.
#[derive(Debug, Clone)]
pub struct Plan {
    pub afterwards: Afterwards,
    /// The `sid` of the session the hint was issued in: that session may end without asking.
    hinted_sid: Option<String>,
    /// The client the request names, to carry through a confirmation.
    pub client_id: Option<String>,
}

impl Plan {
    /// Whether the request proves it comes from the relying party of the browser session
    /// `sid`, so the user need not confirm.
    pub fn proven_for(&self, sid: &str) -> bool {
        self.hinted_sid.as_deref() == Some(public_sid(sid).as_str())
    }
}

/// Why a logout request is refused: a page for the user (never a redirect).
#[derive(Debug)]
pub enum Refused {
    Page(&'static str),
    Storage(StorageError),
}

impl From<StorageError> for Refused {
    fn from(e: StorageError) -> Self {
        Refused::Storage(e)
    }
}

pub struct EndSession {
    db: Database,
    minter: Arc<Minter>,
}

impl EndSession {
    pub fn new(db: Database, minter: Arc<Minter>) -> Self {
        EndSession { db, minter }
    }

    /// Checks `request` and says where the browser goes afterwards.
    pub async fn plan(&self, request: LogoutRequest, now: i64) -> Result<Plan, Refused> {
        let minter = self.minter.clone();
        self.db
            .run(move |conn| {
                let hint = match &request.id_token_hint {
                    None => None,
                    Some(token) => Some(
                        id_token::verify_hint(token, &minter.keyring, conn, &minter.issuer, now)?
                            .ok_or(Refused::Page(BAD_HINT))?,
                    ),
                };
                let client_id = match (&hint, &request.client_id) {
                    (Some(h), Some(named)) if h.aud != *named => {
                        return Err(Refused::Page(CLIENT_MISMATCH))
                    }
                    (Some(h), _) => Some(h.aud.clone()),
                    (None, named) => named.clone(),
                };
                let client = match &client_id {
                    Some(id) => clients::find(conn, id)?,
                    None => None,
                };
                let afterwards = match (&client, &request.post_logout_redirect_uri) {
                    (Some(c), Some(uri)) if c.has_post_logout_redirect_uri(uri) => {
                        let mut url = Url::parse(uri).map_err(|_| Refused::Page(BAD_URI))?;
                        url.query_pairs_mut()
                            .extend_pairs(request.state.as_deref().map(|s| ("state", s)));
                        Afterwards::Redirect(url)
                    }
                    (client, _) => Afterwards::Page {
                        client_name: client.as_ref().map(|c| c.name.clone()),
                    },
                };
                Ok(Plan {
                    afterwards,
                    hinted_sid: hint.map(|h| h.sid),
                    client_id: client.map(|c| c.id.to_string()),
                })
            })
            .await
    }
}

const BAD_HINT: &str = "The sign-out request carries an ID token that this server did not issue. Go back to the application and try again.";
const CLIENT_MISMATCH: &str =
    "The sign-out request names two different applications. Go back to the application and try again.";
const BAD_URI: &str = "The application's registered sign-out address is not a URL.";
