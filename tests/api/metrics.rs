//! `/metrics` (issue 14, item 2), read as a Prometheus server reads it: parsed with
//! `prometheus-parse`, and checked with `promtool check metrics` (Prometheus's own linter).
//! Without promtool the checks say so and pass, unless `GATEHOUSE_TEST_REQUIRE_PROMTOOL=1`
//! (set by CI) makes that a failure.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};
use reqwest::Method;

use crate::helpers::{eventually, on_both_backends, spawn_app_with, spawn_fleet, TestApp};

/// One scrape of `base` + `/metrics`: its text, and the parsed samples.
async fn scrape_at(app: &TestApp, base: &str) -> (String, Scrape) {
    let res = app
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = res.text().await.unwrap();
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    (text, parsed)
}

async fn scrape(app: &TestApp) -> Scrape {
    scrape_at(app, &app.address).await.1
}

/// The value of the one sample of `metric` whose labels include `labels`; `None` when no
/// sample has them (a counter not moved yet).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(
        found.len() <= 1,
        "{metric} {labels:?} matches {}",
        found.len()
    );
    found.first().map(|s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
        Value::Summary(_) => panic!("{metric} is a summary"),
    })
}

fn count(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, metric, labels).unwrap_or(0.0)
}

/// `promtool check metrics` on `text`: the exposition format and Prometheus's naming rules.
fn promtool_accepts(text: &str) {
    promtool(&["check", "metrics"], text);
}

