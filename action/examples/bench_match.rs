//! End-to-end matching benchmark: `codereview match` against PullApprove's `pa match` on the
//! same generated repository, plus in-memory matching of many paths.
//!
//! ```text
//! cargo build --release --workspace
//! cargo run --release --example bench_match -- [--files 20000] [--runs 5] [--pa-runs 1]
//!                                              [--paths 1000000] [--no-pa] [--keep DIR]
//! ```
//!
//! It writes a git repository of `--files` files with a large multi-scope config (see
//! `benches/support`), times the release `codereview match` binary `--runs` times (wall clock,
//! output to a pipe), times `pa match` `--pa-runs` times when `pa` is on `PATH` (about a minute
//! per run on 20k files), compares the two outputs line by line, then matches `--paths`
//! generated paths through `Matcher::match_path`. `--keep DIR` writes the repository to DIR and
//! leaves it there, for profiling. Figures are recorded in `docs/benchmarks.md`.

#![allow(clippy::unwrap_used)] // a example: a failed unwrap is a failed run, with its location

#[path = "../benches/support/mod.rs"]
mod support;

use codereview_policy::config::{ConfigFile, RawSet};
use codereview_policy::matching::Matcher;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Options {
    files: usize,
    runs: usize,
    pa_runs: usize,
    paths: usize,
    keep: Option<PathBuf>,
}

fn parse_options() -> Options {
    let mut o = Options {
        files: 20_000,
        runs: 5,
        pa_runs: 1,
        paths: 1_000_000,
        keep: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--files" => o.files = number("--files"),
            "--runs" => o.runs = number("--runs").max(1),
            "--pa-runs" => o.pa_runs = number("--pa-runs"),
            "--paths" => o.paths = number("--paths"),
            "--no-pa" => o.pa_runs = 0,
            "--keep" => o.keep = Some(args.next().expect("--keep needs a directory").into()),
            other => panic!("unknown argument {other}; see the doc comment of bench_match.rs"),
        }
    }
    o
}

/// The `codereview` binary built next to this example (`target/<profile>/codereview`).
fn codereview_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("examples live in target/<profile>/examples");
    let bin = profile_dir.join(format!("codereview{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --release --workspace` first",
        bin.display()
    );
    bin
}

/// Run `program match` in `repo`; returns the wall time and stdout.
fn time_match(program: &Path, repo: &Path) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let out = Command::new(program)
        .arg("match")
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{} cannot run: {e}", program.display()));
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "{} match failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (elapsed, out.stdout)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

fn summary(times: &[Duration]) -> String {
    let mut sorted: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    format!(
        "median {median:.3} s, min {:.3} s, max {:.3} s over {} run(s)",
        sorted[0],
        sorted[sorted.len() - 1],
        sorted.len()
    )
}

fn main() {
    let o = parse_options();
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = match &o.keep {
        Some(keep) => {
            assert!(!keep.exists(), "--keep {} already exists", keep.display());
            std::fs::create_dir_all(keep).expect("create --keep directory");
            keep.as_path()
        }
        None => dir.path(),
    };
    let start = Instant::now();
    let files = support::write_repo(repo, o.files);
    println!(
        "repository: {} files, {} config files, {} scopes declared ({:.1} s to generate)",
        files.len(),
        support::configs().len(),
        support::scope_count(),
        start.elapsed().as_secs_f64()
    );

    let binary = codereview_binary();
    // One warm-up run so both tools start from a warm page cache.
    let (_, ours) = time_match(&binary, repo);
    let mut times = Vec::new();
    for _ in 0..o.runs {
        times.push(time_match(&binary, repo).0);
    }
    println!("codereview match: {}", summary(&times));

    if o.pa_runs > 0 {
        match which("pa") {
            None => println!("pa match: skipped (pa is not on PATH)"),
            Some(pa) => {
                let mut pa_times = Vec::new();
                let mut theirs = Vec::new();
                for _ in 0..o.pa_runs {
                    let (t, out) = time_match(&pa, repo);
                    pa_times.push(t);
                    theirs = out;
                }
                println!("pa match:         {}", summary(&pa_times));
                let ours = String::from_utf8_lossy(&ours);
                let theirs = String::from_utf8_lossy(&theirs);
                let differing = ours
                    .lines()
                    .zip(theirs.lines())
                    .filter(|(a, b)| a != b)
                    .count()
                    + ours.lines().count().abs_diff(theirs.lines().count());
                if differing == 0 {
                    println!("outputs: identical ({} lines)", ours.lines().count());
                } else {
                    println!(
                        "outputs: {differing} of {} lines differ (first: {:?})",
                        ours.lines().count(),
                        ours.lines().zip(theirs.lines()).find(|(a, b)| a != b)
                    );
                }
            }
        }
    }

    if o.paths > 0 {
        let set = RawSet::parse(
            support::configs()
                .into_iter()
                .map(|(path, text)| ConfigFile { path, text }),
        )
        .and_then(|raw| raw.compile(None))
        .expect("the generated configs are valid");
        // The matcher first: compiling after a million strings were allocated is several times
        // slower (a fragmented heap), which is not what a real run sees.
        let start = Instant::now();
        let matcher = Matcher::new(&set).expect("compiles");
        let compiled = start.elapsed();
        let start = Instant::now();
        let paths = support::paths(o.paths);
        let generated = start.elapsed();
        let start = Instant::now();
        let mut owners = 0usize;
        for path in &paths {
            let m = matcher.match_path(path);
            owners += m.scopes.len() + m.code_scopes.len();
        }
        let matched = start.elapsed();
        println!(
            "in memory: {} paths matched in {:.3} s ({:.0} paths/s; {} owner entries; matcher built in {:.3} s; paths generated in {:.1} s)",
            paths.len(),
            matched.as_secs_f64(),
            paths.len() as f64 / matched.as_secs_f64(),
            owners,
            compiled.as_secs_f64(),
            generated.as_secs_f64()
        );
    }
}
