//! The type-annotation rule (Python and TypeScript): paired lines whose every changed token
//! lies inside a type annotation.
//!
//! Token roles come from span detectors that mark a token only when it is certainly part of an
//! annotation (`x: int = 1`, `def f(a: T) -> R:`, `const x: T = ...`, `function f(a: T)`); the
//! two token sequences are then diffed and every changed token must be marked. An annotation
//! holding a call (`Annotated[User, Depends(admin)]`, `Field(gt=0)`) runs code and is not
//! trusted.

use super::lex::{self, Dialect, Kind, Token};
use super::pairs::{self, Verdict};
use super::{Ctx, Label};

type Span = (usize, usize);

/// From just after the token before `tokens[at]` (the `:` or `->`) to the end of the type:
/// up to a top-level token in `stops`, the closer of the enclosing bracket, or the line end.
fn type_span(tokens: &[Token], at: usize, stops: &[&str]) -> Span {
    let start = tokens[at - 1].end;
    let mut end = tokens[at].end;
    let mut depth = 0;
    for t in &tokens[at + 1..] {
        if depth == 0 && t.kind == Kind::Op && stops.contains(&t.text) {
            break;
        }
        if lex::is_open(t) {
            depth += 1;
        } else if lex::is_close(t) {
            if depth == 0 {
                break;
            }
            depth -= 1;
        }
        end = t.end;
    }
    (start, end)
}

const PY_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// `NAME: TYPE = value` (an annotation without `=` could be a dict entry: left alone).
fn py_var_spans(tokens: &[Token]) -> Vec<Span> {
    let mut depth = 0;
    for i in 2..tokens.len() {
        let t = &tokens[i];
        if lex::is_open(t) {
            depth += 1;
        } else if lex::is_close(t) {
            depth -= 1;
        } else if depth == 0 && t.is_op("=") {
            return vec![(tokens[0].end, tokens[i - 1].end)];
        }
    }
    Vec::new()
}

/// Parameter and return annotations of a `def` line (none when a `lambda` is on it).
fn py_def_spans(tokens: &[Token]) -> Vec<Span> {
    if tokens
        .iter()
        .any(|t| t.kind == Kind::Word && t.text == "lambda")
    {
        return Vec::new();
    }
    let mut spans = Vec::new();
    let mut depth = 0;
    let mut params_closed = false;
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Op {
            continue;
        }
        if t.text == ":" && depth == 1 && !params_closed {
            spans.push(type_span(tokens, i, &[",", "="]));
        } else if t.text == "->" && depth == 0 {
            spans.push(type_span(tokens, i, &[":"]));
        } else if lex::is_open(t) {
            depth += 1;
        } else if lex::is_close(t) {
            depth -= 1;
            if depth == 0 {
                params_closed = true;
            }
        }
    }
    spans
}

fn py_spans(tokens: &[Token]) -> Vec<Span> {
    let Some(first) = tokens.first() else {
        return Vec::new();
    };
    if first.kind == Kind::Word && (first.text == "def" || first.text == "async") {
        return py_def_spans(tokens);
    }
    if first.kind == Kind::Word
        && !PY_KEYWORDS.contains(&first.text)
        && tokens.get(1).is_some_and(|t| t.is_op(":"))
    {
        return py_var_spans(tokens);
    }
    Vec::new()
}

/// `const/let/var NAME: TYPE` up to `=` or `,` (the next declarator's name is not a type).
fn ts_var_spans(tokens: &[Token]) -> Vec<Span> {
    let decl = tokens
        .first()
        .is_some_and(|t| t.kind == Kind::Word && ["const", "let", "var"].contains(&t.text));
    if !decl {
        return Vec::new();
    }
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate() {
        if lex::is_open(t) {
            depth += 1;
        } else if lex::is_close(t) {
            depth -= 1;
        } else if depth == 0 && t.is_op("=") {
            return Vec::new();
        } else if depth == 0 && t.is_op(":") {
            return vec![type_span(tokens, i, &["=", ","])];
        }
    }
    Vec::new()
}

