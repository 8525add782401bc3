//! The security review's findings on the abuse limits, each as the attack it describes:
//! parallel guessing (finding 1), a starved password line (2), lockouts as a weapon (3),
//! a database grown by strangers (4), and a session cookie changing account security (7).
//!
//! Several addresses speak through `X-Forwarded-For`, which the server trusts here as it
//! would behind a proxy (`server.trust_forwarded_for`).

use std::time::Duration;

use diesel::prelude::*;
use futures_util::future::join_all;
use gatehouse::storage::schema::throttles;
use gatehouse::storage::{Database, PoolOptions};
use serde_json::Value;

use crate::authorization_code::{authorize_url, log_in, CHALLENGE, PASSWORD};
use crate::browser::{Browser, Page};
use crate::helpers::{encode_form, on_both_backends, spawn_app_with, Registered, TestApp, TestDb};
use crate::two_factor::totp;

const BAD_LOGIN: &str = "Incorrect username or password.";
const BAD_CODE: &str = "That code did not work";
const TOO_MANY: &str = "Too many failed sign-in attempts";

/// A server behind a "proxy", with `extra` settings, a reader role, alice and bob, and a
/// first-party client for the password grant.
struct Site {
    app: TestApp,
    client: Registered,
    authorize: String,
}

async fn site(db: TestDb, extra: &[(&str, &str)]) -> Site {
    let mut settings = vec![
        ("GATEHOUSE_SERVER_TRUST_FORWARDED_FOR", "true"),
        ("GATEHOUSE_LIMITS_BASE_DELAY_SECS", "60"),
        ("GATEHOUSE_LIMITS_MAX_DELAY_SECS", "240"),
        ("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "8"),
    ];
    settings.extend_from_slice(extra);
    let app = spawn_app_with(db, &settings).await;
    app.create_role("reader", &["books:read"]);
    app.create_user("alice", PASSWORD, &["reader"]);
    app.create_user("bob", PASSWORD, &["reader"]);
    let client = app.register(&[
        "--grant-type",
        "password",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        "http://127.0.0.1:9/callback",
        "--scope",
        "books:read",
    ]);
    let authorize = authorize_url(&client.id, "books:read", Some(CHALLENGE));
    Site {
        app,
        client,
        authorize,
    }
}

/// Settings that let every parallel guess into the password line, so that only the login
/// limits themselves decide how many are checked.
const WIDE_LINE: [(&str, &str); 3] = [
    ("GATEHOUSE_ACCOUNTS_PASSWORD_QUEUE_LIMIT", "1000"),
    ("GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ACCOUNT", "1000"),
    ("GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ADDRESS", "1000"),
];

/// A password-grant attempt from `ip`: the status and the `error`.
async fn password_grant_from(
    site: &Site,
    ip: &str,
    username: &str,
    password: &str,
) -> (u16, Value) {
    let form = [
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ];
    let res = site
        .app
        .http
        .post(site.app.url("/token"))
        .basic_auth(&site.client.id, Some(&site.client.secret))
        .header("X-Forwarded-For", ip)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode_form(&form))
        .send()
        .await
        .expect("POST /token");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON"))
}

/// A login-form attempt from `ip`, as a fresh browser would make it.
async fn login_from(site: &Site, ip: &str, username: &str, password: &str) -> Page {
    let browser = Browser::from_address(&site.app, ip);
    let login = browser.open(&site.authorize).await.page();
    log_in(&browser, &login, username, password).await.page()
}

/// Failed-login events recorded for `username`.
fn failed_logins(app: &TestApp, username: &str) -> usize {
    let events = app.cli_json(&["events", "--user", username, "--limit", "1000"]);
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "login_failed" || e["kind"] == "totp_failed")
        .count()
}

fn throttle_rows(url: &str) -> i64 {
    let options = PoolOptions {
        max_connections: 1,
        busy_timeout_ms: 5000,
        connect_timeout: Duration::from_secs(5),
    };
    let mut conn = Database::connect_once(url, &options).unwrap();
    throttles::table.count().get_result(&mut conn).unwrap()
}

