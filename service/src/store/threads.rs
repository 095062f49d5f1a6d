//! The identifier maps that keep a Slack thread and a PR conversation in step, and the ledger
//! of objects we created ourselves. Identifiers only: a PR is (forge, repo, number), a Slack
//! message is (team, channel, ts), a comment is (kind, id). No text is ever stored here.

use super::{Store, StoreError, now_ms, on_pool};
use crate::domain::{Forge, Source};

/// A pull/merge request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrRef {
    /// The forge it lives on.
    pub forge: Forge,
    /// Lower-case repository path.
    pub repo: String,
    /// PR number (GitHub) or MR iid (GitLab).
    pub number: i64,
}

/// A Slack message (or thread parent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlackRef {
    /// Team id.
    pub team_id: String,
    /// Channel id.
    pub channel_id: String,
    /// Message timestamp, Slack's message id.
    pub ts: String,
}

/// The Slack thread that mirrors a PR in one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrThread {
    /// The PR.
    pub pr: PrRef,
    /// The thread's parent message.
    pub thread: SlackRef,
}

/// Which side a mirrored conversation item started on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written on the forge; we posted the Slack message.
    Forge,
    /// Written in Slack; we posted the forge comment.
    Slack,
}

impl Origin {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Origin::Forge => "forge",
            Origin::Slack => "slack",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "forge" => Ok(Origin::Forge),
            "slack" => Ok(Origin::Slack),
            other => Err(StoreError::Corrupt(format!("origin `{other}`"))),
        }
    }
}

/// A forge comment and the Slack message that mirrors it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentMessage {
    /// The PR the comment belongs to.
    pub pr: PrRef,
    /// Comment kind, e.g. `issue_comment`, `review`, `review_comment` (GitHub), `note` (GitLab).
    pub comment_kind: String,
    /// The forge's comment id.
    pub comment_id: String,
    /// The Slack message.
    pub message: SlackRef,
    /// Where it started.
    pub origin: Origin,
}

/// An object we created on some platform, recorded so events about it are not echoed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Platform the object lives on.
    pub platform: Source,
    /// `TEAM/CHANNEL` for Slack, the repository path for a forge.
    pub container: String,
    /// Object kind (`message`, `issue_comment`, `note`, ...).
    pub object_kind: String,
    /// The platform's id for it (Slack ts, comment id).
    pub object_id: String,
}

type ThreadRow = (String, String, i64, String, String, String);

fn thread_from_row(row: ThreadRow) -> Result<PrThread, StoreError> {
    let (forge, repo, number, team_id, channel_id, ts) = row;
    Ok(PrThread {
        pr: PrRef {
            forge: forge
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("forge `{forge}`")))?,
            repo,
            number,
        },
        thread: SlackRef {
            team_id,
            channel_id,
            ts,
        },
    })
}

impl Store {
    /// The PR's threads, one per linked channel that has one.
    pub async fn pr_threads(&self, pr: &PrRef) -> Result<Vec<PrThread>, StoreError> {
        let rows: Vec<ThreadRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, repo, pr_number, team_id, channel_id, thread_ts FROM pr_threads
                 WHERE forge = $1 AND repo = $2 AND pr_number = $3 ORDER BY team_id, channel_id",
            )
            .bind(pr.forge.as_str())
            .bind(&pr.repo)
            .bind(pr.number)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(thread_from_row).collect()
    }

    /// The PR a Slack thread belongs to (a reply's `thread_ts`).
    pub async fn pr_thread_by_ts(
        &self,
        team_id: &str,
        channel_id: &str,
        thread_ts: &str,
    ) -> Result<Option<PrThread>, StoreError> {
        let row: Option<ThreadRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, repo, pr_number, team_id, channel_id, thread_ts FROM pr_threads
                 WHERE team_id = $1 AND channel_id = $2 AND thread_ts = $3",
            )
            .bind(team_id)
            .bind(channel_id)
            .bind(thread_ts)
            .fetch_optional(pool)
            .await?
        });
        row.map(thread_from_row).transpose()
    }

    /// Forgets a comment ↔ message link (after either side was deleted).
    pub async fn remove_comment_message(&self, message: &SlackRef) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM comment_messages
                 WHERE team_id = $1 AND channel_id = $2 AND message_ts = $3",
            )
            .bind(&message.team_id)
            .bind(&message.channel_id)
            .bind(&message.ts)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Records an object we created. Idempotent.
    pub async fn record_created(&self, entry: &LedgerEntry) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO ledger (platform, container, object_kind, object_id, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(entry.platform.as_str())
            .bind(&entry.container)
            .bind(&entry.object_kind)
            .bind(&entry.object_id)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// True if we created this object: an event about it is our own echo.
    pub async fn created_by_us(&self, entry: &LedgerEntry) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT created_at FROM ledger
                 WHERE platform = $1 AND container = $2 AND object_kind = $3 AND object_id = $4",
            )
            .bind(entry.platform.as_str())
            .bind(&entry.container)
            .bind(&entry.object_kind)
            .bind(&entry.object_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.is_some())
    }
}
