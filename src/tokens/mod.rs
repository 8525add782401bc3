//! Token material: opaque secrets, ES256 signing keys and RFC 9068 access tokens, and the
//! key-encryption key that wraps every key kept in the database.

pub mod at_rest;
pub mod jwt;
pub mod kek;
pub mod keys;
pub mod sealing;
