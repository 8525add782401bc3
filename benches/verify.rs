//! `gatehouse_resource`: validations per second on a warm cache, the cost an API pays per
//! request. A real gatehouse (in this process, on a temporary SQLite database) issues the
//! token and serves the metadata and JWKS; the loop then only verifies.
//!
//!   cargo bench --bench verify

use std::sync::mpsc;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse::admin::{self, ClientSpec};
use gatehouse::domain::Clock;
use gatehouse::settings::Settings;
use gatehouse::startup::{pool_options, Application};
use gatehouse::storage::Database;
use gatehouse_resource::{TokenVerifier, Verification};

/// Starts gatehouse on its own thread; answers its issuer URL and the database URL.
fn start_gatehouse(dir: &std::path::Path) -> (String, Settings) {
    let env = vec![
        (
            "GATEHOUSE_DATABASE_URL".to_owned(),
            format!("sqlite://{}", dir.join("gatehouse.db").display()),
        ),
        ("GATEHOUSE_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
    ];
    let settings = Settings::load_from(None, env).expect("settings");
    let (tx, rx) = mpsc::channel();
    let for_server = settings.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(for_server)
                .await
                .expect("gatehouse starts");
            tx.send(app.issuer().to_owned()).unwrap();
            app.run_until_stopped().await.unwrap();
        })
    });
    (rx.recv().expect("an issuer"), settings)
}

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, settings) = start_gatehouse(dir.path());
    let mut conn =
        Database::connect_once(&settings.database.url, &pool_options(&settings)).unwrap();
    let spec = ClientSpec {
        name: "bench".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["books:read".into()],
        ..ClientSpec::default()
    };
    let created = admin::create_client(
        &mut conn,
        &admin::Actor::cli(),
        spec,
        Clock::default().now(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (verifier, token) = rt.block_on(async {
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("{issuer}/token"))
            .basic_auth(&created.client.client_id, created.client_secret.as_deref())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["access_token"].as_str().unwrap().to_owned();
        let verifier = TokenVerifier::discover(Verification::new(&issuer))
            .await
            .unwrap();
        (verifier, token)
    });
    rt.block_on(verifier.verify(&token))
        .expect("the token checks out");
    c.bench_function("verify an access token (warm key cache)", |b| {
        b.iter(|| rt.block_on(verifier.verify(&token)).unwrap())
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
