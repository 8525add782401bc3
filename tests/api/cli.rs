//! The admin command line, run as the real binary against the test database.

use serde_json::Value;

use crate::helpers::{cli, on_both_backends, spawn_app};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

on_both_backends! {
    async fn create_list_show_and_delete_a_client(db) {
        let app = spawn_app(db).await;

        let created = app.cli_json(&["client", "create", "--name", "billing", "--grant-type", "client_credentials", "--scope", "billing:read", "--scope", "billing:write"]);
        let id = created["client_id"].as_str().unwrap();
        assert_eq!(created["client_secret"].as_str().unwrap().len(), 43);
        assert_eq!(created["grant_types"], serde_json::json!(["client_credentials"]));

        let listed = app.cli_json(&["client", "list"]);
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert!(listed[0].get("client_secret").is_none(), "a secret is shown only at creation");
        let shown = app.cli_json(&["client", "show", id]);
        assert_eq!(shown["name"], "billing");
        assert_eq!(shown["scopes"], serde_json::json!(["billing:read", "billing:write"]));

        app.cli_json(&["client", "delete", id]);
        assert_eq!(app.cli_json(&["client", "list"]), serde_json::json!([]));
    }

    async fn default_grants_are_authorization_code_and_refresh_token(db) {
        let app = spawn_app(db).await;

        let created = app.cli_json(&["client", "create", "--name", "web", "--redirect-uri", "https://app.example/cb"]);

        assert_eq!(created["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));
        assert_eq!(created["redirect_uris"], serde_json::json!(["https://app.example/cb"]));
    }

    async fn a_public_client_has_no_secret(db) {
        let app = spawn_app(db).await;

        let created = app.cli_json(&["client", "create", "--name", "spa", "--public", "--redirect-uri", "http://localhost:3000/cb"]);

        assert_eq!(created["public"], true);
        assert!(created.get("client_secret").is_none());
        let out = app.cli(&["client", "rotate-secret", created["client_id"].as_str().unwrap()]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("public"), "{}", stderr(&out));
    }

    async fn invalid_client_registrations_fail_and_write_nothing(db) {
        let app = spawn_app(db).await;
        let cases: &[(&[&str], &str)] = &[
            (&["--name", "x", "--grant-type", "implicit", "--redirect-uri", "https://a.example/cb"], "unknown grant type"),
            (&["--name", "", "--grant-type", "client_credentials"], "name"),
            (&["--name", "x", "--redirect-uri", "/relative"], "absolute"),
            (&["--name", "x", "--redirect-uri", "https://a.example/cb#frag"], "fragment"),
            (&["--name", "x", "--redirect-uri", "http://a.example/cb"], "https"),
            (&["--name", "x"], "redirect-uri"),
            (&["--name", "x", "--public", "--grant-type", "client_credentials"], "public"),
            (&["--name", "x", "--grant-type", "client_credentials", "--scope", "bad\"scope"], "scope"),
        ];
        for (args, expected) in cases {
            let mut full = vec!["client", "create", "--json"];
            full.extend_from_slice(args);
            let out = app.cli(&full);
            assert!(!out.status.success(), "{args:?} should fail");
            assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
            assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        }
        assert_eq!(app.cli_json(&["client", "list"]), serde_json::json!([]));
    }

    async fn unknown_client_ids_are_clear_errors(db) {
        let app = spawn_app(db).await;

        for command in ["show", "delete", "rotate-secret"] {
            let out = app.cli(&["client", command, "no-such-id"]);
            assert!(!out.status.success(), "{command}");
            assert!(stderr(&out).contains("no client with id `no-such-id`"), "{command}: {}", stderr(&out));
        }
    }

    async fn migrate_prints_one_json_object(db) {
        let app = spawn_app(db).await;

        let out = app.cli_json(&["migrate"]);

        assert!(out.is_object());
    }
}

#[test]
fn a_database_url_of_an_unknown_kind_is_a_clear_error() {
    let env = [(
        "GATEHOUSE_DATABASE_URL".to_owned(),
        "mysql://root@localhost/db".to_owned(),
    )];

    for args in [&["client", "list"][..], &["serve"][..], &["migrate"][..]] {
        let out = cli(&env, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("unsupported database URL scheme `mysql`"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_unreachable_postgres_is_a_clear_error_not_a_panic() {
    let env = [
        (
            "GATEHOUSE_DATABASE_URL".to_owned(),
            "postgres://nobody:secret-pw@127.0.0.1:1/none".to_owned(),
        ),
        (
            "GATEHOUSE_DATABASE_CONNECT_TIMEOUT_MS".to_owned(),
            "500".to_owned(),
        ),
    ];

    let out = cli(&env, &["serve"]);

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("database unreachable"), "{err}");
    assert!(
        !err.contains("secret-pw"),
        "the password must not be printed: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_unknown_key_in_a_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, "[tokens]\naccess_token_ttl = 60\n").unwrap();

    let out = cli(&[], &["--config", path.to_str().unwrap(), "client", "list"]);

    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("access_token_ttl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_config_file_sets_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    let db = dir.path().join("from-file.db");
    std::fs::write(
        &path,
        format!("[database]\nurl = \"sqlite://{}\"\n", db.display()),
    )
    .unwrap();

    let out = cli(
        &[],
        &[
            "--config",
            path.to_str().unwrap(),
            "client",
            "list",
            "--json",
        ],
    );

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
    assert!(db.exists());
}
