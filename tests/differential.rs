//! Differential test: the `codereview` binary against PullApprove's reference CLI `pa` on real git
//! repositories.
//!
//! DESIGN §1: "Our matching must give the same answer as theirs on the same repo." Every case
//! below builds a real repository in a temporary directory (a generated tree of files plus
//! hand-written or generated `CODEREVIEW*.toml` files), commits it, and runs the same commands
//! through both tools:
//! - `check`: the exit status (pass/fail) must agree; for invalid configs both must fail, and ours
//!   must point at the offending spot as `file:line:col`;
//! - `match`, `match --by-scope`, `match PATHS`, `match --scope S` (by path and by scope) and, after
//!   modifying the working tree, `match --changed`: stdout byte for byte, and the exit status;
//! - `coverage`: the covered/total figures.
//!
//! Known PullApprove behaviours we deliberately do not copy are kept out of the cases and listed
//! in [`EXCLUDED`], with the reason; each is a crash or an obvious bug in `pa`.
//!
//! The test skips (and passes) with a message when `pa` is not on `PATH`; CI installs it.
//! `pa` starts a Python interpreter per call (~0.3 s), so cases run on several threads.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use codereview_e2e::{Output, Repo, Rng, codereview_bin, coverage_figures, pa, parallel_map};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// PullApprove behaviours the cases avoid on purpose, because copying them would be wrong. Each
/// was observed with pullapprove 5.19.0.
pub const EXCLUDED: &[(&str, &str)] = &[
    (
        "staged-only changes in `match --changed`",
        "pa parses `git status --porcelain` by splitting at the first space, so a staged-only \
         change (`M  path`, `A  path`) becomes ` path` with a leading space: it prints that \
         name and crashes when a code scope reads it. Cases modify files without staging them.",
    ),
    (
        "deleted files",
        "pa's `match` lists a deleted tracked file twice (`git ls-files --cached --deleted`) and \
         crashes (FileNotFoundError) when a code scope's paths match a deleted file. Only the \
         `--changed` case deletes a file, and no code scope matches it.",
    ),
    (
        "file names git quotes",
        "pa reads `git ls-files` and `git status` without `-z`, so names git C-quotes (tabs, \
         quotes, backslashes; spaces in `git status`; non-ASCII unless core.quotepath=false) \
         reach its matcher with quotes and escapes. Test repositories set core.quotepath=false, \
         changed files have plain names, and no file name holds a backslash or a tab.",
    ),
    (
        "`pa match .`",
        "pa prints `No files found.` for `.` (it looks for files starting with `./`); we list \
         the whole repository.",
    ),
    (
        "the same path given twice to `match PATHS`",
        "pa lists the file twice; we list it once.",
    ),
    (
        "configs git ignores",
        "pa's `check` walks the file system, so it also reads CODEREVIEW files that .gitignore \
         excludes (e.g. inside node_modules or build output) and uses them to match; we read \
         what git sees, which is what exists on a pull request's base branch.",
    ),
    (
        "glob lists over 1000 expansions, variable-width look-behind in `code`",
        "pa's `check` accepts them and its `match` then raises on every file; our `check` \
         rejects them (see the `limit-*` and `code-lookbehind` cases).",
    ),
    (
        "lenient counts and flags",
        "pa validates with pydantic's lax mode and accepts `require = \"2\"`, `request = 2.0`, \
         `require = true`, `template = \"yes\"`, checklist `required = \"no\"`, a whitespace \
         label and the item keys `checked`/`notes_value`. We keep rejecting them because our \
         validation-error table (action/tests/config_errors.rs) requires these errors; the case \
         `lenient-counts-and-flags` checks the divergence so that changing either side is \
         deliberate.",
    ),
    (
        "a template root config",
        "pa's `match` crashes when `CODEREVIEW.toml` at the root is a template (no config \
         governs the files).",
    ),
];

/// A command to run through both tools.
#[derive(Debug, Clone)]
enum Query {
    /// `check`: exit statuses must agree.
    Check,
    /// `match ARGS...`: stdout and exit statuses must agree. Runs on the clean, committed tree.
    Match(Vec<String>),
    /// `coverage`: covered/total must agree.
    Coverage,
    /// After applying the case's changes to the working tree: `match --changed ARGS...`.
    Changed(Vec<String>),
    /// A documented divergence (see [`EXCLUDED`]): `pa check` passes and `pa match` crashes.
    /// Ours must fail `check` at the case's [`Expect`] or, without one, pass `check` and
    /// `match`.
    PaCrashes,
    /// A documented divergence (see [`EXCLUDED`]): `pa check` and `pa match` pass; ours must
    /// fail `check` at the case's [`Expect`].
    PaAccepts,
}

/// A change to the working tree after the commit (never staged; see [`EXCLUDED`]).
#[derive(Debug, Clone)]
enum Change {
    /// Overwrite (or create, untracked) a file.
    Write(String, String),
    /// Delete a tracked file from the working tree.
    Remove(String),
}

/// Where our `check` must point for an invalid config: in `file`, the first occurrence of
/// `token` with any `»` removed; the location is that of the character after `»` (or of the
/// token's first character without one).
#[derive(Debug, Clone)]
struct Expect {
    file: &'static str,
    token: &'static str,
}

/// One repository and the commands to compare on it.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    /// Include the generated tree of files.
    tree: bool,
    /// Extra files (configs and others), written after the tree.
    files: Vec<(String, String)>,
    queries: Vec<Query>,
    changes: Vec<Change>,
    /// `Some` for invalid configs: both tools must fail `check`.
    invalid: Option<Expect>,
    /// Files written after the commit (untracked, not ignored).
    untracked: Vec<(String, String)>,
}

impl Case {
    /// A valid config case on the generated tree: `check`, `match` and `match --by-scope`.
    ///
    /// `pa match` starts by running `pa check` (quietly) and fails when it fails, so its exit
    /// status is `pa check`'s verdict: our `check` is compared with it, which spares one Python
    /// start per case.
    fn valid(name: &str, files: &[(&str, &str)]) -> Case {
        Case {
            name: name.to_string(),
            tree: true,
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
            queries: vec![Query::Match(vec![]), Query::Match(args(&["--by-scope"]))],
            changes: vec![],
            invalid: None,
            untracked: vec![],
        }
    }

    /// An invalid config case: both tools must fail `check`, ours pointing at `token` in `file`.
    fn invalid(
        name: &str,
        files: &[(&str, &str)],
        file: &'static str,
        token: &'static str,
    ) -> Case {
        Case {
            name: name.to_string(),
            tree: false,
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
            queries: vec![Query::Check],
            changes: vec![],
            invalid: Some(Expect { file, token }),
            untracked: vec![],
        }
    }

    fn with(mut self, query: Query) -> Case {
        self.queries.push(query);
        self
    }

    fn with_coverage(self) -> Case {
        self.with(Query::Coverage)
    }

    fn with_untracked(mut self, files: &[(&str, &str)]) -> Case {
        self.untracked = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        self
    }

