//! The raw text of a unified diff cut into preamble, files and hunks, byte for byte, so that
//! `codereview diff` can re-emit the hunks it keeps verbatim (CRLF, control characters and
//! `\ No newline at end of file` markers included). The *meaning* of hunk lines comes from
//! [`crate::diff::parse_diff`]; this only finds where files and hunks start, by the same two
//! rules that parser uses (`diff --git ` and `@@ ` at the start of a line).

/// A hunk's `@@ -OLD[,LEN] +NEW[,LEN] @@` coordinates (`None` length: the 1 git leaves out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coords {
    /// First old line.
    pub old_start: u32,
    /// Old line count, when written.
    pub old_len: Option<u32>,
    /// First new line.
    pub new_start: u32,
    /// New line count, when written.
    pub new_len: Option<u32>,
}

impl Coords {
    /// Parse a hunk header line; `None` when it is not `@@ -A[,B] +C[,D] @@...`.
    pub fn parse(line: &str) -> Option<Coords> {
        let rest = line.strip_prefix("@@ -")?;
        let (old, rest) = rest.split_once(" +")?;
        let (new, _) = rest.split_once(" @@")?;
        let side = |s: &str| -> Option<(u32, Option<u32>)> {
            match s.split_once(',') {
                Some((a, b)) => Some((a.parse().ok()?, Some(b.parse().ok()?))),
                None => Some((s.parse().ok()?, None)),
            }
        };
        let (old_start, old_len) = side(old)?;
        let (new_start, new_len) = side(new)?;
        Some(Coords {
            old_start,
            old_len,
            new_start,
            new_len,
        })
    }

    /// `@@ -A,B +C,D @@` as `pa trust --list` prints it (lengths only where the diff had them).
    pub fn header(&self) -> String {
        let side = |start: u32, len: Option<u32>| match len {
            Some(l) => format!("{start},{l}"),
            None => start.to_string(),
        };
        format!(
            "@@ -{} +{} @@",
            side(self.old_start, self.old_len),
            side(self.new_start, self.new_len)
        )
    }

    /// A brand-new file's only hunk: `@@ -0,0 +1,N @@` (a zero-context insertion mid-file also
    /// has old length 0, but never starts at old line 0).
    pub fn is_new_file(&self) -> bool {
        self.old_start == 0 && self.old_len == Some(0)
    }
}

/// One hunk, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHunk<'a> {
    /// The `@@` line.
    pub header: &'a str,
    /// Every line up to the next hunk or file.
    pub body: Vec<&'a str>,
    /// Parsed coordinates; `None` for a malformed header (such a hunk is never trusted).
    pub coords: Option<Coords>,
}

/// One file, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile<'a> {
    /// `diff --git` and the metadata lines before the first hunk.
    pub header: Vec<&'a str>,
    /// Its hunks.
    pub hunks: Vec<RawHunk<'a>>,
}

/// A whole diff, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawDiff<'a> {
    /// Lines before the first file (e.g. a commit message from `git show`).
    pub preamble: Vec<&'a str>,
    /// The files in order.
    pub files: Vec<RawFile<'a>>,
    /// Whether the text ended with a newline.
    pub trailing_newline: bool,
}

/// Cut `text` into files and hunks (splitting on `\n` only, so `\r` stays in the lines).
pub fn split(text: &str) -> RawDiff<'_> {
    let trailing_newline = text.ends_with('\n');
    let body = if trailing_newline {
        &text[..text.len() - 1]
    } else {
        text
    };
    let mut diff = RawDiff {
        trailing_newline,
        ..RawDiff::default()
    };
    if text.is_empty() {
        return diff;
    }
    for line in body.split('\n') {
        if line.starts_with("diff --git ") {
            diff.files.push(RawFile {
                header: vec![line],
                hunks: Vec::new(),
            });
            continue;
        }
        let Some(file) = diff.files.last_mut() else {
            diff.preamble.push(line);
            continue;
        };
        if line.starts_with("@@ ") {
            file.hunks.push(RawHunk {
                header: line,
                body: Vec::new(),
                coords: Coords::parse(line.strip_suffix('\r').unwrap_or(line)),
            });
        } else if let Some(hunk) = file.hunks.last_mut() {
            hunk.body.push(line);
        } else {
            file.header.push(line);
        }
    }
    diff
}

/// The diff with only the hunks `keep(file, hunk)` accepts, as valid unified diff text: a file
/// loses its header when none of its hunks is kept, a file that never had hunks (binary, pure
/// rename, mode change) is kept unless `keep_hunkless(file)` says otherwise, and the preamble
/// passes through.
pub fn write(
    diff: &RawDiff<'_>,
    mut keep: impl FnMut(usize, usize) -> bool,
    mut keep_hunkless: impl FnMut(usize) -> bool,
) -> String {
    let mut lines: Vec<&str> = diff.preamble.clone();
    for (f, file) in diff.files.iter().enumerate() {
        if file.hunks.is_empty() {
            if keep_hunkless(f) {
                lines.extend(&file.header);
            }
            continue;
        }
        let mut header_written = false;
        for (h, hunk) in file.hunks.iter().enumerate() {
            if !keep(f, h) {
                continue;
            }
            if !header_written {
                lines.extend(&file.header);
                header_written = true;
            }
            lines.push(hunk.header);
            lines.extend(&hunk.body);
        }
    }
    let mut out = lines.join("\n");
    if diff.trailing_newline && !lines.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "commit abc\n\ndiff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@ def f():\n-a\r\n+b\r\n c\n@@ -9 +9 @@\n-d\n\\ No newline at end of file\n+e\ndiff --git a/y.bin b/y.bin\nBinary files a/y.bin and b/y.bin differ\n";

    #[test]
    fn splits_files_and_hunks_verbatim() {
        let d = split(TEXT);
        assert_eq!(d.preamble, ["commit abc", ""]);
        assert_eq!(d.files.len(), 2);
        assert_eq!(d.files[0].header.len(), 4);
        assert_eq!(d.files[0].hunks[0].body, ["-a\r", "+b\r", " c"]);
        assert_eq!(
            d.files[0].hunks[1].coords,
            Some(Coords {
                old_start: 9,
                old_len: None,
                new_start: 9,
                new_len: None
            })
        );
        assert_eq!(d.files[0].hunks[1].coords.unwrap().header(), "@@ -9 +9 @@");
        assert!(d.files[1].hunks.is_empty());
        assert_eq!(write(&d, |_, _| true, |_| true), TEXT);
    }

    #[test]
    fn dropping_hunks_keeps_a_well_formed_diff() {
        let d = split(TEXT);
        let out = write(&d, |_, h| h == 1, |_| true);
        assert!(out.contains("--- a/x.py\n+++ b/x.py\n@@ -9 +9 @@\n-d\n"));
        assert!(!out.contains("-a\r"));
        assert!(out.ends_with("differ\n"));
        let none = write(&d, |_, _| false, |_| false);
        assert_eq!(none, "commit abc\n\n");
        assert_eq!(write(&split(""), |_, _| true, |_| true), "");
    }

    #[test]
    fn new_file_coordinates() {
        assert!(Coords::parse("@@ -0,0 +1,3 @@").unwrap().is_new_file());
        assert!(!Coords::parse("@@ -5,0 +6,2 @@").unwrap().is_new_file());
        assert_eq!(Coords::parse("@@ nonsense"), None);
    }
}
