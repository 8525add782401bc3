//! Metadata, JWKS, health probes and response headers.

use serde_json::Value;

use crate::helpers::{on_both_backends, spawn_app};

on_both_backends! {
    async fn metadata_names_the_endpoints_a_client_needs(db) {
        let app = spawn_app(db).await;
        app.service_client(&["reports:read", "billing"]);

        let res = app.get("/.well-known/oauth-authorization-server").await;

        assert_eq!(res.status(), 200);
        let m: Value = res.json().await.unwrap();
        assert_eq!(m["issuer"], app.issuer.as_str());
        assert_eq!(m["token_endpoint"], format!("{}/token", app.issuer));
        assert_eq!(m["authorization_endpoint"], format!("{}/authorize", app.issuer));
        assert_eq!(m["jwks_uri"], format!("{}/.well-known/jwks.json", app.issuer));
        assert_eq!(m["grant_types_supported"], serde_json::json!(["authorization_code", "client_credentials", "password", "refresh_token"]));
        assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(m["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(m["token_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_basic", "client_secret_post", "none"]));
        assert_eq!(m["scopes_supported"], serde_json::json!(["billing", "reports:read"]));
    }

    async fn the_jwks_publishes_one_es256_key_on_a_fresh_server(db) {
        let app = spawn_app(db).await;

        let jwks: Value = app.get_json("/.well-known/jwks.json").await;

        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["kty"], "EC");
        assert_eq!(keys[0]["crv"], "P-256");
        assert_eq!(keys[0]["alg"], "ES256");
        assert_eq!(keys[0]["use"], "sig");
        assert!(keys[0].get("d").is_none(), "the private part is never published");
    }

    async fn health_and_readiness_answer_while_the_database_does(db) {
        let app = spawn_app(db).await;

        assert_eq!(app.get("/healthz").await.status(), 200);
        assert_eq!(app.get("/readyz").await.status(), 200);
    }

    async fn every_response_carries_anti_framing_headers(db) {
        let app = spawn_app(db).await;

        for path in ["/healthz", "/token", "/.well-known/jwks.json", "/no-such-page"] {
            let res = app.get(path).await;
            assert_eq!(res.headers()["x-frame-options"], "DENY", "{path}");
            assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
            assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        }
    }
}

#[actix_web::test]
async fn readiness_fails_when_postgres_goes_away_while_health_stays_up() {
    let Some(db) = crate::helpers::TestDb::postgres() else {
        return;
    };
    let app = spawn_app(db).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.db.drop_database_now();

    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
}
