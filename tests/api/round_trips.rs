//! How many PostgreSQL round trips one authorization-code round trip costs: the server talks
//! to the database through a TCP proxy that counts what the client side of the protocol sends
//! to be answered, a simple `Query` ('Q') or the `Sync` ('S') that ends an extended-protocol
//! statement. Each is one wait for the database.
//!
//! The round trip is the one a returning user makes (issue #11, item 3): a browser already
//! logged in, consent remembered, `GET /authorize` answered with a code at once, then the
//! client's `POST /token` with the PKCE verifier.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::authorization_code::{
    approve, authorize_url, code_from, exchange, setup_with, CHALLENGE, VERIFIER,
};
use crate::browser::{Browser, Landing};
use crate::helpers::TestDb;

/// The target of issue #11: at most this many round trips for the whole trip.
const MOST: usize = 8;

/// A proxy in front of PostgreSQL that counts the statements clients wait on.
struct CountingProxy {
    port: u16,
    waits: Arc<AtomicUsize>,
}

impl CountingProxy {
    /// Runs on a thread of its own: the test's thread blocks while the CLI (which talks to
    /// the database through the proxy too) runs.
    fn start(upstream: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let waits = Arc::new(AtomicUsize::new(0));
        let counted = waits.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                while let Ok((client, _)) = listener.accept().await {
                    let counted = counted.clone();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        relay(client, server, counted).await;
                    });
                }
            });
        });
        CountingProxy { port, waits }
    }

    fn take(&self) -> usize {
        self.waits.swap(0, Ordering::SeqCst)
    }
}

/// Copies both ways; the client's messages are framed to count them.
async fn relay(client: TcpStream, server: TcpStream, waits: Arc<AtomicUsize>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        waits.fetch_add(framer.feed(&buf[..n]), Ordering::SeqCst);
        if server_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    answers.abort();
}

/// Splits the frontend's byte stream into messages (PostgreSQL protocol 3): untyped
/// length-prefixed requests until the startup message, then a type byte and a length.
#[derive(Default)]
struct Framer {
    pending: Vec<u8>,
    started: bool,
}

impl Framer {
    /// Takes more bytes; answers how many waited-on messages they completed.
    fn feed(&mut self, bytes: &[u8]) -> usize {
        const SSL_REQUEST: u32 = 80_877_103;
        const GSSENC_REQUEST: u32 = 80_877_104;
        self.pending.extend_from_slice(bytes);
        let mut waits = 0;
        loop {
            let head = if self.started { 1 } else { 0 };
            if self.pending.len() < head + 4 {
                break;
            }
            let len = u32::from_be_bytes(self.pending[head..head + 4].try_into().unwrap()) as usize;
            let whole = head + len;
            if len < 4 || self.pending.len() < whole {
                break;
            }
            if self.started {
                if matches!(self.pending[0], b'Q' | b'S') {
                    waits += 1;
                }
            } else {
                let code = u32::from_be_bytes(self.pending[4..8].try_into().unwrap());
                self.started = !matches!(code, SSL_REQUEST | GSSENC_REQUEST);
            }
            self.pending.drain(..whole);
        }
        waits
    }
}

/// The database's address, from the test database's URL.
fn upstream(db: &TestDb) -> SocketAddr {
    let url = url::Url::parse(&db.url).expect("a URL");
    let host = url.host_str().expect("a host");
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", url.port().unwrap_or(5432))
        .parse()
        .expect("GATEHOUSE_TEST_POSTGRES_URL names the server by IP address or localhost")
}

#[actix_web::test]
async fn a_returning_users_code_round_trip_costs_at_most_eight_postgres_round_trips() {
    let Some(mut db) = TestDb::postgres() else {
        return;
    };
    let proxy = CountingProxy::start(upstream(&db));
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    db.url = url.to_string();

    let s = setup_with(db, false, &[]).await;
    let browser = Browser::new(&s.app);
    let authorize = authorize_url(&s.client.id, "books:read", Some(CHALLENGE));
    // Logged in, consent remembered: from now on /authorize answers with a code at once.
    let first = code_from(&approve(&browser, &authorize).await).await;
    assert_eq!(
        exchange(&s.app, &s.client, &first, Some(VERIFIER))
            .await
            .status(),
        200
    );

    // Background work (key refresh, housekeeping) can only add to a count, so the fewest
    // of a few trips is the trip's own cost.
    let mut fewest = usize::MAX;
    for _ in 0..3 {
        proxy.take();
        let back = match browser.open(&authorize).await {
            Landing::Left(url) => url,
            Landing::Page(page) => panic!("expected the redirect back, got {}", page.status),
        };
        let at_authorize = proxy.take();
        let code = code_from(&back).await;
        let res = exchange(&s.app, &s.client, &code, Some(VERIFIER)).await;
        assert_eq!(res.status(), 200);
        let at_token = proxy.take();
        eprintln!("round trips: GET /authorize {at_authorize}, POST /token {at_token}");
        fewest = fewest.min(at_authorize + at_token);
    }
    assert!(
        fewest <= MOST,
        "an authorization-code round trip with a session cost {fewest} PostgreSQL round trips; the target is at most {MOST}"
    );
}

#[test]
fn the_framer_counts_queries_and_syncs_after_startup() {
    let mut framer = Framer::default();
    let startup = [0, 0, 0, 8, 0, 3, 0, 0];
    assert_eq!(framer.feed(&startup), 0);
    // Parse, Bind, Execute, Sync of one statement, then a simple query split across reads.
    let mut stream = Vec::new();
    for (kind, body) in [(b'P', &b"x"[..]), (b'B', b""), (b'E', b""), (b'S', b"")] {
        stream.push(kind);
        stream.extend_from_slice(&(4 + body.len() as u32).to_be_bytes());
        stream.extend_from_slice(body);
    }
    stream.push(b'Q');
    stream.extend_from_slice(&(4 + 2u32).to_be_bytes());
    stream.extend_from_slice(b"x\0");
    let (a, b) = stream.split_at(stream.len() - 3);
    assert_eq!(framer.feed(a), 1);
    assert_eq!(framer.feed(b), 1);
}
