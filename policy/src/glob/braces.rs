//! Brace expansion with bash's rules, as wcmatch's `bracex` implements them: the first step of
//! matching a glob, before [`super::translate`] turns each expansion into a regex.

use super::{GlobError, MAX_EXPANSIONS};

/// Expand `{a,b}` alternatives and `{1..3}` / `{a..e}` sequences, recursively, with bash's rules
/// (which wcmatch follows through `bracex`), with a limit of [`MAX_EXPANSIONS`] patterns.
///
/// Among those rules: a group needs a top-level comma or must be a valid sequence, else it stays
/// literal (`{a}`); an unclosed group keeps its `{` and expands what follows; at the top level a
/// `}` does not close a group before its first comma (`{a}b,c}` is `a}b` or `c`) unless the group
/// is an empty `{}` at the start of a word; `${...}` is literal; letter sequences run through the
/// ASCII characters between the letters (`{Z..a}` includes `[`, `]`, `^`, `_` and a backtick,
/// and an empty string where the backslash would be). A backslash keeps the next character
/// literal and stays in the output so the glob translation sees the escape.
pub fn expand_braces(pattern: &str) -> Result<Vec<String>, GlobError> {
    expand_braces_within(pattern, MAX_EXPANSIONS)
}

/// [`expand_braces`] with a given limit (what is left of a pattern list's shared budget).
pub(crate) fn expand_braces_within(pattern: &str, limit: usize) -> Result<Vec<String>, GlobError> {
    let too_many = || {
        GlobError(format!(
            "pattern '{pattern}' expands to more than {limit} patterns"
        ))
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    if !chars.is_empty() {
        let mut b = Braces::new(&chars, limit as u128);
        let (parts, _, _) = b.literals(0, false).map_err(|_| too_many())?;
        out.extend(product(&parts).into_iter().flatten());
    }
    if out.is_empty() {
        out.push(String::new());
    }
    if out.len() > limit {
        return Err(too_many());
    }
    Ok(out)
}

/// One expansion: its alternatives. `None` is an empty slot (`{a,}`), which disappears when
/// joined to anything and is dropped if a whole pattern expands to nothing but it; `Some("")`
/// is a real empty string (from the backslash position of a letter sequence).
type Alts = Vec<Option<String>>;

/// The count of expansions a piece was accounted for exceeded the limit.
struct OverLimit;

/// Every combination of one alternative from each part, in order.
fn product(parts: &[Alts]) -> Alts {
    let mut acc: Alts = vec![None];
    for part in parts {
        acc = squash(&acc, part);
    }
    acc
}

/// Join each alternative of `a` with each of `b`.
fn squash(a: &Alts, b: &Alts) -> Alts {
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            out.push(match (x, y) {
                (None, None) => None,
                _ => Some(format!(
                    "{}{}",
                    x.as_deref().unwrap_or(""),
                    y.as_deref().unwrap_or("")
                )),
            });
        }
    }
    out
}

fn lit(s: impl Into<String>) -> Alts {
    vec![Some(s.into())]
}

/// The brace parser over one string.
struct Braces<'a> {
    s: &'a [char],
    i: usize,
    limit: u128,
    /// Inside a group: `,` and `}` end a literal run.
    expanding: bool,
    /// Index of the last `..` in the string, if any.
    last_seq: Option<usize>,
    /// Closing index and sequence-ness of nested groups already scanned, by start index.
    memo: std::collections::HashMap<usize, (Option<usize>, bool)>,
}

impl<'a> Braces<'a> {
    fn new(s: &'a [char], limit: u128) -> Self {
        let last_seq = (0..s.len().saturating_sub(1))
            .rev()
            .find(|&k| s[k] == '.' && s[k + 1] == '.');
        Braces {
            s,
            i: 0,
            limit,
            expanding: false,
            last_seq,
            memo: std::collections::HashMap::new(),
        }
    }

    fn next(&mut self) -> Option<char> {
        let c = self.s.get(self.i).copied();
        if c.is_some() {
            self.i += 1;
        }
        c
    }

    fn account(&self, count: u128) -> Result<u128, OverLimit> {
        if count > self.limit {
            Err(OverLimit)
        } else {
            Ok(count)
        }
    }

