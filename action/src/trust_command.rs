//! `codereview diff` and `codereview trust`: read a diff (from `git diff ARGS...`, or piped
//! stdin when no argument is given), classify it, print it.

use crate::failure::Failure;
use crate::git;
use codereview_policy::trust::segment::RawDiff;
use codereview_policy::trust::{FileVerdict, HideFilter, Label, Mechanical, analyze, mechanical};
use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Read as _, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// `git diff` as the classifiers read it: `a/`/`b/` prefixes and unquoted paths whatever the
/// user's configuration, and no textconv filter or external diff tool (they would not give a
/// diff that applies).
const GIT_DIFF: [&str; 10] = [
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "core.quotepath=false",
    "diff",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
];

/// [`Mechanical`] for the changes from the merge base of `base` and `head` to `head` in the
/// checkout at `root` (`None` when git cannot tell, e.g. without the history). The job summary
/// shows it so reviewers know how much of a large diff is noise.
pub fn mechanical_since_merge_base(
    root: &std::path::Path,
    base: &str,
    head: &str,
) -> Option<Mechanical> {
    let merge_base = git::merge_base(root, base, head).ok()?;
    let args: Vec<&str> = GIT_DIFF
        .iter()
        .copied()
        .chain([merge_base.as_str(), head])
        .collect();
    let bytes = git::run(root, &args).ok()?;
    let text = DiffText::from_bytes(bytes);
    let (_, verdicts) = analyze(text.as_str());
    Some(mechanical(&verdicts))
}

/// Arguments of `codereview diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Hide only hunks of this label family (e.g. `formatting`) or label
    /// (`formatting:style`); repeatable. Default: hide every labelled hunk.
    #[arg(long = "hide", value_name = "FAMILY|LABEL")]
    pub hide: Vec<String>,
    /// Write to stdout instead of paging (paging is the default at a terminal).
    #[arg(long)]
    pub no_pager: bool,
    /// Don't print the hidden-hunk summary to stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Handed to `git diff` untouched (`--staged`, revisions, `--`, pathspecs); must come
    /// after codereview's own options. None: read a diff from piped stdin.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "GIT_DIFF_ARGS"
    )]
    pub git_args: Vec<String>,
}

/// Arguments of `codereview trust`.
#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// List every hunk and its trust label, grouped by file.
    #[arg(long)]
    pub list: bool,
    /// Handed to `git diff` untouched; none: read a diff from piped stdin.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "GIT_DIFF_ARGS"
    )]
    pub git_args: Vec<String>,
}

/// Diff text, remembering whether it had to be read as Latin-1 (not UTF-8) so that the hunks
/// `codereview diff` keeps are written back byte for byte.
pub struct DiffText {
    text: String,
    latin1: bool,
}

impl DiffText {
    /// Decode bytes: UTF-8 when valid, else one char per byte.
    pub fn from_bytes(bytes: Vec<u8>) -> DiffText {
        match String::from_utf8(bytes) {
            Ok(text) => DiffText {
                text,
                latin1: false,
            },
            Err(e) => DiffText {
                text: e.into_bytes().iter().map(|&b| char::from(b)).collect(),
                latin1: true,
            },
        }
    }

    /// The text to classify.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `s` (a piece of this text) as the original bytes.
    pub fn encode(&self, s: &str) -> Vec<u8> {
        if self.latin1 {
            s.chars().map(|c| c as u32 as u8).collect()
        } else {
            s.as_bytes().to_vec()
        }
    }
}

/// Read the diff: `git diff ARGS` in `dir` when arguments are given or stdin is a terminal,
/// else piped stdin (hooks and CI run with stdin redirected, so explicit arguments win).
pub fn read_diff(dir: &Path, git_args: &[String]) -> Result<DiffText, Failure> {
    let stdin = std::io::stdin();
    if git_args.is_empty() && !stdin.is_terminal() {
        let mut bytes = Vec::new();
        stdin
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::failed(format!("Error: could not read stdin: {e}")))?;
        return Ok(DiffText::from_bytes(bytes));
    }
    let output = Command::new("git")
        .current_dir(dir)
        .args(GIT_DIFF)
        .args(git_args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::failed(format!("Error: could not run git: {e}")))?;
    // 0: no difference or success; 1: differences with --exit-code. Anything else is git
    // rejecting the arguments, which it has explained on stderr.
    if !matches!(output.status.code(), Some(0 | 1)) {
        return Err(Failure::failed("Error: Could not read a diff from git."));
    }
    Ok(DiffText::from_bytes(output.stdout))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// Hunks hidden per label.
