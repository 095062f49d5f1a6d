//! Robustness: whatever text is in a `CODEREVIEW*.toml` and whatever paths and contents a
//! repository holds, the engine answers with a result or a located error, and never panics.
//!
//! `codereview check` runs on every pull request's base branch, so a config that crashes the
//! engine would block every review of a repository. These property tests feed it random TOML,
//! truncations and byte flips of valid configs, random config sets with `extends`, random globs
//! and regexes, and random paths and contents through the [`Matcher`]:
//! - nothing panics;
//! - every error has a non-empty message, a file, and a line and column (both at least 1) that
//!   lie inside the file;
//! - whatever compiles can be turned into a [`Matcher`], and matching returns valid indices.
//!
//! Seeds are fixed (reproducible in CI); `PROPTEST_CASES` raises the number of cases.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use codereview_policy::config::{ConfigErrors, ConfigFile, ConfigSet, RawSet, Teams};
use codereview_policy::diff::{DiffLine, Hunk, LineKind};
use codereview_policy::matching::{Content, Matcher};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// A realistic config touching every key, used as the seed for mutations.
const VALID: &str = r#"extends = ["CODEREVIEW-base.toml"]

[aliases]
team = ["alice", "$leads", "@acme/core"]
leads = ["bob"]
code = ["src/**", "lib/{a,b}/*.py"]

[large_scale_change]
require = 2
reviewers = ["$team"]
labels = ["lsc"]

[[scopes]]
name = "default"
paths = ["**/*", "!**/*.md"]
reviewers = ["$team", "!bob"]
require = 1

[[scopes]]
name = "code"
paths = ["$code"]
code = ["(?i)todo", "^\\+.*DROP TABLE", "[[:alpha:]]{2,}$"]
ownership = "append"
unless = ["github-actions/tests"]
checklist = { items = [{ label = "Tests", required = true, notes = "optional" }] }

[[scopes]]
name = "sec"
paths = ["src/**/auth/**", "{a..c}/x{1..3}"]
ownership = "global"
require = 1
reviewers = ["carol"]
alternates = ["dave"]
cc = ["erin"]
"#;

const BASE: &str = r#"template = true

[[scopes]]
name = "base"
paths = ["docs/**"]
"#;

fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(384),
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xC0DE_4EED),
        ..Config::default()
    }
}

fn file(path: &str, text: &str) -> ConfigFile {
    ConfigFile {
        path: path.to_string(),
        text: text.to_string(),
    }
}

/// Every error must say what is wrong and point inside its file.
fn assert_located(errors: &ConfigErrors, files: &[ConfigFile]) {
    assert!(!errors.0.is_empty(), "an Err carries at least one error");
    for e in &errors.0 {
        assert!(!e.message.trim().is_empty(), "empty message: {e:?}");
        assert!(e.line >= 1 && e.column >= 1, "line/column below 1: {e:?}");
        let text = files
            .iter()
            .find(|f| f.path == e.file)
            .map(|f| f.text.as_str())
            .unwrap_or_else(|| panic!("error names an unknown file: {e:?}"));
        let lines: Vec<&str> = text.split('\n').collect();
        assert!(e.line <= lines.len(), "line past the end: {e:?}");
        let width = lines[e.line - 1].chars().count();
        assert!(e.column <= width + 1, "column past the line: {e:?}");
    }
}

/// Parse, compile offline and with teams, and match: no panics, located errors.
fn exercise(files: Vec<ConfigFile>, paths: &[String]) {
    match RawSet::parse(files.clone()) {
        Err(errors) => assert_located(&errors, &files),
        Ok(raw) => {
            let mut teams = Teams::new();
            teams.insert("acme/core".into(), vec!["zed".into()]);
            if let Err(errors) = raw.compile(Some(&teams)) {
                assert_located(&errors, &files);
            }
            match raw.compile(None) {
                Err(errors) => assert_located(&errors, &files),
                Ok(set) => match_everything(&set, paths),
            }
        }
    }
}

