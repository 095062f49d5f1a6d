//! The worker side of the durable queue: claim due events, open their sealed payloads, hand
//! them to an [`EventHandler`], and record the outcome (delete, retry with backoff, wait for a
//! provider, or give up keeping the payload for `queue retry-failed`).
//!
//! Provider outages are not failures: an event that found Slack (or a forge host) down waits
//! for that provider ([`crate::breaker`]); the provider is probed by one event at a time, and
//! a probe that gets through releases every waiting event at once. Such events are given up
//! only after `max_event_age`; `max_attempts` bounds the other retries (panics, timeouts).
//!
//! [`Worker::run_once`] is one deterministic step, public so tests drive the queue without
//! sleeping: it claims a batch, runs the handlers concurrently, deletes the successes in one
//! commit and settles the rest; [`Worker::run`] loops it until shutdown and then finishes or releases in-flight
//! work. Delivery is at-least-once: an event whose worker dies mid-handler runs again once the
//! lease expires, so handlers make their effects idempotent (the link tables are keyed for it).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt as _;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};

use crate::breaker::{Breakers, CallScope, probe_delay};
use crate::clock::{Clock, SystemClock};
use crate::config::WorkerSettings;
use crate::domain::Source;
use crate::metrics::Metrics;
use crate::store::{ClaimedRow, GiveUpCause, ProviderState, Store, StoreError, duration_ms};
use crate::vault::Vault;

pub use crate::outcome::{HandleError, MAX_RETRY_AFTER};

/// A verified webhook delivery, opened for a handler. Its `Debug` output shows the payload's
/// size, never its content, so `{:?}` in a log line cannot leak message text.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    /// Queue row id (stable across attempts).
    pub id: i64,
    /// Where it came from.
    pub source: Source,
    /// Event name: `X-GitHub-Event` (`pull_request`), `X-Gitlab-Event` (`Note Hook`), or the
    /// Slack inner event type (`message`).
    pub kind: String,
    /// The sender's delivery id.
    pub dedupe_key: String,
    /// The raw request body as received (already verified).
    pub payload: Vec<u8>,
    /// Attempts including this one (1 on the first try).
    pub attempts: u32,
    /// When it was accepted, ms since the epoch.
    pub received_at: i64,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("kind", &self.kind)
            .field("dedupe_key", &self.dedupe_key)
            .field("payload_bytes", &self.payload.len())
            .field("attempts", &self.attempts)
            .field("received_at", &self.received_at)
            .finish()
    }
}

impl Event {
    /// Parses the payload as JSON into `T`. A mismatch is permanent (retrying cannot fix it);
    /// the error names only the position, never the payload's content.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HandleError> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            HandleError::Permanent(format!(
                "{} payload does not have the expected shape (line {}, column {})",
                self.kind,
                e.line(),
                e.column()
            ))
        })
    }
}

/// What the worker calls for every event. The thread-sync behaviours implement this; tests
/// plug in their own (slow, failing, counting) handlers.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Processes one event. `Ok` deletes it from the queue.
    async fn handle(&self, event: &Event) -> Result<(), HandleError>;
}

/// Counts from one [`Worker::run_once`] step.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StepReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Handled and deleted.
    pub done: usize,
    /// Scheduled for another attempt.
    pub retried: usize,
    /// Given up (recorded in `event_failures` with their payload).
    pub failed: usize,
    /// Set aside to wait for a provider that is down or rate limiting.
    pub waiting: usize,
    /// Probes sent to providers that back off.
    pub probes: usize,
    /// Events released at once because a probe found their provider back.
    pub released: u64,
    /// Finished after the lease was lost (another worker may have it now).
    pub lost: usize,
    /// Due timers moved into the queue by this step.
    pub timers_fired: usize,
}

/// How a handler error was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Retried,
    Waiting,
    Failed,
    Lost,
}

