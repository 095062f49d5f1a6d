//! Reminders (`link reminders`): a pull request pending longer than the link's threshold, in
//! working time, gets a reply in its thread nudging the reviewers still needed.

use super::*;

/// The timer kind of a reminder.
pub(super) const KIND: &str = "reminder";

impl SyncHandler {
    /// Handles a fired reminder timer.
    pub(super) async fn remind(
        &self,
        timer: &FiredTimer,
        _attempts: u32,
    ) -> Result<(), HandleError> {
        tracing::debug!(key = %timer.key, now = self.now(), "reminder timer fired");
        Ok(())
    }
}
