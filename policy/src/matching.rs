//! Which scopes own which files and lines.
//!
//! Every config's globs are compiled once into one [`GlobSet`] (one pattern list per scope), so
//! matching a path costs one pass over it per ancestor directory that has globs, however many
//! scopes there are. The ownership rules are PullApprove 5's:
//! - a file is governed by its closest `CODEREVIEW.toml`;
//! - among that config's matching scopes without `code`, the **last** primary scope owns the
//!   file, `append` scopes before it stay joint owners and `global` scopes stack on top;
//! - scopes with `code` own only the lines their regexes match (in files their paths match),
//!   with the same rule applied per location;
//! - when a file's changed lines cannot all be read (see [`Unread`]), every `code` scope whose
//!   paths match it owns the file: a merge gate fails closed.

use crate::config::{ConfigSet, Ownership, Scope};
use crate::diff::{FileDiff, Hunk};
use crate::glob::{GlobSet, SetCache};
use crate::unread::Unread;
use regex::RegexSet;
use std::collections::HashMap;

/// A config's compiled globs and regexes.
struct ConfigMatcher {
    /// The config's globs: one list per scope, in declaration order.
    globs: GlobSet,
    /// Compiled `code` regexes per scope (empty for path-only scopes).
    code: Vec<Vec<fancy_regex::Regex>>,
    /// One pass over a text tells which `code` regexes can match it at all (see [`Prefilter`]).
    prefilter: Option<Prefilter>,
}

/// The config's `code` regexes that the regex crate compiles (those without look-around or
/// back-references: fancy-regex delegates them to it unchanged), as one `RegexSet`. Scanning a
/// text once with the set and then running only the regexes that match costs one pass instead
/// of one per regex: a 10 MB diff with 100 regexes goes from seconds to a fraction of one.
struct Prefilter {
    set: RegexSet,
    /// Set index of each (scope, regex), `None` for regexes the set does not hold.
    index: Vec<Vec<Option<usize>>>,
}

impl Prefilter {
    fn new(scopes: &[Scope]) -> Option<Prefilter> {
        let mut patterns = Vec::new();
        let mut index = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let mut of_scope = Vec::with_capacity(scope.code.len());
            for p in &scope.code {
                let plain = crate::config::pyregex::translate(p)
                    .ok()
                    .map(|t| format!("(?m){t}"))
                    .filter(|t| regex::Regex::new(t).is_ok());
                of_scope.push(plain.map(|t| {
                    patterns.push(t);
                    patterns.len() - 1
                }));
            }
            index.push(of_scope);
        }
        if patterns.is_empty() {
            return None;
        }
        let set = regex::RegexSetBuilder::new(&patterns)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .ok()?;
        Some(Prefilter { set, index })
    }
}

/// The scopes one file matched by path, before looking at its content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathMatch {
    /// Index of the governing config in the [`ConfigSet`], if any config governs the file.
    pub config: Option<usize>,
    /// Scopes (indices into that config) that own the whole file, in declaration order.
    pub scopes: Vec<usize>,
    /// Scopes with `code` whose paths match: they own only matching lines.
    pub code_scopes: Vec<usize>,
}

/// Lines that `code` scopes own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeMatch {
    /// First line (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// 1-based column where the match starts, in characters.
    pub start_column: u32,
    /// Column just after the match ends.
    pub end_column: u32,
    /// Owning scopes (indices into the governing config), ownership rules applied.
    pub scopes: Vec<usize>,
}

/// One file's owners: by path and by line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMatch {
    /// Repository-relative path.
    pub path: String,
    /// Index of the governing config.
    pub config: Option<usize>,
    /// Scopes owning the whole file.
    pub scopes: Vec<usize>,
    /// Line-level ownership from `code` scopes, in order of discovery.
    pub lines: Vec<CodeMatch>,
    /// `code` scopes that own the file because its lines could not all be checked.
    pub unread: Option<UnreadLines>,
}

/// `code` scopes that matched by failing closed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadLines {
    /// Why the lines were not (all) checked.
    pub reason: Unread,
    /// The scopes (indices into the governing config), in declaration order. All of them own
    /// the file jointly: which lines each would have matched is unknown.
    pub scopes: Vec<usize>,
}

