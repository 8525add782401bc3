//! Finding 5 of issue 10: a copy of the database yielded every secret. The sealing keys
//! (session cookies, TOTP secrets) sat beside what they seal and the signing keys were
//! plain PKCS#8. Now a key-encryption key kept outside the database wraps them all, the
//! database and key files are 0600, old databases are upgraded in place, and
//! `gatehouse keys rewrap` moves to a new key-encryption key.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::prelude::*;
use diesel::sql_types::{Binary, Nullable, Text};
use gatehouse::settings::Settings;
use gatehouse::startup::Application;
use gatehouse::tokens::kek::{KekSource, KeyEncryptionKey, KeyKind};
use serde_json::Value;

use crate::authorization_code::{authorize_url, log_in, setup, Setup, CHALLENGE, PASSWORD};
use crate::browser::Browser;
use crate::helpers::{on_both_backends, spawn_app_with, TestApp, TestDb};
use crate::two_factor::totp;

const COOKIE: &str = "gatehouse_session";

#[derive(QueryableByName, Debug)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Binary)]
    value: Vec<u8>,
    #[diesel(sql_type = Nullable<Text>)]
    wrapped_by: Option<String>,
}

#[derive(QueryableByName)]
struct SealedRow {
    #[diesel(sql_type = Text)]
    secret_sealed: String,
}

/// What an attacker with a copy of the database reads: the raw rows.
struct Dump {
    sealing: Vec<KeyRow>,
    signing: Vec<KeyRow>,
    totp_sealed: Vec<String>,
}

/// Runs `$body` with a plain Diesel connection to the test database (no gatehouse code).
macro_rules! raw {
    ($url:expr, $conn:ident => $body:expr) => {
        match $url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut $conn = diesel::SqliteConnection::establish(path).unwrap();
                // The server may be writing: wait for its lock, as it waits for ours.
                diesel::connection::SimpleConnection::batch_execute(
                    &mut $conn,
                    "PRAGMA busy_timeout = 10000",
                )
                .unwrap();
                $body
            }
            None => {
                let mut $conn = diesel::PgConnection::establish($url).unwrap();
                $body
            }
        }
    };
}

fn dump(url: &str) -> Dump {
    raw!(url, conn => Dump {
        sealing: diesel::sql_query("SELECT id, secret AS value, wrapped_by FROM sealing_keys")
            .load(&mut conn)
            .unwrap(),
        signing: diesel::sql_query("SELECT kid AS id, private_key AS value, wrapped_by FROM signing_keys")
            .load(&mut conn)
            .unwrap(),
        totp_sealed: diesel::sql_query("SELECT secret_sealed FROM totp_credentials")
            .load::<SealedRow>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| r.secret_sealed)
            .collect(),
    })
}

/// Opens a value sealed the way gatehouse seals cookies and TOTP secrets
/// (`KEY_ID.base64url(nonce ‖ ciphertext ‖ tag)`, AAD `gatehouse PURPOSE KEY_ID`) with `key`.
fn opens_with(key: &[u8], purpose: &str, sealed: &str) -> bool {
    let (id, body) = sealed.split_once('.').unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
    let Ok(key) = UnboundKey::new(&AES_256_GCM, key) else {
        return false;
    };
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let mut buffer = ciphertext.to_vec();
    LessSafeKey::new(key)
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).unwrap(),
            Aad::from(format!("gatehouse {purpose} {id}").as_bytes()),
            &mut buffer,
        )
        .is_ok()
}

/// Whether any 32 bytes anywhere in `value` open `sealed`: the stored value used as the key,
/// or a key kept in the clear somewhere inside it.
fn any_window_opens(value: &[u8], purpose: &str, sealed: &str) -> bool {
    value.windows(32).any(|w| opens_with(w, purpose, sealed))
}

/// Whether any part of `value` parses as a P-256 private key, or signs a token.
fn holds_a_private_key(value: &[u8]) -> bool {
    let claims = serde_json::json!({ "sub": "mallory", "exp": 4_000_000_000i64 });
    let signs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(value),
    )
    .is_ok();
    signs
        || (0..value.len()).any(|start| {
            (start + 1..=value.len()).any(|end| {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &value[start..end])
                    .is_ok()
            })
        })
}

fn session_cookie(browser: &Browser) -> String {
    browser
        .cookies()
        .split("; ")
        .find_map(|c| c.strip_prefix(&format!("{COOKIE}=")))
        .expect("a session cookie")
        .to_owned()
}

