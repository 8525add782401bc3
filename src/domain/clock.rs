//! The one clock: every expiry rule, key rotation and stored time reads it, in the server
//! and in API verifiers alike (it is `gatehouse_resource`'s, so a test moves both at once).
//! Tests move it forward instead of sleeping.

pub use gatehouse_resource::Clock;
