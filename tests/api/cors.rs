//! CORS for browser apps: the endpoints an app fetches answer for the origins of registered
//! redirect URIs, with that origin, never `*` and never with credentials; every other origin
//! and every page get no CORS headers.

use std::time::{Duration, Instant};

use crate::helpers::{on_both_backends, spawn_app, TestApp};

const SPA: &str = "https://spa.example";

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap()
}

fn allow_origin(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

on_both_backends! {
    async fn endpoints_an_app_fetches_admit_registered_origins_only(db) {
        let app = spawn_app(db).await;
        let spa = app.register(&["--public", "--redirect-uri", "https://spa.example/callback", "--scope", "openid"]);

        for path in ["/token", "/revoke", "/userinfo", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let res = preflight(&app, path, SPA).await;
            assert_eq!(res.status(), 204, "{path}");
            assert_eq!(allow_origin(&res).as_deref(), Some(SPA), "{path}");
            assert!(res.headers().get("access-control-allow-credentials").is_none(), "{path}");
            let headers = res.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
            assert!(headers.contains("authorization") && headers.contains("content-type"));

            let refused = preflight(&app, path, "https://evil.example").await;
            assert_eq!(refused.status(), 403, "{path}");
            assert_eq!(allow_origin(&refused), None);
        }

        // The answers themselves carry the origin, for errors as well.
        let res = app.http.post(app.url("/token")).header("Origin", SPA)
            .form(&[("grant_type", "authorization_code"), ("client_id", spa.id.as_str()), ("code", "nope"), ("redirect_uri", "https://spa.example/callback"), ("code_verifier", "x".repeat(43).as_str())])
            .send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(allow_origin(&res).as_deref(), Some(SPA));
        assert!(res.headers()["vary"].to_str().unwrap().contains("Origin"));
        let jwks = app.http.get(app.url("/.well-known/jwks.json")).header("Origin", SPA).send().await.unwrap();
        assert_eq!(allow_origin(&jwks).as_deref(), Some(SPA));

        // Not reflected blindly: another origin, another port, or `null` gets nothing.
        for origin in ["https://evil.example", "https://spa.example:8443", "http://spa.example", "null"] {
            let res = app.http.get(app.url("/.well-known/jwks.json")).header("Origin", origin).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(allow_origin(&res), None, "{origin}");
        }

        // Pages and /authorize are navigations: no CORS, even for a registered origin.
        let authorize = app.http.get(app.url(&format!("/authorize?response_type=code&client_id={}", spa.id))).header("Origin", SPA).send().await.unwrap();
        assert_eq!(allow_origin(&authorize), None);
        let login = preflight(&app, "/login", SPA).await;
        assert_eq!(allow_origin(&login), None);
    }

    async fn a_new_client_s_origin_is_admitted_and_a_deleted_one_s_dropped(db) {
        let app = spawn_app(db).await;
        assert_eq!(preflight(&app, "/token", "https://later.example").await.status(), 403);
        let client = app.register(&["--public", "--redirect-uri", "https://later.example/cb", "--scope", "openid"]);
        let admitted = |want: u16| {
            let app = &app;
            async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let status = preflight(app, "/token", "https://later.example").await.status();
                    if status == want || Instant::now() > deadline {
                        return status;
                    }
                    actix_web::rt::time::sleep(Duration::from_millis(250)).await;
                }
            }
        };
        assert_eq!(admitted(204).await, 204, "registered: admitted within the cache's age");
        app.cli_json(&["client", "delete", &client.id]);
        assert_eq!(admitted(403).await, 403, "deleted: dropped within the cache's age");
    }
}
