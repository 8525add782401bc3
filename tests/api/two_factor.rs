//! TOTP second factor: enrolment from the CLI, the code page at login, replay refusal,
//! recovery codes, the password grant's refusal, and throttling of wrong codes.

use aws_lc_rs::hmac;
use data_encoding::BASE32_NOPAD;
use serde_json::Value;

use crate::authorization_code::{authorize_url, log_in, setup, Setup, CHALLENGE, PASSWORD};
use crate::browser::{Browser, Landing, Page};
use crate::helpers::{oauth_error, on_both_backends, spawn_app_with};

/// An independent TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30 s) for the test's "phone".
pub(crate) fn totp(secret_b32: &str, unix: i64) -> String {
    let secret = BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .expect("base32 secret");
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &secret);
    let mac = hmac::sign(&key, &(unix / 30).to_be_bytes());
    let mac = mac.as_ref();
    let i = (mac[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([mac[i] & 0x7f, mac[i + 1], mac[i + 2], mac[i + 3]]);
    format!("{:06}", n % 1_000_000)
}

fn enable(s: &Setup, username: &str) -> Value {
    s.app.cli_json(&["user", "totp", "enable", username])
}

/// Password first; answers the page that follows (the code page for a TOTP user).
async fn password_step(s: &Setup, browser: &Browser) -> Page {
    let login = browser
        .open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE)))
        .await
        .page();
    log_in(browser, &login, "alice", PASSWORD).await.page()
}

async fn send_code(browser: &Browser, page: &Page, code: &str) -> Landing {
    browser
        .submit(&page.form_with("code").with("code", code), None)
        .await
}

