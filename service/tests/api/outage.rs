//! Provider outages at the worker level, on SQLite and PostgreSQL: a handler that makes real
//! HTTP calls through `clients::send` to fake providers that fail (429 + Retry-After, 503,
//! 502) and recover, with time driven by a manual clock where it can be.
//!
//! What is proven: transient answers never give an event up before the age limit; a failing
//! provider gets one probe at a time while other providers' events flow; a probe that gets
//! through releases everything at once; one PR's events stay in order; a given-up event keeps
//! its payload and `retry-failed` brings it back; two replicas deliver each event once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codereview_sync::clients::send;
use codereview_sync::clock::{Clock as _, ManualClock};
use codereview_sync::config::WorkerSettings;
use codereview_sync::domain::Source;
use codereview_sync::metrics::Metrics;
use codereview_sync::queue::{Event, EventHandler, HandleError, StepReport, Worker};
use codereview_sync::store::{NewEvent, Store, now_ms};
use codereview_sync::vault::Vault;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

/// A fake provider API: while `down`, it answers in turn 429 (`Retry-After: 1`), 503 and 502;
/// when up, 200. It checks the method and auth header, and records each delivery it accepted
/// (`key` of the JSON body) in order.
#[derive(Clone, Default)]
struct Provider {
    down: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    calls_while_down: Arc<AtomicUsize>,
    accepted: Arc<Mutex<Vec<String>>>,
}

impl Respond for Provider {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(r.method.as_str(), "POST");
        assert_eq!(
            r.headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer provider-token")
        );
        if self.down.load(Ordering::SeqCst) {
            self.calls_while_down.fetch_add(1, Ordering::SeqCst);
            return match n % 3 {
                0 => ResponseTemplate::new(429).insert_header("retry-after", "1"),
                1 => ResponseTemplate::new(503),
                _ => ResponseTemplate::new(502),
            };
        }
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        self.accepted
            .lock()
            .unwrap()
            .push(body["key"].as_str().unwrap().to_string());
        ResponseTemplate::new(200).set_body_json(json!({"ok": true}))
    }
}

impl Provider {
    async fn start() -> (Self, MockServer) {
        let p = Provider::default();
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(p.clone())
            .mount(&server)
            .await;
        (p, server)
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

/// The handler: each event names the provider (`a` or `b`) it must post to; it posts its
/// delivery key there through the production `send`.
struct Poster {
    urls: HashMap<String, String>,
    http: reqwest::Client,
    handled: AtomicUsize,
}

#[async_trait::async_trait]
impl EventHandler for Poster {
    async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        let v: Value = event.json()?;
        let url = &self.urls[v["to"].as_str().unwrap()];
        let request = self
            .http
            .post(url)
            .bearer_auth("provider-token")
            .json(&json!({"key": event.dedupe_key}));
        // The api name's first word is the provider kind, as in the real clients.
        send("slack chat.postMessage", request, false).await?;
        Ok(())
    }
}

fn poster(servers: &[(&str, &MockServer)]) -> Arc<Poster> {
    Arc::new(Poster {
        urls: servers
            .iter()
            .map(|(name, s)| {
                (
                    name.to_string(),
                    format!("{}/api/chat.postMessage", s.uri()),
                )
            })
            .collect(),
        http: reqwest::Client::new(),
        handled: AtomicUsize::new(0),
    })
}

/// A GitHub-shaped delivery for PR `pr` (its order key) going to provider `to`.
async fn enqueue(store: &Store, vault: &Vault, key: &str, pr: u32, to: &str, at: i64) {
    let body = serde_json::to_vec(&json!({
        "repository": {"full_name": "acme/app"},
        "pull_request": {"number": pr},
        "to": to,
    }))
    .unwrap();
    let event = NewEvent {
        source: Source::GitHub,
        dedupe_key: key,
        kind: "pull_request",
        payload: &body,
    };
    store.enqueue(vault, &event, at).await.unwrap();
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        concurrency: 16,
        max_attempts: 3,
        ..fast_worker()
    }
}

async fn step(w: &Worker) -> StepReport {
    w.run_once().await.unwrap()
}

/// Keys delivered more than once.
fn duplicates(accepted: &[String]) -> Vec<String> {
    let mut seen = HashMap::<&str, usize>::new();
    for k in accepted {
        *seen.entry(k).or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k.to_string())
        .collect()
}

/// Each PR's deliveries (keys `pr{N}-{seq}`) arrived in sequence order.
fn assert_in_order_per_pr(accepted: &[String]) {
    let mut last: HashMap<&str, u32> = HashMap::new();
    for k in accepted {
        let (pr, seq) = k.rsplit_once('-').unwrap();
        let seq: u32 = seq.parse().unwrap();
        if let Some(prev) = last.insert(pr, seq) {
            assert!(
                prev < seq,
                "{pr}: {seq} delivered after {prev}: {accepted:?}"
            );
        }
    }
}

