//! Migrations embedded in the binary, one folder per backend with identical names.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DbConnection, StorageError};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// An arbitrary constant naming gatehouse's start-up lock on PostgreSQL.
const PG_START_LOCK: i64 = 0x6761_7465_686f_7573;

/// Runs `f` while no other gatehouse starting on this PostgreSQL database runs its own `f`:
/// instances started side by side take turns for what the first start creates (the
/// migrations, then the first signing and sealing keys), so the second finds what the first
/// made instead of racing it through the same migration or making keys of its own. On SQLite
/// `f` runs as it is: SQLite's write lock (and its busy timeout) serialises the migrations,
/// and a fleet of instances shares PostgreSQL, not a SQLite file.
pub fn one_start_at_a_time<T, E: From<StorageError>>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    if !matches!(conn, DbConnection::Postgres(_)) {
        return f(conn);
    }
    conn.batch_execute(&format!("SELECT pg_advisory_lock({PG_START_LOCK})"))
        .map_err(StorageError::from)?;
    let done = f(conn);
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({PG_START_LOCK})"))
        .map_err(StorageError::from)?;
    done
}

/// Applies every pending migration, then the data steps SQL cannot do, and returns how many
/// migrations were applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<usize, StorageError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| StorageError::Migration(e.to_string());
    let applied = one_start_at_a_time(conn, |conn| {
        match conn {
            DbConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE).map(|v| v.len()),
            DbConnection::Postgres(conn) => conn.run_pending_migrations(POSTGRES).map(|v| v.len()),
        }
        .map_err(err)
    })?;
    // Usernames stored before they had a matching key get it now (Unicode NFKC needs Rust);
    // a collision stops `migrate` and `serve` with the names. Its transaction and the unique
    // index keep two instances doing this at once consistent.
    super::accounts::fill_username_keys(conn)?;
    Ok(applied)
}
