//! [`GlobSet`]: pattern lists compiled once, then matched against many paths.
//!
//! This is the only way the crate matches globs: a config's scopes are one set (one list per
//! scope, see [`crate::matching`]) and a single list is a set of one, so the wcmatch differential
//! test exercises exactly what production runs.

use super::translate::translate_within;
use super::{GlobError, MAX_EXPANSIONS};
use regex::RegexSet;
use std::collections::HashMap;
use std::sync::Arc;

/// Pattern lists with PullApprove's list semantics, compiled together: a path matches a list
/// when it matches some positive pattern of it and no `!` pattern.
///
/// The globs are grouped by the plain directory they start with (see `literal_dir`) and each
/// group is one `RegexSet`, so matching a path costs one pass over it per ancestor directory
/// that has globs, however many lists there are. One set for everything would be simplest, but a
/// set of hundreds of globs makes the lazy DFA build a new state for almost every byte of every
/// new path (the live patterns differ from one directory to the next), which dominated
/// `codereview match` on a large monorepo. Within a group, all the expansions of one list's
/// globs (of one sign) are a single alternation: fewer members, fewer distinct DFA states.
#[derive(Debug, Clone)]
pub struct GlobSet {
    groups: Vec<Group>,
    /// Group index by its lowercased directory (`""` for globs that can match anywhere).
    by_prefix: HashMap<String, usize>,
    /// How many lists the set was built from.
    lists: usize,
}

/// Globs that can only match paths under one directory, compiled into one set.
#[derive(Debug, Clone)]
struct Group {
    regexes: Arc<RegexSet>,
    /// For each member of `regexes`: (list index, negated).
    owners: Vec<(usize, bool)>,
}

/// Compiled groups shared between the sets built with it: a config that extends another repeats
/// its parent's globs, and they are compiled once.
#[derive(Debug, Default)]
pub struct SetCache(HashMap<Vec<String>, Arc<RegexSet>>);

impl GlobSet {
    /// One pattern list. Like wcmatch, a list whose patterns expand to more than
    /// [`MAX_EXPANSIONS`] patterns in total is an error.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<GlobSet, GlobError> {
        GlobSet::from_lists([patterns], &mut SetCache::default()).map_err(|(_, e)| e)
    }

    /// Several pattern lists (a config's scopes), each matched on its own; `cache` shares
    /// compiled groups with other sets. On error, returns the index of the failing list.
    pub fn from_lists<L, S>(
        lists: impl IntoIterator<Item = L>,
        cache: &mut SetCache,
    ) -> Result<GlobSet, (usize, GlobError)>
    where
        L: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // Lowercased directory -> (list, negated, the regexes of its globs there).
        let mut grouped: HashMap<String, Vec<(usize, bool, Vec<String>)>> = HashMap::new();
        let mut count = 0;
        for (list, patterns) in lists.into_iter().enumerate() {
            count = list + 1;
            let mut expanded = 0usize;
            for pattern in patterns {
                let pattern = pattern.as_ref();
                let budget = MAX_EXPANSIONS.saturating_sub(expanded).max(1);
                let translated = translate_within(pattern, budget).map_err(|e| (list, e))?;
                expanded += translated.len();
                if expanded > MAX_EXPANSIONS {
                    return Err((
                        list,
                        GlobError(format!(
                            "the patterns expand to more than {MAX_EXPANSIONS} patterns"
                        )),
                    ));
                }
                let members = grouped.entry(literal_dir(pattern)).or_default();
                for t in translated {
                    match members
                        .iter_mut()
                        .find(|(l, negated, _)| *l == list && *negated == t.negated)
                    {
                        Some((_, _, regexes)) => regexes.push(t.regex),
                        None => members.push((list, t.negated, vec![t.regex])),
                    }
                }
            }
        }
        let mut groups = Vec::with_capacity(grouped.len());
        let mut by_prefix = HashMap::with_capacity(grouped.len());
        for (dir, members) in grouped {
            let regexes: Vec<String> = members
                .iter()
                .map(|(_, _, alternatives)| match alternatives.as_slice() {
                    [one] => one.clone(),
                    many => format!("(?:(?:{}))", many.join(")|(?:")),
                })
                .collect();
            let compiled = match cache.0.get(&regexes) {
                Some(compiled) => Arc::clone(compiled),
                None => {
                    let compiled = regex::RegexSetBuilder::new(&regexes)
                        .size_limit(64 << 20)
                        .dfa_size_limit(64 << 20)
                        .build()
                        .map_err(|e| (members[0].0, GlobError(e.to_string())))?;
                    let compiled = Arc::new(compiled);
                    cache.0.insert(regexes, Arc::clone(&compiled));
                    compiled
                }
            };
            by_prefix.insert(dir, groups.len());
            groups.push(Group {
                regexes: compiled,
                owners: members.iter().map(|(l, n, _)| (*l, *n)).collect(),
            });
        }
        Ok(GlobSet {
            groups,
            by_prefix,
            lists: count,
        })
    }

    /// Whether `path` matches some list of the set (for a set of one list: that list).
    pub fn is_match(&self, path: &str) -> bool {
        !self.matching_lists(path).is_empty()
    }

    /// The lists `path` matches, by index, ascending.
    pub fn matching_lists(&self, path: &str) -> Vec<usize> {
        // 0 = no match, 1 = positive, 2 = excluded.
        let mut state = vec![0u8; self.lists];
        let mut run = |group: &Group| {
            for idx in group.regexes.matches(path).iter() {
                let (list, negated) = group.owners[idx];
                if negated {
                    state[list] = 2;
                } else if state[list] == 0 {
                    state[list] = 1;
                }
            }
        };
        if path.is_ascii() {
            // Only the groups of the path's own ancestor directories can match it.
            if let Some(&g) = self.by_prefix.get("") {
                run(&self.groups[g]);
            }
            if self.groups.len() > usize::from(self.by_prefix.contains_key("")) {
                let lower = path.to_ascii_lowercase();
                for (i, _) in lower.match_indices('/') {
                    if let Some(&g) = self.by_prefix.get(&lower[..i]) {
                        run(&self.groups[g]);
                    }
                }
            }
        } else {
            // Case-insensitive matching folds some non-ASCII letters onto ASCII ones (the Kelvin
            // sign matches `k`), so a non-ASCII path is checked against every group.
            self.groups.iter().for_each(&mut run);
        }
        state
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == 1)
            .map(|(i, _)| i)
            .collect()
    }
}

