//! Malformed, repeated, oversized and hostile input: always a precise 4xx, never a 500.

use crate::helpers::{encode_form, oauth_error, on_both_backends, spawn_app, spawn_app_with};

const FORM: &str = "application/x-www-form-urlencoded";

on_both_backends! {
    async fn a_repeated_parameter_is_invalid_request(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a", "b"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")], Some((&client.id, &client.secret))).await;

        let body = oauth_error(res, 400, "invalid_request").await;
        assert!(body["error_description"].as_str().unwrap().contains("scope"));
    }

    async fn broken_percent_encoding_is_invalid_request(db) {
        let app = spawn_app(db).await;

        let res = app.token_raw(FORM, "grant_type=client%ZZcredentials").await;

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn invalid_utf8_is_invalid_request(db) {
        let app = spawn_app(db).await;

        let res = app.token_raw(FORM, b"grant_type=client_credentials&scope=%C3%28".to_vec()).await;

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn a_json_body_is_invalid_request(db) {
        let app = spawn_app(db).await;

        let res = app.token_raw("application/json", r#"{"grant_type":"client_credentials"}"#).await;

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn a_body_over_the_default_limit_gets_413(db) {
        let app = spawn_app(db).await;
        let padding = "x".repeat(20 * 1024);

        let res = app.token_raw(FORM, format!("grant_type=client_credentials&pad={padding}")).await;

        oauth_error(res, 413, "invalid_request").await;
    }

    async fn a_streamed_body_over_the_limit_gets_413_too(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_SERVER_BODY_LIMIT_BYTES", "2048")]).await;
        // A chunked body declares no length: the limit must hold while reading.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..8).map(|_| Ok(vec![b'a'; 512])).collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));

        let res = app.token_raw(FORM, body).await;

        oauth_error(res, 413, "invalid_request").await;
    }

    async fn the_body_limit_is_configurable(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_SERVER_BODY_LIMIT_BYTES", "2048")]).await;
        let client = app.service_client(&["a"]);
        let form = |pad: usize| encode_form(&[("grant_type", "client_credentials"), ("client_id", &client.id), ("client_secret", &client.secret), ("pad", &"p".repeat(pad))]);

        let small = app.token_raw(FORM, form(1000)).await;
        let large = app.token_raw(FORM, form(3000)).await;

        assert_eq!(small.status(), 200);
        oauth_error(large, 413, "invalid_request").await;
    }

    async fn get_on_the_token_endpoint_is_refused(db) {
        let app = spawn_app(db).await;

        let res = app.http.get(app.url("/token?grant_type=client_credentials")).send().await.unwrap();

        oauth_error(res, 405, "invalid_request").await;
    }

    async fn a_malformed_basic_header_is_invalid_request(db) {
        let app = spawn_app(db).await;

        let res = app.http.post(app.url("/token"))
            .header("Content-Type", FORM)
            .header("Authorization", "Basic !!!not-base64!!!")
            .body("grant_type=client_credentials").send().await.unwrap();

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn two_authorization_headers_are_invalid_request(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.http.post(app.url("/token"))
            .header("Content-Type", FORM)
            .basic_auth(&client.id, Some(&client.secret))
            .header("Authorization", "Basic Zm9vOmJhcg==")
            .body("grant_type=client_credentials").send().await.unwrap();

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn a_bearer_header_is_not_client_authentication(db) {
        let app = spawn_app(db).await;

        let res = app.http.post(app.url("/token"))
            .header("Content-Type", FORM)
            .bearer_auth("some.jwt.here")
            .body("grant_type=client_credentials").send().await.unwrap();

        oauth_error(res, 401, "invalid_client").await;
    }

    async fn a_malformed_scope_is_invalid_scope(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("scope", "a \"b\"")], Some((&client.id, &client.secret))).await;

        oauth_error(res, 400, "invalid_scope").await;
    }

    async fn hostile_strings_in_every_field_never_cause_a_500(db) {
        // Many wrong secrets for one client: lift the failure limit, which is not under test here.
        let app = spawn_app_with(db, &[("GATEHOUSE_LIMITS_CLIENT_AUTH_FAILURES", "100000")]).await;
        let client = app.service_client(&["a"]);
        let long = "A".repeat(10_000);
        let hostile = [
            "' OR '1'='1' --", "\"; DROP TABLE clients; --", "<script>alert(1)</script>",
            "%00", "\u{202e}evil", "😀😀😀", "../../etc/passwd", "${jndi:ldap://x}", &long, " ", "\\",
        ];
        for value in hostile {
            for field in ["grant_type", "client_id", "client_secret", "scope"] {
                let mut form = vec![("grant_type", "client_credentials"), ("client_id", client.id.as_str()), ("client_secret", client.secret.as_str())];
                form.retain(|(k, _)| *k != field);
                form.push((field, value));
                let res = app.token(&form, None).await;
                let status = res.status().as_u16();
                assert!((400..500).contains(&status), "{field}={value:.40}: status {status}");
                let body: serde_json::Value = res.json().await.unwrap();
                assert!(body["error"].is_string(), "{field}={value:.40}: {body}");
            }
            let res = app.token(&[("grant_type", "client_credentials")], Some((value, value))).await;
            assert!((400..500).contains(&res.status().as_u16()), "basic {value:.40}: {}", res.status());
        }
        // A NUL byte cannot even reach the database: PostgreSQL would reject it.
        let res = app.token_raw(FORM, format!("grant_type=client_credentials&client_id=a%00b&client_secret={}", client.secret)).await;
        oauth_error(res, 400, "invalid_request").await;
        // The server still works afterwards.
        app.client_credentials(&client).await;
    }
}
