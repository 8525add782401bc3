//! What browsers meet: sealed session cookies and the HTML pages of the login and consent
//! steps.

pub mod pages;
pub mod session;
