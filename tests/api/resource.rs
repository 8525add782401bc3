//! `gatehouse_resource` against gatehouse running for real, through the bookshop example:
//! 401 and 403 as RFC 6750 wants them, and every way a token can be wrong.

use std::time::Duration;

use actix_web::{web, App, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse_resource::{IntrospectionClient, TokenVerifier, Verification};
use serde_json::{json, Value};

use crate::bookshop;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, Registered, TestApp, TestDb};

const ALL: [&str; 4] = ["books:read", "books:write", "books:delete", "orders:create"];

pub(crate) struct Bookshop {
    url: String,
    pub(crate) verifier: web::Data<TokenVerifier>,
    http: reqwest::Client,
}

impl Bookshop {
    pub(crate) async fn start(app: &TestApp, tune: impl FnOnce(&mut Verification)) -> Bookshop {
        let mut config = Verification::new(&app.issuer);
        tune(&mut config);
        let verifier = web::Data::new(TokenVerifier::discover(config).await.expect("discovery"));
        let shop = web::Data::new(bookshop::Shop::with_books(&[(
            "Kindred",
            "Octavia E. Butler",
        )]));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let data = verifier.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(shop.clone())
                .configure(bookshop::configure)
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Bookshop {
            url,
            verifier,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn get(&self, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}/books", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// Roles `customer` and `manager`, a user of each, and an app to log them in.
async fn people(app: &TestApp) -> (Registered, String, String) {
    app.create_role("customer", &["books:read", "orders:create"]);
    app.create_role("manager", &ALL);
    let carol = app.create_user("carol", "carol's password", &["customer"]);
    app.create_user("max", "max's password", &["manager"]);
    let client = app.first_party_client(&ALL);
    (client, carol, "max".into())
}

async fn token_for(app: &TestApp, client: &Registered, user: &str, password: &str) -> String {
    let body: Value = app
        .password_grant(client, user, password, None)
        .await
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A token with its header replaced (and a signature made by `sign`).
fn forged(token: &str, header: Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let head = URL_SAFE_NO_PAD.encode(header.to_string());
    let input = format!("{head}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(sign(input.as_bytes()));
    format!("{input}.{signature}")
}

on_both_backends! {
    async fn customers_browse_and_order_managers_also_edit_and_strangers_get_401(db) {
        let app = spawn_app(db).await;
        let (client, carol, _) = people(&app).await;
        let shop = Bookshop::start(&app, |_| {}).await;
        let customer = token_for(&app, &client, "carol", "carol's password").await;
        let manager = token_for(&app, &client, "max", "max's password").await;

        let res = shop.get(None).await;
        assert_eq!(res.status(), 401);
        assert_eq!(challenge(&res), "Bearer", "no error code for a missing token (RFC 6750 §3.1)");

        assert_eq!(shop.get(Some(&customer)).await.status(), 200);
        let caller = shop.verifier.verify(&customer).await.unwrap();
        assert_eq!((caller.sub.as_str(), caller.client_id.as_str()), (carol.as_str(), client.id.as_str()));
        assert_eq!(caller.roles.iter().collect::<Vec<_>>(), vec!["customer"]);
        assert!(caller.has_scope("orders:create") && !caller.has_scope("books:write"));
        let service = app.service_client(&["books:read"]);
        let machine = app.client_credentials(&service).await["access_token"].as_str().unwrap().to_owned();
        assert!(shop.verifier.verify(&machine).await.unwrap().roles.is_empty(), "no roles for a client");
        let ordered = shop.send(reqwest::Method::POST, "/orders", &customer, json!({"book_id": 1, "quantity": 2})).await;
        assert_eq!(ordered.status(), 201);
        assert_eq!(ordered.json::<Value>().await.unwrap()["customer"], carol.as_str());

        let refused = shop.send(reqwest::Method::POST, "/books", &customer, json!({"title": "T", "author": "A"})).await;
        assert_eq!(refused.status(), 403);
        assert_eq!(challenge(&refused), r#"Bearer error="insufficient_scope", scope="books:write""#);
        assert_eq!(shop.send(reqwest::Method::DELETE, "/books/1", &customer, json!(null)).await.status(), 403);

        let added = shop.send(reqwest::Method::POST, "/books", &manager, json!({"title": "Dawn", "author": "Octavia E. Butler"})).await;
        assert_eq!(added.status(), 201);
        let id = added.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
        assert_eq!(shop.send(reqwest::Method::PUT, &format!("/books/{id}"), &manager, json!({"title": "Dawn (2nd ed.)", "author": "O. E. Butler"})).await.status(), 200);
        assert_eq!(shop.send(reqwest::Method::DELETE, &format!("/books/{id}"), &manager, json!(null)).await.status(), 204);
    }

    async fn an_expired_token_is_refused(db) {
        let app = spawn_app(db).await;
        let (client, _, _) = people(&app).await;
        let shop = Bookshop::start(&app, |_| {}).await;
        let token = token_for(&app, &client, "carol", "carol's password").await;
        assert_eq!(shop.get(Some(&token)).await.status(), 200);
        shop.verifier_clock_advance(16 * 60);
        let res = shop.get(Some(&token)).await;
        assert_eq!(res.status(), 401);
        assert!(challenge(&res).contains(r#"error="invalid_token""#) && challenge(&res).contains("expired"));
    }

    async fn a_revoked_token_is_refused_when_introspection_is_on(db) {
        let app = spawn_app(db).await;
        let (client, _, _) = people(&app).await;
        let api = app.introspecting_service(&["introspection"]);
        let checked = Bookshop::start(&app, |v| {
            v.introspection = Some(IntrospectionClient {
                client_id: api.id.clone(),
                client_secret: api.secret.clone(),
                cache_for: Duration::ZERO,
            })
        }).await;
        let trusting = Bookshop::start(&app, |_| {}).await;
        let token = token_for(&app, &client, "carol", "carol's password").await;
        assert_eq!(checked.get(Some(&token)).await.status(), 200);
        assert_eq!(app.revoke(&client, &token).await.status(), 200);
        let res = checked.get(Some(&token)).await;
        assert_eq!(res.status(), 401);
        assert!(challenge(&res).contains("revoked"));
        // Without introspection a signed, unexpired token is accepted until it expires.
        assert_eq!(trusting.get(Some(&token)).await.status(), 200);
    }
}

impl Bookshop {
    fn verifier_clock_advance(&self, secs: i64) {
        self.verifier.clock().advance(secs);
    }
}

#[actix_web::test]
async fn the_wrong_audience_or_issuer_is_refused() {
    let app = spawn_app(TestDb::sqlite()).await;
    let (client, _, _) = people(&app).await;
    let elsewhere =
        Bookshop::start(&app, |v| v.audience = "https://other-api.example".into()).await;
    let token = token_for(&app, &client, "carol", "carol's password").await;
    let res = elsewhere.get(Some(&token)).await;
    assert_eq!(res.status(), 401);
    assert!(
        challenge(&res).contains("wrong audience"),
        "{}",
        challenge(&res)
    );

    // Same keys (one database), another issuer name: signed fine, issued by someone else.
    let other = spawn_app_with(
        app.db.share(),
        &[("GATEHOUSE_ISSUER", "https://impostor.example")],
    )
    .await;
    let shop = Bookshop::start(&app, |_| {}).await;
    let foreign = token_for(&other, &client, "carol", "carol's password").await;
    let res = shop.get(Some(&foreign)).await;
    assert_eq!(res.status(), 401);
    assert!(
        challenge(&res).contains("wrong issuer"),
        "{}",
        challenge(&res)
    );
}

#[actix_web::test]
async fn alg_none_and_hmac_with_the_public_key_are_refused() {
    let app = spawn_app(TestDb::sqlite()).await;
    let (client, _, _) = people(&app).await;
    let shop = Bookshop::start(&app, |_| {}).await;
    let token = token_for(&app, &client, "max", "max's password").await;
    let (header, _) = app.verify(&token).await;
    let kid = header.kid.unwrap();

    let none = forged(
        &token,
        json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        |_| Vec::new(),
    );
    assert_eq!(shop.get(Some(&none)).await.status(), 401);

    // The classic confusion: HMAC keyed with the published public key.
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    let public = jwks["keys"][0].to_string();
    let hs256 = forged(
        &token,
        json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
        |input| {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes());
            aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
        },
    );
    let res = shop.get(Some(&hs256)).await;
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains("algorithm not allowed"));

    // A token that is not an access token (typ) is refused even when signed.
    let plain_jwt = forged(&token, json!({"alg": "ES256", "kid": kid}), |_| vec![0; 64]);
    assert!(challenge(&shop.get(Some(&plain_jwt)).await).contains("typ"));
}

#[actix_web::test]
async fn a_new_key_is_fetched_once_and_bogus_key_ids_do_not_hammer_the_issuer() {
    let app = spawn_app_with(
        TestDb::sqlite(),
        &[("GATEHOUSE_TOKENS_KEY_REFRESH_SECS", "1")],
    )
    .await;
    let (client, _, _) = people(&app).await;
    let shop = Bookshop::start(&app, |v| v.jwks_refresh_interval = Duration::from_secs(60)).await;
    let before = token_for(&app, &client, "carol", "carol's password").await;
    assert_eq!(shop.get(Some(&before)).await.status(), 200);
    assert_eq!(shop.verifier.jwks_fetches(), 1);

    // gatehouse rotates its key; the next token has a kid the shop has never seen.
    app.cli_json(&["keys", "rotate"]);
    let old_kid = app.verify(&before).await.0.kid;
    let mut after = before.clone();
    for _ in 0..40 {
        after = token_for(&app, &client, "carol", "carol's password").await;
        if app.verify(&after).await.0.kid != old_kid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(
        app.verify(&after).await.0.kid,
        old_kid,
        "gatehouse signs with the new key"
    );
    assert_eq!(shop.get(Some(&after)).await.status(), 200);
    assert_eq!(shop.verifier.jwks_fetches(), 2, "one fetch for the new kid");

    // Fifty made-up kids within the refresh interval: no further fetch.
    for i in 0..50 {
        let bogus = forged(
            &after,
            json!({"alg": "ES256", "typ": "at+jwt", "kid": format!("bogus-{i}")}),
            |_| vec![0; 64],
        );
        assert_eq!(shop.get(Some(&bogus)).await.status(), 401);
    }
    assert_eq!(shop.verifier.jwks_fetches(), 2);
}

#[actix_web::test]
async fn missing_malformed_and_doubled_credentials() {
    let app = spawn_app(TestDb::sqlite()).await;
    let (client, _, _) = people(&app).await;
    let shop = Bookshop::start(&app, |_| {}).await;
    let books = format!("{}/books", shop.url);
    let send = |auth: Vec<&'static str>| {
        let mut req = shop.http.get(&books);
        for value in auth {
            req = req.header("Authorization", value);
        }
        req.send()
    };
    for (auth, expected) in [
        (vec!["Basic Y2Fyb2w6cGFzc3dvcmQ="], "Bearer"),
        (vec!["Bearer"], "invalid_token"),
        (vec!["Bearer "], "invalid_token"),
        (vec!["Bearer not-a-jwt"], "invalid_token"),
        (vec!["Bearer a.b.c"], "invalid_token"),
        (vec!["Bearer x", "Bearer y"], "invalid_token"),
    ] {
        let res = send(auth.clone()).await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert!(
            challenge(&res).contains(expected),
            "{auth:?}: {}",
            challenge(&res)
        );
    }
    // The query parameter only when enabled (RFC 6750 §2.3).
    let token = token_for(&app, &client, "carol", "carol's password").await;
    let via_query = format!("{books}?access_token={token}");
    assert_eq!(
        shop.http.get(&via_query).send().await.unwrap().status(),
        401
    );
    let lenient = Bookshop::start(&app, |v| v.allow_query_token = true).await;
    let res = lenient
        .http
        .get(format!("{}/books?access_token={token}", lenient.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
