//! The crate stays lean: an API that only checks tokens must not build the server's
//! database, password-hashing or OAuth machinery. Reads the resolved graph offline.

use std::process::Command;

/// Crates (and prefixes) that belong to the server, never to a resource server.
const FORBIDDEN: &[&str] = &[
    "diesel",
    "pq-sys",
    "libsqlite3-sys",
    "bcrypt",
    "oxide-auth",
    "r2d2",
];

fn normal_dependencies(extra: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "gatehouse-resource",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn assert_lean(extra: &[&str]) {
    let deps = normal_dependencies(extra);
    assert!(deps.iter().any(|d| d == "gatehouse-resource"), "{deps:?}");
    let found: Vec<_> = deps
        .iter()
        .filter(|d| FORBIDDEN.iter().any(|f| d.starts_with(f)) || d.as_str() == "gatehouse")
        .collect();
    assert!(found.is_empty(), "gatehouse-resource pulls in {found:?}");
}

#[test]
fn the_verifier_builds_without_the_server() {
    assert_lean(&[]);
}

#[test]
fn what_the_server_shares_has_no_http_client_either() {
    assert_lean(&["--no-default-features"]);
    let deps = normal_dependencies(&["--no-default-features"]);
    assert!(!deps.iter().any(|d| d == "reqwest"), "{deps:?}");
}
