//! Glob to regex: each brace-free glob becomes one anchored, case-insensitive regular
//! expression with wcmatch's rules for `*`, `**`, `?`, classes, escapes and separators.

use super::{GlobError, expand_braces_within};
use std::fmt::Write as _;

/// One expanded glob, translated and ready to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Translated {
    /// `true` for a `!pattern`: a path matching it is excluded.
    pub negated: bool,
    /// An anchored regular expression (`(?i)^...$`) equivalent to the glob.
    pub regex: String,
}

/// Expand braces in `pattern` with a given expansion limit (what is left of a pattern list's
/// budget of [`super::MAX_EXPANSIONS`]), then translate every expansion into a regex.
pub(crate) fn translate_within(pattern: &str, limit: usize) -> Result<Vec<Translated>, GlobError> {
    let expanded = expand_braces_within(pattern, limit)?;
    Ok(expanded
        .iter()
        .map(|p| match p.strip_prefix('!') {
            Some(rest) => Translated {
                negated: true,
                regex: glob_to_regex(rest),
            },
            None => Translated {
                negated: false,
                regex: glob_to_regex(p),
            },
        })
        .collect())
}

/// A regex that matches nothing (used for globs that can never match a repository file).
const NEVER: &str = "[^\\s\\S]";

/// One piece of a path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// A literal character.
    Lit(char),
    /// `*`: any run of characters within the segment.
    Star,
    /// `?`: one character other than `/`.
    Any,
    /// `[...]`: a ready-made regex class that never matches `/`.
    Class(String),
}

/// One segment of a glob, between separators.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**` as a whole segment: any number of directories.
    Globstar,
    /// Anything else.
    Pieces(Vec<Piece>),
}

/// Translate one brace-free, non-negated glob into an anchored, case-insensitive regex.
///
/// The globs are matched against repository-relative paths, which never start or end with `/`
/// and never hold an empty, `.` or `..` segment. Under wcmatch's rules a separator is `/` or an
/// escaped `\/`; a run of plain `/` after a separator counts as one, but a second escaped `\/`
/// starts a new separator that needs its own `/` in the path. So a glob with an empty segment
/// (leading or trailing separator, or `/\/`) can never match a file and becomes [`NEVER`].
fn glob_to_regex(glob: &str) -> String {
    let Some(segments) = parse_segments(glob) else {
        return NEVER.to_string();
    };
    let mut re = String::from("(?i)^");
    let last = segments.len() - 1;
    let mut need_slash = false;
    let mut i = 0;
    while i < segments.len() {
        match &segments[i] {
            Segment::Globstar => {
                // Runs of `**` collapse into one.
                while i < last && segments[i + 1] == Segment::Globstar {
                    i += 1;
                }
                if need_slash {
                    re.push('/');
                }
                if i == last {
                    // Trailing `**`: one or more whole segments.
                    re.push_str("[^/]+(?:/[^/]+)*");
                } else {
                    // `**/` before more segments: zero or more whole directories.
                    re.push_str("(?:[^/]+/)*");
                }
                need_slash = false;
            }
            Segment::Pieces(pieces) => {
                if need_slash {
                    re.push('/');
                }
                for piece in pieces {
                    match piece {
                        Piece::Lit(c) => push_literal(*c, &mut re),
                        Piece::Star => re.push_str("[^/]*"),
                        Piece::Any => re.push_str("[^/]"),
                        Piece::Class(class) => re.push_str(class),
                    }
                }
                need_slash = true;
            }
        }
        i += 1;
    }
    re.push('$');
    re
}