pub type HiddenCounts = BTreeMap<&'static str, usize>;

/// The diff without the hunks (and pure renames) `filter` hides, and what was hidden.
pub fn filter_diff(
    raw: &RawDiff<'_>,
    verdicts: &[FileVerdict],
    filter: &HideFilter,
) -> (String, HiddenCounts) {
    let mut hidden = HiddenCounts::new();
    let mut hide = |label: Option<Label>| match label {
        Some(l) if filter.hides(l) => {
            *hidden.entry(l.as_str()).or_default() += 1;
            false
        }
        _ => true,
    };
    let mut keep_hunk = Vec::new();
    let mut keep_file = Vec::new();
    for v in verdicts {
        keep_hunk.push(v.hunks.iter().map(|h| hide(h.label)).collect::<Vec<_>>());
        keep_file.push(hide(v.file_label));
    }
    let text =
        codereview_policy::trust::segment::write(raw, |f, h| keep_hunk[f][h], |f| keep_file[f]);
    (text, hidden)
}

/// `codereview diff`.
pub fn diff(dir: &Path, args: &DiffArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let filter = HideFilter::new(&args.hide)
        .map_err(|e| Failure::usage(format!("Error: Invalid value for --hide: {e}")))?;
    let input = read_diff(dir, &args.git_args)?;
    let (raw, verdicts) = analyze(input.as_str());
    let (text, hidden) = filter_diff(&raw, &verdicts, &filter);
    let bytes = input.encode(&text);
    if args.no_pager || !std::io::stdout().is_terminal() || !page(dir, &bytes) {
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Failure::failed(format!("Error: {e}")))?;
    }
    if !args.quiet && !hidden.is_empty() {
        let total: usize = hidden.values().sum();
        let breakdown: Vec<String> = hidden.iter().map(|(l, n)| format!("{l} ({n})")).collect();
        eprintln!(
            "Hid {total} {}: {}",
            plural(total, "hunk"),
            breakdown.join(", ")
        );
    }
    Ok(())
}

/// Show `bytes` through git's pager as `git diff` does; false when there is none or it failed
/// (the caller then prints directly, so nothing is lost).
fn page(dir: &Path, bytes: &[u8]) -> bool {
    let pager = Command::new("git")
        .current_dir(dir)
        .args(["var", "GIT_PAGER"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if pager.is_empty() || pager == "cat" {
        return false;
    }
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &pager]).stdin(Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        cmd.env("LESS", "FRX");
    }
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A pager quit early (`q`) closes the pipe: not an error.
        let _ = stdin.write_all(bytes);
    }
    child.wait().is_ok_and(|s| s.success())
}

/// `codereview trust`.
pub fn trust(dir: &Path, args: &TrustArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let input = read_diff(dir, &args.git_args)?;
    let (_, verdicts) = analyze(input.as_str());
    let text = if args.list {
        list(&verdicts)
    } else {
        summary(&verdicts)
    };
    out.write_all(&input.encode(&text))
        .map_err(|e| Failure::failed(format!("Error: {e}")))
}

/// Python's `round` (half to even) of a percentage, as `pa` prints it.
fn percent(n: usize, total: usize) -> u64 {
    let exact = n as f64 * 100.0 / total as f64;
    let r = exact.round();
    let r = if (exact - exact.trunc() - 0.5).abs() < 1e-9 && r % 2.0 != 0.0 {
        r - 1.0
    } else {
        r
    };
    r as u64
}

/// One listed row: a hunk header (or `(renamed)` for a pure rename) and its label.
fn rows(verdicts: &[FileVerdict]) -> Vec<(&str, String, Option<Label>)> {
    let mut rows = Vec::new();
    for f in verdicts {
        for h in &f.hunks {
            rows.push((f.path.as_str(), h.header.clone(), h.label));
        }
        if f.hunks.is_empty() && f.file_label.is_some() {
            let from = f.old_path.as_deref().unwrap_or("");
            rows.push((
                f.path.as_str(),
                format!("(renamed from {from})"),
                f.file_label,
            ));
        }
    }
    rows
}

