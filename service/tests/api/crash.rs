//! Crash test: `kill -9` the service while a batch of slow events is in flight, restart it on
//! the same database, and check that every event was processed exactly once.
//!
//! The server under test is this test binary re-executed with a filter that runs only
//! `crash::child_server` (an ignored test that is inert unless the crash test's env vars are
//! set). It is the real `Application` (HTTP + worker) with a handler that takes 300 ms per
//! event and appends `start`/`done` lines to a log file: the log is the "external effect"
//! we audit after the crash.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use codereview_sync::config::{self, Settings};
use codereview_sync::queue::{Event, EventHandler, HandleError};
use codereview_sync::startup::Application;

use crate::helpers::*;

const EFFECT_LOG: &str = "CODEREVIEW_CRASH_TEST_EFFECT_LOG";
const HANDLER_DELAY: Duration = Duration::from_millis(300);
const CONCURRENCY: usize = 4;
const EVENTS: usize = 24;

struct SlowHandler {
    log: PathBuf,
}

impl SlowHandler {
    fn append(&self, line: String) {
        // One write(2) per line on an O_APPEND file: lines never interleave.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
            .unwrap();
        f.write_all(line.as_bytes()).unwrap();
    }
}

#[async_trait]
impl EventHandler for SlowHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        self.append(format!("start {} {}\n", event.dedupe_key, event.attempts));
        tokio::time::sleep(HANDLER_DELAY).await;
        self.append(format!("done {}\n", event.dedupe_key));
        Ok(())
    }
}

/// The server process of the crash test. Inert unless the parent set its env vars.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of crash::kill_9_mid_batch_loses_nothing; does nothing on its own"]
async fn child_server() {
    let Ok(log) = std::env::var(EFFECT_LOG) else {
        return;
    };
    let settings = Settings::load(&config::process_env).unwrap();
    let app = Application::build(settings, Arc::new(SlowHandler { log: log.into() }))
        .await
        .unwrap();
    println!("CHILD_LISTENING {}", app.local_addr());
    app.run(std::future::pending()).await;
}

fn spawn_server(database_url: &str, log: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::child_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EFFECT_LOG, log)
        .env("DATABASE_URL", database_url)
        .env("CODEREVIEW_SYNC_KEY", key_b64(1))
        .env("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        .env("LISTEN", "127.0.0.1:0")
        .env("CODEREVIEW_SYNC_LEASE_SECONDS", "1")
        .env(
            "CODEREVIEW_SYNC_WORKER_CONCURRENCY",
            CONCURRENCY.to_string(),
        )
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // libtest prints `test crash::child_server ... ` before the child's own output, so look
    // for the marker anywhere in a line. A reader thread keeps draining the pipe afterwards.
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some((_, addr)) = line.split_once("CHILD_LISTENING ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("child server did not start")
        .parse()
        .unwrap();
    (child, addr)
}

#[derive(Default, Debug)]
struct Audit {
    starts: HashMap<String, Vec<u32>>,
    dones: HashMap<String, usize>,
}

fn audit(log: &Path) -> Audit {
    let mut a = Audit::default();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["start", key, attempt] => a
                .starts
                .entry(key.to_string())
                .or_default()
                .push(attempt.parse().unwrap()),
            ["done", key] => *a.dones.entry(key.to_string()).or_default() += 1,
            _ => panic!("bad log line {line:?}"),
        }
    }
    a
}

fn started(a: &Audit) -> usize {
    a.starts.values().map(Vec::len).sum()
}

fn done(a: &Audit) -> usize {
    a.dones.values().sum()
}

matrix! {
    async fn kill_9_mid_batch_loses_nothing(db) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("effects.log");
        let (mut first, addr) = spawn_server(&db.url, &log);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let fixture: serde_json::Value = serde_json::from_slice(&github_fixture("issue_comment.created.payload.json")).unwrap();
        for i in 0..EVENTS {
            // One issue each: events of one issue are handled one at a time, in order. One
            // comment each: the same body twice would be one event (content dedupe).
            let mut event = fixture.clone();
            event["issue"]["number"] = serde_json::json!(i + 1);
            event["comment"]["id"] = serde_json::json!(i);
            let body = serde_json::to_vec(&event).unwrap();
            let delivery = format!("crash-{i:03}");
            let mut req = client.post(format!("http://{addr}/github/webhook")).body(body.clone());
            for (k, v) in github_headers("issue_comment", &delivery, &body) {
                req = req.header(k, v);
            }
            assert_eq!(req.send().await.unwrap().status(), 200, "{delivery}");
        }

        // Kill the moment a new batch has started (after at least one batch finished): every
        // earlier row is deleted by then, and every in-flight handler is ~300 ms from done.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut previous_starts = started(&audit(&log));
        loop {
            assert!(Instant::now() < deadline, "no batch started in time: {:?}", audit(&log));
            let a = audit(&log);
            let (s, d) = (started(&a), done(&a));
            if d >= CONCURRENCY && s > previous_starts && s - d == CONCURRENCY {
                first.kill().unwrap(); // SIGKILL
                first.wait().unwrap();
                break;
            }
            previous_starts = s;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let at_kill = audit(&log);
        let in_flight: Vec<String> = at_kill.starts.keys().filter(|k| !at_kill.dones.contains_key(*k)).cloned().collect();
        assert_eq!(in_flight.len(), CONCURRENCY, "{at_kill:?}");
        let leased = count(&db.store, "event_queue WHERE lease_owner IS NOT NULL").await;
        assert_eq!(leased as usize, CONCURRENCY, "the dead worker still holds leases");
        let remaining = count(&db.store, "event_queue").await as usize;
        assert_eq!(remaining, EVENTS - done(&at_kill), "done events are deleted, the rest still queued");
        assert!(remaining > CONCURRENCY, "killed mid-queue, with work not yet started");

        // Restart on the same database: expired leases are reclaimed, queued work resumes.
        let (mut second, _) = spawn_server(&db.url, &log);
        let store = db.store.clone();
        let drained = wait_for(Duration::from_secs(30), || {
            let store = store.clone();
            async move { count(&store, "event_queue").await == 0 }
        }).await;
        second.kill().unwrap();
        second.wait().unwrap();
        assert!(drained, "queue did not drain after restart: {:?}", audit(&log));

        let after = audit(&log);
        assert_eq!(after.dones.len(), EVENTS, "every event processed");
        for (key, n) in &after.dones {
            assert_eq!(*n, 1, "{key} processed {n} times");
        }
        for key in &in_flight {
            assert_eq!(after.starts[key], [1, 2], "{key}: interrupted attempt 1, finished on attempt 2");
        }
        assert_eq!(count(&db.store, "event_failures").await, 0);
        assert_eq!(count(&db.store, "event_deliveries").await as usize, EVENTS);
        println!(
            "crash test ({}): {EVENTS} events, killed with {} done and {} in flight; after restart {} done exactly once, {} re-run",
            pool_kind(&db.store), done(&at_kill), in_flight.len(), after.dones.len(), in_flight.len()
        );
    }
}
