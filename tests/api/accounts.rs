//! `role create` and `user create`, including their bad inputs.

use crate::helpers::{on_both_backends, spawn_app};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

on_both_backends! {
    async fn a_user_with_roles_is_created_from_a_password_on_stdin(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["reports:read"]);

        let out = app.cli_with_stdin(&["user", "create", "alice", "--role", "reader", "--json"], "correct horse battery\n");

        assert!(out.status.success(), "{}", stderr(&out));
        let user: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(user["username"], "alice");
        assert!(user["id"].as_str().is_some_and(|id| id.len() >= 16));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("correct horse"));
    }

    async fn bad_user_input_fails_and_writes_nothing(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["reports:read"]);
        let cases: &[(&[&str], &str, &str)] = &[
            (&["user", "create", "bob", "--role", "nosuchrole"], "long enough password\n", "unknown role: nosuchrole"),
            (&["user", "create", "bob"], "\n", "no password"),
            (&["user", "create", "bob"], "", "no password"),
            (&["user", "create", "bob"], "short\n", "at least 8"),
            (&["user", "create", "", "--role", "reader"], "long enough password\n", "username"),
            (&["user", "create", "bo b"], "long enough password\n", "username"),
        ];
        for (args, stdin, expected) in cases {
            let out = app.cli_with_stdin(args, stdin);
            assert!(!out.status.success(), "{args:?} should fail");
            assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        }
        // Nothing was written: the name is still free.
        app.create_user("bob", "long enough password", &["reader"]);
    }

    async fn a_bad_role_is_refused(db) {
        let app = spawn_app(db).await;

        for (args, expected) in [
            (&["role", "create", "has space"][..], "role name"),
            (&["role", "create", "r", "--scope", "bad\"scope"][..], "malformed scope"),
        ] {
            let out = app.cli(args);
            assert!(!out.status.success(), "{args:?}");
            assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        }
    }

    async fn a_duplicate_username_or_role_is_refused(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["a"]);
        app.create_user("carol", "long enough password", &["reader"]);

        let user = app.cli_with_stdin(&["user", "create", "carol"], "another password\n");
        let role = app.cli(&["role", "create", "reader", "--scope", "b"]);

        assert!(!user.status.success() && stderr(&user).contains("taken"), "{}", stderr(&user));
        assert!(!role.status.success() && stderr(&role).contains("already exists"), "{}", stderr(&role));
    }
}
