//! `code` regexes are written in Python's `re` dialect, because PullApprove compiles them with
//! Python. We run them with `fancy_regex`, whose syntax mostly agrees; this module rewrites the
//! places where the two disagree so a pattern means (and is accepted or rejected) the same:
//!
//! - escapes Python rejects (`\p{L}`, `\e`, `\z`, `\K`, `\x{41}`, ...) are errors;
//! - `\Z` is the very end of the text (Rust's `\z`; fancy_regex's `\Z` also matches before a
//!   final newline), `\<` and `\>` are literal characters (word boundaries in Rust), `\s` also
//!   covers `\x1c`-`\x1f` as Python's does, `(?a)` makes `\w`, `\d`, `\s`, `\b` ASCII-only;
//! - a character class is read as Python reads it (`[[:alpha:]]` is the characters `[:alph` then
//!   a literal `]`; `&&`, `--` and `~~` are plain characters; whitespace in `(?x)` stays) and
//!   re-written with explicit escapes;
//! - `{,n}` is `{0,n}`; a brace that is not a quantifier is a literal `{`;
//! - what Python refuses is refused: `(?<name>...)`, unknown inline flags, global flags after
//!   the start, repeating nothing or an anchor (`^*`, `\b+`), a repeated repeat (`a**`),
//!   references to open or unknown groups.
//!
//! Errors use Python's wording, e.g. `bad escape \p at position 0`. Not supported (rejected,
//! where Python accepts them): `\N{NAME}` escapes; `(?a)` inside a group and its effect on
//! case-insensitive matching.

use std::collections::HashMap;
use std::fmt::Write as _;

/// `\w` with the ASCII flag.
const ASCII_WORD: &str = "0-9A-Za-z_";
/// `\s` with the ASCII flag.
const ASCII_SPACE: &str = "\\t\\n\\x0b\\x0c\\r ";

/// Rewrite a Python regex into an equivalent `fancy_regex` one, or explain (as Python would)
/// why Python rejects it.
pub fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let leading = leading_flags(&chars);
    let mut t = Translator {
        chars: &chars,
        out: String::with_capacity(pattern.len() + 8),
        verbose: leading.contains('x'),
        ascii: leading.contains('a'),
        last: Last::Nothing,
        started: false,
        groups: 0,
        open: Vec::new(),
        closed_lookaround: None,
        drop_modifier: false,
        names: HashMap::new(),
    };
    t.run()?;
    Ok(t.out)
}

/// What the last thing written was, for Python's rules on what may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Nothing yet in this branch (start, after `(` or `|`).
    Nothing,
    /// An anchor (`^`, `$`, `\A`, `\Z`, `\b`, `\B`): "nothing to repeat".
    Anchor,
    /// Something repeatable.
    Atom,
    /// A quantifier; `modified` once a lazy `?` or possessive `+` followed it.
    Quantifier { modified: bool },
}

/// An open group.
struct Group {
    /// Its number when capturing.
    number: Option<usize>,
    /// Whether it is a lookahead or lookbehind.
    lookaround: bool,
    /// Where it starts in the output.
    at: usize,
}

struct Translator<'a> {
    chars: &'a [char],
    out: String,
    /// `(?x)`: whitespace and `#` comments are ignored outside classes.
    verbose: bool,
    /// `(?a)`: `\w`, `\d`, `\s`, `\b` are ASCII-only.
    ascii: bool,
    last: Last,
    /// Whether anything but global flags and comments was written: Python allows global flags
    /// only before everything else.
    started: bool,
    /// Capturing groups opened so far.
    groups: usize,
    /// Groups currently open.
    open: Vec<Group>,
    /// Where in `out` the lookaround that was just closed starts (Python may repeat it,
    /// fancy_regex may not).
    closed_lookaround: Option<usize>,
    /// The quantifier just read was dropped (see [`Translator::repeat`]): so is its `?`/`+`.
    drop_modifier: bool,
    /// Named groups: name to number.
    names: HashMap<String, usize>,
}

