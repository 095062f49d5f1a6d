//! Sync decisions: what an event means for the linked Slack thread or PR conversation. Pure:
//! nothing here does I/O; the effects are the [`crate::worker`]'s.
//!
//! The path is parse → decide → act:
//! - [`github`], [`gitlab`], [`slack`] parse payloads into the typed [`model`];
//! - [`decide`] turns an event plus the facts loaded from the store into [`decide::Action`]s
//!   (post, update, delete, create/edit/delete a forge comment, start a pipeline, ignore with
//!   a reason);
//! - [`render`] and [`markup`] produce message text;
//! - [`summary`] decides when a PR gets an AI summary, cuts its diff to a budget, writes the
//!   prompt and shows the answer; the worker's `ai` part fetches the diff, asks the model and
//!   posts the answer;
//! - [`digest`] and [`command`]: the daily digest (when, which pull requests, the text) and
//!   the `/codereview` slash command's parsing and answers.

pub mod card;
pub mod command;
pub mod decide;
pub mod digest;
pub mod github;
pub mod gitlab;
pub mod markup;
pub mod model;
pub mod render;
pub mod review_state;
pub mod schedule;
pub mod slack;
pub mod summary;