    fn changing(mut self, changes: Vec<Change>) -> Case {
        self.changes = changes;
        self
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn write(path: &str, text: &str) -> Change {
    Change::Write(path.to_string(), text.to_string())
}

// ---------------------------------------------------------------------------------------------
// The generated tree
// ---------------------------------------------------------------------------------------------

/// Directories of the generated tree: nesting, dot directories, case twins (`lib`, `Lib`).
const DIRS: &[&str] = &[
    "",
    "src",
    "src/api",
    "src/api/v1",
    "src/web",
    "docs",
    "docs/guides",
    ".github",
    ".github/workflows",
    "lib",
    "Lib",
    "tests",
    "tests/unit",
    "vendor/pkg",
    "a/b/c/d",
    "infra/terraform",
    "app/models",
];

/// File names: extensions in both cases, dotfiles, names with glob characters, a space and
/// non-ASCII letters.
const NAMES: &[&str] = &[
    "main.py",
    "util.py",
    "README.md",
    "index.js",
    "App.JS",
    "style.css",
    ".env",
    ".eslintrc.json",
    "package.json",
    "Makefile",
    "util_test.go",
    "x1.txt",
    "x2.txt",
    "x10.txt",
    "data.csv",
    "CHANGELOG",
    "[id].tsx",
    "{a}.txt",
    "a b.txt",
    "café.md",
    "UPPER.PY",
    "schema.sql",
    "Dockerfile",
    ".gitkeep",
    "ci.yml",
];

/// Lines for file contents, so `code` regexes find something (and sometimes several things on
/// one line, at the start, at the end, across lines).
const LINES: &[&str] = &[
    "import os",
    "# TODO: tidy up",
    "def f():",
    "    return 1",
    "password = 'hunter2'",
    "DROP TABLE users;",
    "// FIXME later",
    "BEGIN",
    "  body",
    "END",
    "console.log('x')",
    "",
    "TODO",
    "SELECT * FROM t; -- TODO",
    "  # todo lower",
    "café = 'TODO' # TODO twice",
    "secret_key = \"abc\"",
];

/// The generated tree: about 60 files, the same for every case (fixed seed).
fn tree() -> Vec<(String, String)> {
    let mut rng = Rng(0x7EE5);
    let mut files = Vec::new();
    for dir in DIRS {
        let count = 2 + rng.below(3);
        let mut names: Vec<&str> = Vec::new();
        while names.len() < count {
            let name = *rng.pick(NAMES);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        for name in names {
            let path = if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            };
            let lines = 2 + rng.below(6);
            let mut text: String = (0..lines)
                .map(|_| *rng.pick(LINES))
                .collect::<Vec<_>>()
                .join("\n");
            text.push('\n');
            files.push((path, text));
        }
    }
    // Fixed files the hand-written cases rely on.
    for (path, text) in [
        (
            "src/api/v1/handlers.py",
            "import os\n# TODO: auth\nDROP TABLE x;\n",
        ),
        ("src/api/v1/.hidden/secret.txt", "password = 1\n"),
        ("docs/guides/intro.md", "# Intro\nTODO write\n"),
        ("web/app.js", "console.log('x') // TODO\n"),
        ("web/sub/app.js", "// FIXME\n"),
        ("x1.txt", "one\n"),
        ("x3.txt", "three\n"),
        ("CHANGELOG.md", "## 1.0\n"),
        (".gitignore", "*.log\nbuild/\n"),
        ("build/out.bin", "ignored\n"),
        ("debug.log", "ignored\n"),
        ("svc1/main.go", "package main // TODO\n"),
        ("svc1/README.md", "svc1\n"),
        ("svc2/main.go", "package main\n"),
        ("svc2/deep/x.go", "package deep\n"),
        ("shared/rules.txt", "rules\n"),
        ("shared/deep/rules.txt", "rules\n"),
        (
            "windows.txt",
            "line one\r\nTODO at end\r\n  TODO\r\nold mac\rTODO\nlast",
        ),
        ("multi.txt", "BEGIN\n  body\nEND\nBEGIN\nEND\n"),
        ("unicode.txt", "ééé TODO ünï TODO\n"),
    ] {
        files.push((path.to_string(), text.to_string()));
    }
    files
}

// ---------------------------------------------------------------------------------------------
// Hand-written valid configs
// ---------------------------------------------------------------------------------------------

const BASIC: &str = r#"
[[scopes]]
name = "default"
paths = ["**/*"]

[[scopes]]
name = "python"
paths = ["**/*.py"]

[[scopes]]
name = "docs"
paths = ["docs/**", "*.md"]
"#;

fn valid_cases() -> Vec<Case> {
    let mut cases = vec![
        Case::valid("basic-last-scope-wins", &[("CODEREVIEW.toml", BASIC)]),
        Case::valid(
            "nested-config-replaces-parent",
            &[
                ("CODEREVIEW.toml", BASIC),
                (
                    "src/CODEREVIEW.toml",
                    r#"
[[scopes]]
name = "src-py"
paths = ["*.py"]

[[scopes]]
name = "src-api"
paths = ["api/**"]
"#,
                ),
                // An empty config: files under docs/ are governed by it and owned by nobody.
                ("docs/CODEREVIEW.toml", ""),
            ],
        ),
        Case::valid(
            "nested-deep-relative-and-absolute",
            &[
                ("CODEREVIEW.toml", BASIC),
                (
                    "src/api/CODEREVIEW.toml",
                    r#"
[[scopes]]
name = "api-all"
paths = ["**"]

[[scopes]]
name = "abs-docs"
paths = ["/docs/**"]

[[scopes]]
name = "abs-api-py"
paths = ["/src/api/**/*.py"]

[[scopes]]
name = "rel-star"
paths = ["*.py", "v1/*"]
"#,
                ),
            ],
        ),
        Case::valid(
            "extends-relative-non-template-base",
            &[
                ("CODEREVIEW.toml", BASIC),
                (
                    "src/CODEREVIEW.toml",
                    r#"
extends = ["CODEREVIEW-base.toml"]

[[scopes]]
name = "src-own"
paths = ["web/**"]
"#,
                ),
                // Not a template: its scopes anchor at its own directory (src/).
                (
                    "src/CODEREVIEW-base.toml",
                    r#"
[[scopes]]
name = "base-py"
paths = ["**/*.py"]
"#,
                ),
            ],
        ),
        Case::valid(
            "extends-absolute-template-anchors-at-consumer",
            &[
                (
                    "CODEREVIEW.toml",
                    r#"
extends = ["/CODEREVIEW-shared.toml"]
"#,
                ),
                (
                    "CODEREVIEW-shared.toml",
                    r#"
template = true

[[scopes]]
name = "shared-md"
paths = ["*.md", "**/*.md"]

[[scopes]]
name = "shared-abs"
paths = ["/src/**"]
"#,
                ),
                (
                    "src/api/CODEREVIEW.toml",
                    r#"
extends = ["/CODEREVIEW-shared.toml"]

[[scopes]]
name = "api-own"
paths = ["v1/*.py"]
"#,
                ),
            ],
        ),
        Case::valid(
            "extends-dotdot-parent-config",
            &[
                ("CODEREVIEW.toml", BASIC),
                (
                    "src/api/CODEREVIEW.toml",
                    r#"
# The parent's scopes keep anchoring at the root; ours at src/api/.
extends = ["../../CODEREVIEW.toml"]

[[scopes]]
name = "api"
paths = ["**/*"]
ownership = "append"
"#,
                ),
            ],
        ),
        Case::valid(
            "extends-chain-with-aliases",
            &[
                (
                    "CODEREVIEW.toml",
                    r#"
extends = ["CODEREVIEW-mid.toml"]

[aliases]
# Child wins: replaces the base's definition.
docs = ["**/*.md", "docs/**"]

[[scopes]]
name = "top"
paths = ["$code", "!$tests"]
"#,
                ),
                (
                    "CODEREVIEW-mid.toml",
                    r#"
template = true
extends = ["templates/CODEREVIEW-base.toml"]

[aliases]
code = ["**/*.py", "**/*.go", "$js"]

[[scopes]]
name = "mid-docs"
paths = ["$docs"]
"#,
                ),
                (
                    "templates/CODEREVIEW-base.toml",
                    r#"
template = true

[aliases]
docs = ["nothing/**"]
js = ["**/*.js", "**/*.JS"]
tests = ["tests/**"]

[[scopes]]
name = "base-all"
paths = ["**/*"]
"#,
                ),
            ],
        ),
        Case::valid(
            "extends-diamond",
            &[
                (
                    "CODEREVIEW.toml",
                    r#"
extends = ["CODEREVIEW-left.toml", "CODEREVIEW-right.toml"]
"#,
                ),
                (
                    "CODEREVIEW-left.toml",
                    r#"
template = true
extends = ["CODEREVIEW-base.toml"]

[[scopes]]
name = "left"
paths = ["src/**"]
"#,
                ),
                (
                    "CODEREVIEW-right.toml",
                    r#"
template = true
extends = ["CODEREVIEW-base.toml"]

[[scopes]]
name = "right"
paths = ["src/api/**"]
ownership = "append"
"#,
                ),
                (
                    "CODEREVIEW-base.toml",
                    r#"
template = true

[[scopes]]
name = "base"
paths = ["**/*"]
"#,
                ),
            ],
        ),
        Case::valid(
            "template-shared-by-services",
            &[
                ("CODEREVIEW.toml", BASIC),
                (
                    "templates/CODEREVIEW-svc.toml",
                    r#"
template = true

[[scopes]]
name = "svc-go"
paths = ["**/*.go"]

[[scopes]]
name = "svc-readme"
paths = ["README.md"]
"#,
                ),
                (
                    "svc1/CODEREVIEW.toml",
                    "extends = [\"../templates/CODEREVIEW-svc.toml\"]\n",
                ),
                (
                    "svc2/CODEREVIEW.toml",
                    "extends = [\"/templates/CODEREVIEW-svc.toml\"]\n",
                ),
            ],
        ),
        Case::valid(
            "non-template-base-anchors-at-its-directory",
            &[
                (
                    "CODEREVIEW.toml",
                    r#"
extends = ["shared/CODEREVIEW-rules.toml"]

[[scopes]]
name = "root-txt"
paths = ["**/*.txt"]
ownership = "append"
"#,
                ),
                (
                    "shared/CODEREVIEW-rules.toml",
                    r#"
[[scopes]]
name = "rules"
paths = ["**/*"]
"#,
                ),
            ],
        ),
        Case::valid(
            "template-named-codereview-toml-does-not-govern",
            &[
                ("CODEREVIEW.toml", BASIC),
                (
                    "src/CODEREVIEW.toml",
                    r#"
template = true

[[scopes]]
name = "never"
paths = ["**/*"]
"#,
                ),
            ],
        ),
        Case::valid(
            "aliases-recursive-and-negated-in-paths",
            &[(
                "CODEREVIEW.toml",
                r#"
[aliases]
backend = ["src/**", "$api", "lib/**"]
api = ["src/api/**"]
generated = ["**/*.csv", "$vendored"]
vendored = ["vendor/**"]
team = ["alice", "$leads"]
leads = ["bob"]

[[scopes]]
name = "backend"
paths = ["$backend", "!$generated", "vendor/pkg/*"]
reviewers = ["$team", "!$leads"]
require = 1
"#,
            )],
        ),
        Case::valid(
            "negation",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "all-but-docs"
paths = ["**/*", "!**/*.md", "!docs/**"]

[[scopes]]
name = "only-negative"
paths = ["!**/*.py"]

[[scopes]]
name = "negative-first"
paths = ["!src/api/**", "src/**"]

[[scopes]]
name = "double-bang"
paths = ["!!x1.txt", "x1.txt"]
"#,
            )],
        ),
        Case::valid(
            "braces",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "ext"
paths = ["**/*.{py,js,JS}"]

[[scopes]]
name = "dirs"
paths = ["{src,lib}/**"]

[[scopes]]
name = "nested"
paths = ["{docs,{tests,app}/**}/*.md", "{a/{b,x}/**,zz}/*"]

[[scopes]]
name = "sequence"
paths = ["x{1..3}.txt", "**/x{01..10}.txt"]

[[scopes]]
name = "optional-dot"
paths = ["{,.}github/**", "**/{,.}env"]

[[scopes]]
name = "literal-group"
paths = ["**/{a}.txt"]
"#,
            )],
        ),
        Case::valid(
            "dotfiles",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "star"
paths = ["*"]

[[scopes]]
name = "dot-star"
paths = [".*", "**/.*"]

[[scopes]]
name = "env"
paths = ["**/.env"]

[[scopes]]
name = "github"
paths = [".github/**"]

[[scopes]]
name = "hidden-dir"
paths = ["**/.hidden/*"]
"#,
            )],
        ),
        Case::valid(
            "upper-and-lower-case",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "SRC"
paths = ["SRC/**"]

[[scopes]]
name = "py-upper"
paths = ["**/*.PY"]

[[scopes]]
name = "lib-lower"
paths = ["lib/**"]

[[scopes]]
name = "Lib-upper"
paths = ["Lib/*"]
ownership = "append"

[[scopes]]
name = "cafe"
paths = ["**/CAFÉ.MD"]
"#,
            )],
        ),
        Case::valid(
            "globstar-in-every-position",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "everything"
paths = ["**"]

[[scopes]]
name = "leading"
paths = ["**/x1.txt"]

[[scopes]]
name = "trailing"
paths = ["src/**"]

[[scopes]]
name = "middle"
paths = ["src/**/util.py", "a/**/d/*"]

[[scopes]]
name = "both-ends"
paths = ["**/api/**"]

[[scopes]]
name = "doubled"
paths = ["**/**/*.md", "tests/**/**"]

[[scopes]]
name = "trailing-slash"
paths = ["docs/**/"]

[[scopes]]
name = "pkg"
paths = ["**/*/package.json"]
"#,
            )],
        ),
        Case::valid(
            "star-versus-globstar",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "src-star"
paths = ["src/*"]

[[scopes]]
name = "star-star-dir"
paths = ["src/*/*"]

[[scopes]]
name = "star-py"
paths = ["*/*.py"]

[[scopes]]
name = "root-md"
paths = ["*.md"]

[[scopes]]
name = "glued"
paths = ["a**", "**.txt", "s**/api/*"]
"#,
            )],
        ),
        Case::valid(
            "question-marks-and-classes",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "one-char"
paths = ["x?.txt", "**/x??.txt"]

[[scopes]]
name = "ranges"
paths = ["[a-l]*/**"]

[[scopes]]
name = "negated-class"
paths = ["[!s]*/*.py", "[^dl]*/*.md"]

[[scopes]]
name = "upper-first"
paths = ["**/[A-Z]*"]

[[scopes]]
name = "bracket-names"
paths = ["**/[[]id].tsx"]

[[scopes]]
name = "posix"
paths = ["**/x[[:digit:]].txt"]
"#,
            )],
        ),
        Case::valid(
            "escapes",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "escaped-brace"
paths = ['**/\{a\}.txt']

[[scopes]]
name = "escaped-bracket"
paths = ['**/\[id\].tsx']

[[scopes]]
name = "escaped-space"
paths = ['**/a\ b.txt', "**/a b.txt"]

[[scopes]]
name = "escaped-star"
paths = ['src/\*', 'x\?.txt', 'x\1.txt']

[[scopes]]
name = "escaped-slash"
paths = ['docs\/guides/*']
"#,
            )],
        ),
        Case::valid(
            "ownership-append-before-and-after-primary",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "append-first"
paths = ["src/**"]
ownership = "append"

[[scopes]]
name = "primary-1"
paths = ["**/*"]

[[scopes]]
name = "append-middle"
paths = ["**/*.py"]
ownership = "append"

[[scopes]]
name = "primary-2"
paths = ["src/api/**", "docs/**"]

[[scopes]]
name = "append-last"
paths = ["**/*.md"]
ownership = "append"
"#,
            )],
        ),
        Case::valid(
            "ownership-several-globals",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "security"
paths = ["src/**"]
ownership = "global"
require = 1
reviewers = ["sec"]

[[scopes]]
name = "default"
paths = ["**/*"]

[[scopes]]
name = "admins"
paths = ["**/*"]
ownership = "global"
require = 1
reviewers = ["root"]

[[scopes]]
name = "py"
paths = ["**/*.py"]

[[scopes]]
name = "extra"
paths = ["**/*.py", "docs/**"]
ownership = "append"
"#,
            )],
        ),
        Case::valid(
            "code-scopes-basic",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "default"
paths = ["**/*"]

[[scopes]]
name = "todo"
paths = ["**/*"]
code = ["TODO"]

[[scopes]]
name = "sql"
paths = ["**/*.sql", "**/*.py"]
code = ["(?i)drop\\s+table", "^SELECT"]

[[scopes]]
name = "line-end"
paths = ["**/*"]
code = ["twice$", "^import os$"]

[[scopes]]
name = "blocks"
paths = ["multi.txt", "**/*.py"]
code = ["BEGIN[\\s\\S]*?END", "(?s)def f.*?return"]
"#,
            )],
        ),
        Case::valid(
            "code-scopes-same-location",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "todo-a"
paths = ["**/*"]
code = ["TODO"]

[[scopes]]
name = "todo-append"
paths = ["**/*.py", "unicode.txt"]
code = ["TODO"]
ownership = "append"

[[scopes]]
name = "todo-b"
paths = ["src/**", "unicode.txt"]
code = ["TODO"]

[[scopes]]
name = "todo-global"
paths = ["**/*.md"]
code = ["TODO"]
ownership = "global"
require = 1
reviewers = ["x"]
"#,
            )],
        ),
        Case::valid(
            "code-only-files-and-path-scopes",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "python"
paths = ["**/*.py"]

[[scopes]]
name = "secrets"
paths = ["**/*"]
code = ["password\\s*=", "secret_key"]

[[scopes]]
name = "sql-append"
paths = ["**/*"]
code = ["DROP TABLE"]
ownership = "append"
"#,
            )],
        )
        .with(Query::Match(args(&["--scope", "secrets"])))
        .with(Query::Match(args(&["--by-scope", "--scope", "secrets"]))),
        Case::valid(
            "code-crlf-unicode-and-empty-matches",
            &[(
                "CODEREVIEW.toml",
                r#"
[[scopes]]
name = "default"
paths = ["**/*"]

[[scopes]]
name = "todo"
paths = ["windows.txt", "unicode.txt"]
code = ["TODO"]

[[scopes]]
name = "eol"
paths = ["windows.txt", "unicode.txt"]
code = ["TODO$", "^last", "mac$"]

[[scopes]]
name = "empty-matches"
paths = ["multi.txt"]
code = ["E*", "^"]
"#,
            )],
        ),
        Case::valid("scope-filters", &[("CODEREVIEW.toml", BASIC)])
            .with(Query::Match(args(&["--scope", "python"])))
            .with(Query::Match(args(&[
                "--scope", "python", "--scope", "docs",
            ])))
            .with(Query::Match(args(&["--by-scope", "--scope", "docs"])))
            .with(Query::Match(args(&["--scope", "nope"])))
            .with(Query::Match(args(&["--by-scope", "--scope", "nope"]))),
        Case::valid("match-paths", &[("CODEREVIEW.toml", BASIC)])
            .with(Query::Match(args(&["src"])))
            .with(Query::Match(args(&["docs/", "web/app.js"])))
            .with(Query::Match(args(&["src/api/v1/handlers.py"])))
            .with(Query::Match(args(&["--by-scope", "src/api", "lib"])))
            .with(Query::Match(args(&["no/such/path"]))),
        Case::valid(
            "changed-files",
            &[
                ("CODEREVIEW.toml", BASIC),
                (
                    "src/CODEREVIEW.toml",
                    r#"
[[scopes]]
name = "src"
paths = ["**/*"]

[[scopes]]
name = "todo"
paths = ["**/*.py"]
code = ["TODO"]
"#,
                ),
            ],
        )
        .changing(vec![
            write("src/api/v1/handlers.py", "# TODO: new\nprint(1)\n"),
            write("src/new_module.py", "x = 1 # TODO\n"),
            write("docs/new.md", "new doc\n"),
            write("untracked/deep/file.txt", "x\n"),
            Change::Remove("x3.txt".into()),
        ])
        .with(Query::Changed(vec![]))
        .with(Query::Changed(args(&["--by-scope"])))
        .with(Query::Changed(args(&["--scope", "todo"]))),
        Case::valid(
            "same-scope-name-in-two-configs",
            &[
                (
                    "CODEREVIEW.toml",
                    r#"
[[scopes]]
name = "owners"
paths = ["**/*"]
"#,
                ),
                (
                    "src/CODEREVIEW.toml",
                    r#"
[[scopes]]
name = "base"
paths = ["**/*"]

[[scopes]]
name = "owners"
paths = ["**/*.py"]
ownership = "append"
"#,
                ),
            ],
        ),
        // Scopes are printed by name, and when two configs use one name the marker printed is
        // the one of the scope that matched last, in the order git lists files (untracked
        // files first).
        Case::valid(
            "same-scope-name-with-untracked-files",
            &[
                (
                    "CODEREVIEW.toml",
                    r#"
[[scopes]]
name = "base"
paths = ["**/*"]

[[scopes]]
name = "owners"
paths = ["zzz.txt", "a/**"]
"#,
                ),
                (
                    "src/CODEREVIEW.toml",
                    r#"
[[scopes]]
name = "owners"
paths = ["**/*.py"]
ownership = "append"
"#,
                ),
            ],
        )
        .with_untracked(&[("zzz.txt", "untracked\n"), ("0-first.txt", "untracked\n")])
        .changing(vec![write("src/api/v1/handlers.py", "changed\n")])
        .with(Query::Changed(vec![]))
        .with(Query::Changed(args(&["--by-scope"]))),
        Case::valid("empty-root-config", &[("CODEREVIEW.toml", "")]),
        Case::valid(
            "all-fields-valid",
            &[(
                "CODEREVIEW.toml",
                r#"
[aliases]
maintainers = ["alice", "bob", "@acme/core"]
bots = ["dependabot"]

[large_scale_change]
require = 2
request = 1
reviewers = ["$maintainers"]
labels = ["lsc"]

[[scopes]]
name = "everything"
description = "Every file"
paths = ["**/*"]
authors = ["!$bots"]
reviewers = ["$maintainers", "carol"]
alternates = ["dave", "@acme/oncall"]
cc = ["erin"]
require = 2
request = 1
author_value = 1
unless = ["github-actions/tests"]
labels = ["reviewed"]
instructions = "Be kind."
checklist = { items = [{ label = "Tests pass", required = true, notes = "required_if_unchecked", help = "CI" }] }

[[scopes]]
name = "anyone"
paths = ["docs/**"]
reviewers = ["*"]
require = 3
ownership = "append"
"#,
            )],
        ),
        Case::valid(
            "gitignored-and-untracked",
            &[
                ("CODEREVIEW.toml", BASIC),
                // An untracked (but not ignored) config still counts, for both tools.
                (
                    "svc2/CODEREVIEW.toml",
                    "[[scopes]]\nname = \"svc2\"\npaths = [\"**/*.go\"]\n",
                ),
                ("build/more.txt", "ignored by .gitignore\n"),
            ],
        ),
    ];
    cases.extend(code_regex_cases());
    cases.extend(random_cases(6));
    // `coverage` on the cases where it says something different (pa takes ~0.3 s a call).
    const COVERAGE: &[&str] = &[
        "basic-last-scope-wins",
        "nested-config-replaces-parent",
        "template-named-codereview-toml-does-not-govern",
        "negation",
        "dotfiles",
        "code-only-files-and-path-scopes",
        "same-scope-name-in-two-configs",
        "empty-root-config",
        "gitignored-and-untracked",
        "random-0",
        "random-3",
    ];
    cases
        .into_iter()
        .map(|c| {
            if COVERAGE.contains(&c.name.as_str()) {
                c.with_coverage()
            } else {
                c
            }
        })
        .collect()
}

