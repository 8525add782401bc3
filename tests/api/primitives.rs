//! oxide-auth's invariants for its primitives, re-run against gatehouse's database-backed
//! `Registrar` and `Issuer`: only registered clients with the right secret pass, redirect
//! URIs match exactly, negotiation never widens the scope, every issued token is unique.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::admin::{self, ClientSpec};
use gatehouse::domain::GrantType;
use gatehouse::oauth::issuer::{JwtIssuer, Minter};
use gatehouse::oauth::registrar::DbRegistrar;
use gatehouse::storage::{Database, PoolOptions};
use gatehouse::tokens::keys::Keyring;
use oxide_auth::endpoint::Scope;
use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth::primitives::issuer::Issuer;
use oxide_auth::primitives::registrar::{ClientUrl, ExactUrl, Registrar};
use std::borrow::Cow;
use std::cell::RefCell;

use crate::helpers::on_both_backends;

fn open(url: &str) -> Database {
    let options = PoolOptions {
        max_connections: 2,
        busy_timeout_ms: 5000,
        connect_timeout: Duration::from_secs(5),
    };
    Database::open(url, &options).expect("database opens")
}

fn client(db: &Database, grant: &str, scopes: &[&str]) -> (String, String) {
    let spec = ClientSpec {
        name: "primitive test".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![grant.into()],
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        public: false,
        introspect: false,
    };
    let created = db
        .run_blocking(|c| Ok(admin::create_client(c, &admin::Actor::cli(), spec, 0)))
        .unwrap()
        .unwrap();
    (
        created.client.client_id.clone(),
        created.client_secret.unwrap(),
    )
}

fn url(s: &str) -> Cow<'static, ExactUrl> {
    Cow::Owned(s.parse().unwrap())
}

on_both_backends! {
    async fn the_registrar_admits_only_the_right_secret(db) {
        let store = open(&db.url);
        let (id, secret) = client(&store, "client_credentials", &["a"]);
        let mut conn = store.connection().unwrap();
        let conn = RefCell::new(&mut *conn);
        let registrar = DbRegistrar::new(&conn, GrantType::ClientCredentials);

        assert!(registrar.check(&id, Some(secret.as_bytes())).is_ok());
        assert!(registrar.check(&id, Some(b"wrong")).is_err());
        assert!(registrar.check(&id, None).is_err(), "a confidential client must authenticate");
        assert!(registrar.check("unknown", Some(secret.as_bytes())).is_err());
        assert!(registrar.check(&id, Some(&secret.as_bytes()[..42])).is_err());
    }

    async fn the_registrar_matches_redirect_uris_exactly(db) {
        let store = open(&db.url);
        let (id, _) = client(&store, "authorization_code", &["a"]);
        let mut conn = store.connection().unwrap();
        let conn = RefCell::new(&mut *conn);
        let registrar = DbRegistrar::new(&conn, GrantType::AuthorizationCode);
        let bind = |uri: &str| registrar.bound_redirect(ClientUrl { client_id: Cow::Borrowed(id.as_str()), redirect_uri: Some(url(uri)) });

        assert!(bind("https://app.example/cb").is_ok());
        for near_miss in ["https://app.example/cb/", "https://app.example/cb?x=1", "https://APP.example/cb", "http://app.example/cb", "https://app.example/c"] {
            assert!(bind(near_miss).is_err(), "{near_miss} must not match");
        }
    }

    async fn negotiation_never_widens_the_scope(db) {
        let store = open(&db.url);
        let (id, secret) = client(&store, "client_credentials", &["a", "b"]);
        let mut conn = store.connection().unwrap();
        let conn = RefCell::new(&mut *conn);
        let registrar = DbRegistrar::new(&conn, GrantType::ClientCredentials);
        registrar.check(&id, Some(secret.as_bytes())).unwrap();
        let bound = registrar.bound_redirect(ClientUrl { client_id: Cow::Borrowed(id.as_str()), redirect_uri: None }).unwrap();

        let all = registrar.negotiate(bound.clone(), None).unwrap();
        assert_eq!(all.scope, "a b".parse::<Scope>().unwrap());
        let narrow = registrar.negotiate(bound.clone(), Some("b".parse().unwrap())).unwrap();
        assert_eq!(narrow.scope, "b".parse::<Scope>().unwrap());
        assert!(registrar.negotiate(bound, Some("a c".parse().unwrap())).is_err());
    }

    async fn negotiation_refuses_a_grant_type_the_client_lacks(db) {
        let store = open(&db.url);
        let (id, secret) = client(&store, "authorization_code", &["a"]);
        let mut conn = store.connection().unwrap();
        let conn = RefCell::new(&mut *conn);
        let registrar = DbRegistrar::new(&conn, GrantType::ClientCredentials);
        assert!(registrar.check(&id, Some(secret.as_bytes())).is_err(), "right secret, wrong grant");
        let bound = registrar.bound_redirect(ClientUrl { client_id: Cow::Borrowed(id.as_str()), redirect_uri: None }).unwrap();

        assert!(registrar.negotiate(bound, None).is_err());
    }

    async fn the_issuer_never_issues_the_same_token_twice(db) {
        let store = open(&db.url);
        let keyring = store.run_blocking(|c| Keyring::load(c, std::sync::Arc::new(gatehouse::tokens::kek::KeyEncryptionKey::ephemeral()), 900, 1_000)).unwrap();
        let minter = Minter { issuer: "https://gh.example".into(), audience: "https://gh.example".into(), access_token_ttl_secs: 900, keyring: Arc::new(keyring) };
        let mut issuer = JwtIssuer::new(&minter, 1_000);
        let grant = || Grant {
            owner_id: "owner".into(),
            client_id: "client".into(),
            scope: "a".parse().unwrap(),
            redirect_uri: "https://app.example/cb".parse().unwrap(),
            until: chrono::Utc::now(),
            extensions: Extensions::new(),
        };

        let first = issuer.issue(grant()).unwrap();
        let second = issuer.issue(grant()).unwrap();

        assert_ne!(first.token, second.token);
        assert!(first.refresh.is_none(), "access tokens come without refresh tokens from this issuer");
        assert_eq!(first.until.timestamp(), 1_900);
        assert!(issuer.recover_token(&first.token).unwrap().is_none(), "JWTs are verified, not recovered");
    }
}
