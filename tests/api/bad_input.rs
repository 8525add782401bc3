//! Malformed, repeated, oversized and hostile input: always a precise 4xx, never a 500.

use crate::helpers::{encode_form, oauth_error, on_both_backends, spawn_app, spawn_app_with};

const FORM: &str = "application/x-www-form-urlencoded";

on_both_backends! {
    async fn a_repeated_parameter_is_invalid_request(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a", "b"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")], Some((&client.id, &client.secret))).await;

        let body = oauth_error(res, 400, "invalid_request").await;
        assert!(body["error_description"].as_str().unwrap().contains("scope"));
    }

    async fn broken_percent_encoding_is_invalid_request(db) {
        let app = spawn_app(db).await;

        let res = app.token_raw(FORM, "grant_type=client%ZZcredentials").await;

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn invalid_utf8_is_invalid_request(db) {
        let app = spawn_app(db).await;

        let res = app.token_raw(FORM, b"grant_type=client_credentials&scope=%C3%28".to_vec()).await;

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn a_json_body_is_invalid_request(db) {
        let app = spawn_app(db).await;

        let res = app.token_raw("application/json", r#"{"grant_type":"client_credentials"}"#).await;

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn a_body_over_the_default_limit_gets_413(db) {
        let app = spawn_app(db).await;
        let padding = "x".repeat(20 * 1024);

        let res = app.token_raw(FORM, format!("grant_type=client_credentials&pad={padding}")).await;

        oauth_error(res, 413, "invalid_request").await;
    }

    async fn a_streamed_body_over_the_limit_gets_413_too(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_SERVER_BODY_LIMIT_BYTES", "2048")]).await;
        // A chunked body declares no length: the limit must hold while reading.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..8).map(|_| Ok(vec![b'a'; 512])).collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));

        let res = app.token_raw(FORM, body).await;

        oauth_error(res, 413, "invalid_request").await;
    }

    async fn the_body_limit_is_configurable(db) {
        let app = spawn_app_with(db, &[("GATEHOUSE_SERVER_BODY_LIMIT_BYTES", "2048")]).await;
        let client = app.service_client(&["a"]);
        let form = |pad: usize| encode_form(&[("grant_type", "client_credentials"), ("client_id", &client.id), ("client_secret", &client.secret), ("pad", &"p".repeat(pad))]);

        let small = app.token_raw(FORM, form(1000)).await;
        let large = app.token_raw(FORM, form(3000)).await;

        assert_eq!(small.status(), 200);
        oauth_error(large, 413, "invalid_request").await;
    }

    async fn get_on_the_token_endpoint_is_refused(db) {
        let app = spawn_app(db).await;

        let res = app.http.get(app.url("/token?grant_type=client_credentials")).send().await.unwrap();

        oauth_error(res, 405, "invalid_request").await;
    }

    async fn a_malformed_basic_header_is_invalid_request(db) {
        let app = spawn_app(db).await;

        let res = app.http.post(app.url("/token"))
            .header("Content-Type", FORM)
            .header("Authorization", "Basic !!!not-base64!!!")
            .body("grant_type=client_credentials").send().await.unwrap();

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn two_authorization_headers_are_invalid_request(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.http.post(app.url("/token"))
            .header("Content-Type", FORM)
            .basic_auth(&client.id, Some(&client.secret))
            .header("Authorization", "Basic Zm9vOmJhcg==")
            .body("grant_type=client_credentials").send().await.unwrap();

        oauth_error(res, 400, "invalid_request").await;
    }

    async fn a_bearer_header_is_not_client_authentication(db) {
        let app = spawn_app(db).await;

        let res = app.http.post(app.url("/token"))
            .header("Content-Type", FORM)
            .bearer_auth("some.jwt.here")
            .body("grant_type=client_credentials").send().await.unwrap();

        oauth_error(res, 401, "invalid_client").await;
    }

    async fn a_malformed_scope_is_invalid_scope(db) {
        let app = spawn_app(db).await;
        let client = app.service_client(&["a"]);

        let res = app.token(&[("grant_type", "client_credentials"), ("scope", "a \"b\"")], Some((&client.id, &client.secret))).await;

        oauth_error(res, 400, "invalid_scope").await;
    }

    async fn hostile_strings_in_every_field_never_cause_a_500(db) {
        // Many wrong secrets for one client: lift the failure limit, which is not under test here.
        let app = spawn_app_with(db, &[("GATEHOUSE_LIMITS_CLIENT_AUTH_FAILURES", "100000")]).await;
        let client = app.service_client(&["a"]);
        let long = "A".repeat(10_000);
        let hostile = [
            "' OR '1'='1' --", "\"; DROP TABLE clients; --", "<script>alert(1)</script>",
            "%00", "\u{202e}evil", "😀😀😀", "../../etc/passwd", "${jndi:ldap://x}", &long, " ", "\\",
        ];
        for value in hostile {
            for field in ["grant_type", "client_id", "client_secret", "scope"] {
                let mut form = vec![("grant_type", "client_credentials"), ("client_id", client.id.as_str()), ("client_secret", client.secret.as_str())];
                form.retain(|(k, _)| *k != field);
                form.push((field, value));
                let res = app.token(&form, None).await;
                let status = res.status().as_u16();
                assert!((400..500).contains(&status), "{field}={value:.40}: status {status}");
                let body: serde_json::Value = res.json().await.unwrap();
                assert!(body["error"].is_string(), "{field}={value:.40}: {body}");
            }
            let res = app.token(&[("grant_type", "client_credentials")], Some((value, value))).await;
            assert!((400..500).contains(&res.status().as_u16()), "basic {value:.40}: {}", res.status());
        }
        // A NUL byte cannot even reach the database: PostgreSQL would reject it.
        let res = app.token_raw(FORM, format!("grant_type=client_credentials&client_id=a%00b&client_secret={}", client.secret)).await;
        oauth_error(res, 400, "invalid_request").await;
        // The server still works afterwards.
        app.client_credentials(&client).await;
    }
}

/// Finding 6 of the security review: a request body that stops arriving, or trickles in,
/// held its connection for minutes (a trickled body was answered 200 after 31 s). Spoken
/// over a raw socket, since an HTTP client library always sends the whole body at once.
mod finding_6_stalled_bodies {
    use std::time::{Duration, Instant};

    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::helpers::{spawn_app_with, TestApp, TestDb};

    /// The test servers' body read timeout, short so the tests are quick.
    const TIMEOUT: Duration = Duration::from_millis(1000);
    /// How much later than the timeout the 408 may come on a busy machine.
    const SLACK: Duration = Duration::from_millis(2500);

    async fn app() -> TestApp {
        let ms = TIMEOUT.as_millis().to_string();
        spawn_app_with(
            TestDb::sqlite(),
            &[("GATEHOUSE_SERVER_BODY_READ_TIMEOUT_MS", &ms)],
        )
        .await
    }

    async fn connect(app: &TestApp) -> TcpStream {
        TcpStream::connect(app.address.trim_start_matches("http://"))
            .await
            .expect("connect")
    }

    /// The head of a form POST to `path` declaring `length` body bytes.
    fn head(path: &str, length: usize, basic: Option<(&str, &str)>) -> String {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n"
        );
        if let Some((id, secret)) = basic {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            head.push_str(&format!("Authorization: Basic {encoded}\r\n"));
        }
        head.push_str("\r\n");
        head
    }

    /// Reads until the server closes the connection (or `within` passes); answers what
    /// arrived and whether the server closed it.
    async fn read_until_closed(socket: &mut TcpStream, within: Duration) -> (String, bool) {
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return (String::from_utf8_lossy(&received).into_owned(), true)
                }
                Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
            }
        }
    }

    fn status_line(response: &str) -> &str {
        response.lines().next().unwrap_or_default()
    }

    #[actix_web::test]
    async fn a_stalled_token_request_body_is_answered_408_and_its_connection_closed() {
        let app = app().await;
        let mut socket = connect(&app).await;
        let started = Instant::now();

        socket
            .write_all(head("/token", 100, None).as_bytes())
            .await
            .unwrap();
        socket.write_all(b"grant_type=client_").await.unwrap();
        let (response, closed) = read_until_closed(&mut socket, TIMEOUT + SLACK).await;

        assert_eq!(
            status_line(&response),
            "HTTP/1.1 408 Request Timeout",
            "{response}"
        );
        assert!(
            started.elapsed() >= TIMEOUT - Duration::from_millis(100),
            "not before the timeout"
        );
        assert!(
            response.contains("\"error\":\"invalid_request\""),
            "{response}"
        );
        assert!(
            response.contains(
                "\"error_description\":\"the request body did not arrive within 1000 ms\""
            ),
            "{response}"
        );
        assert!(
            response.to_ascii_lowercase().contains("connection: close"),
            "{response}"
        );
        assert!(closed, "the server closes the connection");
    }

    #[actix_web::test]
    async fn a_body_trickled_past_the_timeout_is_answered_408_not_200() {
        let app = app().await;
        let client = app.service_client(&["a"]);
        let body = b"grant_type=client_credentials";
        let mut socket = connect(&app).await;
        let started = Instant::now();
        socket
            .write_all(head("/token", body.len(), Some((&client.id, &client.secret))).as_bytes())
            .await
            .unwrap();

        // One byte every 200 ms: the whole body would take about 6 s, six times the timeout.
        let (mut reader, mut writer) = socket.into_split();
        let trickle = tokio::spawn(async move {
            for byte in body {
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let mut response = Vec::new();
        let read = tokio::time::timeout(TIMEOUT + SLACK, reader.read_to_end(&mut response)).await;
        trickle.abort();
        let response = String::from_utf8_lossy(&response);

        assert!(
            read.is_ok(),
            "answered and closed within the timeout: {response}"
        );
        assert_eq!(
            status_line(&response),
            "HTTP/1.1 408 Request Timeout",
            "{response}"
        );
        assert!(started.elapsed() < TIMEOUT + SLACK);
    }

    #[actix_web::test]
    async fn a_slow_body_that_arrives_within_the_timeout_still_works() {
        let app = app().await;
        let client = app.service_client(&["a"]);
        let body = b"grant_type=client_credentials";
        let mut socket = connect(&app).await;
        socket
            .write_all(head("/token", body.len(), Some((&client.id, &client.secret))).as_bytes())
            .await
            .unwrap();

        // Three pieces 150 ms apart: slow, but done well within the timeout.
        for piece in body.chunks(10) {
            socket.write_all(piece).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let mut buf = vec![0u8; 8192];
        let n = tokio::time::timeout(TIMEOUT + SLACK, socket.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        let response = String::from_utf8_lossy(&buf[..n]);

        assert_eq!(status_line(&response), "HTTP/1.1 200 OK", "{response}");
    }

    #[actix_web::test]
    async fn a_stalled_login_form_is_answered_408_with_an_error_page() {
        let app = app().await;
        let mut socket = connect(&app).await;

        socket
            .write_all(head("/login", 100, None).as_bytes())
            .await
            .unwrap();
        socket.write_all(b"username=alice&pass").await.unwrap();
        let (response, closed) = read_until_closed(&mut socket, TIMEOUT + SLACK).await;

        assert_eq!(
            status_line(&response),
            "HTTP/1.1 408 Request Timeout",
            "{response}"
        );
        assert!(
            response
                .to_ascii_lowercase()
                .contains("content-type: text/html"),
            "{response}"
        );
        assert!(response.contains("did not arrive"), "{response}");
        assert!(closed, "the server closes the connection");
    }

    #[actix_web::test]
    async fn a_stalled_request_head_is_answered_408_and_its_connection_closed() {
        let app = app().await;
        let mut socket = connect(&app).await;

        socket
            .write_all(b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        let (response, closed) = read_until_closed(&mut socket, TIMEOUT + SLACK).await;

        assert!(
            status_line(&response).starts_with("HTTP/1.1 408"),
            "{response}"
        );
        assert!(closed, "the server closes the connection");
    }
}
