//! Finding 14 of the security review: the command line panicked on a closed pipe, missed a
//! user's own events, printed an event for `--limit 0`, echoed a typed password, replaced a
//! TOTP secret without a word, and ignored misspelt `GATEHOUSE_*` variables. Each rule here
//! runs the real binary.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{cli, on_both_backends, spawn_app, TestApp};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `gatehouse` binary with exactly this app's `GATEHOUSE_*` variables.
fn gatehouse(app: &TestApp, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("GATEHOUSE_")) {
        command.env_remove(name);
    }
    command
        .env("GATEHOUSE_DATABASE_URL", &app.db.url)
        .env("GATEHOUSE_ACCOUNTS_BCRYPT_COST", "4")
        .args(args);
    command
}

/// Runs a command whose stdout is a pipe that the test closes after reading `keep` bytes
/// (none: before the command writes anything); answers the exit status and stderr.
fn with_stdout_closed_after(mut command: Command, keep: usize) -> (Option<i32>, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatehouse");
    let mut stdout = child.stdout.take().unwrap();
    let mut head = vec![0u8; keep];
    stdout.read_exact(&mut head).expect("the first bytes");
    drop(stdout); // what `head -c 10` does
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code(), err)
}

/// A client whose JSON is far larger than a pipe's buffer (64 KiB), so the command is still
/// writing when the reader goes away.
fn register_a_large_client(app: &TestApp) {
    let uris: Vec<String> = (0..100)
        .map(|i| format!("https://app.example/{i}/{}", "x".repeat(1000)))
        .collect();
    let mut args = vec!["client", "create", "--name", "large"];
    for uri in &uris {
        args.extend_from_slice(&["--redirect-uri", uri]);
    }
    app.cli_json(&args);
}

mod finding_14_a_closed_pipe_ends_quietly {
    use super::*;

    on_both_backends! {
        async fn a_reader_that_stops_after_ten_bytes(db) {
            let app = spawn_app(db).await;
            register_a_large_client(&app);

            for args in [&["client", "list", "--json"][..], &["client", "list"][..], &["events", "--json"][..]] {
                let (code, err) = with_stdout_closed_after(gatehouse(&app, args), 10);

                assert_ne!(code, Some(101), "{args:?} panicked: {err}");
                assert_eq!(code, Some(0), "{args:?}: {err}");
                assert!(!err.contains("panicked"), "{args:?}: {err}");
                assert!(err.is_empty(), "{args:?} said something on a closed pipe: {err}");
            }
        }

        async fn a_reader_gone_before_the_first_byte(db) {
            let app = spawn_app(db).await;
            app.service_client(&["a"]);

            for args in [&["events", "--json"][..], &["events"][..], &["keys", "list"][..], &["migrate", "--json"][..]] {
                let (code, err) = with_stdout_closed_after(gatehouse(&app, args), 0);

                assert_eq!(code, Some(0), "{args:?}: {err}");
                assert!(!err.contains("panicked"), "{args:?}: {err}");
            }
        }
    }
}

mod finding_14_events_of_a_user {
    use super::*;

    fn kinds(events: &Value) -> Vec<&str> {
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect()
    }

    on_both_backends! {
        async fn a_username_or_an_id_finds_the_users_failures_and_successes(db) {
            let app = spawn_app(db).await;
            app.create_role("staff", &["a"]);
            let id = app.create_user("alice", "correct horse", &["staff"]);
            app.create_user("bob", "battery staple", &["staff"]);
            let client = app.first_party_client(&["a"]);
            app.password_grant(&client, "alice", "wrong password", None).await;
            assert_eq!(app.password_grant(&client, "alice", "correct horse", None).await.status(), 200);
            assert_eq!(app.password_grant(&client, "bob", "battery staple", None).await.status(), 200);

            for given in ["alice", "ALICE", id.as_str()] {
                let events = app.cli_json(&["events", "--user", given]);

                assert_eq!(kinds(&events), vec!["login_failed", "login_succeeded"], "--user {given}");
            }
        }
    }
}

mod finding_14_events_limit {
    use super::*;

    on_both_backends! {
        async fn limit_zero_prints_no_event_and_a_negative_limit_is_an_error(db) {
            let app = spawn_app(db).await;
            app.service_client(&["a"]);
            app.service_client(&["b"]);

            assert_eq!(app.cli_json(&["events", "--limit", "0"]), serde_json::json!([]));
            assert_eq!(app.cli_json(&["events", "--limit", "1"]).as_array().unwrap().len(), 1);
            let out = app.cli(&["events", "--limit", "-1", "--json"]);
            assert_eq!(out.status.code(), Some(1));
            assert!(out.stdout.is_empty());
            assert!(stderr(&out).contains("--limit -1: expected 0 or more"), "{}", stderr(&out));
        }
    }
}

mod finding_14_totp_enable_keeps_an_enrolled_secret {
    use super::*;

    on_both_backends! {
        async fn a_second_enable_is_refused_without_force(db) {
            let app = spawn_app(db).await;
            app.create_user("alice", "correct horse", &[]);
            let first = app.cli_json(&["user", "totp", "enable", "alice"]);

            let out = app.cli(&["user", "totp", "enable", "alice", "--json"]);

            assert_eq!(out.status.code(), Some(1));
            assert!(out.stdout.is_empty());
            let err = stderr(&out);
            assert!(err.contains("already has TOTP on") && err.contains("--force"), "{err}");
            let forced = app.cli_json(&["user", "totp", "enable", "alice", "--force"]);
            assert_ne!(forced["secret"], first["secret"]);
        }
    }
}

