//! The admin command line's management of people: users, roles, consents and sessions,
//! run as the real binary, with each change checked where a client would notice it.

use serde_json::Value;

use crate::browser::{pkce_pair, Browser};
use crate::helpers::{oauth_error, on_both_backends, spawn_app, TestApp};
use crate::openid::{claims_of, exchange, setup, sign_in, userinfo};

const PASSWORD: &str = "correct horse battery staple";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command that must fail; answers its stderr. Nothing may reach stdout.
fn fails(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(args);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(
        out.stdout.is_empty(),
        "{args:?} printed {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr(&out)
}

fn usernames(page: &Value) -> Vec<&str> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect()
}

/// A password-grant login's tokens.
async fn password_login(
    app: &TestApp,
    client: &crate::helpers::Registered,
    user: &str,
    password: &str,
) -> reqwest::Response {
    app.password_grant(client, user, password, None).await
}

on_both_backends! {
    async fn users_are_listed_a_page_at_a_time_and_searched_without_regard_to_case(db) {
        let app = spawn_app(db).await;
        for name in ["carol", "Alice", "bob", "alina", "dave"] {
            app.create_user(name, PASSWORD, &[]);
        }

        // Ordered by the case-folded name: "alice" < "alina".
        let first = app.cli_json(&["user", "list", "--limit", "2"]);
        assert_eq!(usernames(&first), vec!["Alice", "alina"]);
        let next = first["next"].as_str().expect("a next page");
        let second = app.cli_json(&["user", "list", "--limit", "2", "--after", next]);
        assert_eq!(usernames(&second), vec!["bob", "carol"]);
        let last = app.cli_json(&["user", "list", "--limit", "2", "--after", second["next"].as_str().unwrap()]);
        assert_eq!(usernames(&last), vec!["dave"]);
        assert!(last.get("next").is_none(), "the last page has no next");

        let found = app.cli_json(&["user", "list", "--search", "AL"]);
        assert_eq!(usernames(&found), vec!["Alice", "alina"]);
        assert!(found[ "users"][0].get("password_hash").is_none());
        for bad in ["0", "501", "-1"] {
            assert!(fails(&app, &["user", "list", "--limit", bad]).contains("page"));
        }
    }

    async fn a_user_is_shown_by_name_or_id_and_their_profile_edited(db) {
        let app = spawn_app(db).await;
        let id = app.create_user_with("alice", PASSWORD, &[], &["--email", "a@example.com"]);

        let by_name = app.cli_json(&["user", "show", "ALICE"]);
        let by_id = app.cli_json(&["user", "show", &id]);
        assert_eq!(by_name, by_id);
        assert_eq!(by_name["email"], "a@example.com");
        assert_eq!(by_name["totp"], false);

        let updated = app.cli_json(&["user", "update", "alice", "--name", "Alice Liddell", "--email", ""]);
        assert_eq!(updated["name"], "Alice Liddell");
        assert!(updated.get("email").is_none(), "an empty value clears it: {updated}");

        assert!(fails(&app, &["user", "update", "alice", "--email", "not an address"]).contains("email"));
        assert!(fails(&app, &["user", "update", "alice"]).contains("nothing to change"));
        assert!(fails(&app, &["user", "show", "nobody"]).contains("no user `nobody`"));
        assert_eq!(app.cli_json(&["user", "show", "alice"])["name"], "Alice Liddell", "a refused change writes nothing");
    }

    async fn a_disabled_user_cannot_sign_in_and_loses_every_token_until_enabled(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["books:read"]);
        app.create_user("alice", PASSWORD, &["reader"]);
        let client = app.first_party_client(&["books:read"]);
        let tokens: Value = password_login(&app, &client, "alice", PASSWORD).await.json().await.unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();

        let ended = app.cli_json(&["user", "disable", "alice"]);
        assert_eq!(ended["refresh_families"], 1);

        // The right password gets the answer a wrong one gets: no hint that it was right.
        let right = oauth_error(password_login(&app, &client, "alice", PASSWORD).await, 400, "invalid_grant").await;
        let wrong = oauth_error(password_login(&app, &client, "alice", "wrong password").await, 400, "invalid_grant").await;
        assert_eq!(right, wrong);
        oauth_error(app.refresh(&client, refresh, None).await, 400, "invalid_grant").await;
        assert!(app.cli_json(&["user", "show", "alice"])["disabled_at"].is_i64());
        assert!(fails(&app, &["user", "disable", "alice"]).contains("already disabled"));

        app.cli_json(&["user", "enable", "alice"]);
        assert_eq!(password_login(&app, &client, "alice", PASSWORD).await.status(), 200);
        oauth_error(app.refresh(&client, refresh, None).await, 400, "invalid_grant").await;
        assert!(fails(&app, &["user", "enable", "alice"]).contains("not disabled"));
    }

    async fn disabling_a_user_ends_their_browser_session_and_userinfo(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let back = sign_in(&s, &browser, "openid books:read", &challenge, &[]).await;
        let tokens = exchange(&s, &back, &verifier).await;
        // A code issued before the disable buys nothing after it.
        let (late_verifier, late_challenge) = pkce_pair();
        let late = browser.open(&crate::openid::authorize(&s.client.id, "openid books:read", &late_challenge, &[])).await.left();
        let late_code = crate::browser::query_param(&late, "code").expect("a second code, consent remembered");
        let access = tokens["access_token"].as_str().unwrap();
        let sid = claims_of(tokens["id_token"].as_str().unwrap())["sid"].clone();

        let sessions = s.app.cli_json(&["user", "sessions", "alice"]);
        assert_eq!(sessions.as_array().unwrap().len(), 1);
        assert_eq!(sessions[0]["sid"], sid, "the session is shown by its public sid");
        assert_eq!(sessions[0]["amr"], "pwd");

        s.app.cli_json(&["user", "disable", "alice"]);
        let form = [("grant_type", "authorization_code"), ("code", late_code.as_str()), ("redirect_uri", crate::openid::REDIRECT), ("code_verifier", late_verifier.as_str())];
        oauth_error(s.app.token(&form, Some((&s.client.id, &s.client.secret))).await, 400, "invalid_grant").await;
        // The memory of userinfo answers lasts a second.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(userinfo(&s.app, Some(access)).await.status(), 401);
        assert_eq!(s.app.cli_json(&["user", "sessions", "alice"]), serde_json::json!([]));
        let again = browser.open(&crate::openid::authorize(&s.client.id, "openid", &challenge, &[])).await.page();
        assert!(again.contains("name=\"password\""), "the browser must sign in again");
    }

    async fn a_new_password_set_by_an_admin_replaces_the_old_and_ends_its_tokens(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["books:read"]);
        app.create_user("alice", PASSWORD, &["reader"]);
        let client = app.first_party_client(&["books:read"]);
        let tokens: Value = password_login(&app, &client, "alice", PASSWORD).await.json().await.unwrap();

        let short = app.cli_with_stdin(&["user", "set-password", "alice"], "short\n");
        assert!(!short.status.success());
        assert!(stderr(&short).contains("at least"), "{}", stderr(&short));
        assert_eq!(password_login(&app, &client, "alice", PASSWORD).await.status(), 200, "a refused password changes nothing");

        let out = app.cli_with_stdin(&["user", "set-password", "alice", "--json"], "a brand new passphrase\n");
        assert!(out.status.success(), "{}", stderr(&out));
        let ended: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(ended["refresh_families"], 2);
        oauth_error(password_login(&app, &client, "alice", PASSWORD).await, 400, "invalid_grant").await;
        assert_eq!(password_login(&app, &client, "alice", "a brand new passphrase").await.status(), 200);
        oauth_error(app.refresh(&client, tokens["refresh_token"].as_str().unwrap(), None).await, 400, "invalid_grant").await;
        let nobody = app.cli_with_stdin(&["user", "set-password", "nobody"], "whatever it is\n");
        assert!(stderr(&nobody).contains("no user"), "{}", stderr(&nobody));
    }

    async fn a_deleted_user_is_gone_with_their_tokens_and_their_name_is_free(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["books:read"]);
        let id = app.create_user("alice", PASSWORD, &["reader"]);
        let client = app.first_party_client(&["books:read"]);
        let tokens: Value = password_login(&app, &client, "alice", PASSWORD).await.json().await.unwrap();

        let deleted = app.cli_json(&["user", "delete", "alice"]);
        assert_eq!(deleted["deleted"], id.as_str());
        oauth_error(app.refresh(&client, tokens["refresh_token"].as_str().unwrap(), None).await, 400, "invalid_grant").await;
        oauth_error(password_login(&app, &client, "alice", PASSWORD).await, 400, "invalid_grant").await;
        assert!(fails(&app, &["user", "show", &id]).contains("no user"));
        assert!(fails(&app, &["user", "delete", "alice"]).contains("no user"));
        let again = app.create_user("Alice", PASSWORD, &[]);
        assert_ne!(again, id, "a new user is a new subject");
    }

    async fn a_disable_made_while_a_password_is_checked_is_not_undone_by_the_login(db) {
        // A slow hash, so that the disable lands while the server checks the password.
        let app = crate::helpers::spawn_app_with(db, &[("GATEHOUSE_ACCOUNTS_BCRYPT_COST", "13")]).await;
        app.create_role("reader", &["books:read"]);
        app.create_user("alice", PASSWORD, &["reader"]);
        let client = app.first_party_client(&["books:read"]);
        let login = password_login(&app, &client, "alice", PASSWORD);
        let disable = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            app.cli_json(&["user", "disable", "alice"])
        };
        let (answer, _) = futures_util::join!(login, disable);
        oauth_error(answer, 400, "invalid_grant").await;
        app.cli_json(&["user", "enable", "alice"]);
        assert_eq!(password_login(&app, &client, "alice", PASSWORD).await.status(), 200);
    }

    async fn a_scope_taken_from_a_client_is_taken_from_its_refresh_tokens(db) {
        let app = spawn_app(db).await;
        app.create_role("staff", &["books:read", "books:write"]);
        app.create_user("alice", PASSWORD, &["staff"]);
        let client = app.first_party_client(&["books:read", "books:write"]);
        let tokens: Value = password_login(&app, &client, "alice", PASSWORD).await.json().await.unwrap();
        assert_eq!(tokens["scope"], "books:read books:write");
        app.cli_json(&["client", "update", &client.id, "--scope", "books:read"]);
        let refreshed: Value = app.refresh(&client, tokens["refresh_token"].as_str().unwrap(), None).await.json().await.unwrap();
        assert_eq!(refreshed["scope"], "books:read", "the refresh is narrowed to the client's registration");
    }

    async fn roles_given_and_taken_change_the_next_token(db) {
        let app = spawn_app(db).await;
        app.create_role("reader", &["books:read"]);
        app.create_role("writer", &["books:write"]);
        app.create_user("alice", PASSWORD, &["reader"]);
        let client = app.first_party_client(&["books:read", "books:write"]);

        let shown = app.cli_json(&["user", "add-role", "alice", "writer"]);
        assert_eq!(shown["roles"], serde_json::json!(["reader", "writer"]));
        let token: Value = password_login(&app, &client, "alice", PASSWORD).await.json().await.unwrap();
        assert_eq!(token["scope"], "books:read books:write");

        app.cli_json(&["user", "remove-role", "alice", "writer"]);
        let refreshed: Value = app.refresh(&client, token["refresh_token"].as_str().unwrap(), None).await.json().await.unwrap();
        assert_eq!(refreshed["scope"], "books:read", "a refresh narrows to the roles held now");

        assert!(fails(&app, &["user", "add-role", "alice", "reader"]).contains("already has"));
        assert!(fails(&app, &["user", "add-role", "alice", "nope"]).contains("no role named `nope`"));
        assert!(fails(&app, &["user", "remove-role", "alice", "writer"]).contains("does not have"));
    }

    async fn a_role_s_scopes_are_edited_and_a_deleted_role_allows_nothing(db) {
        let app = spawn_app(db).await;
        app.create_role("staff", &["books:read"]);
        app.create_user("alice", PASSWORD, &["staff"]);
        let client = app.first_party_client(&["books:read", "books:write"]);

        let role = app.cli_json(&["role", "update", "staff", "--add-scope", "books:write", "--remove-scope", "books:read"]);
        assert_eq!(role["scopes"], serde_json::json!(["books:write"]));
        assert_eq!(role["users"], 1);
        let listed = app.cli_json(&["role", "list"]);
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert_eq!(app.cli_json(&["role", "show", "staff"]), role);
        let token: Value = password_login(&app, &client, "alice", PASSWORD).await.json().await.unwrap();
        assert_eq!(token["scope"], "books:write");

        assert!(fails(&app, &["role", "update", "staff"]).contains("nothing to change"));
        assert!(fails(&app, &["role", "update", "staff", "--add-scope", "bad\"scope"]).contains("scope"));
        assert!(fails(&app, &["role", "update", "staff", "--add-scope", "x", "--remove-scope", "x"]).contains("both"));
        assert!(fails(&app, &["role", "show", "nope"]).contains("no role"));

        let deleted = app.cli_json(&["role", "delete", "staff"]);
        assert_eq!(deleted["users"], 1);
        assert_eq!(app.cli_json(&["user", "show", "alice"])["roles"], serde_json::json!([]));
        oauth_error(app.refresh(&client, token["refresh_token"].as_str().unwrap(), None).await, 400, "invalid_scope").await;
    }

    async fn a_withdrawn_consent_asks_again_and_ends_the_app_s_refresh_tokens(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let back = sign_in(&s, &browser, "openid books:read", &challenge, &[]).await;
        let tokens = exchange(&s, &back, &verifier).await;

        let consents = s.app.cli_json(&["consent", "list", "alice"]);
        assert_eq!(consents[0]["client_id"], s.client.id.as_str());
        assert_eq!(consents[0]["scopes"], serde_json::json!(["books:read", "openid"]));

        let ended = s.app.cli_json(&["consent", "revoke", "alice", &s.client.id]);
        assert_eq!(ended["refresh_families"], 1);
        assert_eq!(s.app.cli_json(&["consent", "list", "alice"]), serde_json::json!([]));
        let refresh = tokens["refresh_token"].as_str().unwrap();
        oauth_error(s.app.refresh(&s.client, refresh, None).await, 400, "invalid_grant").await;
        // Still signed in, the browser is asked again.
        let page = browser.open(&crate::openid::authorize(&s.client.id, "openid books:read", &challenge, &[])).await.page();
        assert!(page.contains("name=\"csrf_token\"") && !page.contains("name=\"password\""), "the consent page again");
        assert!(fails(&s.app, &["consent", "revoke", "alice", &s.client.id]).contains("no consent"));
    }

    async fn revoking_sessions_signs_a_user_out_everywhere(db) {
        let s = setup(db).await;
        let browser = Browser::new(&s.app);
        let (verifier, challenge) = pkce_pair();
        let back = sign_in(&s, &browser, "openid books:read", &challenge, &[]).await;
        let tokens = exchange(&s, &back, &verifier).await;

        let ended = s.app.cli_json(&["user", "revoke-sessions", "alice"]);
        assert_eq!((ended["sessions"].as_i64(), ended["refresh_families"].as_i64()), (Some(1), Some(1)));
        oauth_error(s.app.refresh(&s.client, tokens["refresh_token"].as_str().unwrap(), None).await, 400, "invalid_grant").await;
        let again = browser.open(&crate::openid::authorize(&s.client.id, "openid", &challenge, &[])).await.page();
        assert!(again.contains("name=\"password\""), "the browser must sign in again");
    }

    async fn every_admin_change_to_people_is_recorded_with_the_admin(db) {
        let app = spawn_app(db).await;
        app.create_role("staff", &["a"]);
        app.create_user("alice", PASSWORD, &[]);
        app.cli_json(&["user", "add-role", "alice", "staff"]);
        app.cli_json(&["role", "update", "staff", "--add-scope", "b"]);
        app.cli_json(&["user", "disable", "alice"]);
        app.cli_json(&["user", "enable", "alice"]);
        app.cli_json(&["user", "delete", "alice"]);
        app.cli_json(&["role", "delete", "staff"]);

        let events = app.cli_json(&["events", "--user", "admin"]);
        let kinds: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, vec!["role_created", "user_created", "role_granted", "role_updated", "user_disabled", "user_enabled", "user_deleted", "role_deleted"]);
        assert!(events[1]["detail"].as_str().unwrap().contains("alice"), "{}", events[1]);
        assert!(!serde_json::to_string(&events).unwrap().contains(PASSWORD));
    }
}
