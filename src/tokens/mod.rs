//! Token material: opaque secrets, ES256 signing keys, RFC 9068 access tokens and OpenID
//! Connect id_tokens, and the key-encryption key that wraps every key kept in the database.

pub mod at_rest;
pub mod id_token;
pub mod jwt;
pub mod kek;
pub mod keys;
pub mod sealing;