/// `codereview trust --list`: each file, then each hunk header and its label.
pub fn list(verdicts: &[FileVerdict]) -> String {
    let rows = rows(verdicts);
    if rows.is_empty() {
        return "No changes.\n".into();
    }
    let width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for (path, header, label) in rows {
        if current != Some(path) {
            current = Some(path);
            out.push_str(path);
            out.push('\n');
        }
        let label = label.map_or("needs review", Label::as_str);
        out.push_str(&format!("  {header:<width$}  {label}\n"));
    }
    out
}

/// `codereview trust`: totals per label, the share still needing review, fully trusted files.
pub fn summary(verdicts: &[FileVerdict]) -> String {
    let rows = rows(verdicts);
    let total = rows.len();
    if total == 0 {
        return "No changes.\n".into();
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, label) in &rows {
        if let Some(l) = label {
            *counts.entry(l.as_str()).or_default() += 1;
        }
    }
    let trusted: usize = counts.values().sum();
    let review = total - trusted;
    let mut out = format!(
        "{total} {} · {} {}\n",
        plural(total, "hunk"),
        verdicts.len(),
        plural(verdicts.len(), "file")
    );
    out.push_str(&format!(
        "  {trusted} trusted ({}%)\n",
        percent(trusted, total)
    ));
    let width = counts.keys().map(|l| l.len()).max().unwrap_or(0);
    let mut sorted: Vec<(&str, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (label, n) in sorted {
        out.push_str(&format!("     {label:<width$}  {n:>3}\n"));
    }
    out.push_str(&format!(
        "  {review} need review ({}%)\n",
        percent(review, total)
    ));
    let fully: Vec<&str> = verdicts
        .iter()
        .filter(|f| f.fully_trusted())
        .map(|f| f.path.as_str())
        .collect();
    if !fully.is_empty() {
        let shown = fully[..fully.len().min(10)].join(", ");
        let more = if fully.len() > 10 {
            format!(" +{} more", fully.len() - 10)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {} {} fully trusted: {shown}{more}\n",
            fully.len(),
            plural(fully.len(), "file")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_to_even_like_pa() {
        assert_eq!(percent(1, 8), 12); // 12.5
        assert_eq!(percent(3, 8), 38); // 37.5
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(1, 200), 0); // 0.5
    }

    #[test]
    fn latin1_input_is_written_back_byte_for_byte() {
        let bytes = b"diff --git a/x.c b/x.c\n@@ -1 +1 @@\n-caf\xe9\n+cafe\n".to_vec();
        let t = DiffText::from_bytes(bytes.clone());
        assert_eq!(t.encode(t.as_str()), bytes);
    }

    const DIFF: &str = "diff --git a/app.py b/app.py\nindex 1..2 100644\n--- a/app.py\n+++ b/app.py\n@@ -1,3 +1,4 @@\n import os\n+import sys\n x = 1\n y = 2\n@@ -10,2 +11,2 @@\n-z = 3\n+z = 4\n w = 5\ndiff --git a/old.py b/new.py\nsimilarity index 100%\nrename from old.py\nrename to new.py\n";

    #[test]
    fn list_and_summary_shapes() {
        let (_, v) = analyze(DIFF);
        assert_eq!(
            list(&v),
            "app.py\n  @@ -1,3 +1,4 @@        imports:added\n  @@ -10,2 +11,2 @@      needs review\nnew.py\n  (renamed from old.py)  file:renamed\n"
        );
        assert_eq!(
            summary(&v),
            "3 hunks · 2 files\n  2 trusted (67%)\n     file:renamed     1\n     imports:added    1\n  1 need review (33%)\n  1 file fully trusted: new.py\n"
        );
    }

    #[test]
    fn filtering_by_family() {
        let (raw, v) = analyze(DIFF);
        let only_files = HideFilter::new(&["file".into()]).unwrap();
        let (text, hidden) = filter_diff(&raw, &v, &only_files);
        assert!(text.contains("+import sys"));
        assert!(!text.contains("rename from"));
        assert_eq!(hidden.get("file:renamed"), Some(&1));
        let (text, hidden) = filter_diff(&raw, &v, &HideFilter::default());
        assert!(!text.contains("import sys"));
        assert!(text.contains("-z = 3\n+z = 4\n w = 5\n"));
        assert_eq!(hidden.values().sum::<usize>(), 2);
    }
}
