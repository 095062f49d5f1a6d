//! `codereview init --from-codeowners`: the written `CODEREVIEW.toml` owns every file the way the
//! CODEOWNERS file does.
//!
//! Differential: generated trees and generated CODEOWNERS files (GitHub and GitLab dialects) in
//! real git repositories; the owners of each file according to an evaluator written here from
//! GitHub's and GitLab's documented rules are compared with what `codereview match --format json`
//! says about the converted config (the owning scopes' reviewers and required approvals). The
//! evaluator shares no code with the converter: it matches paths segment by segment, where the
//! converter translates patterns into globs.
//!
//! Also: `codereview check` warns, as `pa check` does, while a CODEOWNERS or `.pullapprove.yml`
//! is still there (compared with `pa` when it is installed).

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

fn codereview(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_codereview"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn repo(files: &[(String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    for (path, body) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, body).unwrap();
    }
    dir
}

// ---- A CODEOWNERS evaluator from the documented rules ----

/// Match one path segment against one pattern segment: `*` any run, `?` one character, `\x` a
/// literal `x`; `[...]` a class when `classes` (GitLab's fnmatch), a literal `[` otherwise.
fn segment_matches(pattern: &[char], name: &[char], classes: bool) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|i| segment_matches(&pattern[1..], &name[i..], classes)),
        Some('?') => !name.is_empty() && segment_matches(&pattern[1..], &name[1..], classes),
        Some('\\') if pattern.len() > 1 => {
            name.first() == Some(&pattern[1]) && segment_matches(&pattern[2..], &name[1..], classes)
        }
        Some('[') if classes => {
            let Some(end) = (2..pattern.len()).find(|&j| pattern[j] == ']') else {
                return name.first() == Some(&'[')
                    && segment_matches(&pattern[1..], &name[1..], classes);
            };
            let Some(&c) = name.first() else { return false };
            let mut body = &pattern[1..end];
            let negated = matches!(body.first(), Some('!' | '^'));
            if negated {
                body = &body[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < body.len() {
                if i + 2 < body.len() && body[i + 1] == '-' {
                    hit |= body[i] <= c && c <= body[i + 2];
                    i += 3;
                } else {
                    hit |= body[i] == c;
                    i += 1;
                }
            }
            hit != negated && segment_matches(&pattern[end + 1..], &name[1..], classes)
        }
        Some(p) => name.first() == Some(p) && segment_matches(&pattern[1..], &name[1..], classes),
    }
}

/// Match pattern segments against a prefix of the path segments; returns how many path segments
/// are left over for each way the pattern can match (`**` is zero or more whole segments).
fn prefix_matches(pattern: &[String], path: &[&str], classes: bool, rests: &mut BTreeSet<usize>) {
    match pattern.first() {
        None => {
            rests.insert(path.len());
        }
        Some(p) if p == "**" && pattern.len() > 1 => {
            for skip in 0..=path.len() {
                prefix_matches(&pattern[1..], &path[skip..], classes, rests);
            }
        }
        Some(p) => {
            // A final `**`: GitHub's "everything inside"; fnmatch treats it as `*`.
            let p: Vec<char> = if p == "**" {
                vec!['*']
            } else {
                p.chars().collect()
            };
            if let Some(first) = path.first()
                && segment_matches(&p, &first.chars().collect::<Vec<_>>(), classes)
            {
                prefix_matches(&pattern[1..], &path[1..], classes, rests);
            }
        }
    }
}

