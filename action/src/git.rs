//! The local checkout, through the `git` command: which files exist, which changed, the diff
//! against a merge base, and file contents at a revision.
//!
//! Reading the checkout instead of the forge's API has no 3000-file cap and costs no API
//! requests; [`crate::forge`] falls back to the API only when the history is not there.

use crate::unread::Unread;
use std::io::{BufRead, Read as _, Write as _};
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

/// Refuse a revision that git could read as an option (`--upload-pack=...`) or that would break
/// a line-based protocol (`cat-file --batch`): revisions come from users, events and APIs.
pub fn check_rev(rev: &str) -> Result<&str, GitError> {
    let bad = |why: &str| GitError {
        args: String::new(),
        message: format!("refusing revision '{}': {why}", rev.escape_debug()),
    };
    if rev.is_empty() {
        return Err(bad("it is empty"));
    }
    if rev.starts_with('-') {
        return Err(bad("it starts with '-'"));
    }
    if rev.chars().any(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    Ok(rev)
}

/// Whether `sha` is a full object id: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits. Commit
/// ids from an event or a forge's API are checked with this before they reach `git`.
pub fn is_object_id(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
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
    let rev = check_rev(rev)?;
    run_text(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
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
    run_text(
        root,
        &[
            "merge-base",
            "--end-of-options",
            check_rev(a)?,
            check_rev(b)?,
        ],
    )
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
    let mut args = vec![
        "fetch",
        "--quiet",
        "--no-tags",
        deepen.as_str(),
        "--end-of-options",
        check_rev(remote)?,
    ];
    for r in refspecs {
        args.push(check_rev(r)?);
    }
    run(root, &args).map(|_| ())
}

/// Paths of all files at a revision.
pub fn ls_tree(root: &Path, rev: &str) -> Result<Vec<String>, GitError> {
    let out = run(
        root,
        &[
            "ls-tree",
            "-r",
            "-z",
            "--name-only",
            "--full-tree",
            "--end-of-options",
            check_rev(rev)?,
        ],
    )?;
    Ok(nul_separated(&out).collect())
}

/// The contents of several files at one revision, in one `git cat-file --batch` process.
pub fn read_files_at(root: &Path, rev: &str, paths: &[String]) -> Result<Vec<Vec<u8>>, GitError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let rev = check_rev(rev)?;
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

/// What a diff compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffTarget<'a> {
    /// The index against `HEAD` (`git diff --staged`).
    Staged,
    /// A commit against the working tree (`git diff REV`).
    WorkTree(&'a str),
    /// Two commits (`git diff A B`).
    Commits(&'a str, &'a str),
}

/// `git diff` of `target`, parsed, with every changed line visible whatever the repository says:
/// `--text` (a NUL byte or a `binary`/`-diff` attribute does not turn a file into "Binary files
/// differ"), `--no-textconv` and `--no-ext-diff` (no driver rewrites or hides lines), and
/// attributes read from the empty tree (`--attr-source`) with no global or system attributes
/// file, because a pull request controls the `.gitattributes` of its own checkout. Output is
/// read as a stream and each file's kept hunk text is capped (see [`MAX_FILE_DIFF_BYTES`]).
pub fn diff(root: &Path, target: DiffTarget<'_>) -> Result<Vec<FileDiff>, GitError> {
    let revs: Vec<&str> = match target {
        DiffTarget::Staged => Vec::new(),
        DiffTarget::WorkTree(rev) => vec![check_rev(rev)?],
        DiffTarget::Commits(a, b) => vec![check_rev(a)?, check_rev(b)?],
    };
    let empty_tree = run_text(root, &["hash-object", "-t", "tree", "/dev/null"])?;
    let attr_source = format!("--attr-source={empty_tree}");
    let mut args = vec![
        "-c",
        "diff.noprefix=false",
        "-c",
        "diff.suppressBlankEmpty=false",
        "-c",
        "core.quotepath=false",
        "-c",
        "core.attributesFile=/dev/null",
        attr_source.as_str(),
        "diff",
        "--text",
        "--no-textconv",
        "--no-ext-diff",
        "--no-color",
        "--no-relative",
        "--find-renames",
        "--src-prefix=a/",
        "--dst-prefix=b/",
    ];
    if target == DiffTarget::Staged {
        args.push("--staged");
    }
    args.push("--end-of-options");
    args.extend(revs);
    match stream_diff(root, &args, DiffLimits::default()) {
        // git < 2.40 has no --attr-source: --text, --no-textconv and --no-ext-diff already
        // neutralise what attributes could hide, so run without it.
        Err(e) if e.message.contains("attr-source") => {
            args.retain(|a| *a != attr_source);
            stream_diff(root, &args, DiffLimits::default())
        }
        other => other,
    }
}

/// Run `git ARGS` and parse its stdout as a diff while it streams, so a huge diff costs at most
/// the kept text in memory.
fn stream_diff(root: &Path, args: &[&str], limits: DiffLimits) -> Result<Vec<FileDiff>, GitError> {
    let err = |message: String| GitError {
        args: args.join(" "),
        message,
    };
    let mut child = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        // System attributes are not the repository's, and not the same on every runner.
        .env("GIT_ATTR_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("could not run git: {e}")))?;
    let mut stderr = child.stderr.take().expect("stderr was piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut reader =
        std::io::BufReader::with_capacity(1 << 16, child.stdout.take().expect("stdout was piped"));
    let mut parser = DiffParser::new(limits);
    let mut buf = Vec::new();
    let read = loop {
        match read_line_capped(&mut reader, &mut buf, limits.per_file + 1) {
            Ok(Some(full_len)) => parser.line(&String::from_utf8_lossy(&buf), full_len),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    drop(reader);
    let status = child.wait().map_err(|e| err(e.to_string()))?;
    let stderr = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(err(stderr.trim().to_string()));
    }
    read.map_err(|e| err(format!("reading the diff: {e}")))?;
    Ok(parser.finish())
}

/// Read one line (without its `\n`) into `buf`, keeping at most `cap` bytes of it. Returns the
/// line's full length, or `None` at the end of the input.
fn read_line_capped(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<usize>> {
    buf.clear();
    let mut total = 0;
    let mut any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(any.then_some(total));
        }
        any = true;
        let newline = available.iter().position(|b| *b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        total += chunk.len();
        let used = newline.map_or(available.len(), |i| i + 1);
        reader.consume(used);
        if newline.is_some() {
            return Ok(Some(total));
        }
    }
}

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
/// limits and still counts every added and removed line past them.
struct DiffParser {
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
    fn new(limits: DiffLimits) -> Self {
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
    fn line(&mut self, raw: &str, full_len: usize) {
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

    fn finish(mut self) -> Vec<FileDiff> {
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
    fn a_line_longer_than_the_read_cap_is_cut_but_measured() {
        let input = format!("{}\nshort\n{}", "a".repeat(50), "b".repeat(7));
        let mut reader = std::io::BufReader::with_capacity(8, input.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 10).unwrap(),
            Some(50)
        );
        assert_eq!(buf, b"aaaaaaaaaa");
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 10).unwrap(),
            Some(5)
        );
        assert_eq!(buf, b"short");
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 10).unwrap(),
            Some(7)
        );
        assert_eq!(read_line_capped(&mut reader, &mut buf, 10).unwrap(), None);
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
    fn revisions_that_look_like_options_are_refused() {
        assert!(check_rev("main").is_ok());
        assert!(check_rev("origin/main~2").is_ok());
        for bad in ["", "-x", "--upload-pack=sh", "a\nb", "a\0b"] {
            assert!(check_rev(bad).is_err(), "{bad:?}");
        }
        assert!(is_object_id(&"a".repeat(40)));
        assert!(is_object_id(&"0F".repeat(32)));
        for bad in [
            "abc",
            "HEAD",
            &"g".repeat(40),
            &"a".repeat(41),
            &format!("-{}", "a".repeat(39)),
        ] {
            assert!(!is_object_id(bad), "{bad}");
        }
    }

    #[test]
    fn unquotes_octal_escapes() {
        assert_eq!(unquote("\"caf\\303\\251\""), "café");
        assert_eq!(unquote("plain"), "plain");
    }
}
