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
            order_key: crate::ordering::order_key(self.source, self.payload),
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
    /// The pull request or thread it belongs to ([`crate::ordering`]).
    pub order_key: Option<String>,
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
    /// The pull request or thread it belongs to.
    pub order_key: Option<String>,
    /// The provider it waits for, when an earlier attempt found it down.
    pub waiting_on: Option<String>,
    /// Earlier retries that were not a provider outage.
    pub hard_errors: u32,
}

/// Why an event was given up (`event_failures.cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpCause {
    /// An answer that retrying cannot change (`channel_not_found`, a 404, a 401...).
    Permanent,
    /// Provider outages outlasted `CODEREVIEW_SYNC_MAX_EVENT_AGE`.
    Expired,
    /// `CODEREVIEW_SYNC_MAX_ATTEMPTS` retries that were not a provider outage.
    Attempts,
}

impl GiveUpCause {
    /// The stored and exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUpCause::Permanent => "permanent",
            GiveUpCause::Expired => "expired",
            GiveUpCause::Attempts => "attempts",
        }
    }
}

impl ClaimedRow {
    /// Associated data the payload was sealed with.
    pub fn aad(&self) -> Aad {
        event_aad(self.source.as_str(), &self.dedupe_key)
    }
}

/// A given-up event. Its sealed payload is kept (not shown) so `queue retry-failed` can
/// replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    /// Row id (what `queue retry-failed --id` takes).
    pub id: i64,
    /// `permanent`, `expired` or `attempts` ([`GiveUpCause`]).
    pub cause: String,
    /// Whether the payload was kept (rows from before the dead-letter migration were not).
    pub replayable: bool,
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

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    source: String,
    dedupe_key: String,
    kind: String,
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    attempts: i32,
    received_at: i64,
    order_key: Option<String>,
    waiting_on: Option<String>,
    hard_errors: i32,
}

/// The claimable rows: not leased, not waiting for a provider that backs off, and the oldest
/// queued row of their ordering key (so one PR's events run one at a time, in order).
macro_rules! claimable {
    () => {
        "(q.lease_expires_at IS NULL OR q.lease_expires_at <= $3)
         AND (q.order_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM event_queue p WHERE p.order_key = q.order_key AND p.id < q.id))"
    };
}

macro_rules! claim_sql {
    ($filter:expr, $order:expr, $lock:expr) => {
        concat!(
            "UPDATE event_queue
             SET lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1
             WHERE id IN (
                 SELECT q.id FROM event_queue q
                 WHERE ",
            claimable!(),
            " AND ",
            $filter,
            " ORDER BY ",
            $order,
            " LIMIT $4 ",
            $lock,
            ")
             RETURNING id, source, dedupe_key, kind, key_id, nonce, ciphertext, attempts,
                       received_at, order_key, waiting_on, hard_errors"
        )
    };
}

const CLAIM_SQLITE: &str = claim_sql!(
    "q.next_attempt_at <= $3 AND (q.waiting_on IS NULL
        OR q.waiting_on NOT IN (SELECT provider FROM provider_backoff))",
    "q.next_attempt_at, q.id",
    ""
);
const CLAIM_POSTGRES: &str = claim_sql!(
    "q.next_attempt_at <= $3 AND (q.waiting_on IS NULL
        OR q.waiting_on NOT IN (SELECT provider FROM provider_backoff))",
    "q.next_attempt_at, q.id",
    "FOR UPDATE SKIP LOCKED"
);
const PROBE_SQLITE: &str = claim_sql!("q.waiting_on = $5", "q.id", "");
const PROBE_POSTGRES: &str = claim_sql!("q.waiting_on = $5", "q.id", "FOR UPDATE SKIP LOCKED");

