//! OAuth flows: oxide-auth's state machines driven with gatehouse's primitives, one
//! endpoint built per request and run on the blocking pool.

pub mod client_credentials;
pub mod error;
mod grant_type;
pub mod issuer;
pub mod registrar;
pub mod request;
mod scopes;

pub use error::{ErrorCode, OAuthError};
pub use grant_type::{GrantType, UnknownGrantType};
pub use scopes::{MalformedScope, ScopeSet};