/// Runs Prometheus's `promtool` with `args` and `stdin`, and fails the test unless it passes.
fn promtool(args: &[&str], stdin: &str) {
    let required = std::env::var("GATEHOUSE_TEST_REQUIRE_PROMTOOL").as_deref() == Ok("1");
    let child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if !required => {
            eprintln!("skipped `promtool {args:?}` ({e}): install Debian's prometheus package");
            return;
        }
        Err(e) => panic!("GATEHOUSE_TEST_REQUIRE_PROMTOOL=1 but promtool cannot run: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const TOKEN: (&str, &str) = ("route", "/token");

on_both_backends! {
    async fn requests_tokens_and_security_events_are_counted(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_LIMITS_CLIENT_AUTH_FAILURES", "2")]).await;
        let service = app.service_client(&["x"]);
        let before = scrape(&app).await;
        // Every grant's and detection's series is there from the start, at 0.
        for grant in ["authorization_code", "client_credentials", "password", "refresh_token"] {
            let labels = [("grant_type", grant)];
            assert_eq!(value(&before, "gatehouse_tokens_issued_total", &labels), Some(0.0));
        }
        for kind in ["refresh_token_reuse", "authorization_code_replay", "lockout", "login_failed"] {
            let labels = [("kind", kind)];
            assert_eq!(value(&before, "gatehouse_security_events_total", &labels), Some(0.0));
        }

        app.client_credentials(&service).await;
        app.create_role("staff", &["a"]);
        app.create_user("alice", "correct horse", &["staff"]);
        let first_party = app.first_party_client(&["a"]);
        let login: serde_json::Value = app
            .password_grant(&first_party, "alice", "correct horse", None)
            .await
            .json()
            .await
            .unwrap();
        let r0 = login["refresh_token"].as_str().unwrap();
        assert_eq!(app.refresh(&first_party, r0, None).await.status(), 200);
        // A rotated token presented again: reuse, its family revoked.
        assert_eq!(app.refresh(&first_party, r0, None).await.status(), 400);
        assert_eq!(app.password_grant(&first_party, "alice", "wrong", None).await.status(), 400);
        // Wrong secrets from one address until it is made to wait: one lockout.
        for _ in 0..3 {
            let form = [("grant_type", "client_credentials")];
            app.token(&form, Some((&service.id, "not-the-secret"))).await;
        }
        // A stranger's paths and methods become one label value each, not series of their own.
        let probe = "/no-such-path-q7z";
        assert_eq!(app.get(probe).await.status(), 404);
        let odd = Method::from_bytes(b"BREW").unwrap();
        app.http.request(odd, app.url("/token")).send().await.unwrap();

        let (text, after) = scrape_at(&app, &app.address).await;
        let issued = |grant| count(&after, "gatehouse_tokens_issued_total", &[("grant_type", grant)]);
        assert_eq!(issued("client_credentials"), 1.0);
        assert_eq!(issued("password"), 1.0);
        assert_eq!(issued("refresh_token"), 1.0);
        assert_eq!(issued("authorization_code"), 0.0);

        let events = |kind| count(&after, "gatehouse_security_events_total", &[("kind", kind)]);
        assert_eq!(events("refresh_token_reuse"), 1.0);
        assert_eq!(events("login_failed"), 1.0);
        assert_eq!(events("lockout"), 1.0);

        let requests = |labels: &[(&str, &str)]| count(&after, "gatehouse_http_requests_total", labels);
        // client credentials, password, refresh: 200; the replay and the wrong password: 400.
        assert_eq!(requests(&[TOKEN, ("method", "POST"), ("status", "200")]), 3.0);
        assert_eq!(requests(&[TOKEN, ("method", "POST"), ("status", "400")]), 2.0);
        assert_eq!(requests(&[TOKEN, ("method", "POST"), ("status", "401")]), 2.0);
        assert_eq!(requests(&[TOKEN, ("method", "POST"), ("status", "429")]), 1.0);
        assert_eq!(requests(&[TOKEN, ("method", "other")]), 1.0);
        assert_eq!(requests(&[("route", "unmatched"), ("method", "GET"), ("status", "404")]), 1.0);
        assert!(!text.contains("q7z"), "a raw path became a label");
        assert!(!text.contains("BREW"), "a raw method became a label");
        // The latency histogram counts the same requests.
        let latency = value(&after, "gatehouse_http_request_duration_seconds",
            &[TOKEN, ("status_class", "2xx")]);
        assert_eq!(latency, Some(3.0));

        // The state at the scrape: the test server's pool of 4, nothing in the password queue.
        assert_eq!(value(&after, "gatehouse_db_pool_max_connections", &[]), Some(4.0));
        let idle = value(&after, "gatehouse_db_pool_connections", &[("state", "idle")]).unwrap();
        let in_use = value(&after, "gatehouse_db_pool_connections", &[("state", "in_use")]).unwrap();
        assert!((1.0..=4.0).contains(&(idle + in_use)), "{idle} idle, {in_use} in use");
        assert!(value(&after, "gatehouse_db_pool_wait_seconds", &[]).unwrap() >= 4.0);
        assert!(value(&after, "process_resident_memory_bytes", &[]).unwrap() > 0.0);
        promtool_accepts(&text);
        // The wrong password's check may still hold its place for a moment after the answer.
        eventually("the password queue empty", Duration::from_secs(10), async || {
            value(&scrape(&app).await, "gatehouse_password_queue_depth", &[]) == Some(0.0)
        }).await;
    }

    async fn housekeeping_reports_what_it_purged_and_what_is_left(db) {
        let app = spawn_app_with(db, &[
            ("GATEHOUSE_HOUSEKEEPING_INTERVAL_SECS", "1"),
            ("GATEHOUSE_TOKENS_REFRESH_TOKEN_IDLE_TTL_SECS", "100"),
            ("GATEHOUSE_TOKENS_REFRESH_TOKEN_ABSOLUTE_TTL_SECS", "200"),
        ]).await;
        app.create_role("staff", &["a"]);
        app.create_user("alice", "correct horse", &["staff"]);
        let client = app.first_party_client(&["a"]);
        for _ in 0..3 {
            let login: serde_json::Value = app.password_grant(&client, "alice", "correct horse", None).await.json().await.unwrap();
            app.refresh(&client, login["refresh_token"].as_str().unwrap(), None).await;
        }
        let rows = |s: &Scrape, table| value(s, "gatehouse_table_rows", &[("table", table)]);
        eventually("the rows counted", Duration::from_secs(10), async || {
            rows(&scrape(&app).await, "refresh_tokens") == Some(6.0)
        }).await;
        let counted = scrape(&app).await;
        assert_eq!(rows(&counted, "refresh_families"), Some(3.0));
        assert_eq!(rows(&counted, "revoked_access_tokens"), Some(0.0));
        let purged = |s: &Scrape, table| count(s, "gatehouse_housekeeping_purged_rows_total", &[("table", table)]);
        assert_eq!(purged(&counted, "refresh_tokens"), 0.0);
        assert!(count(&counted, "gatehouse_housekeeping_runs_total", &[("outcome", "purged")]) >= 1.0);

        app.clock.advance(1_000);
        eventually("the expired rows purged", Duration::from_secs(10), async || {
            rows(&scrape(&app).await, "refresh_tokens") == Some(0.0)
        }).await;
        let done = scrape(&app).await;
        assert_eq!(purged(&done, "refresh_tokens"), 6.0);
        assert_eq!(purged(&done, "refresh_families"), 3.0);
        assert_eq!(rows(&done, "refresh_families"), Some(0.0));
        let last = value(&done, "gatehouse_housekeeping_last_run_timestamp_seconds", &[]).unwrap();
        assert!(last >= app.clock.now() as f64 - 5.0, "last run at {last}");
    }

}

/// Two instances in one process on one PostgreSQL database (as `fleet.rs` runs them).
#[actix_web::test]
async fn each_instance_counts_its_own() {
    let Some(db) = crate::helpers::TestDb::postgres() else {
        return;
    };
    let [a, b]: [TestApp; 2] = spawn_fleet(db, 2, &[]).await.try_into().ok().unwrap();
    let service = a.service_client(&["x"]);
    a.client_credentials(&service).await;
    a.client_credentials(&service).await;
    b.client_credentials(&service).await;
    let issued = |s: &Scrape| {
        let grant = [("grant_type", "client_credentials")];
        count(s, "gatehouse_tokens_issued_total", &grant)
    };
    assert_eq!(issued(&scrape(&a).await), 2.0);
    assert_eq!(issued(&scrape(&b).await), 1.0);
    // Security events are counted on the blocking thread that recorded them: for the
    // instance that asked, though both instances' queries share one process.
    a.create_role("staff", &["a"]);
    a.create_user("alice", "correct horse", &["staff"]);
    let client = a.first_party_client(&["a"]);
    a.password_grant(&client, "alice", "wrong", None).await;
    let failed = |s: &Scrape| {
        let kind = [("kind", "login_failed")];
        count(s, "gatehouse_security_events_total", &kind)
    };
    assert_eq!(failed(&scrape(&a).await), 1.0);
    assert_eq!(failed(&scrape(&b).await), 0.0);
}

#[actix_web::test]
async fn a_listener_of_its_own_serves_metrics_and_nothing_else() {
    let app = spawn_app_with(
        crate::helpers::TestDb::sqlite(),
        &[("GATEHOUSE_SERVER_METRICS_LISTEN", "127.0.0.1:0")],
    )
    .await;
    let own = app.metrics_address.clone().expect("a metrics listener");
    assert_ne!(own, app.address);
    // Not on the public listener any more.
    assert_eq!(app.get("/metrics").await.status(), 404);
    assert_eq!(app.get("/healthz").await.status(), 200);
    // Only metrics on its own.
    let res = app.http.get(format!("{own}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let (text, scraped) = scrape_at(&app, &own).await;
    let health = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
    assert_eq!(
        count(&scraped, "gatehouse_http_requests_total", &health),
        1.0
    );
    promtool_accepts(&text);
}

/// The queue's depth while checks wait: one password thread, several logins at once.
#[actix_web::test]
async fn the_password_queue_shows_checks_waiting() {
    let app = spawn_app_with(
        crate::helpers::TestDb::sqlite(),
        &[
            ("GATEHOUSE_ACCOUNTS_PASSWORD_HASH_THREADS", "1"),
            ("GATEHOUSE_ACCOUNTS_BCRYPT_COST", "9"),
        ],
    )
    .await;
    app.create_role("staff", &["a"]);
    // Two checks per username may wait at once (the default), so two users.
    app.create_user("alice", "correct horse", &["staff"]);
    app.create_user("bob", "correct horse", &["staff"]);
    let client = app.first_party_client(&["a"]);
    let logins = futures_util::future::join_all(
        ["alice", "bob", "alice", "bob"]
            .map(|user| app.password_grant(&client, user, "correct horse", None)),
    );
    let depth = async {
        let mut deepest = 0.0f64;
        for _ in 0..200 {
            let s = scrape(&app).await;
            deepest = deepest.max(value(&s, "gatehouse_password_queue_depth", &[]).unwrap());
            if deepest >= 2.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        deepest
    };
    let (answers, deepest) = futures_util::join!(logins, depth);
    assert!(answers.iter().all(|r| r.status() == 200));
    assert!(deepest >= 2.0, "the deepest queue seen was {deepest}");
    // A check frees its place just after its answer is handed over.
    eventually("the queue empty", Duration::from_secs(10), async || {
        value(&scrape(&app).await, "gatehouse_password_queue_depth", &[]) == Some(0.0)
    })
    .await;
}

/// `deploy/grafana/gatehouse.json` asks only for metrics the server exports, in queries
/// Prometheus parses (`promtool check rules` on each panel's query as a recording rule).
#[actix_web::test]
async fn the_grafana_dashboard_queries_what_the_server_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/gatehouse.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() >= 12, "{} queries", exprs.len());

    // A server that has answered a token request and refused a login: every family exists.
    let app = spawn_app_with(crate::helpers::TestDb::sqlite(), &[]).await;
    app.create_role("staff", &["a"]);
    app.create_user("alice", "correct horse", &["staff"]);
    let client = app.first_party_client(&["a"]);
    app.password_grant(&client, "alice", "wrong", None).await;
    let (text, _) = scrape_at(&app, &app.address).await;
    for expr in &exprs {
        for name in metric_names(expr) {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(&name);
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "the dashboard asks for {name}, which /metrics does not export"
            );
        }
    }

    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$instance", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: '{}'\n",
            expr.replace('\'', "''")
        ));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), rules).unwrap();
    promtool(&["check", "rules", file.path().to_str().unwrap()], "");
}

/// The `gatehouse_*` and `process_*` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    expr.split(|c: char| !is_name(c))
        .filter(|w| w.starts_with("gatehouse_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}
