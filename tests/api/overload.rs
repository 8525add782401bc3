//! The pool exhausted under overload (issue 14, item 3): every connection is taken by
//! requests stuck behind a lock, and the rest wait the pool's bounded time, then answer 503
//! with `Retry-After`; the server stays responsive to what needs no connection, and serves
//! again once the connections come back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use futures_util::future::join_all;

use crate::helpers::{spawn_app_with, TestDb};

#[actix_web::test]
async fn on_postgres_an_exhausted_pool_answers_503_after_its_bounded_wait_and_recovers() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let url = db.url.clone();
    let app = spawn_app_with(
        db,
        &[
            ("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "2"),
            ("GATEHOUSE_DATABASE_CONNECT_TIMEOUT_MS", "500"),
            ("GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ADDRESS", "64"),
            ("GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ACCOUNT", "64"),
        ],
    )
    .await;
    app.create_role("staff", &["a"]);
    app.create_user("alice", "correct horse", &["staff"]);
    let client = app.first_party_client(&["a"]);
    assert_eq!(
        app.password_grant(&client, "alice", "correct horse", None)
            .await
            .status(),
        200
    );

    // Another session holds the users table: each password grant that reaches it keeps its
    // pool connection until the lock goes.
    let mut blocker = PgConnection::establish(&url).unwrap();
    blocker
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE;")
        .unwrap();

    let started = Instant::now();
    let finished = AtomicUsize::new(0);
    let grants = (0..12).map(|_| async {
        let res = app
            .password_grant(&client, "alice", "correct horse", None)
            .await;
        finished.fetch_add(1, Ordering::SeqCst);
        let retry_after = res.headers().get("retry-after").cloned();
        (res.status().as_u16(), retry_after, started.elapsed())
    });
    let control = async {
        // While every connection is taken, what needs none still answers at once.
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let asked = Instant::now();
        assert_eq!(app.get("/healthz").await.status(), 200);
        let healthz = asked.elapsed();
        // The grants beyond the two connections are refused after the bounded wait; the
        // lock is held until they have been (or 20 s, which fails the test below).
        let deadline = Instant::now() + Duration::from_secs(20);
        while finished.load(Ordering::SeqCst) < 10 && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        blocker.batch_execute("COMMIT;").unwrap();
        healthz
    };
    let (answers, healthz) = futures_util::join!(join_all(grants), control);
    assert!(
        healthz < Duration::from_secs(2),
        "healthz stayed responsive: {healthz:?}"
    );
    let unavailable: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 503).collect();
    let served = answers.iter().filter(|(s, _, _)| *s == 200).count();
    assert_eq!(
        unavailable.len() + served,
        answers.len(),
        "every answer is 503 or, once the lock went, 200: {answers:?}"
    );
    assert!(
        unavailable.len() >= 10,
        "the grants beyond the pool's two connections were refused: {answers:?}"
    );
    for (_, retry_after, _) in &unavailable {
        assert_eq!(retry_after.as_ref().map(|v| v.to_str().unwrap()), Some("2"));
    }

    // And the pool serves again without a restart.
    let res = app
        .password_grant(&client, "alice", "correct horse", None)
        .await;
    assert_eq!(res.status(), 200);
}