on_both_backends! {
    async fn finding_1_parallel_password_grant_guesses_never_pass_the_account_limit(db) {
        let mut settings = WIDE_LINE.to_vec();
        settings.extend([
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "5"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP", "1000"),
        ]);
        let site = site(db, &settings).await;
        // 40 guesses at once, the last of them the right password.
        let guesses = (0..40).map(|i| {
            let password = if i == 39 { PASSWORD.to_owned() } else { format!("guess {i}") };
            let site = &site;
            async move { password_grant_from(site, "203.0.113.7", "alice", &password).await }
        });
        let answers = join_all(guesses).await;
        let checked = answers.iter().filter(|(s, _)| *s != 429).count();
        assert!(checked <= 5, "{checked} of 40 parallel guesses were checked: {answers:?}");
        assert!(answers.iter().all(|(s, b)| *s == 429 && b["error"] == "temporarily_unavailable" || *s == 400 || *s == 200));
        let failures = failed_logins(&site.app, "alice");
        assert!(failures <= 5, "{failures} failures recorded");
        // And the limit holds afterwards: the right password waits too. Unless it was among
        // the few guesses checked (the order of 40 parallel requests is the machine's): a
        // right password forgives the failures before it (finding 3).
        let (status, _) = password_grant_from(&site, "203.0.113.7", "alice", PASSWORD).await;
        if answers[39].0 != 200 {
            assert_eq!(status, 429, "{answers:?}");
        }
    }

    async fn finding_1_parallel_guesses_from_one_address_never_pass_the_address_limit(db) {
        let mut settings = WIDE_LINE.to_vec();
        settings.extend([
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "1000"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP", "6"),
        ]);
        let site = site(db, &settings).await;
        let guesses = (0..40).map(|i| {
            let site = &site;
            async move { password_grant_from(site, "203.0.113.8", &format!("user{i}"), "guess").await }
        });
        let answers = join_all(guesses).await;
        let checked = answers.iter().filter(|(s, _)| *s == 400).count();
        assert!(checked <= 6, "{checked} of 40 parallel guesses were checked");
        assert_eq!(answers.iter().filter(|(s, _)| *s == 429).count(), 40 - checked);
    }

    async fn finding_1_parallel_login_form_guesses_never_pass_the_account_limit(db) {
        let mut settings = WIDE_LINE.to_vec();
        settings.extend([
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "5"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP", "1000"),
        ]);
        let site = site(db, &settings).await;
        let guesses = (0..30).map(|i| {
            let site = &site;
            async move { login_from(site, "203.0.113.9", "alice", &format!("guess {i}")).await }
        });
        let pages = join_all(guesses).await;
        let checked = pages.iter().filter(|p| p.contains(BAD_LOGIN)).count();
        let refused = pages.iter().filter(|p| p.status == 429 && p.contains(TOO_MANY)).count();
        assert!(checked <= 5, "{checked} of 30 parallel guesses were checked");
        assert_eq!(checked + refused, 30);
    }

    async fn finding_1_parallel_second_factor_guesses_never_pass_the_account_limit(db) {
        let settings = [
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "5"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP", "1000"),
        ];
        let site = site(db, &settings).await;
        let enrolled = site.app.cli_json(&["user", "totp", "enable", "alice"]);
        let secret = enrolled["secret"].as_str().unwrap();
        let right = totp(secret, site.app.clock.now());
        // The attacker knows the password and has the code page open.
        let browser = Browser::from_address(&site.app, "203.0.113.10");
        let login = browser.open(&site.authorize).await.page();
        let code_page = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let form = code_page.form_with("code");
        let guesses = (0..50).map(|i| {
            let code = format!("{:06}", (i * 7919) % 1_000_000);
            let code = if code == right { "999999x".to_owned() } else { code };
            let (browser, form) = (&browser, form.clone());
            async move { browser.submit(&form.with("code", &code), None).await.page() }
        });
        let pages = join_all(guesses).await;
        let checked = pages.iter().filter(|p| p.contains(BAD_CODE)).count();
        let refused = pages.iter().filter(|p| p.status == 429).count();
        assert!(checked <= 5, "{checked} of 50 parallel codes were checked");
        assert_eq!(checked + refused, 50);
    }
}

