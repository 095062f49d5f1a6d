//! Sync decisions: what an event means for the linked Slack thread or PR conversation.
//!
//! The path is parse → decide → act:
//! - [`github`], [`gitlab`], [`slack`] parse payloads into the typed [`model`] (pure);
//! - [`decide`] turns an event plus the facts loaded from the store into [`decide::Action`]s
//!   (pure: post, update, delete, create/edit/delete a forge comment, start a pipeline,
//!   ignore with a reason);
//! - [`render`] and [`markup`] produce message text (pure);
//! - [`summary`] decides when a PR gets an AI summary and cuts its diff to a budget (pure);
//!   the handler's `ai` part fetches the diff, asks the model and posts the answer;
//! - [`handler::SyncHandler`] is the [`EventHandler`] that loads facts, calls `decide`, runs the
//!   actions through the client traits and records ids. It is the only part with effects.
//!
//! [`LogOnlyHandler`] remains for tests and tools that want the queue drained without effects.

pub mod decide;
pub mod github;
pub mod gitlab;
pub mod handler;
pub mod markup;
pub mod model;
pub mod render;
pub mod slack;
pub mod summary;

use async_trait::async_trait;

use crate::queue::{Event, EventHandler, HandleError};

pub use handler::{AiSummary, SyncConfig, SyncHandler};

/// A handler that logs the event's identity (source, kind, delivery id — never the payload)
/// and succeeds.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogOnlyHandler;

#[async_trait]
impl EventHandler for LogOnlyHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        tracing::debug!(
            source = %event.source,
            kind = %event.kind,
            dedupe_key = %event.dedupe_key,
            bytes = event.payload.len(),
            "event acknowledged (no sync)"
        );
        Ok(())
    }
}
