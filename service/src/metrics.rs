//! Prometheus metrics, served as text on `GET /metrics`.
//!
//! A private [`Registry`] per [`Metrics`] value (not the global one) so tests that run several
//! servers in one process do not share counters.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
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
    ai_posted: IntCounter,
    ai_failures: IntCounterVec,
    ai_llm_seconds: Histogram,
}

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
        // Create the per-source series up front so dashboards and alerts see 0, not "no data".
        for source in [Source::Slack, Source::GitHub, Source::GitLab] {
            retries.with_label_values(&[source.as_str()]);
            failures.with_label_values(&[source.as_str()]);
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
                ai_posted,
                ai_failures,
                ai_llm_seconds,
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
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