/// Alice with TOTP on, logged in with password and code: answers her TOTP secret and the
/// browser holding her session.
async fn alice_logged_in_with_totp(s: &Setup) -> (String, Browser) {
    let enrolled = s.app.cli_json(&["user", "totp", "enable", "alice"]);
    let secret = enrolled["secret"].as_str().unwrap().to_owned();
    let browser = Browser::new(&s.app);
    let login = browser
        .open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE)))
        .await
        .page();
    let code_page = log_in(&browser, &login, "alice", PASSWORD).await.page();
    let consent = browser
        .submit(
            &code_page
                .form_with("code")
                .with("code", &totp(&secret, s.app.clock.now())),
            None,
        )
        .await
        .page();
    assert!(consent.contains("name=\"decision\""), "{}", consent.body);
    (secret, browser)
}

/// Whether `app` takes `cookie` as a logged-in session: /authorize goes straight to consent.
async fn is_logged_in(app: &TestApp, client_id: &str, cookie: &str) -> bool {
    let page = app
        .http
        .get(app.url(&authorize_url(client_id, "books:read", Some(CHALLENGE))))
        .header("Cookie", format!("{COOKIE}={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    page.contains("name=\"decision\"")
}

/// A TOTP login on `app` (a new browser), a time step after any earlier one.
async fn totp_login_works(app: &TestApp, client_id: &str, secret: &str) -> bool {
    app.clock.advance(60);
    let browser = Browser::new(app);
    let login = browser
        .open(&authorize_url(client_id, "books:read", Some(CHALLENGE)))
        .await
        .page();
    let code_page = log_in(&browser, &login, "alice", PASSWORD).await.page();
    let next = browser
        .submit(
            &code_page
                .form_with("code")
                .with("code", &totp(secret, app.clock.now())),
            None,
        )
        .await
        .page();
    next.contains("name=\"decision\"")
}

/// Starts a server on `url` with exactly these key settings; answers the start-up error.
async fn start_error(url: &str, keys: &[(&str, &str)]) -> String {
    let mut env = vec![
        ("GATEHOUSE_DATABASE_URL".to_owned(), url.to_owned()),
        ("GATEHOUSE_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("GATEHOUSE_SERVER_WORKERS".to_owned(), "1".to_owned()),
    ];
    env.extend(keys.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::load_from(None, env).unwrap();
    match Application::build(settings).await {
        Ok(_) => panic!("a server started on {url} with the wrong key-encryption key"),
        Err(e) => e.to_string(),
    }
}

fn assert_names_the_setting(error: &str) {
    assert!(
        error.contains("keys.encryption_key") && error.contains("GATEHOUSE_KEYS_ENCRYPTION_KEY"),
        "the error names the setting to fix: {error}"
    );
}

/// The key-encryption key the test database's keys are wrapped with, as the operator has it.
fn operator_kek(db: &TestDb) -> KeyEncryptionKey {
    let text = match &db.encryption_key {
        Some(key) => key.clone(),
        None => std::fs::read_to_string(kek_file(db)).unwrap(),
    };
    KeyEncryptionKey::parse(&text, "test", KekSource::Setting).unwrap()
}

fn sqlite_path(db: &TestDb) -> Option<&str> {
    db.url.strip_prefix("sqlite://")
}

fn kek_file(db: &TestDb) -> String {
    format!("{}.kek", sqlite_path(db).expect("a SQLite database"))
}

fn fresh_key() -> String {
    KeyEncryptionKey::generate_text().unwrap().trim().to_owned()
}

#[cfg(unix)]
fn mode(path: impl AsRef<std::path::Path>) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_attackers_tools_work_on_keys_in_the_clear() {
    // So the assertions below are not vacuous: the same routines do open a value sealed
    // under a key kept in the clear, and do find a plain private key.
    let key = [7u8; 32];
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let mut sealed = b"{\"sid\":\"x\"}".to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key([1u8; NONCE_LEN]),
            Aad::from(format!("gatehouse {COOKIE} kid1").as_bytes()),
            &mut sealed,
        )
        .unwrap();
    let mut body = vec![1u8; NONCE_LEN];
    body.extend(sealed);
    let cookie = format!("kid1.{}", URL_SAFE_NO_PAD.encode(body));
    assert!(any_window_opens(&key, COOKIE, &cookie));
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    assert!(holds_a_private_key(pkcs8.as_ref()));
}

on_both_backends! {
    async fn finding_5_a_database_copy_alone_opens_no_cookie_no_totp_secret_and_mints_no_token(db) {
        let s = setup(db, false).await;
        let (_, browser) = alice_logged_in_with_totp(&s).await;
        let cookie = session_cookie(&browser);
        let api = s.app.service_client(&["a"]);
        s.app.client_credentials(&api).await;

        let copy = dump(&s.app.db.url);
        assert!(!copy.sealing.is_empty() && !copy.signing.is_empty());
        assert_eq!(copy.totp_sealed.len(), 1);
        let totp_purpose = format!("totp {}", s.user_id);
        for row in &copy.sealing {
            assert!(!any_window_opens(&row.value, COOKIE, &cookie), "sealing key {} opens the session cookie", row.id);
            assert!(!any_window_opens(&row.value, &totp_purpose, &copy.totp_sealed[0]), "sealing key {} opens the TOTP secret", row.id);
        }
        for row in &copy.signing {
            assert!(!holds_a_private_key(&row.value), "signing key {} is readable", row.id);
        }

        // The copy alone does not serve: no key-encryption key, no start (and no new keys).
        let dir = tempfile::tempdir().unwrap();
        let (copy_url, error) = match sqlite_path(&s.app.db) {
            Some(_) => {
                let copied = dir.path().join("stolen.db");
                raw!(&s.app.db.url, conn => diesel::sql_query(format!("VACUUM INTO '{}'", copied.display())).execute(&mut conn).unwrap());
                let url = format!("sqlite://{}", copied.display());
                let error = start_error(&url, &[]).await;
                assert!(!dir.path().join("stolen.db.kek").exists(), "no new key-encryption key is made for wrapped keys");
                (url, error)
            }
            // A PostgreSQL dump restored elsewhere: the same rows, another key.
            None => {
                let url = s.app.db.url.clone();
                let error = start_error(&url, &[("GATEHOUSE_KEYS_ENCRYPTION_KEY", &fresh_key())]).await;
                (url, error)
            }
        };
        assert_names_the_setting(&error);
        assert!(error.contains("wrapped"), "{error}");
        assert_eq!(dump(&copy_url).signing.len(), copy.signing.len(), "no key was made or replaced");
    }

    async fn finding_5_an_old_database_with_keys_in_the_clear_is_upgraded_and_its_sessions_and_totp_keep_working(db) {
        let s = setup(db, false).await;
        let (secret, browser) = alice_logged_in_with_totp(&s).await;
        let cookie = session_cookie(&browser);
        let api = s.app.service_client(&["a"]);
        let token = s.app.client_credentials(&api).await["access_token"].as_str().unwrap().to_owned();

        // Put the database in the format gatehouse used before: the bare keys, no
        // `wrapped_by`, exactly what the old code wrote. The old key-encryption key is gone.
        let kek = operator_kek(&s.app.db);
        let before = dump(&s.app.db.url);
        raw!(&s.app.db.url, conn => {
            for row in &before.sealing {
                let plain = kek.unwrap(KeyKind::Sealing, &row.id, &row.value).unwrap();
                diesel::sql_query("UPDATE sealing_keys SET secret = $1, wrapped_by = NULL WHERE id = $2")
                    .bind::<Binary, _>(plain).bind::<Text, _>(&row.id).execute(&mut conn).unwrap();
            }
            for row in &before.signing {
                let plain = kek.unwrap(KeyKind::Signing, &row.id, &row.value).unwrap();
                assert!(holds_a_private_key(&plain));
                diesel::sql_query("UPDATE signing_keys SET private_key = $1, wrapped_by = NULL WHERE kid = $2")
                    .bind::<Binary, _>(plain).bind::<Text, _>(&row.id).execute(&mut conn).unwrap();
            }
        });
        let new_key = fresh_key();
        let keys: Vec<(&str, &str)> = match sqlite_path(&s.app.db) {
            Some(_) => {
                std::fs::remove_file(kek_file(&s.app.db)).unwrap();
                vec![]
            }
            None => vec![("GATEHOUSE_KEYS_ENCRYPTION_KEY", new_key.as_str())],
        };

        let upgraded = spawn_app_with(s.app.db.share(), &keys).await;

        let after = dump(&upgraded.db.url);
        for row in after.sealing.iter().chain(&after.signing) {
            assert!(row.wrapped_by.is_some(), "{} is wrapped", row.id);
            assert!(!holds_a_private_key(&row.value) && row.value.len() > 32, "{} is not in the clear", row.id);
        }
        assert_eq!(after.signing.len(), before.signing.len(), "the same signing key, not a new one");
        assert!(is_logged_in(&upgraded, &s.client.id, &cookie).await, "the old session still opens");
        assert!(totp_login_works(&upgraded, &s.client.id, &secret).await, "the old TOTP secret still opens");
        // The same signing key: new tokens carry the old token's kid. (The old token itself
        // names the first server as its issuer, so the second one would not take it.)
        let minted = upgraded.client_credentials(&api).await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            jsonwebtoken::decode_header(&minted).unwrap().kid,
            jsonwebtoken::decode_header(&token).unwrap().kid,
        );
    }

    async fn finding_5_keys_rewrap_then_a_restart_with_the_new_key_works_and_the_old_key_no_longer_does(db) {
        let s = setup(db, false).await;
        let (secret, browser) = alice_logged_in_with_totp(&s).await;
        let cookie = session_cookie(&browser);
        let api = s.app.service_client(&["a"]);
        let token = s.app.client_credentials(&api).await["access_token"].as_str().unwrap().to_owned();
        let old_key = s.app.db.encryption_key.clone();
        let dir = tempfile::tempdir().unwrap();
        let new_file = dir.path().join("new.kek");
        let new_path = new_file.to_str().unwrap();

        let done: Value = s.app.cli_json(&["keys", "rewrap", "--new-key-file", new_path]);

        assert_eq!(done["restart_required"], true);
        assert!(done["next"].as_str().unwrap().contains("restart every instance"), "{done}");
        assert_eq!(done["rewrapped"]["created_key_file"], true);
        assert!(done["rewrapped"]["signing_keys"].as_u64().unwrap() >= 1);
        assert!(done["rewrapped"]["sealing_keys"].as_u64().unwrap() >= 1);
        #[cfg(unix)]
        assert_eq!(mode(&new_file), 0o600);

        let moved = spawn_app_with(
            s.app.db.share(),
            &[("GATEHOUSE_KEYS_ENCRYPTION_KEY", ""), ("GATEHOUSE_KEYS_ENCRYPTION_KEY_FILE", new_path)],
        )
        .await;
        assert!(is_logged_in(&moved, &s.client.id, &cookie).await, "sessions survive the re-wrap");
        assert!(totp_login_works(&moved, &s.client.id, &secret).await, "TOTP secrets survive the re-wrap");
        let minted = moved.client_credentials(&api).await["access_token"].as_str().unwrap().to_owned();
        moved.verify(&minted).await;
        assert_eq!(
            jsonwebtoken::decode_header(&minted).unwrap().kid,
            jsonwebtoken::decode_header(&token).unwrap().kid,
            "the same signing key, re-wrapped"
        );
        let rotated = moved.cli_json(&["keys", "rotate"]);
        assert!(rotated["kid"].is_string(), "the CLI with the new key works too");

        let old: Vec<(&str, &str)> = match &old_key {
            Some(key) => vec![("GATEHOUSE_KEYS_ENCRYPTION_KEY", key.as_str())],
            None => vec![], // the default file beside the database still holds the old key
        };
        let error = start_error(&s.app.db.url, &old).await;
        assert_names_the_setting(&error);
        let refused = s.app.cli(&["keys", "rotate"]);
        assert!(!refused.status.success(), "the CLI with the old key is refused too");
        assert_names_the_setting(&String::from_utf8_lossy(&refused.stderr));
    }

    async fn finding_5_keys_rewrap_refuses_a_file_that_holds_no_key_and_changes_nothing(db) {
        let s = setup(db, false).await;
        let api = s.app.service_client(&["a"]);
        s.app.client_credentials(&api).await;
        let before = dump(&s.app.db.url);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "not a key\n").unwrap();

        let out = s.app.cli(&["keys", "rewrap", "--new-key-file", file.path().to_str().unwrap()]);

        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&file.path().display().to_string()) && stderr.contains("base64"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "not a key\n", "never overwritten");
        let after = dump(&s.app.db.url);
        let values = |d: &Dump| d.sealing.iter().chain(&d.signing).map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(values(&after), values(&before));
    }
}

