//! What browsers meet: sealed session cookies and the HTML pages of the login and consent
//! steps.

pub mod csrf;
pub mod flow;
pub mod pages;
pub mod paths;
pub mod session;
