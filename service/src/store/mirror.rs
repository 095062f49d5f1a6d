//! What the sync handler reads and writes around one mirrored item: the link between a forge
//! comment and its Slack message *with* the review-thread it belongs to, recorded together
//! with the ledger entry in one transaction.
//!
//! Why one transaction: the link is what stops a retried event from posting twice, and the
//! ledger is what stops our own post from being echoed back. Writing both at once means there
//! is no moment where one exists without the other.

use super::threads::{CommentMessage, LedgerEntry, Origin, PrRef, PrThread, SlackRef};
use super::{Store, StoreError, now_ms, on_pool};
use crate::domain::Forge;

/// A comment ↔ message link plus the review-comment thread (GitHub root comment id, GitLab
/// discussion id) the comment belongs to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The link itself.
    pub link: CommentMessage,
    /// Thread root: `None` for PR-level comments, reviews and plain notes.
    pub thread_root: Option<String>,
}

type MirrorRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

/// `SELECT <columns> FROM comment_messages` in the order [`MirrorRow`] expects.
macro_rules! select_mirrors {
    ($($rest:literal),*) => {
        concat!(
            "SELECT forge, repo, pr_number, comment_kind, comment_id, team_id, channel_id, \
             message_ts, origin, thread_root FROM comment_messages ",
            $($rest),*
        )
    };
}

fn mirror_from_row(row: MirrorRow) -> Result<Mirror, StoreError> {
    let (forge, repo, number, kind, id, team_id, channel_id, ts, origin, thread_root) = row;
    Ok(Mirror {
        link: CommentMessage {
            pr: PrRef {
                forge: forge
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("forge `{forge}`")))?,
                repo,
                number,
            },
            comment_kind: kind,
            comment_id: id,
            message: SlackRef {
                team_id,
                channel_id,
                ts,
            },
            origin: Origin::parse(&origin)?,
        },
        thread_root,
    })
}

macro_rules! insert_ledger {
    ($tx:expr, $entry:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO ledger (platform, container, object_kind, object_id, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind($entry.platform.as_str())
        .bind(&$entry.container)
        .bind(&$entry.object_kind)
        .bind(&$entry.object_id)
        .bind($now)
        .execute(&mut *$tx)
        .await?
    };
}

impl Store {
    /// Records a thread parent we just posted and its ledger entry, atomically. Returns false
    /// when another worker linked a thread for that PR and channel first (the caller then
    /// deletes its own duplicate parent); the ledger entry is written either way, because the
    /// message exists until it is deleted.
    pub async fn record_thread(
        &self,
        thread: &PrThread,
        ours: &LedgerEntry,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let n = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            insert_ledger!(tx, ours, now);
            let n = sqlx::query(
                "INSERT INTO pr_threads
                   (forge, repo, pr_number, team_id, channel_id, thread_ts, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(thread.pr.forge.as_str())
            .bind(&thread.pr.repo)
            .bind(thread.pr.number)
            .bind(&thread.thread.team_id)
            .bind(&thread.thread.channel_id)
            .bind(&thread.thread.ts)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    /// Records a mirrored item we just created (a Slack message for a forge comment, or a
    /// forge comment for a Slack message) and the ledger entry for the object we created,
    /// atomically. Returns false when either side was already linked (a racing worker won);
    /// the ledger entry is written either way.
    pub async fn record_mirror(
        &self,
        mirror: &Mirror,
        ours: &LedgerEntry,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let link = &mirror.link;
        let n = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            insert_ledger!(tx, ours, now);
            let n = sqlx::query(
                "INSERT INTO comment_messages (forge, repo, pr_number, comment_kind, comment_id,
                     team_id, channel_id, message_ts, origin, created_at, thread_root)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            )
            .bind(link.pr.forge.as_str())
            .bind(&link.pr.repo)
            .bind(link.pr.number)
            .bind(&link.comment_kind)
            .bind(&link.comment_id)
            .bind(&link.message.team_id)
            .bind(&link.message.channel_id)
            .bind(&link.message.ts)
            .bind(link.origin.as_str())
            .bind(now)
            .bind(&mirror.thread_root)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    /// Every Slack message mirroring one forge comment (one per linked channel).
    pub async fn mirrors_of_comment(
        &self,
        forge: Forge,
        repo: &str,
        comment_kind: &str,
        comment_id: &str,
    ) -> Result<Vec<Mirror>, StoreError> {
        let sql = select_mirrors!(
            "WHERE forge = $1 AND repo = $2 AND comment_kind = $3 AND comment_id = $4
             ORDER BY team_id, channel_id"
        );
        let rows: Vec<MirrorRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(forge.as_str())
                .bind(repo)
                .bind(comment_kind)
                .bind(comment_id)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(mirror_from_row).collect()
    }

    /// The mirror a Slack message belongs to, if any.
    pub async fn mirror_of_message(
        &self,
        message: &SlackRef,
    ) -> Result<Option<Mirror>, StoreError> {
        let sql = select_mirrors!("WHERE team_id = $1 AND channel_id = $2 AND message_ts = $3");
        let row: Option<MirrorRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(&message.team_id)
                .bind(&message.channel_id)
                .bind(&message.ts)
                .fetch_optional(pool)
                .await?
        });
        row.map(mirror_from_row).transpose()
    }

    /// The most recent mirrored message of a PR's thread in one channel that is older than
    /// `before_ts` (Slack timestamps have a fixed width, so text order is time order).
    pub async fn latest_mirror_before(
        &self,
        pr: &PrRef,
        team_id: &str,
        channel_id: &str,
        before_ts: &str,
    ) -> Result<Option<Mirror>, StoreError> {
        let sql = select_mirrors!(
            "WHERE forge = $1 AND repo = $2 AND pr_number = $3 AND team_id = $4
               AND channel_id = $5 AND message_ts < $6
             ORDER BY message_ts DESC LIMIT 1"
        );
        let row: Option<MirrorRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(pr.forge.as_str())
                .bind(&pr.repo)
                .bind(pr.number)
                .bind(team_id)
                .bind(channel_id)
                .bind(before_ts)
                .fetch_optional(pool)
                .await?
        });
        row.map(mirror_from_row).transpose()
    }

    /// Every mirrored item of a PR (all channels), oldest message first.
    pub async fn mirrors_of_pr(&self, pr: &PrRef) -> Result<Vec<Mirror>, StoreError> {
        let sql = select_mirrors!(
            "WHERE forge = $1 AND repo = $2 AND pr_number = $3
             ORDER BY team_id, channel_id, message_ts"
        );
        let rows: Vec<MirrorRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(pr.forge.as_str())
                .bind(&pr.repo)
                .bind(pr.number)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(mirror_from_row).collect()
    }
}
