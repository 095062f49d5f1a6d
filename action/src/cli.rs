//! The `codereview` command line: clap parsing, calling the library, printing, exit codes.
//!
//! Exit codes (DESIGN §3): 0 ok; 1 config invalid or the command's check failed; 2 usage or
//! environment error, with a one-line explanation of the fix.

use crate::failure::Failure;
use crate::git;
use clap::{Parser, Subcommand, ValueEnum};
use codereview_policy::config::{self, ConfigSet, RawSet};
use codereview_policy::explain::Explanation;
use codereview_policy::matching::{Content, FileMatch, Matcher};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Review rules as code: which scopes a change touches and whose approvals count.
#[derive(Debug, Parser)]
#[command(name = "codereview", version, about)]
pub struct Cli {
    /// Run in this repository instead of the one containing the current directory.
    #[arg(short = 'C', long = "repo", global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter CODEREVIEW.toml, or one converted from a CODEOWNERS file.
    Init {
        /// File to create.
        #[arg(long, default_value = config::CONFIG_FILENAME)]
        filename: String,
        /// Convert this CODEOWNERS file (default: the first of .github/CODEOWNERS, CODEOWNERS,
        /// docs/CODEOWNERS, .gitlab/CODEOWNERS) into rules that match the same way.
        #[arg(long, value_name = "PATH", num_args = 0..=1)]
        from_codeowners: Option<Option<PathBuf>>,
        /// The CODEOWNERS dialect; detected when absent (GitLab for .gitlab/CODEOWNERS, a file
        /// with `[Section]` headers, or a repository with .gitlab-ci.yml; GitHub otherwise).
        #[arg(long, value_enum, requires = "from_codeowners")]
        forge: Option<crate::ci::ForgeKind>,
    },
    /// Validate every CODEREVIEW*.toml in the repository.
    Check {
        /// Print only errors.
        #[arg(long)]
        quiet: bool,
    },
    /// Show which scopes own which files (and lines, for `code` scopes).
    Match(MatchArgs),
    /// Share of repository files owned by some scope.
    Coverage {
        /// Exit with status 1 unless every file is covered.
        #[arg(long)]
        check: bool,
        /// Only files under this directory.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// CI mode: evaluate the current pull/merge request and post one commit status.
    Status(crate::ci::StatusArgs),
    /// `git diff` with mechanically trivial hunks hidden (as `pa diff`).
    Diff(crate::trust_command::DiffArgs),
    /// How much of a diff is mechanical, per label (as `pa trust`).
    Trust(crate::trust_command::TrustArgs),
}

/// Arguments of `codereview match`.
#[derive(Debug, clap::Args)]
pub struct MatchArgs {
    /// Only these files or directories.
    pub paths: Vec<PathBuf>,
    /// Only files changed in the working tree, index or untracked.
    #[arg(long, conflicts_with_all = ["staged", "base"])]
    pub changed: bool,
    /// Only staged changes (code scopes look at the staged diff).
    #[arg(long, conflicts_with = "base")]
    pub staged: bool,
    /// Only changes since the merge base with REV (code scopes look at the diff).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Group the output by scope instead of by path.
    #[arg(long)]
    pub by_scope: bool,
    /// Only files owned by these scopes (repeatable).
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable, like `pa match`.
    Text,
    /// JSON for scripts.
    Json,
}

/// Run a parsed command line, writing to `out`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write) -> i32 {
    let result = match cli.command {
        Command::Init {
            filename,
            from_codeowners: None,
            ..
        } => init(cli.repo.as_deref(), &filename, out),
        Command::Init {
            filename,
            from_codeowners: Some(path),
            forge,
        } => init_from_codeowners(cli.repo.as_deref(), &filename, path.as_deref(), forge, out),
        Command::Check { quiet } => repo_root(cli.repo.as_deref()).and_then(|root| {
            if !quiet {
                legacy_warnings(&root, out);
            }
            check(&root, quiet, out).map(|_| ())
        }),
        Command::Match(args) => {
            repo_root(cli.repo.as_deref()).and_then(|root| match_command(&root, &args, out))
        }
        Command::Coverage { check, path } => {
            repo_root(cli.repo.as_deref()).and_then(|root| coverage(&root, &path, check, out))
        }
        Command::Status(args) => crate::ci::run(cli.repo.as_deref(), &args, out),
        Command::Diff(args) => {
            crate::trust_command::diff(&work_dir(cli.repo.as_deref()), &args, out)
        }
        Command::Trust(args) => {
            crate::trust_command::trust(&work_dir(cli.repo.as_deref()), &args, out)
        }
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            let _ = out.flush();
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            f.code
        }
    }
}

