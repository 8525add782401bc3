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
    /// A consistent copy of a SQLite database, taken while servers keep running (for
    /// PostgreSQL, README.md's "Backups" gives the pg_dump routine).
    Backup {
        /// The file to write: made beside PATH and moved into place only once whole and
        /// checked.
        path: PathBuf,
        /// Replace PATH if it exists.
        #[arg(long)]
        force: bool,
    },
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
    /// The apps each user has approved.
    #[command(subcommand)]
    Consent(ConsentCommand),
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
    /// List roles, their scopes and how many users hold each.
    List,
    /// Show one role.
    Show { name: String },
    /// Add scopes to a role and take scopes away; its users' next tokens follow.
    Update {
        name: String,
        /// A scope to allow (repeat the flag for more).
        #[arg(long = "add-scope", value_name = "S")]
        add: Vec<String>,
        /// A scope to stop allowing (repeat the flag for more).
        #[arg(long = "remove-scope", value_name = "S")]
        remove: Vec<String>,
    },
    /// Delete a role; the users holding it lose it.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// The apps a user has approved, and for which scopes.
    List {
        /// A username or a user id.
        user: String,
    },
    /// Withdraw a user's consent for a client: the app must ask again, and its refresh
    /// tokens for the user stop working.
    Revoke {
        /// A username or a user id.
        user: String,
        client: String,
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
    /// List users in username order (a page at a time).
    List {
        /// Only usernames starting with this (without regard to case).
        #[arg(long, value_name = "PREFIX")]
        search: Option<String>,
        /// The page after this cursor (the `next` of the page before).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// At most this many users (1 to 500; default 50).
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        limit: Option<i64>,
    },
    /// Show one user (USER is a username or a user id, here and below).
    Show { user: String },
    /// Change a user's email address or name (an empty value clears it).
    Update {
        user: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Stop a user signing in; ends their sessions and refresh tokens.
    Disable { user: String },
    /// Let a disabled user sign in again.
    Enable { user: String },
    /// Delete a user and everything of theirs.
    Delete { user: String },
    /// Set a user's password, read like `user create` reads it; ends their sessions and
    /// refresh tokens.
    SetPassword { user: String },
    /// Give a user a role.
    AddRole { user: String, role: String },
    /// Take a role from a user.
    RemoveRole { user: String, role: String },
    /// A user's live browser sessions.
    Sessions { user: String },
    /// Sign a user out everywhere: every browser session and refresh token.
    RevokeSessions { user: String },
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
    /// Change a client: each option given replaces what is registered.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// The redirect URIs (repeat the flag for more; replaces them all).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Option<Vec<String>>,
        /// The post-logout redirect URIs (repeat the flag for more; replaces them all).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Option<Vec<String>>,
        /// Remove every post-logout redirect URI.
        #[arg(long, conflicts_with = "post_logout_redirect_uris")]
        clear_post_logout_redirect_uris: bool,
        /// The grant types (repeat the flag for more; replaces them all).
        #[arg(long = "grant-type", value_name = "GT")]
        grant_types: Option<Vec<String>>,
        /// The scopes it may request (repeat the flag for more; replaces them all; `''`
        /// for none).
        #[arg(long = "scope", value_name = "S")]
        scopes: Option<Vec<String>>,
        /// Whether it may introspect every client's tokens.
        #[arg(long, value_name = "true|false")]
        introspect: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and whether each is signing, next (published, signing from a set
    /// time), retired (still published) or expired.
    List,
    /// The emergency rotation: a new key that signs at once (keys otherwise rotate on
    /// tokens.key_rotation_period_secs); the others, a scheduled next key too, stop signing
    /// and stay published until their tokens expire.
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