/// GitHub (docs: "CODEOWNERS syntax", which follows gitignore): a leading or middle `/` anchors
/// the pattern at the root, otherwise it matches at any depth; a trailing `/` (or `/**`) means
/// everything inside that directory; `dir/*` matches the directory's files but not deeper ones;
/// any other pattern that names a directory owns everything inside it.
fn github_matches(pattern: &str, path: &str) -> bool {
    let anchored = pattern.starts_with('/');
    let p = pattern.trim_start_matches('/');
    let dir_only = p.ends_with('/');
    let p = p.trim_end_matches('/');
    let segs: Vec<String> = p.split('/').map(str::to_string).collect();
    let path: Vec<&str> = path.split('/').collect();
    let starts: Vec<usize> = if anchored || segs.len() > 1 || segs[0] == "**" {
        vec![0]
    } else {
        (0..path.len()).collect()
    };
    let last = segs.last().unwrap().as_str();
    starts.into_iter().any(|start| {
        let mut rests = BTreeSet::new();
        if last == "**" {
            // "abc/**" matches everything inside abc: at least one more segment.
            prefix_matches(&segs[..segs.len() - 1], &path[start..], false, &mut rests);
            return rests.iter().any(|&r| r >= 1) || (segs.len() == 1 && !path.is_empty());
        }
        prefix_matches(&segs, &path[start..], false, &mut rests);
        rests.iter().any(|&rest| {
            if dir_only {
                rest >= 1
            } else if last == "*" {
                rest == 0
            } else {
                true
            }
        })
    })
}

/// GitLab (docs: "Code Owners syntax"; `File.fnmatch` with `FNM_PATHNAME | FNM_DOTMATCH`): `*`
/// alone is every file; a pattern without a leading `/` matches at any depth; a trailing `/` is
/// everything inside; other patterns match whole paths.
fn gitlab_matches(pattern: &str, path: &str) -> bool {
    let mut p = if pattern == "*" {
        "/**/*".to_string()
    } else if pattern.starts_with('/') {
        pattern.to_string()
    } else {
        format!("/**/{pattern}")
    };
    if p.ends_with('/') {
        p.push_str("**/*");
    }
    let segs: Vec<String> = p[1..].split('/').map(str::to_string).collect();
    let path: Vec<&str> = path.split('/').collect();
    let mut rests = BTreeSet::new();
    prefix_matches(&segs, &path, true, &mut rests);
    rests.contains(&0)
}

fn owner_name(o: &str) -> String {
    match o.strip_prefix('@') {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => o.to_string(),
    }
}

/// (owners, approvals) per owning rule of `path`, sorted.
type Owning = Vec<(Vec<String>, i64)>;

fn github_owners(codeowners: &str, path: &str) -> Owning {
    let mut owner = None;
    for line in codeowners.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut tokens = line.split_whitespace();
        let pattern = tokens.next().unwrap();
        if github_matches(pattern, path) {
            let mut owners: Vec<String> = tokens.map(owner_name).collect();
            owners.sort();
            owners.dedup();
            let require = i64::from(!owners.is_empty());
            owner = Some((owners, require));
        }
    }
    owner.into_iter().collect()
}

fn gitlab_owners(codeowners: &str, path: &str) -> Owning {
    // Per section: (lowercased name, defaults, approvals, optional, last match's owners).
    type SectionState = (String, Vec<String>, i64, bool, Option<Vec<String>>);
    let mut sections: Vec<SectionState> = vec![(String::new(), vec![], 1, false, None)];
    let mut current = 0;
    for line in codeowners.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // `[Name]`, `^[Name]`, `[Name][N]`, then nothing or whitespace and default owners;
        // anything else (`[!a]*.rs`) is a pattern.
        let header = line
            .trim_start_matches('^')
            .strip_prefix('[')
            .and_then(|l| {
                let close = l.find(']')?;
                let mut rest = &l[close + 1..];
                let mut approvals = 1;
                if let Some(r) = rest.strip_prefix('[') {
                    let c = r.find(']')?;
                    approvals = r[..c].parse().ok()?;
                    rest = &r[c + 1..];
                }
                (rest.is_empty() || rest.starts_with(' '))
                    .then(|| (l[..close].to_lowercase(), approvals, rest))
            });
        if let Some((name, approvals, rest)) = header {
            let optional = line.starts_with('^');
            let defaults: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
            current = match sections
                .iter()
                .position(|s| s.0 == name && !name.is_empty())
            {
                Some(i) => i,
                None => {
                    sections.push((name, defaults, approvals, optional, None));
                    sections.len() - 1
                }
            };
            continue;
        }
        let mut tokens = line.split_whitespace();
        let pattern = tokens.next().unwrap();
        if gitlab_matches(pattern, path) {
            let owners: Vec<String> = tokens.map(str::to_string).collect();
            sections[current].4 = Some(owners);
        }
    }
    let mut out: Owning = sections
        .into_iter()
        .filter_map(|(_, defaults, approvals, optional, hit)| {
            let owners = hit?;
            let owners = if owners.is_empty() { defaults } else { owners };
            let mut owners: Vec<String> = owners.iter().map(|o| owner_name(o)).collect();
            owners.sort();
            owners.dedup();
            let require = if owners.is_empty() || optional {
                0
            } else {
                approvals
            };
            Some((owners, require))
        })
        .collect();
    out.sort();
    out
}