/// The repository root for `--repo` or the current directory.
fn repo_root(repo: Option<&Path>) -> Result<PathBuf, Failure> {
    Ok(git::repo_root_of(repo)?)
}

/// Where `git diff` runs for `diff`/`trust`: `--repo` or the current directory (not the
/// repository root, so pathspecs mean what they mean to `git diff`).
fn work_dir(repo: Option<&Path>) -> PathBuf {
    repo.map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

const STARTER: &str = r#"# CODEREVIEW.toml: who must approve what. Reference: https://github.com/codereview/codereview#codereviewtoml
# Scopes are checked in order; for each file the LAST matching scope owns it (like CODEOWNERS),
# unless a scope says ownership = "append" (joint owner) or "global" (may approve for anyone).

[aliases]
# maintainers = ["<YOU>", "@your-org/your-team"]

[[scopes]]
name = "default"
paths = ["**/*"]
request = 1            # reviewers to request automatically
require = 1            # approvals needed
reviewers = ["<YOU>"]  # usernames, $aliases, @org/team, or "*" for anyone

[[scopes]]
name = "codereview"
description = "Changes to the review rules themselves"
paths = ["**/CODEREVIEW*.toml"]
request = 1
require = 1
reviewers = ["<YOU>"]
"#;

fn init(repo: Option<&Path>, filename: &str, out: &mut dyn Write) -> Result<(), Failure> {
    let dir = repo.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let path = dir.join(filename);
    if path.exists() {
        return Err(Failure::failed(format!("{filename} already exists!")));
    }
    std::fs::write(&path, STARTER)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    let _ = writeln!(out, "Created {filename}");
    Ok(())
}

/// Write `filename` converted from a CODEOWNERS file (see [`codereview_policy::codeowners`]); what cannot be
/// carried over is printed as warnings and marked in the file.
fn init_from_codeowners(
    repo: Option<&Path>,
    filename: &str,
    source: Option<&Path>,
    forge: Option<crate::ci::ForgeKind>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    use codereview_policy::codeowners::{self, Flavor};
    let dir = repo.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let target = dir.join(filename);
    if target.exists() {
        return Err(Failure::failed(format!("{filename} already exists!")));
    }
    let source = match source {
        Some(p) => p.to_path_buf(),
        None => codeowners::LOCATIONS
            .iter()
            .map(PathBuf::from)
            .find(|p| dir.join(p).is_file())
            .ok_or_else(|| {
                Failure::usage(format!(
                    "no CODEOWNERS file in {} (looked for {}): pass its path",
                    dir.display(),
                    codeowners::LOCATIONS.join(", ")
                ))
            })?,
    };
    let full = dir.join(&source);
    let text = std::fs::read_to_string(&full)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", full.display())))?;
    let shown = source.to_string_lossy().replace('\\', "/");
    let flavor = match forge {
        Some(crate::ci::ForgeKind::Github) => Flavor::GitHub,
        Some(crate::ci::ForgeKind::Gitlab) => Flavor::GitLab,
        None if shown.starts_with(".github/") => Flavor::GitHub,
        None if codeowners::detect_flavor(&shown, &text) == Flavor::GitLab => Flavor::GitLab,
        None if dir.join(".gitlab-ci.yml").is_file() => Flavor::GitLab,
        None => Flavor::GitHub,
    };
    let conversion =
        codeowners::convert(&text, &shown, flavor).map_err(|e| Failure::failed(e.0))?;
    for w in &conversion.warnings {
        eprintln!("warning: {w}");
    }
    std::fs::write(&target, &conversion.toml)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", target.display())))?;
    let _ = writeln!(
        out,
        "Created {filename} from {shown} ({} CODEOWNERS, {} scopes{}; pass --forge to read it as the other dialect)",
        flavor.name(),
        conversion.scopes,
        match conversion.warnings.len() {
            0 => String::new(),
            n => format!(", {n} warnings"),
        }
    );
    Ok(())
}

/// `pa check`'s reminders that an older ownership file is still there, plus GitLab's location.
fn legacy_warnings(root: &Path, out: &mut dyn Write) {
    if root.join(".pullapprove.yml").is_file() {
        let _ = writeln!(
            out,
            "[Warning] This repo still contains a PullApprove v3 config file (.pullapprove.yml). Consider migrating it to {}.",
            config::CONFIG_FILENAME
        );
    }
    // pa's order, then GitLab's own location.
    for location in [
        "CODEOWNERS",
        "docs/CODEOWNERS",
        ".github/CODEOWNERS",
        ".gitlab/CODEOWNERS",
    ] {
        if root.join(location).is_file() {
            let which = if location == "CODEOWNERS" {
                String::new()
            } else {
                format!(" ({location})")
            };
            let _ = writeln!(
                out,
                "[Warning] This repo still contains a CODEOWNERS file{which}. Consider migrating it: codereview init --from-codeowners {location}"
            );
        }
    }
}

/// Load, validate and compile the working tree's configs; print `file:line:col: message` errors.
pub fn check(root: &Path, quiet: bool, out: &mut dyn Write) -> Result<ConfigSet, Failure> {
    check_files(root, &git::ls_files(root)?, quiet, out)
}

/// [`check`] with the working tree's files already listed (`git ls-files` costs a directory
/// walk, so `match` and `coverage` list them once for both jobs).
pub fn check_files(
    root: &Path,
    listed: &[String],
    quiet: bool,
    out: &mut dyn Write,
) -> Result<ConfigSet, Failure> {
    let files = crate::discover::from_worktree_files(root, listed)?;
    if files.is_empty() {
        return Err(Failure::failed(format!(
            "No {} files found.",
            config::CONFIG_FILENAME
        )));
    }
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let raw = match RawSet::parse(files) {
        Ok(raw) => raw,
        Err(errors) => {
            if !quiet {
                for p in &paths {
                    let bad = errors.0.iter().any(|e| &e.file == p);
                    let _ = writeln!(out, "{p} -> {}", if bad { "ERROR" } else { "OK" });
                }
            }
            return Err(Failure::failed(errors.to_string()));
        }
    };
    let set = raw.compile(None).map_err(|errors| {
        if !quiet {
            for p in &paths {
                let bad = errors.0.iter().any(|e| &e.file == p);
                let _ = writeln!(out, "{p} -> {}", if bad { "ERROR" } else { "OK" });
            }
        }
        Failure::failed(errors.to_string())
    })?;
    if !quiet {
        for p in &paths {
            let _ = writeln!(out, "{p} -> OK");
        }
        if set.root().is_none() {
            let _ = writeln!(
                out,
                "warning: no {} at the repository root; `codereview status` needs one (it may be empty)",
                config::CONFIG_FILENAME
            );
        }
    }
    Ok(set)
}

fn match_command(root: &Path, args: &MatchArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let in_git_order = git::ls_files_in_git_order(root)?;
    let mut all = in_git_order.clone();
    all.sort_unstable();
    let set = check_files(root, &all, true, out)?;
    let matcher = Matcher::new(&set).map_err(|e| Failure::failed(e.to_string()))?;
    let explanation = if !args.paths.is_empty() {
        if args.changed || args.staged || args.base.is_some() {
            return Err(Failure::usage(
                "Cannot use --changed, --staged or --base with specific paths.",
            ));
        }
        let listed = expand_paths(root, &args.paths, out)?;
        let matches = match_worktree_files(root, &matcher, &listed);
        Explanation::new(&matcher, &matches, Some(listed))
    } else if args.staged || args.base.is_some() {
        let base = match &args.base {
            Some(rev) => {
                git::check_rev(rev)
                    .map_err(|e| Failure::usage(format!("--base: {}", e.message)))?;
                Some(git::merge_base(root, rev, "HEAD").map_err(|e| {
                    Failure::usage(format!(
                        "no merge base between {rev} and HEAD: {}",
                        e.message
                    ))
                })?)
            }
            None => None,
        };
        let target = match &base {
            Some(base) => git::DiffTarget::WorkTree(base),
            None => git::DiffTarget::Staged,
        };
        let diff = git::diff(root, target)?;
        let matches: Vec<FileMatch> = diff
            .iter()
            .map(|f| matcher.match_file(&f.path, Content::of_diff(f)))
            .collect();
        Explanation::new(&matcher, &matches, None)
    } else if args.changed {
        // Matched in git's order, as PullApprove does (it decides how a scope name shared by
        // two configs is printed); the output itself is sorted.
        let changed = git::changed_files_in_git_order(root)?;
        let matches = match_worktree_files(root, &matcher, &changed);
        Explanation::new(&matcher, &matches, None)
    } else {
        // Matched in git's order, as PullApprove does (see above); listed sorted.
        let matches = match_worktree_files(root, &matcher, &in_git_order);
        Explanation::new(&matcher, &matches, Some(all))
    };
    let text = match (args.format, args.by_scope) {
        (Format::Json, _) => {
            let mut s = serde_json::to_string_pretty(&explanation.to_json())
                .expect("explanations serialize");
            s.push('\n');
            s
        }
        (Format::Text, true) => explanation.by_scope(&args.scopes),
        (Format::Text, false) => explanation.by_path(&args.scopes),
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Failure::usage(e.to_string()))
}

/// Match working-tree files, reading a file only when a `code` scope needs its content.
///
/// Large lists are split over the available cores (in order, so the result keeps the input's
/// order): reading files for `code` scopes and growing the lazy DFAs dominate a big repository.
pub fn match_worktree_files(
    root: &Path,
    matcher: &Matcher<'_>,
    files: &[String],
) -> Vec<FileMatch> {
    let one = |path: &String| {
        let pm = matcher.match_path(path);
        if pm.code_scopes.is_empty() {
            return FileMatch {
                path: path.clone(),
                config: pm.config,
                scopes: pm.scopes,
                lines: Vec::new(),
                unread: None,
            };
        }
        match std::fs::read(root.join(path)).map(String::from_utf8) {
            Ok(Ok(text)) => matcher.match_file(path, Content::Text(&universal_newlines(&text))),
            _ => matcher.match_file(path, Content::None),
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || files.len() < 4096 {
        return files.iter().map(one).collect();
    }
    let one = &one;
    std::thread::scope(|s| {
        let parts: Vec<_> = files
            .chunks(files.len().div_ceil(threads))
            .map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("matching does not panic"))
            .collect()
    })
}

/// A file's text as PullApprove reads it (Python's `Path.read_text()`, universal newlines):
/// `\r\n` and a lone `\r` both become `\n`, so line numbers and `$` in `code` regexes agree.
pub fn universal_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\r') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Expand PATHS (relative to the current directory) to tracked files under them.
fn expand_paths(
    root: &Path,
    paths: &[PathBuf],
    out: &mut dyn Write,
) -> Result<Vec<String>, Failure> {
    let all = git::ls_files(root)?;
    let cwd = std::env::current_dir().map_err(|e| Failure::usage(e.to_string()))?;
    let root_abs = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut listed = Vec::new();
    for p in paths {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            cwd.join(p)
        };
        let abs = normalize(&abs);
        let rel = abs
            .strip_prefix(&root_abs)
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| p.to_string_lossy().into_owned());
        let prefix = format!("{}/", rel.trim_end_matches('/'));
        let under: Vec<&String> = all
            .iter()
            .filter(|f| **f == rel || rel.is_empty() || f.starts_with(&prefix))
            .collect();
        if under.is_empty() {
            let _ = writeln!(
                out,
                "Path does not exist or not tracked by git: {}",
                p.display()
            );
        }
        listed.extend(under.into_iter().cloned());
    }
    listed.sort();
    listed.dedup();
    Ok(listed)
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.canonicalize().unwrap_or(out)
}

