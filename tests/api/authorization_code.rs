//! The authorization-code flow with PKCE, driven like a browser: the authorize URL, the
//! login form, the consent form, the redirect back, then the code exchange.

use serde_json::Value;
use url::Url;

use crate::browser::{pkce_pair, query_param, Browser, Landing, Page};
use crate::helpers::{
    oauth_error, on_both_backends, spawn_app, spawn_app_configured, spawn_app_with, Registered,
    TestApp,
};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub(crate) const PASSWORD: &str = "correct horse battery";

/// A fixed PKCE pair (the example of RFC 7636 Appendix B) for tests about something else:
/// every client must send a code challenge.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The setting that, set to `false`, lets confidential clients leave PKCE out.
const RELAX_PKCE: &str = "GATEHOUSE_TOKENS_PKCE_REQUIRED_FOR_CONFIDENTIAL_CLIENTS";

/// A third-party app, a reader role and a user who holds it.
pub(crate) struct Setup {
    pub app: TestApp,
    pub client: Registered,
    pub user_id: String,
}

/// Registers a client for `books:read books:write` and a user whose role allows only
/// `books:read`.
pub(crate) async fn setup(db: crate::helpers::TestDb, public: bool) -> Setup {
    setup_with(db, public, &[]).await
}

/// As [`setup`], on a server started with the `GATEHOUSE_*` settings in `extra`.
pub(crate) async fn setup_with(
    db: crate::helpers::TestDb,
    public: bool,
    extra: &[(&str, &str)],
) -> Setup {
    let app = spawn_app_with(db, extra).await;
    let mut args = vec![
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "books:read",
        "--scope",
        "books:write",
    ];
    if public {
        args.push("--public");
    }
    let client = app.register(&args);
    app.create_role("reader", &["books:read"]);
    let user_id = app.create_user("alice", PASSWORD, &["reader"]);
    Setup {
        app,
        client,
        user_id,
    }
}

/// An authorization request URL.
pub(crate) fn authorize_url(client_id: &str, scope: &str, challenge: Option<&str>) -> String {
    let mut url = Url::parse("http://gatehouse/authorize").unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scope)
            .append_pair("state", "st4te");
        if let Some(challenge) = challenge {
            q.append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    format!("/authorize?{}", url.query().unwrap())
}

/// Logs in on the login page, answering with `username` and `password`.
pub(crate) async fn log_in(
    browser: &Browser,
    login: &Page,
    username: &str,
    password: &str,
) -> Landing {
    let form = login
        .form_with("password")
        .with("username", username)
        .with("password", password);
    browser.submit(&form, None).await
}

/// Runs the browser part of the flow to the redirect back, allowing on the consent page.
pub(crate) async fn approve(browser: &Browser, authorize: &str) -> Url {
    let login = browser.open(authorize).await.page();
    let consent = log_in(browser, &login, "alice", PASSWORD).await.page();
    browser
        .submit(&consent.form_with("csrf_token"), Some("allow"))
        .await
        .left()
}

pub(crate) async fn exchange(
    app: &TestApp,
    client: &Registered,
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    if client.secret.is_empty() {
        form.push(("client_id", &client.id));
        app.token(&form, None).await
    } else {
        app.token(&form, Some((&client.id, &client.secret))).await
    }
}

pub(crate) async fn code_from(url: &Url) -> String {
    assert!(url.as_str().starts_with(REDIRECT), "{url}");
    assert_eq!(query_param(url, "state").as_deref(), Some("st4te"));
    assert_eq!(query_param(url, "error"), None, "{url}");
    query_param(url, "code").expect("a code")
}

