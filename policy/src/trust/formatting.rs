//! Formatting rules: blank lines, re-wrapping, quote/semicolon/trailing-comma style, spacing.
//!
//! Only Python and the JavaScript/TypeScript family qualify: their whitespace is free-form and
//! their quotes interchangeable. In data and markup (YAML, CSV, Markdown) a newline, comma or
//! quote can carry meaning, and other languages have not been checked rule by rule.

use super::lex::{self, Dialect, Kind, Token, leading_indent, scan_string, skip_string};
use super::pairs::{self, Verdict};
use super::{Ctx, Label};
use crate::diff::{DiffLine, LineKind};

const CORE: &[&str] = &["js", "jsx", "ts", "tsx", "mjs", "mts", "cjs", "cts", "py"];

fn core_dialect(ext: &str) -> Option<Dialect> {
    if !CORE.contains(&ext) {
        None
    } else if ext == "py" {
        Some(Dialect::Python)
    } else {
        Some(Dialect::Script)
    }
}

/// `formatting:whitespace`: every changed line is blank. (A blank line inside a multi-line
/// string literal changes its value; a single hunk cannot see the literal's opening quote, so
/// that rare case is accepted.)
pub fn whitespace(ctx: &Ctx) -> Option<Label> {
    core_dialect(ctx.ext())?;
    let changed = ctx.changed();
    (!changed.is_empty() && changed.iter().all(|l| l.text.trim().is_empty()))
        .then_some(Label::Whitespace)
}

/// Characters after which a line break continues the statement.
const CONTINUATION: &str = "=+-*/%<>&|^~,.:?([{";

fn bracket_delta(text: &str) -> i32 {
    let mut depth = 0;
    let mut i = 0;
    let b = text.as_bytes();
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(text, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    depth
}

/// Every break but the last sits inside brackets, after `\`, or after a continuation
/// character: one statement wrapped, not two statements joined.
fn is_reflow(lines: &[&DiffLine]) -> bool {
    let mut depth = 0;
    for l in &lines[..lines.len() - 1] {
        depth += bracket_delta(&l.text);
        let t = l.text.trim_end();
        let continues = depth > 0
            || t.ends_with('\\')
            || t.chars().last().is_some_and(|c| CONTINUATION.contains(c));
        if !continues {
            return false;
        }
    }
    true
}

/// The changed lines are one block of removals followed by additions, no context inside.
fn one_replacement(lines: &[DiffLine]) -> bool {
    let (mut del, mut add, mut done) = (false, false, false);
    for l in lines {
        match l.kind {
            LineKind::Context => done |= del || add,
            _ if done => return false,
            LineKind::Removed if add => return false,
            LineKind::Removed => del = true,
            LineKind::Added => add = true,
        }
    }
    true
}

/// Whether a join after some line but the last lands inside a string literal (the join would
/// turn an interior newline into a space and change the literal's value).
fn join_inside_string(lines: &[&DiffLine]) -> bool {
    let mut open: Option<String> = None;
    for l in &lines[..lines.len() - 1] {
        let text = l.text.as_str();
        let mut i = 0;
        if let Some(delim) = open.take() {
            match text.find(&delim) {
                None => return true,
                Some(p) => i = p + delim.len(),
            }
        }
        let b = text.as_bytes();
        while i < b.len() {
            let q = b[i];
            if q == b'"' || q == b'\'' || q == b'`' {
                match scan_string(text, i) {
                    Some(close) => i = close,
                    None => {
                        let triple = b.len() >= i + 3 && b[i + 1] == q && b[i + 2] == q;
                        open = Some(text[i..i + if triple { 3 } else { 1 }].to_string());
                        break;
                    }
                }
            } else {
                i += 1;
            }
        }
        if open.is_some() {
            return true;
        }
    }
    false
}

/// Whether a line comment starts outside strings (glued or not: a join would swallow code).
fn has_line_comment(text: &str, prefix: &str, quotes: &str) -> bool {
    let mut i = 0;
    while i < text.len() {
        let ch = text[i..].chars().next().expect("char boundary");
        if quotes.contains(ch) {
            i = skip_string(text, i);
        } else if text[i..].starts_with(prefix) {
            return true;
        } else {
            i += ch.len_utf8();
        }
    }
    false
}

/// `formatting:line-length`: one statement re-wrapped onto a different number of lines, with
/// identical text once whitespace between tokens is collapsed.
pub fn line_length(ctx: &Ctx) -> Option<Label> {
    let dialect = core_dialect(ctx.ext())?;
    let (added, removed) = (ctx.added(), ctx.removed());
    if added.is_empty() || removed.is_empty() || added.len() == removed.len() {
        return None;
    }
    if !one_replacement(ctx.lines) || !is_reflow(&added) || !is_reflow(&removed) {
        return None;
    }
    if join_inside_string(&added) || join_inside_string(&removed) {
        return None;
    }
    if leading_indent(&added[0].text) != leading_indent(&removed[0].text) {
        return None;
    }
    let (prefix, quotes) = match dialect {
        Dialect::Python => ("#", "\"'"),
        Dialect::Script => ("//", "\"'`"),
    };
    for side in [&added, &removed] {
        if side[..side.len() - 1]
            .iter()
            .any(|l| has_line_comment(&l.text, prefix, quotes))
        {
            return None;
        }
    }
    let join = |side: &[&DiffLine]| {
        let text: Vec<&str> = side.iter().map(|l| l.text.as_str()).collect();
        lex::collapse_ws_outside_strings(&text.join(" "), quotes)
    };
    let a = join(&added);
    (!a.is_empty() && a == join(&removed)).then_some(Label::LineLength)
}

/// A string literal's value regardless of which quote delimits it.
fn string_value(text: &str) -> String {
    let q = text.chars().next().unwrap_or('`');
    if q != '"' && q != '\'' || text.len() < 2 {
        return text.to_string();
    }
    text[1..text.len() - 1].replace(&format!("\\{q}"), &q.to_string())
}

#[derive(PartialEq, Eq)]
enum Key<'a> {
    Str(String),
    Tok(&'a str),
}

/// Tokens with stylistic differences collapsed: quote style, and a trailing `;` or `,` when
/// `semicolon`/`comma` say those are stylistic here.
fn style_key<'a>(tokens: &[Token<'a>], comma: bool, semicolon: bool) -> Vec<Key<'a>> {
    let n = tokens.len();
    let mut key = Vec::with_capacity(n);
    for (i, t) in tokens.iter().enumerate() {
        let last = i + 1 == n;
        if semicolon && last && t.is_op(";") {
            continue;
        }
        if comma && t.is_op(",") && (last || lex::is_close(&tokens[i + 1])) {
            continue;
        }
        key.push(if t.kind == Kind::Str {
            Key::Str(string_value(t.text))
        } else {
            Key::Tok(t.text)
        });
    }
    key
}

