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

/// A fake GitHub for the Slack → GitHub direction: while down, 502 for everything; when up, it
/// creates PR #2 conversation comments (checking the token) and lists them for the adoption
/// lookup of retried events.
#[derive(Clone, Default)]
struct FlakyGitHub {
    down: Arc<std::sync::atomic::AtomicBool>,
    calls_while_down: Arc<std::sync::atomic::AtomicUsize>,
    created: Arc<std::sync::Mutex<Vec<String>>>,
}

impl wiremock::Respond for FlakyGitHub {
    fn respond(&self, r: &wiremock::Request) -> wiremock::ResponseTemplate {
        use std::sync::atomic::Ordering;
        if self.down.load(Ordering::SeqCst) {
            self.calls_while_down.fetch_add(1, Ordering::SeqCst);
            return wiremock::ResponseTemplate::new(502);
        }
        let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some(format!("Bearer {GITHUB_TOKEN}").as_str()));
        let comments = format!("/repos/{REPO}/issues/2/comments");
        let mut created = self.created.lock().unwrap();
        match (r.method.as_str(), r.url.path()) {
            ("POST", p) if p == comments => {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                created.push(body["body"].as_str().unwrap().to_string());
                wiremock::ResponseTemplate::new(201)
                    .set_body_json(json!({"id": 7000 + created.len()}))
            }
            ("GET", p) if p == comments => wiremock::ResponseTemplate::new(200).set_body_json(
                created
                    .iter()
                    .enumerate()
                    .map(|(i, b)| json!({"id": 7001 + i, "body": b}))
                    .collect::<Vec<_>>(),
            ),
            _ => {
                wiremock::ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))
            }
        }
    }
}

matrix! {
    async fn a_github_outage_holds_slack_replies_while_slack_bound_events_flow(db) {
        use std::sync::atomic::Ordering;
        let app = spawn_sync_app(db).await;
        let gh = FlakyGitHub::default();
        wiremock::Mock::given(wiremock::matchers::any()).respond_with(gh.clone()).mount(&app.github).await;
        app.github("pull_request", "open-2", &fixture("pull_request.opened.payload.json")).await;
        let parent = FakeSlack::ts(1);
        gh.down.store(true, Ordering::SeqCst);
        // Five replies in PR #2's Slack thread (→ GitHub comments), and ten other PRs opened
        // (→ Slack only).
        for i in 1..=5 {
            let reply = slack_reply(CHANNEL, JANE, &format!("Slack answer number {i} during the outage"), &format!("1700000200.00000{i}"), &parent);
            let (status, _) = app.app.slack(slack_envelope(&format!("Ev-out-{i}"), reply)).await;
            assert_eq!(status, 200);
        }
        for n in 3..=12 {
            let mut opened = fixture("pull_request.opened.payload.json");
            opened["number"] = json!(n);
            opened["pull_request"]["number"] = json!(n);
            let (status, _) = app.app.github("pull_request", &format!("open-{n}"), serde_json::to_vec(&opened).unwrap()).await;
            assert_eq!(status, 200);
        }
        let clock = Arc::new(ManualClock::new(now_ms()));
        let handler = sync_handler(app.store(), vault(1), &app.slack, &app.github, &app.gitlab);
        let w = Worker::new(app.store().clone(), vault(1), Arc::new(handler), Metrics::new(), settings())
            .with_clock(clock.clone());
        for _ in 0..600 {
            let r = w.run_once().await.unwrap();
            assert_eq!(r.failed, 0, "{r:?}");
            clock.advance(Duration::from_secs(1));
        }
        // Slack-bound events flowed; the replies wait, in order, for GitHub.
        assert_eq!(app.slack.posted().len(), 1 + 10, "parents of PRs 3..12 posted during the GitHub outage");
        assert!(gh.created.lock().unwrap().is_empty());
        assert_eq!(app.app.queued().await, 5);
        let during = gh.calls_while_down.load(Ordering::SeqCst);
        assert!(during <= 1 + 70, "{during} calls to GitHub during 10 minutes (one probe per 10 s)");

        gh.down.store(false, Ordering::SeqCst);
        let recovered = clock.now_ms();
        while gh.created.lock().unwrap().len() < 5 || app.app.queued().await > 0 {
            assert!(clock.now_ms() - recovered < 15_000, "not caught up 15 s after GitHub recovered");
            w.run_once().await.unwrap();
            clock.advance(Duration::from_millis(250));
        }
        let caught_up_ms = clock.now_ms() - recovered;
        let created = gh.created.lock().unwrap().clone();
        let expected: Vec<String> = (1..=5).map(|i| format!("**Jane Doe** (via Slack): Slack answer number {i} during the outage")).collect();
        assert_eq!(created, expected, "each reply once, in order");
        app.assert_clean().await;
        eprintln!(
            "GitHub outage 10 min (manual clock, {}): 5/5 comments + 10/10 parents delivered, 0 duplicates, 0 given up, {during} calls to GitHub while down, last delivery {caught_up_ms} ms after recovery",
            pool_kind(app.store())
        );
    }
}
