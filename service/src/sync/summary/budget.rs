//! How a PR's diff is cut to the size budget: files ranked by [`classify`], whole files taken
//! while they fit, the best one that did not fit cut short at a line, and every file left out
//! named with the reason.

use super::classify::{FileClass, classify};
use super::{PrDiff, prefix};

/// A file is cut short only when at least this much of it fits: a few lines say little.
const MIN_TRUNCATED: usize = 512;
/// Marks where a file cut short ends.
const TRUNCATION_MARK: &str =
    "[... the rest of this file's diff was cut to fit the size budget ...]\n";

/// Why a file is not in the diff sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A lockfile.
    Lockfile,
    /// Generated, minified or vendored.
    Generated,
    /// Binary.
    Binary,
    /// The forge sent no patch (too large to diff).
    NoPatch,
    /// It did not fit in the budget.
    Budget,
}

impl Why {
    pub(super) fn label(self) -> &'static str {
        match self {
            Why::Lockfile => "lockfile",
            Why::Generated => "generated",
            Why::Binary => "binary",
            Why::NoPatch => "no diff from the forge",
            Why::Budget => "over the size budget",
        }
    }
}

/// A file left out of the diff sent, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// Its path.
    pub path: String,
    /// Why.
    pub why: Why,
}

/// The diff as cut to the budget.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Cut {
    /// The text sent: whole files (one maybe cut short) in the forge's order.
    pub diff: String,
    /// Paths of the files sent, whole or cut short.
    pub sent: Vec<String>,
    /// The file cut short at a line boundary, if any.
    pub truncated: Option<String>,
    /// Files not sent at all, in the forge's order.
    pub left_out: Vec<LeftOut>,
    /// The forge's diff was too large to read in full.
    pub incomplete: bool,
}

impl std::fmt::Debug for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cut")
            .field("bytes", &self.diff.len())
            .field("sent", &self.sent.len())
            .field("truncated", &self.truncated.is_some())
            .field("left_out", &self.left_out.len())
            .field("incomplete", &self.incomplete)
            .finish()
    }
}

/// Cuts `diff` to at most `budget` bytes: files are ranked (source, then docs; lockfiles,
/// generated files and binaries are left out), whole files are taken while they fit, and the
/// best-ranked file that did not fit is cut short at a line boundary when enough room is left.
/// What is sent keeps the forge's file order.
pub fn cut(diff: &PrDiff, budget: usize) -> Cut {
    let files = &diff.files;
    let classes: Vec<FileClass> = files.iter().map(classify).collect();
    let mut order: Vec<usize> = (0..files.len()).filter(|&i| classes[i].sent()).collect();
    order.sort_by_key(|&i| classes[i]);
    let mut taken: Vec<Option<String>> = vec![None; files.len()];
    let mut remaining = budget;
    let mut skipped = Vec::new();
    for &i in &order {
        let text = &files[i].text;
        if text.len() <= remaining {
            remaining -= text.len();
            taken[i] = Some(text.clone());
        } else {
            skipped.push(i);
        }
    }
    let mut truncated = None;
    if let Some(&first) = skipped.first()
        && remaining >= MIN_TRUNCATED + TRUNCATION_MARK.len()
    {
        let room = remaining - TRUNCATION_MARK.len();
        let piece = prefix(&files[first].text, room);
        let piece = match piece.rfind('\n') {
            Some(end) => &piece[..=end],
            None => "",
        };
        if piece.len() >= MIN_TRUNCATED {
            taken[first] = Some(format!("{piece}{TRUNCATION_MARK}"));
            truncated = Some(files[first].path.clone());
            skipped.remove(0);
        }
    }
    let mut out = Cut {
        incomplete: diff.incomplete,
        truncated,
        ..Cut::default()
    };
    for (i, file) in files.iter().enumerate() {
        match &taken[i] {
            Some(text) => {
                out.diff.push_str(text);
                out.sent.push(file.path.clone());
            }
            None => {
                let why = match classes[i] {
                    FileClass::Lockfile => Why::Lockfile,
                    FileClass::Generated => Why::Generated,
                    FileClass::Binary if file.too_large => Why::NoPatch,
                    FileClass::Binary => Why::Binary,
                    FileClass::Source | FileClass::Docs => Why::Budget,
                };
                out.left_out.push(LeftOut {
                    path: file.path.clone(),
                    why,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::FileDiff;
    use super::super::fixtures::{file, pr};
    use super::*;

    #[test]
    fn source_first_then_docs_lockfiles_and_binaries_out() {
        let diff = pr(vec![
            file("README.md", 600),
            file("Cargo.lock", 300),
            file("src/a.rs", 1000),
            FileDiff {
                path: "logo.png".into(),
                text: "diff --git a/logo.png b/logo.png\nBinary files differ\n".into(),
                binary: true,
                ..FileDiff::default()
            },
            file("src/b.rs", 1000),
        ]);
        // Room for both sources and nothing else.
        let c = cut(&diff, 2100);
        assert_eq!(c.sent, ["src/a.rs", "src/b.rs"]);
        assert_eq!(
            c.left_out,
            vec![
                LeftOut {
                    path: "README.md".into(),
                    why: Why::Budget
                },
                LeftOut {
                    path: "Cargo.lock".into(),
                    why: Why::Lockfile
                },
                LeftOut {
                    path: "logo.png".into(),
                    why: Why::Binary
                },
            ]
        );
        assert!(c.diff.len() <= 2100);
        assert!(c.truncated.is_none());
        // A large budget sends the docs too, in the forge's order; lockfile and binary stay out.
        let c = cut(&diff, 100_000);
        assert_eq!(c.sent, ["README.md", "src/a.rs", "src/b.rs"]);
        assert!(c.diff.starts_with("diff --git a/README.md"));
        assert_eq!(c.left_out.len(), 2);
    }

    #[test]
    fn the_best_file_that_does_not_fit_is_cut_at_a_line() {
        let diff = pr(vec![
            file("src/small.rs", 500),
            file("src/big.rs", 5000),
            file("src/tiny.rs", 200),
        ]);
        let c = cut(&diff, 2000);
        assert_eq!(c.sent, ["src/small.rs", "src/big.rs", "src/tiny.rs"]);
        assert_eq!(c.truncated.as_deref(), Some("src/big.rs"));
        assert!(c.diff.len() <= 2000, "{}", c.diff.len());
        assert!(c.diff.contains(TRUNCATION_MARK));
        let big = &c.diff[c.diff.find("diff --git a/src/big.rs").unwrap()..];
        let before_mark = &big[..big.find(TRUNCATION_MARK).unwrap()];
        assert!(
            before_mark.ends_with("// some code line\n"),
            "cut at a line boundary"
        );
        assert!(c.left_out.is_empty());
        // Too little room left: left out, not cut.
        let c = cut(&diff, 800);
        assert_eq!(c.sent, ["src/small.rs", "src/tiny.rs"]);
        assert_eq!(
            c.left_out,
            vec![LeftOut {
                path: "src/big.rs".into(),
                why: Why::Budget
            }]
        );
    }
}
