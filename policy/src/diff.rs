//! Unified diffs as the engine reads them: files, hunks and lines, parsed from `git diff`
//! output or a forge's per-file patch. The one diff parser of the workspace: the action feeds it
//! `git diff` as it streams; the service cuts the forge's diff into per-file text for its
//! summaries with [`split_files`] and [`forge_patch_file`], read by the same rules.

use crate::unread::Unread;

/// What kind of line a diff line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `+`
    Added,
    /// `-`
    Removed,
    /// ` ` (context)
    Context,
}

impl LineKind {
    /// The prefix character git prints.
    pub fn prefix(self) -> char {
        match self {
            LineKind::Added => '+',
            LineKind::Removed => '-',
            LineKind::Context => ' ',
        }
    }
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// Added, removed or context.
    pub kind: LineKind,
    /// Line number in the new file (added and context lines) or the old file (removed lines).
    pub line: u32,
    /// The text without the prefix or newline.
    pub text: String,
}

/// One contiguous run of diff lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hunk {
    /// Its lines in order.
    pub lines: Vec<DiffLine>,
}

/// One file of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileDiff {
    /// The path after the change (for a deletion, the deleted path).
    pub path: String,
    /// The path before, when it differs (rename or copy).
    pub old_path: Option<String>,
    /// Hunks (none for pure renames and for files whose lines could not be read).
    pub hunks: Vec<Hunk>,
    /// Added lines (counted even when the hunks were dropped for size).
    pub additions: usize,
    /// Removed lines (likewise).
    pub deletions: usize,
    /// Set when the changed lines are not all in `hunks`: `code` scopes then fail closed.
    pub unreadable: Option<Unread>,
}

/// A file's hunk text above this many bytes is not kept (the file is [`Unread::TooLarge`], so
/// every `code` scope matching its path applies): it bounds memory and regex time per file.
pub const MAX_FILE_DIFF_BYTES: usize = 8 << 20;

/// Hunk text kept over the whole diff; files past it are [`Unread::TooLarge`]. With
/// [`MAX_FILE_DIFF_BYTES`] it bounds what `code` regexes scan in one run.
pub const MAX_DIFF_BYTES: usize = 64 << 20;

/// How much hunk text a parse keeps (see [`MAX_FILE_DIFF_BYTES`] and [`MAX_DIFF_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffLimits {
    /// Per file.
    pub per_file: usize,
    /// Over all files.
    pub total: usize,
}

impl DiffLimits {
    /// Keep no hunk text at all: paths, line counts and binary markers only (what
    /// [`split_files`] needs, so splitting a large diff costs no copy of its lines).
    pub const NONE: DiffLimits = DiffLimits {
        per_file: 0,
        total: 0,
    };
}

impl Default for DiffLimits {
    fn default() -> Self {
        DiffLimits {
            per_file: MAX_FILE_DIFF_BYTES,
            total: MAX_DIFF_BYTES,
        }
    }
}

/// Parse unified diff text as `git diff` prints it (default [`DiffLimits`]).
pub fn parse_diff(text: &str) -> Vec<FileDiff> {
    parse_diff_with(text, DiffLimits::default())
}

/// [`parse_diff`] with explicit limits.
pub fn parse_diff_with(text: &str, limits: DiffLimits) -> Vec<FileDiff> {
    let mut parser = DiffParser::new(limits);
    for line in text.split('\n') {
        parser.line(line, line.len());
    }
    parser.finish()
}

/// What a forge's diff API says happened to a file (GitHub's `status`, GitLab's
/// `new_file`/`deleted_file`/`renamed_file`), for [`forge_patch_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchStatus {
    /// New file.
    Added,
    /// Removed file.
    Deleted,
    /// Moved (possibly changed).
    Renamed,
    /// Changed in place.
    Modified,
}

