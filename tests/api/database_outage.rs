//! The database goes away and comes back (issue 14, item 3): requests that need it answer 503
//! with `Retry-After` within the pool's bounded wait, never a 500 and never a hang; `/readyz`
//! says 503; and service comes back without a restart. PostgreSQL is reached through a proxy
//! the test can cut, as a network partition or a restarting server would.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{spawn_app_with, TestDb};

/// A TCP proxy to PostgreSQL that can be cut (every connection closed, new ones refused at
/// once) and restored.
struct CuttableProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl CuttableProxy {
    fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (is_cut, conns) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if is_cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mut conns = conns.lock().unwrap();
                conns.push(client.try_clone().unwrap());
                conns.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        CuttableProxy { port, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for conn in self.open.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[actix_web::test]
async fn on_postgres_an_outage_is_503_with_retry_after_and_service_returns_without_a_restart() {
    let Some(mut db) = TestDb::postgres() else {
        return;
    };
    let mut url = url::Url::parse(&db.url).unwrap();
    let upstream: SocketAddr = format!("127.0.0.1:{}", url.port().unwrap_or(5432))
        .parse()
        .unwrap();
    let proxy = CuttableProxy::start(upstream);
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    db.url = url.to_string();
    let app = spawn_app_with(db, &[("GATEHOUSE_DATABASE_CONNECT_TIMEOUT_MS", "1000")]).await;
    let api = app.introspecting_service(&["api:read"]);
    let service = app.service_client(&["api:read"]);
    let token = app.client_credentials(&service).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.introspect(&api, &token).await["active"], true);
    let ops = app.service_client(&["gatehouse:admin"]);
    let admin = app.client_credentials(&ops).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    proxy.cut();
    for _ in 0..3 {
        let asked = Instant::now();
        let res = app
            .post_form("/introspect", &api, &[("token", &token)])
            .await;
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "bounded: {:?}",
            asked.elapsed()
        );
        assert_eq!(res.status(), 503, "{:?}", res.text().await);
        assert_eq!(res.headers()["retry-after"], "2");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    // A bearer token is checked against the database (revocation, its client): when that
    // cannot be done, the token's holder is told to retry, not that the token is bad.
    let bearer_calls = [
        app.http
            .post(app.url("/register"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"client_name": "during the outage"})),
        app.http.get(app.url("/userinfo")).bearer_auth(&token),
    ];
    for call in bearer_calls {
        let res = call.send().await.unwrap();
        let url = res.url().clone();
        assert_eq!(res.status(), 503, "{url}");
        assert_eq!(res.headers()["retry-after"], "2", "{url}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{url}");
    }
    // A browser app's fetch carries an Origin, admitted by the registered redirect URIs,
    // which are read from the database.
    let fetch = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(fetch.status(), 503);
    assert_eq!(fetch.headers()["retry-after"], "2");
    let body: serde_json::Value = fetch.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    // A browser page that needs the database says so too, with Retry-After.
    let page = app
        .get("/authorize?response_type=code&client_id=someone")
        .await;
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()["retry-after"], "2");

    proxy.restore();
    let back = Instant::now();
    loop {
        let res = app
            .post_form("/introspect", &api, &[("token", &token)])
            .await;
        if res.status() == 200 {
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["active"], true);
            break;
        }
        assert_eq!(
            res.status(),
            503,
            "while it comes back: 503, never another status"
        );
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "service came back"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
    // Every pooled connection that saw the outage was dropped, not handed out again: calls
    // after it all succeed, whichever connection they draw.
    for _ in 0..8 {
        let res = app
            .http
            .post(app.url("/register"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"client_name": "after the outage", "grant_types": ["client_credentials"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
    }
}
