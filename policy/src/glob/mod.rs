//! Path globs with PullApprove 5's semantics.
//!
//! PullApprove matches `paths` with Python `wcmatch.glob.globmatch` and the flags GLOBSTAR, BRACE,
//! NEGATE, IGNORECASE and DOTGLOB. Our answers must be the same as theirs, so this module
//! implements exactly that dialect instead of borrowing another library's: braces expand first
//! (`braces.rs`: bash-style, with `{1..3}` sequences), each expanded pattern is then translated to
//! one anchored regular expression (`translate.rs`), and pattern lists are compiled together into
//! a [`GlobSet`] (`set.rs`), once per config, never per file. [`GlobSet`] is the only way to
//! match: production matching ([`crate::matching`]) and the wcmatch differential test use the
//! same type, so the test proves what ships.
//!
//! The dialect, as matched against repository-relative file paths:
//! - `*` matches within one path segment (dotfiles included), `?` one character, `[...]` a class
//!   (`[!...]` or `[^...]` negated, POSIX `[:alpha:]` classes); none of them match `/`.
//! - `**` as a whole segment crosses directories (zero or more); elsewhere it is a plain `*`.
//! - `\` escapes the next character; matching ignores case; repeated `/` collapse.
//! - A leading `!` makes a pattern negative. A path matches a pattern list when it matches some
//!   positive pattern and no negative one; a list of only negative patterns matches nothing.

mod braces;
mod set;
mod translate;

pub use braces::expand_braces;
use braces::expand_braces_within;
pub use set::{GlobSet, SetCache};
#[cfg(test)]
pub(crate) use set::{SAMPLE_LISTS, SAMPLE_PATHS};

/// The most patterns one glob may expand to (`{a,b}{c,d}` is four); more is an error, as in
/// wcmatch, because it is almost certainly a mistake and would slow every match.
pub const MAX_EXPANSIONS: usize = 1000;

/// Why a glob cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError(pub String);

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GlobError {}

/// Check that a scope's whole pattern list can be expanded: wcmatch shares one budget of
/// [`MAX_EXPANSIONS`] across the list, and PullApprove fails on every file when it runs out, so
/// we reject such a list up front. On error, returns the index of the pattern that ran out.
pub fn check_patterns<'a>(
    patterns: impl IntoIterator<Item = &'a str>,
) -> Result<(), (usize, GlobError)> {
    let mut total = 0usize;
    let over_budget = || {
        GlobError(format!(
            "these paths expand to more than {MAX_EXPANSIONS} patterns in total"
        ))
    };
    for (k, pattern) in patterns.into_iter().enumerate() {
        let budget = MAX_EXPANSIONS.saturating_sub(total).max(1);
        // Past the first pattern the limit is what earlier ones left: say so, rather than
        // "expands to more than 3 patterns".
        total += expand_braces_within(pattern, budget)
            .map_err(|e| (k, if total == 0 { e } else { over_budget() }))?
            .len();
        if total > MAX_EXPANSIONS {
            return Err((k, over_budget()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str, patterns: &[&str]) -> bool {
        GlobSet::new(patterns).unwrap().is_match(path)
    }

    /// Every row was answered by PullApprove 5.19's `matches_path_patterns` (wcmatch 12).
    #[test]
    fn agrees_with_wcmatch_on_known_cases() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("src/api", &["src/api/**"], false),
            ("src/api/x", &["src/api/**"], true),
            ("src/api/x/y", &["src/api/**"], true),
            ("a.py", &["**/*.py"], true),
            ("a/b.py", &["**/*.py"], true),
            ("a/b.py", &["*.py"], false),
            ("package.json", &["**/*/package.json"], false),
            ("a/package.json", &["**/*/package.json"], true),
            (".github/x.yml", &["*/*.yml"], true),
            (".env", &["*"], true),
            ("a/.b/c", &["a/**/c"], true),
            ("a/c", &["a/**/c"], true),
            ("abc/d", &["a**/d"], true),
            ("abc/x/d", &["a**/d"], false),
            ("a/b.py", &["!a/b.py"], false),
            ("a/b.py", &["!a/c.py"], false),
            ("a/b.py", &["!a/c.py", "a/*"], true),
            ("a/b.py", &["a/*", "!a/b.py"], false),
            ("a/b.py", &["!a/b.py", "a/*"], false),
            ("A/B.PY", &["a/*.py"], true),
            ("a/b1", &["a/b{1..3}"], true),
            ("a/b2", &["a/b{1..3}"], true),
            ("a/b{1}", &["a/b{1}"], true),
            ("a/b1", &["a/b{1}"], false),
            ("a/bx", &["a/b{x,{y,z}}"], true),
            ("a/bz", &["a/b{x,{y,z}}"], true),
            ("a/b", &["a/[!c]"], true),
            ("a/b", &["a/[^c]"], true),
            ("a/c", &["a/[^c]"], false),
            ("a/b", &["a/[[:alpha:]]"], true),
            ("a/*", &["a/\\*"], true),
            ("a/b", &["a/\\*"], false),
            ("a/b", &["a/?"], true),
            ("a/b/c", &["a/**"], true),
            ("a", &["a/**"], false),
            ("a", &["**"], true),
            ("a/b", &["**"], true),
            ("a/b", &["a/"], false),
            ("a/b", &["a"], false),
            ("a/b", &["/a/b"], false),
            ("a/b", &["./a/b"], false),
            ("a/b", &["a//b"], true),
            ("a/b", &["a/**/**/b"], true),
            ("x/a/b", &["**/a/**"], true),
            ("a/b", &["@(a|c)/b"], false),
            ("a/b", &["a/b/"], false),
            ("a/b", &["a/b/**"], false),
            ("a/.b", &["a/*"], true),
            ("a/.b", &["a/.*"], true),
            ("a/b", &["a/.*"], false),
            ("ab", &["a[]b"], false),
            ("a]b", &["a[]]b"], true),
            ("a-b", &["a[a-]b"], true),
            ("a/b", &["a[/]b"], false),
            ("ab", &["{a,}b"], true),
            ("b", &["{a,}b"], true),
            ("a/b", &["{a/b,c}"], true),
            ("a/b", &["!!a/b"], false),
            ("a/b", &["a/{b}"], false),
            ("a/{b}", &["a/{b}"], true),
            ("a/b", &["a/{b,}"], true),
            ("a/b", &["a/{,b}"], true),
            ("ä/b", &["Ä/b"], true),
        ];
        for (path, patterns, expected) in cases {
            assert_eq!(m(path, patterns), *expected, "{path} vs {patterns:?}");
        }
    }
}
