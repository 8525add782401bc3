//! The real `gatehouse serve` process logs one line per request and never a secret, even
//! at the most verbose level.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::{cli, encode_form, TestDb};

#[actix_web::test]
async fn request_lines_are_logged_and_no_secret_or_token_ever_is() {
    let db = TestDb::sqlite();
    let env = vec![("GATEHOUSE_DATABASE_URL".to_owned(), db.url.clone())];
    let created: serde_json::Value = serde_json::from_slice(
        &cli(
            &env,
            &[
                "client",
                "create",
                "--name",
                "svc",
                "--grant-type",
                "client_credentials",
                "--scope",
                "a",
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let app: serde_json::Value = serde_json::from_slice(
        &cli(
            &env,
            &[
                "client",
                "create",
                "--name",
                "app",
                "--redirect-uri",
                "http://127.0.0.1:9/cb",
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let app_id = app["client_id"].as_str().unwrap().to_owned();

    let mut server = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .env("GATEHOUSE_DATABASE_URL", &db.url)
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_LOG_LEVEL", "trace")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = server.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let address = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("server logs its address");
        log.push(line.clone());
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };

    let http = reqwest::Client::new();
    let token = http
        .post(format!("http://{address}/token"))
        .basic_auth(id, Some(secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted = http
        .post(format!("http://{address}/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", "wrong-secret-value"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 401);

    // A browser login: the password, the CSRF token and the session cookie stay out too.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let query = format!(
        "response_type=code&client_id={app_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&state=s&code_challenge={}&code_challenge_method=S256",
        crate::authorization_code::CHALLENGE
    );
    let page = browser
        .get(format!("http://{address}/authorize?{query}"))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie_value = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let body = page.text().await.unwrap();
    let csrf = body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token on the login page")
        .to_owned();
    let login = browser
        .post(format!("http://{address}/login?{query}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode_form(&[
            ("csrf_token", &csrf),
            ("username", "alice"),
            ("password", "alice's very secret password"),
        ]))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success() || login.status().is_redirection());
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    log.extend(lines.try_iter());
    let log = log.join("\n");

    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{id}:{secret}"),
    );
    for needle in [
        secret,
        token.as_str(),
        basic.as_str(),
        "wrong-secret-value",
        "alice's very secret password",
        &csrf,
        &cookie_value,
    ] {
        assert!(!log.contains(needle), "a secret or token reached the log");
    }
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request") && l.contains("path=\"/token\""))
        .collect();
    assert_eq!(requests.len(), 2, "one line per request:\n{log}");
    assert!(
        requests[0].contains("method=POST")
            && requests[0].contains("status=200")
            && requests[0].contains("latency_us="),
        "{}",
        requests[0]
    );
    assert!(requests[1].contains("status=401"), "{}", requests[1]);
}
