//! People: password hashing and checking off the token path.

pub mod password;
mod yielding_bcrypt;
