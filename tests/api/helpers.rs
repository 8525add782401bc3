//! Test helpers: a fresh database per test, the real server on 127.0.0.1 port 0, the real
//! CLI binary, and token verification the way a resource server does it (with the JWKS).

use std::process::Output;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use gatehouse::domain::Clock;
use gatehouse::settings::Settings;
use gatehouse::startup::Application;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Runs each test body once on SQLite and once on PostgreSQL.
///
/// The PostgreSQL run needs `GATEHOUSE_TEST_POSTGRES_URL`; without it the run is skipped
/// with a message, unless `GATEHOUSE_TEST_REQUIRE_POSTGRES=1` (set by CI) makes it fail.
macro_rules! on_both_backends {
    ($(async fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                let $db = $crate::helpers::TestDb::sqlite();
                $body
            }

            #[actix_web::test]
            async fn postgres() {
                let Some($db) = $crate::helpers::TestDb::postgres() else { return };
                $body
            }
        }
    )*};
}
pub(crate) use on_both_backends;

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    /// The key-encryption key the server and the CLI are given (`GATEHOUSE_KEYS_ENCRYPTION_KEY`).
    /// `None` for SQLite: the default key file beside the database serves both.
    pub encryption_key: Option<String>,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
        TestDb {
            url,
            encryption_key: None,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh PostgreSQL database, dropped when the test ends.
    pub fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL") else {
            if std::env::var("GATEHOUSE_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!(
                    "GATEHOUSE_TEST_REQUIRE_POSTGRES=1 but GATEHOUSE_TEST_POSTGRES_URL is not set"
                );
            }
            eprintln!("skipped: set GATEHOUSE_TEST_POSTGRES_URL to run the PostgreSQL variant");
            return None;
        };
        let name = format!(
            "gatehouse_test_{}",
            gatehouse::domain::secret::random_id(9)
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        let mut admin =
            PgConnection::establish(&admin_url).expect("connect to GATEHOUSE_TEST_POSTGRES_URL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("GATEHOUSE_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Some(TestDb {
            url: url.to_string(),
            // Not the default file: that would be data/gatehouse.kek in the working directory.
            encryption_key: Some(
                gatehouse::tokens::kek::KeyEncryptionKey::generate_text()
                    .expect("a random key")
                    .trim()
                    .to_owned(),
            ),
            _dir: None,
            postgres: Some((admin_url, name)),
        })
    }

    /// The same database for a second server; only the original drops it.
    pub fn share(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            encryption_key: self.encryption_key.clone(),
            _dir: None,
            postgres: None,
        }
    }

    /// Drops the PostgreSQL database now, while the server still runs (for readiness tests).
    pub fn drop_database_now(&self) {
        if let Some((admin_url, name)) = &self.postgres {
            let mut admin = PgConnection::establish(admin_url).expect("connect");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .expect("drop");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A running gatehouse and the means to talk to it.
pub struct TestApp {
    pub address: String,
    /// `/metrics`'s own listener, with `GATEHOUSE_SERVER_METRICS_LISTEN`.
    pub metrics_address: Option<String>,
    pub issuer: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    /// The server's clock: tests move it forward instead of sleeping.
    pub clock: Clock,
    env: Vec<(String, String)>,
}

/// Starts the real server on 127.0.0.1 with a free port.
pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, &[]).await
}

/// Starts the server with extra `GATEHOUSE_*` settings, as an operator would set them.
pub async fn spawn_app_with(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
    spawn_app_configured(db, extra, None).await
}

/// Starts the server with a `--config` file holding `config` (TOML), as well as `extra`.
pub async fn spawn_app_configured(
    db: TestDb,
    extra: &[(&str, &str)],
    config: Option<&str>,
) -> TestApp {
    let file = config.map(|text| {
        let mut file = tempfile::NamedTempFile::new().expect("config file");
        std::io::Write::write_all(&mut file, text.as_bytes()).expect("config written");
        file
    });
    let env = test_env(&db, extra);
    let settings =
        Settings::load_from(file.as_ref().map(|f| f.path()), env.clone()).expect("test settings");
    launch(db, settings, env).await
}

/// The public name a fleet's instances share (`GATEHOUSE_ISSUER`), as the load balancer in
/// front of them would have it. The test still reaches each instance at its own address.
pub const FLEET_ISSUER: &str = "http://gatehouse.fleet.test";