#[cfg(unix)]
#[actix_web::test]
async fn finding_5_the_sqlite_database_and_the_generated_key_file_are_0600() {
    use std::os::unix::fs::PermissionsExt;
    // A data folder gatehouse makes itself, as on a fresh checkout.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db_path = data.join("gatehouse.db");
    let url = format!("sqlite://{}", db_path.display());
    let env = vec![("GATEHOUSE_DATABASE_URL".to_owned(), url.clone())];
    let out = crate::helpers::cli(&env, &["keys", "rotate", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(mode(&data), 0o700, "the data folder");
    assert_eq!(mode(&db_path), 0o600, "the database");
    assert_eq!(
        mode(data.join("gatehouse.db.kek")),
        0o600,
        "the key-encryption key"
    );

    // A database left readable by others (made by an older gatehouse) is tightened.
    std::fs::set_permissions(&db_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let db = TestDb::sqlite();
    let app = spawn_app_with(db, &[("GATEHOUSE_DATABASE_URL", &url)]).await;
    let api = app.service_client(&["a"]);
    app.client_credentials(&api).await;
    assert_eq!(mode(&db_path), 0o600, "tightened");
    let wal = data.join("gatehouse.db-wal");
    assert!(wal.exists());
    assert_eq!(
        mode(&wal),
        0o600,
        "SQLite gives the WAL the database's mode"
    );
}
