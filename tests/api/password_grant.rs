//! The password grant for first-party apps.

use crate::helpers::{oauth_error, on_both_backends, spawn_app};

on_both_backends! {
    async fn a_user_gets_tokens_narrowed_to_their_roles(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["reports:read"]);
        let user_id = app.create_user("alice", "correct horse", &["reader"]);
        let client = app.first_party_client(&["reports:read", "reports:write"]);

        let res = app.password_grant(&client, "alice", "correct horse", None).await;

        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["scope"], "reports:read");
        assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));
        let (_, claims) = app.verify(body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["sub"], user_id.as_str());
        assert_eq!(claims["client_id"], client.id.as_str());
        assert_eq!(claims["scope"], "reports:read");
    }

    async fn wrong_password_and_unknown_user_get_the_same_answer(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["a"]);
        app.create_user("alice", "correct horse", &["reader"]);
        let client = app.first_party_client(&["a"]);

        let wrong = app.password_grant(&client, "alice", "wrong horse", None).await;
        let unknown = app.password_grant(&client, "mallory", "wrong horse", None).await;

        let wrong = oauth_error(wrong, 400, "invalid_grant").await;
        let unknown = oauth_error(unknown, 400, "invalid_grant").await;
        assert_eq!(wrong, unknown);
    }

    async fn a_client_without_the_password_grant_is_unauthorized_client(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["a"]);
        app.create_user("alice", "correct horse", &["reader"]);
        let client = app.service_client(&["a"]);

        let res = app.password_grant(&client, "alice", "correct horse", None).await;

        oauth_error(res, 400, "unauthorized_client").await;
    }

    async fn a_scope_outside_the_client_or_the_roles_is_invalid_scope(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["a"]);
        app.create_user("alice", "correct horse", &["reader"]);
        let client = app.first_party_client(&["a", "b"]);

        let outside_client = app.password_grant(&client, "alice", "correct horse", Some("a z")).await;
        let nothing_left = app.password_grant(&client, "alice", "correct horse", Some("b")).await;
        let narrowed = app.password_grant(&client, "alice", "correct horse", Some("a b")).await;

        oauth_error(outside_client, 400, "invalid_scope").await;
        oauth_error(nothing_left, 400, "invalid_scope").await;
        assert_eq!(narrowed.json::<serde_json::Value>().await.unwrap()["scope"], "a");
    }

    async fn without_the_refresh_grant_no_refresh_token_is_issued(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["a"]);
        app.create_user("alice", "correct horse", &["reader"]);
        let client = app.register(&["--grant-type", "password", "--scope", "a"]);

        let body: serde_json::Value = app.password_grant(&client, "alice", "correct horse", None).await.json().await.unwrap();

        assert!(body["access_token"].is_string());
        assert!(body.get("refresh_token").is_none());
    }

    async fn a_missing_username_is_invalid_request(db) {
        let app = spawn_app(db).await;
        let client = app.first_party_client(&["a"]);

        let res = app.token(&[("grant_type", "password"), ("password", "x")], Some((&client.id, &client.secret))).await;

        oauth_error(res, 400, "invalid_request").await;
    }
}

/// PostgreSQL (READ COMMITTED): a password grant whose password was checked while an admin's
/// reset was in flight must not get a refresh family the reset's revocation never saw. The
/// reset is held open where it matters: the user locked (as `end_access` does), the password
/// changed, not committed.
#[actix_web::test]
async fn on_postgres_a_password_grant_racing_a_reset_is_refused() {
    let Some(db) = crate::helpers::TestDb::postgres() else {
        return;
    };
    use diesel::prelude::*;
    let app = spawn_app(db).await;
    app.create_role("reader", &["books:read"]);
    let user_id = app.create_user("alice", "correct horse", &["reader"]);
    let client = app.first_party_client(&["books:read"]);

    let mut admin = diesel::PgConnection::establish(&app.db.url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut admin).unwrap();
    for statement in [
        "SELECT id FROM users WHERE id = $1 FOR UPDATE",
        "UPDATE users SET password_hash = 'reset-by-an-admin' WHERE id = $1",
    ] {
        diesel::sql_query(statement)
            .bind::<diesel::sql_types::Text, _>(&user_id)
            .execute(&mut admin)
            .unwrap();
    }
    let mut granting = Box::pin(app.password_grant(&client, "alice", "correct horse", None));
    let early =
        actix_web::rt::time::timeout(std::time::Duration::from_secs(2), &mut granting).await;
    assert!(early.is_err(), "the grant waits for the reset in flight");
    diesel::sql_query("COMMIT").execute(&mut admin).unwrap();
    oauth_error(granting.await, 400, "invalid_grant").await;
}