/// The pseudo-terminal a person's `user create` runs in: the test types on `master`.
struct Terminal {
    master: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl Terminal {
    /// Runs `command` with stdin and stderr on a new pseudo-terminal and stdout a pipe.
    fn run(mut command: Command) -> Terminal {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two new descriptors, which the OwnedFds below then own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let child = command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .stdout(Stdio::piped())
            .spawn()
            .expect("run gatehouse");
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, shown) = (master.try_clone().unwrap(), screen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            // Ends with EIO once the child has closed the terminal.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            master,
            screen,
            child,
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the terminal shows `text` (a prompt), then types `line` and Enter.
    fn answer(&mut self, text: &str, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.screen().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} on the terminal: {:?}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// Waits for the command; answers its exit code, stdout and everything the terminal showed.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let code = self.child.wait().unwrap().code();
        std::thread::sleep(Duration::from_millis(100)); // the last of the screen
        (code, out, self.screen())
    }
}

mod finding_14_a_password_typed_at_a_terminal_is_not_echoed {
    use super::*;

    on_both_backends! {
        async fn the_password_is_asked_twice_without_echo(db) {
            let app = spawn_app(db).await;
            app.create_role("staff", &["a"]);
            let mut terminal = Terminal::run(gatehouse(&app, &["user", "create", "dave", "--role", "staff", "--json"]));

            terminal.answer("Password for dave: ", "typed at a terminal");
            terminal.answer("The same password again: ", "typed at a terminal");
            let (code, out, screen) = terminal.finish();

            assert_eq!(code, Some(0), "{screen}");
            assert!(!screen.contains("typed at a terminal"), "the password was echoed: {screen:?}");
            let user: Value = serde_json::from_str(&out).expect("one JSON object on stdout");
            assert_eq!(user["username"], "dave");
            let client = app.first_party_client(&["a"]);
            let res = app.password_grant(&client, "dave", "typed at a terminal", None).await;
            assert_eq!(res.status(), 200, "the typed password is the one stored");
        }

        async fn two_different_passwords_create_nothing(db) {
            let app = spawn_app(db).await;
            let mut terminal = Terminal::run(gatehouse(&app, &["user", "create", "dave"]));

            terminal.answer("Password for dave: ", "first password");
            terminal.answer("The same password again: ", "second password");
            let (code, out, screen) = terminal.finish();

            assert_eq!(code, Some(1));
            assert!(out.is_empty());
            assert!(screen.contains("the two passwords typed differ"), "{screen:?}");
            assert!(!screen.contains("first password") && !screen.contains("second password"), "{screen:?}");
            app.create_user("dave", "long enough password", &[]); // the name is still free
        }

        async fn a_password_from_a_pipe_is_still_one_line(db) {
            let app = spawn_app(db).await;

            let out = app.cli_with_stdin(&["user", "create", "erin", "--json"], "from a pipe\nignored\n");

            assert!(out.status.success(), "{}", stderr(&out));
            assert!(!stderr(&out).contains("Password"), "no prompt on a pipe: {}", stderr(&out));
        }
    }
}

mod finding_14_settings_that_do_not_exist_and_values_that_do_not_fit {
    use super::*;

    fn env(dir: &tempfile::TempDir, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let url = format!("sqlite://{}", dir.path().join("settings.db").display());
        let mut all = vec![("GATEHOUSE_DATABASE_URL".to_owned(), url)];
        all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    }

    #[test]
    fn an_unknown_gatehouse_variable_is_warned_about_with_the_closest_setting() {
        let dir = tempfile::tempdir().unwrap();
        let out = cli(
            &env(
                &dir,
                &[
                    ("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL", "60"),
                    ("GATEHOUSE_TEST_REQUIRE_POSTGRES", "0"),
                ],
            ),
            &["client", "list", "--json"],
        );

        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL names no setting"),
            "{err}"
        );
        assert!(
            err.contains("did you mean GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS"),
            "{err}"
        );
        assert!(
            !err.contains("GATEHOUSE_TEST_REQUIRE_POSTGRES"),
            "a test variable is no typo: {err}"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
            serde_json::json!([])
        );
    }

    #[test]
    fn a_wrong_value_names_the_key_for_a_variable_and_for_a_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = cli(
            &env(&dir, &[("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS", "soon")]),
            &["client", "list"],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS (tokens.access_token_ttl_secs)"),
            "{err}"
        );

        let path = dir.path().join("gatehouse.toml");
        std::fs::write(&path, "[tokens]\naccess_token_ttl_secs = \"soon\"\n").unwrap();
        let out = cli(
            &env(&dir, &[]),
            &["--config", path.to_str().unwrap(), "client", "list"],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("tokens.access_token_ttl_secs"), "{err}");
        assert!(
            err.contains(&format!("config file {}", path.display())),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Commands run side by side on one SQLite file with no server (each process the last to
/// close, so each close checkpoints the log under an exclusive lock) all succeed: a
/// connection opened during another's close waits its busy timeout instead of failing at
/// once with "database is locked" (the busy timeout is now set before the switch to WAL).
#[test]
fn commands_side_by_side_on_one_sqlite_file_wait_for_each_other() {
    let db = crate::helpers::TestDb::sqlite();
    let env = vec![("GATEHOUSE_DATABASE_URL".to_owned(), db.url.clone())];
    assert!(cli(&env, &["role", "create", "r0", "--scope", "a"])
        .status
        .success());
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let env = &env;
                scope.spawn(move || {
                    (0..12)
                        .map(|i| {
                            cli(
                                env,
                                &["role", "create", &format!("r{w}x{i}"), "--scope", "a"],
                            )
                        })
                        .filter(|out| !out.status.success())
                        .map(|out| stderr(&out))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of 48 failed: {:?}",
        failures.len(),
        failures.first()
    );
}
