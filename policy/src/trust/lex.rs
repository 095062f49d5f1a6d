//! Single-line scanning: string literals, whitespace collapsing and a small tokenizer.
//!
//! The trust rules judge one diff line at a time, so everything here works on one line and
//! answers "can't tell" (`None`) when the line is a fragment of a multi-line construct (an
//! unterminated string or block comment, unbalanced brackets): the rules then decline.

/// What a token is, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Identifier or keyword.
    Word,
    /// Punctuation or operator (`:`, `->`, `(`, ...).
    Op,
    /// A whole string literal, quotes included.
    Str,
    /// A number literal.
    Num,
}

/// One token of a line, with its byte range so rules can look at the gaps between tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// Its role.
    pub kind: Kind,
    /// Its text.
    pub text: &'a str,
    /// Byte offset of its start in the line.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

impl Token<'_> {
    /// Whether this is the operator `op`.
    pub fn is_op(&self, op: &str) -> bool {
        self.kind == Kind::Op && self.text == op
    }
}

/// Index just past the string literal opened at `text[i]`, or `None` when it does not close on
/// this line. Triple quotes (`'''`, `"""`) are one delimiter; a backslash escapes the next
/// character, so `"a\""` closes at the last quote.
pub fn scan_string(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let quote = b[i];
    if (quote == b'"' || quote == b'\'')
        && b.len() >= i + 3
        && b[i + 1] == quote
        && b[i + 2] == quote
    {
        let delim = &text[i..i + 3];
        return text[i + 3..].find(delim).map(|p| i + 3 + p + 3);
    }
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' {
            j += 2;
        } else if b[j] == quote {
            return Some(j + 1);
        } else {
            j += 1;
        }
    }
    None
}

/// Like [`scan_string`], but an unterminated literal runs to the end of the line.
pub fn skip_string(text: &str, i: usize) -> usize {
    scan_string(text, i).unwrap_or(text.len())
}

/// All whitespace runs collapsed to one space, trimmed.
pub fn collapse_ws(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`collapse_ws`] outside string literals only: re-wrapping code moves whitespace between
/// tokens, never inside a literal, so `"a  b"` → `"a b"` must stay a difference.
pub fn collapse_ws_outside_strings(text: &str, quotes: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let mut i = 0;
    while i < text.len() {
        let ch = text[i..].chars().next().expect("i is a char boundary");
        if quotes.contains(ch) {
            let close = skip_string(text, i);
            out.push_str(&text[i..close]);
            i = close;
            pending_space = false;
        } else if ch.is_whitespace() {
            if !out.is_empty() && !pending_space {
                out.push(' ');
                pending_space = true;
            }
            i += ch.len_utf8();
        } else {
            out.push(ch);
            pending_space = false;
            i += ch.len_utf8();
        }
    }
    out.trim_end().to_string()
}

/// The leading whitespace of a line. Indentation is meaningful in Python, so rules that
/// compare normalised lines keep it apart.
pub fn leading_indent(text: &str) -> &str {
    &text[..text.len() - text.trim_start().len()]
}

/// The tokenizer's dialects: which comments it skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `#` line comments; `//` is floor division.
    Python,
    /// `//` line and `/* */` block comments (JavaScript and TypeScript).
    Script,
}

const OPEN: &str = "([{";
const CLOSE: &str = ")]}";

/// Whether `t` is an opening bracket token.
pub fn is_open(t: &Token) -> bool {
    t.kind == Kind::Op && OPEN.contains(t.text)
}

/// Whether `t` is a closing bracket token.
pub fn is_close(t: &Token) -> bool {
    t.kind == Kind::Op && CLOSE.contains(t.text)
}