    /// A run of literal text and groups, starting at the current character, up to the end of
    /// the string or (inside a group) a `,` or `}` of this level (a `}` only when not
    /// `ignore_end`). Returns the parts in order (not yet multiplied out), their count (checked
    /// against the limit), and whether the run held a `..`.
    fn literals(
        &mut self,
        depth: usize,
        mut ignore_end: bool,
    ) -> Result<(Vec<Alts>, u128, bool), OverLimit> {
        let mut parts: Vec<Alts> = Vec::new();
        let mut word_start = 0usize;
        let mut is_dollar = false;
        let mut dollar_depth = 0usize;
        let mut count: u128 = 1;
        let mut text = String::new();
        let mut has_seq = false;
        let mut c = match self.next() {
            Some(c) => c,
            None => return Ok((parts, 1, false)),
        };
        loop {
            let after_dollar = std::mem::take(&mut is_dollar);
            if c == '$' {
                is_dollar = true;
                text.push(c);
            } else if c == '\\' {
                text.push(c);
                if let Some(e) = self.next() {
                    text.push(e);
                }
            } else if (after_dollar && c == '{') || (dollar_depth > 0 && c == '}') {
                text.push(c);
                if c == '{' {
                    dollar_depth += 1;
                } else {
                    dollar_depth -= 1;
                }
            } else if c == '{' {
                if !text.is_empty() {
                    parts.push(lit(std::mem::take(&mut text)));
                }
                if self.i >= self.s.len() {
                    // Nothing after `{`: it is literal and the run ends.
                    text.push('{');
                    break;
                }
                let (alts, n, expanded) = self.group(depth + 1, word_start)?;
                if expanded {
                    word_start = self.i;
                }
                count = count.saturating_mul(n);
                parts.push(alts);
            } else if self.expanding && dollar_depth == 0 && (c == ',' || (c == '}' && !ignore_end))
            {
                if !text.is_empty() {
                    parts.push(lit(std::mem::take(&mut text)));
                }
                self.i -= 1;
                return Ok((parts, self.account(count)?, has_seq));
            } else if dollar_depth == 0
                && c == '.'
                && self.s.get(self.i) == Some(&'.')
                && self.s.get(self.i + 1) != Some(&'}')
            {
                self.i += 1;
                ignore_end = false;
                has_seq = true;
                text.push_str("..");
            } else {
                text.push(c);
            }
            match self.next() {
                Some(n) => c = n,
                None => break,
            }
        }
        if !text.is_empty() {
            parts.push(lit(text));
        }
        Ok((parts, self.account(count)?, has_seq))
    }

    /// The group whose `{` was just read. Returns its alternatives, their accounted count, and
    /// whether it expanded (a valid group or sequence).
    fn group(&mut self, depth: usize, word_start: usize) -> Result<(Alts, u128, bool), OverLimit> {
        let group_start = self.i;
        let release = !self.expanding;
        self.expanding = true;
        let end_expanding = |b: &mut Self| {
            if release {
                b.expanding = false;
            }
        };

        if let Some((alts, n)) = self.sequence() {
            end_expanding(self);
            return Ok((alts, self.account(n)?, true));
        }

        // A top-level `..` and no top-level comma: bash decides up front whether this looks
        // like a sequence (kept as text) or not (only the `{` is text).
        if self.last_seq.is_some_and(|k| k >= group_start)
            && let (Some(end), true) = self.scan_group(group_start, depth > 1)
        {
            end_expanding(self);
            let group: String = self.s[group_start..=end].iter().collect();
            if looks_like_sequence(&group) {
                self.i = end + 1;
                let inner: String = self.s[group_start..end].iter().collect();
                return Ok((lit(format!("{{{inner}}}")), 1, false));
            }
            if depth == 1 {
                self.i = group_start;
                return Ok((lit("{"), 1, false));
            }
            let (alts, n) = self.isolated(group_start, end + 1)?;
            self.i = end + 1;
            return Ok((squash(&lit("{"), &alts), n, false));
        }

        let mut entries: Vec<Alts> = Vec::new();
        let mut counts: Vec<u128> = Vec::new();
        let mut has_comma = false;
        let mut has_seq = false;
        let mut is_empty = true;
        let mut c = self.s[self.i];
        self.i += 1;
        loop {
            let keep_looking = depth == 1 && !has_comma && !has_seq;
            if c == '}' && (!keep_looking || self.i == word_start + 2) {
                end_expanding(self);
                if is_empty {
                    entries.push(vec![None]);
                    if has_comma {
                        counts.push(1);
                    }
                }
                if !has_comma {
                    let n = self.account(counts.iter().fold(1u128, |a, b| a.saturating_mul(*b)))?;
                    let mut alts = lit("{");
                    for e in &entries {
                        alts = squash(&alts, e);
                    }
                    return Ok((squash(&alts, &lit("}")), n, false));
                }
                let n = self.account(counts.iter().fold(0u128, |a, b| a.saturating_add(*b)))?;
                return Ok((entries.into_iter().flatten().collect(), n, true));
            } else if c == ',' {
                has_comma = true;
                if is_empty {
                    entries.push(vec![None]);
                    counts.push(1);
                } else {
                    is_empty = true;
                }
            } else {
                self.i -= 1;
                let (parts, n, seq) = self.literals(depth, keep_looking)?;
                has_seq = seq;
                counts.push(n);
                if !parts.is_empty() {
                    entries.push(product(&parts));
                    is_empty = false;
                }
            }
            match self.next() {
                Some(n) => c = n,
                None => break,
            }
        }
        // Never closed: the `{` and the commas stay, what is inside still expands.
        end_expanding(self);
        if has_comma && is_empty {
            entries.push(vec![None]);
        }
        let n = self.account(counts.iter().fold(1u128, |a, b| a.saturating_mul(*b)))?;
        let mut alts = lit("{");
        for (k, e) in entries.iter().enumerate() {
            let member = squash(&vec![Some(if k > 0 { "," } else { "" }.to_string())], e);
            alts = squash(&alts, &member);
        }
        Ok((alts, n, false))
    }