on_both_backends! {
    async fn the_cli_enables_totp_and_login_then_asks_for_the_code(db) {
        let s = setup(db, false).await;
        let enrolled = enable(&s, "alice");
        let secret = enrolled["secret"].as_str().unwrap();
        assert!(enrolled["otpauth_uri"].as_str().unwrap().starts_with(&format!("otpauth://totp/gatehouse:alice?secret={secret}&issuer=gatehouse")));
        assert_eq!(enrolled["recovery_codes"].as_array().unwrap().len(), 10);

        let browser = Browser::new(&s.app);
        let code_page = password_step(&s, &browser).await;
        assert!(code_page.contains("Two-step verification"), "{}", code_page.body);
        assert!(!code_page.contains("name=\"decision\""), "no consent before the code");
        let consent = send_code(&browser, &code_page, &totp(secret, s.app.clock.now())).await.page();
        assert!(consent.contains("name=\"decision\""), "{}", consent.body);
    }

    async fn a_wrong_code_is_refused_and_the_right_one_still_works(db) {
        let s = setup(db, false).await;
        let secret = enable(&s, "alice")["secret"].as_str().unwrap().to_owned();
        let browser = Browser::new(&s.app);
        let code_page = password_step(&s, &browser).await;
        let right = totp(&secret, s.app.clock.now());
        let wrong = if right == "000000" { "111111" } else { "000000" };
        let again = send_code(&browser, &code_page, wrong).await.page();
        assert!(again.contains("That code did not work"));
        assert!(again.form_with("code").field("code").is_some());
        let consent = send_code(&browser, &again, &right).await.page();
        assert!(consent.contains("name=\"decision\""));
    }

    async fn a_code_is_accepted_once(db) {
        let s = setup(db, false).await;
        let secret = enable(&s, "alice")["secret"].as_str().unwrap().to_owned();
        let code = totp(&secret, s.app.clock.now());
        let first = Browser::new(&s.app);
        let page = password_step(&s, &first).await;
        assert!(send_code(&first, &page, &code).await.page().contains("name=\"decision\""));

        let second = Browser::new(&s.app);
        let page = password_step(&s, &second).await;
        let replayed = send_code(&second, &page, &code).await.page();
        assert!(replayed.contains("That code did not work"), "a replayed code must fail");
        // The next time step's code works.
        s.app.clock.advance(30);
        let next = totp(&secret, s.app.clock.now());
        assert!(send_code(&second, &replayed, &next).await.page().contains("name=\"decision\""));
    }

    async fn a_recovery_code_works_in_place_of_the_code_once(db) {
        let s = setup(db, false).await;
        let enrolled = enable(&s, "alice");
        let recovery = enrolled["recovery_codes"][3].as_str().unwrap().to_owned();
        let first = Browser::new(&s.app);
        let page = password_step(&s, &first).await;
        assert!(send_code(&first, &page, &recovery).await.page().contains("name=\"decision\""));
        let second = Browser::new(&s.app);
        let page = password_step(&s, &second).await;
        assert!(send_code(&second, &page, &recovery).await.page().contains("That code did not work"));
    }

    async fn the_password_grant_refuses_a_user_with_totp(db) {
        let s = setup(db, false).await;
        let app_client = s.app.first_party_client(&["books:read"]);
        assert_eq!(s.app.password_grant(&app_client, "alice", PASSWORD, None).await.status(), 200);
        enable(&s, "alice");
        let res = s.app.password_grant(&app_client, "alice", PASSWORD, None).await;
        let error = oauth_error(res, 400, "invalid_grant").await;
        assert!(error["error_description"].as_str().unwrap().contains("authorization-code flow"));
        // A wrong password still gets the plain answer: the second factor is not revealed.
        let res = s.app.password_grant(&app_client, "alice", "wrong password", None).await;
        let error = oauth_error(res, 400, "invalid_grant").await;
        assert!(!error["error_description"].as_str().unwrap().contains("factor"));
    }

    async fn disabling_totp_returns_to_the_password_alone(db) {
        let s = setup(db, false).await;
        enable(&s, "alice");
        let off = s.app.cli_json(&["user", "totp", "disable", "alice"]);
        assert_eq!(off["totp"], "off");
        let consent = password_step(&s, &Browser::new(&s.app)).await;
        assert!(consent.contains("name=\"decision\""));
        let unknown = s.app.cli(&["user", "totp", "enable", "nobody", "--json"]);
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user `nobody`"));
    }

    async fn wrong_codes_count_towards_the_back_off_and_are_logged_without_secrets(db) {
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT", "2"),
            ("GATEHOUSE_LIMITS_BASE_DELAY_SECS", "60"),
        ]).await;
        let client = app.register(&["--redirect-uri", "http://127.0.0.1:9/callback", "--scope", "books:read"]);
        app.create_role("reader", &["books:read"]);
        let user_id = app.create_user("alice", PASSWORD, &["reader"]);
        let s = Setup { app, client, user_id };
        let enrolled = enable(&s, "alice");
        let secret = enrolled["secret"].as_str().unwrap().to_owned();
        let browser = Browser::new(&s.app);
        let mut page = password_step(&s, &browser).await;
        let right = totp(&secret, s.app.clock.now());
        let wrong = if right == "000000" { "111111" } else { "000000" };
        for _ in 0..2 {
            page = send_code(&browser, &page, wrong).await.page();
        }
        let blocked = send_code(&browser, &page, &right).await.page();
        assert_eq!(blocked.status, 429);

        let events = s.app.cli_json(&["events", "--user", &s.user_id]);
        let text = events.to_string();
        assert!(text.contains("totp_failed") && text.contains("lockout"), "{text}");
        assert!(!text.contains(&secret) && !text.contains(wrong) && !text.contains(&right));
        let admin = s.app.cli_json(&["events", "--user", "admin"]).to_string();
        assert!(admin.contains("totp_enabled") && !admin.contains(&secret));
    }
}

on_both_backends! {
    async fn a_user_turns_totp_on_from_the_account_page(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open("/account/security").await.page();
        assert!(login.contains("your gatehouse account"), "{}", login.body);
        let enrol = log_in(&browser, &login, "alice", PASSWORD).await.page();
        assert!(enrol.contains("<svg"), "an inline QR code: {}", enrol.body);
        let secret = enrol.select_text("#totp-secret").pop().expect("the key in words");

        // Nothing is on until a first good code.
        assert!(password_step(&s, &Browser::new(&s.app)).await.contains("name=\"decision\""));
        let right = totp(&secret, s.app.clock.now());
        let wrong = if right == "000000" { "111111" } else { "000000" };
        let again = browser
            .submit(&enrol.form_with("code").with("code", wrong).with("password", PASSWORD), None)
            .await
            .page();
        assert!(again.contains("That code did not work"));
        assert_eq!(again.select_text("#totp-secret"), vec![secret.clone()], "the same key again");

        let on = browser
            .submit(&again.form_with("code").with("code", &right).with("password", PASSWORD), None)
            .await
            .page();
        assert_eq!(on.select_text("#recovery-codes li").len(), 10, "{}", on.body);
        assert!(browser.open("/account/security").await.page().contains("is <strong>on</strong>"));

        // Logging in through an app now asks for the code.
        let other = Browser::new(&s.app);
        let code_page = password_step(&s, &other).await;
        assert!(code_page.contains("Two-step verification"));
        s.app.clock.advance(30);
        let consent = send_code(&other, &code_page, &totp(&secret, s.app.clock.now())).await.page();
        assert!(consent.contains("name=\"decision\""));
    }
}

