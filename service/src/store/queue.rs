//! The durable event queue: accepted webhook deliveries wait here, sealed, until a worker has
//! processed them, and are then deleted.
//!
//! Claiming is one atomic statement that sets a lease (owner + expiry) and counts the attempt.
//! On PostgreSQL the candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so N replicas
//! share one database without ever handing the same row to two workers; on SQLite the single
//! writer gives the same guarantee. Every later transition (done, retry, failure, release)
//! checks that the caller still owns the lease, so a worker that lost its lease cannot clobber
//! the row another worker has claimed since.

use std::collections::HashSet;

use sqlx::Connection as _;

use super::{SqliteSync, Store, StoreError, on_pool};
use crate::domain::Source;
use crate::vault::{Aad, Sealed, Vault};

/// Associated data for a queued payload: the delivery's identity.
pub(crate) fn event_aad(source: &str, dedupe_key: &str) -> Aad {
    Aad::new("event_queue", &[source, dedupe_key])
}

/// A verified delivery to queue. `Debug` shows the payload's size, not its content.
#[derive(Clone, Copy)]
pub struct NewEvent<'a> {
    /// Where it came from.
    pub source: Source,
    /// The sender's delivery id (Slack `event_id`, `X-GitHub-Delivery`, GitLab idempotency key).
    pub dedupe_key: &'a str,
    /// Event name (`X-GitHub-Event`, `X-Gitlab-Event`, Slack's inner event type).
    pub kind: &'a str,
    /// The raw request body; sealed before it is written.
    pub payload: &'a [u8],
}

impl std::fmt::Debug for NewEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEvent")
            .field("source", &self.source)
            .field("dedupe_key", &self.dedupe_key)
            .field("kind", &self.kind)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

impl NewEvent<'_> {
    /// Seals the payload (associated data: source and delivery id), ready for
    /// [`Store::enqueue_batch`]. Done by the request task, so encryption runs in parallel and
    /// the batch writer only talks to the database.
    pub fn seal(&self, vault: &Vault) -> SealedEvent {
        let source = self.source.as_str();
        SealedEvent {
            source: self.source,
            dedupe_key: self.dedupe_key.to_string(),
            kind: self.kind.to_string(),
            sealed: vault.seal(&event_aad(source, self.dedupe_key), self.payload),
        }
    }
}

/// A delivery with its payload already sealed.
#[derive(Debug, Clone)]
pub struct SealedEvent {
    /// Where it came from.
    pub source: Source,
    /// Delivery id.
    pub dedupe_key: String,
    /// Event name.
    pub kind: String,
    /// Sealed payload.
    pub sealed: Sealed,
}

/// What [`Store::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// New delivery, queued.
    Queued,
    /// Seen before (still queued or already processed): nothing written.
    Duplicate,
}

/// A row a worker has claimed: the payload is still sealed.
#[derive(Debug, Clone)]
pub struct ClaimedRow {
    /// Queue row id.
    pub id: i64,
    /// Where it came from.
    pub source: Source,
    /// Delivery id.
    pub dedupe_key: String,
    /// Event name.
    pub kind: String,
    /// Sealed payload.
    pub sealed: Sealed,
    /// Attempts so far, including this one.
    pub attempts: u32,
    /// When it was accepted (ms since the epoch).
    pub received_at: i64,
}

impl ClaimedRow {
    /// Associated data the payload was sealed with.
    pub fn aad(&self) -> Aad {
        event_aad(self.source.as_str(), &self.dedupe_key)
    }
}

/// A recorded permanent failure. No payload is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    /// Where it came from.
    pub source: Source,
    /// Delivery id.
    pub dedupe_key: String,
    /// Event name.
    pub kind: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why it failed (never message text).
    pub reason: String,
    /// When it was accepted (ms).
    pub received_at: i64,
    /// When it was given up (ms).
    pub failed_at: i64,
}

type ClaimRow = (
    i64,
    String,
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    i32,
    i64,
);

const CLAIM_SQLITE: &str = "UPDATE event_queue
    SET lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1
    WHERE id IN (
        SELECT id FROM event_queue
        WHERE next_attempt_at <= $3 AND (lease_expires_at IS NULL OR lease_expires_at <= $3)
        ORDER BY next_attempt_at, id
        LIMIT $4)
    RETURNING id, source, dedupe_key, kind, key_id, nonce, ciphertext, attempts, received_at";

