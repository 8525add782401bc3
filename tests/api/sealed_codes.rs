//! Sealed authorization codes (issue #11, item 3): a code is a value the server seals, issued
//! without a write and spent once, at the token endpoint, in the exchange's own transaction.
//! These are the attacks on it: replaying it (in parallel too), altering it, presenting
//! another sealed value or another client's code, presenting it late, at another instance,
//! and presenting it after what it was issued under (the browser session, the account, the
//! consent) has ended. A replay of a code, a second code of one consent answer included, is
//! refused and revokes what the first exchange issued.

use std::time::Duration;

use diesel::prelude::*;
use gatehouse::storage::schema::{authorization_codes, spent_codes};
use gatehouse::storage::{Database, PoolOptions};
use serde_json::Value;

use crate::authorization_code::{
    approve, authorize_url, code_from, exchange, log_in, setup, setup_with, Setup, CHALLENGE,
    PASSWORD, VERIFIER,
};
use crate::browser::{Browser, Page};
use crate::helpers::{oauth_error, on_both_backends, spawn_app};

const REVOKED: &str = "the sign-in or consent it was issued under has ended";
const ALREADY_USED: &str = "already used";
const UNKNOWN: &str = "unknown or issued to another client";

/// A browser signed in as Alice with consent for `books:read` remembered: every visit to
/// [`url`] comes straight back with a new code. The first code is exchanged already.
async fn returning_user(s: &Setup) -> Browser {
    let browser = Browser::new(&s.app);
    let first = code_from(&approve(&browser, &url(s)).await).await;
    let res = exchange(&s.app, &s.client, &first, Some(VERIFIER)).await;
    assert_eq!(res.status(), 200);
    browser
}

fn url(s: &Setup) -> String {
    authorize_url(&s.client.id, "books:read", Some(CHALLENGE))
}

/// A fresh code for the returning user of `browser`.
async fn fresh_code(s: &Setup, browser: &Browser) -> String {
    code_from(&browser.open(&url(s)).await.left()).await
}

/// The error description of a refused exchange of `code`.
async fn refused(s: &Setup, code: &str) -> String {
    let res = exchange(&s.app, &s.client, code, Some(VERIFIER)).await;
    let error = oauth_error(res, 400, "invalid_grant").await;
    error["error_description"].as_str().unwrap().to_owned()
}

/// (rows in `spent_codes`, rows in the old `authorization_codes`).
fn code_rows(url: &str) -> (i64, i64) {
    let options = PoolOptions {
        max_connections: 1,
        busy_timeout_ms: 5000,
        connect_timeout: Duration::from_secs(5),
    };
    let mut conn = Database::connect_once(url, &options).unwrap();
    (
        spent_codes::table.count().get_result(&mut conn).unwrap(),
        authorization_codes::table
            .count()
            .get_result(&mut conn)
            .unwrap(),
    )
}

async fn security_page(browser: &Browser) -> Page {
    let page = browser.open("/account/security").await.page();
    assert!(page.contains("Signed in as"), "{}", page.body);
    page
}