/// Starts `n` servers side by side on one database, as a deployment of several instances
/// does: all at once, each with its own port, caches and background tasks, sharing what must
/// match across instances — the database, the key-encryption key (`db.encryption_key`), the
/// issuer ([`FLEET_ISSUER`], so also the audience) and the `extra` settings. The first
/// instance holds `db` (and drops it at the end); the others hold shares.
///
/// They run in this test's process, as `spawn_app` does, which hides no per-instance state:
/// each `Application` builds its own services, and the server keeps none in statics.
pub async fn spawn_fleet(db: TestDb, n: usize, extra: &[(&str, &str)]) -> Vec<TestApp> {
    let mut extra = extra.to_vec();
    extra.push(("GATEHOUSE_ISSUER", FLEET_ISSUER));
    let shares: Vec<TestDb> = (0..n).map(|_| db.share()).collect();
    let instances = futures_util::future::join_all(shares.into_iter().map(|share| {
        let env = test_env(&share, &extra);
        let settings = Settings::load_from(None, env.clone()).expect("test settings");
        launch(share, settings, env)
    }))
    .await;
    let mut instances = instances.into_iter();
    let first = instances.next().expect("at least one instance");
    // The first instance takes the database over, so it is dropped once, after the test.
    let first = TestApp { db, ..first };
    std::iter::once(first).chain(instances).collect()
}

