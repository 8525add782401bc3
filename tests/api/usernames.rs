//! Finding 11 of the security review: usernames were case-sensitive, so `alice`, `ALICE` and
//! fullwidth `ａｌｉｃｅ` could be three accounts. They are matched without regard to case
//! (after Unicode NFKC) everywhere: `user create`, the password grant and the login form.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::Value;

use crate::authorization_code::{authorize_url, code_from, exchange, log_in, setup, PASSWORD};
use crate::browser::{pkce_pair, Browser};
use crate::helpers::{on_both_backends, TestDb};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs SQL on a test database directly: only to make the rows an older gatehouse (before
/// usernames had keys) would have left, which no command of today's binary can make.
fn legacy_sql(db: &TestDb, sql: &str) {
    if let Some(path) = db.url.strip_prefix("sqlite://") {
        let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
        conn.batch_execute(sql).expect("legacy SQL");
    } else {
        let mut conn = diesel::PgConnection::establish(&db.url).expect("connect");
        conn.batch_execute(sql).expect("legacy SQL");
    }
}

mod finding_11_usernames_without_regard_to_case {
    use super::*;

    on_both_backends! {
        async fn alice_in_other_cases_or_fullwidth_is_refused_as_a_duplicate(db) {
            let s = setup(db, false).await;

            for spelling in ["ALICE", "Alice", "ａｌｉｃｅ"] {
                let out = s.app.cli_with_stdin(&["user", "create", spelling, "--json"], "another password\n");

                assert!(!out.status.success(), "{spelling} was created beside alice");
                assert!(out.stdout.is_empty());
                let err = stderr(&out);
                assert!(err.contains("is taken") && err.contains("`alice`"), "{spelling}: {err}");
            }
        }

        async fn the_password_grant_accepts_alice_typed_in_capitals(db) {
            let s = setup(db, false).await;
            let client = s.app.first_party_client(&["books:read"]);

            for spelling in ["ALICE", "ａｌｉｃｅ"] {
                let res = s.app.password_grant(&client, spelling, PASSWORD, None).await;

                assert_eq!(res.status(), 200, "{spelling}");
                let body: Value = res.json().await.unwrap();
                let (_, claims) = s.app.verify(body["access_token"].as_str().unwrap()).await;
                assert_eq!(claims["sub"], s.user_id.as_str(), "{spelling} is alice");
            }
        }

        async fn the_login_form_accepts_alice_typed_in_capitals(db) {
            let s = setup(db, false).await;
            let (verifier, challenge) = pkce_pair();
            let browser = Browser::new(&s.app);
            let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(&challenge))).await.page();

            let consent = log_in(&browser, &login, "ALICE", PASSWORD).await.page();

            let back = browser.submit(&consent.form_with("decision"), Some("allow")).await.left();
            let res = exchange(&s.app, &s.client, &code_from(&back).await, Some(&verifier)).await;
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.unwrap();
            let (_, claims) = s.app.verify(body["access_token"].as_str().unwrap()).await;
            assert_eq!(claims["sub"], s.user_id.as_str());
        }

        async fn the_name_is_shown_as_first_typed(db) {
            let s = setup(db, false).await;

            let out = s.app.cli_with_stdin(&["user", "create", "Bob", "--json"], "long enough password\n");

            assert!(out.status.success(), "{}", stderr(&out));
            let user: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(user["username"], "Bob");
        }

        async fn names_with_invisible_or_control_characters_are_refused(db) {
            let s = setup(db, false).await;
            let cases = [
                ("bob\u{200B}", "invisible or formatting characters (found U+200B"),
                ("\u{FEFF}bob", "invisible or formatting characters (found U+FEFF"),
                ("bo\u{202E}b", "invisible or formatting characters (found U+202E"),
                ("bo\u{7}b", "control characters (found U+0007"),
                ("bo\u{1B}b", "control characters (found U+001B"),
                (" bob", "white space"),
            ];

            for (name, expected) in cases {
                let out = s.app.cli_with_stdin(&["user", "create", name], "long enough password\n");

                assert!(!out.status.success(), "{name:?} was accepted");
                assert!(stderr(&out).contains(expected), "{name:?}: {}", stderr(&out));
            }
            // Nothing was written: the plain name is still free.
            s.app.create_user("bob", "long enough password", &[]);
        }

        async fn users_from_before_keys_get_theirs_at_migrate(db) {
            let s = setup(db, false).await;
            // An older gatehouse stored alice without a key.
            legacy_sql(&s.app.db, "UPDATE users SET username_key = NULL");

            let out = s.app.cli(&["migrate"]);

            assert!(out.status.success(), "{}", stderr(&out));
            let client = s.app.first_party_client(&["books:read"]);
            let res = s.app.password_grant(&client, "Alice", PASSWORD, None).await;
            assert_eq!(res.status(), 200);
        }

        async fn existing_users_that_collide_stop_migrate_with_their_names(db) {
            let s = setup(db, false).await;
            // An older, case-sensitive gatehouse let ALICE in beside alice.
            legacy_sql(&s.app.db, "UPDATE users SET username_key = NULL; \
                INSERT INTO users (id, username, password_hash, created_at) \
                VALUES ('second-alice-id', 'ALICE', 'x', 0)");

            let out = s.app.cli(&["migrate"]);

            assert_eq!(out.status.code(), Some(1));
            let err = stderr(&out);
            assert!(err.contains("`alice`") && err.contains("`ALICE` (id second-alice-id)"), "{err}");
            assert!(!err.contains("panicked"), "{err}");
            // `serve` refuses to start the same way.
            let serve = s.app.cli(&["serve"]);
            assert_eq!(serve.status.code(), Some(1));
            assert!(stderr(&serve).contains("`ALICE` (id second-alice-id)"), "{}", stderr(&serve));
        }
    }
}