on_both_backends! {
    async fn confidential_client_gets_tokens_for_what_the_users_roles_allow(db) {
        let s = setup(db, false).await;
        let (verifier, challenge) = pkce_pair();
        let browser = Browser::new(&s.app);

        let login = browser
            .open(&authorize_url(&s.client.id, "books:read books:write", Some(&challenge)))
            .await
            .page();
        assert_eq!(login.status, 200);
        assert!(login.contains("test client"), "the login page names the client");
        let form = login.form_with("password");
        assert!(form.field("username").is_some() && form.field("csrf_token").is_some());

        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        assert!(consent.contains("test client"));
        assert!(consent.contains("books:read"), "{}", consent.body);
        assert!(!consent.contains("books:write"), "only what the roles allow is shown");
        let consent_form = consent.form_with("decision");
        assert_eq!(
            consent_form.buttons,
            vec![("decision".into(), "allow".into()), ("decision".into(), "deny".into())]
        );

        let back = browser.submit(&consent_form, Some("allow")).await.left();
        let code = code_from(&back).await;
        let res = exchange(&s.app, &s.client, &code, Some(&verifier)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "books:read");
        assert!(body["refresh_token"].is_string());
        let (_, claims) = s.app.verify(body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["sub"], s.user_id.as_str());
        assert_eq!(claims["client_id"], s.client.id.as_str());
        assert_eq!(claims["scope"], "books:read");

        // The refresh token works like any other.
        let refreshed = s.app.refresh(&s.client, body["refresh_token"].as_str().unwrap(), None).await;
        assert_eq!(refreshed.status(), 200);
    }

    async fn public_client_completes_the_flow_with_pkce_and_no_secret(db) {
        let s = setup(db, true).await;
        assert!(s.client.secret.is_empty());
        let (verifier, challenge) = pkce_pair();
        let browser = Browser::new(&s.app);
        let back = approve(&browser, &authorize_url(&s.client.id, "books:read", Some(&challenge))).await;
        let code = code_from(&back).await;
        let res = exchange(&s.app, &s.client, &code, Some(&verifier)).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let (_, claims) = s.app.verify(body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["sub"], s.user_id.as_str());
    }

    async fn public_client_without_a_code_challenge_is_sent_back_with_invalid_request(db) {
        let s = setup(db, true).await;
        let back = Browser::new(&s.app)
            .open(&authorize_url(&s.client.id, "books:read", None))
            .await
            .left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query_param(&back, "state").as_deref(), Some("st4te"));
        assert_eq!(query_param(&back, "code"), None);
    }

    async fn plain_pkce_is_refused(db) {
        let s = setup(db, true).await;
        let url = authorize_url(&s.client.id, "books:read", None)
            + "&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghij123&code_challenge_method=plain";
        let back = Browser::new(&s.app).open(&url).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"));
    }

    async fn a_wrong_code_verifier_is_invalid_grant(db) {
        let s = setup(db, false).await;
        let (_, challenge) = pkce_pair();
        let (other_verifier, _) = pkce_pair();
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", Some(&challenge))).await;
        let code = code_from(&back).await;
        let res = exchange(&s.app, &s.client, &code, Some(&other_verifier)).await;
        oauth_error(res, 400, "invalid_grant").await;
    }

    async fn a_confidential_client_that_sent_a_challenge_must_send_the_verifier(db) {
        let s = setup(db, false).await;
        let (_, challenge) = pkce_pair();
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", Some(&challenge))).await;
        let code = code_from(&back).await;
        let res = exchange(&s.app, &s.client, &code, None).await;
        oauth_error(res, 400, "invalid_grant").await;
    }

    async fn a_verifier_for_a_code_issued_without_challenge_is_refused(db) {
        // Only a confidential client with PKCE relaxed can get a code without a challenge.
        let s = setup_with(db, false, &[(RELAX_PKCE, "false")]).await;
        let (verifier, _) = pkce_pair();
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", None)).await;
        let code = code_from(&back).await;
        let res = exchange(&s.app, &s.client, &code, Some(&verifier)).await;
        oauth_error(res, 400, "invalid_grant").await;
    }

    async fn a_replayed_code_fails_and_revokes_the_tokens_issued_with_it(db) {
        let s = setup(db, false).await;
        let (verifier, challenge) = pkce_pair();
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", Some(&challenge))).await;
        let code = code_from(&back).await;
        let first: Value = exchange(&s.app, &s.client, &code, Some(&verifier)).await.json().await.unwrap();
        let access = first["access_token"].as_str().unwrap();
        assert_eq!(s.app.introspect(&s.client, access).await["active"], true);

        let replay = exchange(&s.app, &s.client, &code, Some(&verifier)).await;
        let error = oauth_error(replay, 400, "invalid_grant").await;
        assert!(error["error_description"].as_str().unwrap().contains("already used"));
        assert_eq!(s.app.introspect(&s.client, access).await["active"], false);
        let refresh = s.app.refresh(&s.client, first["refresh_token"].as_str().unwrap(), None).await;
        oauth_error(refresh, 400, "invalid_grant").await;
    }

    async fn a_replay_still_revokes_the_family_when_its_access_token_was_revoked_first(db) {
        // Whoever exchanged the code first revokes its own access token, then the rightful
        // client presents the code: the replay's revocations must still all happen (on
        // PostgreSQL a duplicate revocation once aborted the replay's whole transaction).
        let s = setup(db, false).await;
        let (verifier, challenge) = pkce_pair();
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", Some(&challenge))).await;
        let code = code_from(&back).await;
        let first: Value = exchange(&s.app, &s.client, &code, Some(&verifier)).await.json().await.unwrap();
        let access = first["access_token"].as_str().unwrap();
        assert_eq!(s.app.revoke(&s.client, access).await.status(), 200);

        let replay = exchange(&s.app, &s.client, &code, Some(&verifier)).await;
        let error = oauth_error(replay, 400, "invalid_grant").await;
        assert!(error["error_description"].as_str().unwrap().contains("already used"));
        let refresh = s.app.refresh(&s.client, first["refresh_token"].as_str().unwrap(), None).await;
        oauth_error(refresh, 400, "invalid_grant").await;
        // And again: a second replay is refused the same way, not with a server error.
        let again = exchange(&s.app, &s.client, &code, Some(&verifier)).await;
        oauth_error(again, 400, "invalid_grant").await;
    }

    async fn a_code_past_its_minute_is_invalid_grant(db) {
        let s = setup(db, false).await;
        let (verifier, challenge) = pkce_pair();
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", Some(&challenge))).await;
        let code = code_from(&back).await;
        s.app.clock.advance(61);
        let res = exchange(&s.app, &s.client, &code, Some(&verifier)).await;
        let error = oauth_error(res, 400, "invalid_grant").await;
        assert!(error["error_description"].as_str().unwrap().contains("expired"));
    }

    async fn a_code_is_only_exchanged_by_the_client_it_was_issued_to(db) {
        let s = setup(db, false).await;
        let other = s.app.register(&["--redirect-uri", REDIRECT, "--scope", "books:read"]);
        let (verifier, challenge) = pkce_pair();
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", Some(&challenge))).await;
        let code = code_from(&back).await;
        oauth_error(exchange(&s.app, &other, &code, Some(&verifier)).await, 400, "invalid_grant").await;
        // The rightful client can still use it.
        assert_eq!(exchange(&s.app, &s.client, &code, Some(&verifier)).await.status(), 200);
    }

    async fn a_redirect_uri_other_than_the_authorized_one_is_invalid_grant(db) {
        let s = setup(db, false).await;
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await;
        let code = code_from(&back).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", VERIFIER),
        ];
        let res = s.app.token(&form, Some((&s.client.id, &s.client.secret))).await;
        oauth_error(res, 400, "invalid_grant").await;
    }

    async fn an_unknown_client_sees_an_error_page_and_is_not_redirected(db) {
        let s = setup(db, false).await;
        let page = Browser::new(&s.app).open(&authorize_url("nosuchclient", "books:read", Some(CHALLENGE))).await.page();
        assert_eq!(page.status, 400);
        assert!(page.contains("not registered"), "{}", page.body);
    }

    async fn a_mismatched_redirect_uri_sees_an_error_page(db) {
        let s = setup(db, false).await;
        for uri in ["http://127.0.0.1:9/callback/", "http://evil.example/callback", "http://127.0.0.1:9/callback?x=1"] {
            let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE)).replace(
                &url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
                &url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>(),
            );
            let page = Browser::new(&s.app).open(&url).await.page();
            assert_eq!(page.status, 400, "{uri}");
            assert!(page.contains("redirect_uri"), "{}", page.body);
        }
    }

    async fn a_missing_redirect_uri_sees_an_error_page(db) {
        let s = setup(db, false).await;
        let url = format!("/authorize?response_type=code&client_id={}&state=x", s.client.id);
        let page = Browser::new(&s.app).open(&url).await.page();
        assert_eq!(page.status, 400);
    }

    async fn an_unsupported_response_type_is_sent_back(db) {
        let s = setup(db, false).await;
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE)).replace("response_type=code", "response_type=token");
        let back = Browser::new(&s.app).open(&url).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("unsupported_response_type"));
    }

    async fn a_client_without_the_authorization_code_grant_is_sent_back_unauthorized(db) {
        let s = setup(db, false).await;
        let client = s.app.register(&["--redirect-uri", REDIRECT, "--grant-type", "password", "--scope", "books:read"]);
        let back = Browser::new(&s.app).open(&authorize_url(&client.id, "books:read", Some(CHALLENGE))).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("unauthorized_client"));
    }

    async fn a_repeated_parameter_sees_an_error_page(db) {
        let s = setup(db, false).await;
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE)) + "&state=again";
        let page = Browser::new(&s.app).open(&url).await.page();
        assert_eq!(page.status, 400);
        assert!(page.contains("repeated"), "{}", page.body);
    }

    async fn a_wrong_password_and_an_unknown_user_get_the_same_answer(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
        let login = browser.open(&url).await.page();
        let wrong = log_in(&browser, &login, "alice", "not the password").await.page();
        let unknown = log_in(&browser, &login, "mallory", "not the password").await.page();
        assert_eq!(wrong.status, unknown.status);
        assert!(wrong.contains("Incorrect username or password."));
        assert!(unknown.contains("Incorrect username or password."));
        assert!(wrong.form_with("password").field("password").is_some(), "the login form again");
        // Still not logged in: the authorize URL shows the login page, not consent.
        assert!(browser.open(&url).await.page().form_with("password").field("username").is_some());
    }

    async fn a_login_without_the_csrf_token_is_refused(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let form = login.form_with("password").with("username", "alice").with("password", PASSWORD);
        let missing = browser.submit(&form.clone().without("csrf_token"), None).await.page();
        assert_eq!(missing.status, 403);
        let wrong = browser.submit(&form.with("csrf_token", "forged"), None).await.page();
        assert_eq!(wrong.status, 403);
    }

    async fn a_consent_with_a_wrong_csrf_token_is_refused(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let form = consent.form_with("decision").with("csrf_token", "forged");
        let page = browser.submit(&form, Some("allow")).await.page();
        assert_eq!(page.status, 403);
    }

    async fn denying_consent_sends_access_denied_with_the_state(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let back = browser.submit(&consent.form_with("decision"), Some("deny")).await.left();
        assert!(back.as_str().starts_with(REDIRECT));
        assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
        assert_eq!(query_param(&back, "state").as_deref(), Some("st4te"));
        assert_eq!(query_param(&back, "code"), None);
    }

    async fn nothing_left_to_grant_is_invalid_scope(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:write", Some(CHALLENGE))).await.page();
        let back = log_in(&browser, &login, "alice", PASSWORD).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_scope"));
        assert_eq!(query_param(&back, "state").as_deref(), Some("st4te"));
    }

    async fn a_scope_outside_the_registration_is_invalid_scope(db) {
        let s = setup(db, false).await;
        let back = Browser::new(&s.app).open(&authorize_url(&s.client.id, "admin", Some(CHALLENGE))).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_scope"));
    }

    async fn remembered_consent_goes_straight_back_and_more_scopes_ask_again(db) {
        let s = setup(db, false).await;
        s.app.create_role("writer", &["books:write"]);
        let bob = s.app.cli_with_stdin(&["user", "create", "bob", "--role", "reader", "--role", "writer"], "bob's password\n");
        assert!(bob.status.success());
        let browser = Browser::new(&s.app);
        let read_only = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
        let login = browser.open(&read_only).await.page();
        let consent = log_in(&browser, &login, "bob", "bob's password").await.page();
        browser.submit(&consent.form_with("decision"), Some("allow")).await.left();

        // Same scopes again: no page at all, straight back with a code.
        let again = browser.open(&read_only).await.left();
        assert!(query_param(&again, "code").is_some());

        // More scopes: the consent page again, listing both.
        let more = browser.open(&authorize_url(&s.client.id, "books:read books:write", Some(CHALLENGE))).await.page();
        assert!(more.form_with("decision").buttons.len() == 2);
        assert!(more.contains("books:write"));
    }

    async fn pages_are_not_cached_framed_or_given_to_scripts(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
        let res = browser.http.get(s.app.url(&url)).send().await.unwrap();
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("gatehouse_session="));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "plain-http issuer: no Secure flag");

        let login = browser.open(&url).await.page();
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        for page in [&login, &consent] {
            assert_eq!(page.headers["cache-control"], "no-store");
            assert_eq!(page.headers["x-frame-options"], "DENY");
            let csp = page.headers["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{csp}");
            assert!(!page.body.contains("<script"), "no script on the pages");
        }
    }

    async fn logging_in_renews_the_session_and_logging_out_ends_it(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
        let login = browser.open(&url).await.page();
        let before = login.form_with("password").field("csrf_token").unwrap().to_owned();
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let after = consent.form_with("decision").field("csrf_token").unwrap().to_owned();
        assert_ne!(before, after, "a new session (and CSRF token) at login");

        // A copy of the logged-in cookie, as a thief would keep it.
        let jar_cookie = browser.cookies();

        let logout = consent.forms().into_iter().find(|f| f.action.path() == "/logout").expect("a sign-out form");
        let signed_out = browser.submit(&logout, None).await.page();
        assert_eq!(signed_out.status, 200);
        assert!(signed_out.contains("signed out"));
        assert!(browser.open(&url).await.page().form_with("password").field("username").is_some());

        // The copied cookie no longer logs anyone in.
        let res = reqwest::Client::new()
            .get(s.app.url(&url))
            .header("Cookie", jar_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("name=\"password\""));
    }

    async fn a_session_cookie_from_another_configuration_is_not_accepted(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        log_in(&browser, &login, "alice", PASSWORD).await.page();
        let foreign = browser.cookies();

        // Another gatehouse, with its own database and so its own cookie keys.
        let other = spawn_app(crate::helpers::TestDb::sqlite()).await;
        let client = other.register(&["--redirect-uri", REDIRECT, "--scope", "books:read"]);
        let url = other.url(&authorize_url(&client.id, "books:read", Some(CHALLENGE)));
        let plain = reqwest::Client::new();
        let own = plain.get(&url).send().await.unwrap();
        let own_cookie = own.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();

        // Its own cookie opens: no new session is handed out.
        let res = plain.get(&url).header("Cookie", own_cookie).send().await.unwrap();
        assert!(res.headers().get("set-cookie").is_none());
        // The foreign one does not: the visitor gets a fresh session and the login page.
        let res = plain.get(&url).header("Cookie", foreign).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["set-cookie"].to_str().unwrap().starts_with("gatehouse_session="));
        assert!(res.text().await.unwrap().contains("name=\"password\""));
    }
}

