//! Minting one access token: claims, JSON, base64url and the ES256 signature with the
//! parsed key the server keeps. This is the floor under every token grant.
//!
//!   cargo bench --bench mint

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse::domain::ScopeSet;
use gatehouse::oauth::issuer::Minter;
use gatehouse::storage::{Database, PoolOptions};
use gatehouse::tokens::keys::Keyring;

fn mint(c: &mut Criterion) {
    let options = PoolOptions {
        max_connections: 1,
        busy_timeout_ms: 1000,
        connect_timeout: Duration::from_secs(1),
    };
    let mut conn = Database::connect_once("sqlite::memory:", &options).expect("in-memory database");
    let keyring = Keyring::load(
        &mut conn,
        std::sync::Arc::new(gatehouse::tokens::kek::KeyEncryptionKey::ephemeral()),
        900,
        1_800_000_000,
    )
    .expect("signing key");
    let minter = Minter {
        issuer: "https://auth.example.com".into(),
        audience: "https://auth.example.com".into(),
        access_token_ttl_secs: 900,
        keyring: Arc::new(keyring),
    };
    let scope = ScopeSet::parse("reports:read reports:write").unwrap();

    c.bench_function("mint ES256 access token", |b| {
        b.iter(|| {
            minter
                .mint("client-123", "client-123", &scope, 1_800_000_000)
                .expect("mint")
        })
    });
}

criterion_group!(benches, mint);
criterion_main!(benches);
