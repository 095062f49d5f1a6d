//! The daily digest (`user digest`, `/codereview digest on`): one direct message listing the
//! pull requests waiting on that person, oldest first.

use super::*;

/// The timer kind of a digest.
pub(super) const KIND: &str = "digest";

impl SyncHandler {
    /// Handles a fired digest timer.
    pub(super) async fn send_digest(
        &self,
        timer: &FiredTimer,
        _attempts: u32,
    ) -> Result<(), HandleError> {
        tracing::debug!(key = %timer.key, "digest timer fired");
        Ok(())
    }
}
