//! Resolves a repository's config files into their effective form.
//!
//! Two phases per non-template config, as PullApprove does: flatten the `extends` chain into one
//! merged, unexpanded config (parents first, shared ancestors once, cycles and root escapes are
//! errors), then expand aliases and teams, apply `!` subtraction, check what only the expanded
//! form can reveal, and anchor every path at the directory of the config that owns the scope.

use super::compiled::{
    CONFIG_FILENAME, CheckRef, Checklist, ChecklistItem, Config, ConfigSet, LargeScaleChange,
    Ownership, Scope, parent_dir, roster_shortfall,
};
use super::error::{ConfigError, ConfigErrors};
use super::model::{self, RawConfig, RawLargeScaleChange, RawScope, SpannedList};
use super::validate::{
    check_code_regex, check_user_value, is_config_filename, parse_check_ref, validate_file,
};
use serde_spanned::Spanned;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;

/// Team memberships: lowercased `org/team` (no `@`) → member logins.
pub type Teams = HashMap<String, Vec<String>>;

/// One config file's path (repository-relative) and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// e.g. `CODEREVIEW.toml`, `api/CODEREVIEW.toml`, `CODEREVIEW-TEAMS.toml`.
    pub path: String,
    /// The TOML text.
    pub text: String,
}

/// Every config file of a repository, parsed and individually valid, not yet resolved.
#[derive(Debug, Clone, Default)]
pub struct RawSet {
    files: BTreeMap<String, (String, RawConfig)>,
}

/// Where a value was written: a file and a byte span in it.
#[derive(Debug, Clone, Copy)]
struct Origin<'a> {
    file: &'a str,
    span: Option<(usize, usize)>,
}

impl<'a> Origin<'a> {
    fn of<T>(file: &'a str, v: &Spanned<T>) -> Self {
        let s = v.span();
        Origin {
            file,
            span: Some((s.start, s.end)),
        }
    }
}

/// A value after expansion, with the place in the scope that produced it.
type Expanded<'a> = Vec<(String, Origin<'a>)>;