impl Translator<'_> {
    fn run(&mut self) -> Result<(), String> {
        let chars = self.chars;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let mut kind = Last::Atom;
            match c {
                '\\' => {
                    if matches!(chars.get(i + 1), Some('A' | 'Z' | 'b' | 'B')) {
                        kind = Last::Anchor;
                    }
                    i = self.escape(i)?;
                }
                '[' => i = self.class(i)?,
                '(' if chars.get(i + 1) == Some(&'?') => match self.extension(i)? {
                    (next, Some(k)) => {
                        i = next;
                        kind = k;
                    }
                    (next, None) => {
                        i = next;
                        continue;
                    }
                },
                '(' => {
                    self.groups += 1;
                    self.open_group(Some(self.groups), false);
                    self.out.push('(');
                    i += 1;
                    kind = Last::Nothing;
                }
                ')' => {
                    let Some(group) = self.open.pop() else {
                        return Err(format!("unbalanced parenthesis at position {i}"));
                    };
                    self.out.push(')');
                    self.closed_lookaround = group.lookaround.then_some(group.at);
                    i += 1;
                    self.last = Last::Atom;
                    self.started = true;
                    continue;
                }
                '|' => {
                    self.out.push('|');
                    i += 1;
                    kind = Last::Nothing;
                }
                '^' | '$' => {
                    self.out.push(c);
                    i += 1;
                    kind = Last::Anchor;
                }
                '*' | '+' | '?' => {
                    self.quantifier(c, i)?;
                    i += 1;
                    continue;
                }
                '{' => match brace_quantifier(chars, i)? {
                    Some((text, min, next)) => {
                        if self.repeat(i, min)? {
                            self.out.push_str(&text);
                        }
                        self.last = Last::Quantifier { modified: false };
                        i = next;
                        continue;
                    }
                    None => {
                        push_char('{', &mut self.out);
                        i += 1;
                    }
                },
                '#' if self.verbose => {
                    while i < chars.len() && chars[i] != '\n' {
                        i += 1;
                    }
                    continue;
                }
                c if self.verbose && c.is_whitespace() => {
                    i += 1;
                    continue;
                }
                // Python reads a `]` or `}` outside a class or quantifier as a plain character.
                ']' | '}' => {
                    push_char(c, &mut self.out);
                    i += 1;
                }
                _ => {
                    self.out.push(c);
                    i += 1;
                }
            }
            self.last = kind;
            self.started = true;
            self.closed_lookaround = None;
        }
        if !self.open.is_empty() {
            return Err(format!(
                "missing ), unterminated subpattern at position {}",
                chars.len()
            ));
        }
        Ok(())
    }

    /// Record a group opening at the current end of the output.
    fn open_group(&mut self, number: Option<usize>, lookaround: bool) {
        self.open.push(Group {
            number,
            lookaround,
            at: self.out.len(),
        });
    }

    /// Check that what was written last may be repeated by a quantifier at `i` with minimum
    /// `min`; returns whether to write the quantifier.
    ///
    /// Python may repeat a lookaround, fancy_regex may not. A repeated assertion with minimum 0
    /// always succeeds (it is dropped), with minimum 1 or more it is the assertion itself (the
    /// quantifier is dropped).
    fn repeat(&mut self, i: usize, min: u64) -> Result<bool, String> {
        self.started = true;
        self.drop_modifier = false;
        match self.last {
            Last::Nothing | Last::Anchor => Err(format!("nothing to repeat at position {i}")),
            Last::Quantifier { .. } => Err(format!("multiple repeat at position {i}")),
            Last::Atom => match self.closed_lookaround.take() {
                Some(at) => {
                    if min == 0 {
                        self.out.truncate(at);
                    }
                    self.drop_modifier = true;
                    Ok(false)
                }
                None => Ok(true),
            },
        }
    }

    /// A `*`, `+` or `?` at `i`: a quantifier, or the lazy/possessive mark of one.
    fn quantifier(&mut self, c: char, i: usize) -> Result<(), String> {
        if self.last == (Last::Quantifier { modified: false }) && c != '*' {
            if !self.drop_modifier {
                self.out.push(c);
            }
            self.last = Last::Quantifier { modified: true };
            return Ok(());
        }
        if self.repeat(i, u64::from(c == '+'))? {
            self.out.push(c);
        }
        self.last = Last::Quantifier { modified: false };
        Ok(())
    }

    /// One escape outside a class, at the `\` at `i`; returns the index after it.
    fn escape(&mut self, i: usize) -> Result<usize, String> {
        let chars = self.chars;
        let Some(&e) = chars.get(i + 1) else {
            return Err(format!("bad escape (end of pattern) at position {i}"));
        };
        let out = &mut self.out;
        match e {
            'Z' => out.push_str("\\z"),
            'b' | 'B' if self.ascii => {
                // ASCII word boundaries, as lookarounds.
                let word = format!("[{ASCII_WORD}]");
                let _ = if e == 'b' {
                    write!(out, "(?:(?<={word})(?!{word})|(?<!{word})(?={word}))")
                } else {
                    write!(out, "(?:(?<={word})(?={word})|(?<!{word})(?!{word}))")
                };
            }
            'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
                let (set, negated) = category(e, self.ascii);
                let _ = write!(out, "[{}{set}]", if negated { "^" } else { "" });
            }
            'A' | 'b' | 'B' | 'a' | 'f' | 'n' | 'r' | 't' | 'v' => {
                out.push('\\');
                out.push(e);
            }
            'x' | 'u' | 'U' => {
                let (value, next) = hex_escape(chars, i, e)?;
                push_char(value, out);
                return Ok(next);
            }
            '0'..='9' => return self.numeric_escape(i),
            c if c.is_ascii_alphabetic() => {
                return Err(format!("bad escape \\{c} at position {i}"));
            }
            c => push_char(c, out),
        }
        Ok(i + 2)
    }

    /// `\0`, `\012` (octal characters) or `\1`..`\99` (group references), at the `\` at `i`.
    fn numeric_escape(&mut self, i: usize) -> Result<usize, String> {
        let chars = self.chars;
        let is_octal = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
        let first = chars[i + 1];
        if first == '0' {
            // Up to two more octal digits.
            let mut value = 0u32;
            let mut k = i + 2;
            while k < i + 4 && is_octal(chars.get(k)) {
                value = value * 8 + chars[k].to_digit(8).expect("octal digit");
                k += 1;
            }
            push_char(char::from_u32(value).unwrap_or('\0'), &mut self.out);
            return Ok(k);
        }
        if is_octal(Some(&first)) && is_octal(chars.get(i + 2)) && is_octal(chars.get(i + 3)) {
            let value: String = chars[i + 1..i + 4].iter().collect();
            let value = u32::from_str_radix(&value, 8).expect("octal digits");
            let c = char::from_u32(value)
                .ok_or_else(|| format!("octal escape value out of range at position {i}"))?;
            push_char(c, &mut self.out);
            return Ok(i + 4);
        }
        // A group reference: one or two digits.
        let mut k = i + 1;
        let mut number = 0usize;
        while k < i + 3 && chars.get(k).is_some_and(char::is_ascii_digit) {
            number = number * 10 + chars[k].to_digit(10).expect("digit") as usize;
            k += 1;
        }
        self.check_reference(number, &number.to_string(), i)?;
        let _ = write!(self.out, "\\{number}");
        Ok(k)
    }

    /// Python refuses a reference to a group not yet opened, or still open.
    fn check_reference(&self, number: usize, shown: &str, i: usize) -> Result<(), String> {
        if number == 0 || number > self.groups {
            return Err(format!(
                "invalid group reference {shown} at position {}",
                i + 1
            ));
        }
        if self.open.iter().any(|g| g.number == Some(number)) {
            return Err(format!("cannot refer to an open group at position {i}"));
        }
        Ok(())
    }

    /// A `[...]` class at `open`, re-written with explicit escapes; returns the index after `]`.
    fn class(&mut self, open: usize) -> Result<usize, String> {
        let chars = self.chars;
        let unterminated = || format!("unterminated character set at position {open}");
        let mut i = open + 1;
        let negated = chars.get(i) == Some(&'^');
        if negated {
            i += 1;
        }
        let mut body = String::new();
        let mut first = true;
        loop {
            let Some(&c) = chars.get(i) else {
                return Err(unterminated());
            };
            if c == ']' && !first {
                i += 1;
                break;
            }
            first = false;
            let start = i;
            let (lo, next) = self.class_item(i)?;
            i = next;
            // A range: `lo-hi`, unless the `-` is last.
            if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
                let (hi, next) = self.class_item(i + 1)?;
                let text: String = chars[start..next].iter().collect();
                let bad = || format!("bad character range {text} at position {start}");
                let (Item::Char(lo), Item::Char(hi)) = (&lo, &hi) else {
                    return Err(bad());
                };
                if lo > hi {
                    return Err(bad());
                }
                let _ = write!(body, "\\x{{{:x}}}-\\x{{{:x}}}", *lo as u32, *hi as u32);
                i = next;
                continue;
            }
            match lo {
                Item::Char(c) => {
                    let _ = write!(body, "\\x{{{:x}}}", c as u32);
                }
                Item::Set(set, false) => body.push_str(set),
                Item::Set(set, true) => {
                    let _ = write!(body, "[^{set}]");
                }
            }
        }
        self.out.push('[');
        if negated {
            self.out.push('^');
        }
        self.out.push_str(&body);
        self.out.push(']');
        Ok(i)
    }

    /// One class item at `i` (a character or an escape); returns it and the index after it.
    fn class_item(&self, i: usize) -> Result<(Item, usize), String> {
        let chars = self.chars;
        let c = chars[i];
        if c != '\\' {
            return Ok((Item::Char(c), i + 1));
        }
        let Some(&e) = chars.get(i + 1) else {
            return Err(format!("unterminated character set at position {i}"));
        };
        let item = match e {
            'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
                let (set, negated) = category(e, self.ascii);
                Item::Set(set, negated)
            }
            'a' => Item::Char('\x07'),
            'b' => Item::Char('\x08'),
            'f' => Item::Char('\x0c'),
            'n' => Item::Char('\n'),
            'r' => Item::Char('\r'),
            't' => Item::Char('\t'),
            'v' => Item::Char('\x0b'),
            'x' | 'u' | 'U' => {
                let (c, next) = hex_escape(chars, i, e)?;
                return Ok((Item::Char(c), next));
            }
            '0'..='7' => {
                // Octal: up to three digits.
                let mut value = 0u32;
                let mut k = i + 1;
                while k < i + 4 && chars.get(k).is_some_and(|c| ('0'..='7').contains(c)) {
                    value = value * 8 + chars[k].to_digit(8).expect("octal digit");
                    k += 1;
                }
                let c = char::from_u32(value)
                    .ok_or_else(|| format!("octal escape value out of range at position {i}"))?;
                return Ok((Item::Char(c), k));
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(format!("bad escape \\{c} at position {i}"));
            }
            c => Item::Char(c),
        };
        Ok((item, i + 2))
    }

    /// A `(?...` construct at `i`: the index after what was consumed, and what to record as
    /// written last (`None` for a comment or global flags, which write nothing).
    fn extension(&mut self, i: usize) -> Result<(usize, Option<Last>), String> {
        let chars = self.chars;
        let rest: String = chars[i + 2..].iter().take(2).collect();
        let unknown = |what: &str| Err(format!("unknown extension ?{what} at position {}", i + 1));
        match chars.get(i + 2) {
            Some(&c @ (':' | '=' | '!' | '>')) => {
                self.open_group(None, c != ':' && c != '>');
                let _ = write!(self.out, "(?{c}");
                Ok((i + 3, Some(Last::Nothing)))
            }
            Some('(') => {
                // A conditional `(?(1)yes|no)`: copy the condition as it is.
                let end = (i + 3..chars.len())
                    .find(|&k| chars[k] == ')')
                    .ok_or_else(|| format!("missing ), unterminated name at position {}", i + 3))?;
                self.open_group(None, false);
                self.out.push_str("(?");
                self.out.extend(&chars[i + 2..=end]);
                Ok((end + 1, Some(Last::Nothing)))
            }
            Some('#') => {
                let end = (i + 3..chars.len())
                    .find(|&k| chars[k] == ')')
                    .ok_or_else(|| format!("missing ), unterminated comment at position {i}"))?;
                Ok((end + 1, None))
            }
            Some('<') => match chars.get(i + 3) {
                Some(&c @ ('=' | '!')) => {
                    self.open_group(None, true);
                    let _ = write!(self.out, "(?<{c}");
                    Ok((i + 4, Some(Last::Nothing)))
                }
                _ => unknown(&rest),
            },
            Some('P') => match chars.get(i + 3) {
                Some('<') => {
                    let (name, end) = group_name(chars, i + 4, '>')?;
                    if self.names.contains_key(&name) {
                        return Err(format!(
                            "redefinition of group name '{name}' at position {}",
                            i + 4
                        ));
                    }
                    self.groups += 1;
                    self.names.insert(name.clone(), self.groups);
                    self.open_group(Some(self.groups), false);
                    let _ = write!(self.out, "(?P<{name}>");
                    Ok((end + 1, Some(Last::Nothing)))
                }
                Some('=') => {
                    let (name, end) = group_name(chars, i + 4, ')')?;
                    let number = *self.names.get(&name).ok_or_else(|| {
                        format!("unknown group name '{name}' at position {}", i + 4)
                    })?;
                    self.check_reference(number, &name, i)?;
                    let _ = write!(self.out, "(?P={name})");
                    Ok((end + 1, Some(Last::Atom)))
                }
                _ => unknown(&rest),
            },
            Some(c) if c.is_ascii_alphabetic() || *c == '-' => self.flags(i),
            _ => unknown(&rest[..rest.chars().next().map_or(0, char::len_utf8)]),
        }
    }

    /// Inline flags `(?imsx)` or `(?i-m:...)` at `i`.
    fn flags(&mut self, i: usize) -> Result<(usize, Option<Last>), String> {
        let chars = self.chars;
        let mut k = i + 2;
        let mut kept = String::new();
        let mut removing = false;
        while let Some(&c) = chars.get(k) {
            match c {
                'i' | 'm' | 's' | 'x' => kept.push(c),
                'a' | 'u' if !removing => {}
                'L' if !removing => {
                    return Err(format!(
                        "bad inline flag: cannot use 'L' flag with a str pattern at position {k}"
                    ));
                }
                '-' if !removing => {
                    removing = true;
                    kept.push('-');
                }
                ':' | ')' => break,
                c if c.is_ascii_alphabetic() => {
                    return Err(format!("unknown flag at position {k}"));
                }
                _ => return Err(format!("missing -, : or ) at position {k}")),
            }
            k += 1;
        }
        match chars.get(k) {
            Some(')') => {
                if self.started || removing {
                    return Err(format!(
                        "global flags not at the start of the expression at position {i}"
                    ));
                }
                if !kept.is_empty() {
                    let _ = write!(self.out, "(?{kept})");
                }
                Ok((k + 1, None))
            }
            Some(':') => {
                self.open_group(None, false);
                if kept.is_empty() || kept == "-" {
                    self.out.push_str("(?:");
                } else {
                    let _ = write!(self.out, "(?{kept}:");
                }
                Ok((k + 1, Some(Last::Nothing)))
            }
            _ => Err(format!("missing -, : or ) at position {k}")),
        }
    }
}

