//! People: password hashing and checking off the token path.

pub mod login;
pub mod login_attempts;
pub mod password;
pub mod self_service;
mod thread_priority;
pub mod totp;
pub mod two_factor;

mod yielding_bcrypt;
