//! The HTTP edge below the routes: how errors become responses, the headers every answer
//! carries, the CSRF form guard, the browser URLs, sealed session cookies and the HTML pages
//! of the login and consent steps. What two routes share lives here, never in a route.

pub mod brand;
pub mod cors;
pub mod csrf;
pub mod errors;
pub mod flow;
pub mod headers;
pub mod pages;
pub mod paths;
pub mod session;
