//! `codereview trust` / `codereview diff` against PullApprove's `pa trust` / `pa diff` on
//! generated changes in real git repositories, across languages (Python, JavaScript,
//! TypeScript, Rust, Go, Java, C, Ruby, YAML, Markdown, lockfiles).
//!
//! Each case builds a repository with a few files, commits it, rewrites the files with
//! generated edits (hand-written trivial and non-trivial edits per language, plus random
//! micro-mutations of sample lines: quote swaps, semicolons, comments, spacing, wraps, digit
//! changes...), then compares:
//! - `trust --list HEAD`: the label of every hunk (rows `path` + `@@ header`), hunk by hunk;
//! - `diff --no-pager --hide ... HEAD`: the filtered diff, byte for byte.
//!
//! Documented divergences ([`DIVERGENCES`], docs/trust.md) are left out of the comparison and
//! checked on their own. The agreement figures (cases, hunks, agreeing, per label) are printed.
//! The pa comparison skips (and passes) with a message when `pa` is not on `PATH`; CI installs
//! it. The `git apply --check` and stdin tests need only git.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use codereview_e2e::{Output, Repo, Rng, codereview_bin, isolated_env, pa, parallel_map};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// Where we differ from pullapprove 5.19.0 on purpose (also in docs/trust.md).
pub const DIVERGENCES: &[(&str, &str)] = &[(
    "file:renamed",
    "pa 5.19.0 defines `file:renamed` but its CLI never applies it: a pure rename has no hunk, \
     so `pa trust --list` omits it and `pa diff` always shows it. We list it as `(renamed \
     from OLD)  file:renamed`, count it in the summary, and `diff` hides it unless `--hide` \
     leaves the `file` family out. The comparison ignores those rows and compares `diff` with \
     every family but `file:renamed` hidden.",
)];

/// A language: file extension, a filler line (unique per number, so git aligns the sides),
/// hand-written edits (before, after) and sample lines for random micro-mutations.
struct Lang {
    ext: &'static str,
    comment: &'static str,
    filler: fn(usize) -> String,
    edits: &'static [(&'static str, &'static str)],
    samples: &'static [&'static str],
}

const PY: Lang = Lang {
    ext: "py",
    comment: "#",
    filler: |n| format!("v{n} = {n}"),
    edits: &[
        ("import os", "import os\nimport sys"),
        ("import os\nimport sys", "import os"),
        ("import os\nimport sys", "import sys\nimport os"),
        ("from pkg import a", "from pkg import a, b"),
        ("from pkg import a", "from evil import a"),
        (
            "from pkg import (\n    a,\n)",
            "from pkg import (\n    a,\n    b,\n)",
        ),
        ("from __future__ import annotations", ""),
        ("x = 1", "# explain x\nx = 1"),
        ("# old note\nx = 1", "# new note\nx = 1"),
        ("# drop me\nx = 1", "x = 1"),
        ("x = 1", "x = 1  # why"),
        ("x = 1", "x = 1  # noqa: E501"),
        ("s = 'a'", "s = \"a\""),
        ("s = 'a'", "s = \"b\""),
        ("y=f( a )", "y = f(a)"),
        ("z = g(a, b, c)", "z = g(a,\n      b, c)"),
        ("z = g(a,\n      b, c)", "z = g(a, b, c)"),
        ("w = 1", "w = 1\n\n"),
        ("def h(a, b=1):", "def h(a: int, b: int = 1) -> int:"),
        ("def h(a: int):", "def h(a: str):"),
        ("n: int = 1", "n: float = 1"),
        ("n = 1", "n = 2"),
        ("t = 1", "t = 1,"),
        ("    return a", "  return a"),
        ("\"\"\"Doc.\"\"\"", "\"\"\"Docs.\"\"\""),
        ("#!/usr/bin/env python", "#!/usr/bin/env python3"),
        ("d = {'a': 1}", "d = {\"a\": 1}"),
        ("q = a // b", "q = a//b"),
    ],
    samples: &[
        "x = compute('alpha', 2)",
        "result = {\"a\": 1, \"b\": 2}",
        "def handler(request, timeout=30):",
        "items = [1, 2, 3]",
        "if x > 1:  # check",
        "name: str = 'bob'",
        "from pkg.mod import thing",
        "import os",
        "total = a // b",
        "print(f\"{x} items\")",
        "value = obj.attr[0] + other(1, 2)",
    ],
};

