//! A generated monorepo for the matching benchmarks: a file tree of any size and a large
//! multi-scope configuration (well over 100 scopes in nested configs, with negations, braces,
//! character classes, aliases, `extends`, ownership modes and a few `code` scopes).
//!
//! Shared by `benches/matching.rs` (criterion) and `examples/bench_match.rs` (the end-to-end
//! comparison with PullApprove's `pa`), so both measure the same workload. Everything is
//! deterministic: the same size gives the same tree and configs on every machine.

#![allow(dead_code)] // each user takes what it needs

use std::path::Path;
use std::process::Command;

/// Services with their own directory under `services/`.
pub const SERVICES: usize = 30;
/// Services (the first ones) that have their own nested `CODEREVIEW.toml`.
pub const NESTED: usize = 12;
/// Libraries under `libs/`.
pub const LIBS: usize = 20;

/// A tiny deterministic generator (xorshift64*), so the workload needs no `rand`.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const MODULES: &[&str] = &[
    "api",
    "auth",
    "billing",
    "core",
    "db",
    "events",
    "handlers",
    "jobs",
    "models",
    "util",
    "crypto",
    "cache",
    "search",
    "generated",
    "internal",
    "Metrics",
];
const WORDS: &[&str] = &[
    "user", "order", "invoice", "session", "token", "report", "queue", "worker", "client",
    "server", "config", "schema", "index", "router", "helper", "Widget", "event", "ledger",
];
const SERVICE_EXTS: &[&str] = &[
    "rs", "rs", "go", "go", "py", "ts", "sql", "yaml", "json", "md",
];
const WEB_EXTS: &[&str] = &["ts", "tsx", "tsx", "css", "scss", "json", "svg", "md"];

/// `n` repository-relative file paths of a monorepo, in a stable order.
pub fn paths(n: usize) -> Vec<String> {
    let mut rng = Rng::new(n as u64);
    let mut out = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let fixed = [
        "README.md",
        "LICENSE",
        "Cargo.toml",
        "Cargo.lock",
        "package.json",
        "package-lock.json",
        ".gitignore",
        ".editorconfig",
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        ".github/CODEOWNERS",
        "docs/index.md",
        "docs/architecture/overview.md",
        "tools/release.sh",
        "tools/bootstrap.py",
        "Makefile",
        "Dockerfile",
    ];
    out.extend(fixed.iter().map(|s| s.to_string()));
    seen.extend(fixed.iter().map(|s| s.to_lowercase()));
    let mut i = 0usize;
    while out.len() < n {
        i += 1;
        let path = match rng.below(20) {
            0..=12 => {
                let svc = rng.below(SERVICES);
                let root = format!("services/svc{svc:02}");
                match rng.below(12) {
                    0 => format!("{root}/migrations/{i:05}_{}.sql", rng.pick(WORDS)),
                    1 => format!("{root}/tests/test_{}_{i}.py", rng.pick(WORDS)),
                    2 => format!(
                        "{root}/config/{}.{}",
                        rng.pick(WORDS),
                        rng.pick(&["yaml", "toml", "json"])
                    ),
                    3 => format!("{root}/docs/{}_{i}.md", rng.pick(WORDS)),
                    _ => {
                        let depth = 1 + rng.below(3);
                        let mut p = format!("{root}/src");
                        for _ in 0..depth {
                            p.push('/');
                            p.push_str(rng.pick(MODULES));
                        }
                        format!("{p}/{}_{i}.{}", rng.pick(WORDS), rng.pick(SERVICE_EXTS))
                    }
                }
            }
            13..=16 => {
                let lib = rng.below(LIBS);
                let dir = rng.pick(&["src", "src", "include", "tests", "benches", "examples"]);
                let ext = rng.pick(&["rs", "rs", "go", "ts", "h", "c", "md"]);
                format!(
                    "libs/lib{lib:02}/{dir}/{}/{}_{i}.{ext}",
                    rng.pick(MODULES),
                    rng.pick(WORDS)
                )
            }
            17..=18 => {
                let area = rng.pick(&[
                    "components",
                    "pages",
                    "hooks",
                    "styles",
                    "theme",
                    "__snapshots__",
                ]);
                format!(
                    "web/src/{area}/{}{i}.{}",
                    rng.pick(WORDS),
                    rng.pick(WEB_EXTS)
                )
            }
            _ => match rng.below(4) {
                0 => format!("docs/{}/{}_{i}.md", rng.pick(MODULES), rng.pick(WORDS)),
                1 => format!("tools/{}/{}_{i}.py", rng.pick(MODULES), rng.pick(WORDS)),
                2 => format!(".github/actions/{}/action_{i}.yml", rng.pick(WORDS)),
                _ => format!("deploy/{}/k8s_{i}.yaml", rng.pick(MODULES)),
            },
        };
        if seen.insert(path.to_lowercase()) {
            out.push(path);
        }
    }
    out.truncate(n);
    out.sort();
    out
}

