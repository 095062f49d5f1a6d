//! Prometheus metrics, served as text on `GET /metrics`.
//!
//! A private [`Registry`] per [`Metrics`] value (not the global one) so tests that run several
//! servers in one process do not share counters.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::Source;

/// Handles to every metric the service exports. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    received: IntCounterVec,
    queue_depth: IntGauge,
    processing: HistogramVec,
    retries: IntCounterVec,
    failures: IntCounterVec,
    given_up: IntCounterVec,
    provider_backing_off: IntGaugeVec,
    provider_retry_at: IntGaugeVec,
    provider_waiting: IntGaugeVec,
    provider_oldest: IntGaugeVec,
    ai_posted: IntCounter,
    ai_failures: IntCounterVec,
    ai_llm_seconds: Histogram,
    cockpit: IntCounterVec,
}

/// The `kind` values of `codereview_sync_cockpit_messages_total`, created at 0.
pub const COCKPIT_KINDS: &[&str] = &["mention", "reminder", "digest"];

/// The `reason` values of `codereview_sync_ai_summary_failures_total`, created at 0 so alerts
/// see a series from the start.
pub const AI_SUMMARY_FAILURE_REASONS: &[&str] = &[
    "timeout",
    "transport",
    "server_error",
    "client_error",
    "rate_limited",
    "refusal",
    "invalid_response",
    "diff",
    "post",
];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let metric =
        HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = counter(
            &registry,
            "codereview_sync_http_requests_total",
            "HTTP requests answered, by endpoint and status code",
            &["endpoint", "status"],
        );
        let http_duration = histogram(
            &registry,
            "codereview_sync_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint",
            &["endpoint"],
            vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ],
        );
        let received = counter(
            &registry,
            "codereview_sync_events_received_total",
            "Verified webhook deliveries, by source and outcome (queued or duplicate)",
            &["source", "outcome"],
        );
        let queue_depth = IntGauge::new(
            "codereview_sync_queue_depth",
            "Events waiting in the durable queue (all replicas), read at scrape time",
        )
        .expect("valid metric");
        registry
            .register(Box::new(queue_depth.clone()))
            .expect("metric registered once");
        let processing = histogram(
            &registry,
            "codereview_sync_event_processing_seconds",
            "Time a handler took for one event attempt, by source and outcome",
            &["source", "outcome"],
            vec![0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        );
        let retries = counter(
            &registry,
            "codereview_sync_event_retries_total",
            "Event attempts that asked to be retried later, by source",
            &["source"],
        );
        let failures = counter(
            &registry,
            "codereview_sync_event_failures_total",
            "Events given up on and recorded in event_failures, by source",
            &["source"],
        );
        let given_up = counter(
            &registry,
            "codereview_sync_events_given_up_total",
            "Events given up (kept for `queue retry-failed`), by source and cause: permanent \
             (cannot succeed on retry), expired (provider outage past the age limit), attempts \
             (other errors past CODEREVIEW_SYNC_MAX_ATTEMPTS). Alert on any increase.",
            &["source", "cause"],
        );
        let gauge = |name: &str, help: &str| {
            let metric = IntGaugeVec::new(Opts::new(name, help), &["provider"]).expect("valid");
            registry
                .register(Box::new(metric.clone()))
                .expect("metric registered once");
            metric
        };
        let provider_backing_off = gauge(
            "codereview_sync_provider_backing_off",
            "1 while a provider (slack:HOST, github:HOST, gitlab:HOST) backs off after failures",
        );
        let provider_retry_at = gauge(
            "codereview_sync_provider_next_probe_timestamp_seconds",
            "When a backing-off provider is probed next (Unix time)",
        );
        let provider_waiting = gauge(
            "codereview_sync_provider_waiting_events",
            "Events waiting for a provider to come back",
        );
        let provider_oldest = gauge(
            "codereview_sync_provider_oldest_waiting_seconds",
            "Age of the oldest event waiting for a provider",
        );
        let ai_posted = IntCounter::new(
            "codereview_sync_ai_summaries_posted_total",
            "AI pull-request summaries posted",
        )
        .expect("valid metric");
        registry
            .register(Box::new(ai_posted.clone()))
            .expect("metric registered once");
        let ai_failures = counter(
            &registry,
            "codereview_sync_ai_summary_failures_total",
            "AI pull-request summaries not posted, by reason (the sync went on without them)",
            &["reason"],
        );
        for reason in AI_SUMMARY_FAILURE_REASONS {
            ai_failures.with_label_values(&[reason]);
        }
        let ai_llm_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "codereview_sync_ai_summary_llm_seconds",
                "Time the model took to answer one summary request (retry included)",
            )
            .buckets(vec![0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(ai_llm_seconds.clone()))
            .expect("metric registered once");
        let cockpit = counter(
            &registry,
            "codereview_sync_cockpit_messages_total",
            "Review cockpit messages posted in Slack, by kind (mention, reminder, digest)",
            &["kind"],
        );
        for kind in COCKPIT_KINDS {
            cockpit.with_label_values(&[kind]);
        }
        // Create the per-source series up front so dashboards and alerts see 0, not "no data".
        for source in [Source::Slack, Source::GitHub, Source::GitLab, Source::Timer] {
            retries.with_label_values(&[source.as_str()]);
            failures.with_label_values(&[source.as_str()]);
            for cause in ["permanent", "expired", "attempts"] {
                given_up.with_label_values(&[source.as_str(), cause]);
            }
        }
        Self {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_duration,
                received,
                queue_depth,
                processing,
                retries,
                failures,
                given_up,
                provider_backing_off,
                provider_retry_at,
                provider_waiting,
                provider_oldest,
                ai_posted,
                ai_failures,
                ai_llm_seconds,
                cockpit,
            }),
        }
    }

    /// Counts one answered request.
    pub fn http_request(&self, endpoint: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.inner
            .http_requests
            .with_label_values(&[endpoint, status.as_str()])
            .inc();
        self.inner
            .http_duration
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a verified delivery (`queued` or `duplicate`).
    pub fn event_received(&self, source: Source, outcome: &str) {
        self.inner
            .received
            .with_label_values(&[source.as_str(), outcome])
            .inc();
    }

    /// Sets the queue depth gauge.
    pub fn set_queue_depth(&self, depth: i64) {
        self.inner.queue_depth.set(depth);
    }

    /// Records one handler attempt (`outcome`: done, retry, failed, released).
    pub fn event_processed(&self, source: Source, outcome: &str, elapsed: Duration) {
        self.inner
            .processing
            .with_label_values(&[source.as_str(), outcome])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a retry.
    pub fn event_retried(&self, source: Source) {
        self.inner
            .retries
            .with_label_values(&[source.as_str()])
            .inc();
    }

    /// Counts a permanent failure.
    pub fn event_failed(&self, source: Source) {
        self.inner
            .failures
            .with_label_values(&[source.as_str()])
            .inc();
    }

    /// Counts an event given up (`cause`: permanent, expired, attempts); also counted in
    /// `codereview_sync_event_failures_total`.
    pub fn event_given_up(&self, source: Source, cause: &str) {
        self.event_failed(source);
        self.inner
            .given_up
            .with_label_values(&[source.as_str(), cause])
            .inc();
    }

    /// Replaces the per-provider gauges (read at scrape time from the shared queue state).
    pub fn set_providers(&self, providers: &[ProviderGauge]) {
        let i = &self.inner;
        for g in [
            &i.provider_backing_off,
            &i.provider_retry_at,
            &i.provider_waiting,
            &i.provider_oldest,
        ] {
            g.reset();
        }
        for p in providers {
            let l = [p.provider.as_str()];
            i.provider_backing_off
                .with_label_values(&l)
                .set(i64::from(p.backing_off));
            if let Some(at) = p.next_probe_at {
                i.provider_retry_at.with_label_values(&l).set(at / 1000);
            }
            i.provider_waiting.with_label_values(&l).set(p.waiting);
            i.provider_oldest
                .with_label_values(&l)
                .set(p.oldest_waiting_secs);
        }
    }

    /// Counts an AI summary posted.
    pub fn ai_summary_posted(&self) {
        self.inner.ai_posted.inc();
    }

    /// Counts an AI summary that failed, by a reason from [`AI_SUMMARY_FAILURE_REASONS`].
    pub fn ai_summary_failed(&self, reason: &str) {
        self.inner.ai_failures.with_label_values(&[reason]).inc();
    }

    /// Records how long the model took.
    pub fn ai_summary_llm_time(&self, elapsed: Duration) {
        self.inner.ai_llm_seconds.observe(elapsed.as_secs_f64());
    }

    /// Counts one review cockpit message posted, by a kind from [`COCKPIT_KINDS`].
    pub fn cockpit_message(&self, kind: &str) {
        self.inner.cockpit.with_label_values(&[kind]).inc();
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let families = self.inner.registry.gather();
        if TextEncoder::new().encode(&families, &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// One provider's line in the gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderGauge {
    /// `slack:HOST`, `github:HOST`, `gitlab:HOST`.
    pub provider: String,
    /// Whether it backs off now.
    pub backing_off: bool,
    /// When it is probed next (ms), while it backs off.
    pub next_probe_at: Option<i64>,
    /// Events waiting for it.
    pub waiting: i64,
    /// Age of the oldest of them.
    pub oldest_waiting_secs: i64,
}

/// The gauges for each provider of `overview`, as of `now` (ms).
pub fn provider_gauges(
    overview: &[crate::store::ProviderOverview],
    now: i64,
) -> Vec<ProviderGauge> {
    overview
        .iter()
        .map(|o| ProviderGauge {
            provider: o.provider.clone(),
            backing_off: o.backoff.is_some(),
            next_probe_at: o.backoff.as_ref().map(|b| b.retry_at),
            waiting: o.waiting,
            oldest_waiting_secs: o
                .oldest_received_at
                .map_or(0, |at| (now - at).max(0) / 1000),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_documented_names() {
        let m = Metrics::new();
        m.http_request("/healthz", 200, Duration::from_millis(1));
        m.event_received(Source::Slack, "queued");
        m.set_queue_depth(3);
        m.event_processed(Source::GitHub, "done", Duration::from_millis(20));
        m.event_retried(Source::GitHub);
        m.event_failed(Source::GitLab);
        m.ai_summary_posted();
        m.ai_summary_failed("timeout");
        m.ai_summary_llm_time(Duration::from_millis(700));
        m.event_given_up(Source::Slack, "expired");
        m.set_providers(&[ProviderGauge {
            provider: "slack:slack.com".into(),
            backing_off: true,
            next_probe_at: Some(1_700_000_000_000),
            waiting: 45,
            oldest_waiting_secs: 600,
        }]);
        let text = m.render();
        for needle in [
            "codereview_sync_http_requests_total{endpoint=\"/healthz\",status=\"200\"} 1",
            "codereview_sync_queue_depth 3",
            "codereview_sync_event_processing_seconds_bucket",
            "codereview_sync_event_retries_total{source=\"github\"} 1",
            "codereview_sync_event_failures_total{source=\"gitlab\"} 1",
            "codereview_sync_events_received_total{outcome=\"queued\",source=\"slack\"} 1",
            "codereview_sync_ai_summaries_posted_total 1",
            "codereview_sync_ai_summary_failures_total{reason=\"timeout\"} 1",
            "codereview_sync_ai_summary_failures_total{reason=\"refusal\"} 0",
            "codereview_sync_ai_summary_llm_seconds_count 1",
            "codereview_sync_events_given_up_total{cause=\"expired\",source=\"slack\"} 1",
            "codereview_sync_events_given_up_total{cause=\"permanent\",source=\"github\"} 0",
            "codereview_sync_event_failures_total{source=\"slack\"} 1",
            "codereview_sync_provider_backing_off{provider=\"slack:slack.com\"} 1",
            "codereview_sync_provider_next_probe_timestamp_seconds{provider=\"slack:slack.com\"} 1700000000",
            "codereview_sync_provider_waiting_events{provider=\"slack:slack.com\"} 45",
            "codereview_sync_provider_oldest_waiting_seconds{provider=\"slack:slack.com\"} 600",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