    /// A valid `{x..y[..step]}` sequence right after the `{` just read (the `}` is consumed),
    /// with its count. A sequence longer than any limit is counted but not produced.
    fn sequence(&mut self) -> Option<(Alts, u128)> {
        let rest: String = self.s[self.i..].iter().collect();
        let (alts, n, consumed) = int_sequence(&rest).or_else(|| char_sequence(&rest))?;
        self.i += rest[..consumed].chars().count();
        Some((alts, n))
    }

    /// Bash's look-ahead for the `}` ending the group that starts at `index` (after its `{`),
    /// and whether the group is a sequence candidate (a top-level `..`, no top-level comma).
    /// When `bounded` (a nested group), a stray top-level `}` means there is no closing `}`.
    fn scan_group(&mut self, start: usize, bounded: bool) -> (Option<usize>, bool) {
        if bounded && let Some(known) = self.memo.get(&start) {
            return *known;
        }
        // Open nested groups: (start, found a separator, is a sequence); `None` for `${`.
        let mut stack: Vec<Option<(usize, bool, bool)>> = Vec::new();
        let mut found = false;
        let mut is_seq = false;
        let s = self.s;
        let mut k = start;
        while k < s.len() {
            let c = s[k];
            let dots = c == '.' && s.get(k + 1) == Some(&'.') && s.get(k + 2) != Some(&'}');
            if c == '\\' {
                k += 1;
            } else if c == '$' && s.get(k + 1) == Some(&'{') {
                stack.push(None);
                k += 1;
            } else if c == '{' {
                stack.push(Some((k + 1, false, false)));
            } else if c == '}' {
                if let Some(nested) = stack.pop() {
                    if let Some((at, sep, seq)) = nested {
                        let known = if sep { (Some(k), seq) } else { (None, false) };
                        self.memo.insert(at, known);
                    }
                } else if found {
                    return (Some(k), is_seq);
                } else if bounded {
                    break;
                }
            } else if c == ',' || dots {
                match stack.last_mut() {
                    None => {
                        if c == ',' || !found {
                            found = true;
                            is_seq = c == '.';
                        }
                    }
                    Some(Some(top)) => {
                        if c == ',' || !top.1 {
                            top.1 = true;
                            top.2 = c == '.';
                        }
                    }
                    Some(None) => {}
                }
            }
            k += 1;
        }
        (None, false)
    }

    /// Expand `s[from..to]` on its own, as though it were not inside a group.
    fn isolated(&mut self, from: usize, to: usize) -> Result<(Alts, u128), OverLimit> {
        let mut sub = Braces::new(&self.s[from..to], self.limit);
        let (parts, n, _) = sub.literals(0, false)?;
        Ok((product(&parts), n))
    }
}

/// Whether a group (from its first character to its `}`) starts like a sequence: both sides of
/// the first `..` start like the same kind of term (a number or a letter).
fn looks_like_sequence(group: &str) -> bool {
    let Some(index) = group.find("..") else {
        return false;
    };
    let b = group.as_bytes();
    if index < 1 || b[0] == b'.' {
        return false;
    }
    let term = |at: usize, end_chars: &[u8]| -> bool {
        match b.get(at) {
            Some(c) if c.is_ascii_digit() => true,
            Some(b'-' | b'+') => b.get(at + 1).is_some_and(u8::is_ascii_digit),
            Some(c) if c.is_ascii_alphabetic() => {
                b.get(at + 1).is_some_and(|n| end_chars.contains(n))
            }
            _ => false,
        }
    };
    let left = term(0, b".");
    let right = term(index + 2, b".}");
    let alpha = |at: usize| group[at..].chars().next().is_some_and(char::is_alphabetic);
    left && right && alpha(0) == alpha(index + 2)
}

