//! Shared provider back-off (`provider_backoff`) and background reconciliation runs
//! (`reconciliations`): the state every replica must agree on to ride out an outage together —
//! which provider backs off until when, and which one worker probes it.
//!
//! Each transition is a single conditional statement, so two replicas racing for the probe
//! (or for a reconciliation run) get exactly one winner on both backends.

use super::{Store, StoreError, on_pool};

/// A provider that backs off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderState {
    /// `slack:slack.com`, `github:api.github.com`, ...
    pub provider: String,
    /// No probe before this time (ms).
    pub retry_at: i64,
    /// Failed calls or probes in a row.
    pub failures: u32,
    /// When the outage was first seen (ms).
    pub since: i64,
    /// The last failure (status or error code, never a body).
    pub last_error: String,
    /// The worker probing it now, if any.
    pub probe_owner: Option<String>,
    /// When that probe's lease ends (ms).
    pub probe_expires_at: Option<i64>,
}

/// The last run of a background reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationRun {
    /// What it reconciles (`github_app_deliveries`).
    pub name: String,
    /// When it started (ms).
    pub started_at: i64,
    /// When it finished (ms), `None` while running or if it died.
    pub finished_at: Option<i64>,
    /// Items looked at.
    pub listed: u32,
    /// Items acted on (redeliveries requested).
    pub requested: u32,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// One provider as `queue status` and `/metrics` show it: its back-off, if any, and the
/// events waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOverview {
    /// `slack:HOST`, `github:HOST`, `gitlab:HOST`.
    pub provider: String,
    /// Its back-off, while it is in force.
    pub backoff: Option<ProviderState>,
    /// Events waiting for it.
    pub waiting: i64,
    /// When the oldest of them was accepted (ms).
    pub oldest_received_at: Option<i64>,
}

type StateRow = (String, i64, i32, i64, String, Option<String>, Option<i64>);