/// Regex syntax that both tools must read the same way (PullApprove uses Python's `re`).
fn code_regex_cases() -> Vec<Case> {
    vec![Case::valid(
        "code-python-regex-syntax",
        &[(
            "CODEREVIEW.toml",
            r#"
[[scopes]]
name = "default"
paths = ["**/*"]

[[scopes]]
name = "flags"
paths = ["**/*"]
code = ["(?i)todo", "\\bFIXME\\b", "(?P<q>['\"])hunter2(?P=q)", "\\d+\\.\\d+", "(?x) secret _ key"]

[[scopes]]
name = "lookaround"
paths = ["**/*.py"]
code = ["(?<=# )TODO", "TODO(?=:)", "\\ATODO", "import os\\Z"]
"#,
        )],
    )]
}

/// Configs generated from the tree's paths: random scopes of random ownership, with patterns
/// derived from real paths (so they match), negations, braces, and sometimes a nested config.
fn random_cases(n: usize) -> Vec<Case> {
    let paths: Vec<String> = tree().into_iter().map(|(p, _)| p).collect();
    (0..n)
        .map(|k| {
            let mut rng = Rng(0xC0F1_6000 + k as u64);
            let mut files = vec![(
                "CODEREVIEW.toml".to_string(),
                random_config(&mut rng, &paths, ""),
            )];
            if rng.chance(60) {
                let dir = *rng.pick(&["src", "docs", "a/b", "lib", ".github"]);
                files.push((
                    format!("{dir}/CODEREVIEW.toml"),
                    random_config(&mut rng, &paths, dir),
                ));
            }
            let mut case = Case::valid(&format!("random-{k}"), &[]);
            case.files = files;
            case
        })
        .collect()
}

