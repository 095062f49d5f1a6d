//! The optional AI summary of a pull request (issue 7), pure parts, one job per module:
//! [`trigger`](mod@trigger) (which forge events ask for one), [`classify`](mod@classify) (what
//! a file is), [`budget`] (how a diff is cut to the size budget), [`prompt`](mod@prompt) (what
//! is asked of the model) and [`render`] (how the summary is shown). The effects (fetching the
//! diff, calling the model, posting) live in the worker's `ai` module and the
//! [`crate::clients::diff`] and [`crate::clients::llm`] clients; the model's wire format is the
//! LLM client's.
//!
//! Why a budget and a ranking: a model's context is small and a self-hosted one is slow, so
//! the diff sent is bounded (`LLM_DIFF_BUDGET` bytes for the whole user message). What fits is
//! chosen so the summary is about the code: source files first, then documentation; lockfiles,
//! generated, minified and vendored files and binaries are never sent. Every file left out is
//! named, to the model (so it does not guess) and under the posted summary (so reviewers know
//! what it did not see).
//!
//! Nothing here is stored or logged: the diff, the prompt and the summary live in memory for
//! the duration of one event. `Debug` on these types prints sizes, never text.

pub mod budget;
pub mod classify;
pub mod prompt;
pub mod render;
pub mod trigger;

use codereview_policy::diff::{FileSection, PatchStatus, forge_patch_file, split_files};

pub use budget::{Cut, LeftOut, Why, cut};
pub use classify::{FileClass, classify};
pub use prompt::{HEADER_RESERVE, MIN_BUDGET, Prompt, SYSTEM_PROMPT, prompt};
pub use render::{defuse_mentions, footer, forge_comment, slack_reply};
pub use trigger::{SummaryTrigger, trigger};

/// The most characters of a summary that are posted (a Slack section holds 3000).
pub const MAX_SUMMARY_CHARS: usize = 2500;

/// Longest path named in the prompt's header or under a posted summary.
const PATH_MAX: usize = 300;

/// One file's part of a diff.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct FileDiff {
    /// Path (the new path; the old one for a deleted file).
    pub path: String,
    /// Its unified diff, headers included, ending with a newline.
    pub text: String,
    /// The forge says it is binary.
    pub binary: bool,
    /// The forge sent no patch for it (too large to diff).
    pub too_large: bool,
    /// The forge marks it generated (GitLab `generated_file`).
    pub generated: bool,
}

impl std::fmt::Debug for FileDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDiff")
            .field("bytes", &self.text.len())
            .field("binary", &self.binary)
            .field("too_large", &self.too_large)
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

/// A fetched diff: its files, and whether the forge's answer was too large to read in full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrDiff {
    /// Files in the forge's order.
    pub files: Vec<FileDiff>,
    /// Only the beginning was read: later files are unknown.
    pub incomplete: bool,
}

impl FileDiff {
    /// A file of a `git diff` (one of [`split_files`]'s sections), its text ending with a
    /// newline.
    pub fn from_section(section: FileSection<'_>) -> Self {
        let mut text = section.text.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        FileDiff {
            path: section.path,
            text,
            binary: section.binary,
            ..FileDiff::default()
        }
    }

    /// A file of a forge's per-file diff API (GitLab's `/diffs`, GitHub's `/files`), its patch
    /// wrapped into `git diff` text by the engine's [`forge_patch_file`].
    pub fn from_patch(old_path: &str, new_path: &str, status: PatchStatus, patch: &str) -> Self {
        let text = forge_patch_file(old_path, new_path, status, patch);
        let binary = split_files(&text).iter().any(|s| s.binary);
        let path = if status == PatchStatus::Deleted {
            old_path
        } else {
            new_path
        };
        FileDiff {
            path: path.to_string(),
            text,
            binary,
            ..FileDiff::default()
        }
    }
}

