//! People: password hashing and checking off the token path.

pub mod login_attempts;
pub mod password;
mod yielding_bcrypt;