/// The form on `page` that posts to `path`.
#[track_caller]
fn form_to(page: &Page, path: &str) -> crate::browser::Form {
    page.forms()
        .into_iter()
        .find(|f| f.action.path() == path)
        .unwrap_or_else(|| panic!("no form to {path}: {}", page.body))
}

on_both_backends! {
    async fn each_change_to_two_step_verification_on_the_account_page_asks_for_the_password(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open("/account/security").await.page();
        let enrol = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let secret = enrol.select_text("#totp-secret").pop().expect("the key");
        let code = totp(&secret, s.app.clock.now());

        // The right code with a wrong password turns nothing on, and does not spend the code.
        let form = enrol.form_with("code").with("code", &code);
        let refused = browser.submit(&form.clone().with("password", "not-her-password"), None).await.page();
        assert_eq!(refused.status, 400);
        assert_eq!(refused.select_text("#two-step-error"), vec!["Your password is not right."]);
        assert!(password_step(&s, &Browser::new(&s.app)).await.contains("name=\"decision\""));
        let on = browser.submit(&refused.form_with("code").with("code", &code).with("password", PASSWORD), None).await.page();
        let first_codes = on.select_text("#recovery-codes li");
        assert_eq!(first_codes.len(), 10, "{}", on.body);

        // New recovery codes: the password again, then the old codes stop working.
        let page = browser.open("/account/security").await.page();
        let renew = form_to(&page, "/account/recovery-codes");
        let refused = browser.submit(&renew.clone().with("password", "wrong"), None).await.page();
        assert_eq!(refused.status, 400);
        assert_eq!(refused.select_text("#two-step-error"), vec!["Your password is not right."]);
        let renewed = browser.submit(&renew.with("password", PASSWORD), None).await.page();
        let new_codes = renewed.select_text("#recovery-codes li");
        assert_eq!(new_codes.len(), 10, "{}", renewed.body);
        assert!(new_codes.iter().all(|c| !first_codes.contains(c)), "all new");
        assert!(renewed.contains("the earlier ones no longer work"));
        let phone_lost = Browser::new(&s.app);
        let code_page = password_step(&s, &phone_lost).await;
        let old = send_code(&phone_lost, &code_page, &first_codes[0]).await.page();
        assert!(!old.contains("name=\"decision\""), "an old recovery code is void: {}", old.body);
        let phone_lost = Browser::new(&s.app);
        let code_page = password_step(&s, &phone_lost).await;
        let new = send_code(&phone_lost, &code_page, &new_codes[0]).await.page();
        assert!(new.contains("name=\"decision\""), "a new one works: {}", new.body);

        // Off: a wrong password leaves it on; the right one turns it off.
        let page = browser.open("/account/security").await.page();
        let off = form_to(&page, "/account/two-step/off");
        let refused = browser.submit(&off.clone().with("password", "wrong"), None).await.page();
        assert_eq!(refused.status, 400);
        assert!(refused.contains("is <strong>on</strong>"));
        assert!(password_step(&s, &Browser::new(&s.app)).await.contains("Two-step verification"));
        let done = browser.submit(&off.with("password", PASSWORD), None).await.page();
        assert!(done.contains("Two-step verification is off"), "{}", done.body);
        assert!(done.contains("<svg"), "and it offers to turn it on again");
        assert!(password_step(&s, &Browser::new(&s.app)).await.contains("name=\"decision\""));

        let events = s.app.cli_json(&["events", "--user", "alice"]).to_string();
        for kind in ["totp_enabled", "recovery_codes_replaced", "totp_disabled"] {
            assert!(events.contains(kind), "{kind}: {events}");
        }
        assert!(!events.contains(PASSWORD));
    }

    async fn a_two_step_change_without_a_recent_sign_in_or_a_csrf_token_changes_nothing(db) {
        let s = setup(db, false).await;
        let phone = enable(&s, "alice");
        let secret = phone["secret"].as_str().unwrap().to_owned();
        let browser = Browser::new(&s.app);
        let login = browser.open("/account/security").await.page();
        let code_page = log_in(&browser, &login, "alice", PASSWORD).await.page();
        let page = send_code(&browser, &code_page, &totp(&secret, s.app.clock.now())).await.page();
        let off = form_to(&page, "/account/two-step/off").with("password", PASSWORD);

        // Without the CSRF token: refused, still on.
        let forged = browser.submit(&off.clone().without("csrf_token"), None).await.page();
        assert_eq!(forged.status, 403);
        // A stolen cookie an hour old is not a recent sign-in: sign in again first.
        s.app.clock.advance(3600);
        let stale = browser.submit(&off, None).await.page();
        assert!(stale.contains("confirm it is you"), "{}", stale.body);
        assert!(password_step(&s, &Browser::new(&s.app)).await.contains("Two-step verification"));
    }
}

