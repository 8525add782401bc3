//! The product name and logo from `[ui]`: on every page, the logo served by gatehouse itself.

use crate::browser::Browser;
use crate::helpers::{cli, spawn_app, spawn_app_with, TestDb};

/// The smallest valid PNG: one transparent pixel.
const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[actix_web::test]
async fn every_page_shows_the_configured_name_and_logo() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, PIXEL_PNG).unwrap();
    let app = spawn_app_with(
        TestDb::sqlite(),
        &[
            ("GATEHOUSE_UI_PRODUCT_NAME", "Acme <ID>"),
            ("GATEHOUSE_UI_LOGO_FILE", logo.to_str().unwrap()),
        ],
    )
    .await;
    let browser = Browser::new(&app);
    for path in ["/account", "/admin", "/authorize?client_id=nobody"] {
        let page = browser.open(path).await.page();
        assert!(
            page.body.contains("· Acme &#60;ID&#62;</title>"),
            "{path}: the name in the title, escaped: {}",
            page.body
        );
        assert_eq!(
            page.select_text("#product-name"),
            vec!["Acme <ID>"],
            "{path}"
        );
        assert!(page.body.contains(r#"<img src="/branding/logo""#), "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("img-src 'self'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert!(
            !page.body.contains("gatehouse account"),
            "{path}: {}",
            page.body
        );
    }
    let account = browser.open("/account").await.page();
    assert!(
        account.body.contains("your Acme &#60;ID&#62; account"),
        "{}",
        account.body
    );

    let res = app.get("/branding/logo").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), PIXEL_PNG);
}

#[actix_web::test]
async fn without_configuration_the_pages_say_gatehouse_and_there_is_no_logo() {
    let app = spawn_app(TestDb::sqlite()).await;
    let page = Browser::new(&app).open("/account").await.page();
    assert_eq!(page.select_text("#product-name"), vec!["gatehouse"]);
    assert!(page.body.contains("your gatehouse account"));
    assert!(!page.body.contains("<img"));
    assert_eq!(app.get("/branding/logo").await.status(), 404);
}

#[test]
fn a_bad_logo_or_name_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.png");
    std::fs::write(&big, vec![0u8; 300 * 1024]).unwrap();
    let script = dir.path().join("logo.html");
    std::fs::write(&script, "<script>alert(1)</script>").unwrap();
    let missing = dir.path().join("missing.svg");
    let db = format!("sqlite://{}", dir.path().join("g.db").display());
    let cases = [
        (
            "GATEHOUSE_UI_LOGO_FILE",
            big.display().to_string(),
            "at most 262144",
        ),
        (
            "GATEHOUSE_UI_LOGO_FILE",
            script.display().to_string(),
            "use .png",
        ),
        (
            "GATEHOUSE_UI_LOGO_FILE",
            missing.display().to_string(),
            "cannot read it",
        ),
        (
            "GATEHOUSE_UI_PRODUCT_NAME",
            " ".to_owned(),
            "ui.product_name",
        ),
        (
            "GATEHOUSE_UI_PRODUCT_NAME",
            "a\u{1b}[31mb".to_owned(),
            "ui.product_name",
        ),
        (
            "GATEHOUSE_UI_PRODUCT_NAME",
            "Acme\u{202E}DI".to_owned(),
            "direction-changing",
        ),
    ];
    for (key, value, says) in cases {
        let env = [
            ("GATEHOUSE_DATABASE_URL".to_owned(), db.clone()),
            ("GATEHOUSE_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            (key.to_owned(), value.clone()),
        ];
        let out = cli(&env, &["serve"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{key}={value:?}: {err}");
        assert!(err.contains(says), "{key}={value:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
