//! The admin JSON API over HTTP with a real admin token: users, roles, consents, sessions,
//! clients and events, each change checked where a client would notice it; and every route
//! of its OpenAPI document refusing a request without a token (401) or without the admin
//! scope (403).

use serde_json::{json, Value};

use crate::authorization_code::PASSWORD;
use crate::helpers::{oauth_error, on_both_backends, spawn_app, Registered, TestApp};

pub(crate) struct Admin<'a> {
    app: &'a TestApp,
    token: String,
}

impl Admin<'_> {
    /// A service registered for `gatehouse:admin`, with a token from `app`.
    pub(crate) async fn new(app: &TestApp) -> Admin<'_> {
        let ops = app.service_client(&["gatehouse:admin"]);
        let token = app.client_credentials(&ops).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Admin { app, token }
    }

    /// The same admin token, sent to another instance on the same database.
    pub(crate) fn on<'b>(&self, app: &'b TestApp) -> Admin<'b> {
        Admin {
            app,
            token: self.token.clone(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// A call that must answer `status`; its JSON body (`null` for none).
    pub(crate) async fn expect(
        &self,
        status: u16,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let res = self.call(method.clone(), path, body).await;
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }
}

use reqwest::Method;

fn names(list: &Value, key: &str, field: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u[field].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends! {
    async fn an_admin_manages_users_and_roles_over_http_and_each_change_holds(db) {
        let app = spawn_app(db).await;
        let admin = Admin::new(&app).await;
        let role = admin.expect(201, Method::POST, "/admin/api/roles", Some(json!({"name": "reader", "scopes": ["books:read"]}))).await;
        assert_eq!(role, json!({"name": "reader", "scopes": ["books:read"], "users": 0}));
        admin.expect(201, Method::POST, "/admin/api/roles", Some(json!({"name": "writer", "scopes": ["books:write"]}))).await;
        let client = app.first_party_client(&["books:read", "books:write"]);

        let alice = admin.expect(201, Method::POST, "/admin/api/users", Some(json!({
            "username": "Alice", "password": PASSWORD, "roles": ["reader"], "email": "alice@example.com"
        }))).await;
        assert_eq!(alice["roles"], json!(["reader"]));
        assert!(alice.get("password_hash").is_none() && alice.get("password").is_none());
        for name in ["bob", "carol"] {
            admin.expect(201, Method::POST, "/admin/api/users", Some(json!({"username": name, "password": PASSWORD}))).await;
        }
        let taken = admin.expect(400, Method::POST, "/admin/api/users", Some(json!({"username": "ALICE", "password": PASSWORD}))).await;
        assert!(taken["error_description"].as_str().unwrap().contains("taken"));

        let page = admin.expect(200, Method::GET, "/admin/api/users?limit=2", None).await;
        assert_eq!(names(&page, "users", "username"), ["Alice", "bob"]);
        let next = page["next"].as_str().unwrap();
        let rest = admin.expect(200, Method::GET, &format!("/admin/api/users?limit=2&after={next}"), None).await;
        assert_eq!(names(&rest, "users", "username"), ["carol"]);
        let found = admin.expect(200, Method::GET, "/admin/api/users?search=AL", None).await;
        assert_eq!(names(&found, "users", "username"), ["Alice"]);

        let id = alice["id"].as_str().unwrap();
        let by_id = admin.expect(200, Method::GET, &format!("/admin/api/users/{id}"), None).await;
        assert_eq!(by_id["username"], "Alice");
        let edited = admin.expect(200, Method::PATCH, "/admin/api/users/alice", Some(json!({"name": "Alice Liddell", "email": ""}))).await;
        assert_eq!(edited["name"], "Alice Liddell");
        assert!(edited.get("email").is_none(), "an empty value clears the claim");

        admin.expect(200, Method::PUT, "/admin/api/users/alice/roles/writer", None).await;
        let token: Value = app.password_grant(&client, "alice", PASSWORD, None).await.json().await.unwrap();
        assert_eq!(token["scope"], "books:read books:write");
        admin.expect(200, Method::DELETE, "/admin/api/users/alice/roles/writer", None).await;
        admin.expect(404, Method::PUT, "/admin/api/users/alice/roles/nope", None).await;
        let role = admin.expect(200, Method::PUT, "/admin/api/roles/reader", Some(json!({"scopes": ["books:read", "books:write"]}))).await;
        assert_eq!(role["users"], 1);
        let token: Value = app.password_grant(&client, "alice", PASSWORD, None).await.json().await.unwrap();
        assert_eq!(token["scope"], "books:read books:write", "a role's new scope reaches its users");

        // A reset password: the old one and the tokens it bought stop working.
        let short = admin.expect(400, Method::PUT, "/admin/api/users/alice/password", Some(json!({"password": "short"}))).await;
        assert!(short["error_description"].as_str().unwrap().contains("at least"));
        let ended = admin.expect(200, Method::PUT, "/admin/api/users/alice/password", Some(json!({"password": "a brand new passphrase"}))).await;
        assert_eq!(ended["refresh_families"], 2);
        oauth_error(app.refresh(&client, token["refresh_token"].as_str().unwrap(), None).await, 400, "invalid_grant").await;
        oauth_error(app.password_grant(&client, "alice", PASSWORD, None).await, 400, "invalid_grant").await;
        assert_eq!(app.password_grant(&client, "alice", "a brand new passphrase", None).await.status(), 200);

        admin.expect(200, Method::POST, "/admin/api/users/alice/disable", None).await;
        oauth_error(app.password_grant(&client, "alice", "a brand new passphrase", None).await, 400, "invalid_grant").await;
        admin.expect(400, Method::POST, "/admin/api/users/alice/disable", None).await;
        admin.expect(200, Method::POST, "/admin/api/users/alice/enable", None).await;
        assert_eq!(app.password_grant(&client, "alice", "a brand new passphrase", None).await.status(), 200);
        assert_eq!(admin.expect(200, Method::GET, "/admin/api/users/alice/sessions", None).await, json!([]));
        assert_eq!(admin.expect(200, Method::GET, "/admin/api/users/alice/consents", None).await, json!([]));
        admin.expect(200, Method::DELETE, "/admin/api/users/alice/sessions", None).await;
        admin.expect(204, Method::DELETE, "/admin/api/users/alice/totp", None).await;

        admin.expect(204, Method::DELETE, "/admin/api/roles/writer", None).await;
        admin.expect(404, Method::GET, "/admin/api/roles/writer", None).await;
        admin.expect(204, Method::DELETE, "/admin/api/users/alice", None).await;
        admin.expect(404, Method::GET, "/admin/api/users/alice", None).await;
        oauth_error(app.password_grant(&client, "alice", "a brand new passphrase", None).await, 400, "invalid_grant").await;

        let events = admin.expect(200, Method::GET, "/admin/api/events?limit=500", None).await;
        let kinds: Vec<&str> = events.as_array().unwrap().iter().filter(|e| e["detail"].as_str().is_some_and(|d| d.ends_with("(via api)"))).map(|e| e["kind"].as_str().unwrap()).collect();
        for kind in ["role_created", "user_created", "user_updated", "role_granted", "role_removed", "role_updated", "password_changed", "user_disabled", "user_enabled", "role_deleted", "user_deleted"] {
            assert!(kinds.contains(&kind), "no {kind} event by the API in {kinds:?}");
        }
    }

    async fn an_admin_registers_a_client_over_http_and_a_service_uses_its_secret(db) {
        let app = spawn_app(db).await;
        let admin = Admin::new(&app).await;
        let created = admin.expect(201, Method::POST, "/admin/api/clients", Some(json!({
            "name": "nightly", "grant_types": ["client_credentials"], "scopes": ["reports:read"]
        }))).await;
        let service = Registered { id: created["client_id"].as_str().unwrap().to_owned(), secret: created["client_secret"].as_str().unwrap().to_owned() };
        assert_eq!(app.client_credentials(&service).await["scope"], "reports:read");
        let shown = admin.expect(200, Method::GET, &format!("/admin/api/clients/{}", service.id), None).await;
        assert!(shown.get("client_secret").is_none(), "the secret is shown once");

        let path = format!("/admin/api/clients/{}", service.id);
        admin.expect(200, Method::PATCH, &path, Some(json!({"scopes": ["reports:read", "reports:write"]}))).await;
        let form = [("grant_type", "client_credentials"), ("scope", "reports:write")];
        assert_eq!(app.token(&form, Some((&service.id, &service.secret))).await.status(), 200);
        admin.expect(400, Method::PATCH, &path, Some(json!({"grant_types": []}))).await;
        admin.expect(400, Method::PATCH, &path, Some(json!({"redirect_uris": ["http://evil.example/"]}))).await;

        let rotated = admin.expect(200, Method::POST, &format!("{path}/secret"), None).await;
        oauth_error(app.token(&[("grant_type", "client_credentials")], Some((&service.id, &service.secret))).await, 401, "invalid_client").await;
        let renewed = Registered { id: service.id.clone(), secret: rotated["client_secret"].as_str().unwrap().to_owned() };
        assert_eq!(app.client_credentials(&renewed).await["scope"], "reports:read reports:write");

        let page = admin.expect(200, Method::GET, "/admin/api/clients?limit=1", None).await;
        assert_eq!(page["clients"].as_array().unwrap().len(), 1);
        let next = page["next"].as_str().expect("two clients: a next page");
        let second = admin.expect(200, Method::GET, &format!("/admin/api/clients?limit=1&after={next}"), None).await;
        assert!(second.get("next").is_none());

        admin.expect(204, Method::DELETE, &path, None).await;
        oauth_error(app.token(&[("grant_type", "client_credentials")], Some((&renewed.id, &renewed.secret))).await, 401, "invalid_client").await;
        admin.expect(404, Method::DELETE, &path, None).await;
    }

    async fn bad_requests_are_refused_precisely_and_write_nothing(db) {
        let app = spawn_app(db).await;
        let admin = Admin::new(&app).await;
        let bad_users = [
            json!({"username": "eve", "password": PASSWORD, "is_admin": true}),
            json!({"username": "eve"}),
            json!({"username": 7, "password": PASSWORD}),
            json!({"username": "eve", "password": PASSWORD, "roles": ["no-such-role"]}),
            json!({"username": "eve", "password": PASSWORD, "email": "not-an-email"}),
            json!({"username": "e ve", "password": PASSWORD}),
            json!([]),
        ];
        for body in bad_users {
            let error = admin.expect(400, Method::POST, "/admin/api/users", Some(body)).await;
            assert_eq!(error["error"], "invalid_request");
        }
        let raw = |body: &'static str| {
            app.http.post(app.url("/admin/api/users")).bearer_auth(&admin.token).header("content-type", "application/json").body(body).send()
        };
        let twice = r#"{"username": "eve", "username": "mallory", "password": "correct horse battery staple"}"#;
        assert_eq!(raw(twice).await.unwrap().status(), 400);
        assert_eq!(raw("{").await.unwrap().status(), 400);
        let huge = json!({"username": "eve", "password": "x".repeat(64 * 1024)});
        assert_eq!(admin.call(Method::POST, "/admin/api/users", Some(huge)).await.status(), 413);
        for query in ["limit=0", "limit=501", "limit=x", "limit=1&limit=2", "colour=red"] {
            admin.expect(400, Method::GET, &format!("/admin/api/users?{query}"), None).await;
        }
        admin.expect(400, Method::GET, "/admin/api/events?limit=-1", None).await;
        let page = admin.expect(200, Method::GET, "/admin/api/users", None).await;
        assert_eq!(page["users"], json!([]), "no refused request wrote a user");
    }

    async fn every_documented_route_refuses_strangers_with_401_and_non_admins_with_403(db) {
        let app = spawn_app(db).await;
        let doc: Value = app.get_json("/admin/openapi.json").await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(doc["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");
        let reader = app.service_client(&["books:read"]);
        let plain = app.client_credentials(&reader).await["access_token"].as_str().unwrap().to_owned();
        let admin = Admin::new(&app).await;
        let mut routes = 0;
        let mut registration_routes = 0;
        for (path, operations) in doc["paths"].as_object().unwrap() {
            assert!(path.starts_with("/admin/api/") || path.starts_with("/register"), "{path}");
            let concrete = path.replace("{user}", "alice").replace("{role}", "reader").replace("{client_id}", "some-client");
            for (method, operation) in operations.as_object().unwrap() {
                let method: Method = method.to_uppercase().parse().unwrap();
                let stranger = app.http.request(method.clone(), app.url(&concrete)).send().await.unwrap();
                assert_eq!(stranger.status(), 401, "{method} {path} without a token");
                assert!(stranger.headers().contains_key("www-authenticate"));
                let res = app.http.request(method.clone(), app.url(&concrete)).bearer_auth(&plain).json(&json!({})).send().await.unwrap();
                // RFC 7592: a client's own URI takes only its registration access token; any
                // other token is no credential there (401), an admin's included.
                if operation["security"].to_string().contains("registration_token") {
                    assert_eq!(res.status(), 401, "{method} {path} with an access token");
                    let admins = app.http.request(method.clone(), app.url(&concrete)).bearer_auth(&admin.token).json(&json!({})).send().await.unwrap();
                    assert_eq!(admins.status(), 401, "{method} {path} with an admin token");
                    registration_routes += 1;
                    continue;
                }
                assert_eq!(res.status(), 403, "{method} {path} with a token without gatehouse:admin");
                let challenge = res.headers()["www-authenticate"].to_str().unwrap();
                assert!(challenge.contains("insufficient_scope"), "{challenge}");
                let garbage = app.http.request(method.clone(), app.url(&concrete)).bearer_auth("garbage").send().await.unwrap();
                assert_eq!(garbage.status(), 401, "{method} {path} with a garbage token");
                routes += 1;
            }
        }
        assert!(routes >= 28, "the document names {routes} admin-token operations");
        assert_eq!(registration_routes, 3, "RFC 7592's GET, PUT and DELETE");
        // The admin's own token passes the gate on a read.
        admin.expect(200, Method::GET, "/admin/api/roles", None).await;
    }
}
