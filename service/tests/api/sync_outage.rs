//! End to end through a Slack outage: the real service takes signed GitHub webhooks for 30
//! pull requests opened and 15 comments on them while the fake Slack answers every call with
//! 429 (`Retry-After: 1`), 503 and 502 in turn; then Slack recovers. The production sync
//! handler and worker run against the fakes. Measured: delivered, duplicates, given up, time
//! from recovery to the last delivery — for a 10-minute outage on a manual clock and a 30 s
//! outage in real time with two replicas, on SQLite and PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codereview_sync::clock::{Clock as _, ManualClock};
use codereview_sync::config::WorkerSettings;
use codereview_sync::metrics::Metrics;
use codereview_sync::queue::Worker;
use codereview_sync::store::now_ms;
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::helpers::*;
use crate::sync_fakes::*;

const PRS: i64 = 30;
const COMMENTS: i64 = 15;

/// Queues the scenario through the HTTP endpoint (signed deliveries): PR #N opened for
/// N in 1..=30, then a conversation comment on each of the first 15.
async fn deliver_scenario(app: &SyncApp) {
    for n in 1..=PRS {
        let mut opened = fixture("pull_request.opened.payload.json");
        opened["number"] = json!(n);
        opened["pull_request"]["number"] = json!(n);
        let (status, text) = app
            .app
            .github(
                "pull_request",
                &format!("open-{n}"),
                serde_json::to_vec(&opened).unwrap(),
            )
            .await;
        assert_eq!(status, 200, "{text}");
    }
    for n in 1..=COMMENTS {
        let mut comment = pr_comment("issue_comment.created.payload.json");
        comment["issue"]["number"] = json!(n);
        comment["comment"]["id"] = json!(9000 + n);
        let (status, text) = app
            .app
            .github(
                "issue_comment",
                &format!("comment-{n}"),
                serde_json::to_vec(&comment).unwrap(),
            )
            .await;
        assert_eq!(status, 200, "{text}");
    }
}

/// What Slack received: each parent and reply exactly once, each reply in its PR's thread and
/// after its parent. Returns the number of messages.
fn assert_delivered_once_in_order(slack: &FakeSlack) -> usize {
    let posted = slack.posted();
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    for (key, _, _) in &posted {
        *by_key.entry(key).or_default() += 1;
    }
    let dups: Vec<_> = by_key.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicates: {dups:?}");
    let mut parents: HashMap<String, String> = HashMap::new();
    for (key, thread, ts) in &posted {
        let (pr, what) = key.rsplit_once(':').unwrap();
        if what == "parent" {
            assert!(thread.is_none());
            parents.insert(pr.to_string(), ts.clone());
        } else {
            let pr = pr.rsplit_once(':').unwrap().0; // `...#N:issue_comment` + `:ID`
            let parent = parents
                .get(pr)
                .unwrap_or_else(|| panic!("reply {key} before its parent"));
            assert_eq!(thread.as_ref(), Some(parent), "{key} in its PR's thread");
        }
    }
    assert_eq!(parents.len(), PRS as usize);
    posted.len()
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        concurrency: 32,
        ..fast_worker()
    }
}

matrix! {
    async fn a_ten_minute_slack_outage_loses_nothing_and_catches_up_at_once(db) {
        let app = spawn_sync_app(db).await;
        app.slack.set_outage(true);
        deliver_scenario(&app).await;
        let clock = Arc::new(ManualClock::new(now_ms()));
        let handler = sync_handler(app.store(), vault(1), &app.slack, &app.github, &app.gitlab);
        let w = Worker::new(app.store().clone(), vault(1), Arc::new(handler), Metrics::new(), settings())
            .with_clock(clock.clone());
        // Ten minutes of outage, a step every second of clock time.
        for _ in 0..600 {
            let r = w.run_once().await.unwrap();
            assert_eq!((r.failed, r.done), (0, 0), "{r:?}");
            clock.advance(Duration::from_secs(1));
        }
        let during = app.slack.calls_during_outage();
        assert!(app.slack.posted().is_empty());
        // 30 first attempts (the comments wait behind their PR), then probes only.
        assert!(during <= 30 + 100, "{during} calls to Slack during 10 minutes");
        assert_eq!(app.app.queued().await, PRS + COMMENTS, "nothing dropped");

        app.slack.set_outage(false);
        let recovered = clock.now_ms();
        let mut steps = 0;
        while app.slack.posted().len() < (PRS + COMMENTS) as usize {
            assert!(clock.now_ms() - recovered < 15_000, "not caught up 15 s after recovery: {} posted", app.slack.posted().len());
            w.run_once().await.unwrap();
            clock.advance(Duration::from_millis(250));
            steps += 1;
        }
        let caught_up_ms = clock.now_ms() - recovered;
        assert_eq!(assert_delivered_once_in_order(&app.slack), (PRS + COMMENTS) as usize);
        app.assert_clean().await;
        app.assert_no_text().await;
        eprintln!(
            "Slack outage 10 min (manual clock, {}): {} delivered, 0 duplicates, 0 given up, {during} calls to Slack while down, last delivery {caught_up_ms} ms after recovery ({steps} steps)",
            pool_kind(app.store()), PRS + COMMENTS
        );
    }

    async fn a_thirty_second_slack_outage_with_two_replicas(db) {
        let app = spawn_sync_app(db).await;
        app.slack.set_outage(true);
        deliver_scenario(&app).await;
        let (tx, rx) = watch::channel(false);
        let mut replicas = Vec::new();
        for _ in 0..2 {
            let store = app.app.db.another_store().await;
            let handler = sync_handler(&store, vault(1), &app.slack, &app.github, &app.gitlab);
            let w = Arc::new(Worker::new(store, vault(1), Arc::new(handler), Metrics::new(), settings()));
            let rx = rx.clone();
            replicas.push(tokio::spawn(async move { w.run(rx, Arc::new(Notify::new())).await }));
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        let during = app.slack.calls_during_outage();
        assert!(app.slack.posted().is_empty());
        app.slack.set_outage(false);
        let recovered = Instant::now();
        assert!(
            wait_for(Duration::from_secs(15), || async { app.slack.posted().len() >= (PRS + COMMENTS) as usize }).await,
            "not caught up 15 s after recovery: {} posted", app.slack.posted().len()
        );
        let caught_up = recovered.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        tx.send(true).unwrap();
        for r in replicas {
            r.await.unwrap();
        }
        assert_eq!(assert_delivered_once_in_order(&app.slack), (PRS + COMMENTS) as usize);
        app.assert_clean().await;
        assert!(during <= 30 + 2 * 32 + 40, "{during} calls to Slack in 30 s");
        eprintln!(
            "Slack outage 30 s (real time, two replicas, {}): {} delivered, 0 duplicates, 0 given up, {during} calls to Slack while down, last delivery {:.2} s after recovery",
            pool_kind(app.store()), PRS + COMMENTS, caught_up.as_secs_f64()
        );
    }
}