const JS: Lang = Lang {
    ext: "js",
    comment: "//",
    filler: |n| format!("const v{n} = {n};"),
    edits: &[
        ("import { a } from './a';", "import { a, b } from './a';"),
        ("import { a } from './a';", "import { a } from './evil';"),
        (
            "import './polyfill';\nimport './init';",
            "import './init';\nimport './polyfill';",
        ),
        (
            "import a from 'a';\nimport b from 'b';",
            "import b from 'b';\nimport a from 'a';",
        ),
        ("foo(1);", "foo(1)"),
        ("foo('x');", "foo(\"x\");"),
        ("foo(a, b,);", "foo(a, b);"),
        ("let s = `t`;", "let s = 't';"),
        ("x = a+b;", "x = a + b;"),
        ("x = a / b;", "x = a/b;"),
        ("run();", "// call it\nrun();"),
        ("run();", "/* block\n   comment */\nrun();"),
        ("run();", "run(); // eslint-disable-line"),
        (
            "const big = call(one, two, three);",
            "const big = call(\n  one, two, three);",
        ),
        ("const n = 1;", "const n = 2;"),
        ("go();", "go();\n\n\n"),
        (
            "const f = () => import('./lazy');",
            "const f = () => import('./lazy2');",
        ),
    ],
    samples: &[
        "const x = compute('alpha', 2);",
        "let y = {a: 1, b: 2};",
        "function handler(req, res) { return res; }",
        "import { a } from './a';",
        "const re = /ab+c/;",
        "foo(a, b);",
        "if (x > 1) { y(); } // check",
        "export const z = [1, 2, 3];",
    ],
};

const TS: Lang = Lang {
    ext: "ts",
    comment: "//",
    filler: |n| format!("const v{n} = {n};"),
    edits: &[
        ("const n = 1;", "const n: number = 1;"),
        ("const n: number = 1;", "const n: string = 1;"),
        ("function f(a) {}", "function f(a: string) {}"),
        ("function f(a: string) {}", "function f(a: number) {}"),
        (
            "let m = new Map();",
            "let m: Map<string, number> = new Map();",
        ),
        (
            "import type { A } from './t';",
            "import type { A, B } from './t';",
        ),
        ("call('a');", "call(\"a\")"),
        ("// c1\ncall();", "// c2\ncall();"),
        ("const v = a ?? b;", "const v = a || b;"),
        ("x = y<T>(z);", "x = y < T > (z);"),
    ],
    samples: &[
        "const n: number = compute('a', 1);",
        "function f(a: string, b = 2) { return a; }",
        "let m: Map<string, number> = new Map();",
        "export function g(x: number): string { return String(x); }",
        "import { Thing } from './thing';",
        "type T = { a: string };",
    ],
};

const RS: Lang = Lang {
    ext: "rs",
    comment: "//",
    filler: |n| format!("let v{n} = {n};"),
    edits: &[
        ("use std::fmt;", "use std::fmt;\nuse std::io;"),
        ("use std::fmt;\nuse std::io;", "use std::io;\nuse std::fmt;"),
        ("use std::fmt;\nuse std::io;", "use std::fmt;"),
        ("use std::{fmt, io};", "use std::{fmt, io, mem};"),
        ("use a::{\n    b,\n};", "use a::{\n    b,\n    c,\n};"),
        ("let x = 1;", "// why x\nlet x = 1;"),
        ("/// Old doc.\nfn f() {}", "/// New doc.\nfn f() {}"),
        ("let x = 1;", "let x = 1; // trailing"),
        ("let x = 1;", "let x = 2;"),
        ("let s = \"a\";", "let s = 'a';"),
        ("let y=f( a );", "let y = f(a);"),
        ("unsafe { go() }", "// SAFETY: fine\nunsafe { go() }"),
        ("let x = 1;", "let x = 1;\n\n"),
    ],
    samples: &[
        "let x = compute(\"alpha\", 2);",
        "use std::collections::HashMap;",
        "fn handler(req: Request) -> Response { req.into() }",
        "let v = vec![1, 2, 3];",
        "// a comment",
        "let s: &str = \"text\"; // note",
    ],
};

const GO: Lang = Lang {
    ext: "go",
    comment: "//",
    filler: |n| format!("var v{n} = {n}"),
    edits: &[
        ("import \"fmt\"", "import \"fmt\"\nimport \"os\""),
        (
            "import \"fmt\"\nimport \"os\"",
            "import \"os\"\nimport \"fmt\"",
        ),
        ("import (\n\t\"fmt\"\n)", "import (\n\t\"fmt\"\n\t\"os\"\n)"),
        ("x := 1", "// x is one\nx := 1"),
        ("x := 1", "x := 1 // one"),
        ("x := 1", "x := 2"),
        ("//go:build linux", "//go:build darwin"),
        ("s := `a // b`", "s := `a // c`"),
        ("x := 1", "x := 1\n\n"),
    ],
    samples: &[
        "x := compute(\"alpha\", 2)",
        "import \"fmt\"",
        "func handler(w http.ResponseWriter) { w.Write(nil) }",
        "var items = []int{1, 2, 3}",
        "s := `raw`",
    ],
};