// ---- What codereview says about the converted config ----

fn codereview_owners(dir: &Path) -> Vec<(String, Owning)> {
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("CODEREVIEW.toml")).unwrap()).unwrap();
    let scopes = config["scopes"].as_array().unwrap();
    let scope = |name: &str| {
        let s = scopes
            .iter()
            .find(|s| s["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("scope {name}"));
        let mut reviewers: Vec<String> = s["reviewers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        reviewers.sort();
        (reviewers, s["require"].as_integer().unwrap())
    };
    let out = codereview(dir, &["match", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut owning: Owning = f["scopes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| scope(s.as_str().unwrap()))
                .collect();
            owning.sort();
            (f["path"].as_str().unwrap().to_string(), owning)
        })
        .collect()
}

// ---- Generators ----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const DIRS: &[&str] = &[
    "src", "docs", "lib", "api", "vendor", ".github", "test", "build", "logs", "a", "b", "x.md",
];
const FILES: &[&str] = &[
    "index.js",
    "main.rs",
    "readme.md",
    "x.py",
    ".env",
    "docs",
    "logs",
    "makefile",
    "a.md",
    "b.txt",
    "api",
    "c.js",
];

/// 40-80 files, lower case (CODEOWNERS on GitHub is case-sensitive, our globs are not: see
/// `matching_ignores_case_where_github_does_not`), no path both a file and a directory.
fn tree(rng: &mut Rng) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    let n = 40 + rng.below(40);
    while files.len() < n {
        let depth = rng.below(4);
        let mut parts: Vec<&str> = (0..depth).map(|_| rng.pick(DIRS)).collect();
        parts.push(rng.pick(FILES));
        let path = parts.join("/");
        let clash = files.iter().any(|f| {
            f == &path || f.starts_with(&format!("{path}/")) || path.starts_with(&format!("{f}/"))
        });
        if !clash {
            files.push(path);
        }
    }
    files
}

fn name(rng: &mut Rng) -> String {
    let all: Vec<&str> = DIRS.iter().chain(FILES).copied().collect();
    let n = rng.pick(&all);
    match rng.below(6) {
        0 => format!("*{}", &n[n.len() / 2..]),
        1 => format!("{}*", &n[..n.len().div_ceil(2)]),
        2 => format!("?{}", &n[1..]),
        _ => n.to_string(),
    }
}

fn github_pattern(rng: &mut Rng) -> String {
    let (a, b) = (name(rng), name(rng));
    let ext = rng.pick(&["*.md", "*.js", "*.rs", "*.py", ".env*"]);
    match rng.below(14) {
        0 => "*".into(),
        1 => ext.into(),
        2 => a,
        3 => format!("{a}/"),
        4 => format!("/{a}"),
        5 => format!("/{a}/"),
        6 => format!("{a}/{b}"),
        7 => format!("/{a}/*"),
        8 => format!("{a}/*"),
        9 => format!("**/{a}"),
        10 => format!("{a}/**"),
        11 => format!("/{a}/**/{b}"),
        12 => format!("/{a}/{ext}"),
        _ => format!("{a}/**/{ext}"),
    }
}

fn gitlab_pattern(rng: &mut Rng) -> String {
    let base = github_pattern(rng);
    match rng.below(8) {
        0 => format!("/[abd]*/{}", name(rng)),
        1 => format!("[!a]*.{}", rng.pick(&["md", "js", "rs"])),
        _ => base,
    }
}

fn owners(rng: &mut Rng, at_least: usize) -> String {
    let all = ["@alice", "@bob", "@carol", "@acme/web", "@acme/ops-team"];
    let n = if at_least == 0 && rng.chance(15) {
        0
    } else {
        at_least.max(1) + rng.below(2)
    };
    let mut picked: Vec<&str> = Vec::new();
    while picked.len() < n {
        let o = all[rng.below(all.len())];
        if !picked.contains(&o) {
            picked.push(o);
        }
    }
    picked.join(" ")
}

fn github_codeowners(rng: &mut Rng) -> String {
    let mut s = String::from("# generated\n");
    for _ in 0..(3 + rng.below(15)) {
        s.push_str(&format!("{} {}\n", github_pattern(rng), owners(rng, 0)));
    }
    s
}

fn gitlab_codeowners(rng: &mut Rng) -> String {
    let mut s = String::from("# generated\n");
    for _ in 0..rng.below(5) {
        s.push_str(&format!("{} {}\n", gitlab_pattern(rng), owners(rng, 0)));
    }
    // Sections named twice (ignoring case) are one section, with the first header's count.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for _ in 0..(1 + rng.below(3)) {
        let name = rng.pick(&["Docs", "Backend", "Ops", "docs", "Security team"]);
        let optional = if rng.chance(25) { "^" } else { "" };
        let approvals = match seen.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, a)) => *a,
            None if rng.chance(30) => 2,
            None => 1,
        };
        seen.push((name.to_string(), approvals));
        let count = if approvals > 1 { "[2]" } else { "" };
        // With two approvals, every line has two owners (or the two defaults).
        let defaults = if approvals > 1 {
            "@dan @erin".to_string()
        } else if rng.chance(40) {
            owners(rng, 1)
        } else {
            String::new()
        };
        s.push_str(&format!("{optional}[{name}]{count} {defaults}\n"));
        for _ in 0..(1 + rng.below(6)) {
            let own = if approvals > 1 && !rng.chance(40) {
                String::new()
            } else if approvals > 1 {
                owners(rng, 2)
            } else {
                owners(rng, 0)
            };
            s.push_str(&format!("{} {own}\n", gitlab_pattern(rng)));
        }
    }
    s
}