fn match_everything(set: &ConfigSet, paths: &[String]) {
    let matcher = Matcher::new(set).expect("a compiled config set always builds a matcher");
    let hunk = Hunk {
        lines: vec![
            DiffLine {
                kind: LineKind::Context,
                line: 1,
                text: "todo".into(),
            },
            DiffLine {
                kind: LineKind::Added,
                line: 2,
                text: "DROP TABLE x".into(),
            },
        ],
    };
    for path in paths {
        for content in [
            Content::None,
            Content::Text("a TODO\nb\r\nDROP TABLE\n"),
            Content::Diff(std::slice::from_ref(&hunk)),
        ] {
            let fm = matcher.match_file(path, content);
            if let Some(ci) = fm.config {
                let n = set.configs[ci].scopes.len();
                assert!(fm.all_scopes().iter().all(|&s| s < n));
                for l in &fm.lines {
                    assert!(l.start_line >= 1 && l.start_line <= l.end_line);
                }
            } else {
                assert!(fm.scopes.is_empty() && fm.lines.is_empty());
            }
        }
    }
}

/// TOML-ish text: keys, punctuation, strings and values of this format.
fn toml_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[[scopes]]\n".to_string()),
        Just("[aliases]\n".to_string()),
        Just("[large_scale_change]\n".to_string()),
        Just("name = ".to_string()),
        Just("paths = ".to_string()),
        Just("code = ".to_string()),
        Just("extends = ".to_string()),
        Just("reviewers = ".to_string()),
        Just("require = ".to_string()),
        Just("ownership = ".to_string()),
        Just("template = ".to_string()),
        Just("checklist = { items = [{ label = \"x\" }] }\n".to_string()),
        Just("\"**/*\"".to_string()),
        Just("\"$a\"".to_string()),
        Just("[\"a\", \"b\"]".to_string()),
        Just("\"CODEREVIEW-base.toml\"".to_string()),
        Just("\"append\"".to_string()),
        Just("\"global\"".to_string()),
        Just("'(a+)+'".to_string()),
        Just("\"é\"".to_string()),
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("\"1\"".to_string()),
        Just("true".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("= ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(",".to_string()),
        Just("\"".to_string()),
        Just("'''".to_string()),
        Just("\"\"\"".to_string()),
        Just("#".to_string()),
        Just("\\".to_string()),
        "[a-z$!@*/.{}\\[\\]\\\\-]{1,6}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Paths: segments with dots, case, glob characters and non-ASCII letters.
fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("src".to_string()),
            Just("docs".to_string()),
            Just("auth".to_string()),
            Just(".github".to_string()),
            Just("a".to_string()),
            Just("x1".to_string()),
            Just("README.md".to_string()),
            Just("main.py".to_string()),
            "[a-zA-Z0-9._{}\\[\\]*?!é -]{1,8}",
        ],
        1..6,
    )
    .prop_map(|segments| segments.join("/"))
}

