//! Storage: the pooled connection to SQLite or PostgreSQL, embedded migrations, and one
//! repository module per aggregate.
//!
//! Diesel is synchronous, so every query from the server runs on the blocking pool through
//! [`Database::run`]; the admin CLI calls [`Database::run_blocking`] directly.

pub mod accounts;
pub mod backup;
pub mod clients;
pub mod connection;
pub mod consents;
pub mod files;
pub mod housekeeping;
pub mod known_addresses;
pub mod login_sessions;
pub mod migrations;
pub mod refresh_tokens;
pub mod roles;
pub mod schema;
pub mod sealing_keys;
pub mod security_events;
pub mod signing_keys;
pub mod spent_codes;
pub mod throttles;
pub mod two_factor;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

pub use connection::{DatabaseUrl, DbConnection, DbPool, PoolOptions};

/// What can go wrong below the OAuth layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("applying migrations failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the blocking thread pool is shut down")]
    Canceled,
}

/// A handle to the database, cheap to clone into every request.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    /// The server's metrics: the pool's wait, and the security events recorded in `run`.
    metrics: Option<Arc<Metrics>>,
}

impl Database {
    /// Opens the pool, checks the database answers and applies pending migrations.
    pub fn open(url: &str, options: &PoolOptions) -> Result<Self, StorageError> {
        let url = DatabaseUrl::parse(url)?;
        let pool = connection::build_pool(&url, options)?;
        let db = Database {
            pool,
            metrics: None,
        };
        db.run_blocking(migrations::run_pending)?;
        Ok(db)
    }

    /// One connection without a pool, migrations applied: for one-shot commands.
    ///
    /// A pool opens connections on background threads; a process that exits while one of
    /// them is in libpq's TLS handshake crashes in OpenSSL's exit handler. A command that
    /// holds its only connection on its own thread closes it before it exits.
    pub fn connect_once(url: &str, options: &PoolOptions) -> Result<DbConnection, StorageError> {
        use diesel::r2d2::ManageConnection;
        let url = DatabaseUrl::parse(url)?;
        if let DatabaseUrl::SqliteFile(path) = &url {
            connection::prepare_sqlite_file(path)?;
        }
        let mut conn = connection::ConnectionManager::new(url, options.busy_timeout_ms)
            .connect()
            .map_err(|e| StorageError::Unreachable(e.to_string()))?;
        migrations::run_pending(&mut conn)?;
        Ok(conn)
    }

    /// Runs `f` with a pooled connection on the blocking pool, off the async workers.
    pub async fn run<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (pool, metrics) = (self.pool.clone(), self.metrics.clone());
        actix_web::web::block(move || {
            let waiting = Instant::now();
            let conn = pool.get();
            if let Some(m) = &metrics {
                m.pool_waited(waiting.elapsed());
            }
            let mut conn = conn.map_err(StorageError::from)?;
            Metrics::scope(metrics.as_ref(), || f(&mut conn))
        })
        .await
        .map_err(|_| E::from(StorageError::Canceled))?
    }

    /// This handle, reporting to `metrics` (a server's; the CLI's handles report nothing).
    pub fn observed_by(self, metrics: Arc<Metrics>) -> Self {
        Database {
            metrics: Some(metrics),
            ..self
        }
    }

    /// The pool now: connections open, and how many of them are idle; and its maximum.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let state = self.pool.state();
        (
            state.connections,
            state.idle_connections,
            self.pool.max_size(),
        )
    }

    /// Runs `f` on the calling thread: for the CLI and for code already on the blocking pool.
    pub fn run_blocking<F, T>(&self, f: F) -> Result<T, StorageError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StorageError>,
    {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// A connection for code that is already on the blocking pool.
    pub fn connection(&self) -> Result<connection::PooledConnection, StorageError> {
        Ok(self.pool.get()?)
    }

    /// Answers whether the database responds within `timeout` (for `/readyz`).
    pub fn ping(&self, timeout: Duration) -> Result<(), StorageError> {
        use diesel::r2d2::R2D2Connection;
        let mut conn = self.pool.get_timeout(timeout)?;
        conn.ping()?;
        Ok(())
    }
}

/// A transaction's own failure (begin, commit), as any storage failure.
impl From<diesel::result::Error> for crate::domain::OAuthError {
    fn from(e: diesel::result::Error) -> Self {
        StorageError::from(e).into()
    }
}

/// What a client is told to wait when the database is unavailable, in seconds: the same
/// wait a bearer token's holder is told when its token cannot be checked for that reason.
pub const UNAVAILABLE_RETRY_AFTER_SECS: i64 =
    gatehouse_resource::UNAVAILABLE_RETRY_AFTER_SECS as i64;

impl StorageError {
    /// The database could not be reached or did not answer in time: down, restarting, every
    /// pooled connection busy past the pool's wait, or SQLite's lock held past its busy
    /// timeout. Worth a retry in a moment, unlike a failure of the query or the data.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Unreachable(_) | StorageError::Pool(_) | StorageError::Canceled => true,
            StorageError::Query(e) => {
                connection::is_connection_loss(e) || {
                    // SQLite past its busy timeout.
                    use diesel::result::Error;
                    matches!(e, Error::DatabaseError(_, info)
                        if info.message().contains("database is locked"))
                }
            }
            _ => false,
        }
    }
}

/// A storage failure is a server error (500), or, when the database is unavailable, a 503
/// with `Retry-After`; either way its cause goes to the request's log line.
impl From<StorageError> for crate::domain::OAuthError {
    fn from(e: StorageError) -> Self {
        if e.is_unavailable() {
            return crate::domain::OAuthError::database_unavailable(
                UNAVAILABLE_RETRY_AFTER_SECS,
                &e,
            );
        }
        crate::domain::OAuthError::server_error(&e)
    }
}