impl Store {
    /// Every provider that backs off.
    pub async fn provider_states(&self) -> Result<Vec<ProviderState>, StoreError> {
        let rows: Vec<StateRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT provider, retry_at, failures, since, last_error, probe_owner,
                        probe_expires_at
                 FROM provider_backoff ORDER BY provider",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(
                    provider,
                    retry_at,
                    failures,
                    since,
                    last_error,
                    probe_owner,
                    probe_expires_at,
                )| {
                    ProviderState {
                        provider,
                        retry_at,
                        failures: u32::try_from(failures).unwrap_or(0),
                        since,
                        last_error,
                        probe_owner,
                        probe_expires_at,
                    }
                },
            )
            .collect())
    }

    /// Every provider that backs off or that events wait for.
    pub async fn provider_overview(&self) -> Result<Vec<ProviderOverview>, StoreError> {
        let mut out: Vec<ProviderOverview> = self
            .provider_states()
            .await?
            .into_iter()
            .map(|state| ProviderOverview {
                provider: state.provider.clone(),
                backoff: Some(state),
                waiting: 0,
                oldest_received_at: None,
            })
            .collect();
        for (provider, waiting, oldest) in self.waiting_by_provider().await? {
            match out.iter_mut().find(|o| o.provider == provider) {
                Some(o) => {
                    o.waiting = waiting;
                    o.oldest_received_at = Some(oldest);
                }
                None => out.push(ProviderOverview {
                    provider,
                    backoff: None,
                    waiting,
                    oldest_received_at: Some(oldest),
                }),
            }
        }
        out.sort_by(|a, b| a.provider.cmp(&b.provider));
        Ok(out)
    }

    /// Records a failed call to `provider`: starts its back-off, or pushes `retry_at` later
    /// (never earlier) and counts the failure. A probe lease held by `owner` ends with it.
    pub async fn trip_provider(
        &self,
        provider: &str,
        owner: &str,
        now: i64,
        retry_at: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO provider_backoff (provider, retry_at, failures, since, last_error)
                 VALUES ($1, $2, 1, $3, $4)
                 ON CONFLICT (provider) DO UPDATE SET
                     retry_at = CASE WHEN excluded.retry_at > provider_backoff.retry_at
                                     THEN excluded.retry_at ELSE provider_backoff.retry_at END,
                     failures = provider_backoff.failures + 1,
                     last_error = excluded.last_error,
                     probe_owner = CASE WHEN provider_backoff.probe_owner = $5
                                        THEN NULL ELSE provider_backoff.probe_owner END,
                     probe_expires_at = CASE WHEN provider_backoff.probe_owner = $5
                                        THEN NULL ELSE provider_backoff.probe_expires_at END",
            )
            .bind(provider)
            .bind(retry_at)
            .bind(now)
            .bind(reason)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Takes the probe of `provider` for `owner` when its `retry_at` has passed and nobody
    /// else probes it (or their lease expired). True for exactly one caller.
    pub async fn take_probe(
        &self,
        provider: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE provider_backoff SET probe_owner = $2, probe_expires_at = $4
                 WHERE provider = $1 AND retry_at <= $3
                   AND (probe_owner IS NULL OR probe_expires_at <= $3)",
            )
            .bind(provider)
            .bind(owner)
            .bind(now)
            .bind(now.saturating_add(lease_ms))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Hands the probe back without a verdict (the probe event never reached the provider), so
    /// the next step probes with another event.
    pub async fn release_probe(&self, provider: &str, owner: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE provider_backoff SET probe_owner = NULL, probe_expires_at = NULL
                 WHERE provider = $1 AND probe_owner = $2",
            )
            .bind(provider)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Ends the back-off of `provider` (its probe got through, or nothing waits for it) and
    /// makes every event that waited for it due at `now`, all at once. Only the probe's owner
    /// can end it; returns the number of events released, `None` if `owner` was not probing.
    pub async fn close_provider(
        &self,
        provider: &str,
        owner: &str,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        let released = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let closed = sqlx::query(
                "DELETE FROM provider_backoff WHERE provider = $1 AND probe_owner = $2",
            )
            .bind(provider)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed == 0 {
                tx.rollback().await?;
                None
            } else {
                let n = sqlx::query(
                    "UPDATE event_queue SET waiting_on = NULL, next_attempt_at = $2
                     WHERE waiting_on = $1",
                )
                .bind(provider)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Some(n)
            }
        });
        Ok(released)
    }

    /// Starts a run of reconciliation `name` unless another replica started one less than
    /// `interval_ms` ago. True when this caller should run it now.
    pub async fn start_reconciliation(
        &self,
        name: &str,
        now: i64,
        interval_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO reconciliations (name, started_at) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at,
                     finished_at = NULL, listed = 0, requested = 0, error = NULL
                 WHERE reconciliations.started_at <= $3",
            )
            .bind(name)
            .bind(now)
            .bind(now.saturating_sub(interval_ms))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Records how a reconciliation run ended.
    pub async fn finish_reconciliation(
        &self,
        name: &str,
        now: i64,
        listed: u32,
        requested: u32,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE reconciliations SET finished_at = $2, listed = $3, requested = $4,
                     error = $5
                 WHERE name = $1",
            )
            .bind(name)
            .bind(now)
            .bind(i64::from(listed))
            .bind(i64::from(requested))
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// The last run of every reconciliation.
    pub async fn reconciliations(&self) -> Result<Vec<ReconciliationRun>, StoreError> {
        type Row = (String, i64, Option<i64>, i64, i64, Option<String>);
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT name, started_at, finished_at, CAST(listed AS BIGINT),
                        CAST(requested AS BIGINT), error
                 FROM reconciliations ORDER BY name",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(name, started_at, finished_at, listed, requested, error)| ReconciliationRun {
                    name,
                    started_at,
                    finished_at,
                    listed: u32::try_from(listed).unwrap_or(0),
                    requested: u32::try_from(requested).unwrap_or(0),
                    error,
                },
            )
            .collect())
    }

    /// Which of `keys` (delivery ids from `source`) the queue has accepted before.
    pub async fn known_deliveries(
        &self,
        source: crate::domain::Source,
        keys: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut known = std::collections::HashSet::new();
        for key in keys {
            let found: Option<(i64,)> = on_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT CAST(1 AS BIGINT) FROM event_deliveries WHERE source = $1 AND dedupe_key = $2",
                )
                .bind(source.as_str())
                .bind(key)
                .fetch_optional(pool)
                .await?
            });
            if found.is_some() {
                known.insert(key.clone());
            }
        }
        Ok(known)
    }
}
