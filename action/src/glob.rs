//! Path globs with PullApprove 5's semantics.
//!
//! PullApprove matches `paths` with Python `wcmatch.glob.globmatch` and the flags GLOBSTAR, BRACE,
//! NEGATE, IGNORECASE and DOTGLOB. Our answers must be the same as theirs, so this module
//! implements exactly that dialect instead of borrowing another library's: braces expand first
//! (bash-style, with `{1..3}` sequences), each expanded pattern is then translated to one anchored
//! regular expression, and a whole config's patterns are compiled once into a `RegexSet`
//! (see [`crate::matching`]), never per file.
//!
//! The dialect, as matched against repository-relative file paths:
//! - `*` matches within one path segment (dotfiles included), `?` one character, `[...]` a class
//!   (`[!...]` or `[^...]` negated, POSIX `[:alpha:]` classes); none of them match `/`.
//! - `**` as a whole segment crosses directories (zero or more); elsewhere it is a plain `*`.
//! - `\` escapes the next character; matching ignores case; repeated `/` collapse.
//! - A leading `!` makes a pattern negative. A path matches a pattern list when it matches some
//!   positive pattern and no negative one; a list of only negative patterns matches nothing.

use std::fmt::Write as _;

/// The most patterns one glob may expand to (`{a,b}{c,d}` is four); more is an error, as in
/// wcmatch, because it is almost certainly a mistake and would slow every match.
pub const MAX_EXPANSIONS: usize = 1000;

/// One expanded glob, translated and ready to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// `true` for a `!pattern`: a path matching it is excluded.
    pub negated: bool,
    /// An anchored regular expression (`(?i)^...$`) equivalent to the glob.
    pub regex: String,
}

/// Why a glob cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError(pub String);

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GlobError {}

/// Expand braces in `pattern`, then translate every expansion into a regex.
pub fn translate(pattern: &str) -> Result<Vec<Translated>, GlobError> {
    let expanded = expand_braces(pattern)?;
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

/// Whether `path` matches the pattern list with PullApprove's semantics. Compiles on every call:
/// meant for tests and one-off checks; [`crate::matching`] compiles sets once.
pub fn matches(path: &str, patterns: &[&str]) -> Result<bool, GlobError> {
    let mut positive = false;
    for pattern in patterns {
        for t in translate(pattern)? {
            let re = regex::Regex::new(&t.regex).map_err(|e| GlobError(e.to_string()))?;
            if re.is_match(path) {
                if t.negated {
                    return Ok(false);
                }
                positive = true;
            }
        }
    }
    Ok(positive)
}

// ---------------------------------------------------------------------------------------------
// Brace expansion (bash-like, as wcmatch's `bracex`)
// ---------------------------------------------------------------------------------------------

/// Expand `{a,b}` alternatives and `{1..3}` / `{a..e}` sequences, recursively.
///
/// A brace group without a top-level comma that is not a sequence stays literal (`{a}`), as do
/// unbalanced braces. A backslash keeps the next character literal (and stays in the output so
/// the glob translation sees the escape).
pub fn expand_braces(pattern: &str) -> Result<Vec<String>, GlobError> {
    let chars: Vec<char> = pattern.chars().collect();
    let out = expand_seq(&chars)?;
    if out.len() > MAX_EXPANSIONS {
        return Err(GlobError(format!(
            "pattern '{pattern}' expands to more than {MAX_EXPANSIONS} patterns"
        )));
    }
    Ok(out)
}

fn expand_seq(chars: &[char]) -> Result<Vec<String>, GlobError> {
    let mut results = vec![String::new()];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            for r in &mut results {
                r.push(c);
                r.push(chars[i + 1]);
            }
            i += 2;
            continue;
        }
        if c == '{'
            && let Some(close) = matching_brace(chars, i)
        {
            let inner = &chars[i + 1..close];
            let alternatives = expand_group(inner)?;
            if let Some(alternatives) = alternatives {
                let mut next = Vec::with_capacity(results.len() * alternatives.len());
                for r in &results {
                    for a in &alternatives {
                        next.push(format!("{r}{a}"));
                    }
                }
                if next.len() > MAX_EXPANSIONS {
                    return Err(GlobError(format!(
                        "a brace expression expands to more than {MAX_EXPANSIONS} patterns"
                    )));
                }
                results = next;
                i = close + 1;
                continue;
            }
            // Not an expandable group: keep the braces literal, expand what is inside.
            let inner_expanded = expand_seq(inner)?;
            let mut next = Vec::new();
            for r in &results {
                for a in &inner_expanded {
                    next.push(format!("{r}{{{a}}}"));
                }
            }
            results = next;
            i = close + 1;
            continue;
        }
        for r in &mut results {
            r.push(c);
        }
        i += 1;
    }
    Ok(results)
}