on_both_backends! {
    async fn finding_2_a_full_password_line_answers_503_at_once(db) {
        let site = site(db, &[
            ("GATEHOUSE_ACCOUNTS_BCRYPT_COST", "10"),
            ("GATEHOUSE_ACCOUNTS_PASSWORD_QUEUE_LIMIT", "3"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "1000"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP", "1000"),
        ]).await;
        // Twenty different people from twenty addresses, all at once.
        let logins = (0..20).map(|i| {
            let site = &site;
            async move { password_grant_from(site, &format!("198.51.100.{i}"), &format!("user{i}"), "pw").await }
        });
        let answers = join_all(logins).await;
        let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
        assert!(!busy.is_empty(), "a line of 3 refused none of 20: {answers:?}");
        assert!(busy.iter().all(|(_, b)| b["error"] == "temporarily_unavailable"));
        assert!(answers.iter().all(|(s, _)| *s == 503 || *s == 400), "{answers:?}");
        // Nothing that was refused counted as a failure.
        let (status, _) = password_grant_from(&site, "198.51.100.250", "alice", PASSWORD).await;
        assert_eq!(status, 200);
    }

    async fn finding_2_one_username_gets_only_its_share_of_the_password_line(db) {
        let site = site(db, &[
            ("GATEHOUSE_ACCOUNTS_BCRYPT_COST", "10"),
            ("GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ACCOUNT", "2"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "1000"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP", "1000"),
        ]).await;
        // Guesses at alice from many addresses at once...
        let guesses = (0..12).map(|i| {
            let site = &site;
            async move { password_grant_from(site, &format!("192.0.2.{i}"), "alice", "guess").await }
        });
        // ...while bob signs in from his own address.
        let (answers, (bob, _)) = futures_util::join!(
            join_all(guesses),
            password_grant_from(&site, "198.51.100.99", "bob", PASSWORD)
        );
        let shares = answers.iter().filter(|(s, b)| *s == 429 && b["error_description"].as_str().unwrap().contains("username")).count();
        assert!(shares > 0, "12 parallel checks of one username all queued: {answers:?}");
        assert_eq!(bob, 200, "bob is not in alice's line");
    }
}

on_both_backends! {
    async fn finding_3_a_stranger_cannot_lock_a_client_out(db) {
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_SERVER_TRUST_FORWARDED_FOR", "true"),
            ("GATEHOUSE_LIMITS_CLIENT_AUTH_FAILURES", "3"),
            ("GATEHOUSE_LIMITS_BASE_DELAY_SECS", "60"),
        ]).await;
        let client = app.service_client(&["a"]);
        let token_from = |ip: &'static str, secret: String| {
            let (app, id) = (&app, client.id.clone());
            async move {
                app.http
                    .post(app.url("/token"))
                    .basic_auth(id, Some(secret))
                    .header("X-Forwarded-For", ip)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .unwrap()
            }
        };
        // A stranger who knows the client id guesses secrets from one address.
        let stranger = "203.0.113.66";
        for _ in 0..3 {
            assert_eq!(token_from(stranger, "guess".into()).await.status(), 401);
        }
        // Its further failures are slowed down...
        let slowed = token_from(stranger, "guess".into()).await;
        assert_eq!(slowed.status(), 429);
        assert!(slowed.headers().contains_key("retry-after"));
        // ...but the client itself, from its own address and even from the stranger's, works.
        assert_eq!(token_from("198.51.100.5", client.secret.clone()).await.status(), 200);
        assert_eq!(token_from(stranger, client.secret.clone()).await.status(), 200);
        // Another address's failures are plain 401s.
        assert_eq!(token_from("198.51.100.6", "guess".into()).await.status(), 401);
    }

    async fn finding_3_a_stranger_cannot_lock_a_user_out_where_they_sign_in(db) {
        let site = site(db, &[("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "5")]).await;
        let home = "198.51.100.20";
        // Alice signs in from home once: home is now one of her known addresses.
        assert!(login_from(&site, home, "alice", PASSWORD).await.contains("name=\"decision\""));
        // A stranger guesses her password from elsewhere until the account limit bites.
        for _ in 0..5 {
            assert!(login_from(&site, "203.0.113.30", "alice", "guess").await.contains(BAD_LOGIN));
        }
        assert_eq!(login_from(&site, "203.0.113.31", "alice", PASSWORD).await.status, 429, "new places wait");
        // Alice at home is not locked out, in the login form nor in the password grant.
        let page = login_from(&site, home, "alice", PASSWORD).await;
        assert!(page.contains("name=\"decision\""), "{}", page.body);
        assert_eq!(password_grant_from(&site, home, "alice", PASSWORD).await.0, 200);
        // Guesses from her known address have a limit of their own.
        for _ in 0..5 {
            login_from(&site, home, "alice", "typo").await;
        }
        assert_eq!(login_from(&site, home, "alice", PASSWORD).await.status, 429);
    }

    async fn finding_3_a_right_password_leaves_no_wait_behind_for_the_address(db) {
        let site = site(db, &[("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP", "3")]).await;
        let office = "198.51.100.77";
        // Two typos from the office, by two people...
        login_from(&site, office, "carol", "typo").await;
        login_from(&site, office, "dave", "typo").await;
        // ...then alice signs in there: her attempt is the third counted, and is handed back.
        assert!(login_from(&site, office, "alice", PASSWORD).await.contains("name=\"decision\""));
        // The office does not wait because of a right password.
        let bob = login_from(&site, office, "bob", PASSWORD).await;
        assert!(bob.contains("name=\"decision\""), "{} {}", bob.status, bob.body);
    }

    async fn finding_3_a_strangers_checks_in_flight_do_not_take_the_owners_place_in_line(db) {
        let site = site(db, &[
            ("GATEHOUSE_ACCOUNTS_BCRYPT_COST", "10"),
            ("GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ACCOUNT", "1"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "1000"),
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP", "1000"),
        ]).await;
        let home = "198.51.100.21";
        assert_eq!(password_grant_from(&site, home, "alice", PASSWORD).await.0, 200);
        // A stranger keeps guesses at alice in flight from many addresses...
        let guesses = (0..6).map(|i| {
            let site = &site;
            async move { password_grant_from(site, &format!("203.0.113.{}", 100 + i), "alice", "guess").await }
        });
        // ...and alice, at home, signs in while they are in line.
        let alice = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            password_grant_from(&site, home, "alice", PASSWORD).await
        };
        let (answers, (status, body)) = futures_util::join!(join_all(guesses), alice);
        assert!(answers.iter().any(|(s, _)| *s == 429), "the stranger's share is one: {answers:?}");
        assert_eq!(status, 200, "alice at home has a place of her own: {body}");
    }

    async fn finding_4_unknown_client_ids_do_not_grow_the_database(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_LIMITS_CLIENT_AUTH_FAILURES", "1000000")]).await;
        let before = throttle_rows(&app.db.url);
        let attempts = (0..300).map(|i| {
            let app = &app;
            async move {
                app.token(&[("grant_type", "client_credentials")], Some((&format!("made-up-{i}"), "x")))
                    .await
                    .status()
            }
        });
        let statuses = join_all(attempts).await;
        assert!(statuses.iter().all(|s| *s == 401));
        // One counter for the one address, whatever the client ids.
        assert!(throttle_rows(&app.db.url) - before <= 1, "{} rows", throttle_rows(&app.db.url));
    }
}

on_both_backends! {
    async fn finding_7_a_session_cookie_alone_cannot_turn_on_two_step_verification(db) {
        let site = site(db, &[]).await;
        let browser = Browser::new(&site.app);
        let login = browser.open("/account/security").await.page();
        let enrol = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let secret = enrol.select_text("#totp-secret").pop().expect("the key");
        let form = enrol.form_with("code");
        // Ten minutes later someone else has the cookie.
        site.app.clock.advance(600);
        let refused = browser
            .submit(&form.clone().with("code", &totp(&secret, site.app.clock.now())), None)
            .await
            .page();
        assert!(refused.contains("confirm it is you"), "{}", refused.body);
        assert!(refused.forms().iter().any(|f| f.field("password").is_some()));
        let page = browser.open("/account/security").await.page();
        assert!(page.contains("confirm it is you"), "the page asks too");
        // Not on: a login still goes straight to consent.
        assert!(login_from(&site, "198.51.100.40", "alice", PASSWORD).await.contains("name=\"decision\""));

        // Signing in again allows the change.
        let again = log_in(&browser, &page, "alice", PASSWORD).await.page();
        let secret = again.select_text("#totp-secret").pop().expect("the key");
        let on = browser
            .submit(&again.form_with("code").with("code", &totp(&secret, site.app.clock.now())).with("password", PASSWORD), None)
            .await
            .page();
        assert_eq!(on.select_text("#recovery-codes li").len(), 10, "{}", on.body);
    }
}
