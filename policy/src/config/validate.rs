//! Checks one config file on its own, before anything is merged or expanded.
//!
//! These are the rules that need nothing but the file: scope names, required keys, the shape of
//! team references and `unless` checks, regexes, globs, ownership values and checklists. Rules
//! that depend on aliases or parents run in [`super::compile`].

use super::error::ConfigError;
use super::model::{RawConfig, RawScope, SpannedList};
use serde_spanned::Spanned;
use std::collections::HashSet;

/// Every config file name starts with this.
pub const CONFIG_PREFIX: &str = "CODEREVIEW";

/// Whether a file name (no directory) is a config file: `CODEREVIEW*.toml`.
pub fn is_config_filename(name: &str) -> bool {
    name.starts_with(CONFIG_PREFIX) && name.ends_with(".toml")
}

/// The `notes` values a checklist item accepts.
pub const CHECKLIST_NOTES: &[&str] = &[
    "disabled",
    "optional",
    "required",
    "required_if_checked",
    "required_if_unchecked",
];

/// Collects errors for one file.
pub(crate) struct Reporter<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub errors: Vec<ConfigError>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Reporter {
            file,
            text,
            errors: Vec::new(),
        }
    }

    pub fn error<T>(&mut self, at: &Spanned<T>, scope: Option<&str>, message: impl Into<String>) {
        self.errors.push(ConfigError::at(
            self.file,
            self.text,
            Some(at.span()),
            scope,
            message,
        ));
    }
}

/// Validate one parsed file; returns every problem found.
pub fn validate_file(file: &str, text: &str, config: &RawConfig) -> Vec<ConfigError> {
    let mut r = Reporter::new(file, text);

    for ext in &config.extends {
        let base = ext.get_ref().rsplit('/').next().unwrap_or_default();
        if !base.starts_with(CONFIG_PREFIX) {
            r.error(
                ext,
                None,
                format!(
                    "Invalid extends path: {}. It should start with '{CONFIG_PREFIX}'.",
                    ext.get_ref()
                ),
            );
        }
    }

    let mut seen_names = HashSet::new();
    for scope in &config.scopes {
        let name = scope.get_ref().name.get_ref();
        validate_scope(&mut r, scope.get_ref());
        if !name.is_empty() && !seen_names.insert(name.to_lowercase()) {
            r.error(
                &scope.get_ref().name,
                Some(name),
                format!("Duplicate scope name: {name}"),
            );
        }
    }

    if let Some(lsc) = &config.large_scale_change {
        let lsc = lsc.get_ref();
        check_team_refs(&mut r, None, &lsc.reviewers);
        check_team_refs(&mut r, None, &lsc.alternates);
        for (field, value) in [("require", &lsc.require), ("request", &lsc.request)] {
            if let Some(v) = value
                && *v.get_ref() < 0
            {
                r.error(
                    v,
                    None,
                    format!("large_scale_change: {field} cannot be negative"),
                );
            }
        }
    }

    r.errors
}

