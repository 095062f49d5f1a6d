//! Reminder settings per link (`link reminders`) and which reminder of a waiting thread was
//! sent last. Settings only: durations, minutes of the day, day bits and a zone name.

use super::waits::{WaitRow, bind_wait_key};
use super::{PrThread, ReviewWait, Store, StoreError, on_pool};
use crate::domain::Forge;

/// When a linked channel reminds the reviewers of a pending pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderSettings {
    /// The link's forge, `None` for a link on any forge (as in `repo_links`).
    pub forge: Option<Forge>,
    /// The link's repository path (lower case).
    pub repo: String,
    /// Slack team of the link.
    pub team_id: String,
    /// Channel of the link.
    pub channel_id: String,
    /// Working time (ms) a pull request waits before a reminder, and between reminders.
    pub after_ms: i64,
    /// Working hours: minute of the day they start.
    pub day_start_min: i32,
    /// Minute of the day they end.
    pub day_end_min: i32,
    /// Working days, bit 0 = Monday.
    pub days: i32,
    /// IANA time zone name.
    pub timezone: String,
}

/// How far the reminders of one waiting thread have gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderProgress {
    /// Since when the thread has been pending (ms).
    pub pending_since: i64,
    /// The due time of the last reminder claimed, if any.
    pub reminded_for: Option<i64>,
    /// When that reminder was handled (ms): the next one counts from here.
    pub reminded_at: Option<i64>,
}

impl ReminderProgress {
    /// What the next reminder's working time counts from.
    pub fn base(&self) -> i64 {
        self.reminded_at.unwrap_or(self.pending_since)
    }
}

type SettingsRow = (String, String, String, String, i64, i32, i32, i32, String);

fn forge_column(forge: Option<Forge>) -> &'static str {
    forge.map_or("any", Forge::as_str)
}

fn settings_from_row(r: SettingsRow) -> Result<ReminderSettings, StoreError> {
    let forge = match r.0.as_str() {
        "any" => None,
        other => Some(
            other
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("forge `{other}`")))?,
        ),
    };
    Ok(ReminderSettings {
        forge,
        repo: r.1,
        team_id: r.2,
        channel_id: r.3,
        after_ms: r.4,
        day_start_min: r.5,
        day_end_min: r.6,
        days: r.7,
        timezone: r.8,
    })
}

macro_rules! settings_columns {
    () => {
        "forge, repo, team_id, channel_id, after_ms, day_start_min, day_end_min, days, timezone"
    };
}

/// `WHERE` for the row of one thread's wait.
macro_rules! wait_row {
    () => {
        "forge = $1 AND repo = $2 AND number = $3 AND team_id = $4 AND channel_id = $5"
    };
}

#[derive(sqlx::FromRow)]
struct LinkWaitRow {
    #[sqlx(flatten)]
    wait: WaitRow,
    reminded_for: Option<i64>,
    reminded_at: Option<i64>,
}