const JAVA: Lang = Lang {
    ext: "java",
    comment: "//",
    filler: |n| format!("int v{n} = {n};"),
    edits: &[
        (
            "import java.util.List;",
            "import java.util.List;\nimport java.util.Map;",
        ),
        (
            "import java.util.List;\nimport java.util.Map;",
            "import java.util.Map;\nimport java.util.List;",
        ),
        ("import java.util.List;", "import java.util.Set;"),
        ("int x = 1;", "int x = 1; // one"),
        ("int x = 1;", "/** Doc. */\nint x = 1;"),
    ],
    samples: &[
        "int x = compute(\"a\", 2);",
        "import java.util.List;",
        "String s = \"t\";",
    ],
};

const C: Lang = Lang {
    ext: "c",
    comment: "//",
    filler: |n| format!("int v{n} = {n};"),
    edits: &[
        (
            "#include <stdio.h>",
            "#include <stdio.h>\n#include <stdlib.h>",
        ),
        (
            "#include <stdio.h>\n#include <stdlib.h>",
            "#include <stdlib.h>\n#include <stdio.h>",
        ),
        ("#include \"a.h\"", "#include \"b.h\""),
        ("int x = 1;", "int x = 1; /* one */"),
        ("int x = 1;", "/* one */\nint x = 1;"),
    ],
    samples: &["int x = f(1, 2);", "#include <stdio.h>", "char *s = \"t\";"],
};

const RB: Lang = Lang {
    ext: "rb",
    comment: "#",
    filler: |n| format!("v{n} = {n}"),
    edits: &[
        ("require 'json'", "require 'json'\nrequire 'set'"),
        ("require 'json'", "require 'yaml'"),
        ("x = 1", "x = 1 # one"),
        ("# frozen_string_literal: true", ""),
    ],
    samples: &["x = compute('a', 2)", "require 'json'"],
};

const YAML: Lang = Lang {
    ext: "yaml",
    comment: "#",
    filler: |n| format!("k{n}: {n}"),
    edits: &[
        ("a: 1", "# note\na: 1"),
        ("a: 1", "a: 1\n\n"),
        ("a: 'x'", "a: \"x\""),
    ],
    samples: &["url: https://x.test/#frag", "key: 'value'"],
};

const MD: Lang = Lang {
    ext: "md",
    comment: "<!--",
    filler: |n| format!("Line {n}."),
    edits: &[("Para.", "Para.\n\n"), ("Para.", "<!-- c -->\nPara.")],
    samples: &["Some *text*.", "- item"],
};

const LANGS: &[&Lang] = &[
    &PY, &JS, &TS, &RS, &GO, &PY, &JS, &TS, &RS, &GO, &JAVA, &C, &RB, &YAML, &MD,
];

/// A random small edit of one line, in the spirit of what formatters and people do.
fn mutate(rng: &mut Rng, lang: &Lang, line: &str) -> String {
    let swap_quotes = |s: &str| {
        s.chars()
            .map(|c| match c {
                '\'' => '"',
                '"' => '\'',
                c => c,
            })
            .collect::<String>()
    };
    match rng.below(12) {
        0 => swap_quotes(line),
        1 => line
            .strip_suffix(';')
            .map_or_else(|| format!("{line};"), str::to_string),
        2 => format!("{line}  {} note", lang.comment),
        3 => line.replace(" = ", "="),
        4 => line.replace(", ", ",  "),
        5 => line.replacen(|c: char| c.is_ascii_digit(), "7", 1),
        6 => line.replacen(')', ",)", 1),
        7 => line.replacen(", ", ",\n    ", 1),
        8 => format!("    {line}"),
        9 => format!("{} TODO: check\n{line}", lang.comment),
        10 => String::new(),
        _ => format!("{line}\n{line}"),
    }
}

/// One generated file: the text before and after.
fn generate_file(rng: &mut Rng, lang: &Lang, base: usize) -> (String, String) {
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut n = base;
    let mut fill = |before: &mut Vec<String>, after: &mut Vec<String>, count: usize| {
        for _ in 0..count {
            let l = (lang.filler)(n);
            n += 1;
            before.push(l.clone());
            after.push(l);
        }
    };
    fill(&mut before, &mut after, rng.below(4));
    for _ in 0..1 + rng.below(4) {
        if rng.chance(60) {
            let (b, a) = *rng.pick(lang.edits);
            before.push(b.to_string());
            after.push(a.to_string());
        } else {
            let s = *rng.pick(lang.samples);
            before.push(s.to_string());
            after.push(mutate(rng, lang, s));
        }
        // Usually far enough apart for separate hunks, sometimes merged into one.
        let gap = if rng.chance(75) {
            7 + rng.below(3)
        } else {
            rng.below(4)
        };
        fill(&mut before, &mut after, gap);
    }
    let join = |v: Vec<String>| {
        let mut s = v.join("\n");
        s.push('\n');
        s
    };
    (join(before), join(after))
}

