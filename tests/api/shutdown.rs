//! SIGTERM (issue 14): the server stops accepting at once, lets the requests in flight finish
//! within `server.shutdown_grace_secs`, and exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `gatehouse serve` on a fresh SQLite database; answers the process and its address.
fn serve(dir: &tempfile::TempDir, grace_secs: &str) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("GATEHOUSE_")) {
        command.env_remove(name);
    }
    let db = format!("sqlite://{}", dir.path().join("g.db").display());
    let mut child = command
        .args(["serve"])
        .env("GATEHOUSE_DATABASE_URL", db)
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_LOG_FORMAT", "json")
        .env("GATEHOUSE_SERVER_SHUTDOWN_GRACE_SECS", grace_secs)
        .env("GATEHOUSE_SERVER_BODY_READ_TIMEOUT_MS", "60000")
        .stderr(Stdio::piped())
        .spawn()
        .expect("gatehouse serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("a line before exit").unwrap();
        if let Some(at) = line.find("\"address\":\"") {
            let rest = &line[at + 11..];
            break rest[..rest.find('"').unwrap()].to_owned();
        }
    };
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to exit, at most `limit`.
fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A token request whose body arrives in two parts, the second after `pause`.
fn start_slow_request(address: &str) -> TcpStream {
    let body = "grant_type=client_credentials&client_id=nobody&client_secret=x";
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /token HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    stream.flush().unwrap();
    stream
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_refuses_new_connections_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = serve(&dir, "20");
    let mut in_flight = start_slow_request(&address);
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(500));

    // No longer accepting.
    let refused = TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(2));
    assert!(
        refused.is_err(),
        "a new connection after SIGTERM is refused"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "still finishing the request in flight"
    );

    // The rest of the body arrives: the request is answered in full.
    let body = "grant_type=client_credentials&client_id=nobody&client_secret=x";
    in_flight.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("invalid_client"), "{answer}");

    let status = exit_within(&mut child, Duration::from_secs(10)).expect("exits once it is done");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_request_that_outlasts_the_grace_does_not_hold_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = serve(&dir, "1");
    let _stuck = start_slow_request(&address);
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    sigterm(&child);
    let status = exit_within(&mut child, Duration::from_secs(10)).expect("exits after the grace");
    assert_eq!(status.code(), Some(0));
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "it waited for the grace"
    );
}
