//! The command line of SPEC.md as clap types.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "A standalone OAuth 2.0 authorization server"
)]
pub struct Cli {
    /// A TOML file overriding config/default.toml (environment variables override both).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print exactly one JSON object or array on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Register and manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// List and rotate signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Roles and the scopes they allow.
    #[command(subcommand)]
    Role(RoleCommand),
    /// User accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The security event log, oldest first (at most the newest --limit events).
    Events {
        /// Only events of this user: a username or a user id (both find the user's own
        /// successes, stored under the id, and failures, stored under the name typed), or
        /// "admin" for the CLI.
        #[arg(long, value_name = "U")]
        user: Option<String>,
        /// Only events at or after T: unix seconds, RFC 3339 (2026-11-23T10:00:00Z), or an
        /// age such as 30m, 12h or 7d.
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// At most this many events, the newest (0 prints none).
        #[arg(
            long,
            value_name = "N",
            default_value_t = 1000,
            allow_negative_numbers = true
        )]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role that allows the given scopes.
    Create {
        name: String,
        /// A scope this role allows (repeat the flag for more).
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; reads the password as one line from stdin (at a terminal: asks twice,
    /// without echo).
    Create {
        username: String,
        /// A role the user holds (repeat the flag for more).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// The user's email address (the OpenID Connect `email` claim).
        #[arg(long)]
        email: Option<String>,
        /// The user's full name (the OpenID Connect `name` claim).
        #[arg(long)]
        name: Option<String>,
    },
    /// The TOTP second factor.
    #[command(subcommand)]
    Totp(TotpCommand),
}

#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Turn TOTP on for a user; prints `secret` (base32), `otpauth_uri` and recovery codes, once.
    Enable {
        username: String,
        /// Replace the secret and recovery codes of a user who already has TOTP on (their
        /// authenticator app stops working).
        #[arg(long)]
        force: bool,
    },
    /// Turn TOTP off for a user (a lost phone, with the recovery codes gone too).
    Disable { username: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and, for confidential clients, its secret (once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where the end-session endpoint may send the browser after signing out (RP-Initiated
        /// Logout; repeat the flag for more).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// authorization_code, client_credentials, password or refresh_token
        /// (default: authorization_code and refresh_token).
        #[arg(long = "grant-type", value_name = "GT")]
        grant_types: Vec<String>,
        /// A scope the client may request (repeat the flag for more).
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        /// A public client: no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Let the client (an API) introspect every client's tokens, not only its own.
        #[arg(long)]
        introspect: bool,
    },
    /// List registered clients.
    List,
    /// Show one client.
    Show { id: String },
    /// Delete a client.
    Delete { id: String },
    /// Replace a client's secret; prints the new one (once).
    RotateSecret { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and whether each is current, published or expired.
    List,
    /// Make a new current key; the old one stays published until its tokens expire.
    Rotate,
    /// Re-wrap every stored key under a new key-encryption key, in one transaction; then
    /// point every instance's configuration at the new key and restart them all.
    Rewrap {
        /// The new key's file: used if it holds a key, made (0600, a fresh random key) if
        /// it does not exist.
        #[arg(long, value_name = "PATH")]
        new_key_file: PathBuf,
    },
}
