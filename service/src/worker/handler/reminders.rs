//! Reminders (`link reminders`): a pull request pending longer than the link's threshold, in
//! working time, gets a reply in its thread nudging the reviewers still needed.
//!
//! Durable and exactly once:
//! - Each time the live review state of a thread is computed, [`SyncHandler::track_wait`]
//!   records whether it waits (`review_waits`) and, when its link has reminder settings, sets
//!   the thread's one reminder timer (if absent) at the working time after which it is due.
//! - A due timer becomes a queued event in one transaction (`Store::fire_due_timers`), ordered
//!   behind the pull request's own queued events.
//! - [`SyncHandler::remind`] re-evaluates the pull request, claims the reminder in the store
//!   (one claim per due time: a second copy of the event, on any replica, finds it claimed),
//!   posts it with an idempotency key (`{pr}:reminder:{due}`; a retry after a crash finds the
//!   post an earlier attempt made), then sets the next timer.

use super::review_state::LiveState;
use super::*;
use crate::store::ReminderProgress;
use crate::sync::review_state;
use crate::sync::schedule::{ReminderKey, WorkingHours, format_working_time};

/// The timer kind of a reminder.
pub(super) const KIND: &str = crate::sync::schedule::REMINDER_TIMER;

/// When the review state cannot be read at fire time, try again after this much working time.
const UNREADABLE_RETRY_MS: i64 = 15 * 60 * 1000;

fn key_of(pr: &PrRef, team_id: &str, channel_id: &str) -> ReminderKey {
    ReminderKey {
        forge: pr.forge,
        repo: pr.repo.clone(),
        number: pr.number,
        team_id: team_id.into(),
        channel_id: channel_id.into(),
    }
}

impl SyncHandler {
    /// Records whether `thread` waits for review after its live state was computed: an open
    /// pull request with a pending scope waits (and gets its reminder timer when the link has
    /// reminder settings); anything else (approved, closed, a draft, no rules) does not. An
    /// unknown state (live review off, forge unreadable) changes nothing.
    pub(super) async fn track_wait(
        &self,
        thread: &PrThread,
        facts: &PrFacts,
        live: &LiveState,
    ) -> Result<(), HandleError> {
        if !live.evaluated {
            return Ok(());
        }
        let key = key_of(
            &thread.pr,
            &thread.thread.team_id,
            &thread.thread.channel_id,
        );
        if facts.state == PrState::Open && !live.draft && live.pending {
            self.store
                .upsert_review_wait(thread, &facts.url, &live.awaiting, self.now())
                .await
                .map_err(store_error)?;
            let Some((settings, hours)) = self.reminder_settings(&key).await? else {
                return Ok(());
            };
            if let Some(progress) = self
                .store
                .reminder_progress(thread)
                .await
                .map_err(store_error)?
            {
                let due = hours.add_working_time(progress.base(), settings.after_ms);
                self.store
                    .set_timer_if_absent(KIND, &key.encode(), due, Some(&key.order_key()))
                    .await
                    .map_err(store_error)?;
            }
        } else {
            self.stop_waiting(thread, &key).await?;
        }
        Ok(())
    }

    async fn stop_waiting(&self, thread: &PrThread, key: &ReminderKey) -> Result<(), HandleError> {
        self.store
            .remove_review_wait(thread)
            .await
            .map_err(store_error)?;
        self.store
            .cancel_timer(KIND, &key.encode())
            .await
            .map_err(store_error)
    }

