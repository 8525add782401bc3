//! The client-credentials grant, as a background service uses it.

use crate::helpers::{oauth_error, on_both_backends, spawn_app, spawn_app_with};

on_both_backends! {
    async fn basic_auth_gets_a_jwt_that_verifies_with_the_jwks(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["reports:read", "reports:write"]);

        let res = app.token(&[("grant_type", "client_credentials")], Some((&client.id, &client.secret))).await;

        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["scope"], "reports:read reports:write");
        assert!(body.get("refresh_token").is_none(), "client credentials never get a refresh token");
        let (header, claims) = app.verify(body["access_token"].as_str().unwrap()).await;
        assert!(header.kid.is_some());
        assert_eq!(claims["sub"], client.id.as_str());
        assert_eq!(claims["client_id"], client.id.as_str());
        assert_eq!(claims["iss"], app.issuer.as_str());
        assert_eq!(claims["aud"], app.issuer.as_str());
        assert_eq!(claims["scope"], "reports:read reports:write");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    }

    async fn client_secret_post_is_accepted(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("client_id", &client.id), ("client_secret", &client.secret)], None).await;

        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        app.verify(body["access_token"].as_str().unwrap()).await;
    }

    async fn every_token_has_its_own_jti(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let first = app.client_credentials(&client).await;
        let second = app.client_credentials(&client).await;

        let (_, a) = app.verify(first["access_token"].as_str().unwrap()).await;
        let (_, b) = app.verify(second["access_token"].as_str().unwrap()).await;
        assert_ne!(a["jti"], b["jti"]);
    }

    async fn a_narrower_scope_is_granted_as_asked(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a", "b", "c"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("scope", "c a")], Some((&client.id, &client.secret))).await;

        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["scope"], "a c");
        let (_, claims) = app.verify(body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["scope"], "a c");
    }

    async fn a_scope_beyond_the_registration_is_invalid_scope(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("scope", "a admin")], Some((&client.id, &client.secret))).await;

        let body = oauth_error(res, 400, "invalid_scope").await;
        assert!(body["error_description"].as_str().unwrap().contains("admin"));
    }

    async fn a_wrong_secret_is_invalid_client_with_basic_challenge(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.token(&[("grant_type", "client_credentials")], Some((&client.id, "not-the-secret"))).await;

        assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        oauth_error(res, 401, "invalid_client").await;
    }

    async fn an_unknown_client_gets_the_same_answer_as_a_wrong_secret(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let wrong = app.token(&[("grant_type", "client_credentials")], Some((&client.id, "nope"))).await;
        let unknown = app.token(&[("grant_type", "client_credentials")], Some(("no-such-client", "nope"))).await;

        let wrong = oauth_error(wrong, 401, "invalid_client").await;
        let unknown = oauth_error(unknown, 401, "invalid_client").await;
        assert_eq!(wrong, unknown);
    }

    async fn no_client_authentication_is_invalid_client(db) {
        let app = spawn_app(db).await;

        let res = app.token(&[("grant_type", "client_credentials")], None).await;

        assert!(res.headers().contains_key("www-authenticate"));
        oauth_error(res, 401, "invalid_client").await;
    }

    async fn two_authentication_methods_at_once_are_invalid_request(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("client_id", &client.id), ("client_secret", &client.secret)], Some((&client.id, &client.secret))).await;

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn a_client_without_the_grant_type_is_unauthorized_client(db) {
        let app = spawn_app(db).await;
        let client = app.register(&["--grant-type", "authorization_code", "--redirect-uri", "https://app.example/cb", "--scope", "a"]);

        let res = app.token(&[("grant_type", "client_credentials")], Some((&client.id, &client.secret))).await;

        oauth_error(res, 400, "unauthorized_client").await;
    }

    async fn a_public_client_cannot_use_client_credentials(db) {
        let app = spawn_app(db).await;
        let client = app.register(&["--public", "--redirect-uri", "https://app.example/cb"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("client_id", &client.id)], None).await;

        oauth_error(res, 401, "invalid_client").await;
    }

    async fn an_unknown_grant_type_is_unsupported_grant_type(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.token(&[("grant_type", "urn:example:magic")], Some((&client.id, &client.secret))).await;

        oauth_error(res, 400, "unsupported_grant_type").await;
    }

    async fn a_missing_grant_type_is_invalid_request(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.token(&[("scope", "a")], Some((&client.id, &client.secret))).await;

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn a_rotated_secret_replaces_the_old_one_at_once(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let rotated = app.cli_json(&["client", "rotate-secret", &client.id]);
        let new_secret = rotated["client_secret"].as_str().unwrap();

        let old = app.token(&[("grant_type", "client_credentials")], Some((&client.id, &client.secret))).await;
        oauth_error(old, 401, "invalid_client").await;
        let new = app.token(&[("grant_type", "client_credentials")], Some((&client.id, new_secret))).await;
        assert_eq!(new.status(), 200);
    }

    async fn a_deleted_client_can_no_longer_get_tokens(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);
        app.client_credentials(&client).await;

        app.cli_json(&["client", "delete", &client.id]);

        let res = app.token(&[("grant_type", "client_credentials")], Some((&client.id, &client.secret))).await;
        oauth_error(res, 401, "invalid_client").await;
    }

    async fn lifetime_and_audience_come_from_configuration(db) {
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS", "120"),
            ("GATEHOUSE_TOKENS_AUDIENCE", "https://api.example"),
        ]).await;
        let client = app.service_client(&["a"]);

        let body = app.client_credentials(&client).await;

        assert_eq!(body["expires_in"], 120);
        let token = body["access_token"].as_str().unwrap();
        let claims: serde_json::Value = {
            use base64::Engine;
            let payload = token.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        assert_eq!(claims["aud"], "https://api.example");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
    }
}