fn texts<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    tokens.iter().map(|t| t.text).collect()
}

/// Whether a line starts with something that continues the previous statement under
/// JavaScript's automatic semicolon insertion.
fn continues_previous(text: &str) -> bool {
    let t = text.trim_start();
    match t.chars().next() {
        Some('(' | '[' | '`' | '+' | '-') => true,
        Some('/') => !t.starts_with("//") && !t.starts_with("/*"),
        _ => false,
    }
}

/// Whether removing or adding a trailing `;` could merge or split statements: a new-side
/// line continues the previous non-blank line, or only blank lines follow the last change
/// (the next statement is out of view).
fn asi_hazard(lines: &[DiffLine]) -> bool {
    let mut prev = false;
    let mut last_changed = false;
    let mut blanks_after = false;
    for l in lines.iter().filter(|l| l.kind != LineKind::Removed) {
        if prev && continues_previous(&l.text) {
            return true;
        }
        if l.text.trim().is_empty() {
            blanks_after = true;
        } else {
            prev = true;
            last_changed = l.kind == LineKind::Added;
            blanks_after = false;
        }
    }
    last_changed && blanks_after
}

/// `formatting:style`: paired lines that differ only in quote delimiters, trailing
/// semicolons or trailing commas. A Python trailing comma builds a tuple and stays
/// significant; a JavaScript semicolon stays significant where ASI could join statements.
pub fn style(ctx: &Ctx) -> Option<Label> {
    let dialect = core_dialect(ctx.ext())?;
    let pairs = pairs::paired(ctx.lines)?;
    let comma = dialect == Dialect::Script;
    let semicolon = dialect == Dialect::Python || !asi_hazard(ctx.lines);
    let compare = |_: &str, _: &str, o: &[Token], n: &[Token]| -> Verdict {
        if style_key(o, comma, semicolon) != style_key(n, comma, semicolon) {
            return None;
        }
        Some(texts(o) != texts(n))
    };
    pairs::token_delta(&pairs, dialect, compare).then_some(Label::Style)
}

fn gaps_are_blank(line: &str, tokens: &[Token]) -> bool {
    let mut pos = 0;
    for t in tokens {
        if !line[pos..t.start].trim().is_empty() {
            return false;
        }
        pos = t.end;
    }
    true
}

