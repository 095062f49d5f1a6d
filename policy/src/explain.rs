//! What `codereview match` prints: which scopes own which files and lines.
//!
//! The text form has the same shape as PullApprove's `pa match` (`path → scope → +append`,
//! `  line 3 → scope`, `--by-scope` sections), so people moving between the two tools read the
//! same thing and our differential tests can compare the outputs byte for byte. The JSON form
//! is for scripts.

use crate::config::Ownership;
use crate::matching::{FileMatch, Matcher};
use crate::unread::Unread;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A matched file, with scope names resolved.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExplainedFile {
    /// Repository-relative path.
    pub path: String,
    /// The governing config, if any.
    pub config: Option<String>,
    /// Scopes owning the whole file, ownership rules applied, in declaration order.
    pub scopes: Vec<String>,
    /// Line-level owners from `code` scopes.
    pub lines: Vec<ExplainedLines>,
    /// `code` scopes that own the file because its changed lines could not all be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<ExplainedUnread>,
}

/// `code` scopes matched by failing closed (a file whose changed lines could not be read).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExplainedUnread {
    /// Why (`binary`, `too_large`, `no_patch`, `regex_limit`).
    pub reason: Unread,
    /// The scopes that apply to the whole file.
    pub scopes: Vec<String>,
}

impl ExplainedFile {
    /// Whether `name` owns some lines of the file, or all of it by failing closed.
    fn code_owner(&self, name: &String) -> bool {
        self.lines.iter().any(|l| l.scopes.contains(name))
            || self
                .unread
                .as_ref()
                .is_some_and(|u| u.scopes.contains(name))
    }
}

/// Lines owned by `code` scopes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExplainedLines {
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// Owning scopes.
    pub scopes: Vec<String>,
}

/// A matched scope in the JSON output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExplainedScope {
    /// Name.
    pub name: String,
    /// `""`, `append` or `global`.
    pub ownership: Ownership,
    /// Files it owns (whole file or some lines).
    pub files: Vec<String>,
}

/// The answer to "who owns these files", ready to print.
#[derive(Debug, Clone, Default)]
pub struct Explanation {
    /// Files to list: every file considered in whole-repository mode, else only matched ones.
    pub listed: Option<Vec<String>>,
    /// Matched files by path.
    pub files: BTreeMap<String, ExplainedFile>,
    /// Ownership marker per scope name (the last scope seen with a name wins, as in `pa`).
    pub ownership: BTreeMap<String, Ownership>,
}

impl Explanation {
    /// Build from match results. `listed = Some(all files)` lists unmatched files too.
    pub fn new(matcher: &Matcher<'_>, matches: &[FileMatch], listed: Option<Vec<String>>) -> Self {
        let mut e = Explanation {
            listed,
            ..Explanation::default()
        };
        for fm in matches {
            let Some(ci) = fm.config else { continue };
            let mut name = |s: usize| {
                let scope = matcher.scope(ci, s);
                e.ownership.insert(scope.name.clone(), scope.ownership);
                scope.name.clone()
            };
            let scopes: Vec<String> = fm.scopes.iter().map(|&s| name(s)).collect();
            let mut lines: Vec<ExplainedLines> = fm
                .lines
                .iter()
                .map(|l| ExplainedLines {
                    start_line: l.start_line,
                    end_line: l.end_line,
                    scopes: l.scopes.iter().map(|&s| name(s)).collect(),
                })
                .collect();
            lines.sort_by_key(|l| l.start_line);
            let unread = fm.unread.as_ref().map(|u| ExplainedUnread {
                reason: u.reason,
                scopes: u.scopes.iter().map(|&s| name(s)).collect(),
            });
            if scopes.is_empty() && lines.is_empty() && unread.is_none() {
                continue;
            }
            e.files.insert(
                fm.path.clone(),
                ExplainedFile {
                    path: fm.path.clone(),
                    config: Some(matcher.configs().configs[ci].path.clone()),
                    scopes,
                    lines,
                    unread,
                },
            );
        }
        e
    }

    fn printed(&self, name: &str) -> String {
        let marker = self.ownership.get(name).map_or("", |o| o.marker());
        format!("{marker}{name}")
    }

