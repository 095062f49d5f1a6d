//! Which pull request threads wait for review, since when and on whom: what reminders,
//! digests and `/codereview status` read, so none of them has to ask the forge. Written each
//! time the live review state of a thread is computed. Identifiers only: forge logins, the
//! pull request's web address, no titles.

use super::{PrRef, PrThread, SlackRef, Store, StoreError, on_pool};

/// A thread whose pull request waits for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewWait {
    /// The pull request and its thread in one linked channel.
    pub thread: PrThread,
    /// The pull request's web page.
    pub url: String,
    /// Since when it has been pending (ms), kept across updates while it stays pending.
    pub pending_since: i64,
    /// Lower-case forge logins who could still approve a pending scope.
    pub waiting_on: Vec<String>,
}

/// A `review_waits` row as stored (also read with reminder progress by `store::reminders`).
#[derive(sqlx::FromRow)]
pub(super) struct WaitRow {
    forge: String,
    repo: String,
    number: i64,
    team_id: String,
    channel_id: String,
    thread_ts: String,
    url: String,
    pub(super) pending_since: i64,
    waiting_on: String,
}

impl TryFrom<WaitRow> for ReviewWait {
    type Error = StoreError;
    fn try_from(r: WaitRow) -> Result<Self, StoreError> {
        Ok(ReviewWait {
            thread: PrThread {
                pr: PrRef {
                    forge: r
                        .forge
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("forge `{}`", r.forge)))?,
                    repo: r.repo,
                    number: r.number,
                },
                thread: SlackRef {
                    team_id: r.team_id,
                    channel_id: r.channel_id,
                    ts: r.thread_ts,
                },
            },
            url: r.url,
            pending_since: r.pending_since,
            waiting_on: serde_json::from_str(&r.waiting_on)
                .map_err(|_| StoreError::Corrupt("review_waits.waiting_on".into()))?,
        })
    }
}

macro_rules! wait_columns {
    () => {
        "forge, repo, number, team_id, channel_id, thread_ts, url, pending_since, waiting_on"
    };
}

/// Binds a thread's `review_waits` key as `$1`..`$5`: forge, repo, number, team, channel.
macro_rules! bind_wait_key {
    ($query:expr, $thread:expr) => {
        $query
            .bind($thread.pr.forge.as_str())
            .bind(&$thread.pr.repo)
            .bind($thread.pr.number)
            .bind(&$thread.thread.team_id)
            .bind(&$thread.thread.channel_id)
    };
}
pub(super) use bind_wait_key;

impl Store {
    /// Records that `thread` waits on `waiting_on` as of `now`; returns since when it has been
    /// pending (the first record's time, kept while it stays pending).
    pub async fn upsert_review_wait(
        &self,
        thread: &PrThread,
        url: &str,
        waiting_on: &[String],
        now: i64,
    ) -> Result<i64, StoreError> {
        let people = serde_json::to_string(waiting_on)
            .map_err(|e| StoreError::Corrupt(format!("waiting_on: {e}")))?;
        const SQL: &str = "INSERT INTO review_waits (forge, repo, number, team_id, channel_id,
                 thread_ts, url, pending_since, waiting_on, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8)
             ON CONFLICT (forge, repo, number, team_id, channel_id) DO UPDATE SET
                 thread_ts = excluded.thread_ts, url = excluded.url,
                 waiting_on = excluded.waiting_on, updated_at = excluded.updated_at
             RETURNING pending_since";
        let (since,): (i64,) = on_pool!(self, |pool| {
            bind_wait_key!(sqlx::query_as(SQL), thread)
                .bind(&thread.thread.ts)
                .bind(url)
                .bind(now)
                .bind(&people)
                .fetch_one(pool)
                .await?
        });
        Ok(since)
    }

    /// Forgets that `thread` waits (approved, closed, a draft, or no rules).
    pub async fn remove_review_wait(&self, thread: &PrThread) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM review_waits
             WHERE forge = $1 AND repo = $2 AND number = $3 AND team_id = $4 AND channel_id = $5";
        on_pool!(self, |pool| {
            bind_wait_key!(sqlx::query(SQL), thread)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// The wait of one thread, if it waits.
    pub async fn review_wait(&self, thread: &PrThread) -> Result<Option<ReviewWait>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            wait_columns!(),
            " FROM review_waits
             WHERE forge = $1 AND repo = $2 AND number = $3 AND team_id = $4 AND channel_id = $5"
        );
        let row: Option<WaitRow> = on_pool!(self, |pool| {
            bind_wait_key!(sqlx::query_as(SQL), thread)
                .fetch_optional(pool)
                .await?
        });
        row.map(ReviewWait::try_from).transpose()
    }

    /// Every waiting thread in one Slack workspace, oldest first: what a digest or
    /// `/codereview status` filters by person. A workspace only ever sees its own.
    pub async fn review_waits_in_team(&self, team_id: &str) -> Result<Vec<ReviewWait>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            wait_columns!(),
            " FROM review_waits WHERE team_id = $1
             ORDER BY pending_since, forge, repo, number, channel_id"
        );
        let rows: Vec<WaitRow> = on_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(team_id).fetch_all(pool).await?
        });
        rows.into_iter().map(ReviewWait::try_from).collect()
    }
}
