//! `CODEREVIEW.toml` exactly as written: every key of the PullApprove 5 format, with the byte span
//! of each value so later checks can point at it. Unknown keys are rejected by serde.
//!
//! Nothing here is interpreted yet: `extends` is unresolved, aliases unexpanded, paths unanchored.
//! [`super::validate`] checks one file on its own; [`super::compile`] resolves the whole set.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

/// A list of strings, each with its span.
pub type SpannedList = Vec<Spanned<String>>;

/// One config file as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Parent configs to merge first, relative to this file's directory (`/` = repo root).
    #[serde(default)]
    pub extends: SpannedList,
    /// A template is only meant to be extended and never governs files by itself.
    #[serde(default)]
    pub template: bool,
    /// Named lists, referenced as `$name` or `!$name`.
    #[serde(default)]
    pub aliases: BTreeMap<Spanned<String>, SpannedList>,
    /// How to review a change too large to review scope by scope.
    #[serde(default)]
    pub large_scale_change: Option<Spanned<RawLargeScaleChange>>,
    /// Review scopes, in order.
    #[serde(default)]
    pub scopes: Vec<Spanned<RawScope>>,
}

/// `[large_scale_change]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLargeScaleChange {
    /// Approvals needed (default 1).
    #[serde(default)]
    pub require: Option<Spanned<i64>>,
    /// Reviewers to request.
    #[serde(default)]
    pub request: Option<Spanned<i64>>,
    /// Who may approve.
    #[serde(default)]
    pub reviewers: SpannedList,
    /// Who may approve but is never requested.
    #[serde(default)]
    pub alternates: SpannedList,
    /// Labels applied to a large-scale change.
    #[serde(default)]
    pub labels: SpannedList,
}

/// One `[[scopes]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScope {
    /// Required, non-empty, no commas, unique case-insensitively within a config.
    pub name: Spanned<String>,
    /// Required globs, relative to the config's directory.
    pub paths: Spanned<SpannedList>,
    /// Regexes (multi-line) for code-owned lines.
    #[serde(default)]
    pub code: SpannedList,
    /// Only PRs by these authors (`!name` excludes).
    #[serde(default)]
    pub authors: SpannedList,
    /// Free text shown with the scope.
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    /// Who may approve (`"*"` = anyone, `@org/team`, `$alias`, `!name` removes).
    #[serde(default)]
    pub reviewers: SpannedList,
    /// Who counts toward approval but is never requested.
    #[serde(default)]
    pub alternates: SpannedList,
    /// Who is notified but never required.
    #[serde(default)]
    pub cc: SpannedList,
    /// Approvals needed.
    #[serde(default)]
    pub require: Option<Spanned<i64>>,
    /// Points the author's own approval gives when listed as a reviewer.
    #[serde(default)]
    pub author_value: Option<Spanned<i64>>,
    /// `producer/check-name` check runs that waive the requirement when all succeeded.
    #[serde(default)]
    pub unless: SpannedList,
    /// `""`, `"append"` or `"global"`.
    #[serde(default)]
    pub ownership: Option<Spanned<String>>,
    /// Reviewers to request.
    #[serde(default)]
    pub request: Option<Spanned<i64>>,
    /// Labels applied to the PR when the scope matches.
    #[serde(default)]
    pub labels: SpannedList,
    /// Posted as a PR comment when the scope matches.
    #[serde(default)]
    pub instructions: Option<Spanned<String>>,
    /// Items reviewers confirm before approving.
    #[serde(default)]
    pub checklist: Option<Spanned<RawChecklist>>,
}

/// `checklist = { items = [...] }` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChecklist {
    /// At least one item.
    pub items: Spanned<Vec<Spanned<RawChecklistItem>>>,
}

/// One checklist item as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChecklistItem {
    /// Non-empty text of the checkbox.
    pub label: Spanned<String>,
    /// Whether it must be checked (default true).
    #[serde(default)]
    pub required: Option<bool>,
    /// `disabled`, `optional` (default), `required`, `required_if_checked`,
    /// `required_if_unchecked`.
    #[serde(default)]
    pub notes: Option<Spanned<String>>,
    /// Help text under the label.
    #[serde(default)]
    pub help: Option<String>,
}

/// Parse one file. The error carries the byte span the TOML parser reported.
pub fn parse(text: &str) -> Result<RawConfig, (Option<std::ops::Range<usize>>, String)> {
    if let Some((at, message)) = toml_1_1_syntax(text) {
        return Err((Some(at..at + 1), message));
    }
    toml::from_str::<RawConfig>(text).map_err(|e| (e.span(), toml_terms(e.message().trim())))
}

