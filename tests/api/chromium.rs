//! A real browser through the whole flow: headless Chromium, driven over WebDriver by
//! chromedriver, opens the authorize URL, logs in, approves, and lands on the client's
//! redirect URI with a code, which the client then exchanges with its PKCE verifier.
//! A second test signs in with a TOTP code. A screenshot of each page goes to
//! `target/tmp/browser/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them
//! the test says so and passes, unless `GATEHOUSE_TEST_REQUIRE_BROWSER=1` (set by CI).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::browser::{pkce_pair, query_param};
use crate::helpers::{spawn_app_configured, TestApp, TestDb};

pub(crate) const PASSWORD: &str = "correct horse battery";

/// chromedriver, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

pub(crate) async fn start_driver() -> Option<Driver> {
    let required = std::env::var("GATEHOUSE_TEST_REQUIRE_BROWSER").as_deref() == Ok("1");
    let (Some(driver), Some(_)) = (tool("chromedriver"), tool("chromium")) else {
        assert!(
            !required,
            "GATEHOUSE_TEST_REQUIRE_BROWSER=1 but chromium or chromedriver is missing"
        );
        eprintln!("skipped: install chromium and chromium-driver to run the browser test");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return Some(driver);
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer");
}

pub(crate) async fn chromium(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": tool("chromium").unwrap(),
            // A small /dev/shm in containers crashes Chromium's renderer without the last flag.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--window-size=414,896",
                     "--disable-dev-shm-usage"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// A stand-in for the third-party app: it only has to be there when the browser arrives.
pub(crate) fn client_app() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new().route(
            "/callback",
            web::get().to(|| async { "The bookshop got your authorization." }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}/callback")
}

/// Saves a screenshot of the page and answers the PNG.
pub(crate) async fn screenshot(browser: &Client, name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(name), &png).unwrap();
    png
}

/// Reads the QR code in a screenshot, as a phone's camera would.
fn read_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    let grid = grids.first().expect("a QR code on the screen");
    grid.decode().expect("a readable QR code").1
}