matrix! {
    async fn transient_errors_wait_out_the_age_limit_and_are_kept_for_replay(db) {
        let vault = vault(1);
        let (a, server) = Provider::start().await;
        a.set_down(true);
        let clock = Arc::new(ManualClock::new(now_ms()));
        let start = clock.now_ms();
        for i in 0..5 {
            enqueue(&db.store, &vault, &format!("pr{i}-1"), i, "a", start).await;
        }
        let metrics = Metrics::new();
        let w = Worker::new(db.store.clone(), vault.clone(), poster(&[("a", &server)]), metrics.clone(), settings())
            .with_clock(clock.clone());
        // 71 hours of outage, a step every 15 minutes: far more than max_attempts (3) tries.
        let first = step(&w).await;
        assert_eq!((first.claimed, first.waiting, first.failed), (5, 5, 0));
        let after_first = a.calls.load(Ordering::SeqCst);
        let mut probes = 0;
        for _ in 0..(71 * 4) {
            clock.advance(Duration::from_secs(15 * 60));
            let r = step(&w).await;
            assert_eq!((r.failed, r.done), (0, 0), "never given up before the age limit");
            assert!(r.claimed <= 1, "one probe at a time: {r:?}");
            probes += r.probes;
            assert_eq!(w.expire_waiting().await.unwrap(), 0);
        }
        assert_eq!(a.calls.load(Ordering::SeqCst) - after_first, probes, "only probes reach the provider");
        assert!(db.store.failures(10).await.unwrap().is_empty());
        assert_eq!(count(&db.store, "event_queue WHERE waiting_on IS NOT NULL").await, 5);
        // The status shows the provider backing off with 5 events waiting.
        let overview = db.store.provider_overview().await.unwrap();
        assert_eq!(overview.len(), 1);
        assert_eq!(overview[0].waiting, 5);
        assert!(overview[0].provider.starts_with("slack:127.0.0.1:"));
        assert!(overview[0].backoff.as_ref().unwrap().last_error.contains("chat.postMessage answered"));

        // Past 72 h: given up, with the payload kept, counted in the alertable metric.
        clock.advance(Duration::from_secs(3600 + 60));
        assert_eq!(w.expire_waiting().await.unwrap(), 5);
        let failures = db.store.failures(10).await.unwrap();
        assert_eq!(failures.len(), 5);
        for f in &failures {
            assert_eq!((f.cause.as_str(), f.replayable), ("expired", true));
            assert!(f.reason.starts_with("gave up after 72 h waiting for slack:127.0.0.1:"), "{}", f.reason);
        }
        assert!(metrics.render().contains("codereview_sync_events_given_up_total{cause=\"expired\",source=\"github\"} 5"));

        // Nothing is lost: once the provider is back, `retry-failed` delivers all five.
        a.set_down(false);
        assert_eq!(db.store.requeue_failures(&[], clock.now_ms()).await.unwrap(), 5);
        assert!(db.store.failures(10).await.unwrap().is_empty());
        clock.advance(Duration::from_secs(60));
        let mut done = 0;
        for _ in 0..5 {
            done += step(&w).await.done;
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(done, 5);
        let mut accepted = a.accepted();
        accepted.sort();
        assert_eq!(accepted, ["pr0-1", "pr1-1", "pr2-1", "pr3-1", "pr4-1"]);
    }

    async fn one_probe_at_a_time_other_providers_flow_and_recovery_releases_all(db) {
        let vault = vault(1);
        let (a, server_a) = Provider::start().await;
        let (b, server_b) = Provider::start().await;
        a.set_down(true);
        let clock = Arc::new(ManualClock::new(now_ms()));
        // 15 PRs with two events each for A (opened, then a comment), 10 events for B.
        for pr in 0..15 {
            enqueue(&db.store, &vault, &format!("pr{pr}-1"), pr, "a", clock.now_ms()).await;
            enqueue(&db.store, &vault, &format!("pr{pr}-2"), pr, "a", clock.now_ms()).await;
        }
        for pr in 100..110 {
            enqueue(&db.store, &vault, &format!("pr{pr}-1"), pr, "b", clock.now_ms()).await;
        }
        let handler = poster(&[("a", &server_a), ("b", &server_b)]);
        let w = Worker::new(db.store.clone(), vault.clone(), handler.clone(), Metrics::new(), settings())
            .with_clock(clock.clone());
        // Step 1: one event per PR at most (order), B's all delivered, A's parked.
        let r = step(&w).await;
        assert_eq!(r.claimed, 16, "concurrency 16: heads only");
        let mut b_done = r.done;
        while b_done < 10 {
            let r = step(&w).await;
            assert!(r.done > 0 || r.waiting > 0, "B flows while A is down: {r:?}");
            b_done += r.done;
        }
        assert_eq!(b.accepted().len(), 10);
        assert!(a.accepted().is_empty());
        assert_eq!(count(&db.store, "event_queue WHERE waiting_on IS NOT NULL").await, 15);
        // Ten minutes of outage: one probe per step at most, never more than one in flight.
        let before = a.calls.load(Ordering::SeqCst);
        let mut steps = 0;
        while steps < 600 {
            clock.advance(Duration::from_secs(1));
            let r = step(&w).await;
            assert!(r.claimed <= 1 && r.probes == r.claimed, "{r:?}");
            steps += 1;
        }
        let probes = a.calls.load(Ordering::SeqCst) - before;
        // 503/502 back off to one probe per 10 s; a 429's `Retry-After: 1` is honoured.
        assert!((50..=100).contains(&probes), "{probes} probes in 10 minutes");
        // Recovery: the next probe releases everything; all 30 delivered within the probe
        // interval plus a few steps (one per event of a PR), each once, in order per PR.
        a.set_down(false);
        let recovered_at = clock.now_ms();
        let mut released = 0;
        while a.accepted().len() < 30 {
            assert!(clock.now_ms() - recovered_at < 15_000, "not caught up within 15 s: {}", a.accepted().len());
            clock.advance(Duration::from_millis(500));
            released += step(&w).await.released;
        }
        assert_eq!(released, 14, "the probe's 14 fellow waiters released at once");
        let caught_up_ms = clock.now_ms() - recovered_at;
        assert!(caught_up_ms <= 11_000, "caught up {caught_up_ms} ms after recovery");
        let accepted = a.accepted();
        assert!(duplicates(&accepted).is_empty(), "{accepted:?}");
        assert_in_order_per_pr(&accepted);
        assert_eq!(count(&db.store, "event_queue").await, 0);
        assert_eq!(count(&db.store, "provider_backoff").await, 0);
        assert!(db.store.failures(10).await.unwrap().is_empty());
        eprintln!("worker outage (10 min, manual clock, {}): 30 delivered, 0 duplicates, 0 given up, {probes} probes, caught up {caught_up_ms} ms after recovery", pool_kind(&db.store));
    }

    async fn permanent_answers_give_up_at_once_and_say_why(db) {
        let vault = vault(1);
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        enqueue(&db.store, &vault, "pr1-1", 1, "a", now_ms()).await;
        let metrics = Metrics::new();
        let w = Worker::new(db.store.clone(), vault.clone(), poster(&[("a", &server)]), metrics.clone(), settings());
        assert_eq!(step(&w).await.failed, 1);
        let f = &db.store.failures(10).await.unwrap()[0];
        assert_eq!((f.cause.as_str(), f.reason.as_str(), f.replayable), ("permanent", "slack chat.postMessage answered 404", true));
        assert!(metrics.render().contains("codereview_sync_events_given_up_total{cause=\"permanent\",source=\"github\"} 1"));
        assert_eq!(count(&db.store, "provider_backoff").await, 0, "a 404 is an answer, not an outage");
    }

    async fn two_replicas_share_the_back_off_and_deliver_each_event_once(db) {
        let vault = vault(1);
        let (a, server) = Provider::start().await;
        a.set_down(true);
        // 30 PRs opened + 15 comments on them.
        for pr in 0..30 {
            enqueue(&db.store, &vault, &format!("pr{pr}-1"), pr, "a", now_ms()).await;
        }
        for pr in 0..15 {
            enqueue(&db.store, &vault, &format!("pr{pr}-2"), pr, "a", now_ms()).await;
        }
        let s = WorkerSettings { probe_max: Duration::from_secs(1), ..settings() };
        let handler = poster(&[("a", &server)]);
        let (tx, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let w = Arc::new(Worker::new(db.another_store().await, vault.clone(), handler.clone(), Metrics::new(), s.clone()));
            let rx = rx.clone();
            tasks.push(tokio::spawn(async move { w.run(rx, Arc::new(Notify::new())).await }));
        }
        // A 3 s outage in real time.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(a.accepted().is_empty());
        let during = a.calls_while_down.load(Ordering::SeqCst);
        a.set_down(false);
        let recovered = Instant::now();
        assert!(wait_for(Duration::from_secs(15), || async { a.accepted().len() >= 45 }).await, "delivered {}", a.accepted().len());
        let caught_up = recovered.elapsed();
        // Let any duplicate show up before counting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.send(true).unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        let accepted = a.accepted();
        assert_eq!(accepted.len(), 45);
        assert!(duplicates(&accepted).is_empty(), "{accepted:?}");
        assert_in_order_per_pr(&accepted);
        assert_eq!(count(&db.store, "event_queue").await, 0);
        assert!(db.store.failures(10).await.unwrap().is_empty());
        // The first step of each replica meets the outage with its batch (≤ 2 × 16 calls);
        // after that both replicas share one probe per second.
        assert!(during <= 32 + 3 * 2 + 2, "{during} calls during a 3 s outage");
        eprintln!("two replicas ({}), 3 s outage: 45 delivered, 0 duplicates, 0 given up, {during} calls while down, caught up {:?} after recovery", pool_kind(&db.store), caught_up);
    }
}
