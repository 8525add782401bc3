//! The pending authorization (issue #11): `/authorize` validates the request once and the
//! login, second-factor and consent forms carry it sealed. These are the attacks on that
//! value: taking it to another browser, altering it, keeping it past its life, and posting
//! the same answer twice.

use crate::authorization_code::{
    authorize_url, code_from, exchange, log_in, setup, CHALLENGE, PASSWORD, VERIFIER,
};
use crate::browser::{Browser, Landing};
use crate::helpers::{oauth_error, on_both_backends};

/// What every refusal of a sealed request says.
const NOT_PENDING: &str = "has expired or was started in another browser";

on_both_backends! {
    async fn the_forms_carry_the_request_sealed_not_in_their_url(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let form = login.form_with("password");
        assert_eq!(form.action.path(), "/login");
        assert_eq!(form.action.query(), None, "{}", form.action);
        let sealed = form.field("authorization").expect("the sealed request").to_owned();
        assert!(!sealed.contains(&s.client.id), "sealed, not readable: {sealed}");
        assert!(!sealed.contains("st4te"));

        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let answer = consent.form_with("decision");
        assert_eq!(answer.action.path(), "/consent");
        assert_ne!(
            answer.field("authorization"),
            Some(sealed.as_str()),
            "logging in moves the request to the new session"
        );
        let back = browser.submit(&answer, Some("allow")).await.left();
        let code = code_from(&back).await;
        assert_eq!(exchange(&s.app, &s.client, &code, Some(VERIFIER)).await.status(), 200);
    }

    async fn a_request_taken_to_another_browser_is_refused_before_any_password_check(db) {
        let s = setup(db, false).await;
        let victim = Browser::new(&s.app);
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
        let victims = victim.open(&url).await.page().form_with("password");
        let sealed = victims.field("authorization").unwrap().to_owned();

        // The attacker's own login page (own session, own CSRF token) with the victim's
        // sealed request in it.
        let attacker = Browser::new(&s.app);
        let own = attacker.open(&url).await.page().form_with("password");
        let posted = own
            .with("authorization", &sealed)
            .with("username", "alice")
            .with("password", "wrong guess");
        let page = attacker.submit(&posted, None).await.page();
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.contains(NOT_PENDING), "{}", page.body);
        assert!(!page.contains("Incorrect username or password"), "no password was checked");
    }

    async fn an_altered_request_is_refused(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let form = login.form_with("password");
        let sealed = form.field("authorization").unwrap().to_owned();
        let last = sealed.chars().last().unwrap();
        let flipped = format!("{}{}", &sealed[..sealed.len() - 1], if last == 'A' { 'B' } else { 'A' });
        // (An empty value counts as none, RFC 6749 §3.1: a login to the account page.)
        for altered in [flipped.as_str(), "not.sealed", "x", &format!("{sealed}{sealed}")] {
            let posted = form
                .clone()
                .with("authorization", altered)
                .with("username", "alice")
                .with("password", PASSWORD);
            let page = browser.submit(&posted, None).await.page();
            assert_eq!(page.status, 400, "{altered}: {}", page.body);
            assert!(page.contains(NOT_PENDING), "{}", page.body);
        }
    }

    async fn a_request_expires_ten_minutes_after_authorize(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        s.app.clock.advance(601);
        let page = log_in(&browser, &login, "alice", PASSWORD).await.page();
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.contains(NOT_PENDING), "{}", page.body);
    }

    async fn the_consent_answer_buys_one_exchange_however_often_it_is_posted(db) {
        // Codes are sealed and issued without a write, so a second posting of the answer gets
        // a second code; both name the one request, and only one of them is ever exchanged:
        // the other is a replay, refused, and it revokes what the first bought.
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let answer = consent.form_with("decision");
        let first = code_from(&browser.submit(&answer, Some("allow")).await.left()).await;
        let second = code_from(&browser.submit(&answer, Some("allow")).await.left()).await;
        assert_ne!(first, second);

        let tokens: serde_json::Value = exchange(&s.app, &s.client, &first, Some(VERIFIER)).await.json().await.unwrap();
        let replay = exchange(&s.app, &s.client, &second, Some(VERIFIER)).await;
        let error = oauth_error(replay, 400, "invalid_grant").await;
        assert!(error["error_description"].as_str().unwrap().contains("already used"), "{error}");
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(s.app.introspect(&s.client, access).await["active"], false);
        let refresh = s.app.refresh(&s.client, tokens["refresh_token"].as_str().unwrap(), None).await;
        oauth_error(refresh, 400, "invalid_grant").await;
    }

    async fn the_resume_step_opens_only_for_the_session_the_login_started(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let url = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
        let login = browser.open(&url).await.page();
        let form = login
            .form_with("password")
            .with("username", "alice")
            .with("password", PASSWORD);
        // The login's redirect, unfollowed, as a log or a shoulder-surfer would see it.
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(form.action.clone())
            .header("Cookie", browser.cookies())
            .form(&form.fields)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/authorize/resume?authorization="), "{location}");

        // Another browser with a session of its own gets nowhere with it.
        let other = Browser::new(&s.app);
        other.open(&url).await.page();
        let page = other.open(&location).await.page();
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.contains(NOT_PENDING), "{}", page.body);
        // And without any session at all, neither.
        let bare = reqwest::get(s.app.url(&location)).await.unwrap();
        assert_eq!(bare.status(), 403);
    }

    async fn a_request_for_a_client_deleted_meanwhile_gets_no_code(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let deleted = s.app.cli(&["client", "delete", &s.client.id, "--json"]);
        assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
        match log_in(&browser, &login, "alice", PASSWORD).await {
            Landing::Page(page) => {
                assert_eq!(page.status, 400, "{}", page.body);
                assert!(page.contains("registration has changed"), "{}", page.body);
            }
            Landing::Left(url) => panic!("sent to the deleted client: {url}"),
        }
    }
}