fn tail<'a>(line: &'a str, tokens: &[Token]) -> &'a str {
    tokens.last().map_or(line, |t| line[t.end..].trim())
}

/// `formatting:spacing`: paired lines with identical tokens where only the whitespace between
/// or after them moved. Gluing or splitting two operators (`a + +b` → `a ++b`) or a word and a
/// string (`f "x"` → `f"x"`) changes meaning and is not trusted; in JavaScript neither is
/// spacing around `/`, `<` or `>` (regex or division, generic or comparison).
pub fn spacing(ctx: &Ctx) -> Option<Label> {
    let dialect = core_dialect(ctx.ext())?;
    let pairs = pairs::paired(ctx.lines)?;
    let compare = |o: &str, n: &str, ot: &[Token], nt: &[Token]| -> Verdict {
        if texts(ot) != texts(nt) {
            return None;
        }
        if !gaps_are_blank(o, ot) || !gaps_are_blank(n, nt) || tail(o, ot) != tail(n, nt) {
            return None;
        }
        for (ow, nw) in ot.windows(2).zip(nt.windows(2)) {
            let glued_old = ow[0].end == ow[1].start;
            let glued_new = nw[0].end == nw[1].start;
            if glued_old == glued_new {
                continue;
            }
            if (ow[0].kind == Kind::Op) == (ow[1].kind == Kind::Op) {
                return None;
            }
            if dialect == Dialect::Script
                && ["/", "<", ">"]
                    .iter()
                    .any(|s| ow[0].text == *s || ow[1].text == *s)
            {
                return None;
            }
        }
        Some(true)
    };
    // Compare whole lines too: trimmed sides can be equal while the original lines differ
    // only in trailing whitespace, which is spacing as well.
    let changed = pairs.iter().any(|(o, n)| o.text != n.text);
    (changed && pairs::token_delta(&pairs, dialect, compare)).then_some(Label::Spacing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::segment::Coords;

    fn hunk(path: &str, body: &str) -> Option<Label> {
        let lines = crate::trust::test_lines(body);
        crate::trust::classify(&Ctx {
            path,
            old_path: None,
            coords: Coords::parse("@@ -5,3 +5,3 @@").unwrap(),
            lines: &lines,
        })
    }

    #[test]
    fn blank_lines_in_code_only() {
        assert_eq!(hunk("a.py", " x\n+\n+  \n y"), Some(Label::Whitespace));
        assert_eq!(hunk("a.md", " x\n+\n y"), None);
    }

    #[test]
    fn rewraps_inside_brackets_only() {
        let wrap = "-x = f(a, b, c)\n+x = f(a,\n+    b, c)";
        assert_eq!(hunk("a.py", wrap), Some(Label::LineLength));
        let join = "-x = 1\n-y = 2\n+x = 1 y = 2";
        assert_eq!(hunk("a.py", join), None);
        let in_string = "-s = \"a\\\n-b\"\n+s = \"a\\ b\"";
        assert_eq!(hunk("a.js", in_string), None);
    }

    #[test]
    fn quotes_semicolons_trailing_commas() {
        assert_eq!(
            hunk("a.ts", "-f('x');\n+f(\"x\")\n g()"),
            Some(Label::Style)
        );
        assert_eq!(hunk("a.ts", "-f('x');\n+f(\"y\")\n g()"), None);
        // ASI: the next line starts with `(`, so the semicolon matters.
        assert_eq!(hunk("a.js", "-a = b;\n+a = b\n (c)"), None);
        // A Python trailing comma makes a tuple.
        assert_eq!(hunk("a.py", "-x = 1\n+x = 1,"), None);
        assert_eq!(
            hunk("a.js", "-f(a, b,)\n+f(a, b)\n g()"),
            Some(Label::Style)
        );
    }

    #[test]
    fn spacing_but_not_regrouping() {
        assert_eq!(hunk("a.py", "-x=f( a )\n+x = f(a)"), Some(Label::Spacing));
        assert_eq!(hunk("a.py", "-x = 1   \n+x = 1"), Some(Label::Spacing));
        assert_eq!(hunk("a.js", "-a + +b\n+a ++b"), None);
        assert_eq!(hunk("a.js", "-a / b / c\n+a/b/c"), None);
        assert_eq!(hunk("a.py", "-x = f \"a\"\n+x = f\"a\""), None);
        assert_eq!(hunk("a.py", "-    x = 1\n+  x = 1"), None);
    }
}