#[actix_web::test]
async fn the_consent_page_describes_each_scope_and_names_those_without_a_description() {
    let config = "[scopes.descriptions]\n\"books:read\" = \"See the books on your shelves\"\n";
    let app = spawn_app_configured(crate::helpers::TestDb::sqlite(), &[], Some(config)).await;
    let client = app.register(&[
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "books:read",
        "--scope",
        "shelves",
    ]);
    app.create_role("reader", &["books:read", "shelves"]);
    app.create_user("alice", PASSWORD, &["reader"]);
    let browser = Browser::new(&app);
    let login = browser
        .open(&authorize_url(
            &client.id,
            "books:read shelves",
            Some(CHALLENGE),
        ))
        .await
        .page();
    let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
    let items: Vec<String> = consent
        .select_text("ul.scopes li")
        .into_iter()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        items,
        vec!["See the books on your shelves books:read", "shelves"]
    );
}

on_both_backends! {
    async fn concurrent_exchanges_of_different_codes_all_succeed(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
        let mut codes = vec![code_from(&approve(&browser, &url).await).await];
        // Logged in, consent remembered: each visit comes straight back with a new code.
        for _ in 0..23 {
            codes.push(code_from(&browser.open(&url).await.left()).await);
        }
        let exchanges = codes.iter().map(|code| exchange(&s.app, &s.client, code, Some(VERIFIER)));
        let statuses: Vec<u16> = futures_util::future::join_all(exchanges)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        assert_eq!(statuses, vec![200; 24]);
    }
}

