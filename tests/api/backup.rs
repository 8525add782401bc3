//! `gatehouse backup PATH`: an online copy of a SQLite database, restored and used by a
//! second server; and every refusal, each leaving nothing behind.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::Text;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::{cli, spawn_app_with, Registered, TestApp, TestDb};

const ISSUER: &str = "https://gatehouse.test";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The live database's file, from its `sqlite://` URL.
fn live_path(app: &TestApp) -> PathBuf {
    PathBuf::from(
        app.db
            .url
            .strip_prefix("sqlite://")
            .expect("a SQLite test database"),
    )
}

/// The names in a folder, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `PRAGMA integrity_check` of a file, read by the test itself.
fn integrity_check(path: &Path) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).expect("open the copy");
    let rows: Vec<Row> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .expect("integrity_check");
    rows.into_iter().map(|r| r.integrity_check).collect()
}

/// Verifies `token` with the JWKS `app` publishes (at its own address), for the shared issuer.
async fn verifies_with_jwks_of(app: &TestApp, token: &str) -> Value {
    let jwks: JwkSet = app.get_json("/.well-known/jwks.json").await;
    let header = jsonwebtoken::decode_header(token).expect("JWT header");
    let kid = header.kid.expect("kid");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS of {}", app.address));
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[ISSUER]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the token verifies with this JWKS")
        .claims
}

async fn token_json(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.expect("token JSON")
}

/// Password grants (each a new refresh family and a login event) and client-credentials
/// tokens, one after another until `stop`; counts the ones the server acknowledged.
fn keep_writing(
    app: Arc<TestApp>,
    app_client: Registered,
    service: Registered,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let res = app
                .password_grant(&app_client, "alice", "correct horse battery", None)
                .await;
            assert_eq!(res.status(), 200, "a login failed during the backup");
            acknowledged.fetch_add(1, Ordering::SeqCst);
            app.client_credentials(&service).await;
        }
    })
}

#[actix_web::test]
async fn a_backup_taken_under_writes_restores_to_a_working_server() {
    let app = Arc::new(spawn_app_with(TestDb::sqlite(), &[("GATEHOUSE_ISSUER", ISSUER)]).await);
    app.create_role("reader", &["reports:read"]);
    app.create_user("alice", "correct horse battery", &["reader"]);
    let app_client = app.first_party_client(&["reports:read"]);
    let service = app.service_client(&["reports:read"]);
    let login = token_json(
        app.password_grant(&app_client, "alice", "correct horse battery", None)
            .await,
    )
    .await;
    let refresh_token = login["refresh_token"].as_str().unwrap().to_owned();
    let user_token = login["access_token"].as_str().unwrap().to_owned();
    let service_token = app.client_credentials(&service).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let writer = keep_writing(
        app.clone(),
        Registered {
            id: app_client.id.clone(),
            secret: app_client.secret.clone(),
        },
        Registered {
            id: service.id.clone(),
            secret: service.secret.clone(),
        },
        stop.clone(),
        acknowledged.clone(),
    );
    while acknowledged.load(Ordering::SeqCst) < 5 {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    // A backup takes a fraction of a second: on a busy machine one may begin and end
    // between two acknowledged writes, so the test takes another (--force) until one had
    // writes acknowledged while it ran.
    let mut attempts = 0;
    let (out, before, after) = loop {
        attempts += 1;
        let before = acknowledged.load(Ordering::SeqCst);
        let out = app
            .cli_in_background(&["backup", copy.to_str().unwrap(), "--force", "--json"])
            .await
            .unwrap();
        let after = acknowledged.load(Ordering::SeqCst);
        assert!(out.status.success(), "backup failed: {}", stderr(&out));
        if after > before || attempts == 20 {
            break (out, before, after);
        }
    };
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("the writer saw no failure");

    assert!(
        after > before,
        "no write was acknowledged while any of {attempts} backups ran"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["backup"]["integrity_check"], "ok");
    assert_eq!(report["backup"]["path"], copy.display().to_string());
    assert_eq!(
        report["backup"]["bytes"].as_u64().unwrap(),
        std::fs::metadata(&copy).unwrap().len()
    );
    let families = report["backup"]["tables"]["refresh_families"]
        .as_i64()
        .unwrap();
    // The first login and every one acknowledged before the backup started are in the copy.
    let first_login = 1;
    assert!(
        families >= first_login + before as i64,
        "{families} families, {before} acknowledged before"
    );
    // The reminder names where the key is, never the key itself.
    let kek_file = format!("{}.kek", live_path(&app).display());
    let kek = std::fs::read_to_string(&kek_file).unwrap();
    assert_eq!(report["key_encryption_key"]["file"], kek_file);
    assert_eq!(report["key_encryption_key"]["in_backup"], false);
    assert!(report["reminder"].as_str().unwrap().contains(&kek_file));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(kek.trim()));
    // One private file, nothing else left beside it.
    assert_eq!(listing(dir.path()), vec!["copy.db"]);
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(integrity_check(&copy), vec!["ok"]);

    // A second server on the copy, with the same key-encryption key.
    let mut restored_db = app.db.share();
    restored_db.url = format!("sqlite://{}", copy.display());
    let restored = spawn_app_with(
        restored_db,
        &[
            ("GATEHOUSE_ISSUER", ISSUER),
            ("GATEHOUSE_KEYS_ENCRYPTION_KEY_FILE", &kek_file),
        ],
    )
    .await;

    // The client's secret, the user's password and the refresh token still work...
    let fresh_service = restored.client_credentials(&service).await;
    token_json(
        restored
            .password_grant(&app_client, "alice", "correct horse battery", None)
            .await,
    )
    .await;
    let refreshed = token_json(restored.refresh(&app_client, &refresh_token, None).await).await;
    assert!(refreshed["refresh_token"].is_string());
    // ...and the signing key is the one in the copy: tokens issued before verify against the
    // restored server's JWKS, and its new tokens against the original's.
    let claims = verifies_with_jwks_of(&restored, &user_token).await;
    assert_eq!(claims["client_id"], app_client.id);
    verifies_with_jwks_of(&restored, &service_token).await;
    verifies_with_jwks_of(&app, fresh_service["access_token"].as_str().unwrap()).await;
    verifies_with_jwks_of(&app, refreshed["access_token"].as_str().unwrap()).await;
}

