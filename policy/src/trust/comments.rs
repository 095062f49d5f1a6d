//! The comment rule and the comment syntax of each language.

use super::lex::{leading_indent, skip_string};
use super::{Ctx, Label, pairs};
use crate::diff::{DiffLine, LineKind};

const SLASH: &str = "js jsx ts tsx mjs mts cjs cts rs go java kt kts scala swift c cc cpp cxx h hpp cs m mm zig v dart groovy gradle";
// YAML and TOML are left out on purpose: there `#` may be part of a value or of a block
// scalar, too ambiguous to call a comment.
const HASH: &str = "py rb sh bash zsh fish pl pm r jl ex exs cr nim coffee mk cmake tf hcl";
const DASH: &str = "lua hs sql";
const SEMI: &str = "lisp clj cljs cljc edn scm rkt";
const PERCENT: &str = "erl hrl";

/// The line-comment prefix of a file extension.
pub fn line_prefix(ext: &str) -> Option<&'static str> {
    let has = |list: &str| list.split(' ').any(|e| e == ext);
    [
        (SLASH, "//"),
        (HASH, "#"),
        (DASH, "--"),
        (SEMI, ";"),
        (PERCENT, "%"),
    ]
    .into_iter()
    .find(|(list, _)| has(list))
    .map(|(_, p)| p)
}

/// The block-comment delimiters of a file extension (CSS has only these: `//` can be part of
/// a URL there).
pub fn block_delimiters(ext: &str) -> Option<(&'static str, &'static str)> {
    if ext == "css" || SLASH.split(' ').any(|e| e == ext) {
        Some(("/*", "*/"))
    } else if ["html", "xml", "svg"].contains(&ext) {
        Some(("<!--", "-->"))
    } else {
        None
    }
}

/// Comments that steer tools (linters, type checkers, formatters, compilers, bundlers):
/// changing one changes how the code is treated, so it is never comment churn. Matched
/// case-insensitively anywhere in the comment; a prose mention only costs a shown hunk.
const DIRECTIVES: &[&str] = &[
    "noqa",
    "pylint:",
    "nopep8",
    "skipcq",
    "type: ignore",
    "pragma:",
    "doctest:",
    "fmt: off",
    "fmt: on",
    "fmt: skip",
    "yapf:",
    "ruff:",
    "mypy:",
    "pyright:",
    "pyre-ignore",
    "pyre-fixme",
    "pytype:",
    "isort:",
    "nosec",
    "coding:",
    "coding=",
    "eslint-",
    "@ts-",
    "prettier-ignore",
    "biome-ignore",
    "istanbul ignore",
    "c8 ignore",
    "v8 ignore",
    "sourcemappingurl",
    "webpackchunkname",
    "webpackmode",
    "go:build",
    "go:generate",
    "go:embed",
    "+build",
    "nolint",
    "rubocop:",
    "frozen_string_literal",
    "typed:",
    "shellcheck",
    "clang-format",
];

/// Whether `text` holds a tool directive.
pub fn has_directive(text: &str) -> bool {
    let lower = text.to_lowercase();
    DIRECTIVES.iter().any(|d| lower.contains(d))
}

fn quotes(ext: &str) -> &'static str {
    const BACKTICK: &[&str] = &["js", "jsx", "ts", "tsx", "mjs", "mts", "cjs", "cts", "go"];
    if BACKTICK.contains(&ext) {
        "\"'`"
    } else {
        "\"'"
    }
}

/// The code of a line without its trailing line comment (a prefix counts only at the start
/// or after whitespace, outside strings: `url: http://x/#frag` has no comment).
fn strip_comment<'a>(line: &'a str, prefix: &str, quotes: &str) -> &'a str {
    let text = line.trim();
    let mut i = 0;
    while i < text.len() {
        let ch = text[i..].chars().next().expect("char boundary");
        if quotes.contains(ch) {
            i = skip_string(text, i);
        } else if text[i..].starts_with(prefix)
            && (i == 0 || text[..i].chars().last().is_some_and(char::is_whitespace))
        {
            return text[..i].trim_end();
        } else {
            i += ch.len_utf8();
        }
    }
    text
}

/// Whether all of a (trimmed) line is block comment, and whether a comment is still open after
/// it. Code after a closed comment (`/* x */ run()`) is code.
fn block_step(mut text: &str, (open, close): (&str, &str), mut inside: bool) -> (bool, bool) {
    text = text.trim();
    loop {
        if inside {
            match text.find(close) {
                None => return (true, true),
                Some(p) => {
                    text = text[p + close.len()..].trim();
                    inside = false;
                }
            }
        } else if text.is_empty() {
            return (true, false);
        } else if let Some(rest) = text.strip_prefix(open) {
            text = rest;
            inside = true;
        } else {
            return (false, false);
        }
    }
}

