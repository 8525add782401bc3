//! One connection type for both backends and the r2d2 pool around it.
//!
//! The backend is chosen from the URL's scheme, never by trial: SQLite would accept almost
//! any string as a file name.

use std::path::Path;
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};

use super::{files, StorageError};

/// A connection to whichever database the configuration names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection, for the SQL Diesel's
/// multi-backend connection cannot build (`UNION`, `RETURNING`): the same query, once per
/// backend.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::storage::DbConnection::Sqlite($c) => $body,
            $crate::storage::DbConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// The pool every request and command draws connections from.
pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// A database URL, parsed once at the edge.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file.
    SqliteFile(String),
    /// A private in-memory SQLite database (lives as long as the pool's one connection).
    SqliteMemory,
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    // The PostgreSQL URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::SqliteFile(path) => write!(f, "sqlite://{path}"),
            DatabaseUrl::SqliteMemory => f.write_str("sqlite::memory:"),
            DatabaseUrl::Postgres(_) => f.write_str("postgres://…"),
        }
    }
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, StorageError> {
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StorageError::BadUrl("sqlite URL names no file".into()));
            }
            return Ok(DatabaseUrl::SqliteFile(path.to_owned()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
        Err(StorageError::BadUrl(format!(
            "unsupported database URL scheme `{scheme}`: use sqlite://PATH, sqlite::memory: or postgres://USER:PASS@HOST:PORT/DB"
        )))
    }
}

/// Opens connections for r2d2 (and for one-shot commands), applying SQLite's
/// per-connection settings.
pub struct ConnectionManager {
    url: DatabaseUrl,
    busy_timeout_ms: u64,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl, busy_timeout_ms: u64) -> Self {
        ConnectionManager {
            url,
            busy_timeout_ms,
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::SqliteFile(path) => {
                let mut conn = diesel::SqliteConnection::establish(path)
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout makes writers wait
                // for each other (other instances, the admin CLI) instead of failing at once.
                // Checkpoints are the server's (`checkpoint_wal`, every 200 ms): SQLite's own
                // runs inside the commit that crosses 1,000 pages, holding the write lock, so
                // every writer waited behind it. Its automatic one stays only as a safety net,
                // at 10,000 pages, for when the server's falls behind (a saturated pool) or no
                // server runs (the last connection to close checkpoints too).
                // The busy timeout first: switching to WAL takes a lock too, and without
                // it a connection opened while another process writes (a CLI command beside
                // the server) failed at once with "database is locked".
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA wal_autocheckpoint = 10000;",
                    self.busy_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::SqliteMemory => {
                let mut conn = diesel::SqliteConnection::establish(":memory:")
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute("PRAGMA foreign_keys = ON;")
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn =
                    diesel::PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.set_instrumentation(LossWatch::default());
                Ok(DbConnection::Postgres(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken() || LossWatch::saw_loss(conn)
    }
}

/// Remembers that a connection was lost under a query (PostgreSQL restarted, the network
/// cut it). Diesel calls a connection broken only when a transaction failed, and checkouts
/// are not pinged, so a dead connection that failed a lone query went back to the pool and
/// failed every request that drew it ("no connection to the server") until it idled out:
/// service did not come back after an outage. The pool now drops it when it is returned.
#[derive(Default)]
struct LossWatch {
    lost: bool,
}

impl LossWatch {
    fn saw_loss(conn: &mut DbConnection) -> bool {
        conn.instrumentation()
            .downcast_ref::<LossWatch>()
            .is_some_and(|watch| watch.lost)
    }
}

impl Instrumentation for LossWatch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery {
            error: Some(error), ..
        } = event
        {
            self.lost |= is_connection_loss(error);
        }
    }
}

/// Whether a query failed because its connection is gone, not because of the query.
pub(super) fn is_connection_loss(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(kind, info) => {
            matches!(
                kind,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
            ) || {
                // PostgreSQL shutting down or restarting (SQLSTATE 57P01–57P03), whose
                // message is all Diesel passes on.
                let message = info.message();
                message.contains("terminating connection")
                    || message.contains("the database system is")
                    || message.contains("server closed the connection")
            }
        }
        _ => false,
    }
}

/// Pool settings taken from the configuration.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
    pub connect_timeout: Duration,
}

/// How often the server copies SQLite's write-ahead log into the database file. A passive
/// checkpoint takes no write lock: writers go on beside it.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A passive checkpoint of a SQLite database's write-ahead log; nothing on PostgreSQL.
pub fn checkpoint_wal(conn: &mut DbConnection) -> Result<(), StorageError> {
    match conn {
        DbConnection::Sqlite(conn) => Ok(conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?),
        DbConnection::Postgres(_) => Ok(()),
    }
}

/// Builds the pool and proves the database answers, so a bad URL or an unreachable server is
/// a clear error at start rather than a failure on the first request.
pub fn build_pool(url: &DatabaseUrl, options: &PoolOptions) -> Result<DbPool, StorageError> {
    if let DatabaseUrl::SqliteFile(path) = url {
        prepare_sqlite_file(path)?;
    }
    let manager = ConnectionManager {
        url: url.clone(),
        busy_timeout_ms: options.busy_timeout_ms,
    };
    // Connect once directly, so the first real error is what we report, not a pool timeout.
    drop(
        manager
            .connect()
            .map_err(|e| StorageError::Unreachable(e.to_string()))?,
    );
    // No ping on every checkout: it would double the queries of a token request. A
    // connection that fails is marked broken by Diesel and dropped when returned, and
    // `/readyz` pings explicitly.
    let builder = r2d2::Pool::builder()
        .connection_timeout(options.connect_timeout)
        .test_on_check_out(false);
    let builder = match url {
        // An in-memory database exists only inside its one connection: keep exactly one,
        // forever.
        DatabaseUrl::SqliteMemory => builder
            .max_size(1)
            .min_idle(Some(1))
            .idle_timeout(None)
            .max_lifetime(None),
        // No connection is kept in reserve: r2d2 would open one in the background whenever
        // the idle count fell below a minimum, and a process that exits (a `serve` refused
        // at start) while libpq is mid-handshake crashed in OpenSSL's exit cleanup. This
        // makes that rare rather than impossible (a checkout that times out still leaves a
        // connect running). Connections open on demand and close after 10 idle minutes.
        _ => builder
            .max_size(options.max_connections.max(1))
            .min_idle(Some(0)),
    };
    Ok(builder.build_unchecked(manager))
}

/// Makes a SQLite database private before SQLite first opens it: its folder (0700 when
/// gatehouse creates it, so `sqlite://data/gatehouse.db` works on a fresh checkout) and
/// the file itself, created 0600 (SQLite gives its `-wal` and `-shm` files the database's
/// mode). An existing file, and its `-wal` and `-shm`, readable by others is tightened to
/// 0600: the database holds password hashes and wrapped keys.
pub fn prepare_sqlite_file(path: &str) -> Result<(), StorageError> {
    let file = Path::new(path);
    let failed = |what: &Path, e: std::io::Error| {
        StorageError::Unreachable(format!("{}: {e}", what.display()))
    };
    files::create_private_parent(file).map_err(|e| failed(file, e))?;
    files::create_private_empty(file).map_err(|e| failed(file, e))?;
    for companion in ["", "-wal", "-shm"] {
        let path = Path::new(&format!("{path}{companion}")).to_path_buf();
        if files::restrict_to_owner(&path).map_err(|e| failed(&path, e))? {
            tracing::warn!(file = %path.display(), "the database file was readable by others: now 0600");
        }
    }
    Ok(())
}
