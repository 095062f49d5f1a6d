//! Shared helpers for the CI-mode end-to-end tests: real git repositories in temp dirs, and
//! running the real `codereview` binary with a runner's environment.
#![allow(dead_code)]

pub mod github_graphql;
mod repo;

pub use repo::{Repo, pull_request_repo};

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `codereview` binary built by cargo for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_codereview"))
}

/// Run the binary with exactly these environment variables (plus PATH and HOME).
pub fn run(args: &[&str], vars: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.env_clear();
    for keep in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(keep) {
            cmd.env(keep, v);
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.args(args).output().expect("codereview runs")
}

/// Read a webhook fixture from `tests/fixtures/github-webhooks`.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/../tests/fixtures/github-webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists")).unwrap()
}

/// Run `codereview status ARGS` off the async runtime, so the wiremock fakes keep serving.
pub async fn run_status(extra_args: &[&str], vars: Vec<(&'static str, String)>) -> Output {
    let mut args = vec!["status".to_string()];
    args.extend(extra_args.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &vars)
    })
    .await
    .expect("the binary ran")
}

/// A process's stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