/// A number as a sequence bound: its sign, its zero padding, and the written text without it.
struct Bound {
    /// Written width of the leading zeros.
    pad: usize,
    /// Sign and significant digits, e.g. `-5`, `+7`, `12`.
    text: String,
}

/// Parse `[-+]?0*\d+` at the start of `s`; returns the bound and the bytes consumed.
fn parse_bound(s: &str) -> Option<(Bound, usize)> {
    let b = s.as_bytes();
    let mut k = 0;
    let mut text = String::new();
    if matches!(b.first(), Some(b'-' | b'+')) {
        text.push(b[0] as char);
        k = 1;
    }
    let digits_start = k;
    while k < b.len() && b[k].is_ascii_digit() {
        k += 1;
    }
    if k == digits_start {
        return None;
    }
    let digits = &s[digits_start..k];
    let significant = digits.trim_start_matches('0');
    let significant = if significant.is_empty() {
        "0"
    } else {
        significant
    };
    let pad = digits.len() - significant.len();
    // bracex keeps at most 20 significant digits (more can never fit in 64 bits anyway).
    text.push_str(&significant[..significant.len().min(20)]);
    Some((Bound { pad, text }, k))
}

fn bound_value(b: &Bound) -> Option<i64> {
    let v: i128 = b.text.parse().ok()?;
    i64::try_from(v).ok()
}

/// An optional `..step` then the mandatory `}`: the step and bytes consumed. The step's sign
/// is ignored and a step below 1 is 1, as in bracex.
fn parse_step(s: &str) -> Option<(i64, usize)> {
    let (step, consumed) = match s.strip_prefix("..") {
        Some(rest) => {
            let (mut bound, n) = parse_bound(rest)?;
            bound.text = bound.text.trim_start_matches(['-', '+']).to_string();
            (bound_value(&bound)?.max(1), 2 + n)
        }
        None => (1, 0),
    };
    s[consumed..]
        .starts_with('}')
        .then_some((step, consumed + 1))
}

/// `1..5`, `01..10`, `-3..3..2` followed by `}`: the numbers, their count, and the bytes
/// consumed (including the `}`).
fn int_sequence(s: &str) -> Option<(Alts, u128, usize)> {
    let (first, a) = parse_bound(s)?;
    let rest = s[a..].strip_prefix("..")?;
    let (last, b) = parse_bound(rest)?;
    let (step, c) = parse_step(&rest[b..])?;
    let (start, end) = (bound_value(&first)?, bound_value(&last)?);
    // Zero padding applies when a bound is written with leading zeros (and no `+`); then the
    // widest written bound sets the width.
    let armed = |bound: &Bound| bound.pad > 0 && !bound.text.starts_with('+');
    let width = if armed(&first) || armed(&last) {
        (first.pad + first.text.len()).max(last.pad + last.text.len())
    } else {
        0
    };
    let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
    let consumed = a + 2 + b + c;
    let span = if start < end {
        end - start + 1
    } else {
        start - end + 1
    };
    let count = if step <= span {
        (span + step - 1) / step
    } else {
        1
    } as u128;
    if count > MAX_EXPANSIONS as u128 {
        return Some((Vec::new(), count, consumed));
    }
    let mut alts = Vec::new();
    let mut n = start;
    while (start <= end && n <= end) || (start > end && n >= end) {
        alts.push(Some(if width > 0 {
            format!("{n:0width$}")
        } else {
            n.to_string()
        }));
        if start <= end {
            n += step;
        } else {
            n -= step;
        }
    }
    Some((alts, count, consumed))
}

/// `a..e`, `Z..a..2` followed by `}`: the characters (over the ASCII run from `A` to `z`, where
/// the backslash's place yields an empty string), their count, and the bytes consumed.
fn char_sequence(s: &str) -> Option<(Alts, u128, usize)> {
    let b = s.as_bytes();
    if b.len() < 4 || !b[0].is_ascii_alphabetic() || &b[1..3] != b".." {
        return None;
    }
    if !b[3].is_ascii_alphabetic() {
        return None;
    }
    let (step, consumed) = parse_step(&s[4..])?;
    let (start, end) = (i64::from(b[0]), i64::from(b[3]));
    let item = |c: i64| {
        Some(if c == i64::from(b'\\') {
            String::new()
        } else {
            char::from(c as u8).to_string()
        })
    };
    let mut alts = Vec::new();
    let mut n = start;
    while (start <= end && n <= end) || (start > end && n >= end) {
        alts.push(item(n));
        if start <= end {
            n += step;
        } else {
            n -= step;
        }
    }
    let n = alts.len() as u128;
    Some((alts, n, 4 + consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