on_both_backends! {
    async fn a_second_instance_on_the_same_database_reads_the_session(db) {
        let s = setup(db, false).await;
        let second = spawn_app(s.app.db.share()).await;
        let browser = Browser::new(&s.app);
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
        let login = browser.open(&url).await.page();
        log_in(&browser, &login, "alice", PASSWORD).await.page();

        // The same cookie at the other instance: still logged in, so the consent page.
        let res = reqwest::Client::new()
            .get(second.url(&url))
            .header("Cookie", browser.cookies())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("set-cookie").is_none(), "the session was accepted");
        let body = res.text().await.unwrap();
        assert!(body.contains("name=\"decision\""), "{body}");
    }

    async fn the_session_cookie_is_secure_when_the_issuer_is_https(db) {
        let app = crate::helpers::spawn_app_with(db, &[("GATEHOUSE_ISSUER", "https://auth.example")]).await;
        let client = app.register(&["--redirect-uri", REDIRECT, "--scope", "books:read"]);
        let res = app.get(&authorize_url(&client.id, "books:read", Some(CHALLENGE))).await;
        let cookie = res.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
    }
}

/// The error redirect's parameters, checked as RFC 6749 §4.1.2.1 spells them: `error`, a
/// non-empty `error_description`, the request's `state`, and no oxide-auth `description`.
fn assert_error_redirect(back: &Url, error: &str) -> String {
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(back, "error").as_deref(), Some(error), "{back}");
    assert_eq!(
        query_param(back, "state").as_deref(),
        Some("st4te"),
        "{back}"
    );
    assert_eq!(query_param(back, "description"), None, "{back}");
    assert_eq!(query_param(back, "code"), None, "{back}");
    let description = query_param(back, "error_description").unwrap_or_default();
    assert!(!description.is_empty(), "no error_description: {back}");
    description
}