fn claimed_from_row(row: ClaimRow) -> Result<ClaimedRow, StoreError> {
    let ClaimRow {
        id,
        source,
        dedupe_key,
        kind,
        key_id,
        nonce,
        ciphertext,
        attempts,
        received_at,
        order_key,
        waiting_on,
        hard_errors,
    } = row;
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
        order_key,
        waiting_on,
        hard_errors: u32::try_from(hard_errors).unwrap_or(0),
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
                             ciphertext, attempts, next_attempt_at, received_at, order_key) ",
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
                            .push_bind(now)
                            .push_bind(e.order_key.as_deref());
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
                let mut order_keys: Vec<Option<&str>> = Vec::with_capacity(n);
                for e in unique.iter().map(|&i| &events[i]) {
                    sources.push(e.source.as_str());
                    keys.push(e.dedupe_key.as_str());
                    kinds.push(e.kind.as_str());
                    key_ids.push(e.sealed.key_id.as_str());
                    nonces.push(e.sealed.nonce.as_slice());
                    ciphertexts.push(e.sealed.ciphertext.as_slice());
                    order_keys.push(e.order_key.as_deref());
                }
                sqlx::query_as(
                    "WITH input AS (
                         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                                              $5::bytea[], $6::bytea[], $8::text[])
                             AS t(source, dedupe_key, kind, key_id, nonce, ciphertext, order_key)),
                     fresh AS (
                         INSERT INTO event_deliveries (source, dedupe_key, received_at)
                         SELECT source, dedupe_key, $7 FROM input
                         ON CONFLICT DO NOTHING
                         RETURNING source, dedupe_key)
                     INSERT INTO event_queue (source, dedupe_key, kind, key_id, nonce, ciphertext,
                                              attempts, next_attempt_at, received_at, order_key)
                     SELECT i.source, i.dedupe_key, i.kind, i.key_id, i.nonce, i.ciphertext, 0, $7, $7,
                            i.order_key
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
                .bind(&order_keys)
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
    /// each. Rows whose lease expired (their worker crashed) are due again. Rows waiting for a
    /// provider that backs off are left alone, and so is every row queued behind an older row
    /// of the same pull request ([`crate::ordering`]).
    pub async fn claim_due(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedRow>, StoreError> {
        self.claim_with(
            CLAIM_SQLITE,
            CLAIM_POSTGRES,
            owner,
            now,
            lease_ms,
            limit,
            "",
        )
        .await
    }

    /// Claims the one row that probes `provider` (which backs off): the oldest row waiting for
    /// it that is at the head of its pull request's queue. `None` when nothing waits for it.
    pub async fn claim_probe(
        &self,
        provider: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<ClaimedRow>, StoreError> {
        let mut rows = self
            .claim_with(
                PROBE_SQLITE,
                PROBE_POSTGRES,
                owner,
                now,
                lease_ms,
                1,
                provider,
            )
            .await?;
        Ok(rows.pop())
    }

    #[allow(clippy::too_many_arguments)]
    async fn claim_with(
        &self,
        sqlite: &'static str,
        postgres: &'static str,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
        provider: &str,
    ) -> Result<Vec<ClaimedRow>, StoreError> {
        let expires = now.saturating_add(lease_ms);
        let limit = i64::from(limit);
        let with_provider = !provider.is_empty();
        let rows: Vec<ClaimRow> = match &self.pool {
            super::Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                SqliteSync::Normal.apply(&mut conn).await?;
                let mut query = sqlx::query_as(sqlite)
                    .bind(owner)
                    .bind(expires)
                    .bind(now)
                    .bind(limit);
                if with_provider {
                    query = query.bind(provider);
                }
                query.fetch_all(&mut *conn).await?
            }
            super::Pool::Postgres(pool) => {
                let mut query = sqlx::query_as(postgres)
                    .bind(owner)
                    .bind(expires)
                    .bind(now)
                    .bind(limit);
                if with_provider {
                    query = query.bind(provider);
                }
                query.fetch_all(pool).await?
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

    /// Gives a row back for another attempt at `next_attempt_at` after an error that is not a
    /// provider outage (counted in `hard_errors`). False if the lease was lost.
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
                     last_error = $4, hard_errors = hard_errors + 1, waiting_on = NULL
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

    /// Gives a row back to wait for `provider` (down or rate limiting): it is not claimed
    /// again while the provider backs off, except as its probe. False if the lease was lost.
    pub async fn park(
        &self,
        id: i64,
        owner: &str,
        provider: &str,
        next_attempt_at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE event_queue
                 SET lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = $3,
                     last_error = $4, waiting_on = $5
                 WHERE id = $1 AND lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(next_attempt_at)
            .bind(reason)
            .bind(provider)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Records a permanent failure: [`Store::give_up`] with [`GiveUpCause::Permanent`].
    pub async fn record_failure(
        &self,
        row: &ClaimedRow,
        owner: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.give_up(row, owner, GiveUpCause::Permanent, reason, now)
            .await
    }

    /// Moves a row to `event_failures` with its sealed payload (for `queue retry-failed`) and
    /// deletes it from the queue, atomically. False if the lease was lost.
    pub async fn give_up(
        &self,
        row: &ClaimedRow,
        owner: &str,
        cause: GiveUpCause,
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
                       (source, dedupe_key, kind, attempts, reason, received_at, failed_at,
                        cause, order_key, key_id, nonce, ciphertext)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(row.source.as_str())
                .bind(&row.dedupe_key)
                .bind(&row.kind)
                .bind(i32::try_from(row.attempts).unwrap_or(i32::MAX))
                .bind(reason)
                .bind(row.received_at)
                .bind(now)
                .bind(cause.as_str())
                .bind(row.order_key.as_deref())
                .bind(&row.sealed.key_id)
                .bind(&row.sealed.nonce)
                .bind(&row.sealed.ciphertext)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                true
            }
        });
        Ok(recorded)
    }

    /// Gives up every unleased row that waits for a provider and was accepted before `cutoff`
    /// (`CODEREVIEW_SYNC_MAX_EVENT_AGE`), keeping its payload like [`Store::give_up`]. Returns
    /// the sources of the rows given up. Rows that wait are never claimed while their provider
    /// backs off, so the age limit is applied here rather than after an attempt.
    pub async fn expire_waiting(&self, cutoff: i64, now: i64) -> Result<Vec<Source>, StoreError> {
        const DELETE: &str = "DELETE FROM event_queue
             WHERE waiting_on IS NOT NULL AND received_at < $1
               AND (lease_expires_at IS NULL OR lease_expires_at <= $2)
             RETURNING source, dedupe_key, kind, attempts, last_error, received_at, waiting_on,
                       order_key, key_id, nonce, ciphertext";
        type Gone = (
            String,
            String,
            String,
            i32,
            Option<String>,
            i64,
            Option<String>,
            Option<String>,
            String,
            Vec<u8>,
            Vec<u8>,
        );
        let gone: Vec<Gone> = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let gone: Vec<Gone> = sqlx::query_as(DELETE)
                .bind(cutoff)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            for (
                source,
                key,
                kind,
                attempts,
                last_error,
                received_at,
                waiting_on,
                order,
                k,
                n,
                c,
            ) in &gone
            {
                let reason = format!(
                    "gave up after {} h waiting for {}: {}",
                    (now - received_at) / 3_600_000,
                    waiting_on.as_deref().unwrap_or("a provider"),
                    last_error.as_deref().unwrap_or("no answer")
                );
                sqlx::query(
                    "INSERT INTO event_failures
                       (source, dedupe_key, kind, attempts, reason, received_at, failed_at,
                        cause, order_key, key_id, nonce, ciphertext)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'expired', $8, $9, $10, $11)",
                )
                .bind(source)
                .bind(key)
                .bind(kind)
                .bind(attempts)
                .bind(reason)
                .bind(received_at)
                .bind(now)
                .bind(order)
                .bind(k)
                .bind(n)
                .bind(c)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            gone
        });
        gone.into_iter()
            .map(|g| {
                g.0.parse()
                    .map_err(|_| StoreError::Corrupt(format!("event source `{}`", g.0)))
            })
            .collect()
    }

    /// Puts given-up events back in the queue (all that kept their payload, or those with the
    /// given ids), due at once with a fresh age; returns how many. Their delivery ids stay
    /// known, so a late redelivery of the same event is still a duplicate.
    pub async fn requeue_failures(&self, ids: &[i64], now: i64) -> Result<u64, StoreError> {
        let all = ids.is_empty();
        let n = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let rows: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM event_failures WHERE key_id IS NOT NULL ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?;
            let mut n = 0;
            for (id,) in rows {
                if !all && !ids.contains(&id) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO event_queue (source, dedupe_key, kind, key_id, nonce, ciphertext,
                         attempts, next_attempt_at, received_at, order_key)
                     SELECT source, dedupe_key, kind, key_id, nonce, ciphertext, 0, $2, $2,
                            order_key
                     FROM event_failures WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM event_failures WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                n += 1;
            }
            tx.commit().await?;
            n
        });
        Ok(n)
    }

    /// Per provider: events waiting for it and when the oldest was accepted.
    pub async fn waiting_by_provider(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows: Vec<(String, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT waiting_on, COUNT(*), MIN(received_at) FROM event_queue
                 WHERE waiting_on IS NOT NULL GROUP BY waiting_on ORDER BY waiting_on",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
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

    /// The most recent given-up events, newest first.
    pub async fn failures(&self, limit: u32) -> Result<Vec<FailureRecord>, StoreError> {
        type Row = (
            i64,
            String,
            bool,
            String,
            String,
            String,
            i32,
            String,
            i64,
            i64,
        );
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, cause, key_id IS NOT NULL, source, dedupe_key, kind, attempts, reason,
                        received_at, failed_at
                 FROM event_failures ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(
                    id,
                    cause,
                    replayable,
                    source,
                    dedupe_key,
                    kind,
                    attempts,
                    reason,
                    received_at,
                    failed_at,
                )| {
                    Ok(FailureRecord {
                        id,
                        cause,
                        replayable,
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
