//! The daily digest (`user digest`, `/codereview digest on`): one direct message listing the
//! pull requests waiting on that person, oldest first.
//!
//! A fired digest timer: no subscription any more → nothing (and no next timer); the workspace
//! removed → the subscription is deleted too. Otherwise the
//! next one is set first (the next day's time in the person's zone, so a failing day never
//! ends the series), then the message is sent only when something waits on one of the
//! person's mapped logins (`user map`) and their Slack status does not say they are away. The
//! post carries the key `digest:{team}/{user}@{due_at}`, so a retried event finds the message
//! an earlier attempt posted instead of sending it twice.

use super::*;
use crate::sync::digest as pure;

/// The timer kind of a digest.
pub(super) const KIND: &str = pure::TIMER_KIND;

impl SyncHandler {
    /// Handles a fired digest timer.
    pub(super) async fn send_digest(
        &self,
        timer: &FiredTimer,
        attempts: u32,
    ) -> Result<(), HandleError> {
        let (team_id, user) = pure::parse_timer_key(&timer.key).ok_or_else(|| {
            HandleError::permanent(format!("digest timer key `{}` is not team/user", timer.key))
        })?;
        let Some(sub) = self
            .store
            .digest_subscription(team_id, user)
            .await
            .map_err(store_error)?
        else {
            tracing::debug!(key = %timer.key, "digest unsubscribed: nothing to send");
            return Ok(());
        };
        let Some(token) = self
            .store
            .slack_bot_token(&self.vault, team_id)
            .await
            .map_err(store_error)?
        else {
            // The workspace was removed: its digests end with it.
            tracing::info!(key = %timer.key, "digest ended: the workspace is no longer registered");
            self.store
                .unsubscribe_digest(team_id, user)
                .await
                .map_err(store_error)?;
            return Ok(());
        };
        let now = self.now();
        let zone = pure::parse_zone(&sub.timezone).unwrap_or_else(|e| {
            tracing::warn!(key = %timer.key, error = %e, "digest time zone unreadable: using UTC");
            jiff::tz::TimeZone::UTC
        });
        let at = u16::try_from(sub.at_min)
            .ok()
            .filter(|m| *m < 24 * 60)
            .unwrap_or(pure::DEFAULT_AT_MIN);
        if let Some(next) = pure::next_due(now.max(timer.due_at), at, &zone) {
            self.store
                .set_timer(KIND, &timer.key, next, None)
                .await
                .map_err(store_error)?;
        }

        let logins = self
            .store
            .logins_of_slack_user(user)
            .await
            .map_err(store_error)?;
        if logins.is_empty() {
            tracing::info!(key = %timer.key, "digest skipped: the user has no mapped forge login (`user map`)");
            return Ok(());
        }
        let waits = self
            .store
            .review_waits_in_team(team_id)
            .await
            .map_err(store_error)?;
        let items = pure::waiting_for(&waits, Some(&logins));
        let Some(text) = pure::render(&items, now) else {
            tracing::debug!(key = %timer.key, "digest skipped: nothing waits");
            return Ok(());
        };
        if self.slack_says_away(&token, team_id, user).await {
            tracing::info!(key = %timer.key, "digest skipped: the user's Slack status says away");
            return Ok(());
        }
        let dm = self.slack.open_dm(&token, user).await?;
        let channel = Channel {
            team_id: team_id.to_string(),
            channel_id: dm,
        };
        let content = render::SlackText { text, blocks: None };
        let ts = self
            .post_once(
                &token,
                &channel,
                None,
                &content,
                &timer.dedupe_key(),
                attempts,
            )
            .await?;
        self.metrics.cockpit_message("digest");
        tracing::info!(key = %timer.key, %ts, count = items.len(), "digest sent");
        Ok(())
    }
}