/// The index of the `}` closing the `{` at `open`, honouring nesting and escapes.
fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Expand the inside of one brace group, or `None` when the group is not expandable.
fn expand_group(inner: &[char]) -> Result<Option<Vec<String>>, GlobError> {
    let parts = split_top_level_commas(inner);
    if parts.len() > 1 {
        let mut out = Vec::new();
        for part in parts {
            out.extend(expand_seq(part)?);
        }
        return Ok(Some(out));
    }
    Ok(expand_sequence(&inner.iter().collect::<String>()))
}

fn split_top_level_commas(inner: &[char]) -> Vec<&[char]> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut i = 0;
    while i < inner.len() {
        match inner[i] {
            '\\' => i += 1,
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&inner[start..]);
    parts
}

/// `1..5`, `01..10`, `1..10..3`, `a..e`: a bash sequence expression, or `None`.
fn expand_sequence(inner: &str) -> Option<Vec<String>> {
    let pieces: Vec<&str> = inner.split("..").collect();
    if pieces.len() != 2 && pieces.len() != 3 {
        return None;
    }
    let step: i64 = match pieces.get(2) {
        Some(s) => parse_int(s)?,
        None => 1,
    };
    let step = step.unsigned_abs().max(1) as i64;
    let (a, b) = (pieces[0], pieces[1]);
    if let (Some(start), Some(end)) = (parse_int(a), parse_int(b)) {
        let width = if has_zero_pad(a) || has_zero_pad(b) {
            a.len().max(b.len())
        } else {
            0
        };
        let mut out = Vec::new();
        let mut n = start;
        loop {
            if out.len() > MAX_EXPANSIONS {
                break;
            }
            out.push(pad_int(n, width));
            if n == end {
                break;
            }
            if start < end {
                n += step;
                if n > end {
                    break;
                }
            } else {
                n -= step;
                if n < end {
                    break;
                }
            }
        }
        return Some(out);
    }
    let (ac, bc) = (single_char(a)?, single_char(b)?);
    if !ac.is_ascii_alphabetic() || !bc.is_ascii_alphabetic() {
        return None;
    }
    let (start, end) = (ac as i64, bc as i64);
    let mut out = Vec::new();
    let mut n = start;
    loop {
        out.push(char::from_u32(n as u32)?.to_string());
        if n == end {
            break;
        }
        if start < end {
            n += step;
            if n > end {
                break;
            }
        } else {
            n -= step;
            if n < end {
                break;
            }
        }
    }
    Some(out)
}

fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 15 {
        return None;
    }
    s.parse().ok()
}

fn has_zero_pad(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    digits.len() > 1 && digits.starts_with('0')
}

fn pad_int(n: i64, width: usize) -> String {
    if width == 0 {
        return n.to_string();
    }
    if n < 0 {
        format!("-{:0>w$}", -n, w = width.saturating_sub(1))
    } else {
        format!("{n:0>width$}")
    }
}

