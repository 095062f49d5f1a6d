//! The codereview policy engine: `CODEREVIEW.toml` discovery, compilation and matching, review
//! evaluation, and the forges that post the result. The `codereview` binary is a thin CLI on top,
//! and the sync service reuses this library instead of copying code.

pub mod cli;
pub mod codeowners;
pub mod config;
pub mod explain;
pub mod forge;
pub mod git;
pub mod glob;
pub mod matching;
pub mod merge_group;
pub mod report;
pub mod review;
pub mod secret;
pub mod status;
pub mod trust;
pub mod unread;
