//! The effectful side of the sync: [`SyncHandler`], the queue's [`EventHandler`] that loads
//! facts from the store, runs the pure [`crate::sync`] decisions through the API clients and
//! records ids; its `ai` part writes the optional AI summary.
//!
//! [`LogOnlyHandler`] remains for tests and tools that want the queue drained without effects.

mod cache;
pub mod handler;

use async_trait::async_trait;

use crate::queue::{Event, EventHandler, HandleError};

pub use handler::{AiSummary, SyncHandler};

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