/// Say what serde calls a sequence, a map or a Rust struct in the words of TOML, since the
/// reader wrote TOML: `expected struct RawScope` becomes `expected a table`.
fn toml_terms(message: &str) -> String {
    if message.starts_with("invalid length") && message.contains("expected struct") {
        return "invalid type: array, expected a table".to_string();
    }
    let mut out = message.to_string();
    if let Some(i) = out.find("expected struct ") {
        out.replace_range(i.., "expected a table");
    }
    for (from, to) in [
        (" as i128", ""),
        ("expected i64", "expected an integer"),
        ("floating point", "float"),
        ("a sequence", "an array"),
        ("type: sequence", "type: array"),
        ("a map", "a table"),
        ("type: map", "type: table"),
    ] {
        out = out.replace(from, to);
    }
    out
}

/// The name of the `[[scopes]]` entry containing byte `offset`, so that an error the TOML
/// deserializer reports inside a scope (unknown key, wrong type, missing key) can name the scope
/// like every other error. `None` when the file cannot be read that far or the scope has no name.
pub fn scope_at(text: &str, offset: usize) -> Option<String> {
    #[derive(Deserialize)]
    struct Loose {
        #[serde(default)]
        scopes: Vec<Spanned<BTreeMap<String, toml::Value>>>,
    }
    let loose: Loose = toml::from_str(text).ok()?;
    // A `[[scopes]]` table's span is its header, and its keys (dotted ones and sub-tables
    // included) follow it: such a scope extends to the next scope or top-level item.
    let top: BTreeMap<String, Spanned<toml::Value>> = toml::from_str(text).ok()?;
    let mut starts: Vec<usize> = top.values().map(|v| v.span().start).collect();
    starts.extend(loose.scopes.iter().map(|s| s.span().start));
    let scope = loose
        .scopes
        .iter()
        .rev()
        .find(|s| s.span().start <= offset)?;
    let span = scope.span();
    let end = if text[span.start..].starts_with('[') {
        starts.into_iter().filter(|&s| s > span.start).min()
    } else {
        Some(span.end) // an inline table: its span is all of it
    };
    if end.is_some_and(|end| offset >= end) {
        return None;
    }
    let name = scope.get_ref().get("name")?.as_str()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// The first TOML 1.1 construct in `text`, if any: its byte offset and what is wrong.
///
/// PullApprove reads configs with Python's `tomllib`, which implements TOML 1.0; the `toml`
/// crate implements 1.1, which also allows `\e` and `\xHH` escapes, newlines inside inline
/// tables and a trailing comma before `}`. A config PullApprove cannot read must not pass our
/// `check`, so those are errors here.
pub fn toml_1_1_syntax(text: &str) -> Option<(usize, String)> {
    let b = text.as_bytes();
    // Open brackets outside strings: b'{' (inline table) or b'[' (array or table header).
    let mut open: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let multi = b[i..].starts_with(if c == b'"' { b"\"\"\"" } else { b"'''" });
                let delim: &[u8] = if multi { &b[i..i + 3] } else { &b[i..i + 1] };
                i += delim.len();
                while i < b.len() && !b[i..].starts_with(delim) {
                    if c == b'"' && b[i] == b'\\' {
                        match b.get(i + 1) {
                            Some(b'e') | Some(b'x') => {
                                return Some((
                                    i,
                                    format!(
                                        "invalid escape sequence '\\{}' (TOML 1.0, which PullApprove reads, has no such escape)",
                                        b[i + 1] as char
                                    ),
                                ));
                            }
                            _ => i += 2,
                        }
                        continue;
                    }
                    if !multi && b[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
                i += delim.len();
                continue;
            }
            b'{' | b'[' => open.push(c),
            b'}' | b']' => {
                open.pop();
            }
            b'\n' if open.last() == Some(&b'{') => {
                return Some((
                    i,
                    "newline inside an inline table (TOML 1.0, which PullApprove reads, keeps inline tables on one line)".to_string(),
                ));
            }
            b',' if open.last() == Some(&b'{') => {
                let next = b[i + 1..].iter().find(|c| !matches!(c, b' ' | b'\t'));
                if next == Some(&b'}') {
                    return Some((
                        i,
                        "trailing comma in an inline table (TOML 1.0, which PullApprove reads, does not allow it)".to_string(),
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}