impl FileMatch {
    /// Every scope owning the file or some of its lines, in declaration order, without repeats.
    pub fn all_scopes(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self.scopes.clone();
        for l in &self.lines {
            all.extend(&l.scopes);
        }
        if let Some(u) = &self.unread {
            all.extend(&u.scopes);
        }
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// What can be read of a file for `code` matching.
pub enum Content<'a> {
    /// Nothing (binary, deleted, or not needed).
    None,
    /// The whole file.
    Text(&'a str),
    /// The hunks of its diff; regexes run over each hunk's lines with their `+`/`-`/` ` prefix.
    Diff(&'a [Hunk]),
    /// Changed lines that could not be read: every `code` scope matching the path owns the file.
    Unread(Unread),
}

impl<'a> Content<'a> {
    /// What a diffed file offers to `code` scopes: its hunks, or why they are missing.
    pub fn of_diff(file: &'a FileDiff) -> Self {
        match file.unreadable {
            Some(reason) => Content::Unread(reason),
            None => Content::Diff(&file.hunks),
        }
    }
}

/// Compiled matching for a whole [`ConfigSet`].
pub struct Matcher<'c> {
    set: &'c ConfigSet,
    configs: Vec<ConfigMatcher>,
    by_dir: HashMap<&'c str, usize>,
}

/// Why a config could not be compiled for matching (the config validators prevent this; it is
/// reported rather than panicking on a hand-built set).
#[derive(Debug, thiserror::Error)]
#[error("{config}: scope '{scope}': {message}")]
pub struct MatcherError {
    /// Config path.
    pub config: String,
    /// Scope name.
    pub scope: String,
    /// What failed.
    pub message: String,
}

impl<'c> Matcher<'c> {
    /// Compile every config's globs and regexes once.
    pub fn new(set: &'c ConfigSet) -> Result<Self, MatcherError> {
        let mut configs = Vec::with_capacity(set.configs.len());
        let mut cache = SetCache::default();
        for config in &set.configs {
            let globs = GlobSet::from_lists(config.scopes.iter().map(|s| &s.paths), &mut cache)
                .map_err(|(i, e)| MatcherError {
                    config: config.path.clone(),
                    scope: config
                        .scopes
                        .get(i)
                        .map(|s| s.name.clone())
                        .unwrap_or_default(),
                    message: e.0,
                })?;
            let mut code = Vec::new();
            for scope in &config.scopes {
                let err = |message: String| MatcherError {
                    config: config.path.clone(),
                    scope: scope.name.clone(),
                    message,
                };
                code.push(
                    scope
                        .code
                        .iter()
                        .map(|p| crate::config::validate::compile_code_regex(p).map_err(err))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            configs.push(ConfigMatcher {
                globs,
                code,
                prefilter: Prefilter::new(&config.scopes),
            });
        }
        let by_dir = set
            .configs
            .iter()
            .enumerate()
            .map(|(i, c)| (c.dir.as_str(), i))
            .collect();
        Ok(Matcher {
            set,
            configs,
            by_dir,
        })
    }

    /// The config set this matcher was built from.
    pub fn configs(&self) -> &'c ConfigSet {
        self.set
    }

    /// The scope at (config, scope) indices.
    pub fn scope(&self, config: usize, scope: usize) -> &'c Scope {
        &self.set.configs[config].scopes[scope]
    }

    /// Index of the config governing `path`.
    pub fn governing(&self, path: &str) -> Option<usize> {
        let mut dir = path;
        loop {
            dir = match dir.rfind('/') {
                Some(i) => &dir[..i],
                None => "",
            };
            if let Some(&i) = self.by_dir.get(dir) {
                return Some(i);
            }
            if dir.is_empty() {
                return None;
            }
        }
    }

    /// Scopes matching `path` by its globs alone.
    pub fn match_path(&self, path: &str) -> PathMatch {
        let Some(ci) = self.governing(path) else {
            return PathMatch::default();
        };
        let scopes = &self.set.configs[ci].scopes;
        let mut result = PathMatch {
            config: Some(ci),
            ..PathMatch::default()
        };
        for i in self.configs[ci].globs.matching_lists(path) {
            if scopes[i].code.is_empty() {
                add_owner(&mut result.scopes, i, scopes);
            } else {
                result.code_scopes.push(i);
            }
        }
        result
    }

    /// Owners of `path`, reading its content only when a `code` scope needs it.
    pub fn match_file(&self, path: &str, content: Content<'_>) -> FileMatch {
        let pm = self.match_path(path);
        let mut lines = Vec::new();
        let mut unread = None;
        if let Some(ci) = pm.config
            && !pm.code_scopes.is_empty()
        {
            let mut failed = Vec::new();
            match content {
                Content::None => {}
                Content::Unread(reason) => {
                    unread = Some(UnreadLines {
                        reason,
                        scopes: pm.code_scopes.clone(),
                    });
                }
                Content::Text(text) => {
                    lines = self.match_code(ci, &pm.code_scopes, text, &|l| l, &mut failed);
                }
                Content::Diff(hunks) => {
                    for hunk in hunks {
                        if hunk.lines.is_empty() {
                            continue;
                        }
                        let chunk: Vec<String> = hunk
                            .lines
                            .iter()
                            .map(|l| format!("{}{}", l.kind.prefix(), l.text))
                            .collect();
                        let numbers: Vec<u32> = hunk.lines.iter().map(|l| l.line).collect();
                        let map = |i: u32| numbers[(i as usize - 1).min(numbers.len() - 1)];
                        let found = self.match_code(
                            ci,
                            &pm.code_scopes,
                            &chunk.join("\n"),
                            &map,
                            &mut failed,
                        );
                        merge_code_matches(&mut lines, found, &self.set.configs[ci].scopes);
                    }
                }
            }
            if !failed.is_empty() {
                failed.sort_unstable();
                failed.dedup();
                unread = Some(UnreadLines {
                    reason: Unread::RegexLimit,
                    scopes: failed,
                });
            }
        }
        FileMatch {
            path: path.to_string(),
            config: pm.config,
            scopes: pm.scopes,
            lines,
            unread,
        }
    }

    /// Run `scopes`' regexes over `text`; `line_of` maps a 1-based line of `text` to the line
    /// number to report. Scopes whose regex stopped with a runtime error are added to `failed`.
    fn match_code(
        &self,
        ci: usize,
        code_scopes: &[usize],
        text: &str,
        line_of: &dyn Fn(u32) -> u32,
        failed: &mut Vec<usize>,
    ) -> Vec<CodeMatch> {
        let scopes = &self.set.configs[ci].scopes;
        let index = LineIndex::new(text);
        let mut found: Vec<CodeMatch> = Vec::new();
        let cm = &self.configs[ci];
        let possible = cm.prefilter.as_ref().map(|p| (p, p.set.matches(text)));
        for &si in code_scopes {
            for (ri, re) in cm.code[si].iter().enumerate() {
                if let Some((p, matched)) = &possible
                    && let Some(i) = p.index[si][ri]
                    && !matched.matched(i)
                {
                    continue;
                }
                let (matches, complete) = find_all_like_python(re, text);
                if !complete {
                    failed.push(si);
                }
                for (start, end) in matches {
                    let (sl, sc) = index.position(start);
                    let (el, ec) = index.position(end);
                    let location = CodeMatch {
                        start_line: line_of(sl),
                        end_line: line_of(el),
                        start_column: sc,
                        end_column: ec,
                        scopes: vec![si],
                    };
                    merge_code_matches(&mut found, vec![location], scopes);
                }
            }
        }
        found
    }
}

/// After this many regex runtime errors in one text, a regex stops scanning it (each error
/// costs a full backtrack budget).
const MAX_REGEX_ERRORS: usize = 8;

/// Every match of `re` in `text`, as Python's `finditer` finds them (PullApprove's semantics):
/// an empty match right after a non-empty one is reported too (Rust's iterators skip it), and
/// after an empty match the search moves on by one character.
///
/// A runtime error (fancy-regex's backtrack limit, e.g. on a 600 KB line) does not end the scan:
/// it resumes at the next line, so what follows the offending line is still matched. The second
/// value is `false` when any error happened: the caller then fails closed for the regex's scope.
fn find_all_like_python(re: &fancy_regex::Regex, text: &str) -> (Vec<(usize, usize)>, bool) {
    let mut found = Vec::new();
    let mut errors = 0;
    let mut pos = 0;
    // Start of the previous match when it was empty: the next match must not be the same.
    let mut last_empty_at: Option<usize> = None;
    while pos <= text.len() {
        let m = match re.find_from_pos(text, pos) {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => {
                errors += 1;
                match text[pos..].find('\n') {
                    Some(i) if errors < MAX_REGEX_ERRORS => {
                        pos += i + 1;
                        last_empty_at = None;
                        continue;
                    }
                    _ => break,
                }
            }
        };
        let (start, end) = (m.start(), m.end());
        if start == end && last_empty_at == Some(start) {
            // Python never reports the same empty match twice: move on one character.
            match text[pos..].chars().next() {
                Some(c) => pos += c.len_utf8(),
                None => break,
            }
            continue;
        }
        found.push((start, end));
        last_empty_at = (start == end).then_some(end);
        pos = end;
    }
    (found, errors == 0)
}

/// Add code matches to `into`, combining scopes at an identical location.
fn merge_code_matches(into: &mut Vec<CodeMatch>, found: Vec<CodeMatch>, scopes: &[Scope]) {
    for m in found {
        let same = into.iter_mut().find(|e| {
            (e.start_line, e.end_line, e.start_column, e.end_column)
                == (m.start_line, m.end_line, m.start_column, m.end_column)
        });
        match same {
            Some(existing) => {
                for s in m.scopes {
                    if !existing.scopes.contains(&s) {
                        add_owner(&mut existing.scopes, s, scopes);
                    }
                }
            }
            None => into.push(m),
        }
    }
}

/// Add a scope to an owner list: a primary scope replaces earlier primary scopes.
fn add_owner(owners: &mut Vec<usize>, scope: usize, scopes: &[Scope]) {
    if scopes[scope].ownership == Ownership::Primary {
        owners.retain(|&s| scopes[s].ownership != Ownership::Primary);
    }
    owners.push(scope);
}

/// Byte offset → (line, column) for one text, both 1-based; columns count characters.
struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    fn position(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        (line as u32, column as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFile, RawSet};

    fn compile(files: &[(&str, &str)]) -> ConfigSet {
        RawSet::parse(files.iter().map(|(p, t)| ConfigFile {
            path: p.to_string(),
            text: t.to_string(),
        }))
        .unwrap()
        .compile(None)
        .unwrap()
    }

    fn names(m: &Matcher<'_>, fm: &FileMatch) -> Vec<String> {
        let ci = fm.config.unwrap();
        fm.scopes
            .iter()
            .map(|&s| m.scope(ci, s).printed_name())
            .collect()
    }

    const ROOT: &str = r#"
[[scopes]]
name = "default"
paths = ["**/*"]

[[scopes]]
name = "api"
paths = ["src/api/**"]
ownership = "append"

[[scopes]]
name = "sec"
paths = ["src/**", "!src/api/**"]
ownership = "global"
require = 1
reviewers = ["dave"]

[[scopes]]
name = "todo"
paths = ["**/*.py"]
code = ["TODO"]
"#;

    #[test]
    fn grouping_by_directory_gives_the_answer_of_one_pattern_list() {
        // Every path against every scope, compared with each scope's list on its own.
        let scopes = crate::glob::SAMPLE_LISTS;
        let mut text = String::new();
        for (i, paths) in scopes.iter().enumerate() {
            let list = paths
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            text.push_str(&format!(
                "[[scopes]]\nname = \"s{i}\"\nownership = \"append\"\npaths = [{list}]\n"
            ));
        }
        let set = compile(&[("CODEREVIEW.toml", &text)]);
        let m = Matcher::new(&set).unwrap();
        for path in crate::glob::SAMPLE_PATHS {
            let expected: Vec<usize> = scopes
                .iter()
                .enumerate()
                .filter(|(_, paths)| GlobSet::new(paths).unwrap().is_match(path))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(m.match_path(path).scopes, expected, "{path}");
        }
    }

    #[test]
    fn last_primary_owns_append_and_global_stack() {
        let set = compile(&[("CODEREVIEW.toml", ROOT)]);
        let m = Matcher::new(&set).unwrap();
        let fm = m.match_file("src/api/a.py", Content::None);
        assert_eq!(names(&m, &fm), ["default", "+api"]);
        let fm = m.match_file("src/b.py", Content::Text("def f():\n    # TODO fix\n"));
        assert_eq!(names(&m, &fm), ["default", "*sec"]);
        assert_eq!(fm.lines.len(), 1);
        assert_eq!((fm.lines[0].start_line, fm.lines[0].start_column), (2, 7));
    }

    #[test]
    fn nested_config_replaces_parent_and_anchors_paths() {
        let sub = "[[scopes]]\nname = \"web\"\npaths = [\"*.js\"]\n";
        let set = compile(&[("CODEREVIEW.toml", ROOT), ("web/CODEREVIEW.toml", sub)]);
        let m = Matcher::new(&set).unwrap();
        assert_eq!(
            names(&m, &m.match_file("web/app.js", Content::None)),
            ["web"]
        );
        assert!(
            m.match_file("web/x/app.js", Content::None)
                .scopes
                .is_empty()
        );
        assert_eq!(
            names(&m, &m.match_file("app.js", Content::None)),
            ["default"]
        );
    }

    #[test]
    fn unreadable_lines_give_the_file_to_every_code_scope_its_paths_match() {
        let set = compile(&[(
            "CODEREVIEW.toml",
            "[[scopes]]\nname = \"a\"\npaths = [\"**/*.js\"]\ncode = [\"eval\"]\n\n\
             [[scopes]]\nname = \"b\"\npaths = [\"**/*\"]\ncode = [\"exec\"]\n\n\
             [[scopes]]\nname = \"c\"\npaths = [\"**/*.py\"]\ncode = [\"exec\"]\n",
        )]);
        let m = Matcher::new(&set).unwrap();
        let fm = m.match_file("x.js", Content::Unread(Unread::TooLarge));
        assert_eq!(
            fm.unread,
            Some(UnreadLines {
                reason: Unread::TooLarge,
                scopes: vec![0, 1]
            })
        );
        assert_eq!(fm.all_scopes(), [0, 1]);
        assert!(m.match_file("x.md", Content::None).unread.is_none());
    }

    #[test]
    fn a_regex_runtime_error_resumes_at_the_next_line_and_is_reported() {
        let re = fancy_regex::RegexBuilder::new(r"(?m)^\+(.*)(?<!y)exec\(")
            .backtrack_limit(1000)
            .build()
            .unwrap();
        let text = format!("+{}\n+exec(1)\n", "y".repeat(5000));
        let (found, complete) = find_all_like_python(&re, &text);
        assert!(!complete);
        assert_eq!(found, [(5002, 5008)]);
        let (found, complete) = find_all_like_python(&re, "+exec(1)\n");
        assert!(complete);
        assert_eq!(found, [(0, 6)]);
    }

    #[test]
    fn the_regex_set_prefilter_changes_no_answer() {
        let patterns = [
            r"^\+.*eval\(",
            r"(?i)drop\s+table",
            r"\bTODO\b",
            r"^-.*x$",
            r"(?<!y)exec\(",
            r"^\+(?!.*test).*run\(",
            r"a*",
            r"\d{2,}",
        ];
        let mut text = String::new();
        for (i, p) in patterns.iter().enumerate() {
            text.push_str(&format!(
                "[[scopes]]\nname = \"s{i}\"\nownership = \"append\"\npaths = [\"**/*\"]\ncode = ['{p}']\n\n"
            ));
        }
        let set = compile(&[("CODEREVIEW.toml", &text)]);
        let m = Matcher::new(&set).unwrap();
        assert!(m.configs[0].prefilter.is_some());
        let texts = [
            "+eval(1)\n-DROP  Table x\n yexec( exec(\n+run() test\n+run()\n",
            "TODO: 12 aaa\n-x\n\n+ nothing here\n",
            "",
            "-\u{e9}l\u{e8}ve 123 exec(eval(\n",
        ];
        for t in texts {
            let mut expected: Vec<(usize, u32, u32)> = Vec::new();
            let index = LineIndex::new(t);
            for (si, p) in patterns.iter().enumerate() {
                let re = crate::config::validate::compile_code_regex(p).unwrap();
                for (start, _) in find_all_like_python(&re, t).0 {
                    let (l, c) = index.position(start);
                    expected.push((si, l, c));
                }
            }
            let mut got: Vec<(usize, u32, u32)> = m
                .match_file("f", Content::Text(t))
                .lines
                .iter()
                .flat_map(|l| l.scopes.iter().map(|&s| (s, l.start_line, l.start_column)))
                .collect();
            expected.sort_unstable();
            expected.dedup();
            got.sort_unstable();
            got.dedup();
            assert_eq!(got, expected, "{t:?}");
        }
    }

    #[test]
    fn diff_code_matching_reports_real_line_numbers() {
        use crate::diff::{DiffLine, LineKind};
        let set = compile(&[(
            "CODEREVIEW.toml",
            "[[scopes]]\nname = \"sql\"\npaths = [\"**/*\"]\ncode = [\"^\\\\+.*DROP\"]\n",
        )]);
        let m = Matcher::new(&set).unwrap();
        let hunk = Hunk {
            lines: vec![
                DiffLine {
                    kind: LineKind::Context,
                    line: 40,
                    text: "a".into(),
                },
                DiffLine {
                    kind: LineKind::Removed,
                    line: 41,
                    text: "DROP old".into(),
                },
                DiffLine {
                    kind: LineKind::Added,
                    line: 41,
                    text: "DROP new".into(),
                },
            ],
        };
        let fm = m.match_file("x.sql", Content::Diff(std::slice::from_ref(&hunk)));
        assert_eq!(fm.lines.len(), 1);
        assert_eq!(fm.lines[0].start_line, 41);
    }
}