/// A forge's per-file patch (GitHub's `patch`, GitLab's `diff`: hunks without headers) wrapped
/// into the `diff --git` text git would print for the file, so one parser reads forge diffs and
/// local ones alike. A binary marker (`Binary files ... differ`) is kept as is; an empty patch
/// gives the headers only. The text ends with a newline.
pub fn forge_patch_file(
    old_path: &str,
    new_path: &str,
    status: PatchStatus,
    patch: &str,
) -> String {
    let mut text = format!("diff --git a/{old_path} b/{new_path}\n");
    let (from, to) = match status {
        PatchStatus::Added => {
            text.push_str("new file\n");
            ("/dev/null".to_string(), format!("b/{new_path}"))
        }
        PatchStatus::Deleted => {
            text.push_str("deleted file\n");
            (format!("a/{old_path}"), "/dev/null".to_string())
        }
        PatchStatus::Renamed => {
            text.push_str(&format!("rename from {old_path}\nrename to {new_path}\n"));
            (format!("a/{old_path}"), format!("b/{new_path}"))
        }
        PatchStatus::Modified => (format!("a/{old_path}"), format!("b/{new_path}")),
    };
    if patch.is_empty() {
        return text;
    }
    if !patch.starts_with("Binary files ") {
        text.push_str(&format!("--- {from}\n+++ {to}\n"));
    }
    text.push_str(patch);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// A file of a forge's diff API (GitHub's `patch`, GitLab's `diff`) as a [`FileDiff`], parsed
/// with the same rules and limits as a local diff. `when_empty` is why an empty patch means the
/// lines are unknown (`None` when an empty patch means no line changed, e.g. a pure rename).
pub fn api_file_diff(
    old_path: &str,
    new_path: &str,
    patch: &str,
    when_empty: Option<Unread>,
) -> FileDiff {
    let status = if old_path == new_path {
        PatchStatus::Modified
    } else {
        PatchStatus::Renamed
    };
    let mut file = parse_diff(&forge_patch_file(old_path, new_path, status, patch))
        .pop()
        .unwrap_or_default();
    file.path = new_path.to_string();
    file.old_path = (old_path != new_path).then(|| old_path.to_string());
    if patch.trim().is_empty() && file.unreadable.is_none() {
        file.unreadable = when_empty;
    }
    file
}

/// One file's part of a diff as text, with what the headers say about it: what a caller that
/// passes diffs on (the service's AI summary) needs, without the parsed lines.
#[derive(Clone, PartialEq, Eq)]
pub struct FileSection<'a> {
    /// The path after the change (for a deletion, the deleted path), unquoted.
    pub path: String,
    /// The path before, when it differs (rename or copy).
    pub old_path: Option<String>,
    /// The file's text, from its `diff --git` line up to the next file's.
    pub text: &'a str,
    /// The diff only says the file is binary (`Binary files ... differ`, `GIT binary patch`).
    pub binary: bool,
}

impl std::fmt::Debug for FileSection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSection")
            .field("path", &self.path)
            .field("old_path", &self.old_path)
            .field("bytes", &self.text.len())
            .field("binary", &self.binary)
            .finish()
    }
}

/// Splits `git diff` text into its files, each with its raw text and what [`DiffParser`] reads
/// from its headers (paths unquoted, binary markers). Every byte from the first `diff --git`
/// line on lands in exactly one section; text before it is not a file and is dropped.
pub fn split_files(text: &str) -> Vec<FileSection<'_>> {
    let mut parser = DiffParser::new(DiffLimits::NONE);
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            starts.push(offset);
        }
        let bare = line.strip_suffix('\n').unwrap_or(line);
        parser.line(bare, bare.len());
        offset += line.len();
    }
    let files = parser.finish();
    debug_assert_eq!(
        files.len(),
        starts.len(),
        "one section per `diff --git` line"
    );
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    files
        .into_iter()
        .zip(starts.iter().copied().zip(ends))
        .map(|(file, (start, end))| FileSection {
            binary: file.unreadable == Some(Unread::Binary),
            path: file.path,
            old_path: file.old_path,
            text: &text[start..end],
        })
        .collect()
}

/// Incremental unified-diff parser: fed line by line, it keeps each file's hunks up to the
/// limits and still counts every added and removed line past them. Public so a caller reading
/// `git diff` as a stream never holds the whole text.
pub struct DiffParser {
    files: Vec<FileDiff>,
    limits: DiffLimits,
    old_no: u32,
    new_no: u32,
    in_hunk: bool,
    /// Hunk text kept for the current file, and over all files.
    file_kept: usize,
    total_kept: usize,
}

impl DiffParser {
    /// A parser that keeps at most `limits` of hunk text.
    pub fn new(limits: DiffLimits) -> Self {
        DiffParser {
            files: Vec::new(),
            limits,
            old_no: 0,
            new_no: 0,
            in_hunk: false,
            file_kept: 0,
            total_kept: 0,
        }
    }