fn random_config(rng: &mut Rng, paths: &[String], dir: &str) -> String {
    let mut out = String::new();
    let scopes = 2 + rng.below(5);
    for s in 0..scopes {
        let _ = writeln!(out, "[[scopes]]\nname = \"s{s}\"");
        let count = 1 + rng.below(3);
        let patterns: Vec<String> = (0..count)
            .map(|_| {
                let path = rng.pick(paths).clone();
                let relative = match path.strip_prefix(&format!("{dir}/")) {
                    Some(rest) if !dir.is_empty() => rest.to_string(),
                    _ => path,
                };
                let mut p = random_pattern(rng, &relative);
                if rng.chance(15) {
                    p.insert(0, '!');
                }
                p
            })
            .collect();
        let quoted: Vec<String> = patterns.iter().map(|p| toml_string(p)).collect();
        let _ = writeln!(out, "paths = [{}]", quoted.join(", "));
        match rng.below(10) {
            0 | 1 => out.push_str("ownership = \"append\"\n"),
            2 => out.push_str("ownership = \"global\"\nrequire = 1\nreviewers = [\"g\"]\n"),
            _ => {}
        }
        if rng.chance(20) {
            let re = *rng.pick(&["TODO", "^import", "DROP TABLE", "(?i)todo$", "END"]);
            let _ = writeln!(out, "code = [{}]", toml_string(re));
        }
        out.push('\n');
    }
    out
}

