//! The import rule: hunks that only add, remove, reorder or re-list import statements.

use super::lex::collapse_ws;
use super::{Ctx, Label};
use crate::diff::DiffLine;

const JS: &[&str] = &["js", "jsx", "ts", "tsx", "mjs", "mts", "cjs", "cts"];
const C: &[&str] = &["c", "cc", "cpp", "cxx", "h", "hpp", "m", "mm"];

/// The brackets of a multi-line import, open and close.
type Bracket = (char, char);

/// How a language spells an import: line prefixes, and the bracket a multi-line import opens
/// (`None`: imports are one line each). `export { }` is not an import: it changes the API.
fn syntax(ext: &str) -> Option<(&'static [&'static str], Option<Bracket>)> {
    Some(match ext {
        e if JS.contains(&e) => (&["import ", "import{"][..], Some(('{', '}'))),
        "py" => (&["import ", "from "][..], Some(('(', ')'))),
        "go" => (&["import "][..], Some(('(', ')'))),
        "rs" => (&["use "][..], Some(('{', '}'))),
        "java" | "kt" | "kts" | "scala" | "groovy" | "gradle" | "swift" | "dart" => {
            (&["import "][..], None)
        }
        e if C.contains(&e) => (&["#include"][..], None),
        "rb" => (&["require ", "require_relative "][..], None),
        "cs" => (&["using "][..], None),
        _ => return None,
    })
}

/// `import x; doThing()`: code after the first `;` is a second statement.
fn trailing_statement(text: &str) -> bool {
    text.split_once(';')
        .is_some_and(|(_, rest)| !rest.trim().is_empty())
}

/// A JavaScript dynamic `import(...)` is a call, not a declaration.
fn dynamic_import(text: &str) -> bool {
    text.strip_prefix("import")
        .is_some_and(|r| r.trim_start().starts_with('('))
}

fn starts_with_any(text: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| text.starts_with(p))
}

fn depth_change(text: &str, (open, close): (char, char)) -> i64 {
    text.matches(open).count() as i64 - text.matches(close).count() as i64
}