/// The `GATEHOUSE_*` settings of a test server on `db`, with `extra` last (so they win).
fn test_env(db: &TestDb, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("GATEHOUSE_DATABASE_URL".to_owned(), db.url.clone()),
        ("GATEHOUSE_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("GATEHOUSE_SERVER_WORKERS".to_owned(), "1".to_owned()),
        (
            "GATEHOUSE_DATABASE_MAX_CONNECTIONS".to_owned(),
            "4".to_owned(),
        ),
        // The cheapest bcrypt cost keeps password tests fast; the rules do not change.
        ("GATEHOUSE_ACCOUNTS_BCRYPT_COST".to_owned(), "4".to_owned()),
    ];
    if let Some(key) = &db.encryption_key {
        env.push(("GATEHOUSE_KEYS_ENCRYPTION_KEY".to_owned(), key.clone()));
    }
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// Builds the server from `settings` on a port of its own and runs it in the background.
async fn launch(db: TestDb, settings: Settings, env: Vec<(String, String)>) -> TestApp {
    let clock = Clock::default();
    let app = Application::build_with_clock(settings, clock.clone())
        .await
        .expect("server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let issuer = app.issuer().to_owned();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        metrics_address,
        issuer,
        http: reqwest::Client::new(),
        db,
        clock,
        env,
    }
}

/// A client as the CLI printed it.
pub struct Registered {
    pub id: String,
    pub secret: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// GETs a path (or a full URL) of this server.
    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            self.url(path_or_url)
        };
        self.http.get(url).send().await.expect("GET")
    }

    /// GETs a path and parses its JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path_or_url: &str) -> T {
        self.get(path_or_url).await.json().await.expect("JSON body")
    }

    /// Runs the real `gatehouse` binary against this app's database.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.env, args)
    }

    /// Runs the CLI on a blocking thread, so the test can keep talking to servers meanwhile.
    pub fn cli_in_background(&self, args: &[&str]) -> actix_web::rt::task::JoinHandle<Output> {
        let env = self.env.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        actix_web::rt::task::spawn_blocking(move || {
            cli(&env, &args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    }

    /// Runs a CLI command that must succeed with `--json`, and parses its output.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "{args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed no single JSON value ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Registers a client with `gatehouse client create`.
    pub fn register(&self, args: &[&str]) -> Registered {
        let mut full = vec!["client", "create", "--name", "test client"];
        full.extend_from_slice(args);
        let created = self.cli_json(&full);
        Registered {
            id: created["client_id"].as_str().expect("client_id").to_owned(),
            secret: created["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// Runs the CLI with `stdin` as its standard input.
    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("GATEHOUSE_")) {
            command.env_remove(name);
        }
        let mut child = command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run gatehouse");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().expect("gatehouse finishes")
    }

    pub fn create_role(&self, name: &str, scopes: &[&str]) {
        let mut args = vec!["role", "create", name];
        for s in scopes {
            args.extend_from_slice(&["--scope", s]);
        }
        self.cli_json(&args);
    }

    /// Creates a user with the CLI; returns the user's id.
    pub fn create_user(&self, username: &str, password: &str, roles: &[&str]) -> String {
        self.create_user_with(username, password, roles, &[])
    }

    /// As [`create_user`](Self::create_user), with more flags (`--email`, `--name`).
    pub fn create_user_with(
        &self,
        username: &str,
        password: &str,
        roles: &[&str],
        flags: &[&str],
    ) -> String {
        let mut args = vec!["user", "create", username, "--json"];
        for r in roles {
            args.extend_from_slice(&["--role", r]);
        }
        args.extend_from_slice(flags);
        let out = self.cli_with_stdin(&args, &format!("{password}\n"));
        assert!(
            out.status.success(),
            "user create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let user: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        user["id"].as_str().expect("id").to_owned()
    }

    /// A first-party client with the password and refresh grants and `scopes`.
    pub fn first_party_client(&self, scopes: &[&str]) -> Registered {
        let mut args = vec!["--grant-type", "password", "--grant-type", "refresh_token"];
        for s in scopes {
            args.extend_from_slice(&["--scope", s]);
        }
        self.register(&args)
    }

    pub async fn password_grant(
        &self,
        client: &Registered,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token(&form, Some((&client.id, &client.secret))).await
    }

    pub async fn refresh(
        &self,
        client: &Registered,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token(&form, Some((&client.id, &client.secret))).await
    }

    /// POSTs a form to another endpoint with Basic client authentication.
    pub async fn post_form(
        &self,
        path: &str,
        client: &Registered,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .basic_auth(&client.id, Some(&client.secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(encode_form(form))
            .send()
            .await
            .expect("POST")
    }

    /// Introspects `token` as `client`; returns the JSON answer.
    pub async fn introspect(&self, client: &Registered, token: &str) -> Value {
        let res = self
            .post_form("/introspect", client, &[("token", token)])
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        res.json().await.expect("JSON")
    }

    pub async fn revoke(&self, client: &Registered, token: &str) -> reqwest::Response {
        self.post_form("/revoke", client, &[("token", token)]).await
    }

    /// A confidential client for the client-credentials grant with `scopes`.
    pub fn service_client(&self, scopes: &[&str]) -> Registered {
        let mut args = vec!["--grant-type", "client_credentials"];
        for s in scopes {
            args.extend_from_slice(&["--scope", s]);
        }
        self.register(&args)
    }

    /// An API that may introspect every client's tokens (`client create --introspect`).
    pub fn introspecting_service(&self, scopes: &[&str]) -> Registered {
        let mut args = vec!["--grant-type", "client_credentials", "--introspect"];
        for s in scopes {
            args.extend_from_slice(&["--scope", s]);
        }
        self.register(&args)
    }

    /// POSTs a form body to the token endpoint, optionally with Basic credentials.
    pub async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url("/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(encode_form(form));
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.expect("token request")
    }

    /// POSTs a raw body to the token endpoint.
    pub async fn token_raw(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("token request")
    }

    /// A client-credentials token for `client`; panics unless the server grants one.
    pub async fn client_credentials(&self, client: &Registered) -> Value {
        let res = self
            .token(
                &[("grant_type", "client_credentials")],
                Some((&client.id, &client.secret)),
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("token JSON")
    }

    /// Verifies a token as a resource server would: metadata → JWKS → signature, `typ`,
    /// `iss`, `aud`, `exp`. Returns the header and the claims.
    pub async fn verify(&self, token: &str) -> (jsonwebtoken::Header, Value) {
        self.verify_jwt(token, "at+jwt", &self.issuer).await
    }

    /// Verifies an OpenID Connect id_token as a relying party would: this server's JWKS,
    /// `typ` `JWT`, `iss`, `aud` (the client), `exp`. Returns the claims.
    pub async fn verify_id_token(&self, token: &str, client_id: &str) -> Value {
        self.verify_jwt(token, "JWT", client_id).await.1
    }

    async fn verify_jwt(
        &self,
        token: &str,
        typ: &str,
        audience: &str,
    ) -> (jsonwebtoken::Header, Value) {
        let metadata: Value = self
            .get_json("/.well-known/oauth-authorization-server")
            .await;
        // This instance's own JWKS: behind a shared issuer (a fleet) `jwks_uri` names the
        // issuer's address, not this instance's.
        let jwks_uri = metadata["jwks_uri"].as_str().expect("jwks_uri");
        let jwks: JwkSet = self
            .get_json(jwks_uri.strip_prefix(&self.issuer).unwrap_or(jwks_uri))
            .await;
        let header = jsonwebtoken::decode_header(token).expect("JWT header");
        assert_eq!(header.typ.as_deref(), Some(typ));
        assert_eq!(header.alg, Algorithm::ES256);
        let kid = header.kid.clone().expect("kid");
        let jwk = jwks
            .find(&kid)
            .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS of {}", self.address));
        let key = DecodingKey::from_jwk(jwk).expect("JWK");
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .expect("token verifies with the JWKS");
        (header, data.claims)
    }
}

/// Runs the `gatehouse` binary with exactly these `GATEHOUSE_*` variables.
pub fn cli(env: &[(String, String)], args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("GATEHOUSE_")) {
        command.env_remove(name);
    }
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .output()
        .expect("run gatehouse")
}

/// Asks `check` again and again until it holds, for at most `within` (make it generous: the
/// machine may be busy); panics naming `what` if it never does. For what the server promises
/// within a stated delay, never for how fast it is.
pub async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn encode_form(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// Reads an error response and checks it is RFC 6749 §5.2 JSON with `no-store`.
pub async fn oauth_error(res: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = res.json().await.expect("JSON error body");
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}
