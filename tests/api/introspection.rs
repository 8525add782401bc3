//! Introspection (RFC 7662) of every token state, and revocation (RFC 7009).

use serde_json::Value;

use crate::helpers::{oauth_error, on_both_backends, spawn_app, Registered, TestApp};

async fn user_session(app: &TestApp) -> (Registered, Value) {
    app.create_role("staff", &["a"]);
    app.create_user("alice", "correct horse", &["staff"]);
    let client = app.first_party_client(&["a"]);
    let body = app
        .password_grant(&client, "alice", "correct horse", None)
        .await
        .json()
        .await
        .unwrap();
    (client, body)
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap()
}

on_both_backends! {
    async fn an_active_access_token_is_described(db) {
        let app = spawn_app(db).await;
        let api = app.service_client(&["x"]);
        let token = app.client_credentials(&api).await;

        let answer = app.introspect(&api, field(&token, "access_token")).await;

        assert_eq!(answer["active"], true);
        assert_eq!(answer["scope"], "x");
        assert_eq!(answer["client_id"], api.id.as_str());
        assert_eq!(answer["sub"], api.id.as_str());
        assert_eq!(answer["iss"], app.issuer.as_str());
        assert_eq!(answer["token_type"], "Bearer");
        assert!(answer["exp"].as_i64().unwrap() > answer["iat"].as_i64().unwrap());
    }

    async fn a_refresh_token_is_active_until_rotated(db) {
        let app = spawn_app(db).await;
        let (client, login) = user_session(&app).await;
        let api = app.introspecting_service(&["x"]);

        let before = app.introspect(&api, field(&login, "refresh_token")).await;
        app.refresh(&client, field(&login, "refresh_token"), None).await;
        let after = app.introspect(&api, field(&login, "refresh_token")).await;

        assert_eq!(before["active"], true);
        assert_eq!(before["token_type"], "refresh_token");
        assert_eq!(before["client_id"], client.id.as_str());
        assert_eq!(after, serde_json::json!({ "active": false }));
    }

    async fn expired_malformed_foreign_and_unknown_tokens_are_inactive(db) {
        let app = spawn_app(db).await;
        let api = app.service_client(&["x"]);
        let token = field(&app.client_credentials(&api).await, "access_token").to_owned();
        // Same header and claims, but signed by a key that is not ours.
        let foreign = {
            let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            let der = pair.to_pkcs8v1().unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            let claims: Value = {
                use base64::Engine;
                serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
            };
            jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_der(der.as_ref())).unwrap()
        };

        for (what, candidate) in [("foreign-signed", foreign.as_str()), ("malformed", "not.a.jwt"), ("unknown", "no-such-token"), ("truncated", &token[..token.len() - 5])] {
            assert_eq!(app.introspect(&api, candidate).await, serde_json::json!({ "active": false }), "{what}");
        }
        app.clock.advance(901);
        assert_eq!(app.introspect(&api, &token).await["active"], false, "expired");
    }

    async fn introspection_requires_client_authentication(db) {
        let app = spawn_app(db).await;

        let res = app.http.post(app.url("/introspect")).header("Content-Type", "application/x-www-form-urlencoded").body("token=abc").send().await.unwrap();

        oauth_error(res, 401, "invalid_client").await;
    }

    async fn a_live_access_token_is_not_described_to_a_failed_client(db) {
        let app = spawn_app(db).await;
        let api = app.service_client(&["x"]);
        let token = field(&app.client_credentials(&api).await, "access_token").to_owned();
        let wrong_secret = Registered { id: api.id.clone(), secret: "wrong".into() };
        let unknown = Registered { id: "no-such-client".into(), secret: "wrong".into() };

        for asker in [&wrong_secret, &unknown] {
            let res = app.post_form("/introspect", asker, &[("token", &token)]).await;
            let body = oauth_error(res, 401, "invalid_client").await;
            assert!(body.get("active").is_none());
        }
    }

    async fn a_revoked_access_token_is_inactive(db) {
        let app = spawn_app(db).await;
        let api = app.service_client(&["x"]);
        let token = field(&app.client_credentials(&api).await, "access_token").to_owned();

        let res = app.revoke(&api, &token).await;

        assert_eq!(res.status(), 200);
        assert_eq!(app.introspect(&api, &token).await["active"], false);
    }

    async fn revoking_a_refresh_token_ends_its_family_and_its_access_tokens(db) {
        let app = spawn_app(db).await;
        let (client, login) = user_session(&app).await;
        let api = app.introspecting_service(&["x"]);
        let access = field(&login, "access_token");
        assert_eq!(app.introspect(&api, access).await["active"], true);

        assert_eq!(app.revoke(&client, field(&login, "refresh_token")).await.status(), 200);

        assert_eq!(app.introspect(&api, access).await["active"], false, "the session's access token");
        oauth_error(app.refresh(&client, field(&login, "refresh_token"), None).await, 400, "invalid_grant").await;
    }

    async fn reuse_makes_the_family_access_tokens_inactive(db) {
        let app = spawn_app(db).await;
        let (client, login) = user_session(&app).await;
        let api = app.introspecting_service(&["x"]);
        let next: Value = app.refresh(&client, field(&login, "refresh_token"), None).await.json().await.unwrap();

        app.refresh(&client, field(&login, "refresh_token"), None).await; // reuse

        assert_eq!(app.introspect(&api, field(&next, "access_token")).await["active"], false);
    }

    async fn concurrent_revocations_of_one_token_all_succeed(db) {
        let app = spawn_app(db).await;
        let api = app.service_client(&["x"]);
        let token = field(&app.client_credentials(&api).await, "access_token").to_owned();

        let attempts = (0..8).map(|_| app.revoke(&api, &token));
        let statuses: Vec<u16> = futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();

        assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
        assert_eq!(app.introspect(&api, &token).await["active"], false);
    }

    async fn unknown_tokens_revoke_quietly(db) {
        let app = spawn_app(db).await;
        let api = app.service_client(&["x"]);

        assert_eq!(app.revoke(&api, "never-issued").await.status(), 200);
        assert_eq!(app.revoke(&api, "a.b.c").await.status(), 200);
    }

    async fn a_client_cannot_revoke_another_clients_token(db) {
        let app = spawn_app(db).await;
        let (owner, login) = user_session(&app).await;
        let api = app.service_client(&["x"]);
        let intruder = app.service_client(&["x"]);
        let api_token = field(&app.client_credentials(&api).await, "access_token").to_owned();

        let refused_refresh = app.revoke(&intruder, field(&login, "refresh_token")).await;
        let refused_access = app.revoke(&intruder, &api_token).await;

        oauth_error(refused_refresh, 400, "unauthorized_client").await;
        oauth_error(refused_access, 400, "unauthorized_client").await;
        assert_eq!(app.introspect(&api, &api_token).await["active"], true);
        assert_eq!(app.refresh(&owner, field(&login, "refresh_token"), None).await.status(), 200);
    }
}

