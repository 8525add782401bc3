//! Token material: opaque secrets, ES256 signing keys and RFC 9068 access tokens.

pub mod ecdsa;
pub mod jwt;
pub mod keys;
pub mod sealing;
pub mod secret;
