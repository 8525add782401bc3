//! The domain core: the values every layer speaks — scopes, grant types, clients, usernames,
//! secrets, attempt policies, the clock and the OAuth error — with no I/O and no imports from
//! any other gatehouse module. Everything above parses input into these types once, at the
//! edge, and the core never re-checks strings.

pub mod client;
pub mod clock;
pub mod error;
pub mod grant_type;
pub mod identity;
pub mod limits;
pub mod scope;
pub mod secret;
pub mod username;
pub mod visible;

pub use client::{Client, ClientId, RedirectUri};
pub use clock::Clock;
pub use error::{ErrorCode, OAuthError};
pub use grant_type::{GrantType, UnknownGrantType};
pub use identity::{Amr, Authentication};
pub use limits::Policy;
pub use scope::{MalformedScope, ScopeSet, UserScopeError, IDENTITY_SCOPES, OPENID};
pub use secret::{PlainSecret, SecretHash};
pub use username::Username;
