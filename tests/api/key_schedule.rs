//! Signing keys on a schedule (issue 14, item 4): the next key is in the JWKS a full cache
//! lifetime before any token carries its `kid`, the old one stays until its tokens have
//! expired, instances racing to make the next key make one, and `keys rotate` is the
//! emergency rotation that signs at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::{on_both_backends, spawn_app_with, Registered, TestApp};

/// The JWKS lifetime the schedule tests run with; the lead is this + the refresh + 60 s.
const MAX_AGE: i64 = 30;
const TTL: i64 = 60;
const LEEWAY: i64 = 60;

/// A period of 1 s: every key's successor is due as soon as it signs, so keys rotate once
/// per lead (published at once, signing a lead later).
const ROTATING: &[(&str, &str)] = &[
    ("GATEHOUSE_TOKENS_KEY_ROTATION_PERIOD_SECS", "1"),
    ("GATEHOUSE_TOKENS_JWKS_MAX_AGE_SECS", "30"),
    ("GATEHOUSE_TOKENS_KEY_REFRESH_SECS", "1"),
    ("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS", "60"),
];

/// What a relying party fetched: the JWKS as it was at some moment between `from` and
/// `to` (the server's clock read before and after the request).
struct Snapshot {
    from: i64,
    to: i64,
    keys: JwkSet,
}

/// A token as issued: its `kid` and times.
struct Issued {
    kid: String,
    iat: i64,
    exp: i64,
    token: String,
}

async fn fetch_jwks(app: &TestApp) -> Snapshot {
    let from = app.clock.now();
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        format!("public, max-age={MAX_AGE}").as_str()
    );
    let keys: JwkSet = res.json().await.expect("a JWK set");
    Snapshot {
        from,
        to: app.clock.now(),
        keys,
    }
}

async fn issue(app: &TestApp, client: &Registered) -> Issued {
    let token = app.client_credentials(client).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let kid = jsonwebtoken::decode_header(&token)
        .unwrap()
        .kid
        .expect("kid");
    let payload = token.split('.').nth(1).expect("a JWS payload");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    Issued {
        kid,
        iat: claims["iat"].as_i64().expect("iat"),
        exp: claims["exp"].as_i64().expect("exp"),
        token,
    }
}

/// Verifies `token` with the keys of one cached JWKS, as a relying party would. Expiry is
/// left out: the test's clock runs ahead of the system's.
fn verifies_with(app: &TestApp, jwks: &JwkSet, token: &Issued) -> bool {
    let Some(jwk) = jwks.find(&token.kid) else {
        return false;
    };
    let key = DecodingKey::from_jwk(jwk).expect("a JWK");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_audience(&[&app.issuer]);
    validation.set_issuer(&[&app.issuer]);
    jsonwebtoken::decode::<Value>(&token.token, &key, &validation).is_ok()
}

fn kids(jwks: &JwkSet) -> Vec<&str> {
    jwks.keys
        .iter()
        .filter_map(|k| k.common.key_id.as_deref())
        .collect()
}

/// `keys list --json`, by state.
fn keys_by_state(app: &TestApp) -> HashMap<String, Vec<Value>> {
    let mut by_state: HashMap<String, Vec<Value>> = HashMap::new();
    for key in app.cli_json(&["keys", "list"]).as_array().unwrap() {
        by_state
            .entry(key["state"].as_str().unwrap().to_owned())
            .or_default()
            .push(key.clone());
    }
    by_state
}