/// The lowercased leading directories of a glob that are plain names, e.g. `services/api` for
/// `services/api/src/**/*.rs` or `!Services/API/*.md`: the glob can only match paths under them.
/// Stops at the first segment holding anything but ASCII letters, digits, `-`, `_` and `.`
/// (wildcards, braces, escapes, `.` or `..`), so a shorter answer is always safe; `""` means the
/// glob may match anywhere. The last segment names files and is never part of it.
fn literal_dir(pattern: &str) -> String {
    let glob = pattern.strip_prefix('!').unwrap_or(pattern);
    let segments: Vec<&str> = glob.split('/').collect();
    let mut dir = String::new();
    for segment in &segments[..segments.len() - 1] {
        let plain = !segment.is_empty()
            && !segment.bytes().all(|b| b == b'.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !plain {
            break;
        }
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(&segment.to_ascii_lowercase());
    }
    dir
}

/// Pattern lists that exercise grouping: catch-all, negations, case, braces, a list of only
/// negatives. Shared by the set's and the matcher's tests, which compare grouped matching
/// with each list on its own.
#[cfg(test)]
pub(crate) const SAMPLE_LISTS: &[&[&str]] = &[
    &["**/*"],
    &["src/**", "!src/gen/**"],
    &["SRC/Api/*.rs", "docs/**/*.md"],
    &["src/{api,web}/**/*.{rs,ts}"],
    &["!src/**"],
    &["src/api/v1/**", "**/*.md", "!**/README.md"],
];

/// Paths to try [`SAMPLE_LISTS`] on, including case and Unicode case-folding traps.
#[cfg(test)]
pub(crate) const SAMPLE_PATHS: &[&str] = &[
    "src/api/a.rs",
    "Src/API/a.rs",
    "src/api/v1/x/README.md",
    "src/api/v1/x/notes.md",
    "src/gen/a.rs",
    "src/web/deep/a.ts",
    "docs/a/b/c.md",
    "docs/README.md",
    "README.md",
    "other/src/api/a.rs",
    "src/\u{212A}/a.rs",
    "\u{17F}rc/api/a.rs",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_dir_stops_at_the_first_segment_that_is_not_a_plain_name() {
        assert_eq!(literal_dir("services/API/src/**/*.rs"), "services/api/src");
        assert_eq!(literal_dir("!docs/guide/*.md"), "docs/guide");
        assert_eq!(literal_dir("libs/{a,b}/x.rs"), "libs");
        assert_eq!(literal_dir("src/{a/x,b/y}/z"), "src");
        assert_eq!(literal_dir("a//b/c"), "a");
        assert_eq!(literal_dir("./src/x"), "");
        assert_eq!(literal_dir("**/*.rs"), "");
        assert_eq!(literal_dir("README.md"), "");
        assert_eq!(literal_dir("x\\*/y"), "");
        assert_eq!(literal_dir("a b/c"), "");
    }

    /// The list semantics without any grouping: every expansion on its own regex.
    fn ungrouped(path: &str, patterns: &[&str]) -> bool {
        let mut positive = false;
        for pattern in patterns {
            for t in translate_within(pattern, MAX_EXPANSIONS).unwrap() {
                if regex::Regex::new(&t.regex).unwrap().is_match(path) {
                    if t.negated {
                        return false;
                    }
                    positive = true;
                }
            }
        }
        positive
    }

    #[test]
    fn grouping_by_directory_gives_the_answer_of_each_list_alone() {
        let mut lists = SAMPLE_LISTS.to_vec();
        lists.push(&[]);
        let lists = &lists[..];
        let set = GlobSet::from_lists(lists.iter().copied(), &mut SetCache::default()).unwrap();
        for path in SAMPLE_PATHS {
            let expected: Vec<usize> = lists
                .iter()
                .enumerate()
                .filter(|(_, patterns)| ungrouped(path, patterns))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(set.matching_lists(path), expected, "{path}");
            for (i, patterns) in lists.iter().enumerate() {
                let one = GlobSet::new(patterns).unwrap();
                assert_eq!(
                    one.is_match(path),
                    expected.contains(&i),
                    "{path} {patterns:?}"
                );
            }
        }
    }

    #[test]
    fn a_list_over_the_expansion_budget_is_an_error() {
        let many = "{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}";
        assert!(GlobSet::new(&[many]).is_ok());
        assert!(GlobSet::new(&[many, many]).is_err());
        let lists: [&[&str]; 2] = [&["x"], &[many, many]];
        let failed = GlobSet::from_lists(lists, &mut SetCache::default()).unwrap_err();
        assert_eq!(failed.0, 1);
    }

    #[test]
    fn sets_built_with_one_cache_share_compiled_groups() {
        let mut cache = SetCache::default();
        let a = GlobSet::from_lists([["src/**"]], &mut cache).unwrap();
        let b = GlobSet::from_lists([["src/**"]], &mut cache).unwrap();
        assert!(Arc::ptr_eq(&a.groups[0].regexes, &b.groups[0].regexes));
        assert_eq!(cache.0.len(), 1);
    }
}