fn validate_scope(r: &mut Reporter<'_>, scope: &RawScope) {
    let name = scope.name.get_ref().as_str();
    let label = Some(name);
    if name.is_empty() {
        r.error(&scope.name, None, "Scope name must not be empty");
    } else if name.contains(',') {
        r.error(&scope.name, label, "Scope name cannot contain commas");
    }
    if scope.paths.get_ref().is_empty() {
        r.error(&scope.paths, label, "paths needs at least one pattern");
    }
    let paths = scope.paths.get_ref();
    if let Err((k, e)) = crate::glob::check_patterns(paths.iter().map(|p| p.get_ref().as_str())) {
        r.error(&paths[k], label, e.0);
    }
    for field in [
        &scope.authors,
        &scope.reviewers,
        &scope.alternates,
        &scope.cc,
    ] {
        check_team_refs(r, label, field);
    }
    for check in &scope.unless {
        if let Err(message) = parse_check_ref(check.get_ref()) {
            r.error(check, label, message);
        }
    }
    for pattern in &scope.code {
        if let Err(message) = check_code_regex(pattern.get_ref()) {
            r.error(pattern, label, message);
        }
    }
    if let Some(ownership) = &scope.ownership
        && !matches!(ownership.get_ref().as_str(), "" | "append" | "global")
    {
        r.error(
            ownership,
            label,
            format!(
                "ownership must be \"\", \"append\" or \"global\", not \"{}\"",
                ownership.get_ref()
            ),
        );
    }
    for (field, value) in [
        ("require", &scope.require),
        ("request", &scope.request),
        ("author_value", &scope.author_value),
    ] {
        if let Some(v) = value
            && *v.get_ref() < 0
        {
            r.error(v, label, format!("{field} cannot be negative"));
        }
    }
    let require = scope.require.as_ref().map_or(0, |v| *v.get_ref());
    if let Some(o) = &scope.ownership
        && o.get_ref() == "global"
        && require < 1
    {
        r.error(
            o,
            label,
            "global scopes need require >= 1 (0 would pass every file it matches)",
        );
    }
    if require > 0 {
        let reviewers: Vec<String> = values(&scope.reviewers);
        let alternates: Vec<String> = values(&scope.alternates);
        if let Some(reason) =
            super::compiled::roster_shortfall(&reviewers, &alternates, require as u32)
        {
            let at = scope
                .require
                .as_ref()
                .expect("require > 0 was read from it");
            r.error(at, label, reason);
        }
    }
    if let Some(checklist) = &scope.checklist {
        let items = &checklist.get_ref().items;
        if items.get_ref().is_empty() {
            r.error(items, label, "checklist needs at least one item");
        }
        for item in items.get_ref() {
            let item = item.get_ref();
            if item.label.get_ref().trim().is_empty() {
                r.error(&item.label, label, "checklist item label must not be empty");
            }
            if let Some(notes) = &item.notes
                && !CHECKLIST_NOTES.contains(&notes.get_ref().as_str())
            {
                r.error(
                    notes,
                    label,
                    format!(
                        "checklist notes must be one of {}, not \"{}\"",
                        CHECKLIST_NOTES.join(", "),
                        notes.get_ref()
                    ),
                );
            }
        }
    }
}

/// The plain strings of a spanned list.
pub(crate) fn values(list: &SpannedList) -> Vec<String> {
    list.iter().map(|v| v.get_ref().clone()).collect()
}

/// `@org/team` / `!@org/team` must have at least two segments; any other `@` is an email.
fn check_team_refs(r: &mut Reporter<'_>, scope: Option<&str>, list: &SpannedList) {
    for value in list {
        if let Err(message) = check_user_value(value.get_ref()) {
            r.error(value, scope, message);
        }
    }
}

/// Validate one user-list value's shape.
pub fn check_user_value(value: &str) -> Result<(), String> {
    let team = value.strip_prefix("!@").or_else(|| value.strip_prefix('@'));
    match team {
        Some(reference) => {
            if is_team_ref(reference) {
                Ok(())
            } else {
                Err(format!(
                    "Invalid team reference '{value}': team references need the 'org/team' form"
                ))
            }
        }
        None if value.contains('@') => Err(format!(
            "Invalid value '{value}': email addresses are not supported here — use the platform username"
        )),
        None => Ok(()),
    }
}

