//! Shared helpers for the cross-crate end-to-end tests: real git repositories in temporary
//! directories, the real `codereview` binary, and PullApprove's reference CLI `pa`.
//!
//! The differential tests exist because DESIGN §1 makes PullApprove the reference for matching:
//! "our matching must give the same answer as theirs on the same repo". These helpers keep that
//! comparison honest: both tools run as separate processes, in the same repository, with the same
//! isolated git environment, and only their observable output is compared.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What a process printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// Whether the process exited with status 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Environment that makes git (and both tools, which run git) behave the same on any machine:
/// no system or user configuration, a fixed identity for commits, UTF-8 everywhere, no pager.
pub fn isolated_env(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "codereview tests")
        .env("GIT_AUTHOR_EMAIL", "tests@codereview.invalid")
        .env("GIT_COMMITTER_NAME", "codereview tests")
        .env("GIT_COMMITTER_EMAIL", "tests@codereview.invalid")
        .env("GIT_PAGER", "cat")
        .env("PAGER", "cat")
        .env("PYTHONUTF8", "1")
        .env("PYTHONWARNINGS", "ignore")
        .env("LC_ALL", "C.UTF-8")
        .env("NO_COLOR", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
}

/// Run `program args` in `dir` with [`isolated_env`] and no stdin.
pub fn run<I, S>(dir: &Path, program: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    isolated_env(&mut cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The first executable named `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// PullApprove's `pa`, when it is on `PATH` and runs. Tests that need it skip (and pass) with
/// a printed explanation when it is missing; CI installs it so they always run there.
pub fn pa() -> Option<PathBuf> {
    static PA: OnceLock<Option<PathBuf>> = OnceLock::new();
    PA.get_or_init(|| {
        let pa = which("pa")?;
        let out = Command::new(&pa)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then_some(pa)
    })
    .clone()
}

/// The `codereview` binary of this build: `target/<profile>/codereview`, next to the directory
/// holding the running test executable (`target/<profile>/deps/`).
///
/// `cargo test --workspace` (the documented test command) builds every binary of the workspace
/// before running any test. When the binary is missing (e.g. `cargo test -p codereview-e2e`
/// alone), this builds it once with `cargo build --workspace --bins` for the same profile.
pub fn codereview_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable has a path");
        let deps = exe.parent().expect("the test executable is in a directory");
        let profile_dir = deps.parent().expect("deps/ is inside target/<profile>/");
        let bin = profile_dir.join(format!("codereview{}", std::env::consts::EXE_SUFFIX));
        if !bin.is_file() {
            build_binaries(profile_dir);
        }
        assert!(
            bin.is_file(),
            "{} not found: run `cargo test --workspace`, which builds every binary first",
            bin.display()
        );
        bin
    })
    .clone()
}

fn build_binaries(profile_dir: &Path) {
    let profile = profile_dir
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ is inside the workspace");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--workspace", "--bins", "--profile"])
        .arg(if profile == "debug" { "dev" } else { profile });
    if let Some(target_dir) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target_dir);
    }
    eprintln!("building the codereview binary: {cmd:?}");
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "cargo build failed");
}

/// A git repository in a temporary directory, removed on drop.
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// `git init` a fresh repository. Paths are listed unquoted (`core.quotepath=false`) so both
    /// tools see non-ASCII names as they are: PullApprove reads `git ls-files` line by line and
    /// would otherwise see C-quoted names.
    pub fn new() -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("codereview-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let repo = Repo { dir };
        repo.git(["init", "-q", "-b", "main"]);
        repo.git(["config", "core.quotepath", "false"]);
        repo
    }

    /// Keep the directory after the test (for debugging a failing case); returns its path.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    /// The repository's top directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file (creating directories), relative to the top directory.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) {
        let full = self.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create directories");
        }
        std::fs::write(&full, contents).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }

    /// Delete a file from the working tree (not from the index).
    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.path().join(path)).unwrap_or_else(|e| panic!("rm {path}: {e}"));
    }

    /// Run git in the repository; panics when it fails.
    pub fn git<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = run(self.path(), Path::new("git"), args);
        assert!(out.ok(), "git failed: {}", out.stderr);
        out.stdout
    }

    /// `git add -A` and commit everything.
    pub fn commit_all(&self, message: &str) {
        self.git(["add", "-A"]);
        self.git([
            "commit",
            "-q",
            "--no-gpg-sign",
            "--allow-empty",
            "-m",
            message,
        ]);
    }

    /// Run a tool in the repository.
    pub fn run<I, S>(&self, program: &Path, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(self.path(), program, args)
    }
}

impl Default for Repo {
    fn default() -> Self {
        Repo::new()
    }
}

/// SplitMix64: a tiny deterministic generator for reproducible generated trees and configs.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `true` with the given percentage.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One item of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// `covered/total` from a coverage report (`✓ 3/4 files covered (75.0%)` or `3/4 files
/// covered (75.0%)`), the figures both tools print last.
pub fn coverage_figures(stdout: &str) -> Option<(usize, usize)> {
    let line = stdout.lines().rev().find(|l| l.contains("files covered"))?;
    let fraction = line
        .split_whitespace()
        .find(|w| w.contains('/') && w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let (a, b) = fraction.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Run `f` over `items` on `threads` threads (work stealing from a shared index), returning the
/// results in item order. Differential tests spend most of their time waiting on `pa`, which
/// starts a Python interpreter per call, so cases run side by side.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    *results[i].lock().expect("no poisoned result") = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("no poisoned result")
                .expect("every item ran")
        })
        .collect()
}
