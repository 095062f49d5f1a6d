//! Durable one-shot timers: a reminder for a pull request's thread, a user's daily digest.
//!
//! A timer is a row (kind, key, due time). When it comes due, [`Store::fire_due_timers`] moves
//! it into the event queue in one transaction: the row is deleted here and queued there under
//! the dedupe key `kind:key@due_at`. So N replicas fire each timer once (PostgreSQL skips rows
//! another replica has locked; the dedupe key catches anything else), a crash before the
//! commit leaves the timer in place, and a crash after it leaves a queued event that the
//! queue's leases hand to another worker. The handler does the work and sets the next timer.

use serde::{Deserialize, Serialize};
use sqlx::Connection as _;

use super::{SqliteSync, Store, StoreError, on_pool, queue::event_aad};
use crate::domain::Source;
use crate::vault::Vault;

/// What a fired timer's queued event carries (sealed like every payload, though it holds only
/// identifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredTimer {
    /// `reminder` or `digest`: what to do.
    pub kind: String,
    /// Which one: the kind's own identifier.
    pub key: String,
    /// When it was due (ms): part of the dedupe key, and the reminder's post key.
    pub due_at: i64,
    /// The ordering key of what it is about (a reminder waits behind its PR's events).
    pub order_key: Option<String>,
}

impl FiredTimer {
    /// The queue's dedupe key: one queued event per timer and due time.
    pub fn dedupe_key(&self) -> String {
        format!("{}:{}@{}", self.kind, self.key, self.due_at)
    }
}

#[derive(sqlx::FromRow)]
struct TimerRow {
    kind: String,
    timer_key: String,
    due_at: i64,
    order_key: Option<String>,
}

const DUE_SQLITE: &str = "SELECT kind, timer_key, due_at, order_key FROM timers
     WHERE due_at <= $1 ORDER BY due_at, kind, timer_key LIMIT $2";
const DUE_POSTGRES: &str = "SELECT kind, timer_key, due_at, order_key FROM timers
     WHERE due_at <= $1 ORDER BY due_at, kind, timer_key LIMIT $2 FOR UPDATE SKIP LOCKED";

/// Moves the due rows into the queue inside the open transaction `$tx`.
macro_rules! fire_in {
    ($tx:expr, $due_sql:expr, $vault:expr, $now:expr, $limit:expr) => {{
        let rows: Vec<TimerRow> = sqlx::query_as($due_sql)
            .bind($now)
            .bind($limit)
            .fetch_all(&mut *$tx)
            .await?;
        let mut queued = 0_usize;
        for row in rows {
            sqlx::query("DELETE FROM timers WHERE kind = $1 AND timer_key = $2 AND due_at = $3")
                .bind(&row.kind)
                .bind(&row.timer_key)
                .bind(row.due_at)
                .execute(&mut *$tx)
                .await?;
            let fired = FiredTimer {
                kind: row.kind,
                key: row.timer_key,
                due_at: row.due_at,
                order_key: row.order_key,
            };
            let dedupe_key = fired.dedupe_key();
            let payload = serde_json::to_vec(&fired)
                .map_err(|e| StoreError::Corrupt(format!("timer payload: {e}")))?;
            let sealed = $vault.seal(&event_aad(Source::Timer.as_str(), &dedupe_key), &payload);
            let fresh = sqlx::query(
                "INSERT INTO event_deliveries (source, dedupe_key, received_at)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(Source::Timer.as_str())
            .bind(&dedupe_key)
            .bind($now)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if fresh == 0 {
                continue;
            }
            sqlx::query(
                "INSERT INTO event_queue (source, dedupe_key, kind, key_id, nonce, ciphertext,
                     attempts, next_attempt_at, received_at, order_key)
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $8)",
            )
            .bind(Source::Timer.as_str())
            .bind(&dedupe_key)
            .bind(&fired.kind)
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind($now)
            .bind(fired.order_key.as_deref())
            .execute(&mut *$tx)
            .await?;
            queued += 1;
        }
        queued
    }};
}

impl Store {
    /// Sets (or moves) the `kind` timer `key` to fire at `due_at`.
    pub async fn set_timer(
        &self,
        kind: &str,
        key: &str,
        due_at: i64,
        order_key: Option<&str>,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO timers (kind, timer_key, due_at, order_key) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, timer_key)
                 DO UPDATE SET due_at = excluded.due_at, order_key = excluded.order_key",
            )
            .bind(kind)
            .bind(key)
            .bind(due_at)
            .bind(order_key)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Sets the timer unless one is already set (a reminder keeps its first due time while
    /// the pull request stays pending). Returns whether this call set it.
    pub async fn set_timer_if_absent(
        &self,
        kind: &str,
        key: &str,
        due_at: i64,
        order_key: Option<&str>,
    ) -> Result<bool, StoreError> {
        let inserted = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO timers (kind, timer_key, due_at, order_key) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, timer_key) DO NOTHING",
            )
            .bind(kind)
            .bind(key)
            .bind(due_at)
            .bind(order_key)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted == 1)
    }

    /// When the `kind` timer `key` is due, if it is set.
    pub async fn timer_due_at(&self, kind: &str, key: &str) -> Result<Option<i64>, StoreError> {
        let due: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT due_at FROM timers WHERE kind = $1 AND timer_key = $2")
                .bind(kind)
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(due.map(|(d,)| d))
    }

    /// Cancels the `kind` timer `key` (nothing to do when it is not set).
    pub async fn cancel_timer(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM timers WHERE kind = $1 AND timer_key = $2")
                .bind(kind)
                .bind(key)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Moves up to `limit` timers due at `now` into the event queue, atomically (see the
    /// module docs). Returns how many events were queued.
    pub async fn fire_due_timers(
        &self,
        vault: &Vault,
        now: i64,
        limit: u32,
    ) -> Result<usize, StoreError> {
        let limit = i64::from(limit);
        let queued = match &self.pool {
            super::Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                SqliteSync::Normal.apply(&mut conn).await?;
                let mut tx = conn.begin().await?;
                let queued = fire_in!(tx, DUE_SQLITE, vault, now, limit);
                tx.commit().await?;
                queued
            }
            super::Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let queued = fire_in!(tx, DUE_POSTGRES, vault, now, limit);
                tx.commit().await?;
                queued
            }
        };
        Ok(queued)
    }
}