proptest! {
    #![proptest_config(config())]

    /// Random TOML-ish text as the root config, next to a valid base it may extend.
    #[test]
    fn random_toml_never_panics(text in toml_text(), paths in prop::collection::vec(path(), 1..6)) {
        exercise(
            vec![file("CODEREVIEW.toml", &text), file("CODEREVIEW-base.toml", BASE)],
            &paths,
        );
    }

    /// Every truncation of a valid config (by characters).
    #[test]
    fn truncated_configs_never_panic(cut in 0usize..VALID.chars().count()) {
        let text: String = VALID.chars().take(cut).collect();
        exercise(
            vec![file("CODEREVIEW.toml", &text), file("CODEREVIEW-base.toml", BASE)],
            &["src/auth/x.py".to_string(), "docs/a.md".to_string()],
        );
    }

    /// A valid config with bytes replaced, inserted or deleted (kept valid UTF-8 by working on
    /// ASCII replacements and char boundaries).
    #[test]
    fn mutated_configs_never_panic(
        edits in prop::collection::vec((0usize..VALID.len(), 0u8..3, prop::char::range(' ', '~')), 1..6),
        paths in prop::collection::vec(path(), 1..4),
    ) {
        let mut text = VALID.to_string();
        for (at, op, c) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match op {
                0 if at < text.len() => {
                    let next = text[at..].chars().next().map_or(0, char::len_utf8);
                    text.replace_range(at..at + next, &c.to_string());
                }
                1 => text.insert(at, c),
                _ if at < text.len() => {
                    let next = text[at..].chars().next().map_or(0, char::len_utf8);
                    text.replace_range(at..at + next, "");
                }
                _ => {}
            }
        }
        exercise(
            vec![file("CODEREVIEW.toml", &text), file("CODEREVIEW-base.toml", BASE)],
            &paths,
        );
    }

    /// Random config sets: nested configs and extends between them, cycles and escapes included.
    #[test]
    fn random_config_sets_never_panic(
        configs in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "CODEREVIEW.toml", "src/CODEREVIEW.toml", "src/auth/CODEREVIEW.toml",
                    "CODEREVIEW-a.toml", "t/CODEREVIEW-b.toml", "docs/CODEREVIEW.toml",
                ]),
                prop::sample::select(vec![
                    "", "CODEREVIEW.toml", "/CODEREVIEW-a.toml", "../CODEREVIEW.toml",
                    "../../CODEREVIEW-a.toml", "../t/CODEREVIEW-b.toml", "CODEREVIEW-a.toml",
                    "/t/CODEREVIEW-b.toml", "../../../CODEREVIEW.toml", "CODEREVIEW-missing.toml",
                ]),
                any::<bool>(),
                prop::collection::vec(
                    prop::sample::select(vec![
                        "**/*", "*.py", "/src/**", "!**/*.md", "$code", "{a,b}/**", "\\\\*",
                        "[a-c]?", "**/", "**", "{1..600}", "x{1..2}",
                    ]),
                    1..4,
                ),
            ),
            1..6,
        ),
        paths in prop::collection::vec(path(), 1..5),
    ) {
        let mut files: Vec<ConfigFile> = Vec::new();
        for (i, (path, extends, template, globs)) in configs.into_iter().enumerate() {
            if files.iter().any(|f| f.path == path) {
                continue;
            }
            let mut text = String::new();
            if !extends.is_empty() {
                text.push_str(&format!("extends = [\"{extends}\"]\n"));
            }
            if template {
                text.push_str("template = true\n");
            }
            text.push_str("[aliases]\ncode = [\"src/**\"]\n");
            let quoted: Vec<String> = globs.iter().map(|g| format!("\"{g}\"")).collect();
            text.push_str(&format!(
                "[[scopes]]\nname = \"s{i}\"\npaths = [{}]\n",
                quoted.join(", ")
            ));
            files.push(file(path, &text));
        }
        exercise(files, &paths);
    }

    /// Any glob compiles into a glob set (its regexes are valid), unless it expands to too
    /// many patterns; matching with it never panics.
    #[test]
    fn any_glob_compiles_into_a_set(glob in "[a-c/*?!.\\[\\]{},\\\\^:-]{0,16}|[[:print:]]{0,12}") {
        match codereview_policy::glob::GlobSet::new(&[&glob]) {
            Ok(set) => {
                let _ = set.is_match("a/b.c");
                let _ = set.is_match("A/\u{212A}.c");
            }
            Err(e) => prop_assert!(e.0.contains("expands to more than"), "{glob:?}: {e}"),
        }
    }

    /// Any regex text is either rejected with a message or compiles; never a panic.
    #[test]
    fn any_code_regex_is_checked_without_panicking(pattern in "[a-c()\\[\\]{}?*+|^$\\\\.:<>=!#PpxdswbZz0-9, -]{0,14}|[[:print:]]{0,12}") {
        match codereview_policy::config::validate::check_code_regex(&pattern) {
            Ok(()) => {
                codereview_policy::config::validate::compile_code_regex(&pattern)
                    .unwrap_or_else(|e| panic!("checked but does not compile: {e}"));
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }
}
