//! Refresh tokens: rotation, reuse detection, sliding and absolute expiry, the race, the
//! grace window and scope on refresh.

use serde_json::Value;

use crate::helpers::{
    oauth_error, on_both_backends, spawn_app, spawn_app_with, Registered, TestApp,
};

/// A user `alice` with role scopes `a b`, a first-party client for `a b c`, and a login.
async fn logged_in(app: &TestApp) -> (Registered, Value) {
    app.create_role("staff", &["a", "b"]);
    app.create_user("alice", "correct horse", &["staff"]);
    let client = app.first_party_client(&["a", "b", "c"]);
    let res = app
        .password_grant(&client, "alice", "correct horse", None)
        .await;
    assert_eq!(res.status(), 200);
    (client, res.json().await.unwrap())
}

fn refresh_token(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

on_both_backends! {
    async fn every_refresh_rotates_and_the_used_token_stops_working(db) {
        let app = spawn_app(db).await;
        let (client, login) = logged_in(&app).await;
        let r0 = refresh_token(&login);

        let res = app.refresh(&client, &r0, None).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        let r1 = refresh_token(&body);
        assert_ne!(r0, r1);
        assert_eq!(body["scope"], "a b");
        app.verify(body["access_token"].as_str().unwrap()).await;

        let r2 = refresh_token(&app.refresh(&client, &r1, None).await.json::<Value>().await.unwrap());
        assert_ne!(r1, r2);
    }

    async fn reusing_a_rotated_token_revokes_the_whole_family(db) {
        let app = spawn_app(db).await;
        let (client, login) = logged_in(&app).await;
        let r0 = refresh_token(&login);
        let r1 = refresh_token(&app.refresh(&client, &r0, None).await.json::<Value>().await.unwrap());

        let replay = app.refresh(&client, &r0, None).await;

        oauth_error(replay, 400, "invalid_grant").await;
        let newest = app.refresh(&client, &r1, None).await;
        oauth_error(newest, 400, "invalid_grant").await;
    }

    async fn each_use_slides_the_expiry_up_to_the_absolute_limit(db) {
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_TOKENS_REFRESH_TOKEN_IDLE_TTL_SECS", "100"),
            ("GATEHOUSE_TOKENS_REFRESH_TOKEN_ABSOLUTE_TTL_SECS", "250"),
        ]).await;
        let (client, login) = logged_in(&app).await;
        let mut token = refresh_token(&login);

        for _ in 0..2 {
            app.clock.advance(90);
            let res = app.refresh(&client, &token, None).await;
            assert_eq!(res.status(), 200, "used within the idle window");
            token = refresh_token(&res.json().await.unwrap());
        }
        app.clock.advance(80); // 260 s after login: within idle, past the absolute limit
        oauth_error(app.refresh(&client, &token, None).await, 400, "invalid_grant").await;
    }

    async fn an_unused_token_expires_after_the_idle_time(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_TOKENS_REFRESH_TOKEN_IDLE_TTL_SECS", "100")]).await;
        let (client, login) = logged_in(&app).await;

        app.clock.advance(101);

        oauth_error(app.refresh(&client, &refresh_token(&login), None).await, 400, "invalid_grant").await;
    }

    async fn concurrent_refreshes_with_one_token_have_exactly_one_winner(db) {
        let app = spawn_app(db).await;
        let (client, login) = logged_in(&app).await;
        let r0 = refresh_token(&login);

        let attempts = (0..16).map(|_| app.refresh(&client, &r0, None));
        let statuses: Vec<u16> = futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();

        assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|&s| s == 200 || s == 400), "{statuses:?}");
    }

    async fn within_the_grace_window_a_retry_succeeds_without_revoking(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_TOKENS_REFRESH_TOKEN_GRACE_SECS", "30")]).await;
        let (client, login) = logged_in(&app).await;
        let r0 = refresh_token(&login);
        let _lost = app.refresh(&client, &r0, None).await; // the client never saw this answer

        app.clock.advance(10);
        let retry = app.refresh(&client, &r0, None).await;

        assert_eq!(retry.status(), 200);
        let r2 = refresh_token(&retry.json().await.unwrap());
        assert_eq!(app.refresh(&client, &r2, None).await.status(), 200, "the family lives on");
    }

    async fn after_the_grace_window_a_retry_is_reuse(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_TOKENS_REFRESH_TOKEN_GRACE_SECS", "30")]).await;
        let (client, login) = logged_in(&app).await;
        let r0 = refresh_token(&login);
        let r1 = refresh_token(&app.refresh(&client, &r0, None).await.json::<Value>().await.unwrap());

        app.clock.advance(31);

        oauth_error(app.refresh(&client, &r0, None).await, 400, "invalid_grant").await;
        oauth_error(app.refresh(&client, &r1, None).await, 400, "invalid_grant").await;
    }

    async fn a_refresh_may_narrow_the_scope_but_not_widen_it(db) {
        let app = spawn_app(db).await;
        let (client, login) = logged_in(&app).await;
        let r0 = refresh_token(&login);

        let wider = app.refresh(&client, &r0, Some("a c")).await;
        oauth_error(wider, 400, "invalid_scope").await;
        let narrow: Value = app.refresh(&client, &r0, Some("a")).await.json().await.unwrap();
        assert_eq!(narrow["scope"], "a", "the refused request did not use the token up");
        let again: Value = app.refresh(&client, &refresh_token(&narrow), None).await.json().await.unwrap();
        assert_eq!(again["scope"], "a b", "the refresh token keeps the original grant");
    }

    async fn another_client_cannot_use_the_refresh_token(db) {
        let app = spawn_app(db).await;
        let (client, login) = logged_in(&app).await;
        let other = app.first_party_client(&["a"]);
        let r0 = refresh_token(&login);

        oauth_error(app.refresh(&other, &r0, None).await, 400, "invalid_grant").await;
        assert_eq!(app.refresh(&client, &r0, None).await.status(), 200, "the owner's token is untouched");
    }
}