fn random_pattern(rng: &mut Rng, path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    let mut out: Vec<String> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let s = match rng.below(10) {
            0 if i < last => "**".to_string(),
            1 => "*".to_string(),
            2 if i == last => match seg.rsplit_once('.') {
                Some((_, ext)) => format!("*.{ext}"),
                None => "*".to_string(),
            },
            3 if i == last => format!("{{{seg},nothing}}"),
            4 => seg.to_uppercase(),
            5 if i < last => {
                out.push(seg.to_string());
                "**".to_string()
            }
            _ => seg.to_string(),
        };
        out.push(s);
        if i < last && rng.chance(10) {
            out.push("**".to_string());
            break;
        }
    }
    if rng.chance(15) {
        out.insert(0, "**".to_string());
    }
    out.join("/")
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Invalid configs
// ---------------------------------------------------------------------------------------------

const ROOT: &str = "CODEREVIEW.toml";

fn invalid_cases() -> Vec<Case> {
    let scope = |body: &str| format!("[[scopes]]\nname = \"s\"\npaths = [\"**/*\"]\n{body}\n");
    let one = |name: &str, text: String, token: &'static str| {
        let text: &'static str = Box::leak(text.into_boxed_str());
        Case::invalid(name, &[(ROOT, text)], ROOT, token)
    };
    vec![
        one(
            "unknown-top-level-key",
            "scope = []\n[[scopes]]\nname = \"s\"\npaths = [\"*\"]\n".into(),
            "scope",
        ),
        one(
            "unknown-scope-key",
            scope("reviewer = [\"alice\"]"),
            "reviewer",
        ),
        one(
            "unknown-alias-in-paths",
            "[[scopes]]\nname = \"s\"\npaths = [\"$nope\"]\n".into(),
            "\"$nope\"",
        ),
        one(
            "unknown-negated-alias-in-reviewers",
            scope("reviewers = [\"alice\", \"!$nobody\"]"),
            "\"!$nobody\"",
        ),
        one(
            "alias-cycle",
            format!(
                "[aliases]\na = [\"$b\"]\nb = [\"$a\"]\n{}",
                scope("reviewers = [\"$a\"]")
            ),
            "reviewers = [»\"$a\"]",
        ),
        Case::invalid(
            "extends-cycle",
            &[
                (ROOT, "extends = [\"CODEREVIEW-a.toml\"]\n"),
                ("CODEREVIEW-a.toml", "extends = [\"CODEREVIEW-b.toml\"]\n"),
                ("CODEREVIEW-b.toml", "extends = [\"CODEREVIEW-a.toml\"]\n"),
            ],
            "CODEREVIEW-b.toml",
            "\"CODEREVIEW-a.toml\"",
        ),
        Case::invalid(
            "extends-above-root",
            &[
                (ROOT, ""),
                ("sub/CODEREVIEW.toml", "extends = [\"../../CODEREVIEW-x.toml\"]\n"),
            ],
            "sub/CODEREVIEW.toml",
            "\"../../CODEREVIEW-x.toml\"",
        ),
        one(
            "extends-missing-target",
            "extends = [\"CODEREVIEW-missing.toml\"]\n".into(),
            "\"CODEREVIEW-missing.toml\"",
        ),
        one(
            "extends-bad-name",
            "extends = [\"base.toml\"]\n".into(),
            "\"base.toml\"",
        ),
        one(
            "wildcard-in-alternates",
            scope("reviewers = [\"a\"]\nalternates = [\"*\"]"),
            "alternates = [»\"*\"]",
        ),
        one(
            "wildcard-in-authors",
            scope("authors = [\"*\"]"),
            "\"*\"",
        ),
        one(
            "bot-reviewer",
            scope("reviewers = [\"dependabot[bot]\"]"),
            "\"dependabot[bot]\"",
        ),
        one(
            "bot-reviewer-through-alias",
            format!(
                "[aliases]\nbots = [\"renovate[bot]\"]\n{}",
                scope("reviewers = [\"$bots\"]")
            ),
            "reviewers = [»\"$bots\"]",
        ),
        one("negative-require", scope("require = -1"), "-1"),
        one("negative-request", scope("request = -2"), "-2"),
        one(
            "global-with-require-0",
            scope("ownership = \"global\"\nreviewers = [\"a\"]"),
            "\"global\"",
        ),
        one(
            "email-in-reviewers",
            scope("reviewers = [\"alice@example.com\"]"),
            "\"alice@example.com\"",
        ),
        one(
            "bad-team-ref",
            scope("reviewers = [\"@justorg\"]"),
            "\"@justorg\"",
        ),
        one("bad-regex", scope("code = [\"(unclosed\"]"), "\"(unclosed\""),
        one("nested-quantifiers", scope("code = [\"(a+)+\"]"), "\"(a+)+\""),
        one(
            "require-more-than-reviewers",
            scope("reviewers = [\"a\", \"b\"]\nrequire = 3"),
            "require = »3",
        ),
        one(
            "require-more-than-expanded-alias",
            format!(
                "[aliases]\nteam = [\"a\", \"b\"]\n{}",
                scope("reviewers = [\"$team\", \"!b\"]\nrequire = 2")
            ),
            "require = »2",
        ),
        one(
            "duplicate-scope-names",
            "[[scopes]]\nname = \"api\"\npaths = [\"*\"]\n[[scopes]]\nname = \"API\"\npaths = [\"*\"]\n"
                .into(),
            "name = »\"API\"",
        ),
        Case::invalid(
            "duplicate-scope-names-through-extends",
            &[
                (
                    ROOT,
                    "extends = [\"CODEREVIEW-base.toml\"]\n[[scopes]]\nname = \"api\"\npaths = [\"*\"]\n",
                ),
                (
                    "CODEREVIEW-base.toml",
                    "template = true\n[[scopes]]\nname = \"Api\"\npaths = [\"*\"]\n",
                ),
            ],
            ROOT,
            "name = »\"api\"",
        ),
        one(
            "comma-in-name",
            "[[scopes]]\nname = \"a,b\"\npaths = [\"*\"]\n".into(),
            "\"a,b\"",
        ),
        one(
            "empty-name",
            "[[scopes]]\nname = \"\"\npaths = [\"*\"]\n".into(),
            "\"\"",
        ),
        one(
            "empty-paths",
            "[[scopes]]\nname = \"s\"\npaths = []\n".into(),
            "paths = »[]",
        ),
        one(
            "bare-unless-name",
            scope("unless = [\"tests\"]"),
            "\"tests\"",
        ),
        one(
            "unless-pullapprove-itself",
            scope("unless = [\"pullapprove/ok\"]"),
            "\"pullapprove/ok\"",
        ),
        one(
            "wildcard-with-negation",
            scope("reviewers = [\"*\", \"!bob\"]"),
            "\"!bob\"",
        ),
        one(
            "bad-ownership",
            scope("ownership = \"shared\""),
            "\"shared\"",
        ),
        one(
            "checklist-without-items",
            scope("checklist = { items = [] }"),
            "items = »[]",
        ),
        one(
            "toml-syntax-error",
            "[[scopes]\nname = \"s\"\n".into(),
            "[[scopes]»\n",
        ),
        one(
            "toml-1.1-escape",
            scope("description = \"bell \\e\""),
            "bell »\\e",
        ),
        one(
            "toml-1.1-inline-table-on-two-lines",
            scope("checklist = { items = [{ label = \"x\" }]\n}"),
            "}]»\n}",
        ),
        one(
            "toml-1.1-trailing-comma-in-inline-table",
            scope("checklist = { items = [{ label = \"x\" }], }"),
            "}]», }",
        ),
        one(
            "require-not-a-number",
            scope("reviewers = [\"a\"]\nrequire = \"one\""),
            "require = »\"one\"",
        ),
        one(
            "python-regex-bad-escape",
            scope("code = [\"\\\\p{L}\"]"),
            "code = [»\"",
        ),
        one(
            "python-regex-named-group-syntax",
            scope("code = [\"(?<word>x)\"]"),
            "code = [»\"",
        ),
        one(
            "python-regex-nothing-to-repeat",
            scope("code = [\"^*TODO\"]"),
            "code = [»\"",
        ),
        Case::invalid(
            "error-in-nested-config",
            &[
                (ROOT, BASIC),
                (
                    "src/api/CODEREVIEW.toml",
                    "[[scopes]]\nname = \"api\"\npaths = [\"*\"]\ncc = [\"*\"]\n",
                ),
            ],
            "src/api/CODEREVIEW.toml",
            "cc = [»\"*\"]",
        ),
        Case::invalid(
            "unknown-alias-in-consumed-template",
            &[
                (ROOT, "extends = [\"CODEREVIEW-t.toml\"]\n"),
                (
                    "CODEREVIEW-t.toml",
                    "template = true\n[[scopes]]\nname = \"t\"\npaths = [\"$missing\"]\n",
                ),
            ],
            "CODEREVIEW-t.toml",
            "\"$missing\"",
        ),
    ]
}

