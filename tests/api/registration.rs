//! Dynamic client registration (RFC 7591) and client configuration (RFC 7592) as a script
//! meets them: an admin token registers, the registration access token manages that one
//! client, and everyone else is refused with 401 or 403.

use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::authorization_code::PASSWORD;
use crate::browser::{pkce_pair, Browser};
use crate::helpers::{oauth_error, on_both_backends, spawn_app, Registered, TestApp};
use crate::openid::{exchange, sign_in, Oidc, REDIRECT};

/// An admin token from a service registered for `gatehouse:admin`, as SPEC.md has it.
async fn admin_token(app: &TestApp) -> String {
    let ops = app.service_client(&["gatehouse:admin"]);
    app.client_credentials(&ops).await["access_token"]
        .as_str()
        .expect("an admin token")
        .to_owned()
}

async fn post_register(app: &TestApp, bearer: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.http.post(app.url("/register")).json(body);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn register_ok(app: &TestApp, admin: &str, body: &Value) -> Value {
    let res = post_register(app, Some(admin), body).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

/// A 401 or 403 with its RFC 6750 challenge.
async fn refused(res: reqwest::Response, status: u16, challenge: &str) {
    assert_eq!(res.status(), status);
    let header = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(header.starts_with(challenge), "{header}");
}

fn client_count(app: &TestApp) -> usize {
    app.cli_json(&["client", "list"]).as_array().unwrap().len()
}

/// The registration `client_uri` with `token`, for `method`.
fn configure(
    app: &TestApp,
    method: reqwest::Method,
    uri: &str,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let req = app.http.request(method, uri);
    match token {
        Some(token) => req.bearer_auth(token),
        None => req,
    }
}

fn code_client() -> Value {
    json!({
        "client_name": "Bookshelf",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid books:read",
        "logo_uri": "https://bookshelf.example/logo.png",
    })
}

on_both_backends! {
    async fn a_client_registered_with_an_admin_token_signs_a_user_in_like_one_made_by_the_cli(db) {
        let app = spawn_app(db).await;
        for doc in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            let meta: Value = app.get_json(doc).await;
            assert_eq!(meta["registration_endpoint"], format!("{}/register", app.issuer));
        }
        let admin = admin_token(&app).await;
        let created = register_ok(&app, &admin, &code_client()).await;
        let id = created["client_id"].as_str().unwrap().to_owned();
        assert_eq!(created["client_name"], "Bookshelf");
        assert_eq!(created["redirect_uris"], json!([REDIRECT]));
        assert_eq!(created["grant_types"], json!(["authorization_code", "refresh_token"]));
        assert_eq!(created["response_types"], json!(["code"]));
        assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(created["scope"], "books:read openid");
        assert_eq!(created["client_secret_expires_at"], 0);
        assert!(created["client_id_issued_at"].as_i64().unwrap() > 0);
        assert_eq!(created["registration_client_uri"], format!("{}/register/{id}", app.issuer));
        assert!(created.get("logo_uri").is_none(), "metadata gatehouse does not keep is not echoed");

        // The user flow, exactly as with a client made by `client create`.
        app.create_role("reader", &["books:read"]);
        let user_id = app.create_user("alice", PASSWORD, &["reader"]);
        let client = Registered { id, secret: created["client_secret"].as_str().unwrap().to_owned() };
        let s = Oidc { app, client, user_id };
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let back = sign_in(&s, &browser, "openid books:read", &challenge, &[]).await;
        let tokens = exchange(&s, &back, &verifier).await;
        assert_eq!(tokens["scope"], "books:read openid");
        let refreshed = s.app.refresh(&s.client, tokens["refresh_token"].as_str().unwrap(), None).await;
        assert_eq!(refreshed.status(), 200);

        let log = s.app.cli_json(&["events"]);
        let registered = log.as_array().unwrap().iter().find(|e| e["kind"] == "client_registered" && e["client_id"] == s.client.id.as_str()).expect("a client_registered event");
        assert!(registered["detail"].as_str().unwrap().contains("(via api)"), "{registered}");
    }

    async fn a_service_registered_over_http_gets_tokens_with_its_secret_and_a_public_client_gets_none(db) {
        let app = spawn_app(db).await;
        let admin = admin_token(&app).await;
        let service = register_ok(&app, &admin, &json!({
            "client_name": "Nightly export",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
            "scope": "reports:read",
        })).await;
        assert_eq!(service["response_types"], json!([]));
        assert_eq!(service["redirect_uris"], json!([]));
        assert_eq!(service["token_endpoint_auth_method"], "client_secret_post");
        let (id, secret) = (service["client_id"].as_str().unwrap(), service["client_secret"].as_str().unwrap());
        let form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)];
        let token: Value = app.token(&form, None).await.json().await.unwrap();
        assert_eq!(token["scope"], "reports:read");

        let public = register_ok(&app, &admin, &json!({
            "redirect_uris": ["com.example.app:/callback"],
            "token_endpoint_auth_method": "none",
        })).await;
        assert!(public.get("client_secret").is_none(), "a public client has no secret");
        assert_eq!(public["token_endpoint_auth_method"], "none");
        assert_eq!(public["grant_types"], json!(["authorization_code"]), "RFC 7591's default");
        assert_eq!(public["client_name"], "unnamed client");
        let shown = app.cli_json(&["client", "show", public["client_id"].as_str().unwrap()]);
        assert_eq!(shown["public"], true);
    }

    async fn registering_takes_a_live_admin_token_and_nothing_else(db) {
        let app = spawn_app(db).await;
        let body = code_client();
        refused(post_register(&app, None, &body).await, 401, "Bearer").await;
        refused(post_register(&app, Some("not-a-token"), &body).await, 401, "Bearer error=\"invalid_token\"").await;

        // A token of ours without the admin scope.
        let reader = app.service_client(&["books:read"]);
        let plain = app.client_credentials(&reader).await["access_token"].as_str().unwrap().to_owned();
        refused(post_register(&app, Some(&plain), &body).await, 403, "Bearer error=\"insufficient_scope\"").await;

        // A user whose role allows the admin scope, through the password grant.
        app.create_role("admins", &["gatehouse:admin"]);
        app.create_user("root", PASSWORD, &["admins"]);
        let console = app.first_party_client(&["gatehouse:admin"]);
        let user_token: Value = app.password_grant(&console, "root", PASSWORD, None).await.json().await.unwrap();
        let user_admin = user_token["access_token"].as_str().unwrap();
        let first = register_ok(&app, user_admin, &body).await;

        // The registration access token is not an admin token, nor an access token anywhere.
        let rat = first["registration_access_token"].as_str().unwrap();
        refused(post_register(&app, Some(rat), &body).await, 401, "Bearer error=\"invalid_token\"").await;
        let at_userinfo = app.http.get(app.url("/userinfo")).bearer_auth(rat).send().await.unwrap();
        assert_eq!(at_userinfo.status(), 401);
        assert_eq!(app.introspect(&reader, rat).await["active"], false);

        // Losing the role loses the API at once, though the token has minutes to run.
        app.cli_json(&["user", "remove-role", "root", "admins"]);
        refused(post_register(&app, Some(user_admin), &body).await, 403, "Bearer error=\"insufficient_scope\"").await;
        app.cli_json(&["user", "add-role", "root", "admins"]);
        register_ok(&app, user_admin, &body).await;
        app.cli_json(&["user", "disable", "root"]);
        refused(post_register(&app, Some(user_admin), &body).await, 401, "Bearer error=\"invalid_token\"").await;

        // A service token: revoked, or its client no longer registered for the scope.
        let ops = app.service_client(&["gatehouse:admin"]);
        let service_admin = app.client_credentials(&ops).await["access_token"].as_str().unwrap().to_owned();
        register_ok(&app, &service_admin, &body).await;
        app.cli_json(&["client", "update", &ops.id, "--scope", "books:read"]);
        refused(post_register(&app, Some(&service_admin), &body).await, 403, "Bearer error=\"insufficient_scope\"").await;
        let ops2 = app.service_client(&["gatehouse:admin"]);
        let revoked = app.client_credentials(&ops2).await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(app.revoke(&ops2, &revoked).await.status(), 200);
        refused(post_register(&app, Some(&revoked), &body).await, 401, "Bearer error=\"invalid_token\"").await;
        assert_eq!(client_count(&app), 7, "only the admitted requests registered a client");
    }

    async fn bad_metadata_is_refused_with_its_rfc_7591_error_and_writes_nothing(db) {
        let app = spawn_app(db).await;
        let admin = admin_token(&app).await;
        let before = client_count(&app);
        let redirect_errors = [
            json!({"redirect_uris": ["http://app.example/cb"]}),
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            json!({"redirect_uris": ["/relative"]}),
            json!({"redirect_uris": []}),
            json!({}),
            json!({"redirect_uris": ["https://app.example/cb"], "post_logout_redirect_uris": ["javascript:alert(1)"]}),
        ];
        for body in &redirect_errors {
            let res = post_register(&app, Some(&admin), body).await;
            assert_eq!(res.status(), 400, "{body}");
            oauth_error(res, 400, "invalid_redirect_uri").await;
        }
        let ok_uris = json!(["https://app.example/cb"]);
        let metadata_errors = [
            json!({"redirect_uris": ok_uris, "grant_types": ["implicit"]}),
            json!({"redirect_uris": ok_uris, "response_types": ["token"]}),
            json!({"redirect_uris": ok_uris, "response_types": []}),
            json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
            json!({"redirect_uris": ok_uris, "token_endpoint_auth_method": "private_key_jwt"}),
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            json!({"redirect_uris": ok_uris, "client_name": ""}),
            json!({"redirect_uris": ok_uris, "client_name": "a\u{0}b"}),
            // Names that would show as something else on the consent page.
            json!({"redirect_uris": ok_uris, "client_name": "Bank\u{202E}lapyaP"}),
            json!({"redirect_uris": ok_uris, "client_name": "Pay\u{200B}Pal"}),
            json!({"redirect_uris": ok_uris, "client_name": "Books\u{2066}x"}),
            json!({"redirect_uris": ok_uris, "scope": "books:read\u{7f}"}),
            json!({"redirect_uris": "https://app.example/cb"}),
            json!({"redirect_uris": ok_uris, "scope": ["books:read"]}),
            json!([{"redirect_uris": ok_uris}]),
            json!("a string"),
        ];
        for body in &metadata_errors {
            let res = post_register(&app, Some(&admin), body).await;
            assert_eq!(res.status(), 400, "{body}");
            let error = oauth_error(res, 400, "invalid_client_metadata").await;
            assert!(!error["error_description"].as_str().unwrap().is_empty());
        }
        let raw = |content_type: &'static str, body: &'static str| {
            app.http.post(app.url("/register")).bearer_auth(&admin).header("content-type", content_type).body(body).send()
        };
        let duplicated = r#"{"redirect_uris": ["https://a.example/cb"], "redirect_uris": ["https://b.example/cb"]}"#;
        oauth_error(raw("application/json", duplicated).await.unwrap(), 400, "invalid_client_metadata").await;
        oauth_error(raw("application/json", "{").await.unwrap(), 400, "invalid_client_metadata").await;
        oauth_error(raw("application/x-www-form-urlencoded", "client_name=x").await.unwrap(), 400, "invalid_request").await;
        let huge = json!({"redirect_uris": ok_uris, "client_name": "x".repeat(64 * 1024)});
        assert_eq!(post_register(&app, Some(&admin), &huge).await.status(), 413);
        let wrong_method = app.http.get(app.url("/register")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(wrong_method.status(), 405);
        assert_eq!(client_count(&app), before, "no refused registration wrote a client");
    }

    async fn a_client_reads_replaces_and_deletes_its_own_registration_and_no_one_else_can(db) {
        let app = spawn_app(db).await;
        let admin = admin_token(&app).await;
        let created = register_ok(&app, &admin, &json!({
            "client_name": "Exporter",
            "grant_types": ["client_credentials"],
            "scope": "reports:read reports:write",
        })).await;
        let other = register_ok(&app, &admin, &code_client()).await;
        let id = created["client_id"].as_str().unwrap().to_owned();
        let uri = created["registration_client_uri"].as_str().unwrap().to_owned();
        let rat = created["registration_access_token"].as_str().unwrap().to_owned();
        let client = Registered { id: id.clone(), secret: created["client_secret"].as_str().unwrap().to_owned() };

        let read: Value = configure(&app, reqwest::Method::GET, &uri, Some(&rat)).send().await.unwrap().json().await.unwrap();
        for field in ["client_id", "client_name", "grant_types", "scope", "registration_client_uri", "client_id_issued_at", "token_endpoint_auth_method"] {
            assert_eq!(read[field], created[field], "{field}");
        }
        assert!(read.get("client_secret").is_none() && read.get("registration_access_token").is_none(), "shown once only");

        // Everyone but the holder of this client's token: 401, the same for an unknown id.
        let other_rat = other["registration_access_token"].as_str().unwrap();
        let unknown = format!("{}/register/no-such-client", app.issuer);
        for (target, token) in [(&uri, None), (&uri, Some("wrong")), (&uri, Some(other_rat)), (&uri, Some(admin.as_str())), (&unknown, Some(rat.as_str()))] {
            for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
                let res = configure(&app, method, target, token).send().await.unwrap();
                assert_eq!(res.status(), 401, "{target} {token:?}");
                assert!(res.headers().contains_key("www-authenticate"));
            }
        }

        let put = |body: Value| configure(&app, reqwest::Method::PUT, &uri, Some(&rat)).json(&body).send();
        let replacement = json!({
            "client_id": id,
            "client_secret": client.secret,
            "client_name": "Exporter v2",
            "grant_types": ["client_credentials"],
            "scope": "reports:read",
            // What a read returned may be sent back; it is not metadata to change.
            "client_id_issued_at": created["client_id_issued_at"],
            "registration_client_uri": uri,
        });
        let res = put(replacement.clone()).await.unwrap();
        assert_eq!(res.status(), 200);
        let replaced: Value = res.json().await.unwrap();
        assert_eq!(replaced["client_name"], "Exporter v2");
        assert_eq!(replaced["scope"], "reports:read");
        let form = [("grant_type", "client_credentials"), ("scope", "reports:write")];
        oauth_error(app.token(&form, Some((&client.id, &client.secret))).await, 400, "invalid_scope").await;

        // Its own token may narrow the client, never widen it, least of all to an admin.
        for (field, value) in [
            ("scope", json!("reports:read gatehouse:admin")),
            ("scope", json!("reports:read reports:write")),
            ("grant_types", json!(["client_credentials", "password"])),
        ] {
            let mut widened = replacement.clone();
            widened[field] = value;
            let error = oauth_error(put(widened).await.unwrap(), 400, "invalid_client_metadata").await;
            assert!(error["error_description"].as_str().unwrap().contains("not registered for this client"), "{error}");
        }
        let form = [("grant_type", "client_credentials"), ("scope", "gatehouse:admin")];
        oauth_error(app.token(&form, Some((&client.id, &client.secret))).await, 400, "invalid_scope").await;

        let mut without_id = replacement.clone();
        without_id.as_object_mut().unwrap().remove("client_id");
        let mut wrong_secret = replacement.clone();
        wrong_secret["client_secret"] = json!("not-the-secret");
        let mut made_public = replacement.clone();
        made_public["token_endpoint_auth_method"] = json!("none");
        made_public["grant_types"] = json!(["authorization_code"]);
        made_public["redirect_uris"] = json!([REDIRECT]);
        let mut other_id = replacement.clone();
        other_id["client_id"] = other["client_id"].clone();
        for body in [without_id, wrong_secret, made_public, other_id] {
            oauth_error(put(body).await.unwrap(), 400, "invalid_client_metadata").await;
        }
        oauth_error(put(json!({"client_id": id, "grant_types": ["client_credentials"], "redirect_uris": ["http://x.example/"]})).await.unwrap(), 400, "invalid_redirect_uri").await;
        let unchanged = app.cli_json(&["client", "show", &id]);
        assert_eq!(unchanged["name"], "Exporter v2", "a refused replacement changes nothing");

        let deleted = configure(&app, reqwest::Method::DELETE, &uri, Some(&rat)).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        oauth_error(app.token(&[("grant_type", "client_credentials")], Some((&client.id, &client.secret))).await, 401, "invalid_client").await;
        let again = configure(&app, reqwest::Method::GET, &uri, Some(&rat)).send().await.unwrap();
        assert_eq!(again.status(), 401);
        assert!(app.cli(&["client", "show", &id]).stderr.starts_with(b"error"));
        let log = app.cli_json(&["events"]);
        let kinds: Vec<&str> = log.as_array().unwrap().iter().filter(|e| e["client_id"] == id.as_str()).map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["client_registered", "client_updated", "client_deleted"]);
    }

    async fn a_copied_database_holds_only_the_hash_of_a_registration_access_token(db) {
        let app = spawn_app(db).await;
        let admin = admin_token(&app).await;
        let created = register_ok(&app, &admin, &code_client()).await;
        let id = created["client_id"].as_str().unwrap();
        let rat = created["registration_access_token"].as_str().unwrap();
        #[derive(diesel::QueryableByName)]
        struct Stored {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>)]
            registration_token_hash: Option<Vec<u8>>,
        }
        let query = format!("SELECT registration_token_hash FROM clients WHERE id = '{id}'");
        let stored: Vec<Stored> = match app.db.url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 10000").unwrap();
                diesel::sql_query(query).load(&mut conn).unwrap()
            }
            None => diesel::sql_query(query).load(&mut diesel::PgConnection::establish(&app.db.url).unwrap()).unwrap(),
        };
        let expected: [u8; 32] = Sha256::digest(rat.as_bytes()).into();
        assert_eq!(stored[0].registration_token_hash.as_deref(), Some(&expected[..]));
        if let Some(path) = app.db.url.strip_prefix("sqlite://") {
            let mut file = std::fs::read(path).unwrap();
            file.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
            assert!(!file.windows(rat.len()).any(|w| w == rat.as_bytes()), "the token is not in the database file");
        }
    }
}
