//! Sync decisions: what an event means for the linked Slack thread or PR conversation.
//!
//! This module will hold the pure decision code (event + links → post / update / delete /
//! ignore) and the [`EventHandler`] that applies it through `crate::clients`. Until then the
//! service runs with [`LogOnlyHandler`], which acknowledges every event so the queue drains.

use async_trait::async_trait;

use crate::queue::{Event, EventHandler, HandleError};

/// The default handler: logs the event's identity (source, kind, delivery id — never the
/// payload) and succeeds.
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
            "event acknowledged (no sync handler yet)"
        );
        Ok(())
    }
}