/// Parameter annotations of a `function` line (none when a `?` could make a colon a ternary's).
fn ts_param_spans(tokens: &[Token]) -> Vec<Span> {
    if tokens.iter().any(|t| t.is_op("?")) {
        return Vec::new();
    }
    let mut spans = Vec::new();
    let mut stack: Vec<&str> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if lex::is_open(t) {
            stack.push(t.text);
        } else if lex::is_close(t) {
            stack.pop();
        } else if t.is_op(":") && stack.last() == Some(&"(") {
            spans.push(type_span(tokens, i, &[",", "="]));
        }
    }
    spans
}

fn ts_spans(tokens: &[Token]) -> Vec<Span> {
    let var = ts_var_spans(tokens);
    if !var.is_empty() {
        return var;
    }
    if tokens
        .iter()
        .any(|t| t.kind == Kind::Word && t.text == "function")
    {
        return ts_param_spans(tokens);
    }
    Vec::new()
}

fn span_has_call(tokens: &[Token], (start, end): Span) -> bool {
    let inside: Vec<&Token> = tokens
        .iter()
        .filter(|t| start <= t.start && t.end <= end)
        .collect();
    inside
        .windows(2)
        .any(|w| w[1].is_op("(") && (w[0].kind == Kind::Word || w[0].is_op(")") || w[0].is_op("]")))
}

/// Per token: whether it lies in an annotation span without a call.
fn flags(tokens: &[Token], dialect: Dialect) -> Vec<bool> {
    let spans: Vec<Span> = match dialect {
        Dialect::Python => py_spans(tokens),
        Dialect::Script => ts_spans(tokens),
    }
    .into_iter()
    .filter(|s| !span_has_call(tokens, *s))
    .collect();
    tokens
        .iter()
        .map(|t| spans.iter().any(|&(s, e)| s <= t.start && t.end <= e))
        .collect()
}

/// The longest common run of `a[alo..ahi]` and `b[blo..bhi]`, earliest in `a` then in `b`.
fn longest_match(
    a: &[&str],
    b: &[&str],
    (alo, ahi): (usize, usize),
    (blo, bhi): (usize, usize),
) -> (usize, usize, usize) {
    let mut best = (alo, blo, 0);
    let mut prev = vec![0usize; bhi + 1];
    for (i, ai) in a.iter().enumerate().take(ahi).skip(alo) {
        let mut cur = vec![0usize; bhi + 1];
        for (j, bj) in b.iter().enumerate().take(bhi).skip(blo) {
            if ai == bj {
                let k = if j > blo { prev[j - 1] } else { 0 } + 1;
                cur[j] = k;
                if k > best.2 {
                    best = (i + 1 - k, j + 1 - k, k);
                }
            }
        }
        prev = cur;
    }
    best
}

/// Matching runs of two token lists, found the way Python's `difflib.SequenceMatcher` does
/// (longest run first, then recursively left and right of it), sorted.
fn matching_blocks(a: &[&str], b: &[&str]) -> Vec<(usize, usize, usize)> {
    let mut blocks = Vec::new();
    let mut queue = vec![(0, a.len(), 0, b.len())];
    while let Some((alo, ahi, blo, bhi)) = queue.pop() {
        let (i, j, k) = longest_match(a, b, (alo, ahi), (blo, bhi));
        if k == 0 {
            continue;
        }
        blocks.push((i, j, k));
        if alo < i && blo < j {
            queue.push((alo, i, blo, j));
        }
        if i + k < ahi && j + k < bhi {
            queue.push((i + k, ahi, j + k, bhi));
        }
    }
    blocks.sort_unstable();
    blocks
}

/// Token diffs are quadratic; a longer line (minified code) is declined rather than diffed.
const MAX_TOKENS: usize = 2000;

