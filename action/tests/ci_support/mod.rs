//! Shared helpers for the CI-mode end-to-end tests: real git repositories in temp dirs, and
//! running the real `codereview` binary with a runner's environment.
#![allow(dead_code)]

pub mod github_graphql;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A real git repository in a temp dir.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// `git init` on branch `main`.
    pub fn new() -> Self {
        let repo = Repo {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run git; panics with git's stderr on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(self.path())
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Write a file (creating directories).
    pub fn write(&self, path: &str, content: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// `git add -A && git commit`; returns the new HEAD sha.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// A base commit on `main` with `files`, then a `feature` branch commit with `changes`.
/// Returns (repo, base sha, head sha).
pub fn pull_request_repo(
    files: &[(&str, &str)],
    changes: &[(&str, &str)],
) -> (Repo, String, String) {
    let repo = Repo::new();
    for (p, c) in files {
        repo.write(p, c);
    }
    let base = repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    for (p, c) in changes {
        repo.write(p, c);
    }
    let head = repo.commit("change");
    (repo, base, head)
}

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