#[actix_web::test]
async fn the_text_answer_names_the_copy_its_size_and_the_key_to_keep() {
    let app = spawn_app_with(TestDb::sqlite(), &[]).await;
    app.service_client(&["a"]);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("nightly.db");

    let out = app.cli(&["backup", copy.to_str().unwrap()]);

    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let size = std::fs::metadata(&copy).unwrap().len();
    assert!(text.contains(&copy.display().to_string()), "{text}");
    assert!(text.contains(&format!("({size} bytes)")), "{text}");
    assert!(text.contains("integrity_check ok"), "{text}");
    assert!(text.contains("clients 1"), "{text}");
    assert!(
        text.contains(&format!("{}.kek", live_path(&app).display())),
        "{text}"
    );
    assert!(text.contains("back it up apart"), "{text}");
}

#[actix_web::test]
async fn force_replaces_an_existing_file_with_a_whole_copy() {
    let app = spawn_app_with(TestDb::sqlite(), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::write(&copy, "last week's backup").unwrap();
    app.service_client(&["a"]);

    let out = app.cli(&["backup", copy.to_str().unwrap(), "--force", "--json"]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(integrity_check(&copy), vec!["ok"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["backup"]["tables"]["clients"], 1, "{report}");
    assert_eq!(listing(dir.path()), vec!["copy.db"]);
}

/// Runs `backup` and checks it fails with status 1, `expected` in its message, no panic
/// and nothing on stdout.
fn refused(out: std::process::Output, expected: &str) {
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[actix_web::test]
async fn refusals_write_nothing() {
    let app = spawn_app_with(TestDb::sqlite(), &[]).await;
    app.service_client(&["a"]);
    let live = live_path(&app);
    let live_dir = live.parent().unwrap().to_owned();
    let kek = PathBuf::from(format!("{}.kek", live.display()));
    let kek_text = std::fs::read_to_string(&kek).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, "precious").unwrap();
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, "").unwrap();
    let stale = dir.path().join("stale.db");
    std::fs::write(dir.path().join("stale.db-wal"), "an old log").unwrap();
    let live_files = listing(&live_dir);
    let files_here = listing(dir.path());
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    refused(
        app.cli(&["backup", &path(&existing)]),
        &format!(
            "{} already exists: give --force to replace it",
            existing.display()
        ),
    );
    for spelling in [
        path(&live),
        format!(
            "{}/./{}",
            live_dir.display(),
            live.file_name().unwrap().to_str().unwrap()
        ),
    ] {
        refused(
            app.cli(&["backup", &spelling, "--force"]),
            "is the live database: the backup must go to another file",
        );
    }
    refused(
        app.cli(&["backup", &format!("{}-wal", live.display()), "--force"]),
        "is the live database's write-ahead log",
    );
    refused(
        app.cli(&["backup", &path(&kek), "--force"]),
        "is the key-encryption key file",
    );
    refused(
        app.cli(&["backup", &path(dir.path())]),
        &format!(
            "{} is a directory: name the backup file inside it",
            dir.path().display()
        ),
    );
    refused(
        app.cli(&["backup", &path(&dir.path().join("missing").join("x.db"))]),
        &format!(
            "cannot write the backup into {}: no such directory",
            dir.path().join("missing").display()
        ),
    );
    refused(
        app.cli(&["backup", &path(&a_file.join("x.db"))]),
        &format!(
            "cannot write the backup into {}: it is not a directory",
            a_file.display()
        ),
    );
    refused(
        app.cli(&["backup", &path(&stale)]),
        "stale.db-wal exists: a SQLite journal of an earlier database",
    );

    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(&kek).unwrap(), kek_text);
    assert_eq!(listing(dir.path()), files_here);
    assert_eq!(listing(&live_dir), live_files);
}

#[test]
fn a_backup_of_an_in_memory_or_postgres_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.db");
    let run = |url: &str| {
        cli(
            &[("GATEHOUSE_DATABASE_URL".to_owned(), url.to_owned())],
            &["backup", dest.to_str().unwrap()],
        )
    };

    refused(
        run("sqlite::memory:"),
        "sqlite::memory: has nothing to back up",
    );
    // Refused from the URL alone: no server is needed to hear it.
    let out = run("postgres://gatehouse:secret-pw@127.0.0.1:1/gatehouse");
    refused(out, "pg_dump --format=custom");
    let out = run("postgres://gatehouse:secret-pw@127.0.0.1:1/gatehouse");
    let err = stderr(&out);
    assert!(
        err.contains("pg_restore") && err.contains("gatehouse migrate"),
        "{err}"
    );
    assert!(err.contains("README.md, \"Backups\""), "{err}");
    assert!(!err.contains("secret-pw"), "{err}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn a_missing_live_database_is_refused_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("typo.db");
    let out = cli(
        &[(
            "GATEHOUSE_DATABASE_URL".to_owned(),
            format!("sqlite://{}", live.display()),
        )],
        &["backup", dir.path().join("x.db").to_str().unwrap()],
    );

    refused(out, &format!("no SQLite database at {}", live.display()));
    assert!(listing(dir.path()).is_empty());
}

#[actix_web::test]
async fn a_disk_error_mid_copy_is_reported_and_leaves_no_file() {
    use std::os::unix::process::CommandExt;
    let app = spawn_app_with(TestDb::sqlite(), &[]).await;
    app.service_client(&["a"]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("copy.db");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("GATEHOUSE_")) {
        command.env_remove(name);
    }
    command
        .env("GATEHOUSE_DATABASE_URL", &app.db.url)
        .args(["backup", dest.to_str().unwrap()]);
    // SAFETY: between fork and exec only async-signal-safe calls: no file may grow past
    // 64 KiB (the database is larger), and the signal that would kill the process for it
    // is ignored, so the write fails with EFBIG as a full disk fails with ENOSPC.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64 * 1024,
                rlim_max: 64 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }

    let out = command.output().unwrap();

    refused(
        out,
        &format!(
            "writing the backup {} failed: disk I/O error (File too large",
            dest.display()
        ),
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}
