//! One integration-test binary: every test starts the real server on 127.0.0.1 against a
//! fresh database and talks HTTP to it, or runs the real CLI.

mod abuse_limits;
mod browser;
mod brute_force;
mod chromium;
mod chromium_admin;
mod helpers;

#[path = "../../examples/bookshop.rs"]
mod bookshop;
#[path = "../../examples/openid_app.rs"]
mod openid_app;

mod accounts;
mod admin_api;
mod admin_cli;
mod authorization_code;
mod backup;
mod bad_input;
mod branding;
mod cli;
mod cli_robustness;
mod client_cache;
mod client_credentials;
mod console;
mod cors;
mod database_outage;
mod discovery;
mod events;
mod fleet;
mod housekeeping;
mod housekeeping_fill;
mod introspection;
mod key_encryption;
mod key_schedule;
mod keys;
mod logging;
mod metrics;
mod openid;
mod openid_rp;
mod overload;
mod password_grant;
mod pending_authorization;
mod primitives;
mod refresh_tokens;
mod registration;
mod resource;
mod round_trips;
mod sealed_codes;
mod self_service;
mod shutdown;
mod signature_malleability;
mod two_factor;
mod usernames;
