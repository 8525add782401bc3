//! The HTTP edge below the routes: how errors become responses, the headers every answer
//! carries, sealed session cookies and the HTML pages of the login and consent steps.

pub mod errors;
pub mod headers;
pub mod pages;
pub mod session;
