//! Every table whose rows expire is kept bounded (issue 14, item 5): each is filled with more
//! expired rows than one housekeeping run deletes, beside rows still alive, and the server's
//! background purge removes exactly the expired ones over a few runs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use gatehouse::storage::{Database, DbConnection, PoolOptions};

use crate::helpers::{on_both_backends, spawn_app_with};

/// Expired rows per table: more than three runs of the batch below.
const EXPIRED: usize = 700;
const BATCH: &str = "200";

fn connect(url: &str) -> DbConnection {
    let options = PoolOptions {
        max_connections: 1,
        busy_timeout_ms: 5000,
        connect_timeout: Duration::from_secs(5),
    };
    Database::connect_once(url, &options).unwrap()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut DbConnection, table: &str, condition: &str) -> i64 {
    diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE {condition}"
    ))
    .get_result::<Count>(conn)
    .unwrap()
    .n
}

/// A byte string literal in the backend's own syntax.
fn bytes(postgres: bool, tag: &str, i: usize) -> String {
    let hex: String = format!("{tag}{i:08}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    if postgres {
        format!("'\\x{hex}'::bytea")
    } else {
        format!("X'{hex}'")
    }
}

/// `INSERT INTO table VALUES …` for rows 0..n, 100 rows per statement.
fn insert(conn: &mut DbConnection, table: &str, n: usize, row: impl Fn(usize) -> String) {
    let rows: Vec<String> = (0..n).map(row).collect();
    for chunk in rows.chunks(100) {
        conn.batch_execute(&format!("INSERT INTO {table} VALUES {}", chunk.join(", ")))
            .unwrap();
    }
}

/// Each expiring table: its name, and the condition that picks the rows this test made
/// expired (`stale`) and alive (`live`).
struct Filled {
    table: &'static str,
    stale: String,
    live: String,
}

fn fill(conn: &mut DbConnection, postgres: bool, user: &str, client: &str) -> Vec<Filled> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (old, later) = (now - 200_000, now + 200_000);
    let long_ago = now - 100 * 86_400; // past every retention (events 90 days, addresses 30)
    let mut filled = Vec::new();
    let mut table = |table, stale: &str, live: &str| {
        filled.push(Filled {
            table,
            stale: stale.to_owned(),
            live: live.to_owned(),
        })
    };

    // Families past their absolute expiry, each with a token; one live family and token.
    insert(conn, "refresh_families", EXPIRED + 1, |i| {
        let expires = if i == EXPIRED { later } else { old };
        format!("('fam{i}', '{user}', '{client}', {old}, {expires}, NULL, NULL)")
    });
    table(
        "refresh_families",
        "id LIKE 'fam%' AND id <> 'fam700'",
        "id = 'fam700'",
    );
    insert(conn, "refresh_tokens", EXPIRED + 1, |i| {
        let expires = if i == EXPIRED { later } else { old };
        format!(
            "({}, 'fam{i}', '{user}', '{client}', 'a', {old}, {expires}, NULL, NULL)",
            bytes(postgres, "rt", i)
        )
    });
    table(
        "refresh_tokens",
        "family_id <> 'fam700'",
        "family_id = 'fam700'",
    );

    insert(conn, "revoked_access_tokens", EXPIRED + 1, |i| {
        let expires = if i == EXPIRED { later } else { old };
        format!("('jti{i}', {expires})")
    });
    table("revoked_access_tokens", "jti <> 'jti700'", "jti = 'jti700'");

    insert(conn, "spent_codes", EXPIRED + 1, |i| {
        let expires = if i == EXPIRED { later } else { old };
        format!("('req{i}', '{client}', '{user}', {old}, {expires}, NULL, NULL, NULL)")
    });
    table(
        "spent_codes",
        "request_id <> 'req700'",
        "request_id = 'req700'",
    );

    // The codes of the version before sealed codes.
    insert(conn, "authorization_codes", EXPIRED + 1, |i| {
        let (created, expires) = if i == EXPIRED {
            (now, later)
        } else {
            (long_ago, long_ago)
        };
        format!(
            "({}, '{client}', '{user}', 'https://app.example/cb', 'a', NULL, {created}, {expires}, \
             NULL, NULL, NULL, NULL, 'areq{i}', NULL, NULL)",
            bytes(postgres, "ac", i)
        )
    });
    table(
        "authorization_codes",
        "request_id <> 'areq700'",
        "request_id = 'areq700'",
    );

    insert(conn, "login_sessions", EXPIRED + 1, |i| {
        let expires = if i == EXPIRED { later } else { old };
        format!("('sess{i}', '{user}', {old}, {expires}, 'pwd')")
    });
    table(
        "login_sessions",
        "id LIKE 'sess%' AND id <> 'sess700'",
        "id = 'sess700'",
    );

    insert(
        conn,
        "security_events (at, kind, outcome, actor, client_id, ip, detail)",
        EXPIRED + 1,
        |i| {
            let at = if i == EXPIRED { now } else { long_ago };
            format!("({at}, 'filled', 'ok', 'event{i}', NULL, NULL, NULL)")
        },
    );
    table(
        "security_events",
        "kind = 'filled' AND actor <> 'event700'",
        "actor = 'event700'",
    );

    insert(conn, "throttles", EXPIRED + 1, |i| {
        let last = if i == EXPIRED { now } else { long_ago };
        format!("('filled:{i}', 3, {last}, NULL)")
    });
    table(
        "throttles",
        "key LIKE 'filled:%' AND key <> 'filled:700'",
        "key = 'filled:700'",
    );

    insert(conn, "known_login_addresses", EXPIRED + 1, |i| {
        let last = if i == EXPIRED { now } else { long_ago };
        format!("('{user}', '10.0.{}.{}', {last})", i / 256, i % 256)
    });
    table(
        "known_login_addresses",
        "ip <> '10.0.2.188'",
        "ip = '10.0.2.188'",
    );
    filled
}

