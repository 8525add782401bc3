//! Three instances on one PostgreSQL (issue 14, item 1). Every piece of state lives in the
//! database or is derived from it, so any instance serves any step: each story below sends
//! its steps to different instances, as a load balancer in front of them might, and what one
//! instance did (a login, a code, a revocation, an admin's change, a key rotation) holds on
//! the others at once or within the delay the README states for it.
//!
//! The instances start side by side on a fresh database and share exactly what must match:
//! the database, the key-encryption key and the issuer (`helpers::spawn_fleet`).
//! PostgreSQL only: SQLite is one file on one machine.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_api::Admin;
use crate::authorization_code::PASSWORD;
use crate::browser::{pkce_pair, query_param, Browser};
use crate::helpers::{
    eventually, oauth_error, spawn_fleet, Registered, TestApp, TestDb, FLEET_ISSUER,
};
use crate::openid::{authorize, REDIRECT};
use crate::two_factor::totp;

/// How long a promise with a delay of a second or so is given on a busy machine before the
/// test calls it broken.
const GENEROUS: Duration = Duration::from_secs(20);

/// Three instances on a fresh PostgreSQL database, or `None` (skipped) without one, unless
/// `GATEHOUSE_TEST_REQUIRE_POSTGRES=1` makes that a failure.
async fn three_instances(extra: &[(&str, &str)]) -> Option<[TestApp; 3]> {
    let db = TestDb::postgres()?;
    spawn_fleet(db, 3, extra).await.try_into().ok()
}

/// A third-party app for `openid books:read`, with the default grants (code and refresh).
fn third_party_app(app: &TestApp) -> Registered {
    app.register(&[
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid",
        "--scope",
        "books:read",
    ])
}

/// The code of a redirect back to the app, its `state` and `iss` (RFC 9207) checked.
fn code_of(back: &url::Url) -> String {
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(back, "state").as_deref(), Some("st4te"));
    assert_eq!(query_param(back, "iss").as_deref(), Some(FLEET_ISSUER));
    query_param(back, "code").unwrap_or_else(|| panic!("no code in {back}"))
}

async fn exchange(app: &TestApp, client: &Registered, code: &str, verifier: &str) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let res = app.token(&form, Some((&client.id, &client.secret))).await;
    assert_eq!(res.status(), 200, "exchange on {}", app.address);
    res.json().await.unwrap()
}

async fn token_json(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn field<'v>(json: &'v Value, name: &str) -> &'v str {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {json}"))
}

async fn active(app: &TestApp, api: &Registered, token: &str) -> bool {
    app.introspect(api, token).await["active"] == true
}