on_both_backends! {
    async fn a_password_reset_between_the_password_and_the_code_ends_that_login(db) {
        let s = setup(db, false).await;
        let secret = enable(&s, "alice")["secret"].as_str().unwrap().to_owned();
        // Someone who has alice's old password and her phone for a moment.
        let intruder = Browser::new(&s.app);
        let code_page = password_step(&s, &intruder).await;
        assert!(code_page.contains("Two-step verification"));
        let out = s.app.cli_with_stdin(&["user", "set-password", "alice"], "a brand new passphrase\n");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let after = send_code(&intruder, &code_page, &totp(&secret, s.app.clock.now())).await.page();
        assert!(!after.contains("name=\"decision\""), "no consent page: {}", after.body);
        assert!(after.contains("name=\"password\""), "the login starts over: {}", after.body);
        let again = intruder.submit(&code_page.form_with("code").with("code", &totp(&secret, s.app.clock.now())), None).await.page();
        assert!(!again.contains("name=\"decision\""), "the old pending step is gone for good");

        // With the new password, the same phone signs her in.
        let alice = Browser::new(&s.app);
        let login = alice.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let code_page = log_in(&alice, &login, "alice", "a brand new passphrase").await.page();
        s.app.clock.advance(30);
        let consent = send_code(&alice, &code_page, &totp(&secret, s.app.clock.now())).await.page();
        assert!(consent.contains("name=\"decision\""), "{}", consent.body);
    }
}

/// PostgreSQL (READ COMMITTED): a login whose password was checked while an admin's reset was
/// in flight must not start a session that the reset, not seeing it, leaves alive. Here the
/// reset is held open where it matters: its transaction has locked the user, as `end_access`
/// does, changed the password and ended the sessions, but not committed.
#[actix_web::test]
async fn on_postgres_a_login_racing_a_password_reset_starts_no_session() {
    let Some(db) = crate::helpers::TestDb::postgres() else {
        return;
    };
    use diesel::prelude::*;
    let s = setup(db, false).await;
    let browser = Browser::new(&s.app);
    let login = browser
        .open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE)))
        .await
        .page();

    let mut admin = diesel::PgConnection::establish(&s.app.db.url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut admin).unwrap();
    for statement in [
        "SELECT id FROM users WHERE id = $1 FOR UPDATE",
        "UPDATE users SET password_hash = 'reset-by-an-admin' WHERE id = $1",
        "DELETE FROM login_sessions WHERE user_id = $1",
    ] {
        diesel::sql_query(statement)
            .bind::<diesel::sql_types::Text, _>(&s.user_id)
            .execute(&mut admin)
            .unwrap();
    }
    let mut logging_in = Box::pin(log_in(&browser, &login, "alice", PASSWORD));
    let early =
        actix_web::rt::time::timeout(std::time::Duration::from_secs(2), &mut logging_in).await;
    assert!(early.is_err(), "the login waits for the reset in flight");
    diesel::sql_query("COMMIT").execute(&mut admin).unwrap();
    let page = logging_in.await.page();
    assert!(
        !page.contains("name=\"decision\""),
        "no consent page: {}",
        page.body
    );
    assert_eq!(
        s.app.cli_json(&["user", "sessions", "alice"]),
        serde_json::json!([]),
        "no session"
    );
}