fn single_char(s: &str) -> Option<char> {
    let mut it = s.chars();
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

// ---------------------------------------------------------------------------------------------
// Glob -> regex
// ---------------------------------------------------------------------------------------------

/// A path segment: no `/`.
const SEGMENT_CHAR: &str = "[^/]";

/// Translate one brace-free, non-negated glob into an anchored, case-insensitive regex.
pub fn glob_to_regex(glob: &str) -> String {
    // A pattern ending in `/` names a directory, and we only ever match files.
    // An absolute pattern never matches a repository-relative path.
    if glob.is_empty() || glob.ends_with('/') || glob.starts_with('/') {
        return "[^\\s\\S]".to_string();
    }
    let segments: Vec<&str> = glob.split('/').filter(|s| !s.is_empty()).collect();
    let mut re = String::from("(?i)^");
    let last = segments.len() - 1;
    let mut i = 0;
    let mut need_slash = false;
    while i < segments.len() {
        let seg = segments[i];
        if seg == "**" {
            // Collapse runs of `**`.
            while i < last && segments[i + 1] == "**" {
                i += 1;
            }
            if i == last {
                // Trailing `**`: one or more segments (at least something must follow).
                if need_slash {
                    re.push('/');
                }
                re.push_str("[^/]+(?:/[^/]+)*");
            } else {
                // `**/` in front of more segments: zero or more whole directories.
                if need_slash {
                    re.push('/');
                }
                re.push_str("(?:[^/]+/)*");
                need_slash = false;
                i += 1;
                continue;
            }
        } else {
            if need_slash {
                re.push('/');
            }
            translate_segment(seg, &mut re);
            need_slash = true;
        }
        i += 1;
    }
    re.push('$');
    re
}

/// Translate one segment (no `/`) of a glob.
fn translate_segment(seg: &str, re: &mut String) {
    let chars: Vec<char> = seg.chars().collect();
    // Segment-wide wcmatch rules: `*` never produces `.` or `..` as a whole segment.
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                if i + 1 < chars.len() {
                    push_literal(chars[i + 1], re);
                    i += 2;
                } else {
                    push_literal('\\', re);
                    i += 1;
                }
            }
            '*' => {
                while i + 1 < chars.len() && chars[i + 1] == '*' {
                    i += 1;
                }
                let _ = write!(re, "{SEGMENT_CHAR}*");
                i += 1;
            }
            '?' => {
                re.push_str(SEGMENT_CHAR);
                i += 1;
            }
            '[' => match parse_class(&chars, i) {
                Some((class, next)) => {
                    re.push_str(&class);
                    i = next;
                }
                None => {
                    push_literal('[', re);
                    i += 1;
                }
            },
            _ => {
                push_literal(c, re);
                i += 1;
            }
        }
    }
}