/// Configs `pa check` accepts but `pa match` crashes on, or that pa accepts and we reject
/// (see [`EXCLUDED`]): we check that this is still so, and what we do instead.
fn divergent_cases() -> Vec<Case> {
    let with = |mut case: Case| {
        case.queries = vec![Query::PaCrashes];
        case
    };
    vec![
        with(Case::invalid(
            "limit-paths-over-1000-expansions",
            &[(
                ROOT,
                "[[scopes]]\nname = \"s\"\npaths = [\"{1..600}.txt\", \"x{1..600}\"]\n",
            )],
            ROOT,
            "\"x{1..600}\"",
        )),
        with(Case::invalid(
            "code-lookbehind-of-variable-width",
            &[(
                ROOT,
                "[[scopes]]\nname = \"s\"\npaths = [\"*\"]\ncode = [\"(?<=a+)b\"]\n",
            )],
            ROOT,
            "\"(?<=a+)b\"",
        )),
        // PullApprove's pydantic models read counts and flags leniently; we do not (yet).
        Case {
            queries: vec![Query::PaAccepts],
            invalid: Some(Expect {
                file: ROOT,
                // serde reads `[large_scale_change]` first and stops at its error.
                token: "require = »\" 1 \"",
            }),
            ..Case::valid(
                "lenient-counts-and-flags",
                &[(
                    ROOT,
                    r#"
[[scopes]]
name = "py"
paths = ["**/*.py"]
reviewers = ["a", "b"]
require = "2"
request = 1.0
author_value = true
checklist = { items = [{ label = " ", required = "no", checked = true, notes_value = "" }] }

[large_scale_change]
require = " 1 "
reviewers = ["a"]
"#,
                )],
            )
        },
        with(Case {
            invalid: None,
            ..Case::valid(
                "template-root-config",
                &[(
                    ROOT,
                    "template = true\n[[scopes]]\nname = \"s\"\npaths = [\"*\"]\n",
                )],
            )
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running both tools
// ---------------------------------------------------------------------------------------------

/// The outcome of one case.
struct Report {
    name: String,
    failures: Vec<String>,
    commands: usize,
}

fn build_repo(case: &Case) -> Repo {
    let repo = Repo::new();
    if case.tree {
        for (path, text) in tree() {
            repo.write(&path, text);
        }
    }
    for (path, text) in &case.files {
        repo.write(path, text);
    }
    repo.commit_all("case");
    for (path, text) in &case.untracked {
        repo.write(path, text);
    }
    repo
}

fn run_case(case: &Case, pa: &Path, ours: &Path) -> Report {
    let repo = build_repo(case);
    let repo = Kept(Some(repo), &case.name);
    let mut failures = Vec::new();
    let mut commands = 0;
    let mut changed = false;
    for query in &case.queries {
        let (label, argv): (String, Vec<String>) = match query {
            Query::Check => ("check".into(), args(&["check"])),
            Query::Coverage => ("coverage".into(), args(&["coverage"])),
            Query::PaCrashes | Query::PaAccepts => {
                commands += 2;
                let crashes = matches!(query, Query::PaCrashes);
                if let Some(problem) = check_divergence(case, &repo, pa, ours, crashes) {
                    failures.push(format!("`documented divergence`: {problem}"));
                }
                continue;
            }
            Query::Match(extra) | Query::Changed(extra) => {
                let mut argv = args(&["match"]);
                if matches!(query, Query::Changed(_)) {
                    argv.push("--changed".into());
                }
                argv.extend(extra.iter().cloned());
                (argv.join(" "), argv)
            }
        };
        if matches!(query, Query::Changed(_)) && !changed {
            for change in &case.changes {
                match change {
                    Change::Write(path, text) => repo.write(path, text),
                    Change::Remove(path) => repo.remove(path),
                }
            }
            changed = true;
        }
        let theirs = repo.run(pa, &argv);
        let mine = repo.run(ours, &argv);
        commands += 1;
        if case.invalid.is_none() && matches!(query, Query::Match(a) if a.is_empty()) {
            // `pa match` ran `pa check` first: compare our `check` with that verdict.
            let our_check = repo.run(ours, ["check"]);
            if !our_check.ok() || !theirs.ok() {
                failures.push(format!(
                    "`check`: pa {} (through `pa match`), ours {}\n--- pa:\n{}\n--- ours:\n{}{}",
                    verdict(&theirs),
                    verdict(&our_check),
                    theirs.stderr,
                    our_check.stdout,
                    our_check.stderr
                ));
            }
        }
        let mut fail = |what: String| failures.push(format!("`{label}`: {what}"));
        match query {
            Query::PaCrashes | Query::PaAccepts => unreachable!("handled above"),
            Query::Check => {
                if theirs.ok() != mine.ok() {
                    fail(format!(
                        "pa {} but we {}\n--- pa:\n{}{}\n--- ours:\n{}{}",
                        verdict(&theirs),
                        verdict(&mine),
                        theirs.stdout,
                        theirs.stderr,
                        mine.stdout,
                        mine.stderr
                    ));
                } else if case.invalid.is_none() && !mine.ok() {
                    fail(format!("the case's config is invalid:\n{}", mine.stderr));
                } else if let Some(expect) = &case.invalid {
                    if mine.ok() {
                        fail("both accept a config this case expects to be invalid".into());
                    } else if let Some(problem) = check_location(case, expect, &mine) {
                        fail(problem);
                    }
                }
            }
            Query::Coverage => {
                let (a, b) = (
                    coverage_figures(&theirs.stdout),
                    coverage_figures(&mine.stdout),
                );
                if a.is_none() || a != b || theirs.ok() != mine.ok() {
                    fail(format!(
                        "coverage differs: pa {a:?} ({}), ours {b:?} ({})\n--- pa:\n{}\n--- ours:\n{}",
                        verdict(&theirs),
                        verdict(&mine),
                        theirs.stdout,
                        mine.stdout
                    ));
                }
            }
            Query::Match(_) | Query::Changed(_) => {
                if !theirs.ok() {
                    fail(format!("pa failed:\n{}", theirs.stderr));
                } else if theirs.stdout != mine.stdout || theirs.ok() != mine.ok() {
                    fail(format!(
                        "output differs (pa {}, ours {}):\n{}{}",
                        verdict(&theirs),
                        verdict(&mine),
                        diff(&theirs.stdout, &mine.stdout),
                        if mine.stderr.is_empty() {
                            String::new()
                        } else {
                            format!("--- our stderr:\n{}", mine.stderr)
                        }
                    ));
                }
            }
        }
    }
    Report {
        name: case.name.clone(),
        failures,
        commands,
    }
}

/// Check a documented divergence: `pa check` passes and `pa match` crashes with a traceback
/// (`crashes`) or passes; we either reject the config where the case expects or handle it.
fn check_divergence(
    case: &Case,
    repo: &Repo,
    pa: &Path,
    ours: &Path,
    crashes: bool,
) -> Option<String> {
    let pa_check = repo.run(pa, ["check"]);
    let pa_match = repo.run(pa, ["match"]);
    let pa_as_documented = if crashes {
        !pa_match.ok() && pa_match.stderr.contains("Traceback")
    } else {
        pa_match.ok()
    };
    if !pa_check.ok() || !pa_as_documented {
        return Some(format!(
            "expected pa check to pass and pa match to {}; check {}, match {}:\n{}",
            if crashes { "crash" } else { "pass" },
            verdict(&pa_check),
            verdict(&pa_match),
            pa_match.stderr
        ));
    }
    let our_check = repo.run(ours, ["check"]);
    match &case.invalid {
        Some(expect) => {
            if our_check.ok() {
                return Some("our check accepts the config".into());
            }
            check_location(case, expect, &our_check)
        }
        None => {
            let our_match = repo.run(ours, ["match"]);
            (!our_check.ok() || !our_match.ok()).then(|| {
                format!(
                    "ours: check {}, match {}:\n{}{}",
                    verdict(&our_check),
                    verdict(&our_match),
                    our_check.stderr,
                    our_match.stderr
                )
            })
        }
    }
}

/// A case's repository, kept on disk after the test when `DIFFERENTIAL_KEEP` is set.
struct Kept<'a>(Option<Repo>, &'a str);

impl std::ops::Deref for Kept<'_> {
    type Target = Repo;
    fn deref(&self) -> &Repo {
        self.0.as_ref().expect("the repository lives until drop")
    }
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        if std::env::var_os("DIFFERENTIAL_KEEP").is_some()
            && let Some(repo) = self.0.take()
        {
            eprintln!("kept case `{}` in {}", self.1, repo.keep().display());
        }
    }
}

fn verdict(out: &Output) -> &'static str {
    if out.ok() { "passed" } else { "failed" }
}

