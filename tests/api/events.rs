//! The security event log: written for logins, reuse, replay and admin changes, listed by
//! `gatehouse events`, purged after the retention period, and never holding a secret.

use std::time::Duration;

use serde_json::Value;

use crate::authorization_code::{
    approve, authorize_url, code_from, exchange, log_in, setup, CHALLENGE, PASSWORD, VERIFIER,
};
use crate::browser::Browser;
use crate::helpers::{on_both_backends, spawn_app_with, TestApp};

fn events(app: &TestApp, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["events"];
    full.extend_from_slice(args);
    app.cli_json(&full).as_array().expect("an array").clone()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

on_both_backends! {
    async fn logins_are_recorded_with_client_and_address_but_never_the_password(db) {
        let s = setup(db, false).await;
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        log_in(&browser, &login, "alice", "wrong password 1").await.page();
        log_in(&browser, &login, "mallory", "wrong password 2").await.page();
        log_in(&browser, &login, "alice", PASSWORD).await.page();

        let all = events(&s.app, &[]);
        let logins: Vec<&Value> = all.iter().filter(|e| e["kind"].as_str().unwrap().starts_with("login")).collect();
        assert_eq!(logins.len(), 3, "{all:?}");
        assert_eq!((logins[0]["kind"].as_str(), logins[0]["actor"].as_str()), (Some("login_failed"), Some("alice")));
        assert_eq!((logins[1]["kind"].as_str(), logins[1]["actor"].as_str()), (Some("login_failed"), Some("mallory")));
        assert_eq!(logins[2]["kind"], "login_succeeded");
        assert_eq!(logins[2]["actor"], s.user_id.as_str());
        for e in &logins {
            assert_eq!(e["client_id"], s.client.id.as_str());
            assert_eq!(e["ip"], "127.0.0.1");
        }
        assert_eq!(logins[0]["outcome"], "failure");
        assert_eq!(logins[2]["outcome"], "success");
        let text = serde_json::to_string(&all).unwrap();
        for secret in ["wrong password", PASSWORD, &s.client.secret] {
            assert!(!text.contains(secret), "an event holds a secret: {text}");
        }
        // Filtering by actor.
        assert_eq!(kinds(&events(&s.app, &["--user", "mallory"])), vec!["login_failed"]);
    }

    async fn refresh_reuse_revocation_and_code_replay_are_recorded(db) {
        let s = setup(db, false).await;
        let back = approve(&Browser::new(&s.app), &authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await;
        let code = code_from(&back).await;
        let tokens: Value = exchange(&s.app, &s.client, &code, Some(VERIFIER)).await.json().await.unwrap();
        exchange(&s.app, &s.client, &code, Some(VERIFIER)).await; // replay
        let first = tokens["refresh_token"].as_str().unwrap();

        // Consent is remembered now: the login goes straight back with a code.
        let browser = Browser::new(&s.app);
        let login = browser.open(&authorize_url(&s.client.id, "books:read", Some(CHALLENGE))).await.page();
        let back = log_in(&browser, &login, "alice", PASSWORD).await.left();
        let fresh: Value = exchange(&s.app, &s.client, &code_from(&back).await, Some(VERIFIER)).await.json().await.unwrap();
        let old = fresh["refresh_token"].as_str().unwrap();
        s.app.refresh(&s.client, old, None).await;
        s.app.refresh(&s.client, old, None).await; // reuse
        s.app.revoke(&s.client, first).await;

        let all = events(&s.app, &["--user", &s.user_id]);
        let seen = kinds(&all);
        for kind in ["authorization_code_replay", "refresh_token_reuse", "refresh_family_revoked"] {
            let event = all.iter().find(|e| e["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {seen:?}"));
            assert_eq!(event["client_id"], s.client.id.as_str());
        }
        let text = serde_json::to_string(&all).unwrap();
        assert!(!text.contains(&code) && !text.contains(old) && !text.contains(first));
    }

    async fn admin_changes_are_recorded_with_the_admin_as_actor(db) {
        let app = crate::helpers::spawn_app(db).await;
        let client = app.service_client(&["a"]);
        app.cli_json(&["client", "rotate-secret", &client.id]);
        app.cli_json(&["keys", "rotate"]);
        app.cli_json(&["client", "delete", &client.id]);

        let admin = events(&app, &["--user", "admin"]);
        assert_eq!(
            kinds(&admin),
            vec!["client_registered", "client_secret_rotated", "signing_key_rotated", "client_deleted"]
        );
        assert_eq!(admin[0]["client_id"], client.id.as_str());
        assert!(!serde_json::to_string(&admin).unwrap().contains(&client.secret));
    }

    async fn events_since_a_time_and_bad_since_values(db) {
        let app = crate::helpers::spawn_app(db).await;
        app.service_client(&["a"]);
        assert_eq!(events(&app, &["--since", "1h"]).len(), 1);
        assert_eq!(events(&app, &["--since", "2999-01-01T00:00:00Z"]).len(), 0);
        for bad in ["yesterday", "5w", "h"] {
            let out = app.cli(&["events", "--since", bad, "--json"]);
            assert!(!out.status.success(), "{bad}");
            assert!(String::from_utf8_lossy(&out.stderr).contains("--since"), "{bad}");
        }
    }

    async fn old_events_are_purged_after_the_retention_period(db) {
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_HOUSEKEEPING_INTERVAL_SECS", "1"),
            ("GATEHOUSE_HOUSEKEEPING_EVENT_RETENTION_DAYS", "30"),
            // A month on the clock would also rotate the signing key (an event of its own).
            ("GATEHOUSE_TOKENS_KEY_ROTATION_PERIOD_SECS", "0"),
        ]).await;
        app.service_client(&["a"]);
        assert_eq!(events(&app, &[]).len(), 1);
        app.clock.advance(31 * 86400);
        let mut left = 1;
        for _ in 0..50 {
            left = events(&app, &[]).len();
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(left, 0, "the event outlived its retention");
    }
}

/// Revokes a fresh refresh token with an `X-Forwarded-For` header; answers the event's `ip`.
async fn revocation_event_ip(app: &TestApp) -> Value {
    app.create_role("staff", &["a"]);
    app.create_user("alice", "correct horse", &["staff"]);
    let client = app.first_party_client(&["a"]);
    let login: Value = app
        .password_grant(&client, "alice", "correct horse", None)
        .await
        .json()
        .await
        .unwrap();
    app.http
        .post(app.url("/revoke"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("X-Forwarded-For", "198.51.100.1, 203.0.113.7")
        .form(&[("token", login["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let all = events(app, &[]);
    let revoked = all
        .iter()
        .find(|e| e["kind"] == "refresh_family_revoked")
        .expect("an event");
    revoked["ip"].clone()
}

#[actix_web::test]
async fn x_forwarded_for_is_ignored_unless_the_proxy_is_trusted() {
    let direct = crate::helpers::spawn_app(crate::helpers::TestDb::sqlite()).await;
    assert_eq!(revocation_event_ip(&direct).await, "127.0.0.1");
    let proxied = spawn_app_with(
        crate::helpers::TestDb::sqlite(),
        &[("GATEHOUSE_SERVER_TRUST_FORWARDED_FOR", "true")],
    )
    .await;
    assert_eq!(revocation_event_ip(&proxied).await, "203.0.113.7");
}