struct Case {
    name: String,
    files: Vec<(String, String, String)>,
    /// Extra changes: lockfiles, empty files, renames, deletions.
    extras: Vec<Extra>,
}

enum Extra {
    Lockfile(&'static str),
    EmptyFile,
    Rename,
    Delete,
}

const LOCKFILES: &[&str] = &["Cargo.lock", "package-lock.json", "go.sum", "poetry.lock"];

fn cases(n: usize) -> Vec<Case> {
    let mut rng = Rng(0x7275_7374);
    (0..n)
        .map(|i| {
            let mut files = Vec::new();
            for f in 0..2 + rng.below(3) {
                let lang = *rng.pick(LANGS);
                let (before, after) = generate_file(&mut rng, lang, 1000 * (f + 1));
                files.push((format!("src/f{f}.{}", lang.ext), before, after));
            }
            let mut extras = Vec::new();
            if rng.chance(25) {
                extras.push(Extra::Lockfile(LOCKFILES[rng.below(LOCKFILES.len())]));
            }
            if rng.chance(15) {
                extras.push(Extra::EmptyFile);
            }
            if rng.chance(15) {
                extras.push(Extra::Rename);
            }
            if rng.chance(10) {
                extras.push(Extra::Delete);
            }
            Case {
                name: format!("case-{i}"),
                files,
                extras,
            }
        })
        .collect()
}

fn build(case: &Case) -> Repo {
    let repo = Repo::new();
    for (path, before, _) in &case.files {
        repo.write(path, before);
    }
    for e in &case.extras {
        match e {
            Extra::Lockfile(name) => repo.write(name, "a = 1\nb = 2\n"),
            Extra::Rename => repo.write("old/moved.py", "print('moved')\n"),
            Extra::Delete => repo.write("gone.js", "gone();\n"),
            Extra::EmptyFile => {}
        }
    }
    repo.commit_all("base");
    for (path, _, after) in &case.files {
        repo.write(path, after);
    }
    for e in &case.extras {
        match e {
            Extra::Lockfile(name) => repo.write(name, "a = 1\nb = 3\nc = 4\n"),
            Extra::EmptyFile => repo.write("src/empty.py", "\n\n"),
            Extra::Rename => {
                repo.git(["mv", "old/moved.py", "old/renamed.py"]);
            }
            Extra::Delete => repo.remove("gone.js"),
        }
    }
    // Intent-to-add so new files show up in `git diff HEAD`.
    repo.git(["add", "-N", "."]);
    repo
}

/// `(path, hunk header) → label` rows of a `trust --list` output, and pure-rename rows apart.
fn rows(list: &str) -> (Vec<(String, String, String)>, usize) {
    let mut out = Vec::new();
    let mut renames = 0;
    let mut path = String::new();
    for line in list.lines() {
        if line == "No changes." {
            continue;
        }
        if let Some(rest) = line.strip_prefix("  ") {
            if rest.starts_with("(renamed from ") {
                renames += 1;
                continue;
            }
            let (header, label) = rest
                .rsplit_once("  ")
                .unwrap_or_else(|| panic!("unexpected row {line:?}"));
            out.push((
                path.clone(),
                header.trim().to_string(),
                label.trim().to_string(),
            ));
        } else {
            path = line.to_string();
        }
    }
    (out, renames)
}

/// `--hide` for every family but `file:renamed` (whose handling is a documented divergence).
const HIDE_ALL_BUT_RENAMES: &[&str] = &[
    "--hide",
    "generated",
    "--hide",
    "formatting",
    "--hide",
    "comments",
    "--hide",
    "imports",
    "--hide",
    "type-annotations",
    "--hide",
    "file:added-empty",
];

#[derive(Default)]
struct Tally {
    hunks: usize,
    agree: usize,
    /// label (pa's) → (hunks, agreeing)
    per_label: BTreeMap<String, (usize, usize)>,
    failures: Vec<String>,
    diffs_compared: usize,
}

fn compare(case: &Case, pa: &Path, ours: &Path) -> Tally {
    let repo = build(case);
    let mut t = Tally::default();
    let theirs = repo.run(pa, ["trust", "--list", "HEAD"]);
    let mine = repo.run(ours, ["trust", "--list", "HEAD"]);
    if theirs.code != mine.code {
        t.failures.push(format!(
            "trust exit codes: pa {:?}, ours {:?}",
            theirs.code, mine.code
        ));
    }
    let (p_rows, _) = rows(&theirs.stdout);
    let (o_rows, _) = rows(&mine.stdout);
    let ours_by_key: BTreeMap<(&str, &str), &str> = o_rows
        .iter()
        .map(|(p, h, l)| ((p.as_str(), h.as_str()), l.as_str()))
        .collect();
    if p_rows.len() != o_rows.len() {
        t.failures.push(format!(
            "hunk rows: pa {}, ours {}\n--- pa\n{}--- ours\n{}",
            p_rows.len(),
            o_rows.len(),
            theirs.stdout,
            mine.stdout
        ));
    }
    for (path, header, label) in &p_rows {
        t.hunks += 1;
        let entry = t.per_label.entry(label.clone()).or_default();
        entry.0 += 1;
        let got = ours_by_key.get(&(path.as_str(), header.as_str())).copied();
        if got == Some(label.as_str()) {
            t.agree += 1;
            entry.1 += 1;
        } else {
            t.failures.push(format!(
                "{path} {header}: pa {label}, ours {}\n{}",
                got.unwrap_or("(missing)"),
                hunk_text(&repo, path, header)
            ));
        }
    }
    let mut args = vec!["diff", "--no-pager"];
    args.extend(HIDE_ALL_BUT_RENAMES);
    args.push("HEAD");
    let theirs = repo.run(pa, &args);
    let mine = repo.run(ours, &args);
    t.diffs_compared += 1;
    if theirs.stdout != mine.stdout || theirs.code != mine.code {
        t.failures.push(format!(
            "diff output differs\n--- pa ({:?})\n{}--- ours ({:?})\n{}",
            theirs.code, theirs.stdout, mine.code, mine.stdout
        ));
    }
    if theirs.stderr.trim() != mine.stderr.trim() {
        t.failures.push(format!(
            "diff stderr differs: pa {:?}, ours {:?}",
            theirs.stderr, mine.stderr
        ));
    }
    t
}

/// The text of one hunk of `git diff HEAD -- path`, for failure messages.
fn hunk_text(repo: &Repo, path: &str, header: &str) -> String {
    let diff = repo.git(["diff", "HEAD", "--", path]);
    let mut out = String::new();
    let mut on = false;
    for l in diff.lines() {
        if l.starts_with("@@ ") {
            on = l.starts_with(header);
        }
        if on {
            let _ = writeln!(out, "    {l}");
        }
    }
    out
}

#[test]
fn trust_labels_agree_with_pullapprove() {
    let Some(pa) = pa() else {
        eprintln!(
            "SKIPPED trust differential test: `pa` is not on PATH. Install PullApprove's CLI \
             with `pip install --ignore-requires-python pullapprove==5.19.0` to run it."
        );
        return;
    };
    let ours = codereview_bin();
    let n = std::env::var("TRUST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let all = cases(n);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    let tallies = parallel_map(&all, threads, |c| compare(c, &pa, &ours));
    let mut total = Tally::default();
    let mut message = String::new();
    for (case, t) in all.iter().zip(&tallies) {
        total.hunks += t.hunks;
        total.agree += t.agree;
        total.diffs_compared += t.diffs_compared;
        for (label, (n, a)) in &t.per_label {
            let e = total.per_label.entry(label.clone()).or_default();
            e.0 += n;
            e.1 += a;
        }
        if !t.failures.is_empty() {
            let _ = writeln!(message, "\n=== {}", case.name);
            for f in &t.failures {
                let _ = writeln!(message, "{f}");
            }
            total.failures.extend(t.failures.iter().cloned());
        }
    }
    eprintln!(
        "trust differential: {} cases, {} hunks, {} agreeing, {} diverging; {} filtered diffs \
         compared byte for byte",
        all.len(),
        total.hunks,
        total.agree,
        total.hunks - total.agree,
        total.diffs_compared
    );
    for (label, (n, a)) in &total.per_label {
        eprintln!("  {label:<28} {n:>5} hunks, {a:>5} agreeing");
    }
    assert!(
        total.failures.is_empty(),
        "{} disagreements with pa:{message}",
        total.failures.len()
    );
}

#[test]
fn pure_renames_are_the_documented_divergence() {
    let Some(pa) = pa() else {
        eprintln!("SKIPPED: `pa` is not on PATH");
        return;
    };
    let ours = codereview_bin();
    let repo = Repo::new();
    repo.write("old/moved.py", "print('moved')\n");
    repo.commit_all("base");
    repo.git(["mv", "old/moved.py", "old/renamed.py"]);
    let theirs = repo.run(&pa, ["trust", "--list", "HEAD"]);
    let mine = repo.run(&ours, ["trust", "--list", "HEAD"]);
    assert_eq!(theirs.stdout, "No changes.\n", "{DIVERGENCES:?}");
    assert_eq!(
        mine.stdout,
        "old/renamed.py\n  (renamed from old/moved.py)  file:renamed\n"
    );
    let theirs = repo.run(&pa, ["diff", "--no-pager", "HEAD"]);
    let mine = repo.run(&ours, ["diff", "--no-pager", "HEAD"]);
    assert!(theirs.stdout.contains("rename to old/renamed.py"));
    assert_eq!(mine.stdout, "");
    assert_eq!(mine.stderr, "Hid 1 hunk: file:renamed (1)\n");
    let kept = repo.run(
        &ours,
        ["diff", "--no-pager", "--hide", "formatting", "HEAD"],
    );
    assert_eq!(kept.stdout, theirs.stdout);
}

/// Run `program args` in `dir` with `input` on stdin.
fn run_with_stdin(
    dir: &Path,
    program: &Path,
    args: &[&str],
    input: &[u8],
    index: Option<&Path>,
) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    isolated_env(&mut cmd);
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer").expect("write stdin");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn filtered_diffs_apply_and_stdin_matches_git_args() {
    let ours = codereview_bin();
    let git = Path::new("git");
    let mut hidden_any = 0;
    for case in cases(40) {
        let repo = build(&case);
        let head_index = repo.path().join(".git/head-index");
        let read = run_with_stdin(
            repo.path(),
            git,
            &["read-tree", "HEAD"],
            b"",
            Some(&head_index),
        );
        assert!(read.ok(), "{}", read.stderr);
        for hide in [
            &[][..],
            &["--hide", "comments"][..],
            &["--hide", "formatting:style", "--hide", "imports"][..],
        ] {
            let mut args = vec!["diff", "--no-pager"];
            args.extend(hide);
            args.push("HEAD");
            let out = repo.run(&ours, &args);
            assert!(out.ok(), "{}: {}", case.name, out.stderr);
            hidden_any += usize::from(!out.stderr.is_empty());
            // The filtered diff must apply to HEAD: check it against a scratch index of HEAD.
            let check = run_with_stdin(
                repo.path(),
                git,
                &["apply", "--check", "--cached", "--allow-empty", "-"],
                out.stdout.as_bytes(),
                Some(&head_index),
            );
            assert!(
                check.ok(),
                "{}: git apply rejects the filtered diff: {}\n{}",
                case.name,
                check.stderr,
                out.stdout
            );
        }
        // `git diff | codereview diff` equals `codereview diff ARGS`, and so does `trust`.
        let raw = repo.git(["diff", "HEAD"]);
        let piped = run_with_stdin(
            repo.path(),
            &ours,
            &["diff", "--no-pager"],
            raw.as_bytes(),
            None,
        );
        let direct = repo.run(&ours, ["diff", "--no-pager", "HEAD"]);
        assert_eq!(piped.stdout, direct.stdout, "{}", case.name);
        assert_eq!(piped.stderr, direct.stderr, "{}", case.name);
        let piped = run_with_stdin(repo.path(), &ours, &["trust"], raw.as_bytes(), None);
        let direct = repo.run(&ours, ["trust", "HEAD"]);
        assert_eq!(piped.stdout, direct.stdout, "{}", case.name);
    }
    assert!(
        hidden_any > 20,
        "the generated cases should hide hunks ({hidden_any})"
    );
}

#[test]
fn exit_codes_and_messages_match_pa() {
    let ours = codereview_bin();
    let repo = Repo::new();
    repo.write("a.py", "import os\n");
    repo.commit_all("base");
    repo.write("a.py", "import os\nimport sys\n");
    // A typo in --hide must not silently hide everything: usage error, exit 2, before git runs.
    let typo = repo.run(&ours, ["diff", "--hide", "formating", "HEAD"]);
    assert_eq!(typo.code, Some(2));
    assert_eq!(
        typo.stderr,
        "Error: Invalid value for --hide: unknown trust family: formating. Valid families: \
         comments, file, formatting, generated, imports, type-annotations.\n"
    );
    // git refusing the arguments: git's message, then ours, exit 1.
    let bad = repo.run(&ours, ["trust", "--list", "no-such-rev"]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("unknown revision"), "{}", bad.stderr);
    assert!(
        bad.stderr
            .ends_with("Error: Could not read a diff from git.\n")
    );
    // `--` and pathspecs reach git intact; codereview's options must come first.
    let scoped = repo.run(&ours, ["trust", "--list", "HEAD", "--", "a.py"]);
    assert_eq!(scoped.stdout, "a.py\n  @@ -1 +1,2 @@  imports:added\n");
    let none = repo.run(&ours, ["trust", "HEAD", "--", "missing.py"]);
    assert_eq!(
        (none.code, none.stdout.as_str()),
        (Some(0), "No changes.\n")
    );
    let shown = repo.run(&ours, ["diff", "--no-pager", "--hide", "comments", "HEAD"]);
    assert!(shown.stdout.contains("+import sys") && shown.stderr.is_empty());
    let quiet = repo.run(&ours, ["diff", "--quiet", "HEAD"]);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
    let summary = repo.run(&ours, ["trust", "HEAD"]);
    assert_eq!(
        summary.stdout,
        "1 hunk · 1 file\n  1 trusted (100%)\n     imports:added    1\n  0 need review (0%)\n  1 file fully trusted: a.py\n"
    );
}

/// Lines per extension for [`synthetic_hunks_agree_with_pullapprove`]: imports, comments,
/// annotations, strings, brackets, blank lines and fragments, mixed at random.
const SYNTHETIC: &[(&str, &[&str])] = &[
    (
        "py",
        &[
            "import os",
            "from a import b",
            "from a import (b,",
            "    c)",
            "x = f('a', 2)",
            "y = {\"k\": 1}",
            "def f(a, b=1):",
            "def g(a: int) -> str:",
            "    return a",
            "# comment",
            "x = 1  # note",
            "z: int = 3",
            "s = '''doc'''",
            "if a:",
            "t = (1,)",
            "q = a // b",
            "@decorator",
            "class A(B):",
            "lambda x: x",
            "print(f\"{x}\")",
            "",
            "    pass",
            "x = [",
            "    1, 2,",
            "]",
            "#!/usr/bin/env python",
            "async def h(x: List[int]) -> None:",
            "v: Annotated[int, Field(gt=0)] = 1",
            "import a.b as c",
        ],
    ),
    (
        "ts",
        &[
            "import { a } from './a';",
            "import b from \"b\"",
            "import './side';",
            "const x: number = 1;",
            "let y = 'a';",
            "function f(a: string, b = 2) { return a; }",
            "// c",
            "/* block */",
            "/*",
            " * doc",
            " */",
            "foo(1);",
            "(bar)()",
            "[1, 2].map(f)",
            "const s = `t ${x}`;",
            "x = a/b;",
            "x = a < b;",
            "export { a };",
            "const r = /re/g;",
            "",
            "type T = { a: string };",
            "if (a) {",
            "}",
            "  return x;",
            "const z = a ?? b",
            "let q = f(a,",
            "  b);",
        ],
    ),
    (
        "js",
        &[
            "import { a } from './a';",
            "const x = 1;",
            "foo('x');",
            "// note",
            "bar(a, b,);",
            "(f)();",
            "",
            "let s = \"q\"",
            "x++",
            "+y",
            "-z",
            "`tmpl`",
            "/* c */ run();",
            "require('x');",
            "const f = () => import('./m');",
        ],
    ),
    (
        "rs",
        &[
            "use std::fmt;",
            "use a::{b, c};",
            "let x = 1;",
            "// c",
            "/// doc",
            "fn f() {}",
            "let s = \"a\";",
            "",
            "#[derive(Debug)]",
            "pub use x::y;",
            "/* b */",
        ],
    ),
    (
        "go",
        &[
            "import \"fmt\"",
            "import (",
            "\t\"os\"",
            ")",
            "x := 1",
            "// c",
            "//go:generate foo",
            "s := `a`",
            "",
            "func f() {}",
            "var y = 2 // n",
        ],
    ),
    (
        "rb",
        &["require 'a'", "x = 1", "# c", "", "require_relative 'b'"],
    ),
    (
        "c",
        &[
            "#include <a.h>",
            "#include \"b.h\"",
            "int x = 1;",
            "// c",
            "/* d */",
            "",
        ],
    ),
    ("yaml", &["a: 1", "# c", "", "b: 'x'"]),
    (
        "css",
        &[
            "a { color: red; }",
            "/* c */",
            "b { background: url(//x/y); }",
            "",
        ],
    ),
    ("java", &["import a.B;", "int x = 1;", "// c", ""]),
];

fn synthetic_mutation(rng: &mut Rng, line: &str, ext: &str) -> String {
    let hash = matches!(ext, "py" | "rb" | "yaml");
    match rng.below(20) {
        0 => line
            .chars()
            .map(|c| match c {
                '\'' => '"',
                '"' => '\'',
                c => c,
            })
            .collect(),
        1 => line
            .strip_suffix(';')
            .map_or_else(|| format!("{line};"), str::to_string),
        2 => format!("{line}  {}", if hash { "# x" } else { "// x" }),
        3 => line.replace(" = ", "="),
        4 => line.replacen('=', " = ", 1),
        5 => line.replace(", ", ","),
        6 => line.replacen('(', "( ", 1),
        7 => line.replacen('1', "2", 1),
        8 => format!("  {line}"),
        9 => format!("{line}   "),
        10 => line.replacen(')', ",)", 1),
        11 => line
            .replace(": int", "")
            .replace(": string", "")
            .replace(": number", ""),
        12 => line.replacen("(a", "(a: int", 1),
        13 => line.replacen('a', "b", 1),
        14 => format!("{},", line.trim_end_matches(';')),
        15 => String::new(),
        16 => line.replacen(", ", ",\n    ", 1),
        17 => format!("{}{line}", if hash { "# " } else { "// " }),
        18 => line.replace("//", "#"),
        _ => line.replace("import", "import  "),
    }
}

/// Thousands of synthetic hunks (random lines and mutations, headers included) in one diff
/// piped to both tools: `pa trust --list` and `codereview trust --list` must label each alike.
fn synthetic_diff(rng: &mut Rng, n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let (ext, lines) = *rng.pick(SYNTHETIC);
        let pick = |rng: &mut Rng| rng.pick(lines).to_string();
        let mut body: Vec<String> = Vec::new();
        for _ in 0..rng.below(4) {
            body.push(format!(" {}", pick(rng)));
        }
        let blocks = 1 + rng.below(2);
        for b in 0..blocks {
            let mut old: Vec<String> = (0..1 + rng.below(3)).map(|_| pick(rng)).collect();
            let mode = rng.below(100);
            let new: Vec<String> = if mode < 60 {
                old.iter()
                    .flat_map(|o| {
                        synthetic_mutation(rng, o, ext)
                            .split('\n')
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .collect()
            } else if mode < 75 {
                old.iter().rev().cloned().collect()
            } else if mode < 85 {
                let mut n = old.clone();
                n.push(pick(rng));
                old.clear();
                n
            } else {
                Vec::new()
            };
            body.extend(old.iter().map(|l| format!("-{l}")));
            body.extend(new.iter().map(|l| format!("+{l}")));
            if b + 1 < blocks {
                body.push(format!(" {}", pick(rng)));
            }
        }
        for _ in 0..rng.below(4) {
            body.push(format!(" {}", pick(rng)));
        }
        if !body.iter().any(|l| l.starts_with(['+', '-'])) {
            continue;
        }
        let old_n = body.iter().filter(|l| !l.starts_with('+')).count();
        let new_n = body.iter().filter(|l| !l.starts_with('-')).count();
        let header = if old_n == 0 && rng.chance(50) {
            format!("@@ -0,0 +1,{new_n} @@")
        } else {
            let start = *rng.pick(&[1, 5, 40]);
            format!("@@ -{start},{old_n} +{start},{new_n} @@")
        };
        let path = format!("d{i}/f.{ext}");
        let _ = writeln!(
            text,
            "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n{header}\n{}",
            body.join("\n")
        );
    }
    text
}

#[test]
fn synthetic_hunks_agree_with_pullapprove() {
    let Some(pa) = pa() else {
        eprintln!("SKIPPED synthetic trust differential: `pa` is not on PATH");
        return;
    };
    let ours = codereview_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(0x5359_4e54);
    let text = synthetic_diff(&mut rng, 6000);
    let theirs = run_with_stdin(dir.path(), &pa, &["trust", "--list"], text.as_bytes(), None);
    let mine = run_with_stdin(
        dir.path(),
        &ours,
        &["trust", "--list"],
        text.as_bytes(),
        None,
    );
    assert!(
        theirs.ok() && mine.ok(),
        "{}\n{}",
        theirs.stderr,
        mine.stderr
    );
    let (p_rows, _) = rows(&theirs.stdout);
    let (o_rows, _) = rows(&mine.stdout);
    assert_eq!(p_rows.len(), o_rows.len());
    let mut per_label: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (p, o) in p_rows.iter().zip(&o_rows) {
        let e = per_label.entry(p.2.as_str()).or_default();
        e.0 += 1;
        if p == o {
            e.1 += 1;
        } else {
            failures.push(format!("{}: pa {}, ours {}", p.0, p.2, o.2));
        }
    }
    eprintln!(
        "synthetic trust differential: {} hunks, {} agreeing",
        p_rows.len(),
        p_rows.len() - failures.len()
    );
    for (label, (n, a)) in &per_label {
        eprintln!("  {label:<28} {n:>5} hunks, {a:>5} agreeing");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The same diff through `diff`: byte for byte, hidden counts included.
    let mut args = vec!["diff", "--no-pager"];
    args.extend(HIDE_ALL_BUT_RENAMES);
    let theirs = run_with_stdin(dir.path(), &pa, &args, text.as_bytes(), None);
    let mine = run_with_stdin(dir.path(), &ours, &args, text.as_bytes(), None);
    assert!(theirs.stdout == mine.stdout, "filtered diffs differ");
    assert_eq!(theirs.stderr, mine.stderr);
}