/// Our `check` output must name `file:line:col` of the expected token.
fn check_location(case: &Case, expect: &Expect, mine: &Output) -> Option<String> {
    let Some(text) = case
        .files
        .iter()
        .find(|(p, _)| p == expect.file)
        .map(|(_, t)| t.as_str())
    else {
        return Some(format!("the case has no file {}", expect.file));
    };
    let marker = expect.token.find('»').unwrap_or(0);
    let token = expect.token.replace('»', "");
    let Some(start) = text.find(&token) else {
        return Some(format!(
            "the case's token {:?} is not in {}",
            token, expect.file
        ));
    };
    let before = &text[..start + marker];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    let location = format!("{}:{line}:{column}: ", expect.file);
    let all = format!("{}{}", mine.stdout, mine.stderr);
    if all.contains(&location) {
        return None;
    }
    Some(format!(
        "expected our error at {location}(at {:?}), got:\n{all}",
        expect.token
    ))
}

/// A compact line diff: the lines only one side printed.
fn diff(theirs: &str, mine: &str) -> String {
    let a: Vec<&str> = theirs.lines().collect();
    let b: Vec<&str> = mine.lines().collect();
    let mut out = String::new();
    let mut shown = 0;
    let n = a.len().max(b.len());
    for i in 0..n {
        let (x, y) = (a.get(i), b.get(i));
        if x != y {
            let _ = writeln!(
                out,
                "  line {}:\n    pa:   {:?}\n    ours: {:?}",
                i + 1,
                x,
                y
            );
            shown += 1;
            if shown == 8 {
                let _ = writeln!(out, "  ...");
                break;
            }
        }
    }
    out
}

