//! OpenID Connect as a client library and a browser meet it, over HTTP: the discovery
//! document, the id_token's claims, userinfo's refusals, the request parameters (`prompt`,
//! `max_age`, `login_hint`, `nonce`, request objects), identity scopes beside roles, and
//! RP-Initiated Logout's question.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use url::Url;

use crate::authorization_code::{log_in, PASSWORD};
use crate::browser::{pkce_pair, query_param, Browser, Landing, Page};
use crate::helpers::{oauth_error, on_both_backends, spawn_app, Registered, TestApp};

pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub(crate) const SIGNED_OUT: &str = "http://127.0.0.1:9/signed-out";

pub(crate) struct Oidc {
    pub app: TestApp,
    pub client: Registered,
    pub user_id: String,
}

/// A server, an app registered for `openid profile email books:read` with a post-logout
/// URI, a `reader` role for `books:read`, and Alice (with an email and a name) holding it.
pub(crate) async fn setup(db: crate::helpers::TestDb) -> Oidc {
    let app = spawn_app(db).await;
    let client = app.register(&[
        "--redirect-uri",
        REDIRECT,
        "--post-logout-redirect-uri",
        SIGNED_OUT,
        "--scope",
        "openid",
        "--scope",
        "profile",
        "--scope",
        "email",
        "--scope",
        "books:read",
    ]);
    app.create_role("reader", &["books:read"]);
    let flags = ["--email", "alice@example.com", "--name", "Alice Liddell"];
    let user_id = app.create_user_with("alice", PASSWORD, &["reader"], &flags);
    Oidc {
        app,
        user_id,
        client,
    }
}

/// `/authorize` with the PKCE challenge, `scope` and the extra parameters.
pub(crate) fn authorize(
    client_id: &str,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = Url::parse("http://gatehouse/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st4te")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    format!("/authorize?{}", url.query().unwrap())
}