/// What a generated file contains: a few lines, some of which the `code` scopes look for.
pub fn content(path: &str, index: usize) -> String {
    let mut text = format!("// {path}\n");
    match path.rsplit('.').next() {
        Some("rs") => {
            text.push_str("pub fn run() -> u32 {\n    42\n}\n");
            if index.is_multiple_of(7) {
                text.push_str("unsafe fn raw() {}\n");
            }
        }
        Some("py") => {
            text.push_str("def run():\n    return 42\n");
            if index.is_multiple_of(5) {
                text.push_str("# TODO: remove the retry loop\n");
            }
        }
        Some("sql") => {
            text.push_str("CREATE TABLE t (id INT);\n");
            if index.is_multiple_of(4) {
                text.push_str("DROP TABLE legacy;\n");
            }
        }
        _ => text.push_str("placeholder\n"),
    }
    text
}

/// The repository's config files: `(path, TOML text)`.
pub fn configs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut root = String::from(
        "# Generated benchmark config: many scopes, nested configs, negations, braces, code scopes.\n\n",
    );
    root.push_str("[aliases]\n");
    root.push_str("platform = [\"plat1\", \"plat2\", \"plat3\"]\n");
    root.push_str("security = [\"sec1\", \"sec2\"]\n");
    root.push_str("frontend = [\"fe1\", \"fe2\", \"fe3\"]\n");
    root.push_str("leads = [\"$platform\", \"lead1\"]\n");
    root.push_str("generated = [\"**/generated/**\", \"**/*.{pb,gen}.go\"]\n\n");
    root.push_str("[large_scale_change]\nrequire = 2\nreviewers = [\"$leads\"]\n\n");
    let mut scope = |name: &str, body: &str| {
        root.push_str(&format!("[[scopes]]\nname = \"{name}\"\n{body}\n"));
    };
    scope(
        "default",
        "paths = [\"**/*\"]\nreviewers = [\"$platform\"]\nrequire = 1\nrequest = 1\n",
    );
    for s in 0..SERVICES {
        scope(
            &format!("svc{s:02}"),
            &format!(
                "paths = [\"services/svc{s:02}/**\", \"!services/svc{s:02}/**/*.md\", \"!$generated\"]\nreviewers = [\"owner{s}a\", \"owner{s}b\"]\nrequire = 1\n"
            ),
        );
        scope(
            &format!("svc{s:02}-migrations"),
            &format!(
                "paths = [\"services/svc{s:02}/migrations/*.sql\"]\nownership = \"append\"\nreviewers = [\"dba1\", \"dba2\"]\nrequire = 1\n"
            ),
        );
    }
    for l in 0..LIBS {
        scope(
            &format!("lib{l:02}"),
            &format!(
                "paths = [\"libs/lib{l:02}/{{src,include}}/**/*.{{rs,go,ts,h,c}}\", \"libs/lib{l:02}/[Cc]argo.toml\"]\nreviewers = [\"libowner{l}\"]\nrequire = 1\n"
            ),
        );
        scope(
            &format!("lib{l:02}-tests"),
            &format!(
                "paths = [\"libs/lib{l:02}/{{tests,benches,examples}}/**\"]\nownership = \"append\"\nreviewers = [\"libowner{l}\", \"qa1\"]\nrequire = 1\n"
            ),
        );
    }
    for (name, body) in [
        (
            "web",
            "paths = [\"web/**/*.{ts,tsx,css,scss,json,svg}\"]\nreviewers = [\"$frontend\"]\nrequire = 1\n",
        ),
        (
            "web-snapshots",
            "paths = [\"web/**/__snapshots__/**\"]\nreviewers = [\"*\"]\nrequire = 1\n",
        ),
        (
            "styles",
            "paths = [\"**/*.{css,scss}\", \"web/src/theme/**\"]\nownership = \"append\"\nreviewers = [\"designer1\"]\nrequire = 1\n",
        ),
        (
            "docs",
            "paths = [\"**/*.md\", \"docs/**\", \"!CHANGELOG.md\"]\nreviewers = [\"*\"]\nrequire = 1\n",
        ),
        (
            "readmes",
            "paths = [\"**/[Rr][Ee][Aa][Dd][Mm][Ee]*\"]\nownership = \"append\"\nreviewers = [\"writer1\"]\nrequire = 1\n",
        ),
        (
            "ci",
            "paths = [\".github/**\", \"**/Dockerfile\", \"Makefile\", \"deploy/**/*.{yml,yaml}\"]\nreviewers = [\"$platform\"]\nrequire = 1\n",
        ),
        (
            "dependencies",
            "paths = [\"**/{Cargo.lock,package-lock.json,go.sum}\", \"**/Cargo.toml\", \"**/package.json\"]\nreviewers = [\"$platform\"]\nrequire = 1\n",
        ),
        (
            "tools",
            "paths = [\"tools/**\", \"!tools/**/*.md\"]\nreviewers = [\"$platform\"]\nrequire = 1\n",
        ),
        (
            "python-tests",
            "paths = [\"**/tests/test_?*.py\"]\nownership = \"append\"\nreviewers = [\"qa1\", \"qa2\"]\nrequire = 1\n",
        ),
        (
            "generated",
            "paths = [\"$generated\"]\nreviewers = [\"*\"]\nrequire = 0\n",
        ),
        (
            "metrics",
            "paths = [\"**/[Mm]etrics/**\"]\nownership = \"append\"\nreviewers = [\"sre1\"]\nrequire = 1\n",
        ),
        (
            "review-rules",
            "paths = [\"**/CODEREVIEW*.toml\"]\nreviewers = [\"$leads\"]\nrequire = 2\n",
        ),
        (
            "security",
            "paths = [\"**/auth/**\", \"**/*crypt*/**\", \"!**/*.md\"]\nownership = \"global\"\nreviewers = [\"$security\"]\nrequire = 1\n",
        ),
        (
            "todo-python",
            "paths = [\"**/*.py\"]\ncode = [\"TODO\"]\nreviewers = [\"lead1\"]\nrequire = 1\n",
        ),
        (
            "unsafe-rust",
            "paths = [\"**/*.rs\"]\ncode = [\"^unsafe\\\\b\"]\nreviewers = [\"$security\"]\nrequire = 1\n",
        ),
        (
            "destructive-sql",
            "paths = [\"**/migrations/*.sql\"]\ncode = [\"(?i)drop\\\\s+table\"]\nreviewers = [\"dba1\", \"dba2\"]\nrequire = 2\n",
        ),
    ] {
        scope(name, body);
    }
    out.push(("CODEREVIEW.toml".to_string(), root));
    for s in 0..NESTED {
        let mut text = String::new();
        if s.is_multiple_of(2) {
            // Half the nested configs build on the root (its scopes first, anchored at the root).
            text.push_str("extends = [\"../../CODEREVIEW.toml\"]\n\n");
        }
        text.push_str(&format!(
            "[aliases]\nteam = [\"owner{s}a\", \"owner{s}b\", \"owner{s}c\"]\n\n"
        ));
        for (name, body) in [
            (
                "code",
                "paths = [\"src/**\", \"!src/generated/**\"]\nreviewers = [\"$team\"]\nrequire = 1\n",
            ),
            (
                "core",
                "paths = [\"src/{core,db,models}/**/*.{rs,go}\"]\nreviewers = [\"$team\"]\nrequire = 2\n",
            ),
            (
                "api",
                "paths = [\"src/**/api/**\", \"src/handlers/*.{ts,go}\"]\nownership = \"append\"\nreviewers = [\"$team\", \"apireviewer\"]\nrequire = 1\n",
            ),
            (
                "tests",
                "paths = [\"tests/**\", \"src/**/*_test.go\"]\nreviewers = [\"$team\", \"qa1\"]\nrequire = 1\n",
            ),
            (
                "config",
                "paths = [\"config/*.{yaml,toml,json}\"]\nreviewers = [\"$team\", \"sre1\"]\nrequire = 1\n",
            ),
            (
                "db",
                "paths = [\"migrations/**\", \"src/db/**\"]\nownership = \"append\"\nreviewers = [\"dba1\"]\nrequire = 1\n",
            ),
        ] {
            text.push_str(&format!(
                "[[scopes]]\nname = \"svc{s:02}-{name}\"\n{body}\n"
            ));
        }
        out.push((format!("services/svc{s:02}/CODEREVIEW.toml"), text));
    }
    out
}

/// How many scopes [`configs`] declares, counting each file's own scopes once.
pub fn scope_count() -> usize {
    configs()
        .iter()
        .map(|(_, text)| text.matches("[[scopes]]").count())
        .sum()
}

/// Write the configs and `n` files into `dir`, then make it a git repository with one commit
/// (PullApprove's `pa` lists files with `git ls-files`). Returns the paths written.
pub fn write_repo(dir: &Path, n: usize) -> Vec<String> {
    let mut files = paths(n.saturating_sub(configs().len()));
    for (i, path) in files.iter().enumerate() {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("files live in a directory"))
            .expect("create directory");
        std::fs::write(&full, content(path, i)).expect("write file");
    }
    for (path, text) in configs() {
        let full = dir.join(&path);
        std::fs::create_dir_all(full.parent().expect("configs live in a directory"))
            .expect("create directory");
        std::fs::write(full, text).expect("write config");
        files.push(path);
    }
    git(dir, &["init", "-q", "."]);
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
            "commit",
            "-q",
            "-m",
            "generated tree",
        ],
    );
    files.sort();
    files
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed in {}", dir.display());
}
