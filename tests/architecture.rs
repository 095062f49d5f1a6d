//! The shape of the workspace, checked: arrows between modules only point one way, and the
//! engine (`codereview-policy`) stays pure.
//!
//! A module cycle (`cli` uses `status` which uses `cli`) is how a codebase grows crooked: no
//! piece can be understood, tested or moved alone. This test reads every crate's sources, builds
//! the graph of `crate::`/`super::` references between file modules, and fails on any cycle.
//! References between a module and its own ancestors or descendants are part of Rust's module
//! tree (a parent declares and re-exports its children) and are not counted; every other
//! reference is lifted to the two sibling subtrees it connects, so `sync::handler → clients` and
//! `clients::slack → sync::model` form the cycle `clients ⇄ sync`.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A module path inside one crate: `["sync", "handler"]`; the crate root is `[]`.
type ModPath = Vec<String>;

/// Every file module of the crate whose `src/` is `src`: `a/b.rs` and `a/b/mod.rs` are `a::b`,
/// `lib.rs` is the root (`main.rs`, the binary's root, only calls the library).
fn file_modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    fn walk(src: &Path, dir: &Path, out: &mut BTreeMap<ModPath, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(src, &path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: ModPath = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            match module.last().map(String::as_str) {
                Some("mod") => {
                    module.pop();
                }
                Some("lib") if module.len() == 1 => module.clear(),
                Some("main") if module.len() == 1 => continue,
                _ => {}
            }
            out.insert(module, path);
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The source without unit-test modules and comments: test code may reach anywhere.
fn production_source(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths named in `use` trees (`use crate::{a::X, b::{c, d}}`), expanded, as written.
fn use_paths(text: &str) -> Vec<String> {
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let head = tree[..open].trim().trim_end_matches("::");
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let base = join(prefix, head);
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&base, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&base, &inner[start..], out);
        } else if !tree.is_empty() {
            let tree = tree.split(" as ").next().unwrap_or(tree).trim();
            out.push(join(prefix, tree));
        }
    }
    fn join(a: &str, b: &str) -> String {
        match (a.is_empty(), b.is_empty()) {
            (true, _) => b.to_string(),
            (_, true) => a.to_string(),
            _ => format!("{a}::{b}"),
        }
    }
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        let body = trimmed
            .strip_prefix("pub ")
            .or_else(|| trimmed.strip_prefix("pub(crate) "))
            .or_else(|| trimmed.strip_prefix("pub(super) "))
            .unwrap_or(trimmed);
        let Some(tree) = body.strip_prefix("use ") else {
            continue;
        };
        let from = start + (line.len() - tree.len());
        let end = text[from..].find(';').map_or(text.len(), |e| from + e);
        expand("", &text[from..end], &mut out);
    }
    out
}

/// Paths written inline (`crate::a::b::f()`, `super::x::Y`).
fn inline_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(start) {
            let at = from + at;
            from = at + start.len();
            if text[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(path.trim_end_matches(':').to_string());
        }
    }
    out
}

/// The file module a path written in module `from` refers to (the longest known prefix).
fn resolve(from: &ModPath, path: &str, known: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: ModPath = match segments.peek().copied() {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("super") | Some("self") => {
            // `super` in module a::b (a/b.rs or a/b/mod.rs) is `a`.
            let mut base = from.clone();
            while let Some(s) = segments.peek().copied() {
                match s {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segments.next();
            }
            base
        }
        _ => return None,
    };
    let mut best = known.contains(&base).then(|| base.clone());
    for s in segments {
        base.push(s.to_string());
        if known.contains(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

fn is_prefix(a: &ModPath, b: &ModPath) -> bool {
    a.len() <= b.len() && a[..] == b[..a.len()]
}

/// Cycles between sibling subtrees of one crate, as readable strings.
fn cycles(src: &Path) -> Vec<String> {
    let modules = file_modules(src);
    let known: BTreeSet<ModPath> = modules.keys().cloned().collect();
    // Lifted edges, grouped by the common parent they are siblings under.
    let mut graphs: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut why: BTreeMap<(ModPath, String, String), String> = BTreeMap::new();
    for (module, file) in &modules {
        let text = production_source(&std::fs::read_to_string(file).unwrap());
        for path in use_paths(&text).into_iter().chain(inline_paths(&text)) {
            let Some(target) = resolve(module, &path, &known) else {
                continue;
            };
            if is_prefix(&target, module) || is_prefix(module, &target) {
                continue;
            }
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            let parent: ModPath = module[..common].to_vec();
            let (a, b) = (module[common].clone(), target[common].clone());
            why.entry((parent.clone(), a.clone(), b.clone()))
                .or_insert_with(|| format!("{} uses {path}", module.join("::")));
            graphs
                .entry(parent)
                .or_default()
                .entry(a)
                .or_default()
                .insert(b);
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in &graphs {
        for cycle in find_cycles(graph) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| why[&(parent.clone(), w[0].clone(), w[1].clone())].clone())
                .collect();
            found.push(format!(
                "{}: {} ({})",
                src.display(),
                cycle.join(" → "),
                steps.join("; ")
            ));
        }
    }
    found
}

/// One cycle per strongly connected component with more than one node, as a closed walk.
fn find_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut seen_in_cycle = BTreeSet::new();
    let mut out = Vec::new();
    for start in graph.keys() {
        if seen_in_cycle.contains(start) {
            continue;
        }
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut visited = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start.clone());
                    seen_in_cycle.extend(path.iter().cloned());
                    out.push(cycle);
                    stack.clear();
                    break;
                }
                if visited.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    out
}

const CRATES: [&str; 4] = ["policy", "forge", "action", "service"];

#[test]
fn no_module_imports_in_a_cycle() {
    let found: Vec<String> = CRATES
        .iter()
        .flat_map(|c| cycles(&workspace().join(c).join("src")))
        .collect();
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("sync")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "pub mod cli;\npub mod status;\npub mod sync;\n",
    )
    .unwrap();
    std::fs::write(src.join("cli.rs"), "use crate::status::{self, Args};\n").unwrap();
    std::fs::write(src.join("status.rs"), "fn f() { crate::cli::run() }\n").unwrap();
    std::fs::write(
        src.join("sync/mod.rs"),
        "pub mod decide;\npub mod render;\npub use decide::X;\n",
    )
    .unwrap();
    std::fs::write(src.join("sync/decide.rs"), "use super::render::R;\n").unwrap();
    std::fs::write(
        src.join("sync/render.rs"),
        "use crate::{sync::{decide::D}};\n#[cfg(test)]\nmod tests { use crate::cli::x; }\n",
    )
    .unwrap();
    let found = cycles(src);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found.iter().any(|c| c.contains("cli → status → cli")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|c| c.contains("decide → render → decide")),
        "{found:?}"
    );
}

