//! Why a file's changed lines could not be checked by `code` rules.
//!
//! A merge gate must fail closed: when the lines a pull request changes cannot all be read (a
//! diff too large to scan, a forge API that gave no patch, a regex that hit its backtrack limit),
//! every `code` scope whose `paths` match the file counts as matched, and the summary says why.
//! Both the diff readers (the action's `git diff` reader and the forges' patch readers, through
//! [`crate::diff`]) and the matcher report through this type.

use serde::Serialize;

/// The reason a file's changed lines were not (all) checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unread {
    /// The diff only said "Binary files differ" (git without `--text`, or a forge's diff).
    Binary,
    /// The file's diff is over [`crate::diff::MAX_FILE_DIFF_BYTES`], or the whole diff is over
    /// [`crate::diff::MAX_DIFF_BYTES`], or the forge marked it too large to show.
    TooLarge,
    /// The forge's API listed the file as changed but gave no patch for it.
    NoPatch,
    /// A `code` regex stopped with a runtime error (its backtrack limit) on the file's lines.
    RegexLimit,
}

impl Unread {
    /// The words the summary and `codereview match` print after "could not read line changes: ".
    pub fn reason(self) -> &'static str {
        match self {
            Unread::Binary => "binary",
            Unread::TooLarge => "too large",
            Unread::NoPatch => "no patch from the API",
            Unread::RegexLimit => "regex limit",
        }
    }

    /// The full sentence, e.g. "could not read line changes: too large".
    pub fn sentence(self) -> String {
        format!("could not read line changes: {}", self.reason())
    }
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}