fn push_literal(c: char, re: &mut String) {
    let mut buf = [0u8; 4];
    re.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

/// Parse a `[...]` class starting at `open`; returns the regex class and the index after `]`.
fn parse_class(chars: &[char], open: usize) -> Option<(String, usize)> {
    let mut i = open + 1;
    let mut negated = false;
    if i < chars.len() && (chars[i] == '!' || chars[i] == '^') {
        negated = true;
        i += 1;
    }
    let mut items: Vec<String> = Vec::new();
    let mut first = true;
    loop {
        if i >= chars.len() {
            return None;
        }
        let c = chars[i];
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        if c == '[' && chars.get(i + 1) == Some(&':') {
            // POSIX class like [:alpha:]
            let rest: String = chars[i..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let name = &rest[2..end];
                if let Some(posix) = posix_class(name) {
                    items.push(posix.to_string());
                    i += rest[..end + 2].chars().count();
                    continue;
                }
            }
        }
        let (lo, next) = class_char(chars, i);
        i = next;
        if i + 1 < chars.len() && chars[i] == '-' && chars[i + 1] != ']' {
            let (hi, next) = class_char(chars, i + 1);
            i = next;
            if lo <= hi {
                items.push(format!("{}-{}", escape_class(lo), escape_class(hi)));
            }
            continue;
        }
        items.push(escape_class(lo));
    }
    let body: String = items.concat();
    let class = if negated {
        // A negated class never matches `/` either.
        format!("[^/{body}]")
    } else if body.is_empty() {
        "[^\\s\\S]".to_string()
    } else {
        // `[/]` can never match inside a segment.
        format!("[{body}&&[^/]]")
    };
    Some((class, i))
}

fn class_char(chars: &[char], i: usize) -> (char, usize) {
    if chars[i] == '\\' && i + 1 < chars.len() {
        (chars[i + 1], i + 2)
    } else {
        (chars[i], i + 1)
    }
}

fn escape_class(c: char) -> String {
    match c {
        '\\' | ']' | '[' | '^' | '-' | '&' | '~' => format!("\\{c}"),
        _ => c.to_string(),
    }
}

fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "alnum" => "[:alnum:]",
        "alpha" => "[:alpha:]",
        "ascii" => "[:ascii:]",
        "blank" => "[:blank:]",
        "cntrl" => "[:cntrl:]",
        "digit" => "[:digit:]",
        "graph" => "[:graph:]",
        "lower" => "[:lower:]",
        "print" => "[:print:]",
        "punct" => "[:punct:]",
        "space" => "[:space:]",
        "upper" => "[:upper:]",
        "word" => "[:word:]",
        "xdigit" => "[:xdigit:]",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str, patterns: &[&str]) -> bool {
        matches(path, patterns).unwrap()
    }

    /// Every row was answered by PullApprove 5.19's `matches_path_patterns` (wcmatch 12).
    #[test]
    fn agrees_with_wcmatch_on_known_cases() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("src/api", &["src/api/**"], false),
            ("src/api/x", &["src/api/**"], true),
            ("src/api/x/y", &["src/api/**"], true),
            ("a.py", &["**/*.py"], true),
            ("a/b.py", &["**/*.py"], true),
            ("a/b.py", &["*.py"], false),
            ("package.json", &["**/*/package.json"], false),
            ("a/package.json", &["**/*/package.json"], true),
            (".github/x.yml", &["*/*.yml"], true),
            (".env", &["*"], true),
            ("a/.b/c", &["a/**/c"], true),
            ("a/c", &["a/**/c"], true),
            ("abc/d", &["a**/d"], true),
            ("abc/x/d", &["a**/d"], false),
            ("a/b.py", &["!a/b.py"], false),
            ("a/b.py", &["!a/c.py"], false),
            ("a/b.py", &["!a/c.py", "a/*"], true),
            ("a/b.py", &["a/*", "!a/b.py"], false),
            ("a/b.py", &["!a/b.py", "a/*"], false),
            ("A/B.PY", &["a/*.py"], true),
            ("a/b1", &["a/b{1..3}"], true),
            ("a/b2", &["a/b{1..3}"], true),
            ("a/b{1}", &["a/b{1}"], true),
            ("a/b1", &["a/b{1}"], false),
            ("a/bx", &["a/b{x,{y,z}}"], true),
            ("a/bz", &["a/b{x,{y,z}}"], true),
            ("a/b", &["a/[!c]"], true),
            ("a/b", &["a/[^c]"], true),
            ("a/c", &["a/[^c]"], false),
            ("a/b", &["a/[[:alpha:]]"], true),
            ("a/*", &["a/\\*"], true),
            ("a/b", &["a/\\*"], false),
            ("a/b", &["a/?"], true),
            ("a/b/c", &["a/**"], true),
            ("a", &["a/**"], false),
            ("a", &["**"], true),
            ("a/b", &["**"], true),
            ("a/b", &["a/"], false),
            ("a/b", &["a"], false),
            ("a/b", &["/a/b"], false),
            ("a/b", &["./a/b"], false),
            ("a/b", &["a//b"], true),
            ("a/b", &["a/**/**/b"], true),
            ("x/a/b", &["**/a/**"], true),
            ("a/b", &["@(a|c)/b"], false),
            ("a/b", &["a/b/"], false),
            ("a/b", &["a/b/**"], false),
            ("a/.b", &["a/*"], true),
            ("a/.b", &["a/.*"], true),
            ("a/b", &["a/.*"], false),
            ("ab", &["a[]b"], false),
            ("a]b", &["a[]]b"], true),
            ("a-b", &["a[a-]b"], true),
            ("a/b", &["a[/]b"], false),
            ("ab", &["{a,}b"], true),
            ("b", &["{a,}b"], true),
            ("a/b", &["{a/b,c}"], true),
            ("a/b", &["!!a/b"], false),
            ("a/b", &["a/{b}"], false),
            ("a/{b}", &["a/{b}"], true),
            ("a/b", &["a/{b,}"], true),
            ("a/b", &["a/{,b}"], true),
            ("ä/b", &["Ä/b"], true),
        ];
        for (path, patterns, expected) in cases {
            assert_eq!(m(path, patterns), *expected, "{path} vs {patterns:?}");
        }
    }

    #[test]
    fn braces_expand_like_bash() {
        assert_eq!(
            expand_braces("{a,b}{c,d}").unwrap(),
            ["ac", "ad", "bc", "bd"]
        );
        assert_eq!(expand_braces("x{01..03}").unwrap(), ["x01", "x02", "x03"]);
        assert_eq!(expand_braces("{c..a}").unwrap(), ["c", "b", "a"]);
        assert_eq!(expand_braces("{1..7..3}").unwrap(), ["1", "4", "7"]);
        assert_eq!(expand_braces("{a}").unwrap(), ["{a}"]);
        assert_eq!(expand_braces("{a").unwrap(), ["{a"]);
        assert_eq!(expand_braces("\\{a,b}").unwrap(), ["\\{a,b}"]);
        assert_eq!(expand_braces("{a,b\\,c}").unwrap(), ["a", "b\\,c"]);
    }

    #[test]
    fn too_many_expansions_is_an_error() {
        let p = "{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}";
        assert!(expand_braces(p).is_err());
    }

    #[test]
    fn negated_braces_negate_each_expansion() {
        let t = translate("!{a,b}").unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|t| t.negated));
    }
}
