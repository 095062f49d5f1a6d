//! Unified diffs as the engine reads them: files, hunks and lines, parsed from `git diff`
//! output or a forge's per-file patch. The one diff parser of the workspace: the action feeds it
//! `git diff` as it streams, the service feeds it the forge's diff for its summaries.

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

/// A file of a forge's diff API (GitHub's `patch`, GitLab's `diff`) as a [`FileDiff`], parsed
/// with the same rules and limits as a local diff. `when_empty` is why an empty patch means the
/// lines are unknown (`None` when an empty patch means no line changed, e.g. a pure rename).
pub fn api_file_diff(
    old_path: &str,
    new_path: &str,
    patch: &str,
    when_empty: Option<Unread>,
) -> FileDiff {
    let mut file = parse_diff(&format!("diff --git a/{old_path} b/{new_path}\n{patch}"))
        .pop()
        .unwrap_or_default();
    file.path = new_path.to_string();
    file.old_path = (old_path != new_path).then(|| old_path.to_string());
    if patch.trim().is_empty() && file.unreadable.is_none() {
        file.unreadable = when_empty;
    }
    file
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
    fn unquotes_octal_escapes() {
        assert_eq!(unquote("\"caf\\303\\251\""), "café");
        assert_eq!(unquote("plain"), "plain");
    }
}