/// Claims and processes queued events. Cheap to share behind an `Arc`.
pub struct Worker {
    store: Store,
    vault: Arc<Vault>,
    handler: Arc<dyn EventHandler>,
    metrics: Metrics,
    settings: WorkerSettings,
    owner: String,
    clock: Arc<dyn Clock>,
    breakers: Arc<Breakers>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("owner", &self.owner)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A lease owner name unique to this process: host, pid and a random suffix.
fn owner_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_string());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Delay before attempt `attempts + 1`: `base * 2^(attempts-1)` capped at `max`, with jitter
/// in the upper half so replicas retrying together spread out.
pub fn backoff(settings: &WorkerSettings, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let full = settings
        .backoff_base
        .saturating_mul(1u32 << exp)
        .min(settings.backoff_max);
    let half = full / 2;
    let jitter_ms = rand::random_range(0..=duration_ms(half).max(0) as u64);
    half + Duration::from_millis(jitter_ms)
}

/// The handler must finish well within the lease, or another worker could claim the event
/// while it still runs.
fn handler_timeout(lease: Duration) -> Duration {
    lease.mul_f64(0.8)
}

impl Worker {
    /// Creates a worker with a fresh lease-owner name.
    pub fn new(
        store: Store,
        vault: Arc<Vault>,
        handler: Arc<dyn EventHandler>,
        metrics: Metrics,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            store,
            vault,
            handler,
            metrics,
            settings,
            owner: owner_name(),
            clock: Arc::new(SystemClock),
            breakers: Arc::default(),
        }
    }

    /// Uses `clock` instead of the system clock for every time the worker reads or writes
    /// (tests drive hours of outage in milliseconds).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The name this worker writes into `lease_owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// One step: claim up to `concurrency` due events, process them concurrently, record the
    /// outcomes. Returns what happened; an empty report means nothing was due.
    pub async fn run_once(&self) -> Result<StepReport, StoreError> {
        let in_flight = Mutex::new(HashSet::new());
        self.step(&in_flight).await
    }

    /// Probes every provider whose back-off has run out and that nobody else probes: claims
    /// the oldest event waiting for it, to be handled as its probe. A provider nothing waits
    /// for is simply closed (the next real call tests it).
    async fn claim_probes(
        &self,
        states: &[ProviderState],
        now: i64,
        report: &mut StepReport,
    ) -> Result<Vec<(ClaimedRow, Option<String>)>, StoreError> {
        let lease = duration_ms(self.settings.lease);
        let mut probes = Vec::new();
        for state in states {
            let probed = state.probe_owner.is_some() && state.probe_expires_at.unwrap_or(0) > now;
            if state.retry_at > now || probed {
                continue;
            }
            if !self
                .store
                .take_probe(&state.provider, &self.owner, now, lease)
                .await?
            {
                continue;
            }
            match self
                .store
                .claim_probe(&state.provider, &self.owner, now, lease)
                .await?
            {
                Some(row) => {
                    report.probes += 1;
                    probes.push((row, Some(state.provider.clone())));
                }
                None => {
                    self.store
                        .close_provider(&state.provider, &self.owner, now)
                        .await?;
                    self.breakers.close(&state.provider);
                    tracing::info!(provider = %state.provider, "nothing waits for the provider: back-off ended");
                }
            }
        }
        Ok(probes)
    }

    async fn step(&self, in_flight: &Mutex<HashSet<i64>>) -> Result<StepReport, StoreError> {
        let now = self.now();
        let mut report = StepReport::default();
        let states = self.store.provider_states().await?;
        self.breakers
            .replace(states.iter().map(|s| s.provider.clone()));
        // Due timers (reminders, digests) become queued events first, so this very step can
        // claim them.
        report.timers_fired = self
            .store
            .fire_due_timers(&self.vault, now, self.settings.concurrency.max(1))
            .await?;
        let mut work = self.claim_probes(&states, now, &mut report).await?;
        let room = self.settings.concurrency.saturating_sub(work.len() as u32);
        if room > 0 {
            let rows = self
                .store
                .claim_due(&self.owner, now, duration_ms(self.settings.lease), room)
                .await?;
            work.extend(rows.into_iter().map(|row| (row, None)));
        }
        report.claimed = work.len();
        if work.is_empty() {
            return Ok(report);
        }
        if let Ok(mut set) = in_flight.lock() {
            set.extend(work.iter().map(|(r, _)| r.id));
        }
        let settle = |id: i64| {
            if let Ok(mut set) = in_flight.lock() {
                set.remove(&id);
            }
        };
        let handled = futures::future::join_all(work.into_iter().map(|(row, probe)| async move {
            let started = Instant::now();
            let scope = Arc::new(CallScope::new(self.breakers.clone(), probe.clone()));
            let result = scope.clone().run(self.handle(&row)).await;
            (row, probe, scope, started.elapsed(), result)
        }))
        .await;
        // Successes are deleted together in one commit; retries and failures one by one.
        let mut succeeded = Vec::with_capacity(handled.len());
        let mut verdicts = Vec::new();
        for (row, probe, scope, elapsed, result) in handled {
            verdicts.push((probe, scope));
            match result {
                Ok(()) => succeeded.push((row, elapsed)),
                Err(error) => {
                    let outcome = self.settle_error(&row, error, elapsed).await?;
                    settle(row.id);
                    match outcome {
                        Outcome::Retried => report.retried += 1,
                        Outcome::Waiting => report.waiting += 1,
                        Outcome::Failed => report.failed += 1,
                        Outcome::Lost => report.lost += 1,
                    }
                }
            }
        }
        let ids: Vec<i64> = succeeded.iter().map(|(row, _)| row.id).collect();
        let deleted: HashSet<i64> = self
            .store
            .complete_many(&ids, &self.owner)
            .await?
            .into_iter()
            .collect();
        for (row, elapsed) in succeeded {
            settle(row.id);
            if deleted.contains(&row.id) {
                report.done += 1;
                self.metrics.event_processed(row.source, "done", elapsed);
                tracing::info!(
                    source = %row.source, kind = %row.kind, dedupe_key = %row.dedupe_key,
                    attempts = row.attempts, elapsed_ms = elapsed.as_millis() as u64,
                    "event processed"
                );
            } else {
                self.lost(&row);
                report.lost += 1;
            }
        }
        // Provider verdicts last, so that events parked in this step are released too.
        for (probe, scope) in verdicts {
            report.released += self.record_verdict(&states, probe, &scope).await?;
        }
        Ok(report)
    }

    /// What one event's calls say about its providers: a failed call starts or extends that
    /// provider's back-off; a probe that got through ends it and releases what waited.
    async fn record_verdict(
        &self,
        states: &[ProviderState],
        probe: Option<String>,
        scope: &CallScope,
    ) -> Result<u64, StoreError> {
        let now = self.now();
        let failed = scope.failed();
        for (provider, failure) in &failed {
            let failures = states
                .iter()
                .find(|s| &s.provider == provider)
                .map_or(0, |s| s.failures);
            let delay = probe_delay(&self.settings, failures + 1, failure.after);
            self.store
                .trip_provider(
                    provider,
                    &self.owner,
                    now,
                    now.saturating_add(duration_ms(delay)),
                    &failure.reason,
                )
                .await?;
            if failures == 0 {
                tracing::warn!(
                    provider = %provider, reason = %failure.reason,
                    probe_in_ms = delay.as_millis() as u64,
                    "provider unavailable: backing off, one probe at a time"
                );
            }
        }
        let Some(provider) = probe else {
            return Ok(0);
        };
        if failed.contains_key(&provider) {
            return Ok(0);
        }
        if !scope.reached().contains(&provider) {
            self.store.release_probe(&provider, &self.owner).await?;
            return Ok(0);
        }
        let released = self
            .store
            .close_provider(&provider, &self.owner, now)
            .await?
            .unwrap_or(0);
        self.breakers.close(&provider);
        tracing::info!(provider = %provider, released, "provider answered again: released every waiting event");
        Ok(released)
    }

    /// Opens the payload and runs the handler, bounded by the lease and shielded from panics.
    async fn handle(&self, row: &ClaimedRow) -> Result<(), HandleError> {
        let payload = self
            .vault
            .open(&row.aad(), &row.sealed)
            .map_err(|e| HandleError::Permanent(e.to_string()))?;
        let event = Event {
            id: row.id,
            source: row.source,
            kind: row.kind.clone(),
            dedupe_key: row.dedupe_key.clone(),
            payload,
            attempts: row.attempts,
            received_at: row.received_at,
        };
        let limit = handler_timeout(self.settings.lease);
        let handled = AssertUnwindSafe(self.handler.handle(&event)).catch_unwind();
        match tokio::time::timeout(limit, handled).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => Err(HandleError::retry("handler panicked")),
            Err(_) => Err(HandleError::retry(format!(
                "handler did not finish within {} ms",
                limit.as_millis()
            ))),
        }
    }

    /// Records a handler error: wait for a provider, another attempt later, or give up.
    async fn settle_error(
        &self,
        row: &ClaimedRow,
        error: HandleError,
        elapsed: Duration,
    ) -> Result<Outcome, StoreError> {
        let now = self.now();
        match error {
            HandleError::Permanent(reason) => {
                self.give_up(row, GiveUpCause::Permanent, &reason, elapsed)
                    .await
            }
            HandleError::Unavailable {
                provider,
                after,
                reason,
            } => {
                let age = Duration::from_millis(now.saturating_sub(row.received_at).max(0) as u64);
                if age >= self.settings.max_event_age {
                    let reason = format!(
                        "gave up after {} h of provider outage ({provider}): {reason}",
                        age.as_secs() / 3600
                    );
                    return self
                        .give_up(row, GiveUpCause::Expired, &reason, elapsed)
                        .await;
                }
                let delay = probe_delay(&self.settings, 1, after);
                let at = now.saturating_add(duration_ms(delay));
                if !self
                    .store
                    .park(row.id, &self.owner, &provider, at, &reason)
                    .await?
                {
                    return Ok(self.lost(row));
                }
                self.metrics.event_retried(row.source);
                self.metrics.event_processed(row.source, "waiting", elapsed);
                tracing::info!(
                    source = %row.source, kind = %row.kind, dedupe_key = %row.dedupe_key,
                    attempts = row.attempts, provider = %provider, reason = %reason,
                    "event waits for its provider"
                );
                Ok(Outcome::Waiting)
            }
            HandleError::Retry { after, reason } => {
                let errors = row.hard_errors + 1;
                if errors >= self.settings.max_attempts {
                    let reason = format!("gave up after {errors} attempts: {reason}");
                    return self
                        .give_up(row, GiveUpCause::Attempts, &reason, elapsed)
                        .await;
                }
                let delay = after
                    .map(|d| d.min(MAX_RETRY_AFTER))
                    .unwrap_or_else(|| backoff(&self.settings, errors));
                let at = now.saturating_add(duration_ms(delay));
                if !self
                    .store
                    .schedule_retry(row.id, &self.owner, at, &reason)
                    .await?
                {
                    return Ok(self.lost(row));
                }
                self.metrics.event_retried(row.source);
                self.metrics.event_processed(row.source, "retry", elapsed);
                tracing::warn!(
                    source = %row.source, kind = %row.kind, dedupe_key = %row.dedupe_key,
                    attempts = row.attempts, retry_in_ms = delay.as_millis() as u64,
                    reason = %reason, "event will be retried"
                );
                Ok(Outcome::Retried)
            }
        }
    }

    async fn give_up(
        &self,
        row: &ClaimedRow,
        cause: GiveUpCause,
        reason: &str,
        elapsed: Duration,
    ) -> Result<Outcome, StoreError> {
        let kept = self
            .store
            .give_up(row, &self.owner, cause, reason, self.now())
            .await?;
        if !kept {
            return Ok(self.lost(row));
        }
        self.metrics.event_given_up(row.source, cause.as_str());
        self.metrics.event_processed(row.source, "failed", elapsed);
        tracing::error!(
            source = %row.source, kind = %row.kind, dedupe_key = %row.dedupe_key,
            attempts = row.attempts, cause = cause.as_str(), reason = %reason,
            "event given up (kept for `queue retry-failed`)"
        );
        Ok(Outcome::Failed)
    }

    /// Gives up the events that have waited for a provider longer than `max_event_age`
    /// (they are not claimed while it backs off, so no attempt would notice). Run every minute
    /// by [`Worker::run`]; public so tests with a manual clock call it.
    pub async fn expire_waiting(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let cutoff = now.saturating_sub(duration_ms(self.settings.max_event_age));
        let gone = self.store.expire_waiting(cutoff, now).await?;
        for source in &gone {
            self.metrics
                .event_given_up(*source, GiveUpCause::Expired.as_str());
        }
        if !gone.is_empty() {
            tracing::error!(
                given_up = gone.len(),
                max_age_s = self.settings.max_event_age.as_secs(),
                "events waited for a provider past the age limit: given up (kept for `queue retry-failed`)"
            );
        }
        Ok(gone.len())
    }

    fn lost(&self, row: &ClaimedRow) -> Outcome {
        tracing::warn!(
            source = %row.source, kind = %row.kind, dedupe_key = %row.dedupe_key,
            "lease expired before the event finished; another worker owns it now"
        );
        Outcome::Lost
    }

    /// Loops [`Worker::run_once`] until `shutdown` turns true. Sleeps `poll_interval` when
    /// idle unless `wake` is notified (a new event was queued by this process). On shutdown,
    /// in-flight events get `shutdown_grace` to finish; the rest are released so another
    /// replica (or the next start) picks them up at once.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>, wake: Arc<Notify>) {
        let mut last_prune: Option<Instant> = None;
        let mut last_expiry: Option<Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_expiry.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                last_expiry = Some(Instant::now());
                if let Err(e) = self.expire_waiting().await {
                    tracing::warn!(error = %e, "could not expire old waiting events");
                }
            }
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                let cutoff = self.now() - duration_ms(self.settings.dedupe_retention);
                match self.store.prune_deliveries(cutoff).await {
                    Ok(n) if n > 0 => tracing::info!(pruned = n, "forgot old delivery ids"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not prune delivery ids"),
                }
            }
            let in_flight = Mutex::new(HashSet::new());
            let step = self.step(&in_flight);
            tokio::pin!(step);
            let result = tokio::select! {
                result = &mut step => result,
                _ = shutdown.changed() => {
                    tracing::info!(
                        grace_ms = self.settings.shutdown_grace.as_millis() as u64,
                        "shutting down: finishing in-flight events"
                    );
                    let finished = tokio::time::timeout(self.settings.shutdown_grace, &mut step)
                        .await
                        .is_ok();
                    // An unfinished step is never polled again; its rows are handed back.
                    if !finished {
                        self.release_all(&in_flight).await;
                    }
                    break;
                }
            };
            match result {
                Ok(report) if report.claimed > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "queue step failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("worker stopped");
    }

    async fn release_all(&self, in_flight: &Mutex<HashSet<i64>>) {
        let ids: Vec<i64> = in_flight
            .lock()
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        for id in ids {
            match self.store.release(id, &self.owner).await {
                Ok(_) => tracing::info!(id, "released unfinished event"),
                Err(e) => {
                    tracing::warn!(id, error = %e, "could not release event; its lease will expire")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let s = WorkerSettings {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            ..WorkerSettings::default()
        };
        for (attempts, full) in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)] {
            for _ in 0..50 {
                let d = backoff(&s, attempts);
                let full = Duration::from_secs(full);
                assert!(d >= full / 2 && d <= full, "attempt {attempts}: {d:?}");
            }
        }
    }

    #[test]
    fn debug_output_never_shows_the_payload() {
        let event = Event {
            id: 1,
            source: Source::Slack,
            kind: "message".into(),
            dedupe_key: "Ev1".into(),
            payload: b"secret message text".to_vec(),
            attempts: 1,
            received_at: 0,
        };
        let debug = format!("{event:?}");
        assert!(
            debug.contains("payload_bytes: 19") && debug.contains("Ev1"),
            "{debug}"
        );
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn json_errors_never_quote_the_payload() {
        let event = Event {
            id: 1,
            source: Source::Slack,
            kind: "message".into(),
            dedupe_key: "Ev1".into(),
            payload: br#"{"n": "secret message text"}"#.to_vec(),
            attempts: 1,
            received_at: 0,
        };
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Shape {
            n: u64,
        }
        let err = event.json::<Shape>().unwrap_err().to_string();
        assert!(err.starts_with("permanent: message payload"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