/// Split a glob into segments, scanning left to right as wcmatch does (escapes and classes
/// decide where separators are). `None` when the glob can never match a repository path.
fn parse_segments(glob: &str) -> Option<Vec<Segment>> {
    let chars: Vec<char> = glob.chars().collect();
    let n = chars.len();
    let mut segments = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut globstar = false;
    // A `[` at an index below this is literal: an earlier class attempt already failed there.
    let mut class_allowed_from = 0;
    let mut i = 0;
    while i < n {
        let at_start = pieces.is_empty() && !globstar;
        let c = chars[i];
        // `**` alone in its segment (followed by a separator, the end, or a trailing lone `\`).
        if at_start && c == '*' && chars.get(i + 1) == Some(&'*') {
            let after = chars.get(i + 2);
            let next = chars.get(i + 3);
            let is_globstar = match after {
                None | Some('/') => true,
                Some('\\') => matches!(next, None | Some('/')),
                _ => false,
            };
            if is_globstar {
                globstar = true;
                i += 2;
                if after == Some(&'\\') && next.is_none() {
                    i += 1;
                }
                continue;
            }
        }
        let separator = match c {
            '/' => Some(1),
            '\\' if chars.get(i + 1) == Some(&'/') => Some(2),
            _ => None,
        };
        if let Some(len) = separator {
            segments.push(finish_segment(&mut pieces, &mut globstar)?);
            i += len;
            // Plain `/` right after a separator belong to it.
            while chars.get(i) == Some(&'/') {
                i += 1;
            }
            continue;
        }
        match c {
            '\\' => {
                // `\x` is a literal x; a trailing lone `\` escapes nothing and is dropped.
                if let Some(&escaped) = chars.get(i + 1) {
                    pieces.push(Piece::Lit(escaped));
                }
                i += 2;
            }
            '*' => {
                if pieces.last() != Some(&Piece::Star) {
                    pieces.push(Piece::Star);
                }
                i += 1;
            }
            '?' => {
                pieces.push(Piece::Any);
                i += 1;
            }
            '[' if i >= class_allowed_from => match parse_class(&chars, i) {
                Ok((class, next)) => {
                    pieces.push(Piece::Class(class));
                    i = next;
                }
                Err(failed_at) => {
                    class_allowed_from = failed_at;
                    pieces.push(Piece::Lit('['));
                    i += 1;
                }
            },
            _ => {
                pieces.push(Piece::Lit(c));
                i += 1;
            }
        }
    }
    segments.push(finish_segment(&mut pieces, &mut globstar)?);
    Some(segments)
}

/// Close the segment being built; `None` (never matches) when it is empty.
fn finish_segment(pieces: &mut Vec<Piece>, globstar: &mut bool) -> Option<Segment> {
    if std::mem::take(globstar) {
        return Some(Segment::Globstar);
    }
    if pieces.is_empty() {
        return None;
    }
    Some(Segment::Pieces(std::mem::take(pieces)))
}

fn push_literal(c: char, re: &mut String) {
    let mut buf = [0u8; 4];
    re.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

/// One item of a `[...]` class as wcmatch writes it before Python's regex engine reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    /// A literal character.
    Char(char),
    /// A `-` left unescaped: a range operator between its neighbours.
    RangeOp,
    /// A POSIX class such as `[:alpha:]`.
    Posix(&'static str),
}

impl ClassItem {
    /// The character wcmatch compares when it checks that a range is not backwards: the item's
    /// own character, or for a POSIX class the second character of the text it expands to.
    fn order_key(&self) -> char {
        match self {
            ClassItem::Char(c) => *c,
            ClassItem::RangeOp => '-',
            ClassItem::Posix("blank") => ' ',
            ClassItem::Posix(_) => '-',
        }
    }
}

/// Parse a `[...]` class starting at `open`.
///
/// Returns the regex class (never matching `/`) and the index after `]`, or the index at which
/// the attempt failed (after a `/` or `\/`, which cannot be in a class, or the end of the glob):
/// then the `[` is literal, and so is any other `[` before that index.
///
/// The rules are wcmatch's: `!` or `^` negates; a leading `]` or `-` is literal; `\x` is a literal
/// x; `[:name:]` is a POSIX class; `a-z` is a range, a backwards range is dropped (an inclusive
/// class left empty that way matches nothing, an exclusive one anything); a `-` right after a
/// range is literal.
fn parse_class(chars: &[char], open: usize) -> Result<(String, usize), usize> {
    let n = chars.len();
    let mut i = open + 1;
    let mut items: Vec<ClassItem> = Vec::new();
    let mut negated = false;
    let mut removed = false;
    // Index just after the last range operator while its range is still open (0 = none).
    let mut range_open_after = 0usize;
    // A `-` at or before this index cannot be a range operator.
    let mut no_op_until: Option<usize> = None;
    let mut last_posix = false;

    let next = |i: &mut usize| -> Result<char, usize> {
        let c = *chars.get(*i).ok_or(n)?;
        *i += 1;
        Ok(c)
    };

    let mut c = next(&mut i)?;
    if c == '!' || c == '^' {
        negated = true;
        c = next(&mut i)?;
    }
    if c == '[' {
        match posix_at(chars, i) {
            Some((name, end)) => {
                items.push(ClassItem::Posix(name));
                last_posix = true;
                i = end;
            }
            None => items.push(ClassItem::Char('[')),
        }
        c = next(&mut i)?;
    } else if c == '-' || c == ']' {
        items.push(ClassItem::Char(c));
        c = next(&mut i)?;
    }

    while c != ']' {
        let pos = i - 1;
        if c == '-' {
            if last_posix {
                items.push(ClassItem::Char('-'));
                last_posix = false;
            } else if no_op_until.is_none_or(|until| pos > until) {
                items.push(ClassItem::RangeOp);
                no_op_until = Some(pos + 2);
                range_open_after = pos + 1;
            } else if range_open_after != 0 && pos >= range_open_after {
                removed |= close_range(&mut items, ClassItem::Char('-'));
                range_open_after = 0;
            } else {
                items.push(ClassItem::Char('-'));
            }
            c = next(&mut i)?;
            continue;
        }
        last_posix = false;
        if c == '['
            && let Some((name, end)) = posix_at(chars, i)
        {
            // A POSIX class cannot end a range: the operator before it becomes a literal `-`.
            if range_open_after != 0
                && pos >= range_open_after
                && let Some(last) = items.last_mut()
                && *last == ClassItem::RangeOp
            {
                *last = ClassItem::Char('-');
            }
            items.push(ClassItem::Posix(name));
            last_posix = true;
            i = end;
            c = next(&mut i)?;
            continue;
        }
        let value = match c {
            '\\' => {
                let escaped = next(&mut i)?;
                if escaped == '/' {
                    return Err(i);
                }
                escaped
            }
            '/' => return Err(i),
            other => other,
        };
        if range_open_after != 0 && i > range_open_after {
            removed |= close_range(&mut items, ClassItem::Char(value));
            range_open_after = 0;
        } else {
            items.push(ClassItem::Char(value));
        }
        c = next(&mut i)?;
    }
    Ok((render_class(&items, negated, removed), i))
}

/// Complete the range whose operator is the last item with `end`: a backwards range is dropped
/// together with its start (returns `true`).
fn close_range(items: &mut Vec<ClassItem>, end: ClassItem) -> bool {
    let start = items.len().checked_sub(2).map(|k| items[k].order_key());
    if start.is_some_and(|s| end.order_key() < s) {
        items.pop();
        items.pop();
        return true;
    }
    items.push(end);
    false
}

/// `[:name:]` at `chars[at..]` (just after a `[`): its name and the index after `:]`.
fn posix_at(chars: &[char], at: usize) -> Option<(&'static str, usize)> {
    if chars.get(at) != Some(&':') {
        return None;
    }
    let rest: String = chars[at + 1..].iter().take(8).collect();
    let end = rest.find(":]")?;
    let name = posix_name(&rest[..end])?;
    Some((name, at + 1 + end + 2))
}

fn posix_name(name: &str) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];
    NAMES.iter().copied().find(|n| *n == name)
}