/// Registers the "Bookshop" client with `scopes`; answers its id and secret.
pub(crate) fn register_bookshop(
    app: &TestApp,
    redirect: &str,
    scopes: &[&str],
) -> (String, String) {
    let mut args = vec![
        "client",
        "create",
        "--name",
        "Bookshop",
        "--redirect-uri",
        redirect,
    ];
    for scope in scopes {
        args.extend_from_slice(&["--scope", scope]);
    }
    let created = app.cli_json(&args);
    (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// The authorize URL for `client_id`, with `extra` parameters.
pub(crate) fn authorize_url(
    app_address: &str,
    client_id: &str,
    redirect: &str,
    extra: &[(&str, &str)],
) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .extend_pairs(extra)
        .finish();
    format!("{app_address}/authorize?{query}")
}

/// Types into the field with id `id`.
pub(crate) async fn type_into(browser: &Client, id: &str, text: &str) {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn click_submit(browser: &Client) {
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Fills in and sends the login form, once it is on screen.
pub(crate) async fn sign_in(
    browser: &Client,
    username: &str,
    on_screen: impl AsyncFnOnce(&Client),
) {
    browser
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .unwrap();
    on_screen(browser).await;
    type_into(browser, "username", username).await;
    type_into(browser, "password", PASSWORD).await;
    click_submit(browser).await;
}

/// Waits until the browser has been sent to `redirect`; answers where it is.
pub(crate) async fn arrival_at(browser: &Client, redirect: &str) -> url::Url {
    for _ in 0..100 {
        let here = browser.current_url().await.unwrap();
        if here.as_str().starts_with(redirect) {
            return here;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    browser.current_url().await.unwrap()
}

#[actix_web::test]
async fn chromium_logs_in_approves_and_lands_on_the_redirect_uri_with_a_code() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let config = "[scopes.descriptions]\n\"books:read\" = \"See the books on your shelves\"\n";
    let app = spawn_app_configured(TestDb::sqlite(), &[], Some(config)).await;
    let redirect = client_app();
    let (client_id, secret) = register_bookshop(&app, &redirect, &["books:read", "books:write"]);
    app.create_role("reader", &["books:read"]);
    let user_id = app.create_user("alice", PASSWORD, &["reader"]);
    let (verifier, challenge) = pkce_pair();
    let authorize = authorize_url(
        &app.address,
        &client_id,
        &redirect,
        &[
            ("scope", "books:read books:write"),
            ("state", "from-chromium"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );

    let browser = chromium(&driver).await;
    browser.goto(&authorize).await.unwrap();
    sign_in(&browser, "alice", async |b: &Client| {
        screenshot(b, "1-login.png").await;
        assert!(b.source().await.unwrap().contains("Bookshop"));
    })
    .await;

    let allow = browser
        .wait()
        .for_element(Locator::Css("button[name=decision][value=allow]"))
        .await
        .unwrap();
    screenshot(&browser, "2-consent.png").await;
    let consent = browser.source().await.unwrap();
    assert!(consent.contains("Bookshop") && consent.contains("See the books on your shelves"));
    assert!(
        !consent.contains("books:write"),
        "only what alice's roles allow is asked"
    );
    allow.click().await.unwrap();
    let landed = arrival_at(&browser, &redirect).await;
    screenshot(&browser, "3-back-at-the-app.png").await;

    // Still signed in to gatehouse: the account page offers two-step verification.
    browser
        .goto(&format!("{}/account/security", app.address))
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("svg"))
        .await
        .unwrap();
    let png = screenshot(&browser, "4-account-security.png").await;
    let totp_key = browser
        .find(Locator::Id("totp-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    browser.close().await.unwrap();
    assert_eq!(
        read_qr(&png),
        format!("otpauth://totp/gatehouse:alice?secret={totp_key}&issuer=gatehouse&algorithm=SHA1&digits=6&period=30"),
        "the QR code carries the key shown beside it"
    );
    assert!(landed.as_str().starts_with(&redirect), "landed on {landed}");
    assert_eq!(
        query_param(&landed, "state").as_deref(),
        Some("from-chromium")
    );
    let code = query_param(&landed, "code").expect("a code");

    let res = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("code_verifier", &verifier),
            ],
            Some((&client_id, &secret)),
        )
        .await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let (_, claims) = app.verify(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["scope"], "books:read");
    assert!(tokens["refresh_token"].is_string());
}

#[actix_web::test]
async fn chromium_signs_in_with_a_second_factor() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = spawn_app_configured(TestDb::sqlite(), &[], None).await;
    let redirect = client_app();
    let (client_id, _) = register_bookshop(&app, &redirect, &["books:read"]);
    app.create_role("reader", &["books:read"]);
    app.create_user("bob", PASSWORD, &["reader"]);
    let enrolled = app.cli_json(&["user", "totp", "enable", "bob"]);
    let key = enrolled["secret"].as_str().unwrap().to_owned();
    let (_, challenge) = pkce_pair();
    let authorize = authorize_url(
        &app.address,
        &client_id,
        &redirect,
        &[
            ("state", "2fa"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );

    let browser = chromium(&driver).await;
    browser.goto(&authorize).await.unwrap();
    sign_in(&browser, "bob", async |_: &Client| {}).await;

    let code_field = browser
        .wait()
        .for_element(Locator::Id("code"))
        .await
        .unwrap();
    screenshot(&browser, "5-second-factor.png").await;
    let code = crate::two_factor::totp(&key, app.clock.now());
    code_field.send_keys(&code).await.unwrap();
    click_submit(&browser).await;
    let allow = browser
        .wait()
        .for_element(Locator::Css("button[name=decision][value=allow]"))
        .await
        .unwrap();
    allow.click().await.unwrap();
    let landed = arrival_at(&browser, &redirect).await;
    browser.close().await.unwrap();
    assert_eq!(
        query_param(&landed, "state").as_deref(),
        Some("2fa"),
        "landed on {landed}"
    );
    assert!(query_param(&landed, "code").is_some());
}

/// The example relying party (`examples/openid_app.rs`) in Chromium, as a new user tries it:
/// sign in through gatehouse, see the verified id_token and userinfo, sign out through the
/// end-session endpoint and land back on the app. On PostgreSQL too, when it is there.
#[actix_web::test]
async fn chromium_signs_in_to_the_example_app_and_out_again() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    for db in dbs {
        let app = spawn_app_configured(db, &[], None).await;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let created = app.cli_json(&[
            "client",
            "create",
            "--name",
            "Example app",
            "--redirect-uri",
            &format!("{base}/callback"),
            "--post-logout-redirect-uri",
            &format!("{base}/signed-out"),
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
        ]);
        let (id, secret) = (
            created["client_id"].as_str().unwrap(),
            created["client_secret"].as_str().unwrap(),
        );
        let flags = ["--email", "alice@example.com", "--name", "Alice Liddell"];
        let user_id = app.create_user_with("alice", PASSWORD, &[], &flags);
        let rp = crate::openid_app::RelyingParty::discover(&app.issuer, id, secret, &base)
            .await
            .expect("discovery");
        let rp = web::Data::new(rp);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(rp.clone())
                .configure(crate::openid_app::configure)
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);

        let browser = chromium(&driver).await;
        browser.goto(&base).await.unwrap();
        browser
            .find(Locator::Id("sign-in"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        sign_in(&browser, "alice", async |b: &Client| {
            screenshot(b, "oidc-1-login.png").await;
            assert!(b.source().await.unwrap().contains("Example app"));
        })
        .await;
        let allow = browser
            .wait()
            .for_element(Locator::Css("button[name=decision][value=allow]"))
            .await
            .unwrap();
        screenshot(&browser, "oidc-2-consent.png").await;
        allow.click().await.unwrap();
        let claims = browser
            .wait()
            .for_element(Locator::Id("id-token"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let info = browser
            .find(Locator::Id("userinfo"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        screenshot(&browser, "oidc-3-signed-in.png").await;
        let claims: Value = serde_json::from_str(&claims).expect("the claims as JSON");
        let info: Value = serde_json::from_str(&info).expect("userinfo as JSON");
        assert_eq!(claims["sub"], user_id.as_str());
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["preferred_username"], "alice");
        assert_eq!(claims["amr"], json!(["pwd"]));
        assert_eq!(info["sub"], user_id.as_str());
        assert_eq!(info["name"], "Alice Liddell");

        browser
            .find(Locator::Id("sign-out"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .wait()
            .for_element(Locator::Id("signed-out"))
            .await
            .unwrap();
        screenshot(&browser, "oidc-4-signed-out.png").await;
        let here = browser.current_url().await.unwrap();
        assert!(
            here.as_str()
                .starts_with(&format!("{base}/signed-out?state=")),
            "{here}"
        );

        // Signed out of gatehouse too: signing in again asks for the password.
        browser.goto(&format!("{base}/login")).await.unwrap();
        browser
            .wait()
            .for_element(Locator::Id("password"))
            .await
            .unwrap();
        browser.close().await.unwrap();
    }
}
