//! Finding a repository's `CODEREVIEW*.toml` files, in the working tree or at a git revision
//! (the engine itself only sees the [`ConfigFile`]s this reads).
//!
//! CI mode reads the configs from the pull request's **base** revision so a pull request cannot
//! change the rules it is judged by; the local CLI reads the working tree.

use crate::git::{self, GitError};
use codereview_policy::config::{ConfigFile, is_config_path};
use std::path::Path;

/// Why configs could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// Repository-relative path.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Config files among `files` (repository-relative paths), read from the working tree.
pub fn from_worktree_files(
    root: &Path,
    files: &[String],
) -> Result<Vec<ConfigFile>, DiscoverError> {
    let mut configs = Vec::new();
    for path in files.iter().filter(|p| is_config_path(p)) {
        let full = root.join(path);
        if !full.is_file() {
            continue; // deleted in the working tree
        }
        let text = std::fs::read_to_string(&full).map_err(|e| DiscoverError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        configs.push(ConfigFile {
            path: path.clone(),
            text,
        });
    }
    Ok(configs)
}

/// Every config file of the working tree (tracked or untracked, not ignored).
pub fn from_worktree(root: &Path) -> Result<Vec<ConfigFile>, DiscoverError> {
    let files = git::ls_files(root)?;
    from_worktree_files(root, &files)
}

/// Every config file at a revision (e.g. the pull request's base commit).
pub fn from_revision(root: &Path, rev: &str) -> Result<Vec<ConfigFile>, DiscoverError> {
    let paths: Vec<String> = git::ls_tree(root, rev)?
        .into_iter()
        .filter(|p| is_config_path(p))
        .collect();
    let contents = git::read_files_at(root, rev, &paths)?;
    Ok(paths
        .into_iter()
        .zip(contents)
        .map(|(path, bytes)| ConfigFile {
            path,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
        .collect())
}
