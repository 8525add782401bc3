//! Clients served from memory (`oauth::client_cache`): several instances on one database see
//! a deleted client or a rotated secret within a second, and an unknown client id is never
//! remembered.

use std::time::{Duration, Instant};

use crate::helpers::{on_both_backends, spawn_app, Registered, TestApp};

/// The status of a client-credentials request with `secret`.
async fn status(app: &TestApp, id: &str, secret: &str) -> u16 {
    app.token(&[("grant_type", "client_credentials")], Some((id, secret)))
        .await
        .status()
        .as_u16()
}

/// A refusal: 401, or 429 once the address has failed too often (only failures are).
fn refused(status: u16) -> bool {
    matches!(status, 401 | 429)
}

/// Two servers on one database, both holding `client` in memory.
async fn two_warm_instances(db: crate::helpers::TestDb) -> (TestApp, TestApp, Registered) {
    let first = spawn_app(db).await;
    let second = spawn_app(first.db.share()).await;
    let client = first.service_client(&["a"]);
    for app in [&first, &second] {
        assert_eq!(status(app, &client.id, &client.secret).await, 200);
    }
    (first, second, client)
}

/// Asks `app` with `secret` every 10 ms from `started` until it is refused; answers how long
/// that took. Until then it must have been granted: nothing else.
async fn until_refused(app: &TestApp, id: &str, secret: &str, started: Instant) -> Duration {
    loop {
        match status(app, id, secret).await {
            200 => {}
            s if refused(s) => return started.elapsed(),
            s => panic!("unexpected status {s}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still accepted after 5 s"
        );
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The command's output, and when (from `started`) it returned.
fn timed(
    command: actix_web::rt::task::JoinHandle<std::process::Output>,
    started: Instant,
) -> actix_web::rt::task::JoinHandle<(std::process::Output, Duration)> {
    actix_web::rt::spawn(async move {
        let out = command.await.expect("the command ran");
        (out, started.elapsed())
    })
}

/// The other instance stopped accepting the old credentials (`took`, from when the command
/// started) no later than the command returned (`returned`), give or take one poll. The
/// command returns half a second (the cache's `MAX_AGE`) after its commit, so this is the
/// "within a second" of several instances; timing from the command's start instead would
/// count a busy machine's process start-up too.
fn seen_before_the_command_returned(took: Duration, returned: Duration) {
    let poll = Duration::from_millis(250);
    assert!(
        took <= returned + poll,
        "the other instance refused only at {took:?}, the command returned at {returned:?}"
    );
    assert!(
        returned < Duration::from_secs(10),
        "the command took {returned:?}"
    );
}

on_both_backends! {
    async fn a_client_deleted_beside_a_running_instance_is_refused_there_within_a_second(db) {
        let (first, second, client) = two_warm_instances(db).await;

        let started = Instant::now();
        let delete = timed(first.cli_in_background(&["client", "delete", &client.id, "--json"]), started);
        let took = until_refused(&second, &client.id, &client.secret, started).await;
        let (out, returned) = delete.await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        seen_before_the_command_returned(took, returned);
        // Once the command has returned, no instance accepts the client any more.
        for app in [&first, &second] {
            assert!(refused(status(app, &client.id, &client.secret).await));
        }
    }

    async fn a_secret_rotated_beside_a_running_instance_is_replaced_there_within_a_second(db) {
        let (first, second, client) = two_warm_instances(db).await;

        let started = Instant::now();
        let rotate = timed(first.cli_in_background(&["client", "rotate-secret", &client.id, "--json"]), started);
        let took = until_refused(&second, &client.id, &client.secret, started).await;
        let (out, returned) = rotate.await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let new_secret = rotated["client_secret"].as_str().unwrap();

        seen_before_the_command_returned(took, returned);
        for app in [&first, &second] {
            assert_eq!(status(app, &client.id, new_secret).await, 200, "the new secret works at once");
            assert!(refused(status(app, &client.id, &client.secret).await), "the old one does not");
        }
    }

    async fn an_unknown_client_id_is_not_remembered(db) {
        let app = spawn_app(db).await;
        let id = "registered-after-the-first-try";
        let secret = "a secret the client will have";
        assert_eq!(status(&app, id, secret).await, 401);

        // Registered behind the server's back, as another instance or the CLI would.
        let options = gatehouse::storage::PoolOptions {
            max_connections: 1,
            busy_timeout_ms: 5000,
            connect_timeout: Duration::from_secs(5),
        };
        let mut conn = gatehouse::storage::Database::connect_once(&app.db.url, &options).unwrap();
        let client = gatehouse::domain::Client {
            id: gatehouse::domain::ClientId::from_stored(id.to_owned()),
            name: "late".to_owned(),
            secret_hash: Some(gatehouse::domain::SecretHash::of(secret.as_bytes())),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![gatehouse::domain::GrantType::ClientCredentials],
            scopes: gatehouse::domain::ScopeSet::parse("a").unwrap(),
            created_at: 0,
            updated_at: 0,
            introspect: false,
        };
        gatehouse::storage::clients::insert(&mut conn, &client).unwrap();
        drop(conn);

        // At once: the failed attempt left nothing behind that could answer for the id.
        assert_eq!(status(&app, id, secret).await, 200);
    }
}
