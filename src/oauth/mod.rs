//! OAuth flows: oxide-auth's state machines driven with gatehouse's primitives, one
//! endpoint built per request and run on the blocking pool.

pub mod authorization;
pub mod authorization_code;
pub mod authorization_service;
pub mod authorizer;
pub mod client_auth;
pub mod client_cache;
pub mod client_credentials;
pub mod client_throttle;
pub mod code;
pub mod discovery;
pub mod end_session;
pub mod introspection;
pub mod issuer;
pub mod json_body;
pub mod live_token;
pub mod openid;
pub mod password_grant;
pub mod pending;
pub mod pkce;
pub mod refresh;
pub mod registrar;
pub mod request;
pub mod revocation;
pub mod revoked_here;
mod scope_bridge;
pub mod sessions;
pub mod token_endpoints;
pub mod userinfo;

pub use crate::domain::{
    ErrorCode, GrantType, MalformedScope, OAuthError, ScopeSet, UnknownGrantType, UserScopeError,
};
