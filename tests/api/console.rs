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
        for path in ["/admin", "/admin/clients", &format!("/admin/clients/{}", ops.id), "/admin/users", "/admin/users/root", "/admin/roles", "/admin/roles/admins"] {
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
        let widen = post("/admin/roles/reader/scopes".into(), &[("csrf_token", &csrf), ("scopes", "gatehouse:admin")]);
        assert_eq!(browser.submit(&widen, None).await.page().status, 403);
        let made = post("/admin/roles".into(), &[("csrf_token", &csrf), ("name", "mine"), ("scopes", "gatehouse:admin")]);
        assert_eq!(browser.submit(&made, None).await.page().status, 403);
        let rotate = post(format!("/admin/clients/{}/secret", ops.id), &[("csrf_token", &csrf), ("confirm", "yes")]);
        assert_eq!(browser.submit(&rotate, None).await.page().status, 403);
        let edit = post(format!("/admin/clients/{}/edit", ops.id), &[("csrf_token", &csrf), ("name", "x"), ("scopes", "gatehouse:admin"), ("grant_client_credentials", "on")]);
        assert_eq!(browser.submit(&edit, None).await.page().status, 403);
        assert_eq!(app.cli_json(&["role", "show", "reader"])["scopes"], serde_json::json!(["books:read"]), "the role was not widened");
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

/// The form on `page` whose action ends with `suffix`.
#[track_caller]
fn form_ending(page: &Page, suffix: &str) -> Form {
    page.forms()
        .into_iter()
        .find(|f| f.action.path().ends_with(suffix))
        .unwrap_or_else(|| panic!("no form to …{suffix}: {}", page.body))
}

on_both_backends! {
    async fn an_admin_edits_a_client_and_rotates_its_secret_in_the_console(db) {
        let app = spawn_app(db).await;
        people(&app);
        let service = app.service_client(&["reports:read"]);
        let (browser, _) = signed_in(&app, "root").await;
        let page = browser.open(&format!("/admin/clients/{}", service.id)).await.page();

        // Edit: the scopes widen for the service at once.
        let edit = form_ending(&page, "/edit");
        assert_eq!(edit.field("grant_client_credentials"), Some("on"), "the form shows what is registered");
        assert_eq!(edit.field("grant_password"), None);
        let saved = browser.submit(&edit.clone().with("scopes", "reports:read reports:write").with("name", "Exporter"), None).await.page();
        assert_eq!(saved.status, 200, "{}", saved.body);
        assert_eq!(saved.select_text("#notice"), vec!["Saved."]);
        assert_eq!(app.client_credentials(&service).await["scope"], "reports:read reports:write");
        assert!(app.cli_json(&["events"]).to_string().contains("client_updated"));

        // A change the registration rules refuse is said on the page and writes nothing.
        let bad = edit.clone().with("redirect_uris", "not a url").with("grant_authorization_code", "on");
        let refused = browser.submit(&bad, None).await.page();
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.contains("class=\"error\""));
        let shown = app.cli_json(&["client", "show", &service.id]);
        assert_eq!(shown["name"], "Exporter");
        assert_eq!(shown["grant_types"], serde_json::json!(["client_credentials"]));

        // Rotating asks first; the answer shows the new secret once, and the old one fails.
        let asked = browser.submit(&form_ending(&saved, "/secret"), None).await.page();
        assert!(asked.contains("stops working at once"), "{}", asked.body);
        assert_eq!(app.client_credentials(&service).await["scope"], "reports:read reports:write", "the question rotates nothing");
        let rotated = browser.submit(&asked.form_with("confirm"), Some("yes")).await.page();
        let secret = rotated.select_text("#client-secret").pop().expect("the new secret, shown once");
        assert_ne!(secret, service.secret);
        oauth_error(app.token(&[("grant_type", "client_credentials")], Some((&service.id, &service.secret))).await, 401, "invalid_client").await;
        let renewed = Registered { id: service.id.clone(), secret: secret.clone() };
        assert_eq!(app.client_credentials(&renewed).await["scope"], "reports:read reports:write");
        assert!(!browser.open(&format!("/admin/clients/{}", service.id)).await.page().contains(&secret), "never shown again");
    }

    async fn an_admin_creates_edits_and_deletes_roles_in_the_console(db) {
        let app = spawn_app(db).await;
        people(&app);
        let (browser, _) = signed_in(&app, "root").await;
        let list = browser.open("/admin/roles").await.page();
        let names = list.select_text("#roles td a");
        assert!(names.contains(&"admins".to_owned()) && names.contains(&"reader".to_owned()), "{names:?}");

        // Create; a bad name is refused on the page and writes nothing.
        let create = list.form_with("name");
        let refused = browser.submit(&create.clone().with("name", "two words").with("scopes", "x"), None).await.page();
        assert_eq!(refused.status, 400);
        assert!(refused.contains("without spaces"), "{}", refused.body);
        let pathlike = browser.submit(&create.clone().with("name", "../admins").with("scopes", "x"), None).await.page();
        assert_eq!(pathlike.status, 400);
        assert!(pathlike.contains("must not contain"), "{}", pathlike.body);
        let made = browser.submit(&create.with("name", "editors").with("scopes", "books:read books:write"), None).await.page();
        assert_eq!(made.status, 200, "{}", made.body);
        assert_eq!(made.select_text("#role-scopes"), vec!["books:read books:write"]);

        // Edit the reader role's scopes: alice's next token has them.
        let reader = browser.open("/admin/roles/reader").await.page();
        let saved = browser.submit(&form_ending(&reader, "/scopes").with("scopes", "books:read books:review"), None).await.page();
        assert_eq!(saved.select_text("#role-scopes"), vec!["books:read books:review"]);
        assert_eq!(app.cli_json(&["role", "show", "reader"])["scopes"], serde_json::json!(["books:read", "books:review"]));
        let bad = browser.submit(&form_ending(&saved, "/scopes").with("scopes", "bad\"scope"), None).await.page();
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert_eq!(app.cli_json(&["role", "show", "reader"])["scopes"], serde_json::json!(["books:read", "books:review"]));

        // Delete asks first.
        let editors = browser.open("/admin/roles/editors").await.page();
        let asked = browser.submit(&form_ending(&editors, "/delete"), None).await.page();
        assert!(asked.contains("cannot be undone"), "{}", asked.body);
        assert!(app.cli_json(&["role", "list"]).to_string().contains("editors"));
        let gone = browser.submit(&asked.form_with("confirm"), Some("yes")).await.page();
        assert!(gone.url.path().ends_with("/admin/roles"), "{}", gone.url);
        assert!(!app.cli_json(&["role", "list"]).to_string().contains("editors"));
        let events = app.cli_json(&["events"]).to_string();
        for kind in ["role_created", "role_updated", "role_deleted"] {
            assert!(events.contains(kind), "{kind}");
        }
        assert_eq!(browser.open("/admin/roles/nobody").await.page().status, 404);
    }
}