impl Store {
    /// Sets (or replaces) the reminder settings of a link.
    pub async fn put_reminder_settings(&self, s: &ReminderSettings) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO reminder_settings (forge, repo, team_id, channel_id, after_ms,
                     day_start_min, day_end_min, days, timezone)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (forge, repo, team_id, channel_id) DO UPDATE SET
                     after_ms = excluded.after_ms, day_start_min = excluded.day_start_min,
                     day_end_min = excluded.day_end_min, days = excluded.days,
                     timezone = excluded.timezone",
            )
            .bind(forge_column(s.forge))
            .bind(&s.repo)
            .bind(&s.team_id)
            .bind(&s.channel_id)
            .bind(s.after_ms)
            .bind(s.day_start_min)
            .bind(s.day_end_min)
            .bind(s.days)
            .bind(&s.timezone)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Deletes a link's reminder settings; returns whether there were any.
    pub async fn remove_reminder_settings(
        &self,
        forge: Option<Forge>,
        repo: &str,
        team_id: &str,
        channel_id: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM reminder_settings
                 WHERE forge = $1 AND repo = $2 AND team_id = $3 AND channel_id = $4",
            )
            .bind(forge_column(forge))
            .bind(repo)
            .bind(team_id)
            .bind(channel_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// The reminder settings that apply to a thread of `forge`'s `repo` in a channel: the
    /// link's for that forge, else the any-forge link's. Settings of a link that was removed
    /// (`link remove`, `workspace remove`) no longer apply: its threads are not reminded.
    pub async fn reminder_settings_for(
        &self,
        forge: Forge,
        repo: &str,
        team_id: &str,
        channel_id: &str,
    ) -> Result<Option<ReminderSettings>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            settings_columns!(),
            " FROM reminder_settings
             WHERE (forge = $1 OR forge = 'any') AND repo = $2 AND team_id = $3
               AND channel_id = $4
               AND EXISTS (SELECT 1 FROM repo_links l WHERE l.forge = reminder_settings.forge
                   AND l.repo = reminder_settings.repo AND l.team_id = reminder_settings.team_id
                   AND l.channel_id = reminder_settings.channel_id)
             ORDER BY CASE WHEN forge = 'any' THEN 1 ELSE 0 END LIMIT 1"
        );
        let row: Option<SettingsRow> = on_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(forge.as_str())
                .bind(repo.to_ascii_lowercase())
                .bind(team_id)
                .bind(channel_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(settings_from_row).transpose()
    }

    /// Every link's reminder settings (for `link list`).
    pub async fn list_reminder_settings(&self) -> Result<Vec<ReminderSettings>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            settings_columns!(),
            " FROM reminder_settings ORDER BY repo, forge, team_id, channel_id"
        );
        let rows: Vec<SettingsRow> =
            on_pool!(self, |pool| { sqlx::query_as(SQL).fetch_all(pool).await? });
        rows.into_iter().map(settings_from_row).collect()
    }

    /// The waiting threads of one link (`forge` `None`: that path on any forge), with their
    /// reminder progress: what `link reminders` re-schedules or cancels.
    pub async fn link_waits(
        &self,
        forge: Option<Forge>,
        repo: &str,
        team_id: &str,
        channel_id: &str,
    ) -> Result<Vec<(ReviewWait, ReminderProgress)>, StoreError> {
        let rows: Vec<LinkWaitRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, repo, number, team_id, channel_id, thread_ts, url, pending_since,
                     waiting_on, reminded_for, reminded_at
                 FROM review_waits
                 WHERE ($1 = 'any' OR forge = $1) AND repo = $2 AND team_id = $3
                   AND channel_id = $4
                 ORDER BY forge, number",
            )
            .bind(forge_column(forge))
            .bind(repo)
            .bind(team_id)
            .bind(channel_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                let progress = ReminderProgress {
                    pending_since: r.wait.pending_since,
                    reminded_for: r.reminded_for,
                    reminded_at: r.reminded_at,
                };
                Ok((ReviewWait::try_from(r.wait)?, progress))
            })
            .collect()
    }

    /// How far the reminders of `thread` have gone; `None` when it does not wait.
    pub async fn reminder_progress(
        &self,
        thread: &PrThread,
    ) -> Result<Option<ReminderProgress>, StoreError> {
        const SQL: &str = concat!(
            "SELECT pending_since, reminded_for, reminded_at FROM review_waits WHERE ",
            wait_row!()
        );
        let row: Option<(i64, Option<i64>, Option<i64>)> = on_pool!(self, |pool| {
            bind_wait_key!(sqlx::query_as(SQL), thread)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(
            |(pending_since, reminded_for, reminded_at)| ReminderProgress {
                pending_since,
                reminded_for,
                reminded_at,
            },
        ))
    }

    /// Claims the reminder due at `due` for `thread` (handled at `now`): true for exactly one
    /// caller per due time, whichever replica or event copy asks first. False when the thread
    /// no longer waits or this (or a later) reminder was claimed already.
    pub async fn claim_reminder(
        &self,
        thread: &PrThread,
        due: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = concat!(
            "UPDATE review_waits SET reminded_for = $6, reminded_at = $7 WHERE ",
            wait_row!(),
            " AND (reminded_for IS NULL OR reminded_for < $6)"
        );
        let n = on_pool!(self, |pool| {
            bind_wait_key!(sqlx::query(SQL), thread)
                .bind(due)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Gives a claim back (its post failed; the retry claims it again): restores `before`.
    pub async fn release_reminder(
        &self,
        thread: &PrThread,
        due: i64,
        before: &ReminderProgress,
    ) -> Result<(), StoreError> {
        const SQL: &str = concat!(
            "UPDATE review_waits SET reminded_for = $6, reminded_at = $7 WHERE ",
            wait_row!(),
            " AND reminded_for = $8"
        );
        on_pool!(self, |pool| {
            bind_wait_key!(sqlx::query(SQL), thread)
                .bind(before.reminded_for)
                .bind(before.reminded_at)
                .bind(due)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}
