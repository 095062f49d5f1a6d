//! Trust-aware diffs: which hunks of a diff are mechanically trivial (`codereview diff`,
//! `codereview trust`), PullApprove 5's `pa diff`/`pa trust`.
//!
//! Every rule is default-deny: it recognises one trivial shape (a lockfile, blank lines, a
//! re-wrap, a quote swap, a comment, an import, a type annotation) and returns `None` for
//! anything else, so an unrecognised change is shown, never hidden. Rules run in a fixed order
//! (cheapest and most specific first) and the first label wins. Each rule sees one hunk and its
//! file's path, never sibling hunks.

pub mod annotations;
pub mod comments;
pub mod files;
pub mod formatting;
pub mod imports;
pub mod label;
pub mod lex;
pub mod pairs;
pub mod segment;

pub use label::{HideFilter, Label};

use crate::diff::{DiffLine, LineKind};
use segment::{Coords, RawDiff};

/// What a rule sees: one hunk and the path of its file.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The file's path after the change.
    pub path: &'a str,
    /// Its path before, when it moved.
    pub old_path: Option<&'a str>,
    /// The hunk's coordinates.
    pub coords: Coords,
    /// The hunk's lines.
    pub lines: &'a [DiffLine],
}

impl<'a> Ctx<'a> {
    /// The file name's extension without the dot (`""` for `Makefile` or `.bashrc`).
    pub fn ext(&self) -> &'a str {
        extension(self.path)
    }

    /// Added lines.
    pub fn added(&self) -> Vec<&'a DiffLine> {
        self.of(|k| k == LineKind::Added)
    }

    /// Removed lines.
    pub fn removed(&self) -> Vec<&'a DiffLine> {
        self.of(|k| k == LineKind::Removed)
    }

    /// Added and removed lines, in order.
    pub fn changed(&self) -> Vec<&'a DiffLine> {
        self.of(|k| k != LineKind::Context)
    }

    fn of(&self, keep: impl Fn(LineKind) -> bool) -> Vec<&'a DiffLine> {
        self.lines.iter().filter(|l| keep(l.kind)).collect()
    }
}

/// The extension of a path's file name (text after the last dot of a name that has a stem).
pub fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext,
        _ => "",
    }
}

type Rule = fn(&Ctx) -> Option<Label>;

/// The rules in the order they are tried. Blank-line changes come before re-wraps and style;
/// style and spacing before comments (a comment-only edit token-matches under both, which
/// decline it, and it falls through to the comments rule).
const RULES: [Rule; 9] = [
    files::lockfile,
    files::added_empty,
    formatting::whitespace,
    formatting::line_length,
    formatting::style,
    formatting::spacing,
    comments::comments,
    annotations::type_annotations,
    imports::imports,
];

/// The label of one hunk, or `None` when it needs review.
pub fn classify(ctx: &Ctx) -> Option<Label> {
    RULES.iter().find_map(|rule| rule(ctx))
}

/// One hunk's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkVerdict {
    /// `@@ -A,B +C,D @@` as listed.
    pub header: String,
    /// Why it is trivial, or `None`.
    pub label: Option<Label>,
    /// Added plus removed lines.
    pub changed_lines: usize,
}

/// One file's verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVerdict {
    /// Path after the change.
    pub path: String,
    /// Path before, for a rename or copy.
    pub old_path: Option<String>,
    /// Per hunk, in order.
    pub hunks: Vec<HunkVerdict>,
    /// `file:renamed` for a hunkless pure rename (a file-level label).
    pub file_label: Option<Label>,
}

impl FileVerdict {
    /// Whether everything in the file is trusted (and there is something).
    pub fn fully_trusted(&self) -> bool {
        if self.hunks.is_empty() {
            return self.file_label.is_some();
        }
        self.hunks.iter().all(|h| h.label.is_some())
    }
}

/// Classify every hunk of a unified diff. The raw split is returned too, for re-emitting.
pub fn analyze(text: &str) -> (RawDiff<'_>, Vec<FileVerdict>) {
    let raw = segment::split(text);
    let parsed = crate::diff::parse_diff(text);
    // The two walks cut files and hunks by the same rules; if they ever disagree (malformed
    // input), trust nothing rather than pair a verdict with the wrong hunk.
    let aligned = parsed.len() == raw.files.len()
        && parsed
            .iter()
            .zip(&raw.files)
            .all(|(p, r)| p.hunks.len() == r.hunks.len());
    let verdicts = raw
        .files
        .iter()
        .enumerate()
        .map(|(i, rf)| {
            let pf = parsed.get(i).filter(|_| aligned);
            let path = pf.map_or_else(String::new, |p| p.path.clone());
            let old_path = pf.and_then(|p| p.old_path.clone());
            let hunks = rf
                .hunks
                .iter()
                .enumerate()
                .map(|(h, rh)| {
                    let lines = pf.map_or(&[][..], |p| &p.hunks[h].lines[..]);
                    let label = match (pf, rh.coords) {
                        (Some(_), Some(coords)) => classify(&Ctx {
                            path: &path,
                            old_path: old_path.as_deref(),
                            coords,
                            lines,
                        }),
                        _ => None,
                    };
                    HunkVerdict {
                        header: rh
                            .coords
                            .map_or_else(|| rh.header.trim_end().to_string(), |c| c.header()),
                        label,
                        changed_lines: lines.iter().filter(|l| l.kind != LineKind::Context).count(),
                    }
                })
                .collect();
            FileVerdict {
                file_label: files::pure_rename(&rf.header, rf.hunks.is_empty()),
                path,
                old_path,
                hunks,
            }
        })
        .collect();
    (raw, verdicts)
}

/// How much of a diff is mechanical, in changed lines (for the job summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mechanical {
    /// Changed lines in trusted hunks.
    pub trusted_lines: usize,
    /// All changed lines.
    pub changed_lines: usize,
}

/// Sum the changed lines of trusted hunks against all changed lines.
pub fn mechanical(verdicts: &[FileVerdict]) -> Mechanical {
    let mut m = Mechanical::default();
    for h in verdicts.iter().flat_map(|f| &f.hunks) {
        m.changed_lines += h.changed_lines;
        if h.label.is_some() {
            m.trusted_lines += h.changed_lines;
        }
    }
    m
}

/// Diff lines from a hunk body written as in a diff (`+`, `-` or space first), for the
/// classifiers' unit tests.
#[cfg(test)]
pub(crate) fn test_lines(body: &str) -> Vec<DiffLine> {
    body.lines()
        .map(|l| {
            let (prefix, text) = l.split_at(1);
            DiffLine {
                kind: match prefix {
                    "+" => LineKind::Added,
                    "-" => LineKind::Removed,
                    _ => LineKind::Context,
                },
                line: 5,
                text: text.into(),
            }
        })
        .collect()
}