/// `org/team` (or `group/subgroup/...`): segments of `[A-Za-z0-9][A-Za-z0-9._-]*`.
fn is_team_ref(reference: &str) -> bool {
    let segments: Vec<&str> = reference.split('/').collect();
    segments.len() >= 2
        && segments.iter().all(|s| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// Split an `unless` entry into (producer lowercased, check name), or explain what is wrong.
pub fn parse_check_ref(value: &str) -> Result<(String, String), String> {
    let (producer, name) = value.split_once('/').unwrap_or((value, ""));
    let (producer, name) = (producer.trim().to_lowercase(), name.trim().to_string());
    if !value.contains('/') || producer.is_empty() || name.is_empty() {
        return Err(format!(
            "unless: '{value}' must be 'producer/check-name' -- the App slug that produces the check, then the check's name"
        ));
    }
    if producer == "pullapprove" {
        return Err(format!(
            "unless: '{value}' references PullApprove itself -- PullApprove never creates checks, it only reads them"
        ));
    }
    Ok((producer, name))
}

/// A `code` regex must compile (Python-compatible syntax, multi-line) and have no nested
/// quantifiers such as `(a+)+`, which backtrack catastrophically.
pub fn check_code_regex(pattern: &str) -> Result<(), String> {
    let translated = super::pyregex::translate(pattern)
        .map_err(|e| format!("Invalid regex pattern '{pattern}': {e}"))?;
    let tree = fancy_regex::Expr::parse_tree(&translated)
        .map_err(|e| format!("Invalid regex pattern '{pattern}': {e}"))?;
    if has_nested_quantifiers(&tree.expr) {
        return Err(format!(
            "Regex pattern '{pattern}' contains nested quantifiers, which can cause catastrophic backtracking."
        ));
    }
    if has_variable_lookbehind(&tree.expr) {
        // Python cannot compile it, so PullApprove fails on it when matching.
        return Err(format!(
            "Invalid regex pattern '{pattern}': look-behind requires fixed-width pattern"
        ));
    }
    compile_code_regex(pattern).map(|_| ())
}

/// Whether a look-behind holds a pattern whose width is not fixed (Python refuses it).
fn has_variable_lookbehind(expr: &fancy_regex::Expr) -> bool {
    use fancy_regex::{Expr, LookAround};
    match expr {
        Expr::LookAround(child, LookAround::LookBehind | LookAround::LookBehindNeg) => {
            fixed_width(child).is_none() || has_variable_lookbehind(child)
        }
        Expr::LookAround(child, _) | Expr::AtomicGroup(child) => has_variable_lookbehind(child),
        Expr::Group(child) => has_variable_lookbehind(child),
        Expr::Repeat { child, .. } => has_variable_lookbehind(child),
        Expr::Concat(children) | Expr::Alt(children) => {
            children.iter().any(has_variable_lookbehind)
        }
        _ => false,
    }
}

/// The width in characters every match of `expr` has, or `None` when it varies (Python's
/// `getwidth` with `lo == hi`).
fn fixed_width(expr: &fancy_regex::Expr) -> Option<usize> {
    use fancy_regex::Expr;
    match expr {
        Expr::Empty
        | Expr::Assertion(_)
        | Expr::LookAround(..)
        | Expr::KeepOut
        | Expr::ContinueFromPreviousMatchEnd
        | Expr::BackrefExistsCondition { .. } => Some(0),
        Expr::Any { .. } | Expr::Delegate { .. } => Some(1),
        Expr::Literal { val, .. } => Some(val.chars().count()),
        Expr::Concat(children) => children.iter().map(fixed_width).sum(),
        Expr::Alt(children) => {
            let widths: Option<Vec<usize>> = children.iter().map(fixed_width).collect();
            let widths = widths?;
            widths
                .windows(2)
                .all(|w| w[0] == w[1])
                .then(|| widths.first().copied().unwrap_or(0))
        }
        Expr::Group(child) => fixed_width(child),
        Expr::AtomicGroup(child) => fixed_width(child),
        Expr::Repeat { child, lo, hi, .. } => match fixed_width(child)? {
            0 => Some(0),
            w if lo == hi => w.checked_mul(*lo),
            _ => None,
        },
        _ => None,
    }
}

/// Compile a `code` regex (Python's dialect, see [`super::pyregex`]) in multi-line mode.
pub fn compile_code_regex(pattern: &str) -> Result<fancy_regex::Regex, String> {
    let translated = super::pyregex::translate(pattern)
        .map_err(|e| format!("Invalid regex pattern '{pattern}': {e}"))?;
    // `seek`: a regular over-approximation skips to plausible starts before the backtracking VM
    // runs (look-around patterns otherwise try every position of a 10 MB diff).
    fancy_regex::RegexBuilder::new(&format!("(?m){translated}"))
        .seek(true)
        .build()
        .map_err(|e| format!("Invalid regex pattern '{pattern}': {e}"))
}

fn has_nested_quantifiers(expr: &fancy_regex::Expr) -> bool {
    use fancy_regex::Expr;
    match expr {
        Expr::Repeat { child, .. } => contains_quantifier(child),
        Expr::Group(child) => has_nested_quantifiers(child),
        Expr::Concat(children) | Expr::Alt(children) => children.iter().any(has_nested_quantifiers),
        _ => false,
    }
}

fn contains_quantifier(expr: &fancy_regex::Expr) -> bool {
    use fancy_regex::Expr;
    match expr {
        Expr::Repeat { .. } => true,
        Expr::Group(child) => contains_quantifier(child),
        Expr::Concat(children) | Expr::Alt(children) => children.iter().any(contains_quantifier),
        _ => false,
    }
}
