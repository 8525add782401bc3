//! The admin console in a browser (the form-filling client of `browser.rs`): an admin signs
//! in at `/admin`, registers a client, sees its secret once and a service uses it; deleting
//! asks first; a signed-in non-admin gets 403 on every page and form; a form without its
//! CSRF token changes nothing.

use crate::authorization_code::{log_in, PASSWORD};
use crate::browser::{Browser, Form, Page};
use crate::helpers::{oauth_error, on_both_backends, spawn_app, Registered, TestApp};

async fn signed_in(app: &TestApp, username: &str) -> (Browser, Page) {
    let browser = Browser::new(app);
    let login = browser.open("/admin").await.page();
    assert!(
        login.contains("the gatehouse admin console"),
        "{}",
        login.body
    );
    assert_eq!(login.form_with("password").field("next"), Some("console"));
    let landed = log_in(&browser, &login, username, PASSWORD).await.page();
    (browser, landed)
}

fn people(app: &TestApp) {
    app.create_role("admins", &["gatehouse:admin"]);
    app.create_role("reader", &["books:read"]);
    app.create_user("root", PASSWORD, &["admins"]);
    app.create_user("alice", PASSWORD, &["reader"]);
}

fn client_count(app: &TestApp) -> usize {
    app.cli_json(&["client", "list"]).as_array().unwrap().len()
}