// ---- The tests ----

/// Convert, then compare every file's owners with the evaluator; returns the disagreements.
fn differ(
    codeowners_path: &str,
    codeowners: &str,
    files: &[String],
    forge: &str,
    expected: fn(&str, &str) -> Owning,
) -> (usize, Vec<String>) {
    let mut all: Vec<(String, String)> = files.iter().map(|f| (f.clone(), "x\n".into())).collect();
    all.push((codeowners_path.into(), codeowners.into()));
    let dir = repo(&all);
    let out = codereview(
        dir.path(),
        &[
            "init",
            "--from-codeowners",
            codeowners_path,
            "--forge",
            forge,
        ],
    );
    assert!(out.status.success(), "{}\n{codeowners}", text(&out));
    let check = codereview(dir.path(), &["check", "--quiet"]);
    assert!(check.status.success(), "{}", text(&check));
    git(dir.path(), &["add", "-A"]);
    let mut problems = Vec::new();
    let actual = codereview_owners(dir.path());
    for (path, got) in &actual {
        let want = expected(codeowners, path);
        if &want != got {
            problems.push(format!(
                "{path}: CODEOWNERS says {want:?}, codereview {got:?}"
            ));
        }
    }
    if !problems.is_empty() {
        problems.push(format!(
            "CODEOWNERS:\n{codeowners}\nCODEREVIEW.toml:\n{}",
            std::fs::read_to_string(dir.path().join("CODEREVIEW.toml")).unwrap()
        ));
    }
    (actual.len(), problems)
}

#[test]
fn github_codeowners_and_the_converted_config_own_the_same_files() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut files, mut owned) = (0, 0);
    for case in 0..40 {
        let tree = tree(&mut rng);
        let co = github_codeowners(&mut rng);
        let (n, problems) = differ(".github/CODEOWNERS", &co, &tree, "github", github_owners);
        assert!(problems.is_empty(), "case {case}:\n{}", problems.join("\n"));
        files += n;
        owned += tree
            .iter()
            .filter(|p| !github_owners(&co, p).is_empty())
            .count();
    }
    eprintln!(
        "GitHub CODEOWNERS differential: 40 repositories, {files} files ({owned} owned), all agree"
    );
    assert!(
        owned > files / 4,
        "the generator should own a good share of files"
    );
}