#[test]
fn codereview_answers_like_pullapprove() {
    let Some(pa) = pa() else {
        eprintln!(
            "SKIPPED differential test: `pa` is not on PATH. Install PullApprove's CLI with \
             `pip install --ignore-requires-python pullapprove==5.19.0` to run it."
        );
        return;
    };
    let ours = codereview_bin();
    let started = Instant::now();
    let mut cases = valid_cases();
    cases.extend(invalid_cases());
    cases.extend(divergent_cases());
    // DIFFERENTIAL_CASES=substring runs only the matching cases (for debugging).
    if let Ok(filter) = std::env::var("DIFFERENTIAL_CASES") {
        cases.retain(|c| c.name.contains(&filter));
    }
    let names: std::collections::HashSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names must be unique");

    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4)
        + 1;
    let reports = parallel_map(&cases, threads, |case| run_case(case, &pa, &ours));

    let commands: usize = reports.iter().map(|r| r.commands).sum();
    let failed: Vec<&Report> = reports.iter().filter(|r| !r.failures.is_empty()).collect();
    let divergent = |c: &Case| {
        c.queries
            .iter()
            .any(|q| matches!(q, Query::PaCrashes | Query::PaAccepts))
    };
    eprintln!(
        "differential: {} cases ({} valid, {} invalid, {} documented divergences), \
         {} commands per tool, {} failed, {:.1?}",
        cases.len(),
        cases
            .iter()
            .filter(|c| c.invalid.is_none() && !divergent(c))
            .count(),
        cases
            .iter()
            .filter(|c| c.invalid.is_some() && !divergent(c))
            .count(),
        cases.iter().filter(|c| divergent(c)).count(),
        commands,
        failed.len(),
        started.elapsed()
    );
    let mut message = String::new();
    for report in &failed {
        let _ = writeln!(message, "\n=== case `{}`", report.name);
        for f in &report.failures {
            let _ = writeln!(message, "{f}");
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases disagree with pa:{message}",
        failed.len(),
        cases.len()
    );
}