on_both_backends! {
    async fn finding_10_another_clients_tokens_are_inactive_to_a_client_not_registered_to_introspect(db) {
        let app = spawn_app(db).await;
        let (owner, login) = user_session(&app).await;
        let stranger = app.service_client(&["x"]);
        let api = app.introspecting_service(&["x"]);
        let (access, refresh) = (field(&login, "access_token"), field(&login, "refresh_token"));

        for token in [access, refresh] {
            assert_eq!(app.introspect(&stranger, token).await, serde_json::json!({ "active": false }));

            let own = app.introspect(&owner, token).await;
            assert_eq!(own["active"], true, "{own}");
            assert_eq!(own["client_id"], owner.id.as_str());

            let described = app.introspect(&api, token).await;
            assert_eq!(described["active"], true, "{described}");
            assert_eq!(described["client_id"], owner.id.as_str());
            assert_eq!(described["scope"], "a");
            assert!(described["sub"].is_string() && described["exp"].is_i64(), "{described}");
        }
    }

    async fn finding_10_client_show_and_list_say_whether_a_client_may_introspect(db) {
        let app = spawn_app(db).await;
        let api = app.introspecting_service(&["x"]);
        let plain = app.service_client(&["x"]);

        assert_eq!(app.cli_json(&["client", "show", &api.id])["introspect"], true);
        assert_eq!(app.cli_json(&["client", "show", &plain.id])["introspect"], false);
        let listed = app.cli_json(&["client", "list"]);
        let flag = |id: &str| listed.as_array().unwrap().iter().find(|c| c["client_id"] == id).unwrap()["introspect"].clone();
        assert_eq!((flag(&api.id), flag(&plain.id)), (Value::Bool(true), Value::Bool(false)));
    }

    async fn finding_8_a_deleted_clients_tokens_are_inactive_and_its_refresh_tokens_fail(db) {
        let app = spawn_app(db).await;
        let (owner, login) = user_session(&app).await;
        let service = app.service_client(&["x"]);
        let service_token = field(&app.client_credentials(&service).await, "access_token").to_owned();
        let api = app.introspecting_service(&["x"]);
        let tokens = [field(&login, "access_token"), field(&login, "refresh_token"), &service_token];
        for token in tokens {
            assert_eq!(app.introspect(&api, token).await["active"], true);
        }

        for client in [&owner, &service] {
            app.cli_json(&["client", "delete", &client.id]);
        }

        for token in tokens {
            assert_eq!(app.introspect(&api, token).await, serde_json::json!({ "active": false }));
        }
        let res = app.refresh(&owner, field(&login, "refresh_token"), None).await;
        oauth_error(res, 401, "invalid_client").await;
    }
}