const CLAIM_POSTGRES: &str = "UPDATE event_queue
    SET lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1
    WHERE id IN (
        SELECT id FROM event_queue
        WHERE next_attempt_at <= $3 AND (lease_expires_at IS NULL OR lease_expires_at <= $3)
        ORDER BY next_attempt_at, id
        LIMIT $4
        FOR UPDATE SKIP LOCKED)
    RETURNING id, source, dedupe_key, kind, key_id, nonce, ciphertext, attempts, received_at";

fn claimed_from_row(row: ClaimRow) -> Result<ClaimedRow, StoreError> {
    let (id, source, dedupe_key, kind, key_id, nonce, ciphertext, attempts, received_at) = row;
    Ok(ClaimedRow {
        id,
        source: source
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("event source `{source}`")))?,
        dedupe_key,
        kind,
        sealed: Sealed {
            key_id,
            nonce,
            ciphertext,
        },
        attempts: u32::try_from(attempts).unwrap_or(0),
        received_at,
    })
}

impl Store {
    /// Seals and queues one delivery unless its dedupe key was seen before.
    pub async fn enqueue(
        &self,
        vault: &Vault,
        event: &NewEvent<'_>,
        now: i64,
    ) -> Result<Enqueued, StoreError> {
        let outcomes = self.enqueue_batch(&[event.seal(vault)], now).await?;
        Ok(outcomes[0])
    }