/// The class body for `\d`, `\w`, `\s` (and their negations): (body, negated).
fn category(e: char, ascii: bool) -> (&'static str, bool) {
    let negated = e.is_ascii_uppercase();
    let set = match (e.to_ascii_lowercase(), ascii) {
        ('d', false) => "\\d",
        ('d', true) => "0-9",
        ('w', false) => "\\w",
        ('w', true) => ASCII_WORD,
        (_, false) => "\\s\\x{1c}-\\x{1f}",
        (_, true) => ASCII_SPACE,
    };
    (set, negated)
}

/// One item of a class as Python reads it.
enum Item {
    /// A character.
    Char(char),
    /// `\d`, `\w`, `\s` (the class body), negated for `\D`, `\W`, `\S`.
    Set(&'static str, bool),
}

/// A group name from `start` up to `end`: the name and the index of `end`.
fn group_name(chars: &[char], start: usize, end: char) -> Result<(String, usize), String> {
    let close = (start..chars.len())
        .find(|&k| chars[k] == end)
        .ok_or_else(|| format!("missing {end}, unterminated name at position {start}"))?;
    let name: String = chars[start..close].iter().collect();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "bad character in group name '{name}' at position {start}"
        ));
    }
    Ok((name, close))
}

/// `{m}`, `{m,}`, `{,n}`, `{m,n}` or `{,}` at `i`, as a Rust quantifier (Python's `{,n}` is
/// `{0,n}`), its minimum and the index after it; `None` when the brace is a literal character.
fn brace_quantifier(chars: &[char], i: usize) -> Result<Option<(String, u64, usize)>, String> {
    let mut k = i + 1;
    let digits = |k: &mut usize| {
        let start = *k;
        while chars.get(*k).is_some_and(char::is_ascii_digit) {
            *k += 1;
        }
        chars[start..*k].iter().collect::<String>()
    };
    if chars.get(k) == Some(&'}') {
        return Ok(None);
    }
    let lo = digits(&mut k);
    let hi = if chars.get(k) == Some(&',') {
        k += 1;
        Some(digits(&mut k))
    } else {
        None
    };
    if chars.get(k) != Some(&'}') {
        return Ok(None);
    }
    let number = |s: &str| -> Result<u64, String> {
        s.parse::<u64>()
            .ok()
            .filter(|n| *n < u64::from(u32::MAX))
            .ok_or_else(|| format!("the repetition number is too large at position {i}"))
    };
    let min = if lo.is_empty() { 0 } else { number(&lo)? };
    let text = match &hi {
        None => format!("{{{min}}}"),
        Some(h) if h.is_empty() => format!("{{{min},}}"),
        Some(h) => {
            let max = number(h)?;
            if max < min {
                return Err(format!(
                    "min repeat greater than max repeat at position {i}"
                ));
            }
            format!("{{{min},{max}}}")
        }
    };
    Ok(Some((text, min, k + 1)))
}