/// The files of a `git diff`-style unified diff (GitHub's `application/vnd.github.diff`), cut
/// by the engine's parser ([`split_files`]), paths unquoted.
pub fn files_of_unified(diff: &str) -> Vec<FileDiff> {
    split_files(diff)
        .into_iter()
        .map(FileDiff::from_section)
        .collect()
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a char boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` on one line (control characters become spaces), trimmed, at most `max` bytes.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    prefix(flat.trim(), max).to_string()
}

/// Diffs for the unit tests of the summary's modules.
#[cfg(test)]
pub(super) mod fixtures {
    use super::{FileDiff, PrDiff};

    /// A source-like file of about `body_bytes` bytes of diff text.
    pub fn file(path: &str, body_bytes: usize) -> FileDiff {
        let mut text =
            format!("diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n");
        while text.len() < body_bytes {
            text.push_str("+let x = 1; // some code line\n");
        }
        FileDiff {
            path: path.into(),
            text,
            ..FileDiff::default()
        }
    }

    /// A complete diff of `files`.
    pub fn pr(files: Vec<FileDiff>) -> PrDiff {
        PrDiff {
            files,
            incomplete: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_git_diff_into_files() {
        let diff = "diff --git a/src/lib.rs b/src/lib.rs\n\
index 1..2 100644\n\
--- a/src/lib.rs\n\
+++ b/src/lib.rs\n\
@@ -1,2 +1,2 @@\n\
-old\n\
+new\n\
--- not a header, a removed line that starts with dashes\n\
diff --git a/gone.txt b/gone.txt\n\
deleted file mode 100644\n\
--- a/gone.txt\n\
+++ /dev/null\n\
@@ -1 +0,0 @@\n\
-bye\n\
diff --git a/logo.png b/logo.png\n\
new file mode 100644\n\
Binary files /dev/null and b/logo.png differ\n\
diff --git a/old name.rs b/new name.rs\n\
similarity index 100%\n\
rename from old name.rs\n\
rename to new name.rs\n";
        let files = files_of_unified(diff);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["src/lib.rs", "gone.txt", "logo.png", "new name.rs"]);
        assert!(files[0].text.contains("+new\n"));
        assert!(files[0].text.contains("--- not a header"));
        assert!(!files[0].binary && files[2].binary);
        assert_eq!(
            files.iter().map(|f| f.text.len()).sum::<usize>(),
            diff.len(),
            "every byte lands in one file"
        );
        assert!(files_of_unified("").is_empty());
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        let diff = "diff --git \"a/caf\\303\\251 \\\"x\\\".rs\" \"b/caf\\303\\251 \\\"x\\\".rs\"\n\
--- \"a/caf\\303\\251 \\\"x\\\".rs\"\n\
+++ \"b/caf\\303\\251 \\\"x\\\".rs\"\n\
@@ -1 +1 @@\n\
-a\n\
+b";
        let files = files_of_unified(diff);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "café \"x\".rs");
        assert_eq!(
            files[0].text,
            format!("{diff}\n"),
            "the text ends with a newline"
        );
    }

    #[test]
    fn builds_files_from_patches() {
        let f = FileDiff::from_patch("a.rs", "a.rs", PatchStatus::Modified, "@@ -1 +1 @@\n-x\n+y");
        assert_eq!(
            f.text,
            "diff --git a/a.rs b/a.rs\n--- a/a.rs\n+++ b/a.rs\n@@ -1 +1 @@\n-x\n+y\n"
        );
        let f = FileDiff::from_patch("x.rs", "x.rs", PatchStatus::Deleted, "@@ -1 +0,0 @@\n-x\n");
        assert_eq!(f.path, "x.rs");
        assert!(f.text.contains("+++ /dev/null"));
        let f = FileDiff::from_patch(
            "i.png",
            "i.png",
            PatchStatus::Added,
            "Binary files /dev/null and b/i.png differ\n",
        );
        assert!(f.binary);
        let f = FileDiff::from_patch("o.rs", "n.rs", PatchStatus::Renamed, "");
        assert_eq!(f.path, "n.rs");
        assert!(!f.binary);
        assert!(f.text.contains("rename from o.rs\nrename to n.rs\n"));
    }
}