    /// One line without its newline; `full_len` is its length before any cap (longer than
    /// `raw` when the reader cut it).
    pub fn line(&mut self, raw: &str, full_len: usize) {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix("diff --git ") {
            self.files.push(FileDiff {
                path: header_path(rest),
                ..FileDiff::default()
            });
            self.in_hunk = false;
            self.file_kept = 0;
            return;
        }
        let Some(file) = self.files.last_mut() else {
            return;
        };
        if let Some(rest) = line.strip_prefix("@@ ") {
            let (o, n) = parse_hunk_header(rest);
            self.old_no = o;
            self.new_no = n;
            if file.unreadable != Some(Unread::TooLarge) {
                file.hunks.push(Hunk::default());
            }
            self.in_hunk = true;
            return;
        }
        if self.in_hunk {
            let (kind, text) = match line.chars().next() {
                Some('+') => (LineKind::Added, &line[1..]),
                Some('-') => (LineKind::Removed, &line[1..]),
                Some(' ') => (LineKind::Context, &line[1..]),
                Some('\\') => return, // "\ No newline at end of file"
                _ => {
                    self.in_hunk = false;
                    return self.header_line(line);
                }
            };
            let number = match kind {
                LineKind::Removed => {
                    self.old_no += 1;
                    file.deletions += 1;
                    self.old_no - 1
                }
                LineKind::Added => {
                    self.new_no += 1;
                    file.additions += 1;
                    self.new_no - 1
                }
                LineKind::Context => {
                    self.old_no += 1;
                    self.new_no += 1;
                    self.new_no - 1
                }
            };
            if file.unreadable == Some(Unread::TooLarge) {
                return;
            }
            let size = full_len.max(line.len()) + 1;
            if self.file_kept + size > self.limits.per_file
                || self.total_kept + size > self.limits.total
            {
                // Too much to keep: drop what this file kept, count the rest, fail closed.
                self.total_kept -= self.file_kept;
                self.file_kept = 0;
                file.hunks.clear();
                file.unreadable = Some(Unread::TooLarge);
                return;
            }
            self.file_kept += size;
            self.total_kept += size;
            file.hunks
                .last_mut()
                .expect("in_hunk implies a hunk")
                .lines
                .push(DiffLine {
                    kind,
                    line: number,
                    text: text.to_string(),
                });
            return;
        }
        self.header_line(line);
    }

    /// A line between hunks: rename/copy headers, `---`/`+++` paths, binary markers.
    fn header_line(&mut self, line: &str) {
        let Some(file) = self.files.last_mut() else {
            return;
        };
        if let Some(p) = line
            .strip_prefix("rename to ")
            .or_else(|| line.strip_prefix("copy to "))
        {
            file.path = unquote(p);
        } else if let Some(p) = line
            .strip_prefix("rename from ")
            .or_else(|| line.strip_prefix("copy from "))
        {
            file.old_path = Some(unquote(p));
        } else if let Some(p) = line.strip_prefix("+++ ") {
            if p != "/dev/null" {
                file.path = strip_side(&unquote(p));
            }
        } else if let Some(p) = line.strip_prefix("--- ") {
            if p != "/dev/null" {
                let old = strip_side(&unquote(p));
                if old != file.path {
                    file.old_path.get_or_insert(old);
                }
            }
        } else if (line.starts_with("Binary files ") && line.ends_with(" differ"))
            || line == "GIT binary patch"
        {
            file.unreadable.get_or_insert(Unread::Binary);
        }
    }

    /// The files parsed so far, the last one closed.
    pub fn finish(mut self) -> Vec<FileDiff> {
        for f in &mut self.files {
            if f.old_path.as_deref() == Some(f.path.as_str()) {
                f.old_path = None;
            }
        }
        self.files
    }
}