#[test]
fn gitlab_codeowners_and_the_converted_config_own_the_same_files() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut files, mut joint) = (0, 0);
    for case in 0..40 {
        let tree = tree(&mut rng);
        let co = gitlab_codeowners(&mut rng);
        let (n, problems) = differ("CODEOWNERS", &co, &tree, "gitlab", gitlab_owners);
        assert!(problems.is_empty(), "case {case}:\n{}", problems.join("\n"));
        files += n;
        joint += tree
            .iter()
            .filter(|p| gitlab_owners(&co, p).len() > 1)
            .count();
    }
    eprintln!(
        "GitLab CODEOWNERS differential: 40 repositories, {files} files ({joint} owned by several sections), all agree"
    );
    assert!(joint > 0, "the generator should exercise several sections");
}

#[test]
fn the_evaluator_follows_the_documented_examples() {
    // GitHub's documentation examples.
    assert!(github_matches("*.js", "a/b/c.js"));
    assert!(github_matches("docs/*", "docs/getting-started.md"));
    assert!(!github_matches(
        "docs/*",
        "docs/build-app/troubleshooting.md"
    ));
    assert!(github_matches("apps/", "x/apps/y/z.rb"));
    assert!(github_matches("/docs/", "docs/a/b.md"));
    assert!(!github_matches("/docs/", "x/docs/b.md"));
    assert!(github_matches("**/logs", "deeply/nested/logs/x.log"));
    assert!(github_matches("/build/logs/", "build/logs/a/b"));
    assert!(!github_matches("/build/logs/", "x/build/logs/a"));
    // GitLab's.
    assert!(gitlab_matches("*.rb", "lib/a.rb"));
    assert!(gitlab_matches("/docs/", "docs/a/b.md"));
    assert!(gitlab_matches("docs/", "x/docs/b.md"));
    assert!(gitlab_matches("lib/a.rb", "x/lib/a.rb"));
    assert!(!gitlab_matches("/docs", "docs/a.md"));
    assert!(gitlab_matches("/[abc]*/x", "b/x"));
    assert!(!gitlab_matches("/[!abc]*/x", "b/x"));
}