/// `cargo tree` of a crate's normal dependencies, one name per line.
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
            package,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_engine_is_pure() {
    let deps = normal_dependencies("codereview-policy");
    let forbidden = [
        "tokio", "hyper", "reqwest", "octocrab", "gitlab", "clap", "sqlx", "warp",
    ];
    let present: Vec<&str> = forbidden
        .into_iter()
        .filter(|f| deps.contains(*f))
        .collect();
    assert!(
        present.is_empty(),
        "codereview-policy depends on {present:?}"
    );
    assert!(deps.contains("regex"), "the tree was read: {deps:?}");
}

#[test]
fn the_service_uses_the_engine_and_the_forge_layer() {
    let deps = normal_dependencies("codereview-sync");
    for needed in ["codereview-policy", "codereview-forge"] {
        assert!(deps.contains(needed), "codereview-sync lacks {needed}");
    }
}

/// Dependencies a crate declares on purpose without naming them in its code.
const DECLARED_ON_PURPOSE: &[(&str, &str, &str)] = &[(
    "tests",
    "codereview",
    "builds the `codereview` binary the end-to-end tests run",
)];

/// The Rust names (`serde_json`) of a manifest table's dependencies (`serde-json`); a renamed
/// dependency's key is already the name the code uses.
fn dependency_names(manifest: &toml::Table, table: &str) -> Vec<String> {
    manifest
        .get(table)
        .and_then(|t| t.as_table())
        .map(|deps| deps.keys().map(|name| name.replace('-', "_")).collect())
        .unwrap_or_default()
}

/// All Rust source under `dirs` of a crate, concatenated.
fn sources(krate: &Path, dirs: &[&str]) -> String {
    fn walk(dir: &Path, out: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // A module included from elsewhere (`#[path = "../../x.rs"] mod x;`) is
                // this crate's code too.
                for include in text
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("#[path = \""))
                    .filter_map(|l| l.strip_suffix("\"]"))
                {
                    if let Some(dir) = path.parent()
                        && let Ok(included) = std::fs::read_to_string(dir.join(include))
                    {
                        out.push_str(&included);
                        out.push('\n');
                    }
                }
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
    let mut out = String::new();
    for dir in dirs {
        let path = krate.join(dir);
        if path.is_file() {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        } else {
            walk(&path, &mut out);
        }
    }
    out
}

/// Whether `code` names the crate `name` (a path, a `use`, a macro or an attribute).
fn names(code: &str, name: &str) -> bool {
    [
        format!("{name}::"),
        format!("use {name}"),
        format!("extern crate {name}"),
    ]
    .iter()
    .any(|needle| code.contains(needle.as_str()))
}

#[test]
fn every_declared_dependency_is_used() {
    let mut unused = Vec::new();
    for krate in ["policy", "forge", "action", "service", "tests"] {
        let dir = workspace().join(krate);
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        let everything = sources(&dir, &["."]);
        // The end-to-end crate is all tests: its dependencies serve its test files.
        let production = if krate == "tests" {
            everything.clone()
        } else {
            sources(&dir, &["src"])
        };
        for (table, code) in [
            ("dependencies", &production),
            ("dev-dependencies", &everything),
        ] {
            for name in dependency_names(&manifest, table) {
                let on_purpose = DECLARED_ON_PURPOSE
                    .iter()
                    .any(|(k, d, _)| *k == krate && *d == name);
                if !on_purpose && !names(code, &name) {
                    unused.push(format!("{krate}/Cargo.toml [{table}] {name}"));
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "declared but never used:\n{}",
        unused.join("\n")
    );
}