    /// The reminder settings of a thread's link and their working hours; `None` when reminders
    /// are off there (or the stored settings no longer parse: logged).
    async fn reminder_settings(
        &self,
        key: &ReminderKey,
    ) -> Result<Option<(crate::store::ReminderSettings, WorkingHours)>, HandleError> {
        let Some(settings) = self
            .store
            .reminder_settings_for(key.forge, &key.repo, &key.team_id, &key.channel_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        match WorkingHours::of(&settings) {
            Ok(hours) => Ok(Some((settings, hours))),
            Err(e) => {
                tracing::warn!(repo = %settings.repo, error = %e, "reminder settings unusable");
                Ok(None)
            }
        }
    }

    async fn set_reminder(&self, key: &ReminderKey, due: i64) -> Result<(), HandleError> {
        self.store
            .set_timer(KIND, &key.encode(), due, Some(&key.order_key()))
            .await
            .map_err(store_error)
    }

    /// Handles a fired reminder timer (see the module docs).
    pub(super) async fn remind(
        &self,
        timer: &FiredTimer,
        attempts: u32,
    ) -> Result<(), HandleError> {
        let key = ReminderKey::decode(&timer.key).ok_or_else(|| {
            HandleError::permanent(format!("malformed reminder key `{}`", timer.key))
        })?;
        let pr = PrRef {
            forge: key.forge,
            repo: key.repo.clone(),
            number: key.number,
        };
        let _guard = self.locks.lock(&pr_key(&pr)).await;
        let lookup = PrThread {
            pr: pr.clone(),
            thread: SlackRef {
                team_id: key.team_id.clone(),
                channel_id: key.channel_id.clone(),
                ts: String::new(),
            },
        };
        let s = &self.store;
        let (Some(wait), Some(progress)) = (
            s.review_wait(&lookup).await.map_err(store_error)?,
            s.reminder_progress(&lookup).await.map_err(store_error)?,
        ) else {
            tracing::debug!(key = %timer.key, "reminder for a thread that no longer waits");
            return Ok(());
        };
        let Some((settings, hours)) = self.reminder_settings(&key).await? else {
            tracing::debug!(key = %timer.key, "reminders are off for this link");
            return Ok(());
        };
        let now = self.now();
        // An earlier attempt of this very event claimed it and may have posted: finish it.
        let resuming = attempts > 1 && progress.reminded_for == Some(timer.due_at);
        let expected = hours.add_working_time(progress.base(), settings.after_ms);
        if !resuming {
            if now < expected {
                // Settings changed, the wait started over, or this reminder was sent already.
                return self.set_reminder(&key, expected).await;
            }
            if !hours.is_working(now) {
                // A late fire (the service was down, or the queue was behind): not at night.
                return self
                    .set_reminder(&key, hours.next_working_moment(now))
                    .await;
            }
        }

        let live = self.live_state(&pr, &key.team_id).await;
        if !live.evaluated {
            tracing::info!(key = %timer.key, "review state unreadable; reminder postponed");
            return self
                .set_reminder(&key, hours.add_working_time(now, UNREADABLE_RETRY_MS))
                .await;
        }
        let facts = match &live.card {
            // Read with the live review state (GitHub): no second read.
            Some((facts, _)) => facts.clone(),
            None => {
                let token = self.forge_token(pr.forge, &pr.repo).await?;
                self.api(pr.forge)?.pull_request(&token, &pr).await?
            }
        };
        let thread = &wait.thread;
        if facts.state != PrState::Open || live.draft || !live.pending {
            return self.stop_waiting(thread, &key).await;
        }
        s.upsert_review_wait(thread, &facts.url, &live.awaiting, now)
            .await
            .map_err(store_error)?;
        if !resuming
            && !s
                .claim_reminder(thread, timer.due_at, now)
                .await
                .map_err(store_error)?
        {
            tracing::info!(key = %timer.key, due = timer.due_at, "reminder already sent");
            return Ok(());
        }
        let claimed_at = if resuming {
            progress.reminded_at.unwrap_or(now)
        } else {
            now
        };
        let shown_at = if resuming {
            timer.due_at
        } else {
            timer.due_at.max(expected)
        };
        let waited =
            format_working_time(hours.working_time_between(progress.pending_since, shown_at));
        match review_state::reminder_text(&waited, &live.reminder) {
            Some(text) => {
                self.post_reminder(thread, &pr, timer.due_at, text, attempts, &progress)
                    .await?
            }
            None => tracing::info!(key = %timer.key, "every reviewer needed is away: no reminder"),
        }
        self.set_reminder(&key, hours.add_working_time(claimed_at, settings.after_ms))
            .await
    }

    async fn post_reminder(
        &self,
        thread: &PrThread,
        pr: &PrRef,
        due_at: i64,
        text: String,
        attempts: u32,
        before: &ReminderProgress,
    ) -> Result<(), HandleError> {
        let content = render::SlackText { text, blocks: None };
        let post_key = format!("{}:reminder:{due_at}", pr_key(pr));
        if let Err(e) = self
            .reply_in_thread(thread, &content, &post_key, attempts)
            .await
        {
            // Give the claim back so the retry makes it again (and looks for this post).
            let _ = self.store.release_reminder(thread, due_at, before).await;
            return Err(e);
        }
        self.metrics.cockpit_message("reminder");
        Ok(())
    }
}
