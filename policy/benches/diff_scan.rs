//! `code` scopes over a large pull request (criterion): a 10 MB unified diff parsed and scanned
//! by 100 `code` regexes, the bound issue 11 asks for (≤ 2 s on the CI machine).
//!
//! Run with `cargo bench --workspace --bench diff_scan`. Under `cargo test` each benchmark runs
//! once on a 100 KB diff. Figures are in `docs/benchmarks.md`.

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run, with its location

use codereview_policy::config::{ConfigFile, RawSet};
use codereview_policy::diff;
use codereview_policy::matching::{Content, Matcher};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

/// Whether criterion is measuring (`cargo bench`) rather than smoke-testing (`cargo test`).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// One config with 100 `code` scopes over JavaScript, Python and SQL files: mostly plain
/// regexes (run by the regex crate), one in ten with a look-around (fancy-regex's backtracker).
fn config() -> String {
    let mut text = String::from("[[scopes]]\nname = \"default\"\npaths = [\"**/*\"]\n");
    for i in 0..100 {
        let pattern = match i % 10 {
            0 => format!(r"^\+(?!.*test).*secret_{i}\("),
            1 => format!(r"(?i)^\+.*\bdrop\s+table\s+t{i}\b"),
            2 => format!(r"^[+-].*\bcall_{i}\s*\("),
            3 => format!(r"^\+\s*import\s+mod{i}\b"),
            4 => format!(r"^\+.*eval\(.*{i}"),
            5 => format!(r"TODO\({i}\)"),
            6 => format!(r"^\+.*password{i}\s*="),
            7 => format!(r"(?m)^\+.*\bexec_{i}\(.*\)$"),
            8 => format!(r"^-.*\bremoved_{i}\b"),
            _ => format!(r"^\+.*(?:unsafe|danger)_{i}"),
        };
        let _ = write!(
            text,
            "\n[[scopes]]\nname = \"code{i}\"\npaths = [\"**/*.{{js,py,sql}}\"]\ncode = ['{pattern}']\n"
        );
    }
    text
}

/// A unified diff of about `bytes` bytes: files of 400 lines (100 added, 100 removed, 200
/// context) of ~60-character code lines, some of which the regexes match.
fn diff_text(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 64 * 1024);
    let mut file = 0;
    while text.len() < bytes {
        let ext = ["js", "py", "sql"][file % 3];
        let path = format!("src/module{}/file{file}.{ext}", file % 50);
        let _ = write!(
            text,
            "diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n@@ -1,300 +1,300 @@\n"
        );
        for line in 0..400 {
            let prefix = match line % 4 {
                0 => '+',
                1 => '-',
                _ => ' ',
            };
            let call = if line % 97 == 0 {
                format!("call_{}(x)", line % 100)
            } else {
                format!("helper_{line}(x)")
            };
            let _ = writeln!(
                text,
                "{prefix}    const value_{line} = compute({call}, {file}, 'some text');"
            );
        }
        file += 1;
    }
    text
}

fn scan(c: &mut Criterion) {
    let set = RawSet::parse([ConfigFile {
        path: "CODEREVIEW.toml".to_string(),
        text: config(),
    }])
    .and_then(|raw| raw.compile(None))
    .expect("the generated config is valid");
    let matcher = Matcher::new(&set).expect("compiles");
    let bytes = if measuring() { 10 << 20 } else { 100 << 10 };
    let text = diff_text(bytes);
    let mut group = c.benchmark_group("diff_scan");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_10MB", |b| {
        b.iter(|| diff::parse_diff(black_box(&text)).len())
    });
    let files = diff::parse_diff(&text);
    group.bench_function("match_100_code_regexes", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|f| matcher.match_file(&f.path, Content::of_diff(f)).lines.len())
                .sum::<usize>()
        })
    });
    group.bench_function("parse_and_match", |b| {
        b.iter(|| {
            diff::parse_diff(black_box(&text))
                .iter()
                .map(|f| matcher.match_file(&f.path, Content::of_diff(f)).lines.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