/// Whether every changed non-blank line of one side (context plus that side's changes, in
/// file order) is comment. A block comment opened by a change must close before the next
/// context line, or that unchanged code is now commented out.
fn side_is_comments(
    side: &[&DiffLine],
    changed: LineKind,
    prefix: Option<&str>,
    block: Option<(&str, &str)>,
) -> bool {
    let mut inside = false;
    for l in side {
        if l.kind != changed {
            if inside {
                return false;
            }
            continue;
        }
        let text = l.text.trim();
        if text.is_empty() || (!inside && prefix.is_some_and(|p| text.starts_with(p))) {
            continue;
        }
        if let Some(b) = block {
            let (all_comment, still) = block_step(text, b, inside);
            inside = still;
            if all_comment {
                continue;
            }
        }
        return false;
    }
    !inside
}

/// Paired lines whose code is unchanged and only a trailing comment differs.
fn inline_change(ctx: &Ctx, prefix: &str, quotes: &str) -> Option<Label> {
    let pairs = pairs::paired(ctx.lines)?;
    let (mut old_has, mut new_has) = (false, false);
    for (old, new) in pairs {
        let oc = strip_comment(&old.text, prefix, quotes);
        let nc = strip_comment(&new.text, prefix, quotes);
        if oc.is_empty() || (leading_indent(&old.text), oc) != (leading_indent(&new.text), nc) {
            return None;
        }
        let o_comment = &old.text.trim()[oc.len()..];
        let n_comment = &new.text.trim()[nc.len()..];
        if has_directive(o_comment) || has_directive(n_comment) {
            return None;
        }
        old_has |= !o_comment.is_empty();
        new_has |= !n_comment.is_empty();
    }
    if !old_has && !new_has {
        return None;
    }
    Some(Label::by_sides(
        new_has,
        old_has,
        [
            Label::CommentsAdded,
            Label::CommentsRemoved,
            Label::CommentsModified,
        ],
    ))
}

/// `comments:{added,removed,modified}`: every changed line is a comment (line or block), or
/// paired lines differ only in a trailing comment. Never for a shebang at line 1 (it picks
/// the interpreter) or a tool directive.
pub fn comments(ctx: &Ctx) -> Option<Label> {
    let ext = ctx.ext();
    let prefix = line_prefix(ext);
    let block = block_delimiters(ext);
    if prefix.is_none() && block.is_none() {
        return None;
    }
    let changed = ctx.changed();
    if changed.is_empty() {
        return None;
    }
    if changed
        .iter()
        .any(|l| l.text.starts_with("#!") && l.line == 1)
    {
        return None;
    }
    let new_side: Vec<&DiffLine> = ctx
        .lines
        .iter()
        .filter(|l| l.kind != LineKind::Removed)
        .collect();
    let old_side: Vec<&DiffLine> = ctx
        .lines
        .iter()
        .filter(|l| l.kind != LineKind::Added)
        .collect();
    if side_is_comments(&new_side, LineKind::Added, prefix, block)
        && side_is_comments(&old_side, LineKind::Removed, prefix, block)
    {
        if changed.iter().any(|l| has_directive(&l.text)) {
            return None;
        }
        let added = changed.iter().any(|l| l.kind == LineKind::Added);
        let removed = changed.iter().any(|l| l.kind == LineKind::Removed);
        return Some(Label::by_sides(
            added,
            removed,
            [
                Label::CommentsAdded,
                Label::CommentsRemoved,
                Label::CommentsModified,
            ],
        ));
    }
    inline_change(ctx, prefix?, quotes(ext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::segment::Coords;

    fn hunk(path: &str, body: &str) -> Option<Label> {
        let lines = crate::trust::test_lines(body);
        comments(&Ctx {
            path,
            old_path: None,
            coords: Coords::parse("@@ -5,3 +5,3 @@").unwrap(),
            lines: &lines,
        })
    }

    #[test]
    fn whole_line_comments() {
        assert_eq!(hunk("a.rs", " x\n+// note\n y"), Some(Label::CommentsAdded));
        assert_eq!(
            hunk("a.go", "-// old\n+// new"),
            Some(Label::CommentsModified)
        );
        assert_eq!(hunk("a.py", "-# gone\n x"), Some(Label::CommentsRemoved));
        assert_eq!(
            hunk("a.js", "+/* a\n+   b */\n x"),
            Some(Label::CommentsAdded)
        );
        assert_eq!(hunk("a.yaml", "+# c"), None);
    }

    #[test]
    fn code_commented_out_or_directives_need_review() {
        // The `/*` opened by the change swallows the context line below.
        assert_eq!(hunk("a.js", "+/*\n run()\n+*/"), None);
        assert_eq!(hunk("a.py", "+# noqa: E501"), None);
        assert_eq!(hunk("a.ts", "+// @ts-ignore"), None);
        assert_eq!(hunk("a.py", "+x = 1  # comment"), None);
    }

    #[test]
    fn trailing_comments_on_unchanged_code() {
        assert_eq!(
            hunk("a.py", "-x = 1\n+x = 1  # why"),
            Some(Label::CommentsAdded)
        );
        assert_eq!(
            hunk("a.go", "-x := 1 // a\n+x := 1 // b"),
            Some(Label::CommentsModified)
        );
        assert_eq!(hunk("a.py", "-x = 1  # a\n+x = 2  # a"), None);
        assert_eq!(hunk("a.py", "-x = 1\n+x = 1  # type: ignore"), None);
        assert_eq!(hunk("a.js", "-s = 'a // b'\n+s = 'a // c'"), None);
    }
}
