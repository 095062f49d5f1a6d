//! The gates shared by the rules that compare an old line with its new version (style,
//! spacing, inline comments, type annotations): the changed lines must pair up position by
//! position, keep their indentation, tokenize cleanly and keep the comments the tokenizer drops.

use super::lex::{self, Dialect, Token, leading_indent};
use crate::diff::{DiffLine, LineKind};

/// A removed line and the added line that replaces it.
pub type Pair<'a> = (&'a DiffLine, &'a DiffLine);

/// The changed lines as (old, new) pairs, or `None` when some block of changes is not N
/// removals directly followed by N additions (an insertion, a removal, or a move across a
/// context line changes more than one line's text).
pub fn paired(lines: &[DiffLine]) -> Option<Vec<Pair<'_>>> {
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].kind == LineKind::Context {
            i += 1;
            continue;
        }
        let del_start = i;
        while i < lines.len() && lines[i].kind == LineKind::Removed {
            i += 1;
        }
        let add_start = i;
        while i < lines.len() && lines[i].kind == LineKind::Added {
            i += 1;
        }
        let (dels, adds) = (&lines[del_start..add_start], &lines[add_start..i]);
        if dels.is_empty() || dels.len() != adds.len() {
            return None;
        }
        pairs.extend(dels.iter().zip(adds));
    }
    (!pairs.is_empty()).then_some(pairs)
}

/// The text the tokenizer skipped (comments), without whitespace: a tool directive in a
/// comment (`# noqa`, `/* eslint-disable */`) must not ride along with a trivial token edit.
fn skipped_text(line: &str, tokens: &[Token]) -> String {
    let mut gaps = String::new();
    let mut pos = 0;
    for t in tokens {
        gaps.push_str(&line[pos..t.start]);
        pos = t.end;
    }
    gaps.push_str(&line[pos..]);
    gaps.split_whitespace().collect()
}

/// One pair's verdict from a rule: `Some(true)` differs only trivially, `Some(false)` does not
/// differ as far as this rule sees, `None` differs in a way the rule does not trust.
pub type Verdict = Option<bool>;

/// Whether every pair differs only in the rule's trivial way and at least one differs. Each
/// side is trimmed before tokenizing; token offsets refer to the trimmed text.
pub fn token_delta(
    pairs: &[Pair<'_>],
    dialect: Dialect,
    mut compare: impl FnMut(&str, &str, &[Token], &[Token]) -> Verdict,
) -> bool {
    let mut any = false;
    for (old, new) in pairs {
        if leading_indent(&old.text) != leading_indent(&new.text) {
            return false;
        }
        let (o, n) = (old.text.trim(), new.text.trim());
        let (Some(ot), Some(nt)) = (lex::tokenize(o, dialect), lex::tokenize(n, dialect)) else {
            return false;
        };
        if skipped_text(o, &ot) != skipped_text(n, &nt) {
            return false;
        }
        match compare(o, n, &ot, &nt) {
            None => return false,
            Some(changed) => any |= changed,
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(kind: LineKind, text: &str) -> DiffLine {
        DiffLine {
            kind,
            line: 1,
            text: text.into(),
        }
    }

    #[test]
    fn pairs_only_equal_replacement_blocks() {
        use LineKind::*;
        let ok = [
            l(Removed, "a"),
            l(Added, "b"),
            l(Context, "c"),
            l(Removed, "d"),
            l(Added, "e"),
        ];
        assert_eq!(paired(&ok).unwrap().len(), 2);
        let moved = [l(Removed, "a"), l(Context, "c"), l(Added, "a")];
        assert!(paired(&moved).is_none());
        let insert = [l(Context, "c"), l(Added, "a")];
        assert!(paired(&insert).is_none());
    }

    #[test]
    fn a_changed_comment_defeats_a_token_delta() {
        let (old, new) = (
            l(LineKind::Removed, "x = 'a'  # noqa"),
            l(LineKind::Added, "x = \"a\"  # fine"),
        );
        assert!(!token_delta(
            &[(&old, &new)],
            Dialect::Python,
            |_, _, _, _| Some(true)
        ));
        let new = l(LineKind::Added, "x = \"a\"  # noqa");
        assert!(token_delta(
            &[(&old, &new)],
            Dialect::Python,
            |_, _, _, _| Some(true)
        ));
    }
}
