//! Signing keys: kept in the database across restarts, rotated by the CLI, old keys still
//! published while their tokens live.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::Value;

use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, TestApp};

async fn kid_of_a_new_token(app: &TestApp, client: &crate::helpers::Registered) -> String {
    let body = app.client_credentials(client).await;
    let token = body["access_token"].as_str().unwrap();
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

on_both_backends! {
    async fn a_rotated_key_signs_new_tokens_and_old_tokens_still_verify(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_TOKENS_KEY_REFRESH_SECS", "1")]).await;
        let client = app.service_client(&["a"]);
        let old_token = app.client_credentials(&client).await["access_token"].as_str().unwrap().to_owned();
        let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid.unwrap();

        let rotated = app.cli_json(&["keys", "rotate"]);
        let new_kid = rotated["kid"].as_str().unwrap().to_owned();
        assert_ne!(new_kid, old_kid);

        // The server re-reads the current key every second; give it a bounded while.
        let mut kid = kid_of_a_new_token(&app, &client).await;
        for _ in 0..50 {
            if kid == new_kid { break; }
            tokio::time::sleep(Duration::from_millis(100)).await;
            kid = kid_of_a_new_token(&app, &client).await;
        }
        assert_eq!(kid, new_kid, "new tokens are signed with the new key");

        let jwks: Value = app.get_json("/.well-known/jwks.json").await;
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "{kids:?}");
        app.verify(&old_token).await;

        let listed = app.cli_json(&["keys", "list"]);
        let states: Vec<(&str, &str)> = listed.as_array().unwrap().iter().map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap())).collect();
        assert!(states.contains(&(new_kid.as_str(), "signing")), "{states:?}");
        assert!(states.contains(&(old_kid.as_str(), "retired")), "{states:?}");
    }

    async fn a_key_from_before_scheduled_rotation_signs_from_its_creation(db) {
        let first = spawn_app(db).await;
        let client = first.service_client(&["a"]);
        let kid = kid_of_a_new_token(&first, &client).await;
        // As the migration leaves a key made before it (and as the previous version writes
        // one during a rolling upgrade): no signs_from.
        let forget = "UPDATE signing_keys SET signs_from = NULL";
        match first.db.url.strip_prefix("sqlite://") {
            Some(path) => diesel::SqliteConnection::establish(path).unwrap().batch_execute(forget).unwrap(),
            None => diesel::PgConnection::establish(&first.db.url).unwrap().batch_execute(forget).unwrap(),
        }

        let second = spawn_app(first.db.share()).await;

        assert_eq!(kid_of_a_new_token(&second, &client).await, kid);
        let listed = second.cli_json(&["keys", "list"]);
        let key = &listed.as_array().unwrap()[0];
        assert_eq!(key["state"], "signing", "{listed}");
        assert_eq!(key["signs_from"], key["created_at"], "{listed}");
    }

    async fn a_restart_keeps_the_signing_key(db) {
        let url = db.url.clone();
        let first = spawn_app(db).await;
        let client = first.service_client(&["a"]);
        let kid = kid_of_a_new_token(&first, &client).await;

        // A second instance on the same database, as after a restart or beside the first.
        let second = spawn_app(first.db.share()).await;

        assert_eq!(second.db.url, url);
        assert_eq!(kid_of_a_new_token(&second, &client).await, kid);
        let token = second.client_credentials(&client).await;
        second.verify(token["access_token"].as_str().unwrap()).await;
    }
}