#[test]
fn init_finds_the_codeowners_file_writes_the_config_and_warns_about_emails() {
    let dir = repo(&[
        (
            ".github/CODEOWNERS".into(),
            "* @acme/core\n/docs/ ana@example.com @bob\n".into(),
        ),
        ("docs/a.md".into(), "x\n".into()),
    ]);
    let out = codereview(dir.path(), &["init", "--from-codeowners"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Created CODEREVIEW.toml from .github/CODEOWNERS (GitHub CODEOWNERS, 2 scopes, 1 warnings; pass --forge to read it as the other dialect)\n"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "warning: .github/CODEOWNERS:2: owner `ana@example.com` dropped: e-mail addresses cannot be reviewers"
        ),
        "{}",
        text(&out)
    );
    let written = std::fs::read_to_string(dir.path().join("CODEREVIEW.toml")).unwrap();
    assert!(
        written.contains(
            "name = \"/docs/\"\npaths = [\"/docs/**\"]\nreviewers = [\"bob\"]\nrequire = 1\n"
        ),
        "{written}"
    );
    assert!(codereview(dir.path(), &["check"]).status.success());

    // Never overwrites.
    let again = codereview(dir.path(), &["init", "--from-codeowners"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("CODEREVIEW.toml already exists!"));

    let none = repo(&[("a.txt".into(), "x\n".into())]);
    let out = codereview(none.path(), &["init", "--from-codeowners"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no CODEOWNERS file in"));
}

/// Documented divergence: GitHub matches CODEOWNERS paths case-sensitively, `CODEREVIEW.toml`
/// globs ignore case (PullApprove's dialect), so `/Docs/` also owns `docs/`.
#[test]
fn matching_ignores_case_where_github_does_not() {
    assert!(!github_matches("/Docs/", "docs/a.md"));
    let (_, problems) = differ(
        "CODEOWNERS",
        "/Docs/ @alice\n",
        &["docs/a.md".into()],
        "github",
        github_owners,
    );
    assert!(
        problems.first().is_some_and(
            |p| p.starts_with("docs/a.md: CODEOWNERS says [], codereview [([\"alice\"], 1)]")
        ),
        "{problems:?}"
    );
}

const PA_FILES: [&str; 4] = [
    ".pullapprove.yml",
    "CODEOWNERS",
    "docs/CODEOWNERS",
    ".github/CODEOWNERS",
];

fn warnings(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with("[Warning]"))
        .map(str::to_string)
        .collect()
}

#[test]
fn check_warns_while_codeowners_or_pullapprove_yml_is_still_there() {
    let mut files: Vec<(String, String)> = PA_FILES
        .iter()
        .map(|f| (f.to_string(), "* @alice\n".to_string()))
        .collect();
    files.push((".gitlab/CODEOWNERS".into(), "* @alice\n".into()));
    files.push((
        "CODEREVIEW.toml".into(),
        "[[scopes]]\nname = \"all\"\npaths = [\"**/*\"]\nreviewers = [\"alice\"]\n".into(),
    ));
    let dir = repo(&files);
    let out = codereview(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        warnings(&out.stdout),
        vec![
            "[Warning] This repo still contains a PullApprove v3 config file (.pullapprove.yml). Consider migrating it to CODEREVIEW.toml.",
            "[Warning] This repo still contains a CODEOWNERS file. Consider migrating it: codereview init --from-codeowners CODEOWNERS",
            "[Warning] This repo still contains a CODEOWNERS file (docs/CODEOWNERS). Consider migrating it: codereview init --from-codeowners docs/CODEOWNERS",
            "[Warning] This repo still contains a CODEOWNERS file (.github/CODEOWNERS). Consider migrating it: codereview init --from-codeowners .github/CODEOWNERS",
            "[Warning] This repo still contains a CODEOWNERS file (.gitlab/CODEOWNERS). Consider migrating it: codereview init --from-codeowners .gitlab/CODEOWNERS",
        ]
    );
    let quiet = codereview(dir.path(), &["check", "--quiet"]);
    assert!(quiet.status.success());
    assert!(warnings(&quiet.stdout).is_empty());
}

/// Same files warned about, same sentence up to "Consider migrating it", as `pa check`
/// (PullApprove's CLI does not know GitLab's `.gitlab/CODEOWNERS`).
#[test]
fn check_warns_about_the_same_files_as_pa() {
    let Some(pa) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("pa"))
            .find(|p| p.is_file())
    }) else {
        eprintln!(
            "SKIPPED: `pa` is not on PATH (pip install --ignore-requires-python pullapprove==5.19.0)"
        );
        return;
    };
    let config = (
        "CODEREVIEW.toml".to_string(),
        "[[scopes]]\nname = \"all\"\npaths = [\"**/*\"]\nreviewers = [\"alice\"]\n".to_string(),
    );
    let prefix = |w: &String| {
        w.split(" Consider migrating it")
            .next()
            .unwrap()
            .to_string()
    };
    // Every subset of the four files pa knows.
    for mask in 0..16u32 {
        let mut files = vec![config.clone()];
        for (i, f) in PA_FILES.iter().enumerate() {
            if mask & (1 << i) != 0 {
                files.push((f.to_string(), "* @alice\n".to_string()));
            }
        }
        let dir = repo(&files);
        let theirs = Command::new(&pa)
            .arg("check")
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let ours = codereview(dir.path(), &["check"]);
        assert_eq!(
            theirs.status.success(),
            ours.status.success(),
            "pa: {}\nours: {}",
            text(&theirs),
            text(&ours)
        );
        let theirs: Vec<String> = warnings(&theirs.stdout).iter().map(prefix).collect();
        let ours: Vec<String> = warnings(&ours.stdout).iter().map(prefix).collect();
        assert_eq!(ours, theirs, "files {mask:04b}");
    }
}