on_both_backends! {
    async fn every_expiring_table_filled_with_expired_rows_is_emptied_of_them_and_keeps_the_live_ones(db) {
        let postgres = db.url.starts_with("postgres");
        let url = db.url.clone();
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_HOUSEKEEPING_INTERVAL_SECS", "1"),
            ("GATEHOUSE_HOUSEKEEPING_BATCH_SIZE", BATCH),
        ]).await;
        app.create_role("staff", &["a"]);
        let user = app.create_user("alice", "correct horse", &["staff"]);
        let client = app.first_party_client(&["a"]);
        let mut conn = connect(&url);
        let filled = fill(&mut conn, postgres, &user, &client.id);

        // A consent for a client that is then deleted goes with it.
        let gone = app.first_party_client(&["a"]);
        conn.batch_execute(&format!(
            "INSERT INTO consents VALUES ('{user}', '{}', 'a', 0, 'grant-of-a-deleted-client')",
            gone.id
        )).unwrap();
        assert!(app.cli(&["client", "delete", &gone.id]).status.success());

        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let left = |conn: &mut DbConnection| -> Vec<(&str, i64)> {
            filled.iter().map(|f| (f.table, count(conn, f.table, &f.stale))).filter(|(_, n)| *n > 0).collect()
        };
        let mut remaining = left(&mut conn);
        while !remaining.is_empty() && std::time::Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(250)).await;
            remaining = left(&mut conn);
        }
        assert!(remaining.is_empty(), "expired rows left: {remaining:?}");
        for f in &filled {
            assert_eq!(count(&mut conn, f.table, &f.live), 1, "the live row of {} stays", f.table);
        }
        assert_eq!(count(&mut conn, "consents", "grant_id = 'grant-of-a-deleted-client'"), 0);
    }
}

/// Instances on one PostgreSQL purge one at a time: while a run holds the housekeeping lock
/// (here the test holds it, as another instance's run would), no instance deletes anything;
/// once it is released, the next run does.
#[actix_web::test]
async fn on_postgres_no_instance_purges_while_another_run_holds_the_lock() {
    let Some(db) = crate::helpers::TestDb::postgres() else {
        return;
    };
    let url = db.url.clone();
    let settings = [
        ("GATEHOUSE_HOUSEKEEPING_INTERVAL_SECS", "1"),
        ("GATEHOUSE_HOUSEKEEPING_BATCH_SIZE", BATCH),
    ];
    let second = spawn_app_with(db.share(), &settings).await;
    let app = spawn_app_with(db, &settings).await;
    app.create_role("staff", &["a"]);
    let user = app.create_user("alice", "correct horse", &["staff"]);
    let client = app.first_party_client(&["a"]);

    let mut holder = connect(&url);
    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_lock({})",
            gatehouse::storage::housekeeping::PG_HOUSEKEEPING_LOCK
        ))
        .unwrap();
    let mut conn = connect(&url);
    let filled = fill(&mut conn, true, &user, &client.id);
    let expired = |conn: &mut DbConnection| -> i64 {
        filled.iter().map(|f| count(conn, f.table, &f.stale)).sum()
    };
    let all = expired(&mut conn);
    // Several runs of both instances come and go.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        expired(&mut conn),
        all,
        "nothing purged while the lock is held"
    );

    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_unlock({})",
            gatehouse::storage::housekeeping::PG_HOUSEKEEPING_LOCK
        ))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while expired(&mut conn) > 0 && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(expired(&mut conn), 0, "purged once the lock was free");
    drop(second);
}