/// The claims of a JWT, unverified (the signature is the relying-party test's business).
pub(crate) fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header_of(jwt: &str) -> Value {
    let header = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// Signs Alice in on `browser` and approves `scope`: the redirect back.
pub(crate) async fn sign_in(
    s: &Oidc,
    browser: &Browser,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> Url {
    let login = browser
        .open(&authorize(&s.client.id, scope, challenge, extra))
        .await
        .page();
    let consent = log_in(browser, &login, "alice", PASSWORD).await.page();
    browser
        .submit(&consent.form_with("csrf_token"), Some("allow"))
        .await
        .left()
}

pub(crate) async fn exchange(s: &Oidc, back: &Url, verifier: &str) -> Value {
    let code = query_param(back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let res = s
        .app
        .token(&form, Some((&s.client.id, &s.client.secret)))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The error a redirect back to the client carries, with its `state` and `iss` checked.
fn redirected_error(s: &Oidc, landing: Landing) -> String {
    let back = landing.left();
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some("st4te"),
        "{back}"
    );
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(s.app.issuer.as_str()),
        "{back}"
    );
    assert_eq!(query_param(&back, "code"), None);
    query_param(&back, "error").unwrap_or_else(|| panic!("no error in {back}"))
}

fn is_login_page(page: &Page) -> bool {
    page.contains("name=\"password\"")
}

pub(crate) async fn userinfo(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/userinfo"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

fn challenge_of(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap()
        .to_owned()
}

on_both_backends! {
    async fn discovery_lists_what_a_relying_party_needs_and_agrees_with_rfc_8414(db) {
        let s = setup(db).await;
        let oidc: Value = s.app.get_json("/.well-known/openid-configuration").await;
        let oauth: Value = s.app.get_json("/.well-known/oauth-authorization-server").await;
        let issuer = s.app.issuer.as_str();
        assert_eq!(oidc["issuer"], issuer);
        for field in ["authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint", "response_types_supported", "grant_types_supported", "code_challenge_methods_supported", "token_endpoint_auth_methods_supported"] {
            assert_eq!(oidc[field], oauth[field], "{field} differs between the two documents");
        }
        assert_eq!(oidc["userinfo_endpoint"], format!("{issuer}/userinfo"));
        assert_eq!(oidc["end_session_endpoint"], format!("{issuer}/end_session"));
        assert_eq!(oidc["subject_types_supported"], serde_json::json!(["public"]));
        assert_eq!(oidc["id_token_signing_alg_values_supported"], serde_json::json!(["ES256"]));
        assert_eq!(oidc["request_parameter_supported"], false);
        assert_eq!(oidc["request_uri_parameter_supported"], false);
        assert_eq!(oidc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(oauth["authorization_response_iss_parameter_supported"], true);
        let scopes: Vec<&str> = oidc["scopes_supported"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        for scope in ["openid", "profile", "email", "books:read"] {
            assert!(scopes.contains(&scope), "{scope} missing from {scopes:?}");
        }
        let claims = oidc["claims_supported"].as_array().unwrap();
        for claim in ["sub", "auth_time", "nonce", "at_hash", "amr", "sid", "email", "preferred_username"] {
            assert!(claims.contains(&Value::from(claim)), "{claim}");
        }
    }

    async fn the_id_token_carries_every_claim_of_the_login_and_none_of_a_replay(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let before = s.app.clock.now();
        let back = sign_in(&s, &browser, "openid email books:read", &challenge, &[("nonce", "n-0S6_WzA2Mj")]).await;
        assert_eq!(query_param(&back, "iss").as_deref(), Some(s.app.issuer.as_str()));
        let code = query_param(&back, "code").unwrap();
        let tokens = exchange(&s, &back, &verifier).await;
        assert_eq!(tokens["scope"], "books:read email openid");
        let id_token = tokens["id_token"].as_str().expect("id_token");
        let header = header_of(id_token);
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["alg"], "ES256");
        let (_, access) = s.app.verify(tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(header["kid"], header_of(tokens["access_token"].as_str().unwrap())["kid"]);
        let claims = claims_of(id_token);
        assert_eq!(claims["iss"], s.app.issuer.as_str());
        assert_eq!(claims["sub"], s.user_id.as_str());
        assert_eq!(claims["sub"], access["sub"]);
        assert_eq!(claims["aud"], s.client.id.as_str());
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["email_verified"], false);
        assert!(claims.get("preferred_username").is_none(), "no profile scope, no profile claims");
        let auth_time = claims["auth_time"].as_i64().unwrap();
        assert!(auth_time >= before && auth_time <= s.app.clock.now());
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
        assert!(claims["sid"].as_str().is_some_and(|sid| !sid.is_empty()));
        // The access token is bound by `at_hash` (Core 1.0 §3.1.3.6).
        use sha2::Digest;
        let digest = sha2::Sha256::digest(tokens["access_token"].as_str().unwrap().as_bytes());
        assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));

        // A second sign-in in the same browser session: same sid, its own nonce.
        let (verifier2, challenge2) = pkce_pair();
        let again = browser.open(&authorize(&s.client.id, "openid email books:read", &challenge2, &[("nonce", "second")])).await.left();
        let second = claims_of(exchange(&s, &again, &verifier2).await["id_token"].as_str().unwrap());
        assert_eq!(second["sid"], claims["sid"]);
        assert_eq!(second["nonce"], "second");
        assert_eq!(second["auth_time"], claims["auth_time"]);

        // The code is single use, and its nonce with it.
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", verifier.as_str())];
        let replay = s.app.token(&form, Some((&s.client.id, &s.client.secret))).await;
        oauth_error(replay, 400, "invalid_grant").await;

        // Without openid: no id_token.
        let (verifier3, challenge3) = pkce_pair();
        let plain = browser.open(&authorize(&s.client.id, "books:read", &challenge3, &[])).await.left();
        assert!(exchange(&s, &plain, &verifier3).await.get("id_token").is_none());
    }

    async fn a_second_factor_shows_in_amr(db) {
        let s = setup(db).await;
        let secret = s.app.cli_json(&["user", "totp", "enable", "alice"])["secret"].as_str().unwrap().to_owned();
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let login = browser.open(&authorize(&s.client.id, "openid", &challenge, &[])).await.page();
        let code_page = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let code = crate::two_factor::totp(&secret, s.app.clock.now());
        let consent = browser.submit(&code_page.form_with("code").with("code", &code), None).await.page();
        let back = browser.submit(&consent.form_with("csrf_token"), Some("allow")).await.left();
        let claims = claims_of(exchange(&s, &back, &verifier).await["id_token"].as_str().unwrap());
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    }

    async fn roles_do_not_narrow_identity_scopes(db) {
        let s = setup(db).await;
        // Bob holds no role at all: he may still sign in to the app and share who he is.
        s.app.create_user("bob", PASSWORD, &[]);
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let login = browser.open(&authorize(&s.client.id, "openid profile books:read", &challenge, &[])).await.page();
        let consent = log_in(&browser, &login, "bob", PASSWORD).await.page();
        assert!(!consent.contains("books:read"), "the consent page shows only what is granted");
        let back = browser.submit(&consent.form_with("csrf_token"), Some("allow")).await.left();
        let tokens = exchange(&s, &back, &verifier).await;
        assert_eq!(tokens["scope"], "openid profile");
        assert_eq!(claims_of(tokens["id_token"].as_str().unwrap())["preferred_username"], "bob");
    }

    async fn userinfo_answers_from_the_tokens_scopes_and_refuses_per_rfc_6750(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let back = sign_in(&s, &browser, "openid email books:read", &challenge, &[]).await;
        let tokens = exchange(&s, &back, &verifier).await;
        let access = tokens["access_token"].as_str().unwrap();

        let res = userinfo(&s.app, Some(access)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let info: Value = res.json().await.unwrap();
        assert_eq!(info, serde_json::json!({"sub": s.user_id, "email": "alice@example.com", "email_verified": false}));
        let posted = s.app.http.post(s.app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(posted.status(), 200);

        let none = userinfo(&s.app, None).await;
        assert_eq!(none.status(), 401);
        assert!(challenge_of(&none).starts_with("Bearer"));
        let forged = userinfo(&s.app, Some("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")).await;
        assert_eq!(forged.status(), 401);
        assert!(challenge_of(&forged).contains("error=\"invalid_token\""));

        // A token without openid: 403 insufficient_scope, naming the scope.
        let (verifier2, challenge2) = pkce_pair();
        let plain = browser.open(&authorize(&s.client.id, "books:read", &challenge2, &[])).await.left();
        let without = exchange(&s, &plain, &verifier2).await;
        let res = userinfo(&s.app, without["access_token"].as_str()).await;
        assert_eq!(res.status(), 403);
        assert!(challenge_of(&res).contains("error=\"insufficient_scope\", scope=\"openid\""));

        // Revoked at /revoke: refused at once, not at expiry.
        assert_eq!(s.app.revoke(&s.client, access).await.status(), 200);
        let revoked = userinfo(&s.app, Some(access)).await;
        assert_eq!(revoked.status(), 401);
        assert!(challenge_of(&revoked).contains("invalid_token"));

        // A client-credentials token names no user, whatever its scope.
        let service = s.app.register(&["--grant-type", "client_credentials", "--scope", "openid"]);
        let cc = s.app.client_credentials(&service).await;
        let res = userinfo(&s.app, cc["access_token"].as_str()).await;
        assert_eq!(res.status(), 401);
    }

    async fn userinfo_stops_answering_when_the_family_is_revoked_or_the_client_deleted(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let back = sign_in(&s, &browser, "openid", &challenge, &[]).await;
        let tokens = exchange(&s, &back, &verifier).await;
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(userinfo(&s.app, Some(access)).await.status(), 200, "and now remembered");

        // A reused refresh token revokes its family, and this server's memory with it: at once.
        let rotated = s.app.refresh(&s.client, refresh, None).await;
        assert_eq!(rotated.status(), 200);
        let reused = s.app.refresh(&s.client, refresh, None).await;
        assert_eq!(reused.status(), 400);
        assert_eq!(userinfo(&s.app, Some(access)).await.status(), 401, "the family is revoked");

        // Deleted by the CLI, another process: refused within the memory's second.
        let (verifier, challenge) = pkce_pair();
        let back = browser.open(&authorize(&s.client.id, "openid", &challenge, &[])).await.left();
        let fresh = exchange(&s, &back, &verifier).await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(userinfo(&s.app, Some(&fresh)).await.status(), 200);
        s.app.cli_json(&["client", "delete", &s.client.id]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut status = 200;
        while status == 200 && std::time::Instant::now() < deadline {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
            status = userinfo(&s.app, Some(&fresh)).await.status().as_u16();
        }
        assert_eq!(status, 401, "a deleted client's tokens get nothing");
    }

    async fn the_cli_refuses_bad_identity_and_logout_uris_and_writes_nothing(db) {
        let app = spawn_app(db).await;
        for (flags, said) in [
            (vec!["--email", "not-an-address"], "is not an email address"),
            (vec!["--email", "a@b@c"], "is not an email address"),
            (vec!["--email", "sp ace@example.com"], "is not an email address"),
            (vec!["--name", ""], "a name must be 1 to 200 characters"),
            (vec!["--name", " padded"], "a name must be 1 to 200 characters"),
            (vec!["--name", "tab\there"], "a name must be 1 to 200 characters"),
        ] {
            let mut args = vec!["user", "create", "erin", "--json"];
            args.extend_from_slice(&flags);
            let out = app.cli_with_stdin(&args, &format!("{PASSWORD}\n"));
            assert!(!out.status.success(), "{flags:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(said), "{flags:?}: {stderr}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        let out = app.cli_with_stdin(&["user", "create", "erin", "--email", &long], &format!("{PASSWORD}\n"));
        assert!(!out.status.success());
        // Nothing was written: the name is still free.
        app.create_user_with("erin", PASSWORD, &[], &["--email", "erin@example.com", "--name", "Erin"]);

        for uri in ["http://rp.example/bye", "https://rp.example/bye#frag", "/relative"] {
            let out = app.cli(&["client", "create", "--name", "x", "--redirect-uri", REDIRECT, "--post-logout-redirect-uri", uri]);
            assert!(!out.status.success(), "{uri}");
            assert!(String::from_utf8_lossy(&out.stderr).contains(uri), "{uri}");
        }
        let shown = app.cli_json(&["client", "list"]);
        assert_eq!(shown.as_array().unwrap().len(), 0, "no half-registered client");
    }

    async fn prompt_none_answers_without_a_page_or_with_an_error(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (_, challenge) = pkce_pair();
        let none = [("prompt", "none")];
        let signed_out = browser.open(&authorize(&s.client.id, "openid", &challenge, &none)).await;
        assert_eq!(redirected_error(&s, signed_out), "login_required");

        // Signed in (for another scope), but `email` was never approved.
        sign_in(&s, &browser, "openid", &challenge, &[]).await;
        let unapproved = browser.open(&authorize(&s.client.id, "openid email", &challenge, &none)).await;
        assert_eq!(redirected_error(&s, unapproved), "consent_required");

        // Approved before: a code at once.
        let back = browser.open(&authorize(&s.client.id, "openid", &challenge, &none)).await.left();
        assert!(query_param(&back, "code").is_some(), "{back}");
    }

    async fn prompt_login_and_max_age_ask_for_the_password_again(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let first = sign_in(&s, &browser, "openid", &challenge, &[]).await;
        let first_time = claims_of(exchange(&s, &first, &verifier).await["id_token"].as_str().unwrap())["auth_time"].clone();

        let login = browser.open(&authorize(&s.client.id, "openid", &challenge, &[("prompt", "login")])).await.page();
        assert!(is_login_page(&login), "prompt=login shows the login page: {}", login.body);
        // The login page's sealed request, posted to the consent form instead, skips nothing.
        let mut consent_form = login.form_with("password").without("username").without("password").with("decision", "allow");
        consent_form.action = Url::parse(&s.app.url("/consent")).unwrap();
        let skipped = browser.submit(&consent_form, None).await.page();
        assert!(is_login_page(&skipped), "{}", skipped.body);
        s.app.clock.advance(5);
        let back = log_in(&browser, &login, "alice", PASSWORD).await.left();
        let claims = claims_of(exchange(&s, &back, &verifier).await["id_token"].as_str().unwrap());
        assert!(claims["auth_time"].as_i64() > first_time.as_i64(), "a new login");

        // select_account is login.
        let again = browser.open(&authorize(&s.client.id, "openid", &challenge, &[("prompt", "select_account")])).await.page();
        assert!(is_login_page(&again));

        // max_age: a login older than it asks again; a fresh one does not.
        s.app.clock.advance(120);
        let old = browser.open(&authorize(&s.client.id, "openid", &challenge, &[("max_age", "60")])).await.page();
        assert!(is_login_page(&old), "{}", old.body);
        let fresh = browser.open(&authorize(&s.client.id, "openid", &challenge, &[("max_age", "600")])).await.left();
        assert!(query_param(&fresh, "code").is_some());

        // max_age=0 with a consent to give: the login it asked for is not judged again when
        // the user takes their time on the consent page.
        let zero = [("max_age", "0")];
        let login = browser.open(&authorize(&s.client.id, "openid email", &challenge, &zero)).await.page();
        assert!(is_login_page(&login));
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        s.app.clock.advance(30);
        let back = browser.submit(&consent.form_with("csrf_token"), Some("allow")).await.left();
        assert!(query_param(&back, "code").is_some(), "{back}");
    }

    async fn prompt_consent_asks_again_and_login_hint_fills_the_username(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (_, challenge) = pkce_pair();
        let login = browser.open(&authorize(&s.client.id, "openid", &challenge, &[("login_hint", "alice\"><b>")])).await.page();
        assert_eq!(login.form_with("password").field("username"), Some("alice\"><b>"), "escaped into the value");
        assert!(!login.body.contains("\"><b>"), "never raw HTML");
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        browser.submit(&consent.form_with("csrf_token"), Some("allow")).await.left();
        let asked = browser.open(&authorize(&s.client.id, "openid", &challenge, &[("prompt", "consent")])).await.page();
        assert!(asked.contains("name=\"decision\""), "{}", asked.body);
    }

    async fn bad_openid_parameters_are_invalid_request_at_the_redirect_uri(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (_, challenge) = pkce_pair();
        let long_nonce = "n".repeat(513);
        for extra in [
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            vec![("request_uri", "https://rp.example/request.jwt")],
            vec![("nonce", long_nonce.as_str())],
            vec![("prompt", "none login")],
            vec![("prompt", "bogus")],
            vec![("max_age", "soon")],
            vec![("max_age", "-1")],
        ] {
            let landing = browser.open(&authorize(&s.client.id, "openid", &challenge, &extra)).await;
            assert_eq!(redirected_error(&s, landing), "invalid_request", "{extra:?}");
        }
    }

    async fn end_session_without_proof_asks_before_signing_out(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let back = sign_in(&s, &browser, "openid", &challenge, &[]).await;
        let id_token = exchange(&s, &back, &verifier).await["id_token"].as_str().unwrap().to_owned();

        // A link on any site, with no hint: a question, and still signed in.
        let asked = browser.open(&format!("/end_session?client_id={}&post_logout_redirect_uri={SIGNED_OUT}&state=x", s.client.id)).await.page();
        assert!(asked.contains("Sign out?"), "{}", asked.body);
        let still = browser.open(&authorize(&s.client.id, "openid", &challenge, &[])).await.left();
        assert!(query_param(&still, "code").is_some(), "not signed out by a link");

        // Confirmed: signed out, and sent back to the registered URI with the state.
        let left = browser.submit(&asked.form_with("csrf_token"), None).await.left();
        assert_eq!(left.as_str(), format!("{SIGNED_OUT}?state=x"));
        let login = browser.open(&authorize(&s.client.id, "openid", &challenge, &[])).await.page();
        assert!(is_login_page(&login));

        // An unregistered URI is never redirected to: a page with a way back in.
        let page = browser.open(&format!("/end_session?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/")).await.page();
        assert_eq!(page.status, 200);
        assert!(page.contains("Signed out") && page.contains("Sign in again"), "{}", page.body);

        // A forged hint, or one for another client than `client_id`: refused, with a page.
        let forged = browser.open("/end_session?id_token_hint=eyJhbGciOiJFUzI1NiJ9.e30.AAAA").await.page();
        assert_eq!(forged.status, 400);
        let other = browser.open(&format!("/end_session?id_token_hint={id_token}&client_id=someone-else")).await.page();
        assert_eq!(other.status, 400);
    }
}
