//! Integration tests for `codereview-sync`, one binary (zero2prod layout): every storage test
//! runs on SQLite and, when `CODEREVIEW_TEST_POSTGRES` is set, on PostgreSQL.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

mod helpers;

/// The fake GitHub GraphQL API the action's tests use: queries are validated against
/// GitHub's published schema and answered from an in-memory world.
#[path = "../../../action/tests/ci_support/github_graphql.rs"]
#[allow(dead_code)]
mod github_graphql;

mod ai_summary;
mod cli;
mod crash;
mod digest;
mod hostile;
mod http;
mod live_review;
mod outage;
mod redeliver;
mod reminders;
mod slack_install;
mod slash_command;
mod store;
mod sync_binary;
mod sync_fakes;
mod sync_github;
mod sync_gitlab;
mod sync_outage;
mod tenancy;
mod worker;