    fn badges(&self, names: &[String]) -> String {
        names
            .iter()
            .map(|n| format!("→ {}", self.printed(n)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Paths with whole-file owners (what `pa` lists when not in whole-repository mode), and
    /// files whose changed lines could not be read (never silently left out).
    fn owned_paths(&self) -> Vec<String> {
        self.files
            .values()
            .filter(|f| !f.scopes.is_empty() || f.unread.is_some())
            .map(|f| f.path.clone())
            .collect()
    }

    /// `path → scope → scope` per file, then `  line N → scope` per owned line range.
    pub fn by_path(&self, filter: &[String]) -> String {
        let mut out = String::new();
        let mut paths = self.listed.clone().unwrap_or_else(|| self.owned_paths());
        if paths.is_empty() {
            return "No files found.\n".to_string();
        }
        if !filter.is_empty() {
            paths.retain(|p| {
                self.files.get(p).is_some_and(|f| {
                    f.scopes.iter().any(|s| filter.contains(s))
                        || filter.iter().any(|s| f.code_owner(s))
                })
            });
            if paths.is_empty() {
                return format!("No files found matching scopes: {}\n", filter.join(", "));
            }
        }
        paths.sort();
        paths.dedup();
        for path in paths {
            let file = self.files.get(&path);
            match file {
                Some(f) if !f.scopes.is_empty() => {
                    let _ = writeln!(out, "{path} {}", self.badges(&f.scopes));
                }
                _ => {
                    let _ = writeln!(out, "{path}");
                }
            }
            for l in file.map(|f| f.lines.as_slice()).unwrap_or_default() {
                let _ = writeln!(out, "  {} {}", location(l), self.badges(&l.scopes));
            }
            if let Some(u) = file.and_then(|f| f.unread.as_ref()) {
                let _ = writeln!(out, "  {} {}", u.reason.sentence(), self.badges(&u.scopes));
            }
        }
        out
    }

    /// One section per scope (sorted by name) listing the files it owns.
    pub fn by_scope(&self, filter: &[String]) -> String {
        let mut out = String::new();
        let mut names: Vec<&String> = self.ownership.keys().collect();
        if !filter.is_empty() {
            names.retain(|n| filter.contains(n));
            if names.is_empty() {
                return format!("No scopes found matching: {}\n", filter.join(", "));
            }
        }
        let mut printed_any = false;
        for name in names {
            let mut files: Vec<&ExplainedFile> = self
                .files
                .values()
                .filter(|f| f.scopes.contains(name))
                .collect();
            if files.is_empty() {
                files = self.files.values().filter(|f| f.code_owner(name)).collect();
            }
            if files.is_empty() {
                continue;
            }
            printed_any = true;
            let _ = write!(out, "\n{}\n", self.printed(name));
            for f in files {
                let others: BTreeSet<&String> = f.scopes.iter().filter(|s| *s != name).collect();
                let _ = writeln!(
                    out,
                    "{} → {}{}",
                    f.path,
                    self.printed(name),
                    self.also(&others)
                );
                for l in f.lines.iter().filter(|l| l.scopes.contains(name)) {
                    let others: BTreeSet<&String> =
                        l.scopes.iter().filter(|s| *s != name).collect();
                    let _ = writeln!(
                        out,
                        "  {} → {}{}",
                        location(l),
                        self.printed(name),
                        self.also(&others)
                    );
                }
                if let Some(u) = f.unread.as_ref().filter(|u| u.scopes.contains(name)) {
                    let others: BTreeSet<&String> =
                        u.scopes.iter().filter(|s| *s != name).collect();
                    let _ = writeln!(
                        out,
                        "  {} → {}{}",
                        u.reason.sentence(),
                        self.printed(name),
                        self.also(&others)
                    );
                }
            }
        }
        if !printed_any {
            out.push_str("No scopes found with matching files.\n");
        }
        out
    }

    fn also(&self, others: &BTreeSet<&String>) -> String {
        if others.is_empty() {
            return String::new();
        }
        let list: String = others
            .iter()
            .map(|n| format!("→ {}", self.printed(n)))
            .collect();
        format!("(also: {list})")
    }

    /// Machine-readable form: every listed file (with its owners) and every matched scope.
    pub fn to_json(&self) -> serde_json::Value {
        let mut paths: Vec<String> = self
            .listed
            .clone()
            .unwrap_or_else(|| self.files.keys().cloned().collect());
        paths.sort();
        paths.dedup();
        let files: Vec<ExplainedFile> = paths
            .iter()
            .map(|p| {
                self.files.get(p).cloned().unwrap_or(ExplainedFile {
                    path: p.clone(),
                    config: None,
                    scopes: Vec::new(),
                    lines: Vec::new(),
                    unread: None,
                })
            })
            .collect();
        let scopes: Vec<ExplainedScope> = self
            .ownership
            .iter()
            .map(|(name, ownership)| ExplainedScope {
                name: name.clone(),
                ownership: *ownership,
                files: self
                    .files
                    .values()
                    .filter(|f| f.scopes.contains(name) || f.code_owner(name))
                    .map(|f| f.path.clone())
                    .collect(),
            })
            .collect();
        serde_json::json!({ "files": files, "scopes": scopes })
    }
}

fn location(l: &ExplainedLines) -> String {
    if l.start_line == l.end_line {
        format!("line {}", l.start_line)
    } else {
        format!("line {}-{}", l.start_line, l.end_line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFile, RawSet};
    use crate::matching::Content;

    #[test]
    fn files_whose_lines_could_not_be_read_are_listed_with_the_reason() {
        let set = RawSet::parse([ConfigFile {
            path: "CODEREVIEW.toml".to_string(),
            text: "[[scopes]]\nname = \"sql\"\npaths = [\"**/*.sql\"]\ncode = [\"DROP\"]\n"
                .to_string(),
        }])
        .and_then(|raw| raw.compile(None))
        .unwrap();
        let m = Matcher::new(&set).unwrap();
        let matches = [
            m.match_file("a.sql", Content::Unread(Unread::TooLarge)),
            m.match_file("b.sql", Content::Diff(&[])),
        ];
        let e = Explanation::new(&m, &matches, None);
        assert_eq!(
            e.by_path(&[]),
            "a.sql\n  could not read line changes: too large → sql\n"
        );
        assert_eq!(
            e.by_scope(&[]),
            "\nsql\na.sql → sql\n  could not read line changes: too large → sql\n"
        );
        let json = e.to_json();
        assert_eq!(json["files"][0]["unread"]["reason"], "too_large");
        assert_eq!(json["scopes"][0]["files"][0], "a.sql");
        assert!(json["files"].as_array().unwrap().len() == 1);
    }
}
