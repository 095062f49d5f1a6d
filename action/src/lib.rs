//! The `codereview` CI gate and command line: reads the checkout with git, asks the forge for
//! the pull/merge request's facts, runs the engine (`codereview_policy`) and posts the verdict
//! through `codereview_forge`. Only this crate knows about clap, CI environments and git.
//!
//! Arrows point down: `cli` → `ci` (CI environments, dispatch, job files) → `merge_group` →
//! `status` (the evaluation) → `trust_command` → `failure` → `discover` → `git`.

pub mod ci;
pub mod cli;
pub mod discover;
pub mod failure;
pub mod git;
pub mod merge_group;
pub mod status;
pub mod trust_command;
