//! Registered clients (RFC 6749 §2) as every layer sees them: the id, the exact redirect
//! URIs, the grant types and scopes it may use, and its secret's hash.

use std::fmt;
use std::ops::Deref;

use super::secret::random_id;
use super::{GrantType, ScopeSet, SecretHash};

/// A client identifier. gatehouse issues them (16 random bytes, URL-safe); anything stored
/// or presented is compared as an opaque string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// A new, unguessable id.
    pub fn generate() -> Self {
        ClientId(random_id(16))
    }

    /// An id as stored or presented.
    pub fn from_stored(id: String) -> Self {
        ClientId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for ClientId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ClientId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClientId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<ClientId> for String {
    fn eq(&self, other: &ClientId) -> bool {
        *self == other.0
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

/// A registered redirect URI: absolute, without fragment (RFC 6749 §3.1.2), over TLS unless
/// it points at the loopback interface or a native app's private-use scheme (RFC 8252 §7).
/// A presented URI matches only by exact string comparison (RFC 9700 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

/// Why a redirect URI cannot be registered; the message names the URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redirect URI `{uri}` {reason}")]
pub struct InvalidRedirectUri {
    pub uri: String,
    pub reason: String,
}

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, InvalidRedirectUri> {
        let refuse = |reason: String| {
            Err(InvalidRedirectUri {
                uri: raw.to_owned(),
                reason,
            })
        };
        let url = match url::Url::parse(raw) {
            Ok(url) => url,
            Err(e) => return refuse(format!("is not an absolute URL: {e}")),
        };
        if url.fragment().is_some() {
            return refuse("must not contain a fragment".into());
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse("contains white space".into());
        }
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return refuse("must use https (http only for localhost)".into()),
            scheme if scheme.contains('.') => {} // reverse-domain private-use scheme
            _ => return refuse("must use https, loopback http, or a reverse-domain scheme".into()),
        }
        Ok(RedirectUri(raw.to_owned()))
    }

    /// A URI as stored, already validated when it was registered.
    pub fn from_stored(uri: String) -> Self {
        RedirectUri(uri)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Exact string comparison: no normalisation, no prefix or pattern matching.
    pub fn matches(&self, presented: &str) -> bool {
        self.0 == presented
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    /// `None` for public clients, which have no secret.
    pub secret_hash: Option<SecretHash>,
    pub redirect_uris: Vec<RedirectUri>,
    /// Where RP-Initiated Logout may send the browser afterwards, matched exactly.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub created_at: i64,
    pub updated_at: i64,
    /// May introspect every client's tokens (`client create --introspect`, for APIs).
    pub introspect: bool,
}

impl Client {
    /// Whether introspection may describe a token issued to `token_client_id` to this
    /// client: its own tokens, or any when registered to introspect (RFC 7662 §4).
    pub fn may_introspect(&self, token_client_id: &str) -> bool {
        self.introspect || self.id == token_client_id
    }

    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether `presented` is one of the registered redirect URIs, exactly.
    pub fn has_redirect_uri(&self, presented: &str) -> bool {
        self.redirect_uris.iter().any(|r| r.matches(presented))
    }

    /// Whether `presented` is one of the registered post-logout redirect URIs, exactly.
    pub fn has_post_logout_redirect_uri(&self, presented: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|r| r.matches(presented))
    }
}

/// Whether `client` (as loaded; `None` if unknown) is authenticated by `secret`: a
/// confidential client by its secret, compared in constant time; a public client by
/// presenting none. An unknown client costs the same hashing as a known one.
pub fn admits(client: Option<&Client>, secret: Option<&[u8]>) -> bool {
    match (client.map(|c| &c.secret_hash), secret) {
        (Some(Some(hash)), Some(presented)) => hash.verify(presented),
        (Some(None), None) => true,
        (None, presented) => {
            std::hint::black_box(presented.map(SecretHash::of));
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_rfc_8252() {
        assert!(RedirectUri::parse("https://app.example/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:8080/cb").is_ok());
        assert!(RedirectUri::parse("com.example.app:/cb").is_ok());
        assert!(RedirectUri::parse("http://app.example/cb").is_err());
        assert!(RedirectUri::parse("https://app.example/cb#frag").is_err());
        assert!(RedirectUri::parse("/relative").is_err());
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
    }

    #[test]
    fn matching_is_exact() {
        let uri = RedirectUri::parse("https://app.example/cb").unwrap();
        assert!(uri.matches("https://app.example/cb"));
        assert!(!uri.matches("https://app.example/cb/"));
        assert!(!uri.matches("https://APP.example/cb"));
        assert!(!uri.matches("https://app.example/cb?x=1"));
    }
}