on_both_backends! {
    async fn issuing_a_code_writes_nothing_and_its_exchange_one_row(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        assert_eq!(code_rows(&s.app.db.url), (1, 0));

        let code = fresh_code(&s, &browser).await;
        assert_eq!(code_rows(&s.app.db.url), (1, 0), "issuing wrote nothing");
        for readable in [s.client.id.as_str(), s.user_id.as_str(), "books", "callback"] {
            assert!(!code.contains(readable), "sealed, not readable: {code}");
        }
        assert_eq!(exchange(&s.app, &s.client, &code, Some(VERIFIER)).await.status(), 200);
        assert_eq!(code_rows(&s.app.db.url), (2, 0));
    }

    async fn of_parallel_exchanges_of_one_code_exactly_one_wins_and_loses_its_tokens(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;

        let exchanges = (0..4).map(|_| exchange(&s.app, &s.client, &code, Some(VERIFIER)));
        let mut won = Vec::new();
        for res in futures_util::future::join_all(exchanges).await {
            if res.status() == 200 {
                won.push(res.json::<Value>().await.unwrap());
            } else {
                let error = oauth_error(res, 400, "invalid_grant").await;
                assert!(error["error_description"].as_str().unwrap().contains(ALREADY_USED), "{error}");
            }
        }
        assert_eq!(won.len(), 1, "exactly one exchange wins");
        // Every loser came after the winner had recorded what it issued: all of it is revoked.
        let access = won[0]["access_token"].as_str().unwrap();
        assert_eq!(s.app.introspect(&s.client, access).await["active"], false);
        let refresh = s.app.refresh(&s.client, won[0]["refresh_token"].as_str().unwrap(), None).await;
        oauth_error(refresh, 400, "invalid_grant").await;
    }

    async fn a_tampered_code_is_invalid_grant_and_spends_nothing(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        let dot = code.find('.').expect("KEY_ID.SEALED");
        for at in [0, dot + 1, dot + 20, code.len() / 2, code.len() - 5] {
            let mut tampered = code.clone().into_bytes();
            tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert!(refused(&s, &tampered).await.contains(UNKNOWN), "flipped at {at}");
        }
        assert!(refused(&s, &code[..code.len() - 1]).await.contains(UNKNOWN));
        assert!(refused(&s, &format!("{code}A")).await.contains(UNKNOWN));
        assert_eq!(code_rows(&s.app.db.url).0, 1, "no attempt spent anything");
        assert_eq!(exchange(&s.app, &s.client, &code, Some(VERIFIER)).await.status(), 200);
    }

    async fn a_sealed_value_that_is_not_a_code_is_invalid_grant(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&url(&s)).await.page();
        let consent = log_in(&browser, &login, "alice", PASSWORD).await.page();
        // The pending authorization of the consent form, and the session cookie: sealed with
        // the same keys, for other purposes.
        let pending = consent.form_with("decision").field("authorization").unwrap().to_owned();
        let cookie = browser.cookies();
        let session = cookie.split(';').find_map(|c| c.trim().strip_prefix("gatehouse_session=")).unwrap();
        assert!(refused(&s, &pending).await.contains(UNKNOWN));
        assert!(refused(&s, session).await.contains(UNKNOWN));
        assert_eq!(code_rows(&s.app.db.url).0, 0);
    }

    async fn another_clients_attempt_leaves_the_code_good_for_its_own(db) {
        let s = setup(db, false).await;
        let other = s.app.register(&["--redirect-uri", "http://127.0.0.1:9/callback", "--scope", "books:read", "--public"]);
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        // A stranger who knows a public client's id, and the verifier too.
        let error = oauth_error(exchange(&s.app, &other, &code, Some(VERIFIER)).await, 400, "invalid_grant").await;
        assert!(error["error_description"].as_str().unwrap().contains(UNKNOWN));
        assert_eq!(code_rows(&s.app.db.url).0, 1, "refused before any write");
        assert_eq!(exchange(&s.app, &s.client, &code, Some(VERIFIER)).await.status(), 200);
    }

    async fn a_code_works_for_its_minute_and_not_after(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        let late = fresh_code(&s, &browser).await;
        // 58 s on the moved clock (the real one may add a second): still good.
        s.app.clock.advance(58);
        assert_eq!(exchange(&s.app, &s.client, &code, Some(VERIFIER)).await.status(), 200);
        s.app.clock.advance(2);
        assert!(refused(&s, &late).await.contains("expired"));
        assert_eq!(code_rows(&s.app.db.url).0, 2, "an expired code spends nothing");
    }

    async fn a_replay_after_the_code_expired_still_revokes_what_it_bought(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        let res = exchange(&s.app, &s.client, &code, Some(VERIFIER)).await;
        assert_eq!(res.status(), 200);
        let won: Value = res.json().await.unwrap();
        // The code leaked; the thief tries it two minutes later.
        s.app.clock.advance(120);
        assert!(refused(&s, &code).await.contains(ALREADY_USED));
        let access = won["access_token"].as_str().unwrap();
        assert_eq!(s.app.introspect(&s.client, access).await["active"], false);
        let refresh = s.app.refresh(&s.client, won["refresh_token"].as_str().unwrap(), None).await;
        oauth_error(refresh, 400, "invalid_grant").await;
    }

    async fn a_code_is_exchanged_at_another_instance_once(db) {
        let s = setup(db, false).await;
        let second = spawn_app(s.app.db.share()).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        assert_eq!(exchange(&second, &s.client, &code, Some(VERIFIER)).await.status(), 200);
        assert!(refused(&s, &code).await.contains(ALREADY_USED));
    }

    async fn a_code_whose_browser_signed_out_is_invalid_grant(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        // Alice is signed in elsewhere too: that session is no excuse for this code.
        let elsewhere = Browser::new(&s.app);
        let login = elsewhere.open(&url(&s)).await.page();
        log_in(&elsewhere, &login, "alice", PASSWORD).await.left();
        let page = security_page(&browser).await;
        let logout = page.forms().into_iter().find(|f| f.action.path() == "/logout").unwrap();
        browser.submit(&logout, None).await;
        assert!(refused(&s, &code).await.contains(REVOKED));
        let theirs = fresh_code(&s, &elsewhere).await;
        assert_eq!(exchange(&s.app, &s.client, &theirs, Some(VERIFIER)).await.status(), 200);
    }

    async fn a_code_whose_sessions_an_admin_ended_is_invalid_grant(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        s.app.cli_json(&["user", "revoke-sessions", "alice"]);
        assert!(refused(&s, &code).await.contains(REVOKED));
    }

    async fn a_code_of_a_user_disabled_meanwhile_stays_worthless_once_enabled_again(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        s.app.cli_json(&["user", "disable", "alice"]);
        assert!(refused(&s, &code).await.contains(REVOKED));
        s.app.cli_json(&["user", "enable", "alice"]);
        let again = fresh_code_after_login(&s).await;
        assert!(refused(&s, &code).await.contains(REVOKED), "enabling revives no old code");
        assert_eq!(exchange(&s.app, &s.client, &again, Some(VERIFIER)).await.status(), 200);
    }

    async fn a_code_issued_before_an_admin_set_a_new_password_is_invalid_grant(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        let out = s.app.cli_with_stdin(&["user", "set-password", "alice"], "a brand new passphrase\n");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(refused(&s, &code).await.contains(REVOKED));
    }

    async fn a_code_issued_in_the_browser_that_changes_the_password_is_invalid_grant(db) {
        // The browser that changes the password stays signed in; a code it was given just
        // before must still buy nothing (the codes were thrown away when they were stored).
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        let page = security_page(&browser).await;
        let form = page
            .form_with("current_password")
            .with("current_password", PASSWORD)
            .with("new_password", "a brand new passphrase")
            .with("confirm_password", "a brand new passphrase");
        let changed = browser.submit(&form, None).await.page();
        assert!(changed.contains("Your password was changed"), "{}", changed.body);
        assert!(refused(&s, &code).await.contains(REVOKED));
        // Still signed in, consent still remembered: the next code works.
        let next = fresh_code(&s, &browser).await;
        assert_eq!(exchange(&s.app, &s.client, &next, Some(VERIFIER)).await.status(), 200);
    }

    async fn a_code_whose_consent_was_revoked_is_invalid_grant_even_after_a_new_approval(db) {
        let s = setup(db, false).await;
        let browser = returning_user(&s).await;
        let code = fresh_code(&s, &browser).await;
        s.app.cli_json(&["consent", "revoke", "alice", &s.client.id]);
        // Approved again at once, within the same second as the revocation as like as not.
        let consent = browser.open(&url(&s)).await.page();
        let back = browser.submit(&consent.form_with("decision"), Some("allow")).await.left();
        let approved_again = code_from(&back).await;

        assert!(refused(&s, &code).await.contains(REVOKED));
        assert_eq!(exchange(&s.app, &s.client, &approved_again, Some(VERIFIER)).await.status(), 200);
    }

    async fn revoking_one_apps_consent_leaves_the_codes_of_another_good(db) {
        let s = setup(db, false).await;
        let other = s.app.register(&["--redirect-uri", "http://127.0.0.1:9/callback", "--scope", "books:read"]);
        let browser = returning_user(&s).await;
        let other_url = authorize_url(&other.id, "books:read", Some(CHALLENGE));
        let consent = browser.open(&other_url).await.page();
        let back = browser.submit(&consent.form_with("decision"), Some("allow")).await.left();
        let others_code = code_from(&back).await;
        let code = fresh_code(&s, &browser).await;

        s.app.cli_json(&["consent", "revoke", "alice", &s.client.id]);
        assert!(refused(&s, &code).await.contains(REVOKED));
        assert_eq!(exchange(&s.app, &other, &others_code, Some(VERIFIER)).await.status(), 200);
    }

    async fn a_spent_codes_row_is_kept_while_a_code_of_its_request_could_come_then_purged(db) {
        let s = setup_with(db, false, &[("GATEHOUSE_HOUSEKEEPING_INTERVAL_SECS", "1")]).await;
        returning_user(&s).await;
        assert_eq!(code_rows(&s.app.db.url).0, 1);

        // Past the code's minute, but its request could still have been answered again (for
        // ten minutes after /authorize) and its second code presented: kept.
        s.app.clock.advance(600);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(code_rows(&s.app.db.url).0, 1);

        s.app.clock.advance(61);
        let mut left = code_rows(&s.app.db.url).0;
        for _ in 0..100 {
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            left = code_rows(&s.app.db.url).0;
        }
        assert_eq!(left, 0, "purged once no code of its request can be presented");
    }
}

