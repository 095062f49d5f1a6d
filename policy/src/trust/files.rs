//! File-shaped rules: lockfiles, new empty files, pure renames.

use super::{Ctx, Label};

/// Lockfiles package managers regenerate. `go.mod` is a hand-edited manifest and stays out.
const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "Gemfile.lock",
    "poetry.lock",
    "go.sum",
    "composer.lock",
    "Pipfile.lock",
    "bun.lockb",
    "bun.lock",
    "flake.lock",
    "packages.lock.json",
    "paket.lock",
    "pdm.lock",
    "uv.lock",
];

fn is_lockfile(path: &str) -> bool {
    LOCKFILES.contains(&path.rsplit('/').next().unwrap_or(path))
}

/// `generated:lockfile`: any hunk of a lockfile, unless the file was moved there from a file
/// that was not a lockfile (renaming `secrets.py` to `poetry.lock` must stay visible).
pub fn lockfile(ctx: &Ctx) -> Option<Label> {
    if !is_lockfile(ctx.path) {
        return None;
    }
    if ctx.old_path.is_some_and(|old| !is_lockfile(old)) {
        return None;
    }
    Some(Label::Lockfile)
}

/// `file:added-empty`: a new file whose lines are all blank.
pub fn added_empty(ctx: &Ctx) -> Option<Label> {
    (ctx.coords.is_new_file() && ctx.lines.iter().all(|l| l.text.trim().is_empty()))
        .then_some(Label::AddedEmpty)
}

/// `file:renamed`: a file with no hunks whose header is exactly what git writes for a move
/// with identical content and mode. A mode change, a copy or a binary change adds or replaces
/// header lines and is not trusted.
pub fn pure_rename(header: &[&str], hunkless: bool) -> Option<Label> {
    let meta: Vec<&str> = header
        .iter()
        .skip(1)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let pure = hunkless
        && meta.len() == 3
        && meta[0] == "similarity index 100%"
        && meta[1].starts_with("rename from ")
        && meta[2].starts_with("rename to ");
    pure.then_some(Label::Renamed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffLine, LineKind};
    use crate::trust::segment::Coords;

    fn ctx<'a>(path: &'a str, old: Option<&'a str>, lines: &'a [DiffLine]) -> Ctx<'a> {
        Ctx {
            path,
            old_path: old,
            coords: Coords::parse("@@ -0,0 +1,2 @@").unwrap(),
            lines,
        }
    }

    fn added(text: &str) -> DiffLine {
        DiffLine {
            kind: LineKind::Added,
            line: 1,
            text: text.into(),
        }
    }

    #[test]
    fn lockfiles_but_not_moved_into_place() {
        let l = [added("x")];
        assert_eq!(
            lockfile(&ctx("a/Cargo.lock", None, &l)),
            Some(Label::Lockfile)
        );
        assert_eq!(lockfile(&ctx("go.mod", None, &l)), None);
        assert_eq!(lockfile(&ctx("uv.lock", Some("secrets.py"), &l)), None);
        assert_eq!(
            lockfile(&ctx("uv.lock", Some("old/uv.lock"), &l)),
            Some(Label::Lockfile)
        );
    }

    #[test]
    fn empty_new_files() {
        let blank = [added(""), added("  ")];
        assert_eq!(
            added_empty(&ctx("a.py", None, &blank)),
            Some(Label::AddedEmpty)
        );
        let code = [added(""), added("x = 1")];
        assert_eq!(added_empty(&ctx("a.py", None, &code)), None);
    }

    #[test]
    fn only_exact_pure_renames() {
        let pure = [
            "diff --git a/a.py b/b.py",
            "similarity index 100%",
            "rename from a.py",
            "rename to b.py",
        ];
        assert_eq!(pure_rename(&pure, true), Some(Label::Renamed));
        let mode = [
            "diff --git a/a.py b/b.py",
            "old mode 100644",
            "new mode 100755",
            "similarity index 100%",
            "rename from a.py",
            "rename to b.py",
        ];
        assert_eq!(pure_rename(&mode, true), None);
        assert_eq!(pure_rename(&pure[..2], true), None);
    }
}
