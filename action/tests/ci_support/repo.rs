//! A real git repository in a temp dir, and a pull request made in one: shared by the CI-mode
//! end-to-end tests and the `status` unit tests (included there with `#[path]`).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

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
