//! The admin console and account self-service in headless Chromium (see `chromium.rs` for
//! how it runs): an admin signs in at `/admin`, registers a client with the form, copies its
//! secret from the page and a service gets a token with it; a user changes their password
//! and revokes an app on `/account`. Screenshots go to `target/tmp/browser/`.

use fantoccini::{Client, Locator};

use crate::browser::pkce_pair;
use crate::chromium::{
    arrival_at, authorize_url, chromium, client_app, register_bookshop, screenshot, sign_in,
    start_driver, type_into, PASSWORD,
};
use crate::helpers::{spawn_app_configured, Registered, TestDb};

/// Clicks the element once it is there: a click often follows a page load still under way.
async fn click(browser: &Client, css: &str) {
    browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// The text of `#id` once it says `expected`: the page before a click may have an `#id` of
/// its own, gone (stale) or still showing the old text while the next page loads.
async fn text_saying(browser: &Client, id: &str, expected: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = browser.find(Locator::Id(id)).await {
            if let Ok(text) = element.text().await {
                if text.contains(expected) {
                    return text;
                }
                last = text;
            }
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("#{id} never said {expected:?}; last: {last:?}")
}

async fn text_of(browser: &Client, id: &str) -> String {
    browser
        .wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"))
        .text()
        .await
        .unwrap()
}

#[actix_web::test]
async fn chromium_an_admin_registers_a_client_in_the_console_and_a_service_uses_its_secret() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = spawn_app_configured(TestDb::sqlite(), &[], None).await;
    app.create_role("admins", &["gatehouse:admin"]);
    app.create_user("root", PASSWORD, &["admins"]);

    let browser = chromium(&driver).await;
    browser
        .goto(&format!("{}/admin", app.address))
        .await
        .unwrap();
    sign_in(&browser, "root", async |b: &Client| {
        screenshot(b, "console-1-login.png").await;
    })
    .await;
    browser
        .wait()
        .for_element(Locator::Id("events"))
        .await
        .unwrap();
    screenshot(&browser, "console-2-overview.png").await;

    browser
        .goto(&format!("{}/admin/clients", app.address))
        .await
        .unwrap();
    type_into(&browser, "name", "Nightly export").await;
    type_into(&browser, "scopes", "reports:read").await;
    // From the default (code and refresh) to client credentials.
    click(&browser, "input[name=grant_authorization_code]").await;
    click(&browser, "input[name=grant_refresh_token]").await;
    click(&browser, "input[name=grant_client_credentials]").await;
    screenshot(&browser, "console-3-register.png").await;
    click(
        &browser,
        "form[action='/admin/clients'] button[type=submit]",
    )
    .await;

    let secret = text_of(&browser, "client-secret").await;
    let id = text_of(&browser, "client-id").await;
    screenshot(&browser, "console-4-secret-once.png").await;
    browser
        .goto(&format!("{}/admin/clients/{id}", app.address))
        .await
        .unwrap();
    let again = browser.source().await.unwrap();
    browser.close().await.unwrap();
    assert!(!again.contains(&secret), "the secret is shown once only");

    let service = Registered { id, secret };
    assert_eq!(
        app.client_credentials(&service).await["scope"],
        "reports:read"
    );
}

#[actix_web::test]
async fn chromium_a_user_changes_their_password_and_revokes_an_app() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = spawn_app_configured(TestDb::sqlite(), &[], None).await;
    let redirect = client_app();
    let (client_id, _) = register_bookshop(&app, &redirect, &["books:read"]);
    app.create_role("reader", &["books:read"]);
    app.create_user("alice", PASSWORD, &["reader"]);
    let (_, challenge) = pkce_pair();
    let authorize = authorize_url(
        &app.address,
        &client_id,
        &redirect,
        &[
            ("scope", "books:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );

    let browser = chromium(&driver).await;
    browser.goto(&authorize).await.unwrap();
    sign_in(&browser, "alice", async |_: &Client| {}).await;
    click(&browser, "button[name=decision][value=allow]").await;
    arrival_at(&browser, &redirect).await;

    browser
        .goto(&format!("{}/account", app.address))
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("apps"))
        .await
        .unwrap();
    screenshot(&browser, "account-1-apps.png").await;
    type_into(&browser, "current_password", PASSWORD).await;
    type_into(&browser, "new_password", "a much longer new passphrase").await;
    type_into(&browser, "confirm_password", "a much longer new passphrase").await;
    click(
        &browser,
        "form[action='/account/password'] button[type=submit]",
    )
    .await;
    text_saying(&browser, "notice", "Your password was changed").await;
    screenshot(&browser, "account-2-password-changed.png").await;

    click(
        &browser,
        "form[action='/account/apps/revoke'] button[type=submit]",
    )
    .await;
    text_saying(&browser, "notice", "Access revoked").await;
    screenshot(&browser, "account-3-app-revoked.png").await;
    browser.close().await.unwrap();
    assert_eq!(
        app.cli_json(&["consent", "list", "alice"]),
        serde_json::json!([])
    );
    let events = app.cli_json(&["events", "--user", "alice"]).to_string();
    assert!(events.contains("password_changed") && events.contains("consent_revoked"));
}