/// Render class items the way Python's regex engine reads wcmatch's class text: an operator
/// between two items makes a range, an operator with nothing after it is a literal `-`, and an
/// operator right after a completed range is a literal `-` too.
fn render_class(items: &[ClassItem], negated: bool, removed: bool) -> String {
    let mut body = String::new();
    let mut k = 0;
    while k < items.len() {
        let item = &items[k];
        let lo = match item {
            ClassItem::Posix(name) => {
                let _ = write!(body, "[:{name}:]");
                k += 1;
                continue;
            }
            ClassItem::Char(c) => *c,
            ClassItem::RangeOp => '-',
        };
        if items.get(k + 1) == Some(&ClassItem::RangeOp)
            && let Some(hi_item) = items.get(k + 2)
        {
            match hi_item {
                ClassItem::Char(hi) => {
                    if lo <= *hi {
                        let _ = write!(body, "{}-{}", class_char(lo), class_char(*hi));
                    }
                    k += 3;
                    continue;
                }
                ClassItem::RangeOp => {
                    if lo <= '-' {
                        let _ = write!(body, "{}-{}", class_char(lo), class_char('-'));
                    }
                    k += 3;
                    continue;
                }
                ClassItem::Posix(_) => {}
            }
        }
        body.push_str(&class_char(lo));
        k += 1;
    }
    if body.is_empty() {
        return if negated && removed {
            "[^/]".to_string()
        } else {
            NEVER.to_string()
        };
    }
    if negated {
        format!("[^/{body}]")
    } else {
        format!("[{body}&&[^/]]")
    }
}

/// One character, escaped for use inside a regex class.
fn class_char(c: char) -> String {
    format!("\\x{{{:x}}}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(pattern: &str) -> Result<Vec<Translated>, GlobError> {
        translate_within(pattern, crate::glob::MAX_EXPANSIONS)
    }

    #[test]
    fn negated_braces_negate_each_expansion() {
        let t = translate("!{a,b}").unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|t| t.negated));
    }
}
