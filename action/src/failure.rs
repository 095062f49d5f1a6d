//! A command's failure: the message to print and the exit code (DESIGN §3: 1 for an invalid
//! config or a failed check, 2 for a usage or environment error, with the fix in one line).
//!
//! Every command module returns it and only `cli` turns it into an exit code, so it sits below
//! all of them.

use crate::discover::DiscoverError;
use crate::git::{GitError, NotARepository};
use codereview_forge::ForgeError;

/// A command's failure: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// 1 (invalid config or failed check) or 2 (usage or environment).
    pub code: i32,
    /// Printed to stderr.
    pub message: String,
}

impl Failure {
    /// Exit 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    /// Exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<GitError> for Failure {
    fn from(e: GitError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<NotARepository> for Failure {
    fn from(e: NotARepository) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<DiscoverError> for Failure {
    fn from(e: DiscoverError) -> Self {
        Failure::usage(e.to_string())
    }
}

/// A forge error as the one-line exit-2 failure the runner shows.
pub fn forge_failure(e: ForgeError) -> Failure {
    Failure::usage(e.to_string())
}