/// Tokenize one (trimmed) line; `None` when it cannot be judged alone: an unterminated string
/// or block comment, or brackets that do not balance on the line.
pub fn tokenize<'a>(line: &'a str, dialect: Dialect) -> Option<Vec<Token<'a>>> {
    let (comment, block) = match dialect {
        Dialect::Python => ("#", None),
        Dialect::Script => ("//", Some(("/*", "*/"))),
    };
    let mut tokens = Vec::new();
    let mut depth = 0i32;
    let mut i = 0;
    let push = |tokens: &mut Vec<Token<'a>>, kind, start, end| {
        tokens.push(Token {
            kind,
            text: &line[start..end],
            start,
            end,
        });
    };
    while i < line.len() {
        let rest = &line[i..];
        let ch = rest.chars().next().expect("i is a char boundary");
        if ch.is_whitespace() {
            i += ch.len_utf8();
        } else if rest.starts_with(comment) {
            break;
        } else if let Some((open, close)) = block.filter(|(open, _)| rest.starts_with(open)) {
            let end = rest[open.len()..].find(close)?;
            i += open.len() + end + close.len();
        } else if "\"'`".contains(ch) {
            let close = scan_string(line, i)?;
            push(&mut tokens, Kind::Str, i, close);
            i = close;
        } else if ch.is_alphabetic() || ch == '_' {
            let len = word_len(rest, |c| c.is_alphanumeric() || c == '_');
            push(&mut tokens, Kind::Word, i, i + len);
            i += len;
        } else if ch.is_numeric() {
            let len = word_len(rest, |c| c.is_alphanumeric() || c == '.' || c == '_');
            push(&mut tokens, Kind::Num, i, i + len);
            i += len;
        } else if rest.starts_with("->") {
            push(&mut tokens, Kind::Op, i, i + 2);
            i += 2;
        } else {
            if OPEN.contains(ch) {
                depth += 1;
            } else if CLOSE.contains(ch) {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            push(&mut tokens, Kind::Op, i, i + ch.len_utf8());
            i += ch.len_utf8();
        }
    }
    (depth == 0).then_some(tokens)
}

fn word_len(rest: &str, cont: impl Fn(char) -> bool) -> usize {
    let first = rest.chars().next().map_or(0, char::len_utf8);
    first
        + rest[first..]
            .char_indices()
            .find(|&(_, c)| !cont(c))
            .map_or(rest.len() - first, |(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str, d: Dialect) -> Option<Vec<&str>> {
        tokenize(line, d).map(|t| t.iter().map(|t| t.text).collect())
    }

    #[test]
    fn tokenizes_words_strings_numbers_and_arrows() {
        assert_eq!(
            texts("def f(a: int = 1.5) -> 'x':  # note", Dialect::Python).unwrap(),
            [
                "def", "f", "(", "a", ":", "int", "=", "1.5", ")", "->", "'x'", ":"
            ]
        );
        assert_eq!(
            texts("x = a // 2 /* c */ + `t`", Dialect::Script).unwrap(),
            ["x", "=", "a"]
        );
        assert_eq!(texts("x = a // 2", Dialect::Python).unwrap().len(), 6);
    }

    #[test]
    fn fragments_are_not_judged() {
        assert_eq!(texts("f(a,", Dialect::Python), None);
        assert_eq!(texts("'''doc", Dialect::Python), None);
        assert_eq!(texts("a) + (b", Dialect::Script), None);
        assert_eq!(texts("x /* open", Dialect::Script), None);
    }

    #[test]
    fn strings_honour_escapes_and_triple_quotes() {
        assert_eq!(scan_string(r#""a\"b" c"#, 0), Some(6));
        assert_eq!(scan_string("'''don't''' x", 0), Some(11));
        assert_eq!(scan_string("'open", 0), None);
    }

    #[test]
    fn collapses_whitespace_outside_strings_only() {
        assert_eq!(
            collapse_ws_outside_strings("f(  a,\t'x  y' )  ", "\"'"),
            "f( a, 'x  y' )"
        );
        assert_eq!(collapse_ws("  a \t b  "), "a b");
        assert_eq!(leading_indent("    x = 1"), "    ");
    }
}
