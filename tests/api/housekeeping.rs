//! Expired refresh tokens, families and revocation records are purged in the background.

use std::time::Duration;

use diesel::prelude::*;
use gatehouse::storage::schema::{refresh_families, refresh_tokens, revoked_access_tokens};
use gatehouse::storage::{Database, PoolOptions};

use crate::helpers::{on_both_backends, spawn_app_with};

fn counts(url: &str) -> (i64, i64, i64) {
    let options = PoolOptions {
        max_connections: 1,
        busy_timeout_ms: 5000,
        connect_timeout: Duration::from_secs(5),
    };
    let mut conn = Database::connect_once(url, &options).unwrap();
    (
        refresh_tokens::table.count().get_result(&mut conn).unwrap(),
        refresh_families::table
            .count()
            .get_result(&mut conn)
            .unwrap(),
        revoked_access_tokens::table
            .count()
            .get_result(&mut conn)
            .unwrap(),
    )
}

/// The row counts once the background purge has emptied the tables, or after 10 s.
async fn purged_within_10s(url: &str) -> (i64, i64, i64) {
    let mut seen = counts(url);
    for _ in 0..100 {
        if seen == (0, 0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = counts(url);
    }
    seen
}

on_both_backends! {
    async fn expired_rows_are_purged_in_the_background(db) {
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_HOUSEKEEPING_INTERVAL_SECS", "1"),
            ("GATEHOUSE_HOUSEKEEPING_BATCH_SIZE", "2"),
            ("GATEHOUSE_TOKENS_REFRESH_TOKEN_IDLE_TTL_SECS", "100"),
            ("GATEHOUSE_TOKENS_REFRESH_TOKEN_ABSOLUTE_TTL_SECS", "200"),
        ]).await;
        app.create_role("staff", &["a"]);
        app.create_user("alice", "correct horse", &["staff"]);
        let client = app.first_party_client(&["a"]);
        for _ in 0..3 {
            let login: serde_json::Value = app.password_grant(&client, "alice", "correct horse", None).await.json().await.unwrap();
            app.refresh(&client, login["refresh_token"].as_str().unwrap(), None).await;
        }
        let api = app.service_client(&["x"]);
        let token = app.client_credentials(&api).await;
        app.revoke(&api, token["access_token"].as_str().unwrap()).await;
        assert_eq!(counts(&app.db.url), (6, 3, 1));

        app.clock.advance(1_000);

        let seen = purged_within_10s(&app.db.url).await;
        assert_eq!(seen, (0, 0, 0), "(tokens, families, revoked access tokens) left");
    }

    async fn a_revoked_family_goes_once_its_access_tokens_have_expired(db) {
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_HOUSEKEEPING_INTERVAL_SECS", "1"),
            ("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS", "60"),
        ]).await;
        app.create_role("staff", &["a"]);
        app.create_user("alice", "correct horse", &["staff"]);
        let client = app.first_party_client(&["a"]);
        let login: serde_json::Value = app.password_grant(&client, "alice", "correct horse", None).await.json().await.unwrap();
        app.revoke(&client, login["refresh_token"].as_str().unwrap()).await;

        // Still kept while the session's access token could be alive (60 s + 60 s leeway).
        app.clock.advance(100);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(counts(&app.db.url).1, 1);

        // Long before the 90-day absolute expiry, but after every access token expired.
        app.clock.advance(30);
        let seen = purged_within_10s(&app.db.url).await;
        assert_eq!(seen, (0, 0, 0));
    }
}

/// SQLite's write-ahead log is copied into the database file by the server, off the request
/// path (SQLite's own waits for 10,000 pages): within a few seconds, the file alone holds
/// what the server wrote.
#[actix_web::test]
async fn the_server_checkpoints_sqlites_write_ahead_log() {
    let app = spawn_app_with(crate::helpers::TestDb::sqlite(), &[]).await;
    app.create_role("staff", &["a"]);
    app.create_user("alice", "correct horse", &["staff"]);
    let client = app.first_party_client(&["a"]);
    // Written by the server's own connections, which stay open.
    for _ in 0..3 {
        let res = app
            .password_grant(&client, "alice", "correct horse", None)
            .await;
        assert_eq!(res.status(), 200);
    }
    let file = app.db.url.trim_start_matches("sqlite://").to_owned();
    let copy_dir = tempfile::tempdir().unwrap();
    let mut families = 0;
    for _ in 0..50 {
        // The database file without its -wal: what a checkpoint has already copied.
        let copy = copy_dir.path().join("copy.db");
        let _ = std::fs::remove_file(copy_dir.path().join("copy.db-wal"));
        std::fs::copy(&file, &copy).unwrap();
        let mut conn = SqliteConnection::establish(copy.to_str().unwrap()).unwrap();
        // Before any checkpoint even the tables are only in the log.
        families = refresh_families::table
            .count()
            .get_result(&mut conn)
            .unwrap_or(0);
        if families == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(families, 3, "refresh families in the database file alone");
}
