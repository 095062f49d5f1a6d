//! The effective configuration: `extends` merged, aliases (and teams, when known) expanded, paths
//! anchored at the owning config's directory. This is what matching and review evaluation read;
//! it never changes after compilation.

use serde::Serialize;

/// How a scope shares the files it matches with other scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Ownership {
    /// The default (`""`): the last matching primary scope owns the file, like CODEOWNERS.
    #[default]
    #[serde(rename = "")]
    Primary,
    /// A joint owner in addition to later scopes.
    Append,
    /// May approve on behalf of the primary scope.
    Global,
}

impl Ownership {
    /// The glyph `codereview match` prints before the scope name (PullApprove's convention).
    pub fn marker(self) -> &'static str {
        match self {
            Ownership::Primary => "",
            Ownership::Append => "+",
            Ownership::Global => "*",
        }
    }
}

/// An `unless` entry: a check run that, when successful on the head commit, waives a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRef {
    /// The producing app's slug, lowercased (split on the first `/`).
    pub producer: String,
    /// The check run's name.
    pub name: String,
}

/// A parsed and validated approval checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checklist {
    /// The checkboxes, in order.
    pub items: Vec<ChecklistItem>,
}

/// One checklist checkbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    /// Its text.
    pub label: String,
    /// Whether it must be checked.
    pub required: bool,
    /// When notes are shown or required.
    pub notes: String,
    /// Help text.
    pub help: String,
}

/// One effective review scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// The scope's name, as written.
    pub name: String,
    /// The file that declares it (may be a parent reached through `extends`).
    pub declared_in: String,
    /// The line of its `[[scopes]]` entry in that file.
    pub line: usize,
    /// Anchored globs (`!` kept), relative to the repository root.
    pub paths: Vec<String>,
    /// Multi-line regexes for line-level ownership.
    pub code: Vec<String>,
    /// Author filter (`!name` excludes); empty means anyone.
    pub authors: Vec<String>,
    /// Who may approve and may be requested; `"*"` means anyone.
    pub reviewers: Vec<String>,
    /// Who may approve but is never requested.
    pub alternates: Vec<String>,
    /// Who is notified.
    pub cc: Vec<String>,
    /// Approvals needed.
    pub require: u32,
    /// Reviewers to request.
    pub request: u32,
    /// Points from the author's own approval when the author is a listed reviewer.
    pub author_value: u32,
    /// How the scope shares files.
    pub ownership: Ownership,
    /// Checks that waive the requirement.
    pub unless: Vec<CheckRef>,
    /// Labels to apply when matched.
    pub labels: Vec<String>,
    /// Free text.
    pub description: String,
    /// Posted as a PR comment when matched.
    pub instructions: String,
    /// Optional approval checklist.
    pub checklist: Option<Checklist>,
}

impl Scope {
    /// The name as `codereview match` prints it: ownership marker then name.
    pub fn printed_name(&self) -> String {
        format!("{}{}", self.ownership.marker(), self.name)
    }

    /// Whether this scope applies to a pull request by `author` (`authors` filter).
    pub fn applies_to_author(&self, author: &str) -> bool {
        if self.authors.is_empty() {
            return true;
        }
        let author = author.to_lowercase();
        let mut positives = self
            .authors
            .iter()
            .filter(|a| !a.starts_with('!'))
            .peekable();
        if self
            .authors
            .iter()
            .filter_map(|a| a.strip_prefix('!'))
            .any(|a| a.to_lowercase() == author)
        {
            return false;
        }
        if positives.peek().is_none() {
            return true;
        }
        positives.any(|a| a.to_lowercase() == author)
    }

    /// Whether an approval by `user` counts toward this scope.
    pub fn counts_toward(&self, user: &str) -> bool {
        if self.reviewers.iter().any(|r| r == "*") {
            return true;
        }
        let user = user.to_lowercase();
        self.reviewers
            .iter()
            .chain(&self.alternates)
            .any(|r| r.to_lowercase() == user)
    }

    /// Points the author's own approval gives: `author_value` when listed in `reviewers` by name.
    pub fn author_points(&self, author: &str) -> u32 {
        let author = author.to_lowercase();
        if self.reviewers.iter().any(|r| r.to_lowercase() == author) {
            self.author_value
        } else {
            0
        }
    }
}

/// The effective large-scale-change section (root config only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LargeScaleChange {
    /// Approvals needed (default 1).
    pub require: u32,
    /// Reviewers to request.
    pub request: u32,
    /// Who may approve.
    pub reviewers: Vec<String>,
    /// Who may approve but is never requested.
    pub alternates: Vec<String>,
    /// Labels applied to a large-scale change.
    pub labels: Vec<String>,
}

