//! Account self-service on `/account` in a browser: changing the password (the current one
//! required, other sessions and app sign-ins ended), revoking an app, signing out
//! everywhere; and that a form without its CSRF token changes nothing.

use serde_json::Value;

use crate::authorization_code::{log_in, PASSWORD};
use crate::browser::{pkce_pair, Browser, Form, Page};
use crate::helpers::{oauth_error, on_both_backends};
use crate::openid::{authorize, exchange, setup, sign_in, Oidc};

const NEW_PASSWORD: &str = "a completely new passphrase";

/// Alice signs in to the app (allowing it) in `browser`; the app's tokens.
async fn app_signed_in(s: &Oidc, browser: &Browser) -> Value {
    let (verifier, challenge) = pkce_pair();
    let back = sign_in(s, browser, "openid books:read", &challenge, &[]).await;
    exchange(s, &back, &verifier).await
}

fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().unwrap()
}

async fn account(browser: &Browser) -> Page {
    browser.open("/account").await.page()
}

/// A second browser signed in to the account page.
async fn signed_in_elsewhere(s: &Oidc) -> Browser {
    let other = Browser::new(&s.app);
    let login = other.open("/account/security").await.page();
    let page = log_in(&other, &login, "alice", PASSWORD).await.page();
    assert!(page.contains("Signed in as"), "{}", page.body);
    other
}

fn signed_out(page: &Page) -> bool {
    page.contains("name=\"password\"") && !page.contains("Signed in as")
}

fn change(page: &Page, current: &str, new: &str, again: &str) -> Form {
    page.form_with("current_password")
        .with("current_password", current)
        .with("new_password", new)
        .with("confirm_password", again)
}

on_both_backends! {
    async fn a_user_changes_their_password_and_every_other_sign_in_ends(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let tokens = app_signed_in(&s, &browser).await;
        let elsewhere = signed_in_elsewhere(&s).await;

        let page = account(&browser).await;
        assert!(page.contains("Signed in as <strong>alice</strong>"), "{}", page.body);
        for (current, new, again, says) in [
            ("not my password", NEW_PASSWORD, NEW_PASSWORD, "current password is not right"),
            (PASSWORD, NEW_PASSWORD, "something else entirely", "do not match"),
            (PASSWORD, "short", "short", "at least"),
        ] {
            let refused = browser.submit(&change(&page, current, new, again), None).await.page();
            assert_eq!(refused.status, 400, "{says}");
            assert!(refused.contains(says), "{says}: {}", refused.body);
        }
        let still = s.app.refresh(&s.client, refresh_token(&tokens), None).await;
        assert_eq!(still.status(), 200, "a refused change ends nothing");
        let tokens: Value = still.json().await.unwrap();

        let changed = browser.submit(&change(&page, PASSWORD, NEW_PASSWORD, NEW_PASSWORD), None).await.page();
        assert_eq!(changed.status, 200);
        assert!(changed.contains("Your password was changed. 1 other session(s) were signed out and 1 app sign-in(s) ended."), "{}", changed.body);
        assert!(account(&browser).await.contains("Signed in as"), "this browser stays signed in");
        assert!(signed_out(&account(&elsewhere).await), "the other browser is signed out");
        oauth_error(s.app.refresh(&s.client, refresh_token(&tokens), None).await, 400, "invalid_grant").await;

        let third = Browser::new(&s.app);
        let login = third.open("/account/security").await.page();
        assert!(signed_out(&log_in(&third, &login, "alice", PASSWORD).await.page()), "the old password is gone");
        let login = third.open("/account/security").await.page();
        assert!(log_in(&third, &login, "alice", NEW_PASSWORD).await.page().contains("Signed in as"));

        let events = s.app.cli_json(&["events", "--user", "alice"]).to_string();
        assert!(events.contains("password_changed") && events.contains("via account"));
        assert!(!events.contains(NEW_PASSWORD) && !events.contains(PASSWORD));
    }

    async fn a_user_revokes_an_app_and_it_must_ask_again(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let tokens = app_signed_in(&s, &browser).await;
        let page = account(&browser).await;
        let apps = page.select_text("#apps li strong");
        assert_eq!(apps, vec!["test client".to_owned()], "{}", page.body);

        let revoke = page.form_with("client_id");
        assert_eq!(revoke.field("client_id"), Some(s.client.id.as_str()));
        let after = browser.submit(&revoke, None).await.page();
        assert!(after.contains("Access revoked"), "{}", after.body);
        assert!(after.contains("You have not allowed any app"));
        oauth_error(s.app.refresh(&s.client, refresh_token(&tokens), None).await, 400, "invalid_grant").await;
        let (_, challenge) = pkce_pair();
        let again = browser.open(&authorize(&s.client.id, "openid books:read", &challenge, &[])).await.page();
        assert!(again.contains("name=\"decision\""), "the app must ask for consent again");

        // Another user's app, or one never allowed: nothing to revoke, nothing revoked.
        let nothing = browser.submit(&revoke.clone().with("client_id", "someone-elses-app"), None).await.page();
        assert!(nothing.contains("no access to revoke"));
    }

    async fn signing_out_everywhere_ends_every_session_and_app_sign_in(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let tokens = app_signed_in(&s, &browser).await;
        let elsewhere = signed_in_elsewhere(&s).await;
        let page = account(&browser).await;
        let out = browser.submit(&page.form_with("everywhere"), None).await.page();
        assert!(signed_out(&out), "{}", out.body);
        assert!(signed_out(&account(&elsewhere).await));
        oauth_error(s.app.refresh(&s.client, refresh_token(&tokens), None).await, 400, "invalid_grant").await;
    }

    async fn a_form_without_its_csrf_token_or_from_a_signed_out_browser_changes_nothing(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let tokens = app_signed_in(&s, &browser).await;
        let page = account(&browser).await;
        let forged = change(&page, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).with("csrf_token", "forged");
        assert_eq!(browser.submit(&forged, None).await.page().status, 403);
        let forged = page.form_with("client_id").without("csrf_token");
        assert_eq!(browser.submit(&forged, None).await.page().status, 403);
        assert_eq!(s.app.refresh(&s.client, refresh_token(&tokens), None).await.status(), 200);

        // A stranger's browser posting the same form: its own session, signed in as no one.
        let stranger = Browser::new(&s.app);
        let theirs = account(&stranger).await;
        let form = page.form_with("everywhere").with("csrf_token", theirs.form_with("password").field("csrf_token").unwrap());
        let landed = stranger.submit(&form, None).await.page();
        assert!(signed_out(&landed));
        assert!(account(&browser).await.contains("Signed in as"), "nobody was signed out");
    }
}