on_both_backends! {
    async fn finding_9_error_redirects_carry_error_description_and_state_not_description(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);

        let scope = browser.open(&authorize_url(&s.client.id, "admin", Some(CHALLENGE))).await.left();
        let response_type = browser
            .open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE)).replace("response_type=code", "response_type=token"))
            .await
            .left();
        let no_pkce = browser.open(&authorize_url(&s.client.id, "books:read", None)).await.left();
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let denied = browser.submit(&consent.form_with("decision"), Some("deny")).await.left();

        assert!(assert_error_redirect(&scope, "invalid_scope").contains("admin"));
        assert!(assert_error_redirect(&response_type, "unsupported_response_type").contains("response_type=code"));
        assert!(assert_error_redirect(&no_pkce, "invalid_request").contains("code_challenge"));
        assert!(assert_error_redirect(&denied, "access_denied").contains("denied"));
    }

    async fn finding_13_a_confidential_client_without_a_code_challenge_is_sent_back_with_invalid_request(db) {
        let s = setup(db, false).await;

        let back = Browser::new(&s.app).open(&authorize_url(&s.client.id, "books:read", None)).await.left();

        let description = assert_error_redirect(&back, "invalid_request");
        assert!(description.contains("code_challenge"), "{description}");
    }

    async fn finding_13_with_pkce_relaxed_a_confidential_client_completes_the_flow_without_pkce(db) {
        let s = setup_with(db, false, &[(RELAX_PKCE, "false")]).await;
        let browser = Browser::new(&s.app);

        let back = approve(&browser, &authorize_url(&s.client.id, "books:read", None)).await;
        let res = exchange(&s.app, &s.client, &code_from(&back).await, None).await;

        assert_eq!(res.status(), 200);
        // Relaxed is not off: a client that sent a challenge must still present the verifier.
        let back = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.left();
        let res = exchange(&s.app, &s.client, &code_from(&back).await, None).await;
        oauth_error(res, 400, "invalid_grant").await;
    }

    async fn finding_13_a_public_client_without_a_code_challenge_is_refused_even_with_pkce_relaxed(db) {
        let s = setup_with(db, true, &[(RELAX_PKCE, "false")]).await;

        let back = Browser::new(&s.app).open(&authorize_url(&s.client.id, "books:read", None)).await.left();

        let description = assert_error_redirect(&back, "invalid_request");
        assert!(description.contains("code_challenge"), "{description}");
    }
}
