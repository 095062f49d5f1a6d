//! The local checkout, through the `git` command: which files exist, which changed, the diff
//! against a merge base, and file contents at a revision.
//!
//! Reading the checkout instead of the forge's API has no 3000-file cap and costs no API
//! requests; [`crate::forge`] falls back to the API only when the history is not there.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A failed git invocation, with git's own explanation.
#[derive(Debug, thiserror::Error)]
#[error("git {args}: {message}")]
pub struct GitError {
    /// The arguments, for the message.
    pub args: String,
    /// What git printed on stderr (or why it could not run).
    pub message: String,
}

/// Run git in `root` and return its stdout.
pub fn run(root: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GitError {
            args: args.join(" "),
            message: format!("could not run git: {e}"),
        })?;
    if !output.status.success() {
        return Err(GitError {
            args: args.join(" "),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}

fn run_text(root: &Path, args: &[&str]) -> Result<String, GitError> {
    Ok(String::from_utf8_lossy(&run(root, args)?)
        .trim()
        .to_string())
}

fn nul_separated(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

/// The top directory of the repository containing `dir`.
pub fn repo_root(dir: &Path) -> Result<PathBuf, GitError> {
    run_text(dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from)
}

/// Every file of the working tree that git knows or would add: tracked (even if deleted on
/// disk) and untracked but not ignored, as repository-relative paths, sorted and unique.
///
/// `--cached` already lists files deleted on disk (they are still in the index), so PullApprove's
/// extra `--deleted` would only repeat them, at the cost of a `stat` per tracked file.
pub fn ls_files(root: &Path) -> Result<Vec<String>, GitError> {
    let mut files = ls_files_in_git_order(root)?;
    files.sort_unstable();
    Ok(files)
}

/// [`ls_files`] in the order git lists them (untracked files first, then the index), each
/// once. PullApprove reads files in this order, and when two configs name a scope alike, the
/// one matched last decides how `match` prints the name.
pub fn ls_files_in_git_order(root: &Path) -> Result<Vec<String>, GitError> {
    let out = run(
        root,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--full-name",
        ],
    )?;
    Ok(unique(nul_separated(&out)))
}

/// Each item once, in order of first appearance.
fn unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// Files changed in the working tree or index, or untracked (`git status`), sorted.
pub fn changed_files(root: &Path) -> Result<Vec<String>, GitError> {
    let mut files = changed_files_in_git_order(root)?;
    files.sort_unstable();
    Ok(files)
}

/// [`changed_files`] in the order `git status` lists them, each once (see
/// [`ls_files_in_git_order`] for why the order matters).
pub fn changed_files_in_git_order(root: &Path) -> Result<Vec<String>, GitError> {
    let out = run(
        root,
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    )?;
    let mut files = Vec::new();
    let mut entries = out.split(|b| *b == 0).filter(|s| !s.is_empty());
    while let Some(entry) = entries.next() {
        if entry.len() < 4 {
            continue;
        }
        let status = &entry[..2];
        files.push(String::from_utf8_lossy(&entry[3..]).into_owned());
        // A rename or copy is followed by its original path, which is not a file any more.
        if status.contains(&b'R') || status.contains(&b'C') {
            entries.next();
        }
    }
    Ok(unique(files.into_iter()))
}

/// The full SHA of a revision.
pub fn rev_parse(root: &Path, rev: &str) -> Result<String, GitError> {
    run_text(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
}

/// Whether a revision exists locally.
pub fn has_commit(root: &Path, rev: &str) -> bool {
    rev_parse(root, rev).is_ok()
}

/// The merge base of two revisions.
pub fn merge_base(root: &Path, a: &str, b: &str) -> Result<String, GitError> {
    run_text(root, &["merge-base", a, b])
}

/// Whether the clone is shallow (CI checkouts usually are).
pub fn is_shallow(root: &Path) -> bool {
    run_text(root, &["rev-parse", "--is-shallow-repository"]).is_ok_and(|s| s == "true")
}

/// Fetch more history for the given revisions, so a merge base becomes reachable.
pub fn fetch_deepen(
    root: &Path,
    remote: &str,
    refspecs: &[&str],
    depth: u32,
) -> Result<(), GitError> {
    let deepen = format!("--deepen={depth}");
    let mut args = vec!["fetch", "--quiet", "--no-tags", deepen.as_str(), remote];
    args.extend_from_slice(refspecs);
    run(root, &args).map(|_| ())
}

/// Paths of all files at a revision.
pub fn ls_tree(root: &Path, rev: &str) -> Result<Vec<String>, GitError> {
    let out = run(
        root,
        &["ls-tree", "-r", "-z", "--name-only", "--full-tree", rev],
    )?;
    Ok(nul_separated(&out).collect())
}

/// The contents of several files at one revision, in one `git cat-file --batch` process.
pub fn read_files_at(root: &Path, rev: &str, paths: &[String]) -> Result<Vec<Vec<u8>>, GitError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let err = |message: String| GitError {
        args: "cat-file --batch".into(),
        message,
    };
    let mut child = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("could not run git: {e}")))?;
    let mut input = String::new();
    for p in paths {
        input.push_str(&format!("{rev}:{p}\n"));
    }
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    let _ = writer.join();
    let mut out = Vec::with_capacity(paths.len());
    let mut rest = output.stdout.as_slice();
    for p in paths {
        let nl = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| err(format!("truncated output reading {p}")))?;
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        rest = &rest[nl + 1..];
        if header.ends_with(" missing") {
            return Err(err(format!("{rev}:{p} does not exist")));
        }
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err(format!("unexpected header '{header}'")))?;
        if rest.len() < size + 1 {
            return Err(err(format!("truncated contents of {p}")));
        }
        out.push(rest[..size].to_vec());
        rest = &rest[size + 1..];
    }
    Ok(out)
}

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
    /// Hunks (none for binary files and pure renames).
    pub hunks: Vec<Hunk>,
    /// Added lines.
    pub additions: usize,
    /// Removed lines.
    pub deletions: usize,
}