impl RawSet {
    /// Parse and validate each file; all problems of all files are returned together.
    pub fn parse(files: impl IntoIterator<Item = ConfigFile>) -> Result<RawSet, ConfigErrors> {
        let mut set = RawSet::default();
        let mut errors = Vec::new();
        for file in files {
            match model::parse(&file.text) {
                Ok(raw) => {
                    errors.extend(validate_file(&file.path, &file.text, &raw));
                    set.files.insert(file.path, (file.text, raw));
                }
                Err((span, message)) => {
                    let scope = span
                        .as_ref()
                        .and_then(|s| model::scope_at(&file.text, s.start));
                    errors.push(ConfigError::at(
                        &file.path,
                        &file.text,
                        span,
                        scope.as_deref(),
                        message,
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Paths of all files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Whether there is no config file at all.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Resolve every non-template config. With `teams = None` (offline), `@org/team` references
    /// stay unexpanded; with a map, every referenced team must be in it.
    pub fn compile(&self, teams: Option<&Teams>) -> Result<ConfigSet, ConfigErrors> {
        let teams = teams.map(|t| {
            t.iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect::<Teams>()
        });
        let mut set = ConfigSet::default();
        let mut errors = Vec::new();
        for (path, (_, raw)) in &self.files {
            if raw.template {
                set.templates.push(path.clone());
                continue;
            }
            match self.compile_config(path, teams.as_ref()) {
                Ok(config) => {
                    // Only files named exactly CODEREVIEW.toml govern a directory; the others
                    // are compiled to validate them and take effect through `extends`.
                    if path.rsplit('/').next() == Some(CONFIG_FILENAME) {
                        set.configs.push(config);
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            errors.dedup();
            Err(ConfigErrors(errors))
        }
    }

    /// Every team (lowercased `org/team`) that a compile with teams would need to expand.
    pub fn team_refs(&self) -> Result<BTreeSet<String>, ConfigErrors> {
        let compiled = self.compile(None)?;
        let mut refs = BTreeSet::new();
        let mut collect = |values: &[String]| {
            for v in values {
                if let Some(team) = v.strip_prefix("!@").or_else(|| v.strip_prefix('@')) {
                    refs.insert(team.to_lowercase());
                }
            }
        };
        for config in &compiled.configs {
            for s in &config.scopes {
                for list in [&s.authors, &s.reviewers, &s.alternates, &s.cc] {
                    collect(list);
                }
            }
            if let Some(lsc) = &config.large_scale_change {
                collect(&lsc.reviewers);
                collect(&lsc.alternates);
            }
        }
        Ok(refs)
    }

    fn error(&self, origin: Origin<'_>, scope: Option<&str>, message: String) -> ConfigError {
        let text = self.files.get(origin.file).map_or("", |(t, _)| t.as_str());
        ConfigError::at(
            origin.file,
            text,
            origin.span.map(|(a, b)| a..b),
            scope,
            message,
        )
    }

    fn compile_config(
        &self,
        path: &str,
        teams: Option<&Teams>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut merged = Merged::default();
        let mut in_progress = Vec::new();
        let mut seen = HashSet::new();
        self.merge(path, &mut merged, &mut in_progress, &mut seen)
            .map_err(|e| vec![e])?;

        let expander = Expander {
            set: self,
            aliases: &merged.aliases,
            teams,
        };
        let mut errors = Vec::new();
        let mut scopes = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for m in &merged.scopes {
            let name = m.raw.name.get_ref();
            if !names.insert(name.to_lowercase()) {
                errors.push(self.error(
                    Origin::of(m.file, &m.raw.name),
                    Some(name),
                    format!("Duplicate scope name: {name}"),
                ));
                continue;
            }
            match self.compile_scope(m, &expander) {
                Ok(scope) => scopes.push(scope),
                Err(e) => errors.push(e),
            }
        }
        let large_scale_change = match &merged.lsc {
            Some((lsc, file)) => match self.compile_lsc(lsc, file, &expander) {
                Ok(l) => Some(l),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            path: path.to_string(),
            dir: parent_dir(path).to_string(),
            scopes,
            large_scale_change,
        })
    }

    /// Flatten `path`'s extends chain into `out` (parents first).
    fn merge<'a>(
        &'a self,
        path: &str,
        out: &mut Merged<'a>,
        in_progress: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> Result<(), ConfigError> {
        let (key, (_, raw)) = self
            .files
            .get_key_value(path)
            .expect("merge is only called for known files");
        in_progress.push(key.clone());
        let mut parents = Merged::default();
        for ext in &raw.extends {
            let origin = Origin::of(key, ext);
            let resolved =
                resolve_extends(key, ext.get_ref()).map_err(|m| self.error(origin, None, m))?;
            if let Some(pos) = in_progress.iter().position(|p| *p == resolved) {
                let mut cycle = in_progress[pos..].to_vec();
                cycle.push(resolved);
                return Err(self.error(
                    origin,
                    None,
                    format!(
                        "Circular reference detected in extends: {}",
                        cycle.join(" -> ")
                    ),
                ));
            }
            if !self.files.contains_key(&resolved) {
                return Err(self.error(
                    origin,
                    None,
                    format!(
                        "Config not found: '{}' (resolved to '{resolved}')",
                        ext.get_ref()
                    ),
                ));
            }
            if seen.contains(&resolved) {
                continue; // a shared ancestor (diamond) is merged once
            }
            let mut parent = Merged::default();
            self.merge(&resolved, &mut parent, in_progress, seen)?;
            parents.scopes.append(&mut parent.scopes);
            for (k, v) in parent.aliases {
                parents.aliases.insert(k, v);
            }
            if parents.lsc.is_none() {
                parents.lsc = parent.lsc;
            }
        }
        out.scopes = parents.scopes;
        out.scopes.extend(raw.scopes.iter().map(|s| MergedScope {
            raw: s.get_ref(),
            line_span: s.span(),
            file: key.as_str(),
            anchor: None,
        }));
        out.aliases = parents.aliases;
        for (name, values) in &raw.aliases {
            out.aliases
                .insert(name.get_ref().clone(), AliasDef { values });
        }
        out.lsc = raw
            .large_scale_change
            .as_ref()
            .map(|l| (l.get_ref(), key.as_str()))
            .or(parents.lsc);
        if !raw.template {
            // The first non-template config to consume a scope anchors its paths.
            let dir = parent_dir(key);
            for s in &mut out.scopes {
                s.anchor.get_or_insert_with(|| dir.to_string());
            }
        }
        seen.insert(key.clone());
        in_progress.pop();
        Ok(())
    }

    fn compile_scope<'a>(
        &'a self,
        m: &MergedScope<'a>,
        x: &Expander<'a>,
    ) -> Result<Scope, ConfigError> {
        let raw = m.raw;
        let name = raw.name.get_ref().as_str();
        let err = |origin: Origin<'_>, message: String| self.error(origin, Some(name), message);
        let name_origin = Origin::of(m.file, &raw.name);

        let expand = |list: &'a SpannedList, teams: bool| {
            x.expand(list, m.file, teams).map_err(|mut e| {
                e.scope.get_or_insert_with(|| name.to_string());
                e
            })
        };
        let paths = expand(raw.paths.get_ref(), false)?;
        let code = expand(&raw.code, false)?;
        let authors = expand(&raw.authors, true)?;
        let mut reviewers = expand(&raw.reviewers, true)?;
        let mut alternates = expand(&raw.alternates, true)?;
        let mut cc = expand(&raw.cc, true)?;
        let labels = expand(&raw.labels, false)?;

        for (field, list) in [
            ("reviewers", &mut reviewers),
            ("alternates", &mut alternates),
            ("cc", &mut cc),
        ] {
            apply_negations(list).map_err(|(o, msg)| err(o.unwrap_or(name_origin), msg))?;
            if let Some((bot, o)) = list.iter().find(|(v, _)| is_bot(v)) {
                return Err(err(
                    *o,
                    format!("{field}: '{bot}' is a bot and cannot be listed as a reviewer"),
                ));
            }
        }
        for (field, list, hint) in [
            (
                "authors",
                &authors,
                "remove it (a scope with no authors applies to any author)",
            ),
            (
                "alternates",
                &alternates,
                "add it to reviewers instead (wildcard reviewers are never auto-requested)",
            ),
            ("cc", &cc, "remove it"),
        ] {
            if let Some((_, o)) = list.iter().find(|(v, _)| v == "*") {
                return Err(err(
                    *o,
                    format!("\"*\" is not supported in {field} — {hint}"),
                ));
            }
        }
        resolve_overlap(
            &mut reviewers,
            &alternates,
            &raw.reviewers,
            &raw.alternates,
            x,
        );

        // What only the expanded form can reveal.
        for (value, origin) in authors
            .iter()
            .chain(&reviewers)
            .chain(&alternates)
            .chain(&cc)
        {
            check_user_value(value).map_err(|m| err(*origin, m))?;
        }
        for (pattern, origin) in &code {
            check_code_regex(pattern).map_err(|m| err(*origin, m))?;
        }
        crate::glob::check_patterns(paths.iter().map(|(p, _)| p.as_str()))
            .map_err(|(k, e)| err(paths[k].1, e.0))?;
        let require = count(&raw.require);
        let reviewers = strings(reviewers);
        let alternates = strings(alternates);
        if let Some(reason) = roster_shortfall(&reviewers, &alternates, require) {
            let origin = raw
                .require
                .as_ref()
                .map_or(name_origin, |r| Origin::of(m.file, r));
            return Err(err(origin, reason));
        }

        let anchor = m.anchor.as_deref().unwrap_or("");
        let ownership = match raw.ownership.as_ref().map(|o| o.get_ref().as_str()) {
            Some("append") => Ownership::Append,
            Some("global") => Ownership::Global,
            _ => Ownership::Primary,
        };
        let unless = raw
            .unless
            .iter()
            .map(|u| {
                parse_check_ref(u.get_ref())
                    .map(|(producer, name)| CheckRef { producer, name })
                    .map_err(|msg| err(Origin::of(m.file, u), msg))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let text = self.files.get(m.file).map_or("", |(t, _)| t.as_str());
        Ok(Scope {
            name: name.to_string(),
            declared_in: m.file.to_string(),
            line: super::error::line_col(text, m.line_span.start).0,
            paths: strings(paths)
                .into_iter()
                .map(|p| anchor_path(anchor, &p))
                .collect(),
            code: strings(code),
            authors: strings(authors),
            reviewers,
            alternates,
            cc: strings(cc),
            require,
            request: count(&raw.request),
            author_value: count(&raw.author_value),
            ownership,
            unless,
            labels: strings(labels),
            description: text_of(&raw.description),
            instructions: text_of(&raw.instructions),
            checklist: raw.checklist.as_ref().map(|c| Checklist {
                items: c
                    .get_ref()
                    .items
                    .get_ref()
                    .iter()
                    .map(|i| {
                        let i = i.get_ref();
                        ChecklistItem {
                            label: i.label.get_ref().clone(),
                            required: i.required.unwrap_or(true),
                            notes: i
                                .notes
                                .as_ref()
                                .map_or_else(|| "optional".to_string(), |n| n.get_ref().clone()),
                            help: i.help.clone().unwrap_or_default(),
                        }
                    })
                    .collect(),
            }),
        })
    }

    fn compile_lsc(
        &self,
        lsc: &RawLargeScaleChange,
        file: &str,
        x: &Expander<'_>,
    ) -> Result<LargeScaleChange, ConfigError> {
        let mut reviewers = x.expand(&lsc.reviewers, file, true)?;
        let mut alternates = x.expand(&lsc.alternates, file, true)?;
        let labels = x.expand(&lsc.labels, file, false)?;
        let here = Origin { file, span: None };
        for (field, list) in [
            ("reviewers", &mut reviewers),
            ("alternates", &mut alternates),
        ] {
            apply_negations(list).map_err(|(o, msg)| self.error(o.unwrap_or(here), None, msg))?;
            if let Some((bot, o)) = list.iter().find(|(v, _)| is_bot(v)) {
                return Err(self.error(
                    *o,
                    None,
                    format!("large_scale_change {field}: '{bot}' is a bot and cannot be listed as a reviewer"),
                ));
            }
        }
        if let Some((_, o)) = alternates.iter().find(|(v, _)| v == "*") {
            return Err(self.error(
                *o,
                None,
                "large_scale_change: \"*\" is not supported in alternates — add it to reviewers instead (wildcard reviewers are never auto-requested)".to_string(),
            ));
        }
        resolve_overlap(
            &mut reviewers,
            &alternates,
            &lsc.reviewers,
            &lsc.alternates,
            x,
        );
        Ok(LargeScaleChange {
            require: lsc
                .require
                .as_ref()
                .map_or(1, |r| (*r.get_ref()).max(0) as u32),
            request: count(&lsc.request),
            reviewers: strings(reviewers),
            alternates: strings(alternates),
            labels: strings(labels),
        })
    }
}

/// A config flattened with its parents, not yet expanded.
#[derive(Default)]
struct Merged<'a> {
    scopes: Vec<MergedScope<'a>>,
    aliases: HashMap<String, AliasDef<'a>>,
    lsc: Option<(&'a RawLargeScaleChange, &'a str)>,
}

struct MergedScope<'a> {
    raw: &'a RawScope,
    line_span: Range<usize>,
    file: &'a str,
    /// Directory the paths anchor at, set by the first non-template consumer.
    anchor: Option<String>,
}

struct AliasDef<'a> {
    values: &'a SpannedList,
}

/// Expands `$alias`, `!$alias` and (in user fields, when known) `@org/team`.
struct Expander<'a> {
    set: &'a RawSet,
    aliases: &'a HashMap<String, AliasDef<'a>>,
    teams: Option<&'a Teams>,
}

impl<'a> Expander<'a> {
    fn expand(
        &self,
        values: &'a SpannedList,
        file: &'a str,
        expand_teams: bool,
    ) -> Result<Expanded<'a>, ConfigError> {
        let mut out = Vec::new();
        for v in values {
            let origin = Origin::of(file, v);
            let mut stack = Vec::new();
            let mut produced = Vec::new();
            self.expand_value(v.get_ref(), expand_teams, &mut stack, &mut produced)
                .map_err(|m| self.set.error(origin, None, m))?;
            out.extend(produced.into_iter().map(|p| (p, origin)));
        }
        let mut seen = HashSet::new();
        out.retain(|(v, _)| seen.insert(v.clone()));
        Ok(out)
    }

    fn expand_value(
        &self,
        value: &str,
        expand_teams: bool,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        let (prefix, alias) = if let Some(a) = value.strip_prefix("!$") {
            ("!", a)
        } else if let Some(a) = value.strip_prefix('$') {
            ("", a)
        } else {
            if expand_teams
                && let Some(teams) = self.teams
                && let Some((prefix, team)) = split_team_ref(value)
            {
                let members = teams
                    .get(&team.to_lowercase())
                    .ok_or_else(|| format!("Unknown team: {prefix}@{team}"))?;
                out.extend(members.iter().map(|m| format!("{prefix}{m}")));
                return Ok(());
            }
            out.push(value.to_string());
            return Ok(());
        };
        if let Some(pos) = stack.iter().position(|s| s == alias) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(alias.to_string());
            return Err(format!(
                "Circular reference detected in aliases: {}",
                cycle.join(" -> ")
            ));
        }
        let def = self
            .aliases
            .get(alias)
            .ok_or_else(|| format!("Unknown alias: {prefix}${alias}"))?;
        stack.push(alias.to_string());
        let mut nested = Vec::new();
        for v in def.values {
            self.expand_value(v.get_ref(), expand_teams, stack, &mut nested)?;
        }
        stack.pop();
        out.extend(nested.into_iter().map(|n| format!("{prefix}{n}")));
        Ok(())
    }

    /// Each login a written list mentions by username (3) or through an alias (2); team
    /// mentions and negations are not mentions.
    fn mentions(&self, written: &SpannedList) -> HashMap<String, u8> {
        let mut flat: Vec<(String, u8)> = Vec::new();
        for v in written {
            let v = v.get_ref();
            if v.starts_with('$') {
                let mut out = Vec::new();
                let no_teams = Expander {
                    teams: None,
                    ..*self
                };
                if no_teams
                    .expand_value(v, false, &mut Vec::new(), &mut out)
                    .is_ok()
                {
                    flat.extend(out.into_iter().map(|o| (o, 2)));
                }
            } else {
                flat.push((v.clone(), 3));
            }
        }
        let mut mentions = HashMap::new();
        for (v, level) in flat {
            if v.starts_with('!') || split_team_ref(&v).is_some() {
                continue;
            }
            let e = mentions.entry(v.to_lowercase()).or_insert(0);
            *e = (*e).max(level);
        }
        mentions
    }
}

/// Someone in both `reviewers` and `alternates` stays a reviewer unless `alternates` names them
/// more specifically (username > alias > team); then they are only an alternate.
fn resolve_overlap(
    reviewers: &mut Expanded<'_>,
    alternates: &Expanded<'_>,
    written_reviewers: &SpannedList,
    written_alternates: &SpannedList,
    x: &Expander<'_>,
) {
    if reviewers.is_empty() || alternates.is_empty() {
        return;
    }
    let by_reviewers = x.mentions(written_reviewers);
    let by_alternates = x.mentions(written_alternates);
    let compiled_alternates: HashSet<String> =
        alternates.iter().map(|(a, _)| a.to_lowercase()).collect();
    let outranked: HashSet<&String> = by_alternates
        .iter()
        .filter(|(login, level)| {
            compiled_alternates.contains(*login)
                && **level > *by_reviewers.get(*login).unwrap_or(&1)
        })
        .map(|(login, _)| login)
        .collect();
    reviewers.retain(|(r, _)| !outranked.contains(&r.to_lowercase()));
}

/// `!name` entries subtract `name`; rejected together with `"*"`. A list still holding an
/// unexpanded team is left as it is (offline compile).
fn apply_negations<'a>(list: &mut Expanded<'a>) -> Result<(), (Option<Origin<'a>>, String)> {
    if list.iter().any(|(v, _)| v == "*")
        && let Some((_, o)) = list.iter().find(|(v, _)| v.starts_with('!'))
    {
        return Err((
            Some(*o),
            "Negation cannot be combined with \"*\" in reviewers/alternates/cc (wildcard exclusion is not supported)".to_string(),
        ));
    }
    if list.iter().any(|(v, _)| split_team_ref(v).is_some()) {
        return Ok(());
    }
    let negated: HashSet<String> = list
        .iter()
        .filter_map(|(v, _)| v.strip_prefix('!').map(str::to_lowercase))
        .collect();
    list.retain(|(v, _)| !v.starts_with('!') && !negated.contains(&v.to_lowercase()));
    Ok(())
}

/// `("!", "org/team")` for `!@org/team`, `("", "org/team")` for `@org/team`.
fn split_team_ref(value: &str) -> Option<(&'static str, &str)> {
    if let Some(t) = value.strip_prefix("!@") {
        Some(("!", t))
    } else {
        value.strip_prefix('@').map(|t| ("", t))
    }
}

/// A `name[bot]` account is never a person.
pub fn is_bot(login: &str) -> bool {
    login.to_lowercase().ends_with("[bot]")
}

/// Resolve an `extends` entry to a repository-relative path.
fn resolve_extends(from: &str, reference: &str) -> Result<String, String> {
    let joined = match reference.strip_prefix('/') {
        Some(abs) => abs.trim_start_matches('/').to_string(),
        None => {
            let dir = parent_dir(from);
            if dir.is_empty() {
                reference.to_string()
            } else {
                format!("{dir}/{reference}")
            }
        }
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "Invalid extends path: '{reference}' points above the repo root"
                    ));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Anchor a scope glob at `dir`: `/x` is repo-root-relative, `!` is kept.
pub fn anchor_path(dir: &str, pattern: &str) -> String {
    let (neg, p) = match pattern.strip_prefix('!') {
        Some(p) => ("!", p),
        None => ("", pattern),
    };
    let anchored = if p.starts_with('/') {
        p.trim_start_matches('/').to_string()
    } else if dir.is_empty() {
        p.to_string()
    } else {
        format!("{dir}/{p}")
    };
    format!("{neg}{anchored}")
}

fn strings(list: Expanded<'_>) -> Vec<String> {
    list.into_iter().map(|(v, _)| v).collect()
}

fn count(v: &Option<Spanned<i64>>) -> u32 {
    v.as_ref()
        .map_or(0, |v| (*v.get_ref()).clamp(0, i64::from(u32::MAX)) as u32)
}

fn text_of(v: &Option<Spanned<String>>) -> String {
    v.as_ref().map(|v| v.get_ref().clone()).unwrap_or_default()
}

/// Whether a file name is a config file: `CODEREVIEW*.toml`.
pub fn is_config_path(path: &str) -> bool {
    is_config_filename(path.rsplit('/').next().unwrap_or(path))
}