/// Whether one side is nothing but import statements (and blank lines). Multi-line imports
/// are followed by counting brackets; a miscount only fails to label.
fn imports_only(lines: &[&DiffLine], prefixes: &[&str], bracket: Option<(char, char)>) -> bool {
    let Some(b) = bracket else {
        return lines.iter().all(|l| {
            let t = l.text.trim();
            t.is_empty()
                || (starts_with_any(t, prefixes) && !trailing_statement(t) && !dynamic_import(t))
        });
    };
    let mut depth = 0;
    for l in lines {
        let t = l.text.trim();
        if t.is_empty() {
            continue;
        }
        // In Go, `import (` opens a group; elsewhere `import(` is a dynamic import.
        if b.0 != '(' && dynamic_import(t) {
            return false;
        }
        if trailing_statement(t) || (depth == 0 && !starts_with_any(t, prefixes)) {
            return false;
        }
        depth += depth_change(t, b);
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// Whole statements of one side (a multi-line import joined into one), sorted.
fn statements(lines: &[&DiffLine], bracket: Option<(char, char)>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut depth = 0;
    for l in lines {
        let t = l.text.trim();
        if t.is_empty() {
            continue;
        }
        current.push(t);
        if let Some(b) = bracket {
            depth += depth_change(t, b);
        }
        if depth <= 0 {
            out.push(collapse_ws(&current.join(" ")));
            current.clear();
            depth = 0;
        }
    }
    if !current.is_empty() {
        out.push(collapse_ws(&current.join(" ")));
    }
    out.sort();
    out
}

/// `import 'x'` binds nothing and runs the module: its order can matter.
fn side_effect_import(statement: &str) -> bool {
    statement
        .strip_prefix("import")
        .is_some_and(|r| r.trim_start().starts_with(['\'', '"']))
}

/// The first quoted string in `text`, as in `'a'` or `"b"`.
fn first_quoted(text: &str) -> Option<&str> {
    let q = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &text[1..];
    rest.find(q).map(|end| &rest[..end])
}

/// The module a statement imports from; `None` when it cannot be told.
fn source(statement: &str, ext: &str) -> Option<String> {
    if ext == "py" {
        if let Some(rest) = statement.strip_prefix("from ") {
            let module = rest.split_once(" import").map_or(rest, |(m, _)| m).trim();
            return (!module.is_empty()).then(|| module.to_string());
        }
        let rest = statement.strip_prefix("import ")?;
        let module = rest
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap_or("");
        return (!module.is_empty()).then(|| module.to_string());
    }
    if JS.contains(&ext) {
        // `from 'x'` (any spacing after `from`), else a bare `import 'x'`.
        let mut search = statement;
        while let Some(p) = search.find("from") {
            let after = search[p + 4..].trim_start();
            if let Some(m) = first_quoted(after) {
                return Some(m.to_string());
            }
            search = &search[p + 4..];
        }
        let after = statement.strip_prefix("import")?.trim_start();
        return first_quoted(after).map(str::to_string);
    }
    if C.contains(&ext) {
        let start = statement.find(['"', '<'])?;
        let rest = &statement[start + 1..];
        let end = rest.find(['"', '>'])?;
        return (end > 0).then(|| rest[..end].to_string());
    }
    None
}

/// `imports:{added,removed,modified,reordered}`. A modification counts only when both sides
/// import from the same modules (`from foo import a` → `from evil import a` is a real change),
/// which is checked for Python, JavaScript/TypeScript and C includes; elsewhere only pure
/// additions, removals and reorders count. `from __future__` changes the module's semantics,
/// C includes can depend on their order, and so can JavaScript side-effect imports.
pub fn imports(ctx: &Ctx) -> Option<Label> {
    let ext = ctx.ext();
    let (prefixes, bracket) = syntax(ext)?;
    let (added, removed) = (ctx.added(), ctx.removed());
    if added.is_empty() && removed.is_empty() {
        return None;
    }
    if added
        .iter()
        .chain(&removed)
        .any(|l| l.text.contains("__future__"))
    {
        return None;
    }
    if !imports_only(&added, prefixes, bracket) || !imports_only(&removed, prefixes, bracket) {
        return None;
    }
    let (new, old) = (statements(&added, bracket), statements(&removed, bracket));
    if !added.is_empty() && !removed.is_empty() && !new.is_empty() && new == old {
        let order_matters =
            C.contains(&ext) || (JS.contains(&ext) && new.iter().any(|s| side_effect_import(s)));
        return (!order_matters).then_some(Label::ImportsReordered);
    }
    let label = Label::by_sides(
        !added.is_empty(),
        !removed.is_empty(),
        [
            Label::ImportsAdded,
            Label::ImportsRemoved,
            Label::ImportsModified,
        ],
    );
    if label == Label::ImportsModified {
        if !(ext == "py" || JS.contains(&ext) || C.contains(&ext)) {
            return None;
        }
        let sources = |s: &[String]| -> Option<std::collections::BTreeSet<String>> {
            s.iter().map(|s| source(s, ext)).collect()
        };
        let (n, o) = (sources(&new)?, sources(&old)?);
        if n != o {
            return None;
        }
    }
    Some(label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::segment::Coords;

    fn hunk(path: &str, body: &str) -> Option<Label> {
        let lines = crate::trust::test_lines(body);
        imports(&Ctx {
            path,
            old_path: None,
            coords: Coords::parse("@@ -5,3 +5,3 @@").unwrap(),
            lines: &lines,
        })
    }

    #[test]
    fn added_removed_reordered() {
        assert_eq!(
            hunk("a.py", " import os\n+import sys"),
            Some(Label::ImportsAdded)
        );
        assert_eq!(
            hunk("a.rs", "-use std::fmt;\n x"),
            Some(Label::ImportsRemoved)
        );
        assert_eq!(
            hunk(
                "a.go",
                "-import \"b\"\n-import \"a\"\n+import \"a\"\n+import \"b\""
            ),
            Some(Label::ImportsReordered)
        );
        assert_eq!(
            hunk("a.ts", "+import {\n+  a,\n+  b,\n+} from './x';"),
            Some(Label::ImportsAdded)
        );
    }

    #[test]
    fn module_swaps_and_order_sensitive_imports_need_review() {
        assert_eq!(
            hunk("a.py", "-from foo import a\n+from foo import a, b"),
            Some(Label::ImportsModified)
        );
        assert_eq!(
            hunk("a.py", "-from foo import a\n+from evil import a"),
            None
        );
        assert_eq!(hunk("a.rb", "-require 'safe'\n+require 'evil'"), None);
        assert_eq!(
            hunk(
                "a.c",
                "-#include <b.h>\n-#include <a.h>\n+#include <a.h>\n+#include <b.h>"
            ),
            None
        );
        assert_eq!(
            hunk(
                "a.js",
                "-import './a';\n-import './b';\n+import './b';\n+import './a';"
            ),
            None
        );
        assert_eq!(hunk("a.py", "+from __future__ import annotations"), None);
        assert_eq!(hunk("a.js", "+import x from 'y'; run()"), None);
        assert_eq!(hunk("a.js", "+import('y')"), None);
    }
}