fn coverage(
    root: &Path,
    path: &Path,
    check_flag: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut files = git::ls_files(root)?;
    let set = check_files(root, &files, true, out)?;
    let matcher = Matcher::new(&set).map_err(|e| Failure::failed(e.to_string()))?;
    if path != Path::new(".") {
        let dir = expand_paths(root, &[path.to_path_buf()], out)?;
        files.retain(|f| dir.contains(f));
    }
    if files.is_empty() {
        let _ = writeln!(out, "No files found");
        return Ok(());
    }
    let matches = match_worktree_files(root, &matcher, &files);
    let uncovered: Vec<&str> = matches
        .iter()
        .filter(|m| m.scopes.is_empty())
        .map(|m| m.path.as_str())
        .collect();
    let total = files.len();
    let covered = total - uncovered.len();
    let pct = covered as f64 * 100.0 / total as f64;
    if uncovered.is_empty() {
        let _ = writeln!(out, "\n✓ {covered}/{total} files covered (100.0%)");
        return Ok(());
    }
    let _ = writeln!(out, "\nUncovered files:");
    for f in uncovered.iter().take(10) {
        let _ = writeln!(out, "  - {f}");
    }
    if uncovered.len() > 10 {
        let _ = writeln!(out, "  ...and {} more", uncovered.len() - 10);
    }
    let _ = writeln!(out, "\n{covered}/{total} files covered ({pct:.1}%)");
    if check_flag {
        return Err(Failure::failed(String::new()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use codereview_policy::config::ConfigFile;

    #[test]
    fn large_file_lists_are_matched_in_order_whatever_the_threads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files: Vec<String> = (0..6000)
            .map(|i| format!("d{}/f{i}.{}", i % 37, ["py", "rs", "md"][i % 3]))
            .collect();
        for (i, f) in files.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            let full = dir.path().join(f);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            let text = if i % 2 == 0 {
                "x = 1\n# TODO\n"
            } else {
                "x = 1\n"
            };
            std::fs::write(full, text).expect("write");
        }
        let set = RawSet::parse([ConfigFile {
            path: "CODEREVIEW.toml".to_string(),
            text: "[[scopes]]\nname = \"all\"\npaths = [\"**/*\"]\n\n[[scopes]]\nname = \"d1\"\npaths = [\"d1/**\"]\n\n[[scopes]]\nname = \"todo\"\npaths = [\"**/*.py\"]\ncode = [\"TODO\"]\n".to_string(),
        }])
        .and_then(|raw| raw.compile(None))
        .expect("valid");
        let matcher = Matcher::new(&set).expect("compiles");
        let parallel = match_worktree_files(dir.path(), &matcher, &files);
        let serial: Vec<FileMatch> = files
            .chunks(100) // below the threshold: one thread each
            .flat_map(|part| match_worktree_files(dir.path(), &matcher, part))
            .collect();
        assert_eq!(parallel, serial);
        assert_eq!(
            parallel.iter().filter(|m| !m.lines.is_empty()).count(),
            1000
        );
    }
}
