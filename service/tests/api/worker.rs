//! The queue worker on SQLite and PostgreSQL: outcomes, backoff, leases, concurrency, shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codereview_sync::config::WorkerSettings;
use codereview_sync::domain::Source;
use codereview_sync::metrics::Metrics;
use codereview_sync::queue::{Event, EventHandler, HandleError, Worker};
use codereview_sync::store::{NewEvent, Store, now_ms};
use codereview_sync::vault::Vault;
use tokio::sync::{Notify, watch};

use crate::helpers::*;

async fn enqueue(store: &Store, vault: &Vault, n: usize) {
    for i in 0..n {
        let id = format!("Ev{i:05}");
        let body = slack_message(&id, "text");
        let ev = NewEvent {
            source: Source::Slack,
            dedupe_key: &id,
            kind: "message",
            payload: &body,
        };
        store.enqueue(vault, &ev, now_ms()).await.unwrap();
    }
}

fn worker(
    store: &Store,
    vault: &Arc<Vault>,
    handler: Arc<dyn EventHandler>,
    settings: WorkerSettings,
) -> Worker {
    Worker::new(
        store.clone(),
        vault.clone(),
        handler,
        Metrics::new(),
        settings,
    )
}

matrix! {
    async fn success_deletes_the_row(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 3).await;
        let recorder = Arc::new(Recorder::default());
        let w = worker(&db.store, &vault, recorder.clone(), fast_worker());
        let report = w.run_once().await.unwrap();
        assert_eq!((report.claimed, report.done), (3, 3));
        assert_eq!(count(&db.store, "event_queue").await, 0);
        let seen = recorder.seen();
        assert_eq!(seen.len(), 3);
        for e in &seen {
            assert_eq!((e.source, e.kind.as_str(), e.attempts), (Source::Slack, "message", 1));
            assert_eq!(e.payload, slack_message(&e.dedupe_key, "text"), "decrypted payload");
        }
        assert_eq!(w.run_once().await.unwrap().claimed, 0);
    }

    async fn retry_uses_backoff_then_succeeds(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 1).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let handler = Arc::new(Scripted(move |e: Event| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                assert_eq!(e.attempts as usize, n + 1);
                if n == 0 { Err(HandleError::retry("slack chat.postMessage answered 503")) } else { Ok(()) }
            }
        }));
        let settings = WorkerSettings { backoff_base: Duration::from_millis(200), backoff_max: Duration::from_millis(200), ..fast_worker() };
        let w = worker(&db.store, &vault, handler, settings);
        let before = now_ms();
        assert_eq!(w.run_once().await.unwrap().retried, 1);
        let next: Vec<String> = texts(&db.store, "event_queue", "CAST(next_attempt_at AS TEXT)").await;
        let next: i64 = next[0].parse().unwrap();
        assert!(next >= before + 100, "backoff at least half the base delay");
        assert_eq!(texts(&db.store, "event_queue", "last_error").await, ["slack chat.postMessage answered 503"]);
        assert_eq!(w.run_once().await.unwrap().claimed, 0, "not due yet");
        assert!(wait_for(Duration::from_secs(2), || async { w.run_once().await.unwrap().done == 1 }).await);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(count(&db.store, "event_queue").await, 0);
    }

    async fn retry_after_is_honoured(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 1).await;
        let handler = Arc::new(Scripted(|_e: Event| async {
            Err(HandleError::Retry { after: Some(Duration::from_secs(90)), reason: "429".into() })
        }));
        let w = worker(&db.store, &vault, handler, fast_worker());
        let before = now_ms();
        assert_eq!(w.run_once().await.unwrap().retried, 1);
        let next: i64 = texts(&db.store, "event_queue", "CAST(next_attempt_at AS TEXT)").await[0].parse().unwrap();
        assert!(next >= before + 90_000 && next <= now_ms() + 90_000, "{next} vs {before}");
    }

    async fn permanent_failure_is_recorded_without_payload(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 1).await;
        let handler = Arc::new(Scripted(|_e: Event| async { Err(HandleError::permanent("github answered 422")) }));
        let metrics = Metrics::new();
        let w = Worker::new(db.store.clone(), vault.clone(), handler, metrics.clone(), fast_worker());
        assert_eq!(w.run_once().await.unwrap().failed, 1);
        assert_eq!(count(&db.store, "event_queue").await, 0);
        let failures = db.store.failures(10).await.unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!((failures[0].source, failures[0].kind.as_str(), failures[0].attempts), (Source::Slack, "message", 1));
        assert_eq!(failures[0].reason, "github answered 422");
        assert!(metrics.render().contains("codereview_sync_event_failures_total{source=\"slack\"} 1"));
    }

    async fn gives_up_after_max_attempts(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 1).await;
        let handler = Arc::new(Scripted(|_e: Event| async { Err(HandleError::retry("slack answered 500")) }));
        let metrics = Metrics::new();
        let settings = WorkerSettings { max_attempts: 3, backoff_base: Duration::from_millis(1), backoff_max: Duration::from_millis(2), ..fast_worker() };
        let w = Worker::new(db.store.clone(), vault.clone(), handler, metrics.clone(), settings);
        let mut retried = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let r = w.run_once().await.unwrap();
            retried += r.retried;
            if r.failed == 1 { break; }
            assert!(std::time::Instant::now() < deadline, "never gave up");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(retried, 2);
        let failures = db.store.failures(10).await.unwrap();
        assert_eq!(failures[0].attempts, 3);
        assert_eq!(failures[0].reason, "gave up after 3 attempts: slack answered 500");
        assert!(metrics.render().contains("codereview_sync_event_retries_total{source=\"slack\"} 2"));
    }

    async fn expired_lease_is_claimed_again(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 1).await;
        let now = now_ms();
        let a = db.store.claim_due("worker-a", now, 1_000, 10).await.unwrap();
        assert_eq!(a.len(), 1);
        // Worker A "crashes". While its lease runs, nobody else gets the row.
        assert!(db.store.claim_due("worker-b", now + 999, 1_000, 10).await.unwrap().is_empty());
        let b = db.store.claim_due("worker-b", now + 1_000, 1_000, 10).await.unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].attempts, 2, "the crashed attempt counts");
        // A wakes up late: every transition is refused because it lost the lease.
        assert!(db.store.complete_many(&[a[0].id], "worker-a").await.unwrap().is_empty());
        assert!(!db.store.schedule_retry(a[0].id, "worker-a", now, "x").await.unwrap());
        assert!(!db.store.record_failure(&a[0], "worker-a", "x", now).await.unwrap());
        assert!(!db.store.release(a[0].id, "worker-a").await.unwrap());
        assert_eq!(db.store.complete_many(&[b[0].id], "worker-b").await.unwrap(), [b[0].id]);
        assert_eq!(count(&db.store, "event_queue").await, 0);
    }

    async fn two_workers_never_process_one_event_twice(db) {
        let vault = vault(1);
        const N: usize = 120;
        enqueue(&db.store, &vault, N).await;
        let seen: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let make = |name: &'static str, store: Store| {
            let seen = seen.clone();
            let handler = Arc::new(Scripted(move |e: Event| {
                let seen = seen.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    seen.lock().unwrap().entry(e.dedupe_key.clone()).or_default().push(name.to_string());
                    Ok(())
                }
            }));
            let settings = WorkerSettings { concurrency: 4, ..fast_worker() };
            Arc::new(worker(&store, &vault, handler, settings))
        };
        // Two replicas: separate pools on the same database.
        let a = make("a", db.another_store().await);
        let b = make("b", db.another_store().await);
        let drive = |w: Arc<Worker>| tokio::spawn(async move {
            let mut done = 0;
            let mut idle = 0;
            while idle < 3 {
                let r = w.run_once().await.unwrap();
                assert_eq!(r.lost, 0);
                done += r.done;
                if r.claimed == 0 { idle += 1; tokio::time::sleep(Duration::from_millis(5)).await } else { idle = 0 }
            }
            done
        });
        let (da, db_) = tokio::join!(drive(a), drive(b));
        let (da, db_) = (da.unwrap(), db_.unwrap());
        assert_eq!(da + db_, N);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), N);
        for (key, by) in seen.iter() {
            assert_eq!(by.len(), 1, "{key} processed by {by:?}");
        }
        assert!(da > 0 && db_ > 0, "both workers took a share: {da} / {db_}");
        assert_eq!(count(&db.store, "event_queue").await, 0);
    }

    async fn panicking_or_hanging_handlers_are_retried(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 2).await;
        let handler = Arc::new(Scripted(|e: Event| async move {
            if e.dedupe_key == "Ev00000" {
                panic!("handler bug");
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }));
        // Lease 250 ms: a handler is cut off at 80% of it.
        let settings = WorkerSettings { lease: Duration::from_millis(250), backoff_base: Duration::from_secs(60), ..fast_worker() };
        let w = worker(&db.store, &vault, handler, settings);
        let started = std::time::Instant::now();
        let report = w.run_once().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!((report.claimed, report.retried), (2, 2));
        let mut errors = texts(&db.store, "event_queue", "last_error").await;
        errors.sort();
        assert_eq!(errors, ["handler did not finish within 200 ms", "handler panicked"]);
    }

    async fn shutdown_finishes_in_flight_work(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 2).await;
        let started = Arc::new(Notify::new());
        let s = started.clone();
        let handler = Arc::new(Scripted(move |_e: Event| {
            let s = s.clone();
            async move {
                s.notify_one();
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(())
            }
        }));
        let w = Arc::new(worker(&db.store, &vault, handler, fast_worker()));
        let (tx, rx) = watch::channel(false);
        let task = { let w = w.clone(); tokio::spawn(async move { w.run(rx, Arc::new(Notify::new())).await }) };
        started.notified().await;
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        assert_eq!(count(&db.store, "event_queue").await, 0, "in-flight events finished within the grace");
    }

    async fn shutdown_releases_what_cannot_finish(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 2).await;
        let started = Arc::new(Notify::new());
        let s = started.clone();
        let handler = Arc::new(Scripted(move |_e: Event| {
            let s = s.clone();
            async move {
                s.notify_one();
                std::future::pending::<()>().await;
                Ok(())
            }
        }));
        let settings = WorkerSettings { shutdown_grace: Duration::from_millis(100), lease: Duration::from_secs(60), ..fast_worker() };
        let w = Arc::new(worker(&db.store, &vault, handler, settings));
        let (tx, rx) = watch::channel(false);
        let task = { let w = w.clone(); tokio::spawn(async move { w.run(rx, Arc::new(Notify::new())).await }) };
        started.notified().await;
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        // Released: no lease, attempt not counted, due at once for the next worker.
        assert_eq!(count(&db.store, "event_queue").await, 2);
        assert_eq!(count(&db.store, "event_queue WHERE lease_owner IS NULL AND attempts = 0").await, 2);
        let next = worker(&db.store, &vault, Arc::new(Recorder::default()), fast_worker());
        assert_eq!(next.run_once().await.unwrap().done, 2);
    }

    async fn run_loop_wakes_on_notify(db) {
        let vault = vault(1);
        let recorder = Arc::new(Recorder::default());
        let settings = WorkerSettings { poll_interval: Duration::from_secs(60), ..fast_worker() };
        let w = Arc::new(worker(&db.store, &vault, recorder.clone(), settings));
        let wake = Arc::new(Notify::new());
        let (tx, rx) = watch::channel(false);
        let task = { let (w, wake) = (w.clone(), wake.clone()); tokio::spawn(async move { w.run(rx, wake).await }) };
        tokio::time::sleep(Duration::from_millis(50)).await;
        enqueue(&db.store, &vault, 1).await;
        wake.notify_one();
        assert!(wait_for(Duration::from_secs(5), || async { recorder.seen().len() == 1 }).await, "woken without waiting a poll interval");
        tx.send(true).unwrap();
        task.await.unwrap();
    }

    async fn batched_completion_skips_rows_whose_lease_was_lost(db) {
        let vault = vault(1);
        enqueue(&db.store, &vault, 3).await;
        let now = now_ms();
        let a = db.store.claim_due("worker-a", now, 1_000, 2).await.unwrap();
        assert_eq!(a.len(), 2);
        // A's lease on its rows expires and B takes them over (plus the third row).
        let b = db.store.claim_due("worker-b", now + 1_000, 1_000, 10).await.unwrap();
        assert_eq!(b.len(), 3);
        let b_ids: Vec<i64> = b.iter().map(|r| r.id).collect();
        assert!(db.store.complete_many(&[a[0].id, a[1].id], "worker-a").await.unwrap().is_empty());
        assert_eq!(db.store.complete_many(&b_ids, "worker-b").await.unwrap().len(), 3);
        assert!(db.store.complete_many(&[], "worker-b").await.unwrap().is_empty());
        assert_eq!(count(&db.store, "event_queue").await, 0);
    }
}
