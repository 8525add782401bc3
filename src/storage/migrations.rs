//! Migrations embedded in the binary, one folder per backend with identical names.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DbConnection, StorageError};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// An arbitrary constant naming gatehouse's migration lock on PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573;

/// Applies every pending migration, then the data steps SQL cannot do, and returns how many
/// migrations were applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<usize, StorageError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| StorageError::Migration(e.to_string());
    let applied = match conn {
        DbConnection::Sqlite(conn) => {
            // SQLite serialises writers itself; the busy timeout makes a second process wait.
            conn.run_pending_migrations(SQLITE).map_err(err)?.len()
        }
        DbConnection::Postgres(conn) => {
            // Instances starting side by side must not race through the same migration.
            conn.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
            let applied = conn
                .run_pending_migrations(POSTGRES)
                .map(|v| v.len())
                .map_err(err);
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))?;
            applied?
        }
    };
    // Usernames stored before they had a matching key get it now (Unicode NFKC needs Rust);
    // a collision stops `migrate` and `serve` with the names. Its transaction and the unique
    // index keep two instances doing this at once consistent.
    super::accounts::fill_username_keys(conn)?;
    Ok(applied)
}