on_both_backends! {
    async fn an_admin_registers_a_client_in_the_console_and_a_service_uses_its_secret(db) {
        let app = spawn_app(db).await;
        people(&app);
        let (browser, home) = signed_in(&app, "root").await;
        assert_eq!(home.status, 200);
        assert!(home.contains("Admin console") && home.contains("2 users"), "{}", home.body);
        let events = home.select_text("#events td").join(" ");
        assert!(events.contains("login_succeeded") && events.contains("admin console"), "the console sign-in is logged: {events}");

        let list = browser.open("/admin/clients").await.page();
        let form = list.form_with("redirect_uris")
            .with("name", "Nightly export")
            .with("scopes", "reports:read reports:write")
            .without("grant_authorization_code")
            .without("grant_refresh_token")
            .with("grant_client_credentials", "on");
        let created = browser.submit(&form, None).await.page();
        assert_eq!(created.status, 200, "{}", created.body);
        let secret = created.select_text("#client-secret").pop().expect("the secret, shown once");
        let id = created.select_text("#client-id").pop().unwrap();
        let service = Registered { id: id.clone(), secret: secret.clone() };
        assert_eq!(app.client_credentials(&service).await["scope"], "reports:read reports:write");

        let again = browser.open(&format!("/admin/clients/{id}")).await.page();
        assert!(again.contains("Nightly export") && !again.contains(&secret), "never shown again");
        assert!(browser.open("/admin/clients").await.page().select_text("#clients td a").contains(&"Nightly export".to_owned()));
        let events = app.cli_json(&["events"]).to_string();
        assert!(events.contains("via console"), "the registration names the console");

        // Deleting asks first; only the answer deletes.
        let delete = again.forms().into_iter().find(|f| f.action.path().ends_with("/delete")).expect("a delete form");
        let asked = browser.submit(&delete, None).await.page();
        assert!(asked.contains("cannot be undone"), "{}", asked.body);
        assert_eq!(app.client_credentials(&service).await["scope"], "reports:read reports:write", "the question deletes nothing");
        let gone = browser.submit(&asked.form_with("confirm"), Some("yes")).await.page();
        assert!(gone.url.path().ends_with("/admin/clients"), "{}", gone.url);
        oauth_error(app.token(&[("grant_type", "client_credentials")], Some((&id, &secret))).await, 401, "invalid_client").await;
    }

    async fn bad_forms_are_refused_on_the_page_and_write_nothing(db) {
        let app = spawn_app(db).await;
        people(&app);
        let (browser, _) = signed_in(&app, "root").await;
        let list = browser.open("/admin/clients").await.page();
        let before = client_count(&app);
        for (field, value, says) in [
            ("redirect_uris", "http://evil.example/cb", "https"),
            ("name", "", "name"),
            ("scopes", "a\\b", "scope"),
        ] {
            let form = list.form_with("redirect_uris").with("name", "x").with("redirect_uris", "https://app.example/cb").with(field, value);
            let page = browser.submit(&form, None).await.page();
            assert_eq!(page.status, 400, "{field}={value}");
            assert!(page.select_text(".error").join(" ").to_lowercase().contains(says), "{field}: {}", page.body);
        }
        let forged = list.form_with("redirect_uris").with("name", "x").with("csrf_token", "forged");
        assert_eq!(browser.submit(&forged, None).await.page().status, 403);
        assert_eq!(client_count(&app), before, "nothing was registered");
    }

    async fn a_signed_in_user_without_the_admin_role_gets_403_everywhere(db) {
        let app = spawn_app(db).await;
        people(&app);
        let ops = app.service_client(&["reports:read"]);
        let (browser, landed) = signed_in(&app, "alice").await;
        assert_eq!(landed.status, 403, "{}", landed.body);
        for path in ["/admin", "/admin/clients", &format!("/admin/clients/{}", ops.id), "/admin/users", "/admin/users/root"] {
            assert_eq!(browser.open(path).await.page().status, 403, "{path}");
        }
        // Her own session's CSRF token, on forms she was never shown.
        let account = browser.open("/account").await.page();
        let csrf = account.form_with("current_password").field("csrf_token").unwrap().to_owned();
        let before = client_count(&app);
        let post = |path: String, fields: &[(&str, &str)]| Form {
            action: account.url.join(&path).unwrap(),
            method: "post".into(),
            fields: fields.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            buttons: Vec::new(),
        };
        let register = post("/admin/clients".into(), &[("csrf_token", &csrf), ("name", "mine"), ("grant_client_credentials", "on")]);
        assert_eq!(browser.submit(&register, None).await.page().status, 403);
        let delete = post(format!("/admin/clients/{}/delete", ops.id), &[("csrf_token", &csrf), ("confirm", "yes")]);
        assert_eq!(browser.submit(&delete, None).await.page().status, 403);
        let promote = post("/admin/users/alice/add-role".into(), &[("csrf_token", &csrf), ("role", "admins")]);
        assert_eq!(browser.submit(&promote, None).await.page().status, 403);
        let disable = post("/admin/users/root/disable".into(), &[("csrf_token", &csrf)]);
        assert_eq!(browser.submit(&disable, None).await.page().status, 403);
        let root = app.cli_json(&["user", "show", "root"]);
        assert!(root.get("disabled_at").is_none(), "root was not disabled");
        assert_eq!(app.cli_json(&["user", "show", "alice"])["roles"], serde_json::json!(["reader"]), "alice did not promote herself");
        assert_eq!(client_count(&app), before);
        assert_eq!(app.client_credentials(&ops).await["scope"], "reports:read", "nothing was deleted");

        // Signed out: the login page, for every page, and no form acts.
        let stranger = Browser::new(&app);
        for path in ["/admin", "/admin/clients"] {
            assert!(stranger.open(path).await.page().contains("name=\"password\""));
        }
    }

    async fn an_admin_finds_creates_disables_and_resets_users_in_the_console(db) {
        let app = spawn_app(db).await;
        people(&app);
        let client = app.first_party_client(&["books:read"]);
        let (browser, _) = signed_in(&app, "root").await;
        let found = browser.open("/admin/users?search=AL").await.page();
        assert_eq!(found.select_text("#users td a"), vec!["alice".to_owned()], "{}", found.body);

        let list = browser.open("/admin/users").await.page();
        let form = list.form_with("username").with("username", "bob").with("password", PASSWORD).with("roles", "reader");
        let bob = browser.submit(&form, None).await.page();
        assert!(bob.contains("The user was created"), "{}", bob.body);
        assert_eq!(app.password_grant(&client, "bob", PASSWORD, None).await.status(), 200);
        let taken = browser.submit(&list.form_with("username").with("username", "BOB").with("password", PASSWORD), None).await.page();
        assert_eq!(taken.status, 400);
        assert!(taken.contains("taken"));

        let action = |page: &Page, name: &str| page.forms().into_iter().find(|f| f.action.path().ends_with(name)).unwrap_or_else(|| panic!("no {name} form"));
        let disabled = browser.submit(&action(&bob, "/disable"), None).await.page();
        assert!(disabled.contains("Disabled:"), "{}", disabled.body);
        oauth_error(app.password_grant(&client, "bob", PASSWORD, None).await, 400, "invalid_grant").await;
        let enabled = browser.submit(&action(&disabled, "/enable"), None).await.page();
        assert!(enabled.contains("Enabled."));
        let reset = browser.submit(&action(&enabled, "/password").with("new_password", "short"), None).await.page();
        assert_eq!(reset.status, 400, "a short password is refused");
        let reset = browser.submit(&action(&enabled, "/password").with("new_password", "an entirely new passphrase"), None).await.page();
        assert!(reset.contains("The password was set"));
        assert_eq!(app.password_grant(&client, "bob", "an entirely new passphrase", None).await.status(), 200);
        let removed = browser.submit(&action(&reset, "/remove-role"), None).await.page();
        assert!(removed.contains("Role reader taken."));
        let unknown = browser.submit(&action(&removed, "/add-role").with("role", "no-such-role"), None).await.page();
        assert_eq!(unknown.status, 400);
        let ended = browser.submit(&action(&removed, "/end-sessions"), None).await.page();
        assert!(ended.contains("session(s)"));
        let events = app.cli_json(&["events"]).to_string();
        for kind in ["user_created", "user_disabled", "user_enabled", "password_changed", "role_removed", "sessions_revoked"] {
            assert!(events.contains(kind), "{kind}");
        }
    }
}