impl Default for LargeScaleChange {
    fn default() -> Self {
        LargeScaleChange {
            require: 1,
            request: 0,
            reviewers: Vec::new(),
            alternates: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// The name of the scope a large-scale change is reviewed as.
pub const LARGE_SCALE_CHANGE_SCOPE: &str = "Large-scale change";

impl LargeScaleChange {
    /// The single scope a large-scale change is reviewed as, covering every path; an error when
    /// nobody could ever approve it.
    pub fn as_scope(&self, root_config: &str) -> Result<Scope, String> {
        if self.reviewers.is_empty() && self.alternates.is_empty() {
            return Err(
                "Large-scale change: configuration required (no reviewers defined)".to_string(),
            );
        }
        if let Some(reason) = roster_shortfall(&self.reviewers, &self.alternates, self.require) {
            return Err(format!("Large-scale change: {reason}"));
        }
        Ok(Scope {
            name: LARGE_SCALE_CHANGE_SCOPE.to_string(),
            declared_in: root_config.to_string(),
            line: 1,
            paths: vec!["**/*".to_string()],
            code: Vec::new(),
            authors: Vec::new(),
            reviewers: self.reviewers.clone(),
            alternates: self.alternates.clone(),
            cc: Vec::new(),
            require: self.require,
            request: self.request,
            author_value: 0,
            ownership: Ownership::Primary,
            unless: Vec::new(),
            labels: self.labels.clone(),
            description: String::new(),
            instructions: String::new(),
            checklist: None,
        })
    }
}

/// Why `require` approvals can never come from these reviewers and alternates, if so.
///
/// Skipped when anyone may review (`"*"`) or a `$alias`/`@team` is still unexpanded.
pub fn roster_shortfall(
    reviewers: &[String],
    alternates: &[String],
    require: u32,
) -> Option<String> {
    let all: Vec<&String> = reviewers.iter().chain(alternates).collect();
    if all.iter().any(|r| *r == "*") || all.iter().any(|r| is_unexpanded_ref(r)) {
        return None;
    }
    if (all.len() as u64) < u64::from(require) {
        return Some(format!(
            "has require={require} but only {} reviewers/alternates specified",
            all.len()
        ));
    }
    None
}

/// A `$alias` or `@org/team` reference (optionally `!`-negated) that was not expanded.
pub fn is_unexpanded_ref(value: &str) -> bool {
    let v = value.strip_prefix('!').unwrap_or(value);
    v.starts_with('$') || v.starts_with('@')
}

/// One effective, non-template config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Repository-relative path, e.g. `CODEREVIEW.toml` or `api/CODEREVIEW.toml`.
    pub path: String,
    /// The directory it governs (`""` for the root).
    pub dir: String,
    /// Scopes in declaration order, parents' first.
    pub scopes: Vec<Scope>,
    /// Its large-scale-change section (own, else the first parent's).
    pub large_scale_change: Option<LargeScaleChange>,
}

/// Every effective config of a repository, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ConfigSet {
    /// Non-template configs, sorted by path.
    pub configs: Vec<Config>,
    /// Template files (never govern files themselves).
    pub templates: Vec<String>,
}

/// The file name that governs a directory.
pub const CONFIG_FILENAME: &str = "CODEREVIEW.toml";

impl ConfigSet {
    /// The repository root's `CODEREVIEW.toml`, if there is one (required to enable a repo).
    pub fn root(&self) -> Option<&Config> {
        self.configs.iter().find(|c| c.path == CONFIG_FILENAME)
    }

    /// The root config's large-scale-change section, or the default one.
    pub fn large_scale_change(&self) -> LargeScaleChange {
        self.root()
            .and_then(|c| c.large_scale_change.clone())
            .unwrap_or_default()
    }

    /// Index of the config governing `path`: the closest non-template `CODEREVIEW.toml` in its
    /// directory or a parent.
    pub fn governing(&self, path: &str) -> Option<usize> {
        let mut dir = parent_dir(path);
        loop {
            if let Some(i) = self.configs.iter().position(|c| c.dir == dir) {
                return Some(i);
            }
            if dir.is_empty() {
                return None;
            }
            dir = parent_dir(dir);
        }
    }

    /// Keep only the scopes that apply to a pull request by `author` (the `authors` filter).
    pub fn for_author(&self, author: &str) -> ConfigSet {
        let mut set = self.clone();
        for config in &mut set.configs {
            config.scopes.retain(|s| s.applies_to_author(author));
        }
        set
    }
}

/// The directory part of a repository-relative path (`""` at the root).
pub fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}