async fn userinfo_status(app: &TestApp, access: &str) -> u16 {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The `kid` that signs `app`'s access tokens now.
async fn signing_kid(app: &TestApp, service: &Registered) -> String {
    let token = app.client_credentials(service).await;
    jsonwebtoken::decode_header(field(&token, "access_token"))
        .unwrap()
        .kid
        .unwrap()
}

#[actix_web::test]
async fn on_postgres_a_browser_signs_in_across_three_instances_and_its_tokens_hold_on_all() {
    let Some([a, b, c]) = three_instances(&[]).await else {
        return;
    };
    let app = third_party_app(&a);
    a.create_role("reader", &["books:read"]);
    let alice = a.create_user("alice", PASSWORD, &["reader"]);
    let enrolled = a.cli_json(&["user", "totp", "enable", "alice"]);
    let secret = field(&enrolled, "secret");
    let api = a.introspecting_service(&["books:read"]);

    // GET /authorize on A: the login page, with the request sealed in it and a CSRF token
    // in a session cookie sealed by A.
    let browser = Browser::new(&a);
    let (verifier, challenge) = pkce_pair();
    let nonce = [("nonce", "n-0S6_WzA2Mj")];
    let login = browser
        .open(&authorize(&app.id, "openid books:read", &challenge, &nonce))
        .await
        .page();
    let form = login
        .form_with("password")
        .with("username", "alice")
        .with("password", PASSWORD);
    assert!(form.field("csrf_token").is_some_and(|t| !t.is_empty()));

    // The password on B: A's cookie, CSRF token and sealed request all open there.
    let code_page = browser.on(&b).submit(&form, None).await.page();
    assert!(
        code_page.contains("Two-step verification"),
        "{}",
        code_page.body
    );

    // The second factor on C, from B's cookie.
    let code = totp(secret, c.clock.now());
    let consent = browser
        .on(&c)
        .submit(&code_page.form_with("code").with("code", &code), None)
        .await
        .page();
    assert!(consent.contains("name=\"decision\""), "{}", consent.body);

    // Consent on A, which seals the code; the code is exchanged on B.
    let allowed = browser
        .on(&a)
        .submit(&consent.form_with("csrf_token"), Some("allow"))
        .await
        .left();
    let tokens = exchange(&b, &app, &code_of(&allowed), &verifier).await;
    let access = field(&tokens, "access_token");
    let (_, claims) = c.verify(access).await;
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["scope"], "books:read openid", "{claims}");
    assert_eq!(claims["iss"], FLEET_ISSUER);
    let id_token = a.verify_id_token(field(&tokens, "id_token"), &app.id).await;
    assert_eq!(id_token["sub"], alice.as_str());
    assert_eq!(id_token["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id_token["amr"], json!(["pwd", "otp"]));
    assert!(active(&c, &api, access).await);

    // The session started on C opens on B: consent is remembered, so the browser goes
    // straight back with a code, exchanged on A; replayed on C, it is refused and revokes
    // what A's exchange bought.
    let (verifier2, challenge2) = pkce_pair();
    let again = browser
        .on(&b)
        .open(&authorize(&app.id, "openid books:read", &challenge2, &[]))
        .await
        .left();
    let code2 = code_of(&again);
    let second = exchange(&a, &app, &code2, &verifier2).await;
    let replay = [
        ("grant_type", "authorization_code"),
        ("code", code2.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier2.as_str()),
    ];
    let replayed = c.token(&replay, Some((&app.id, &app.secret))).await;
    oauth_error(replayed, 400, "invalid_grant").await;
    assert!(!active(&b, &api, field(&second, "access_token")).await);

    // A refresh on C: new tokens, an id_token with the same login and no nonce.
    let first_refresh = field(&tokens, "refresh_token");
    let refreshed = token_json(c.refresh(&app, first_refresh, None).await).await;
    let renewed = b
        .verify_id_token(field(&refreshed, "id_token"), &app.id)
        .await;
    assert_eq!(renewed["sub"], alice.as_str());
    assert_eq!(renewed["auth_time"], id_token["auth_time"]);
    assert_eq!(renewed["sid"], id_token["sid"]);
    assert!(renewed.get("nonce").is_none(), "{renewed}");
    let newest = field(&refreshed, "refresh_token");
    let newest_access = field(&refreshed, "access_token");
    assert!(active(&a, &api, newest_access).await);

    // The used refresh token again, on A: reuse. The whole family is revoked, so the newest
    // refresh token fails on B and its access token is inactive on C.
    oauth_error(
        a.refresh(&app, first_refresh, None).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(b.refresh(&app, newest, None).await, 400, "invalid_grant").await;
    assert!(!active(&c, &api, newest_access).await);

    // Signing out on B, from the consent page A showed, ends the session server-side: C
    // asks a copy of the cookie kept from before for the password again.
    let (_, challenge3) = pkce_pair();
    let ask_again = [("prompt", "consent")];
    let consent = browser
        .on(&a)
        .open(&authorize(&app.id, "books:read", &challenge3, &ask_again))
        .await
        .page();
    let logout = consent
        .forms()
        .into_iter()
        .find(|f| f.action.path() == "/logout")
        .unwrap_or_else(|| panic!("a sign-out form: {}", consent.body));
    let copied = browser.cookies();
    browser.on(&b).submit(&logout, None).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replayed = no_redirects
        .get(c.url(&authorize(&app.id, "books:read", &challenge3, &[])))
        .header("Cookie", copied)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 200, "not sent back to the app");
    assert!(replayed.text().await.unwrap().contains("name=\"password\""));
}

#[actix_web::test]
async fn on_postgres_tokens_from_any_instance_are_checked_and_revoked_on_every_other() {
    let Some(fleet) = three_instances(&[]).await else {
        return;
    };
    let [a, b, c] = &fleet;
    let service = a.service_client(&["reports:read"]);
    let api = a.introspecting_service(&["reports:read"]);

    // Client credentials on each; each token checks out with every instance's JWKS and is
    // active at every instance's introspection.
    let mut minted = Vec::new();
    for issuing in &fleet {
        minted.push(field(&issuing.client_credentials(&service).await, "access_token").to_owned());
    }
    for token in &minted {
        for checking in &fleet {
            let (_, claims) = checking.verify(token).await;
            assert_eq!(claims["client_id"], service.id.as_str());
            assert!(
                active(checking, &api, token).await,
                "on {}",
                checking.address
            );
        }
    }

    // Revoked on B (A minted it): inactive on A and C at once, a revocation is a row.
    assert_eq!(b.revoke(&service, &minted[0]).await.status(), 200);
    assert!(!active(a, &api, &minted[0]).await);
    assert!(!active(c, &api, &minted[0]).await);
    assert!(active(c, &api, &minted[1]).await, "only that token");

    // A password grant on A, userinfo on B and C (each now remembers its answer for a
    // second), the refresh token revoked on B.
    let first_party = a.first_party_client(&["openid", "reports:read"]);
    a.create_role("reporter", &["reports:read"]);
    a.create_user("bob", PASSWORD, &["reporter"]);
    let granted = token_json(a.password_grant(&first_party, "bob", PASSWORD, None).await).await;
    let access = field(&granted, "access_token");
    assert_eq!(userinfo_status(b, access).await, 200);
    assert_eq!(userinfo_status(c, access).await, 200);
    let refresh = field(&granted, "refresh_token");
    assert_eq!(b.revoke(&first_party, refresh).await.status(), 200);

    // At once: the family is gone for introspection and a refresh on A, and for userinfo
    // on B, which forgets what it remembered when it revokes. (Not a refresh on C: a refused
    // refresh makes C forget too.)
    assert!(!active(a, &api, access).await);
    oauth_error(
        a.refresh(&first_party, refresh, None).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(userinfo_status(b, access).await, 401);
    // C learns it when its memory of the answer expires (a second, README: userinfo).
    eventually(
        "C's userinfo refuses a token revoked on B",
        GENEROUS,
        async || userinfo_status(c, access).await == 401,
    )
    .await;
}

#[actix_web::test]
async fn on_postgres_an_admin_change_on_one_instance_holds_on_every_other() {
    let Some(fleet) = three_instances(&[]).await else {
        return;
    };
    let [a, b, c] = &fleet;
    let admin = Admin::new(b).await;

    // A service known to every instance: each now holds it in memory.
    let service = a.service_client(&["reports:read"]);
    for app in &fleet {
        app.client_credentials(&service).await;
    }
    // Its secret rotated on A: the answer comes once every instance re-reads the client, so
    // from then on B and C refuse the old secret and take the new one.
    let path = format!("/admin/api/clients/{}", service.id);
    let rotated = admin
        .on(a)
        .expect(200, Method::POST, &format!("{path}/secret"), None)
        .await;
    let renewed = Registered {
        id: service.id.clone(),
        secret: field(&rotated, "client_secret").to_owned(),
    };
    let cc = [("grant_type", "client_credentials")];
    for app in [b, c, a] {
        let old = app.token(&cc, Some((&service.id, &service.secret))).await;
        oauth_error(old, 401, "invalid_client").await;
        app.client_credentials(&renewed).await;
    }
    // Deleted on B: refused by A and C as soon as B answers, its tokens inactive.
    let api = a.introspecting_service(&["reports:read"]);
    let before = field(&c.client_credentials(&renewed).await, "access_token").to_owned();
    admin.on(b).expect(204, Method::DELETE, &path, None).await;
    for app in [a, c, b] {
        let gone = app.token(&cc, Some((&renewed.id, &renewed.secret))).await;
        oauth_error(gone, 401, "invalid_client").await;
        assert!(!active(app, &api, &before).await);
    }

    // A role's scopes changed on A reach the next token from B; narrowed on C, the next
    // refresh on B.
    a.create_role("reader", &["books:read"]);
    a.create_user("carol", PASSWORD, &["reader"]);
    let shop = a.first_party_client(&["books:read", "books:write"]);
    let narrow = token_json(b.password_grant(&shop, "carol", PASSWORD, None).await).await;
    assert_eq!(narrow["scope"], "books:read");
    let both = json!({"scopes": ["books:read", "books:write"]});
    let roles = "/admin/api/roles/reader";
    admin
        .on(a)
        .expect(200, Method::PUT, roles, Some(both))
        .await;
    let wide = token_json(b.password_grant(&shop, "carol", PASSWORD, None).await).await;
    assert_eq!(wide["scope"], "books:read books:write");
    let (_, claims) = a.verify(field(&wide, "access_token")).await;
    assert_eq!(claims["scope"], "books:read books:write");
    let write_only = json!({"scopes": ["books:write"]});
    admin
        .on(c)
        .expect(200, Method::PUT, roles, Some(write_only))
        .await;
    let wide_refresh = field(&wide, "refresh_token");
    let refreshed = token_json(b.refresh(&shop, wide_refresh, None).await).await;
    assert_eq!(refreshed["scope"], "books:write");

    // Dave signs in on B (his browser session), and has a refresh token from C.
    a.create_user("dave", PASSWORD, &["reader"]);
    let app = third_party_app(a);
    let browser = Browser::new(b);
    let (_, challenge) = pkce_pair();
    let sign_in = authorize(&app.id, "openid", &challenge, &[]);
    let login = browser.open(&sign_in).await.page();
    let form = login
        .form_with("password")
        .with("username", "dave")
        .with("password", PASSWORD);
    let consent = browser.submit(&form, None).await.page();
    let allowed = browser
        .submit(&consent.form_with("csrf_token"), Some("allow"))
        .await
        .left();
    code_of(&allowed);
    code_of(&browser.open(&sign_in).await.left());
    let grant = token_json(c.password_grant(&shop, "dave", PASSWORD, None).await).await;

    // Disabled on A: at once, B's browser session is over (the login page again), B's
    // password grant refuses him and C his refresh token.
    let disabled = admin
        .on(a)
        .expect(200, Method::POST, "/admin/api/users/dave/disable", None)
        .await;
    assert!(disabled.is_object(), "{disabled}");
    let page = browser.open(&sign_in).await.page();
    assert!(page.form_with("password").field("username").is_some());
    let refused = b.password_grant(&shop, "dave", PASSWORD, None).await;
    oauth_error(refused, 400, "invalid_grant").await;
    let refresh = field(&grant, "refresh_token");
    oauth_error(c.refresh(&shop, refresh, None).await, 400, "invalid_grant").await;
}

#[actix_web::test]
async fn on_postgres_a_key_rotation_reaches_every_instance_and_each_checks_the_others_tokens() {
    // Each instance re-reads the current key every second.
    let refresh = [("GATEHOUSE_TOKENS_KEY_REFRESH_SECS", "1")];
    let Some(fleet) = three_instances(&refresh).await else {
        return;
    };
    let a = &fleet[0];
    let service = a.service_client(&["reports:read"]);
    let api = a.introspecting_service(&["reports:read"]);

    // Started side by side on a fresh database, the instances made one signing key between
    // them (they take turns at start), and each signs with it from its first token.
    let listed = a.cli_json(&["keys", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let old_kid = field(&listed[0], "kid").to_owned();
    for app in &fleet {
        assert_eq!(signing_kid(app, &service).await, old_kid);
    }
    let mut tokens = Vec::new();
    for app in &fleet {
        tokens.push(field(&app.client_credentials(&service).await, "access_token").to_owned());
    }

    // `gatehouse keys rotate`, a process of its own: every instance signs with the new key
    // within the refresh, and the first token it signs so is active everywhere at once,
    // whether or not the others have re-read the keys yet.
    let rotated = a.cli_json(&["keys", "rotate"]);
    let new_kid = field(&rotated, "kid").to_owned();
    assert_ne!(new_kid, old_kid);
    for app in &fleet {
        eventually(
            "the instance signs with the new key",
            GENEROUS,
            async || signing_kid(app, &service).await == new_kid,
        )
        .await;
        let token = field(&app.client_credentials(&service).await, "access_token").to_owned();
        for checking in &fleet {
            assert!(
                active(checking, &api, &token).await,
                "on {}",
                checking.address
            );
        }
        tokens.push(token);
    }

    // Every instance publishes both keys, and checks every instance's tokens from before the
    // rotation and after it.
    for app in &fleet {
        let jwks: Value = app.get_json("/.well-known/jwks.json").await;
        let published: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert!(
            published.contains(&old_kid.as_str()) && published.contains(&new_kid.as_str()),
            "{published:?}"
        );
        for token in &tokens {
            app.verify(token).await;
            assert!(active(app, &api, token).await, "on {}", app.address);
        }
    }
}
