//! Daily digest opt-ins (`user digest`, `/codereview digest on`): who gets one, at which minute
//! of the day, in which time zone. Settings only. A subscription and its timer (kind `digest`,
//! key `{team}/{user}`) are written and removed in one transaction, so a subscription never
//! lacks its timer and `--off` leaves none behind.

use sqlx::Connection as _;

use super::{Store, StoreError, on_pool};

/// The timer kind of a digest (`timers.kind`).
pub const DIGEST_TIMER: &str = "digest";

/// The digest timer's key for a person in a workspace: `{team}/{user}`.
pub fn digest_timer_key(team_id: &str, slack_user: &str) -> String {
    format!("{team_id}/{slack_user}")
}

/// One person's daily digest setting in one workspace.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DigestSubscription {
    /// Slack workspace.
    pub team_id: String,
    /// Slack user id.
    pub slack_user: String,
    /// Minute of the day the digest is sent (570 = 09:30).
    pub at_min: i32,
    /// IANA time zone name the minute is read in.
    pub timezone: String,
}

impl Store {
    /// Subscribes (or moves) `sub` and sets its timer to `due_at` (ms), atomically.
    pub async fn subscribe_digest(
        &self,
        sub: &DigestSubscription,
        due_at: i64,
    ) -> Result<(), StoreError> {
        let key = digest_timer_key(&sub.team_id, &sub.slack_user);
        on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            let mut tx = conn.begin().await?;
            sqlx::query(
                "INSERT INTO digest_subscriptions (team_id, slack_user, at_min, timezone)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (team_id, slack_user)
                 DO UPDATE SET at_min = excluded.at_min, timezone = excluded.timezone",
            )
            .bind(&sub.team_id)
            .bind(&sub.slack_user)
            .bind(sub.at_min)
            .bind(&sub.timezone)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO timers (kind, timer_key, due_at, order_key) VALUES ($1, $2, $3, NULL)
                 ON CONFLICT (kind, timer_key) DO UPDATE SET due_at = excluded.due_at",
            )
            .bind(DIGEST_TIMER)
            .bind(&key)
            .bind(due_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?
        });
        Ok(())
    }

    /// Removes a subscription and cancels its timer, atomically; false when there was none.
    pub async fn unsubscribe_digest(
        &self,
        team_id: &str,
        slack_user: &str,
    ) -> Result<bool, StoreError> {
        let key = digest_timer_key(team_id, slack_user);
        let removed = on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            let mut tx = conn.begin().await?;
            let removed = sqlx::query(
                "DELETE FROM digest_subscriptions WHERE team_id = $1 AND slack_user = $2",
            )
            .bind(team_id)
            .bind(slack_user)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM timers WHERE kind = $1 AND timer_key = $2")
                .bind(DIGEST_TIMER)
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            removed
        });
        Ok(removed > 0)
    }

    /// One person's subscription in one workspace.
    pub async fn digest_subscription(
        &self,
        team_id: &str,
        slack_user: &str,
    ) -> Result<Option<DigestSubscription>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT team_id, slack_user, at_min, timezone FROM digest_subscriptions
                 WHERE team_id = $1 AND slack_user = $2",
            )
            .bind(team_id)
            .bind(slack_user)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// Every subscription, by workspace and user.
    pub async fn list_digest_subscriptions(&self) -> Result<Vec<DigestSubscription>, StoreError> {
        let rows = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT team_id, slack_user, at_min, timezone FROM digest_subscriptions
                 ORDER BY team_id, slack_user",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}
