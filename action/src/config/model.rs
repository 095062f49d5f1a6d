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
    toml::from_str::<RawConfig>(text).map_err(|e| (e.span(), e.message().trim().to_string()))
}
