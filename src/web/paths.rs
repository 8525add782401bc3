//! The browser pages' URLs, which the pages link to one another (SPEC.md names them).

pub const AUTHORIZE_PATH: &str = "/authorize";
/// Where a login sends the browser on with the pending authorization.
pub const RESUME_PATH: &str = "/authorize/resume";
pub const LOGIN_PATH: &str = "/login";
pub const LOGOUT_PATH: &str = "/logout";
/// RP-Initiated Logout 1.0's `end_session_endpoint`, and where its question posts.
pub const END_SESSION_PATH: &str = "/end_session";
pub const END_SESSION_CONFIRM_PATH: &str = "/end_session/confirm";
pub const SECOND_FACTOR_PATH: &str = "/login/totp";
pub const CONSENT_PATH: &str = "/consent";
pub const ACCOUNT_PATH: &str = "/account/security";
/// Where the account page's forms post (self-service).
pub const ACCOUNT_PASSWORD_PATH: &str = "/account/password";
pub const ACCOUNT_REVOKE_APP_PATH: &str = "/account/apps/revoke";
pub const ACCOUNT_SIGN_OUT_EVERYWHERE_PATH: &str = "/account/sign-out-everywhere";
pub const ACCOUNT_TWO_STEP_OFF_PATH: &str = "/account/two-step/off";
pub const ACCOUNT_RECOVERY_CODES_PATH: &str = "/account/recovery-codes";

/// The login page's "to continue to …" when signing in to one's own account.
pub fn account_name() -> String {
    super::brand::with_current(|b| format!("your {} account", b.name))
}

/// The admin console, its pages under it.
pub const CONSOLE_PATH: &str = "/admin";
pub const CONSOLE_CLIENTS_PATH: &str = "/admin/clients";
pub const CONSOLE_ROLES_PATH: &str = "/admin/roles";
/// The login form's `next` for a login that leads to the console.
pub const CONSOLE_NEXT: &str = "console";
/// The login page's "to continue to …" for the console.
pub fn console_name() -> String {
    super::brand::with_current(|b| format!("the {} admin console", b.name))
}
