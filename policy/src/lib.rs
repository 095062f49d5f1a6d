//! The codereview rules engine, pure: `CODEREVIEW.toml` parsing, validation and compilation
//! ([`config`]), glob and Python-regex translation ([`glob`], [`config::pyregex`]), the unified
//! diff model and parser ([`diff`]), path and line matching ([`matching`]), review evaluation
//! ([`review`], with approval [`checklist`]s), the summary ([`report`], [`explain`]), CODEOWNERS conversion ([`codeowners`])
//! and mechanical-change classification ([`trust`]).
//!
//! No I/O happens here: callers read files, run git and talk to forges, then hand this crate
//! values. That is why both the `codereview` action and the `codereview-sync` service can use it
//! and why its tests need no process, network or clock.

pub mod checklist;
pub mod codeowners;
pub mod config;
pub mod diff;
pub mod explain;
pub mod glob;
pub mod matching;
pub mod report;
pub mod review;
pub mod trust;
pub mod unread;

/// The commit status context (GitHub) / name (GitLab) the gate posts and the service shows.
pub const STATUS_CONTEXT: &str = "codereview";