/// `git diff` with the given arguments (e.g. `["--staged"]`, `["BASE", "HEAD"]`), parsed.
pub fn diff(root: &Path, args: &[&str]) -> Result<Vec<FileDiff>, GitError> {
    let mut full = vec![
        "-c",
        "diff.noprefix=false",
        "-c",
        "core.quotepath=false",
        "diff",
        "--no-ext-diff",
        "--no-color",
        "--find-renames",
        "--src-prefix=a/",
        "--dst-prefix=b/",
    ];
    full.extend_from_slice(args);
    let out = run(root, &full)?;
    Ok(parse_diff(&String::from_utf8_lossy(&out)))
}

/// Parse unified diff text as `git diff` prints it.
pub fn parse_diff(text: &str) -> Vec<FileDiff> {
    let mut files: Vec<FileDiff> = Vec::new();
    let mut old_no = 0u32;
    let mut new_no = 0u32;
    let mut in_hunk = false;
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix("diff --git ") {
            files.push(FileDiff {
                path: header_path(rest),
                ..FileDiff::default()
            });
            in_hunk = false;
            continue;
        }
        let Some(file) = files.last_mut() else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("@@ ") {
            let (o, n) = parse_hunk_header(rest);
            old_no = o;
            new_no = n;
            file.hunks.push(Hunk::default());
            in_hunk = true;
            continue;
        }
        if in_hunk {
            let hunk = file.hunks.last_mut().expect("in_hunk implies a hunk");
            let (kind, text) = match line.chars().next() {
                Some('+') => (LineKind::Added, &line[1..]),
                Some('-') => (LineKind::Removed, &line[1..]),
                Some(' ') => (LineKind::Context, &line[1..]),
                Some('\\') => continue, // "\ No newline at end of file"
                _ => {
                    in_hunk = false;
                    continue;
                }
            };
            let number = match kind {
                LineKind::Removed => {
                    old_no += 1;
                    file.deletions += 1;
                    old_no - 1
                }
                LineKind::Added => {
                    new_no += 1;
                    file.additions += 1;
                    new_no - 1
                }
                LineKind::Context => {
                    old_no += 1;
                    new_no += 1;
                    new_no - 1
                }
            };
            hunk.lines.push(DiffLine {
                kind,
                line: number,
                text: text.to_string(),
            });
            continue;
        }
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
        } else if let Some(p) = line.strip_prefix("--- ")
            && p != "/dev/null"
        {
            let old = strip_side(&unquote(p));
            if old != file.path {
                file.old_path.get_or_insert(old);
            }
        }
    }
    for f in &mut files {
        if f.old_path.as_deref() == Some(f.path.as_str()) {
            f.old_path = None;
        }
    }
    files
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
    fn unquotes_octal_escapes() {
        assert_eq!(unquote("\"caf\\303\\251\""), "café");
        assert_eq!(unquote("plain"), "plain");
    }
}