/// The flags of a `(?flags)` group at the very start of the pattern, if any.
fn leading_flags(chars: &[char]) -> String {
    if chars.first() != Some(&'(') || chars.get(1) != Some(&'?') {
        return String::new();
    }
    chars[2..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect()
}

/// `\xhh`, `\uhhhh`, `\Uhhhhhhhh` at `i`: the character and the index after it.
fn hex_escape(chars: &[char], i: usize, kind: char) -> Result<(char, usize), String> {
    let digits = match kind {
        'x' => 2,
        'u' => 4,
        _ => 8,
    };
    let hex: String = chars[i + 2..].iter().take(digits).collect();
    if hex.chars().count() != digits || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("incomplete escape \\{kind}{hex} at position {i}"));
    }
    let value = u32::from_str_radix(&hex, 16).expect("checked hex digits");
    let c =
        char::from_u32(value).ok_or_else(|| format!("bad escape \\{kind}{hex} at position {i}"))?;
    Ok((c, i + 2 + digits))
}

/// A character as a regex literal (escaped unless alphanumeric, so that it stays literal in
/// `(?x)` mode too).
fn push_char(c: char, out: &mut String) {
    if c.is_alphanumeric() || c == '_' {
        out.push(c);
    } else {
        let _ = write!(out, "\\x{{{:x}}}", c as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn rewrites_what_means_something_else_in_rust() {
        assert_eq!(translate(r"a\Z").unwrap(), r"a\z");
        assert_eq!(translate(r"\<a\>").unwrap(), r"\x{3c}a\x{3e}");
        assert_eq!(translate("[[:a]]").unwrap(), r"[\x{5b}\x{3a}\x{61}]\x{5d}");
        assert_eq!(translate("(?#note)a").unwrap(), "a");
        assert_eq!(translate("(?x) a b # c").unwrap(), "(?x)ab");
        assert_eq!(translate("a{,2}").unwrap(), "a{0,2}");
        assert_eq!(translate("a{x}").unwrap(), r"a\x{7b}x\x{7d}");
    }

    #[test]
    fn rejects_what_python_rejects() {
        for bad in [
            r"\p{L}", r"\e", r"\z", r"(?<n>x)", "a(?i)b", "(?U)a", r"\x{41}", "[b-a]", "{1,3}",
            "^*", r"\b+", "a**", r"(a\1)", r"\1(a)", "(a", "a)",
        ] {
            assert!(translate(bad).is_err(), "{bad}");
        }
        for good in [
            r"(?P<n>x)(?P=n)",
            r"(?<=a)b",
            r"(?i)x",
            r"(?i:x)y",
            r"\d+\.\d+",
            r"[\]a-]",
            "a*?b+?c??d{2}?e*+",
            r"(a)\1",
            "(?#c)(?i)a",
        ] {
            assert!(translate(good).is_ok(), "{good}");
        }
    }
}