fn annotation_delta(old: &[Token], new: &[Token], dialect: Dialect) -> Verdict {
    if old.len() > MAX_TOKENS || new.len() > MAX_TOKENS {
        return None;
    }
    let (of, nf) = (flags(old, dialect), flags(new, dialect));
    let a: Vec<&str> = old.iter().map(|t| t.text).collect();
    let b: Vec<&str> = new.iter().map(|t| t.text).collect();
    let mut changed = false;
    let (mut i, mut j) = (0, 0);
    let mut blocks = matching_blocks(&a, &b);
    blocks.push((a.len(), b.len(), 0));
    for (bi, bj, k) in blocks {
        if i < bi || j < bj {
            changed = true;
            if !of[i..bi].iter().all(|f| *f) || !nf[j..bj].iter().all(|f| *f) {
                return None;
            }
        }
        (i, j) = (bi + k, bj + k);
    }
    Some(changed)
}

/// `type-annotations:modified`: paired lines whose token-level difference is only annotations.
pub fn type_annotations(ctx: &Ctx) -> Option<Label> {
    let dialect = match ctx.ext() {
        "py" => Dialect::Python,
        "ts" | "tsx" => Dialect::Script,
        _ => return None,
    };
    let pairs = pairs::paired(ctx.lines)?;
    let compare = |_: &str, _: &str, o: &[Token], n: &[Token]| annotation_delta(o, n, dialect);
    pairs::token_delta(&pairs, dialect, compare).then_some(Label::TypeAnnotations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffLine, LineKind};
    use crate::trust::segment::Coords;

    fn pair(path: &str, old: &str, new: &str) -> Option<Label> {
        let lines = [
            DiffLine {
                kind: LineKind::Removed,
                line: 3,
                text: old.into(),
            },
            DiffLine {
                kind: LineKind::Added,
                line: 3,
                text: new.into(),
            },
        ];
        type_annotations(&Ctx {
            path,
            old_path: None,
            coords: Coords::parse("@@ -3 +3 @@").unwrap(),
            lines: &lines,
        })
    }

    #[test]
    fn annotations_added_or_changed() {
        let t = Some(Label::TypeAnnotations);
        assert_eq!(
            pair(
                "a.py",
                "def f(a, b=1):",
                "def f(a: int, b: int = 1) -> str:"
            ),
            t
        );
        assert_eq!(pair("a.py", "x: int = 1", "x: float = 1"), t);
        assert_eq!(pair("a.ts", "const x = 1;", "const x: number = 1;"), t);
        assert_eq!(
            pair("a.ts", "function f(a) {}", "function f(a: string) {}"),
            t
        );
        // An unbalanced `{` is a fragment: not judged.
        assert_eq!(
            pair("a.ts", "function f(a) {", "function f(a: string) {"),
            None
        );
    }

    #[test]
    fn values_calls_and_other_languages_need_review() {
        assert_eq!(pair("a.py", "x: int = 1", "x: int = 2"), None);
        assert_eq!(
            pair("a.py", "def f(a: int = 1):", "def f(a: int = 2):"),
            None
        );
        assert_eq!(
            pair(
                "a.py",
                "def f(u: Annotated[U, Depends(admin)]):",
                "def f(u: Annotated[U, Depends(user)]):"
            ),
            None
        );
        assert_eq!(pair("a.py", "d = {a: 1}", "d = {a: 2}"), None);
        assert_eq!(pair("a.rs", "let x = 1;", "let x: u8 = 1;"), None);
    }

    #[test]
    fn huge_lines_are_declined_not_diffed() {
        let long = |t: &str| format!("const x: {t} = [{}];", "1, ".repeat(5000));
        assert_eq!(pair("a.ts", &long("A"), &long("B")), None);
    }

    #[test]
    fn matching_blocks_like_difflib() {
        let a = ["a", "b", "c", "d"];
        let b = ["a", "x", "c", "d"];
        assert_eq!(matching_blocks(&a, &b), [(0, 0, 1), (2, 2, 2)]);
    }
}