/// Signs Alice in again on a new browser (consent is remembered): a code.
async fn fresh_code_after_login(s: &Setup) -> String {
    let browser = Browser::new(&s.app);
    let login = browser.open(&url(s)).await.page();
    let back = log_in(&browser, &login, "alice", PASSWORD).await.left();
    code_from(&back).await
}

/// PostgreSQL runs an exchange and an admin's end of the user's access side by side (READ
/// COMMITTED): the exchange must not check the access against a snapshot from before an end
/// that is about to commit, or the family it issues would escape the end's revocation. Here
/// the end is held open at the moment that matters: its transaction has locked the user, as
/// `end_access` does first, and deleted the sessions, but not committed. The exchange waits for
/// it and is refused; without the wait it would win a family that nothing revokes.
#[actix_web::test]
async fn on_postgres_an_exchange_racing_an_end_of_access_waits_for_it_and_is_refused() {
    let Some(db) = crate::helpers::TestDb::postgres() else {
        return;
    };
    let s = setup(db, false).await;
    let browser = returning_user(&s).await;
    let code = fresh_code(&s, &browser).await;

    let mut admin = diesel::PgConnection::establish(&s.app.db.url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut admin).unwrap();
    diesel::sql_query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
        .bind::<diesel::sql_types::Text, _>(&s.user_id)
        .execute(&mut admin)
        .unwrap();
    diesel::sql_query("DELETE FROM login_sessions WHERE user_id = $1")
        .bind::<diesel::sql_types::Text, _>(&s.user_id)
        .execute(&mut admin)
        .unwrap();

    let mut exchanging = Box::pin(exchange(&s.app, &s.client, &code, Some(VERIFIER)));
    let early = actix_web::rt::time::timeout(Duration::from_millis(700), &mut exchanging).await;
    assert!(early.is_err(), "the exchange waits for the end in flight");
    diesel::sql_query("COMMIT").execute(&mut admin).unwrap();
    let res = exchanging.await;
    let error = oauth_error(res, 400, "invalid_grant").await;
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains(REVOKED),
        "{error}"
    );
}