    /// Queues sealed deliveries in one commit (group commit: one fsync for the whole batch),
    /// skipping any whose dedupe key was seen before — in an earlier batch or earlier in this
    /// one. Each delivery id and its queue row are written atomically: a crash leaves both or
    /// neither. Returns one outcome per input, in order.
    pub async fn enqueue_batch(
        &self,
        events: &[SealedEvent],
        now: i64,
    ) -> Result<Vec<Enqueued>, StoreError> {
        let mut outcomes = vec![Enqueued::Duplicate; events.len()];
        let mut seen = HashSet::with_capacity(events.len());
        let unique: Vec<usize> = (0..events.len())
            .filter(|&i| seen.insert((events[i].source, events[i].dedupe_key.as_str())))
            .collect();
        if unique.is_empty() {
            return Ok(outcomes);
        }
        let fresh: Vec<(String, String)> = match &self.pool {
            super::Pool::Sqlite(pool) => {
                // The 200 we answer depends on this commit: fsync it (see `SqliteSync`).
                let mut conn = pool.acquire().await?;
                SqliteSync::Full.apply(&mut conn).await?;
                // Two multi-row statements per batch (SQLite has no arrays to UNNEST).
                let mut tx = conn.begin().await?;
                let mut deliveries = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO event_deliveries (source, dedupe_key, received_at) ",
                );
                deliveries.push_values(&unique, |mut row, &i| {
                    row.push_bind(events[i].source.as_str())
                        .push_bind(events[i].dedupe_key.as_str())
                        .push_bind(now);
                });
                deliveries.push(" ON CONFLICT DO NOTHING RETURNING source, dedupe_key");
                let fresh: Vec<(String, String)> =
                    deliveries.build_query_as().fetch_all(&mut *tx).await?;
                let is_fresh: HashSet<(&str, &str)> = fresh
                    .iter()
                    .map(|(s, k)| (s.as_str(), k.as_str()))
                    .collect();
                let queued: Vec<&SealedEvent> = unique
                    .iter()
                    .map(|&i| &events[i])
                    .filter(|e| is_fresh.contains(&(e.source.as_str(), e.dedupe_key.as_str())))
                    .collect();
                if !queued.is_empty() {
                    let mut rows = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                        "INSERT INTO event_queue (source, dedupe_key, kind, key_id, nonce,
                             ciphertext, attempts, next_attempt_at, received_at) ",
                    );
                    rows.push_values(&queued, |mut row, e| {
                        row.push_bind(e.source.as_str())
                            .push_bind(e.dedupe_key.as_str())
                            .push_bind(e.kind.as_str())
                            .push_bind(e.sealed.key_id.as_str())
                            .push_bind(e.sealed.nonce.as_slice())
                            .push_bind(e.sealed.ciphertext.as_slice())
                            .push_bind(0_i32)
                            .push_bind(now)
                            .push_bind(now);
                    });
                    rows.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                fresh
            }
            super::Pool::Postgres(pool) => {
                // One statement, one round trip: the CTE records the delivery ids that are new
                // and the outer INSERT queues exactly those rows.
                let n = unique.len();
                let (mut sources, mut keys, mut kinds, mut key_ids) = (
                    Vec::with_capacity(n),
                    Vec::with_capacity(n),
                    Vec::with_capacity(n),
                    Vec::with_capacity(n),
                );
                let (mut nonces, mut ciphertexts) = (Vec::with_capacity(n), Vec::with_capacity(n));
                for e in unique.iter().map(|&i| &events[i]) {
                    sources.push(e.source.as_str());
                    keys.push(e.dedupe_key.as_str());
                    kinds.push(e.kind.as_str());
                    key_ids.push(e.sealed.key_id.as_str());
                    nonces.push(e.sealed.nonce.as_slice());
                    ciphertexts.push(e.sealed.ciphertext.as_slice());
                }
                sqlx::query_as(
                    "WITH input AS (
                         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                                              $5::bytea[], $6::bytea[])
                             AS t(source, dedupe_key, kind, key_id, nonce, ciphertext)),
                     fresh AS (
                         INSERT INTO event_deliveries (source, dedupe_key, received_at)
                         SELECT source, dedupe_key, $7 FROM input
                         ON CONFLICT DO NOTHING
                         RETURNING source, dedupe_key)
                     INSERT INTO event_queue (source, dedupe_key, kind, key_id, nonce, ciphertext,
                                              attempts, next_attempt_at, received_at)
                     SELECT i.source, i.dedupe_key, i.kind, i.key_id, i.nonce, i.ciphertext, 0, $7, $7
                     FROM input i JOIN fresh f ON f.source = i.source AND f.dedupe_key = i.dedupe_key
                     RETURNING source, dedupe_key",
                )
                .bind(&sources)
                .bind(&keys)
                .bind(&kinds)
                .bind(&key_ids)
                .bind(&nonces)
                .bind(&ciphertexts)
                .bind(now)
                .fetch_all(pool)
                .await?
            }
        };
        let fresh: HashSet<(&str, &str)> = fresh
            .iter()
            .map(|(s, k)| (s.as_str(), k.as_str()))
            .collect();
        for &i in &unique {
            if fresh.contains(&(events[i].source.as_str(), events[i].dedupe_key.as_str())) {
                outcomes[i] = Enqueued::Queued;
            }
        }
        Ok(outcomes)
    }

    /// Claims up to `limit` due rows for `owner` until `now + lease_ms`, counting an attempt on
    /// each. Rows whose lease expired (their worker crashed) are due again.
    pub async fn claim_due(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedRow>, StoreError> {
        let expires = now.saturating_add(lease_ms);
        let limit = i64::from(limit);
        let rows: Vec<ClaimRow> = match &self.pool {
            super::Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                SqliteSync::Normal.apply(&mut conn).await?;
                sqlx::query_as(CLAIM_SQLITE)
                    .bind(owner)
                    .bind(expires)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *conn)
                    .await?
            }
            super::Pool::Postgres(pool) => {
                sqlx::query_as(CLAIM_POSTGRES)
                    .bind(owner)
                    .bind(expires)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
        };
        let mut claimed = rows
            .into_iter()
            .map(claimed_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|r| r.id);
        Ok(claimed)
    }

    /// Deletes processed rows (and with them the sealed payloads) in one commit; returns the
    /// ids that were still leased to `owner` (the others were lost to another worker).
    pub async fn complete_many(&self, ids: &[i64], owner: &str) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let deleted = match &self.pool {
            super::Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                SqliteSync::Normal.apply(&mut conn).await?;
                // One statement for the whole list (no arrays in SQLite: one placeholder each).
                let mut delete = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "DELETE FROM event_queue WHERE lease_owner = ",
                );
                delete.push_bind(owner).push(" AND id IN (");
                let mut list = delete.separated(", ");
                for &id in ids {
                    list.push_bind(id);
                }
                delete.push(") RETURNING id");
                let rows: Vec<(i64,)> = delete.build_query_as().fetch_all(&mut *conn).await?;
                rows.into_iter().map(|(id,)| id).collect()
            }
            super::Pool::Postgres(pool) => {
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "DELETE FROM event_queue WHERE id = ANY($1) AND lease_owner = $2 RETURNING id",
                )
                .bind(ids)
                .bind(owner)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(|(id,)| id).collect()
            }
        };
        Ok(deleted)
    }

    /// Gives a row back for another attempt at `next_attempt_at`. False if the lease was lost.
    pub async fn schedule_retry(
        &self,
        id: i64,
        owner: &str,
        next_attempt_at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE event_queue
                 SET lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = $3,
                     last_error = $4
                 WHERE id = $1 AND lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(next_attempt_at)
            .bind(reason)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Moves a row to `event_failures` (without its payload) and deletes it, atomically.
    /// False if the lease was lost.
    pub async fn record_failure(
        &self,
        row: &ClaimedRow,
        owner: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let recorded = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM event_queue WHERE id = $1 AND lease_owner = $2")
                .bind(row.id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                false
            } else {
                sqlx::query(
                    "INSERT INTO event_failures
                       (source, dedupe_key, kind, attempts, reason, received_at, failed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(row.source.as_str())
                .bind(&row.dedupe_key)
                .bind(&row.kind)
                .bind(i32::try_from(row.attempts).unwrap_or(i32::MAX))
                .bind(reason)
                .bind(row.received_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                true
            }
        });
        Ok(recorded)
    }

    /// Hands a claimed row back untouched (graceful shutdown): due at once for any worker, and
    /// the interrupted attempt is not counted.
    pub async fn release(&self, id: i64, owner: &str) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE event_queue
                 SET lease_owner = NULL, lease_expires_at = NULL, attempts = attempts - 1
                 WHERE id = $1 AND lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Rows waiting in the queue (due, leased or scheduled for retry).
    pub async fn queue_depth(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM event_queue")
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// The most recent permanent failures, newest first.
    pub async fn failures(&self, limit: u32) -> Result<Vec<FailureRecord>, StoreError> {
        type Row = (String, String, String, i32, String, i64, i64);
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT source, dedupe_key, kind, attempts, reason, received_at, failed_at
                 FROM event_failures ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(source, dedupe_key, kind, attempts, reason, received_at, failed_at)| {
                    Ok(FailureRecord {
                        source: source
                            .parse()
                            .map_err(|_| StoreError::Corrupt(format!("event source `{source}`")))?,
                        dedupe_key,
                        kind,
                        attempts: u32::try_from(attempts).unwrap_or(0),
                        reason,
                        received_at,
                        failed_at,
                    })
                },
            )
            .collect()
    }

    /// Forgets delivery ids accepted before `older_than` whose event is no longer queued.
    ///
    /// The queue has no index on the delivery id (event_deliveries' key is the unique one), so
    /// each backend gets the form it runs in one pass over the queue: SQLite builds the list
    /// of queued ids once for `NOT IN`; PostgreSQL plans `NOT EXISTS` as a hash anti-join
    /// (its `NOT IN` degrades to a nested scan once the list outgrows `work_mem`).
    pub async fn prune_deliveries(&self, older_than: i64) -> Result<u64, StoreError> {
        const SQLITE: &str = "DELETE FROM event_deliveries
             WHERE received_at < $1
               AND (source, dedupe_key) NOT IN (SELECT source, dedupe_key FROM event_queue)";
        const POSTGRES: &str = "DELETE FROM event_deliveries d
             WHERE d.received_at < $1 AND NOT EXISTS (
                 SELECT 1 FROM event_queue q
                 WHERE q.source = d.source AND q.dedupe_key = d.dedupe_key)";
        let result = match &self.pool {
            super::Pool::Sqlite(pool) => sqlx::query(SQLITE)
                .bind(older_than)
                .execute(pool)
                .await?
                .rows_affected(),
            super::Pool::Postgres(pool) => sqlx::query(POSTGRES)
                .bind(older_than)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(result)
    }
}
