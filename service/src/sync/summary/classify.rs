//! What a changed file is, by its path and what the forge said about it: source first, then
//! docs; lockfiles, generated files and binaries are never sent to the model.

use super::FileDiff;

/// What a file is, for ranking: source first, then docs; the rest is never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileClass {
    /// Code, tests, configuration: what the summary is about.
    Source,
    /// Documentation (`*.md`, `docs/`, ...): sent when source leaves room.
    Docs,
    /// A dependency lockfile.
    Lockfile,
    /// Generated, minified or vendored code.
    Generated,
    /// Binary content (or a file the forge would not diff).
    Binary,
}

impl FileClass {
    /// Whether files of this class are ever sent to the model.
    pub fn sent(self) -> bool {
        matches!(self, FileClass::Source | FileClass::Docs)
    }
}

const LOCKFILES: &[&str] = &[
    "cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "bun.lockb",
    "poetry.lock",
    "pipfile.lock",
    "uv.lock",
    "pdm.lock",
    "gemfile.lock",
    "composer.lock",
    "go.sum",
    "mix.lock",
    "pubspec.lock",
    "podfile.lock",
    "packages.lock.json",
    "flake.lock",
    "gradle.lockfile",
    "package.resolved",
    "paket.lock",
    "conan.lock",
];

const GENERATED_DIRS: &[&str] = &[
    "dist",
    "vendor",
    "node_modules",
    "__generated__",
    "third_party",
    "bower_components",
];

const GENERATED_SUFFIXES: &[&str] = &[
    ".min.js",
    ".min.css",
    ".min.mjs",
    ".js.map",
    ".css.map",
    ".pb.go",
    ".pb.cc",
    ".pb.h",
    "_pb2.py",
    "_pb2_grpc.py",
    "_pb2.pyi",
    ".pb.swift",
    ".g.dart",
    ".freezed.dart",
    ".designer.cs",
    ".snap",
];

const BINARY_SUFFIXES: &[&str] = &[
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".bmp", ".tiff", ".pdf", ".zip", ".gz",
    ".tgz", ".xz", ".bz2", ".7z", ".jar", ".war", ".class", ".wasm", ".so", ".dylib", ".dll",
    ".exe", ".bin", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp3", ".mp4", ".mov", ".avi",
    ".psd", ".sqlite", ".db",
];

const DOC_SUFFIXES: &[&str] = &[".md", ".markdown", ".rst", ".adoc", ".asciidoc", ".txt"];
const DOC_DIRS: &[&str] = &["docs", "doc", "documentation"];
const DOC_NAMES: &[&str] = &[
    "license",
    "licence",
    "copying",
    "changelog",
    "changes",
    "authors",
    "notice",
];

/// Ranks a file by its path and what the forge said about it.
pub fn classify(file: &FileDiff) -> FileClass {
    let lower = file.path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let dirs: Vec<&str> = lower.split('/').collect();
    let dirs = &dirs[..dirs.len().saturating_sub(1)];
    if file.binary || file.too_large || BINARY_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return FileClass::Binary;
    }
    if LOCKFILES.contains(&name) {
        return FileClass::Lockfile;
    }
    let stem_generated = name.contains("_generated.")
        || name.contains(".generated.")
        || name.starts_with("generated_");
    if file.generated
        || stem_generated
        || GENERATED_SUFFIXES.iter().any(|s| name.ends_with(s))
        || dirs.iter().any(|d| GENERATED_DIRS.contains(d))
    {
        return FileClass::Generated;
    }
    let doc_name = DOC_NAMES
        .iter()
        .any(|n| name == *n || name.starts_with(&format!("{n}.")));
    if doc_name
        || DOC_SUFFIXES.iter().any(|s| name.ends_with(s))
        || dirs.iter().any(|d| DOC_DIRS.contains(d))
    {
        return FileClass::Docs;
    }
    FileClass::Source
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let c = |p: &str| {
            classify(&FileDiff {
                path: p.into(),
                ..FileDiff::default()
            })
        };
        assert_eq!(c("src/main.rs"), FileClass::Source);
        assert_eq!(c("tests/api/main.rs"), FileClass::Source);
        assert_eq!(c("Cargo.toml"), FileClass::Source);
        assert_eq!(c("README.md"), FileClass::Docs);
        assert_eq!(c("docs/setup.html"), FileClass::Docs);
        assert_eq!(c("LICENSE"), FileClass::Docs);
        assert_eq!(c("CHANGELOG.md"), FileClass::Docs);
        for lock in [
            "Cargo.lock",
            "web/package-lock.json",
            "yarn.lock",
            "pnpm-lock.yaml",
            "poetry.lock",
            "go.sum",
            "Gemfile.lock",
        ] {
            assert_eq!(c(lock), FileClass::Lockfile, "{lock}");
        }
        for gen_ in [
            "static/app.min.js",
            "dist/index.js",
            "vendor/github.com/x/y.go",
            "api/v1/service.pb.go",
            "proto/thing_pb2.py",
            "src/schema_generated.rs",
            "node_modules/left-pad/index.js",
        ] {
            assert_eq!(c(gen_), FileClass::Generated, "{gen_}");
        }
        assert_eq!(c("assets/logo.png"), FileClass::Binary);
        let marked = FileDiff {
            path: "src/api.ts".into(),
            generated: true,
            ..FileDiff::default()
        };
        assert_eq!(classify(&marked), FileClass::Generated);
        let binary = FileDiff {
            path: "data/blob".into(),
            binary: true,
            ..FileDiff::default()
        };
        assert_eq!(classify(&binary), FileClass::Binary);
    }
}
