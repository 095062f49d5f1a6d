//! The local checkout, through the `git` command: which files exist, which changed, the diff
//! against a merge base, and file contents at a revision.
//!
//! Reading the checkout instead of the forge's API has no 3000-file cap and costs no API
//! requests; `codereview_forge` falls back to the API only when the history is not there.

use codereview_policy::diff::{DiffLimits, DiffParser, FileDiff};
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
    exec(root, args, || args.join(" "))
}

/// [`run`] with arguments that may not be UTF-8 (paths from the file system).
fn run_os(root: &Path, args: &[std::ffi::OsString]) -> Result<Vec<u8>, GitError> {
    exec(root, args, || {
        args.iter()
            .take(8)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Runs git in `root` with `args`; a failure names the command as `describe` says.
fn exec<A: AsRef<std::ffi::OsStr>>(
    root: &Path,
    args: &[A],
    describe: impl Fn() -> String,
) -> Result<Vec<u8>, GitError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GitError {
            args: describe(),
            message: format!("could not run git: {e}"),
        })?;
    if !output.status.success() {
        return Err(GitError {
            args: describe(),
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

/// Not inside a git repository: the commands that read a checkout say how to fix that.
#[derive(Debug, thiserror::Error)]
#[error(
    "not inside a git repository ({}): run codereview in a checkout or pass --repo DIR",
    .0.message
)]
pub struct NotARepository(pub GitError);

/// The repository root for `--repo DIR`, or for the current directory when it is absent.
pub fn repo_root_of(repo: Option<&Path>) -> Result<PathBuf, NotARepository> {
    let start = repo.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    repo_root(&start).map_err(NotARepository)
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
///
/// The answer is `git ls-files --cached --others --exclude-standard`'s, but git's own walk for
/// `--others` reads every directory and tries to open a `.gitignore` in each (on a 20k-file
/// monorepo with 9,300 directories, 85 ms of CPU on one core). Instead the index is listed
/// alone, the working tree is walked here in parallel, only into directories that hold tracked
/// files, and git is asked about what the walk could not rule out (see `untracked_candidates`):
/// usually nothing, so no second git run at all. Same CPU, less wall time on several cores.
pub fn ls_files_in_git_order(root: &Path) -> Result<Vec<String>, GitError> {
    let cached = run(root, &["ls-files", "-z", "--cached", "--full-name"])?;
    let tracked: Vec<String> = nul_separated(&cached).collect();
    let candidates = untracked_candidates(root, &tracked);
    let others = if candidates.is_empty() {
        Vec::new()
    } else if candidates.len() > MAX_CANDIDATES {
        // Too many for one command line: let git walk the whole tree.
        run(
            root,
            &[
                "ls-files",
                "-z",
                "--others",
                "--exclude-standard",
                "--full-name",
            ],
        )?
    } else {
        let mut args: Vec<std::ffi::OsString> = [
            "--literal-pathspecs",
            "ls-files",
            "-z",
            "--others",
            "--exclude-standard",
            "--full-name",
            "--",
        ]
        .iter()
        .map(Into::into)
        .collect();
        args.extend(candidates.into_iter().map(PathBuf::into_os_string));
        run_os(root, &args)?
    };
    Ok(unique(nul_separated(&others).chain(tracked)))
}

/// Above this many untracked candidates, git walks the tree itself (one command line holds them
/// all below it, on every platform).
const MAX_CANDIDATES: usize = 1000;

/// The entries of the working tree that may be untracked files, relative to `root`: files not
/// in the index, and directories without any tracked file (not walked further). Only
/// directories that hold tracked files are read, in parallel. `.git` is skipped, as git does.
///
/// Git has the last word: passed as pathspecs to `git ls-files --others --exclude-standard`, a
/// candidate that is ignored (a `target/` directory), empty, or tracked after all (a
/// case-insensitive file system) yields nothing. Every untracked file is a candidate or under one,
/// so the answer is the same as git's own walk.
fn untracked_candidates(root: &Path, tracked: &[String]) -> Vec<PathBuf> {
    let files: std::collections::HashSet<&str> = tracked.iter().map(String::as_str).collect();
    let mut dirs: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for path in tracked {
        let mut rest = path.as_str();
        while let Some(i) = rest.rfind('/') {
            rest = &rest[..i];
            if !dirs.insert(rest) {
                break;
            }
        }
    }
    // Directories still to read (relative, "" for the root), how many workers are reading one,
    // and the candidates found.
    struct Walk {
        queue: Vec<String>,
        busy: usize,
        found: Vec<PathBuf>,
    }
    let walk = std::sync::Mutex::new(Walk {
        queue: vec![String::new()],
        busy: 0,
        found: Vec::new(),
    });
    let wake = std::sync::Condvar::new();
    let read_one = |dir: &str, subdirs: &mut Vec<String>, found: &mut Vec<PathBuf>| {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            // Unreadable: git will say what it makes of it.
            found.push(PathBuf::from(dir));
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let rel = match name.to_str() {
                Some(name) if dir.is_empty() => name.to_string(),
                Some(name) => format!("{dir}/{name}"),
                None => {
                    found.push(Path::new(dir).join(&name));
                    continue;
                }
            };
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && dirs.contains(rel.as_str()) {
                subdirs.push(rel);
            } else if !files.contains(rel.as_str()) {
                found.push(PathBuf::from(rel));
            }
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let work = || {
        let mut subdirs = Vec::new();
        let mut found = Vec::new();
        let mut guard = walk.lock().expect("no worker panics");
        loop {
            if let Some(dir) = guard.queue.pop() {
                guard.busy += 1;
                drop(guard);
                read_one(&dir, &mut subdirs, &mut found);
                guard = walk.lock().expect("no worker panics");
                guard.busy -= 1;
                guard.queue.append(&mut subdirs);
                guard.found.append(&mut found);
                wake.notify_all();
            } else if guard.busy == 0 {
                return;
            } else {
                guard = wake.wait(guard).expect("no worker panics");
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(work);
        }
        work();
    });
    let mut found = walk.into_inner().expect("no worker panics").found;
    found.sort_unstable();
    found
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
/// read as a stream and each file's kept hunk text is capped (see [`codereview_policy::diff::MAX_FILE_DIFF_BYTES`]).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository with every kind of entry the walk must get right, listed by our walk and by
    /// git's own `ls-files --cached --others --exclude-standard`: the same list, in the same order.
    #[test]
    fn listing_agrees_with_git_s_own_walk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
                .args(args)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        let write = |path: &str| {
            let full = root.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, "x\n").unwrap();
        };
        let reference = || {
            let out = run(
                root,
                &[
                    "ls-files",
                    "-z",
                    "--cached",
                    "--others",
                    "--exclude-standard",
                ],
            )
            .unwrap();
            unique(nul_separated(&out))
        };
        git(&["init", "-q", "."]);
        for path in [
            ".gitignore",
            "a/b/tracked.rs",
            "a/tracked.md",
            "top.txt",
            "c/d/e/f.txt",
        ] {
            write(path);
        }
        std::fs::write(root.join(".gitignore"), "*.log\nbuild/\n").unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "init"]);
        // Clean: the walk finds nothing, git is not asked twice.
        assert!(untracked_candidates(root, &ls_files(root).unwrap()).is_empty());
        assert_eq!(ls_files_in_git_order(root).unwrap(), reference());

        for path in [
            "a/b/new.rs",
            "a/new dir/deep/x.txt",
            "c/d/e/g.txt",
            "new-top.txt",
            "a/b/debug.log",
            "build/out.txt",
            "a/build/nested.txt",
            "[x]*.txt",
            ":(glob)odd",
            ".GIT",
            "c/.git/config",
        ] {
            write(path);
        }
        std::fs::create_dir_all(root.join("a/empty/dir")).unwrap();
        std::fs::remove_file(root.join("top.txt")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("a", root.join("link-to-a")).unwrap();
        let ours = ls_files_in_git_order(root).unwrap();
        assert!(
            ours.contains(&"a/new dir/deep/x.txt".to_string()),
            "{ours:?}"
        );
        assert!(ours.contains(&"top.txt".to_string()), "deleted but tracked");
        assert!(!ours.iter().any(|p| p.ends_with(".log")), "{ours:?}");
        assert_eq!(ours, reference());

        // Past the candidate limit git walks the tree itself.
        for k in 0..=MAX_CANDIDATES {
            write(&format!("many/{k}/f.txt"));
            write(&format!("a/many-{k}.txt"));
        }
        assert_eq!(ls_files_in_git_order(root).unwrap(), reference());
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
}