/// Polls `done` every 100 ms until it holds, failing after a generous deadline.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_backends! {
    async fn a_relying_party_caching_the_jwks_for_its_max_age_verifies_every_token_through_rotations(db) {
        let app = spawn_app_with(db, ROTATING).await;
        let client = app.service_client(&["a"]);

        // A relying party fetches the JWKS and a client gets a token, over and over, while
        // the clock moves 5 s a step (keys rotate every 91 s of it). Until three keys have
        // signed and the first has left the JWKS.
        let mut snapshots: Vec<Snapshot> = Vec::new();
        let mut issued: Vec<Issued> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            snapshots.push(fetch_jwks(&app).await);
            issued.push(issue(&app, &client).await);
            let mut signed: Vec<&str> = issued.iter().map(|t| t.kid.as_str()).collect();
            signed.dedup();
            let first_gone = !kids(&snapshots.last().unwrap().keys).contains(&signed[0]);
            if signed.len() >= 3 && first_gone {
                break;
            }
            assert!(Instant::now() < deadline, "keys did not rotate: {signed:?}");
            app.clock.advance(5);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Tokens moved from key to key and never back.
        let mut signed: Vec<&str> = issued.iter().map(|t| t.kid.as_str()).collect();
        signed.dedup();
        let mut distinct = signed.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), signed.len(), "a key signed again after its successor: {signed:?}");

        for snapshot in &snapshots {
            for token in &issued {
                // Issued while this copy is fresh (certainly after it was fetched, certainly
                // before it is max-age old): the copy verifies it.
                if snapshot.to <= token.iat && token.iat <= snapshot.from + MAX_AGE {
                    assert!(
                        verifies_with(&app, &snapshot.keys, token),
                        "a JWKS fetched in [{}, {}] and cached {MAX_AGE} s does not verify a token of {} issued at {}: {:?}",
                        snapshot.from, snapshot.to, token.kid, token.iat, kids(&snapshot.keys)
                    );
                }
                // Alive when this copy was fetched: its key is in it.
                if token.iat <= snapshot.from && snapshot.to < token.exp {
                    assert!(
                        kids(&snapshot.keys).contains(&token.kid.as_str()),
                        "key {} left the JWKS at {} while its token of {} lives until {}",
                        token.kid, snapshot.from, token.iat, token.exp
                    );
                }
            }
        }

        // Each later key was in the JWKS for at least a cache lifetime before its first token,
        // and the relying party looked in that time (so the checks above were not vacuous).
        for kid in &signed[1..] {
            let first_token = issued.iter().find(|t| t.kid == *kid).unwrap().iat;
            let first_seen = snapshots
                .iter()
                .find(|s| kids(&s.keys).contains(kid))
                .unwrap()
                .from;
            assert!(first_token - first_seen >= MAX_AGE, "{kid}: published at {first_seen}, signing at {first_token}");
            assert!(
                snapshots.iter().any(|s| s.to <= first_token && first_token <= s.from + MAX_AGE),
                "no JWKS fetched within {MAX_AGE} s before {kid} first signed"
            );
        }
        // The first key's tokens all expired before it left the JWKS.
        let last_of_first = issued.iter().filter(|t| t.kid == signed[0]).map(|t| t.exp).max().unwrap();
        let gone = snapshots.iter().find(|s| !kids(&s.keys).contains(&signed[0])).unwrap();
        assert!(gone.to >= last_of_first, "{} left the JWKS at {} before its last token expired at {last_of_first}", signed[0], gone.to);
    }

    async fn a_next_key_is_published_and_listed_as_next_a_full_lead_before_it_signs(db) {
        let app = spawn_app_with(db, ROTATING).await;
        let client = app.service_client(&["a"]);

        // At start the schedule finds the first key's successor due and makes it.
        eventually("a next key in the JWKS", || async { fetch_jwks(&app).await.keys.keys.len() == 2 }).await;

        let keys = keys_by_state(&app);
        let signing = &keys["signing"][0];
        let next = &keys["next"][0];
        assert_eq!(keys.values().map(Vec::len).sum::<usize>(), 2, "{keys:?}");
        let signs_from = next["signs_from"].as_i64().unwrap();
        let lead = MAX_AGE + 1 + LEEWAY;
        assert!(signs_from - next["created_at"].as_i64().unwrap() >= lead, "{next}");
        // The signing key stops when the next one starts, and stays published until its last
        // token (issued just before that) has expired.
        assert_eq!(signing["retired_at"].as_i64(), Some(signs_from), "{signing}");
        assert_eq!(signing["published_until"].as_i64(), Some(signs_from + TTL + LEEWAY), "{signing}");
        assert_eq!(next["published_until"], Value::Null);

        // Tokens still carry the signing key, while the JWKS already holds the next one.
        let token = issue(&app, &client).await;
        assert_eq!(token.kid, signing["kid"].as_str().unwrap());
        assert!(kids(&fetch_jwks(&app).await.keys).contains(&next["kid"].as_str().unwrap()));

        // The discovery documents are cached as long as the JWKS they point to.
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            let res = app.get(path).await;
            assert_eq!(res.headers()["cache-control"], format!("public, max-age={MAX_AGE}").as_str(), "{path}");
        }

        let listed = app.cli(&["keys", "list"]);
        let text = String::from_utf8_lossy(&listed.stdout);
        assert!(text.contains("next") && text.contains("signs from"), "{text}");

        let events = app.cli_json(&["events"]);
        let scheduled: Vec<&Value> = events.as_array().unwrap().iter().filter(|e| e["kind"] == "signing_key_scheduled").collect();
        assert_eq!(scheduled.len(), 1, "{events}");
        assert!(scheduled[0]["detail"].as_str().unwrap().contains(next["kid"].as_str().unwrap()));
    }

    async fn an_emergency_rotation_signs_at_once_and_the_scheduled_key_never_signs(db) {
        let app = spawn_app_with(db, ROTATING).await;
        let client = app.service_client(&["a"]);
        eventually("a next key", || async { keys_by_state(&app).contains_key("next") }).await;
        let scheduled = keys_by_state(&app)["next"][0]["kid"].as_str().unwrap().to_owned();

        let rotated = app.cli_json(&["keys", "rotate"]);
        let emergency = rotated["kid"].as_str().unwrap().to_owned();
        assert_eq!(rotated["state"], "signing");
        eventually("tokens signed with the emergency key", || async { issue(&app, &client).await.kid == emergency }).await;

        // The cancelled key stays published (as every retired key) but is not next any more;
        // the schedule goes on from the emergency key.
        let keys = keys_by_state(&app);
        let cancelled = keys["retired"].iter().find(|k| k["kid"] == scheduled.as_str());
        let cancelled = cancelled.unwrap_or_else(|| panic!("{keys:?}"));
        let next = keys.get("next").into_iter().flatten();
        assert!(next.clone().all(|k| k["kid"] != scheduled.as_str()), "{keys:?}");

        // At the moment the cancelled key was to take over (the emergency key's own
        // successor starts later), and long after, it does not sign.
        let was_to_start = cancelled["signs_from"].as_i64().unwrap();
        app.clock.advance(was_to_start - app.clock.now());
        assert_ne!(issue(&app, &client).await.kid, scheduled);
        app.clock.advance(2 * (MAX_AGE + 1 + LEEWAY));
        assert_ne!(issue(&app, &client).await.kid, scheduled);
    }

    async fn instances_racing_to_make_the_next_key_make_exactly_one(db) {
        const INSTANCES: usize = 6;
        // Not due yet: the clocks are moved past the period once every instance runs.
        let settings: &[(&str, &str)] = &[
            ("GATEHOUSE_TOKENS_KEY_ROTATION_PERIOD_SECS", "3600"),
            ("GATEHOUSE_TOKENS_KEY_REFRESH_SECS", "1"),
        ];
        let first = spawn_app_with(db, settings).await;
        let others = futures_util::future::join_all(
            (1..INSTANCES).map(|_| spawn_app_with(first.db.share(), settings)),
        )
        .await;
        let apps: Vec<&TestApp> = std::iter::once(&first).chain(&others).collect();
        assert_eq!(first.cli_json(&["keys", "list"]).as_array().unwrap().len(), 1);

        // Hold the signing keys' table so that every instance reads "no next key yet" and
        // then waits to write; let them all go at once. On PostgreSQL an EXCLUSIVE lock lets
        // reads through and stops writes; on SQLite the write lock does the same (WAL).
        let url = first.db.url.clone();
        let hold = match url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE").unwrap();
                Held::Sqlite(conn)
            }
            None => {
                let mut conn = diesel::PgConnection::establish(&url).unwrap();
                conn.batch_execute("BEGIN; LOCK TABLE signing_keys IN EXCLUSIVE MODE").unwrap();
                Held::Postgres(conn)
            }
        };
        for app in &apps {
            app.clock.advance(3600);
        }
        // Each instance checks every second; within this it has found the rotation due
        // and is waiting to write (below the instances' 5 s SQLite busy timeout).
        tokio::time::sleep(Duration::from_millis(2500)).await;
        hold.release();

        eventually("a next key", || async { keys_by_state(&first).contains_key("next") }).await;
        // More checks by every instance find it there.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let keys = keys_by_state(&first);
        assert_eq!(keys["next"].len(), 1, "{keys:?}");
        assert_eq!(keys["signing"].len(), 1, "{keys:?}");
        assert_eq!(keys.values().map(Vec::len).sum::<usize>(), 2, "{keys:?}");
        let events = first.cli_json(&["events"]);
        let scheduled = events.as_array().unwrap().iter().filter(|e| e["kind"] == "signing_key_scheduled").count();
        assert_eq!(scheduled, 1, "{events}");

        // Every instance still signs with the one signing key, and publishes the next.
        let signing = keys["signing"][0]["kid"].as_str().unwrap();
        let next = keys["next"][0]["kid"].as_str().unwrap();
        let client = first.service_client(&["a"]);
        for app in &apps {
            assert_eq!(issue(app, &client).await.kid, signing);
            let jwks: Value = app.get_json("/.well-known/jwks.json").await;
            assert!(jwks.to_string().contains(next), "{jwks}");
        }
    }
}

/// A test's own connection holding the signing keys' table.
enum Held {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
}

impl Held {
    fn release(self) {
        match self {
            Held::Sqlite(mut conn) => conn.batch_execute("COMMIT").unwrap(),
            Held::Postgres(mut conn) => conn.batch_execute("COMMIT").unwrap(),
        }
    }
}