fn parse_hunk_header(rest: &str) -> (u32, u32) {
    // "-12,3 +14,5 @@ fn context"
    let mut parts = rest.split(' ');
    let num = |s: Option<&str>, sign: char| {
        s.and_then(|s| s.strip_prefix(sign))
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let old = num(parts.next(), '-');
    let new = num(parts.next(), '+');
    (old, new)
}

/// The path in a `diff --git a/X b/X` header (exact when both sides are equal, which holds for
/// everything but renames, whose `rename to` line then corrects it).
fn header_path(rest: &str) -> String {
    let rest = rest.trim_end();
    if rest.starts_with('"') || rest.contains(" \"") {
        // Quoted names: the second token is the new path.
        let second = if let Some(stripped) = rest.strip_prefix('"') {
            let end = find_closing_quote(stripped).map_or(rest.len(), |i| i + 2);
            rest[end..].trim_start()
        } else {
            rest.split_once(" \"").map_or(rest, |(_, b)| b)
        };
        let second = if second.starts_with('"') {
            second.to_string()
        } else {
            format!("\"{second}")
        };
        return strip_side(&unquote(&second));
    }
    let len = rest.len();
    if len >= 5 && (len - 5).is_multiple_of(2) {
        let n = (len - 5) / 2;
        let (left, right) = (&rest[2..2 + n], &rest[5 + n..]);
        if left == right {
            return left.to_string();
        }
    }
    rest.rsplit_once(" b/")
        .map_or(rest.to_string(), |(_, b)| b.to_string())
}

fn find_closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn strip_side(p: &str) -> String {
    p.strip_prefix("a/")
        .or_else(|| p.strip_prefix("b/"))
        .unwrap_or(p)
        .to_string()
}

/// Undo git's C-style quoting of unusual path names (`"caf\303\251.txt"`).
pub fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_string();
    };
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let c = bytes[i + 1];
            let simple = match c {
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'a' => Some(7),
                b'b' => Some(8),
                b'f' => Some(12),
                b'v' => Some(11),
                _ => None,
            };
            if let Some(b) = simple {
                out.push(b);
                i += 2;
                continue;
            }
            if c.is_ascii_digit() {
                let end = (i + 4).min(bytes.len());
                let digits = &inner[i + 1..end];
                if let Ok(v) = u8::from_str_radix(digits, 8) {
                    out.push(v);
                    i = end;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_diff_with_renames_binaries_and_quoted_names() {
        let text = "\
diff --git a/src/a.py b/src/a.py
index 1..2 100644
--- a/src/a.py
+++ b/src/a.py
@@ -1,3 +1,4 @@ def f():
 one
-two
+TWO
+three
 four
diff --git a/old name.txt b/new name.txt
similarity index 100%
rename from old name.txt
rename to new name.txt
diff --git a/img.png b/img.png
Binary files a/img.png and b/img.png differ
diff --git \"a/caf\\303\\251.txt\" \"b/caf\\303\\251.txt\"
new file mode 100644
--- /dev/null
+++ \"b/caf\\303\\251.txt\"
@@ -0,0 +1 @@
+hi
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
";
        let files = parse_diff(text);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "src/a.py",
                "new name.txt",
                "img.png",
                "café.txt",
                "gone.txt"
            ]
        );
        assert_eq!(files[1].old_path.as_deref(), Some("old name.txt"));
        let a = &files[0];
        assert_eq!((a.additions, a.deletions), (2, 1));
        let lines: Vec<(char, u32, &str)> = a.hunks[0]
            .lines
            .iter()
            .map(|l| (l.kind.prefix(), l.line, l.text.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (' ', 1, "one"),
                ('-', 2, "two"),
                ('+', 2, "TWO"),
                ('+', 3, "three"),
                (' ', 4, "four")
            ]
        );
        assert!(files[2].hunks.is_empty());
        assert_eq!(files[4].deletions, 1);
    }

    #[test]
    fn binary_markers_make_a_file_unreadable() {
        let files = parse_diff(
            "diff --git a/a.png b/a.png\nindex 1..2 100644\nBinary files a/a.png and b/a.png differ\n\
             diff --git a/b.bin b/b.bin\nGIT binary patch\nliteral 3\n",
        );
        assert_eq!(files.len(), 2);
        assert!(
            files
                .iter()
                .all(|f| f.unreadable == Some(Unread::Binary) && f.hunks.is_empty())
        );
    }

    fn added_lines(path: &str, lines: usize, width: usize) -> String {
        let mut text = format!("diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n");
        text.push_str(&format!("@@ -0,0 +1,{lines} @@\n"));
        for _ in 0..lines {
            text.push('+');
            text.push_str(&"x".repeat(width));
            text.push('\n');
        }
        text
    }

    #[test]
    fn a_file_over_the_cap_is_too_large_and_keeps_its_line_counts() {
        let limits = DiffLimits {
            per_file: 100,
            total: 1000,
        };
        let text = format!(
            "{}{}",
            added_lines("big", 20, 9),
            added_lines("small", 2, 9)
        );
        let files = parse_diff_with(&text, limits);
        assert_eq!(files[0].unreadable, Some(Unread::TooLarge));
        assert!(files[0].hunks.is_empty());
        assert_eq!(files[0].additions, 20);
        assert_eq!(files[1].unreadable, None);
        assert_eq!(files[1].hunks[0].lines.len(), 2);
    }

    #[test]
    fn files_past_the_total_cap_are_too_large() {
        let limits = DiffLimits {
            per_file: 100,
            total: 150,
        };
        let text = format!("{}{}", added_lines("a", 8, 9), added_lines("b", 8, 9));
        let files = parse_diff_with(&text, limits);
        assert_eq!(files[0].unreadable, None);
        assert_eq!(files[1].unreadable, Some(Unread::TooLarge));
        assert_eq!(files[1].additions, 8);
    }

    #[test]
    fn api_patches_missing_for_a_changed_file_fail_closed() {
        let none = api_file_diff("a.js", "a.js", "", Some(Unread::NoPatch));
        assert_eq!(none.unreadable, Some(Unread::NoPatch));
        let moved = api_file_diff("old.js", "new.js", "", None);
        assert_eq!(
            (moved.unreadable, moved.old_path.as_deref()),
            (None, Some("old.js"))
        );
        let text = api_file_diff("a.js", "a.js", "@@ -1 +1 @@\n-a\n+b", Some(Unread::NoPatch));
        assert_eq!((text.unreadable, text.additions), (None, 1));
    }

    #[test]
    fn forge_patches_become_git_diff_text() {
        let modified =
            forge_patch_file("a.rs", "a.rs", PatchStatus::Modified, "@@ -1 +1 @@\n-x\n+y");
        assert_eq!(
            modified,
            "diff --git a/a.rs b/a.rs\n--- a/a.rs\n+++ b/a.rs\n@@ -1 +1 @@\n-x\n+y\n"
        );
        let added = forge_patch_file("n.rs", "n.rs", PatchStatus::Added, "@@ -0,0 +1 @@\n+x\n");
        assert!(
            added.contains("new file\n--- /dev/null\n+++ b/n.rs\n@@"),
            "{added}"
        );
        let deleted = forge_patch_file("x.rs", "x.rs", PatchStatus::Deleted, "@@ -1 +0,0 @@\n-x\n");
        assert!(deleted.contains("--- a/x.rs\n+++ /dev/null\n"), "{deleted}");
        let moved = forge_patch_file("o.rs", "n.rs", PatchStatus::Renamed, "");
        assert_eq!(
            moved,
            "diff --git a/o.rs b/n.rs\nrename from o.rs\nrename to n.rs\n"
        );
        let binary = forge_patch_file(
            "i.png",
            "i.png",
            PatchStatus::Added,
            "Binary files /dev/null and b/i.png differ",
        );
        assert!(!binary.contains("+++"), "{binary}");
        // The parser reads them back.
        let files = parse_diff(&format!("{modified}{deleted}{moved}{binary}"));
        let paths: Vec<(&str, Option<&str>)> = files
            .iter()
            .map(|f| (f.path.as_str(), f.old_path.as_deref()))
            .collect();
        assert_eq!(
            paths,
            [
                ("a.rs", None),
                ("x.rs", None),
                ("n.rs", Some("o.rs")),
                ("i.png", None)
            ]
        );
        let counts: Vec<(usize, usize, Option<Unread>)> = files
            .iter()
            .map(|f| (f.additions, f.deletions, f.unreadable))
            .collect();
        assert_eq!(
            counts,
            [
                (1, 1, None),
                (0, 1, None),
                (0, 0, None),
                (0, 0, Some(Unread::Binary))
            ]
        );
    }

    #[test]
    fn splits_a_diff_into_file_sections() {
        let diff = "preamble that is not a file\n\
diff --git a/src/lib.rs b/src/lib.rs\n\
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
rename to new name.rs\n\
diff --git \"a/caf\\303\\251.txt\" \"b/caf\\303\\251.txt\"\n\
--- \"a/caf\\303\\251.txt\"\n\
+++ \"b/caf\\303\\251.txt\"\n\
@@ -1 +1 @@\n\
-a\n\
+b";
        let files = split_files(diff);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "src/lib.rs",
                "gone.txt",
                "logo.png",
                "new name.rs",
                "café.txt"
            ]
        );
        assert_eq!(files[3].old_path.as_deref(), Some("old name.rs"));
        assert!(files[0].text.starts_with("diff --git a/src/lib.rs"));
        assert!(
            files[0]
                .text
                .ends_with("--- not a header, a removed line that starts with dashes\n")
        );
        assert!(
            files[4].text.ends_with("+b"),
            "the last section runs to the end"
        );
        let binary: Vec<bool> = files.iter().map(|f| f.binary).collect();
        assert_eq!(binary, [false, false, true, false, false]);
        assert_eq!(
            files.iter().map(|f| f.text.len()).sum::<usize>(),
            diff.len() - "preamble that is not a file\n".len(),
            "every byte of a file lands in one section"
        );
        assert!(split_files("").is_empty());
        assert!(
            format!("{:?}", files[0]).contains("bytes"),
            "Debug prints sizes, not text"
        );
    }

    #[test]
    fn unquotes_octal_escapes() {
        assert_eq!(unquote("\"caf\\303\\251\""), "café");
        assert_eq!(unquote("plain"), "plain");
    }
}
