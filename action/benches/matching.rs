//! Matching benchmarks (criterion): `Matcher::match_path` over many generated paths, and the
//! release `codereview match` binary end to end on a generated 20k-file repository.
//!
//! Run with `cargo bench --workspace --bench matching`. Under `cargo test` (criterion's test
//! mode, no `--bench` argument) each benchmark runs once on a small workload so the build and the
//! code path are checked without the cost. The comparison with PullApprove's `pa` is in
//! `examples/bench_match.rs`; figures are in `docs/benchmarks.md`.

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run, with its location

mod support;

use codereview_policy::config::{ConfigFile, ConfigSet, RawSet};
use codereview_policy::matching::Matcher;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

/// Whether criterion is measuring (`cargo bench`) rather than smoke-testing (`cargo test`).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn config_set() -> ConfigSet {
    RawSet::parse(
        support::configs()
            .into_iter()
            .map(|(path, text)| ConfigFile { path, text }),
    )
    .and_then(|raw| raw.compile(None))
    .expect("the generated configs are valid")
}

fn match_paths(c: &mut Criterion) {
    let set = config_set();
    let matcher = Matcher::new(&set).expect("compiles");
    let n = if measuring() { 1_000_000 } else { 1_000 };
    let paths = support::paths(n);
    let mut group = c.benchmark_group("match_path");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(paths.len() as u64));
    group.bench_function(BenchmarkId::from_parameter(paths.len()), |b| {
        b.iter(|| {
            let mut owners = 0usize;
            for path in &paths {
                let m = matcher.match_path(black_box(path));
                owners += m.scopes.len() + m.code_scopes.len();
            }
            owners
        })
    });
    group.finish();
}

fn build_matcher(c: &mut Criterion) {
    let set = config_set();
    c.bench_function("matcher_new", |b| {
        b.iter(|| Matcher::new(black_box(&set)).expect("compiles"))
    });
}

fn match_command(c: &mut Criterion) {
    let n = if measuring() { 20_000 } else { 200 };
    let dir = tempfile::tempdir().expect("temp dir");
    support::write_repo(dir.path(), n);
    let mut group = c.benchmark_group("codereview_match");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("files", n), |b| {
        b.iter(|| {
            let out = Command::new(env!("CARGO_BIN_EXE_codereview"))
                .arg("match")
                .current_dir(dir.path())
                .output()
                .expect("codereview runs");
            assert!(out.status.success(), "{out:?}");
            out.stdout.len()
        })
    });
    group.finish();
}

criterion_group!(benches, match_paths, build_matcher, match_command);
criterion_main!(benches);
