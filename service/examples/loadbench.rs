//! Load benchmark: signed Slack event ingestion vs. an unsigned `GET /healthz` baseline, over
//! loopback, on SQLite and PostgreSQL, in one run.
//!
//! ```sh
//! CODEREVIEW_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p codereview-sync --example loadbench -- --connections 32 --seconds 5
//! ```
//!
//! Flags: `--connections N`, `--seconds N`, `--postgres URL`, `--no-sqlite`, `--no-worker`
//! (HTTP and ingestion only), `--worker-concurrency N`, `--no-healthz` (signed events only,
//! for profiling), `--slow-clients N` (below).
//!
//! For each backend it starts the real service (HTTP + worker, the default handler, a fresh
//! SQLite file or PostgreSQL schema) on a random port, then drives it with N keep-alive
//! connections for a fixed time: first `GET /healthz`, then `POST /slack/events` where every
//! request carries a fresh `event_id`, a current timestamp and a real `v0` signature, so each
//! one is verified, sealed, written to the durable queue and answered — and drained by the
//! worker in the background. It prints requests/s and p50/p99 latency per scenario.
//!
//! A third scenario, `POST /github/webhook (per-repo secret)`, sends GitHub deliveries for
//! [`BENCH_REPOS`] repositories, each signed with that repository's own stored secret (no
//! operator-level secret), so every request is verified through the per-repository lookup.
//!
//! `--slow-clients N` measures the other thing instead (issue 12 §3): the service on SQLite, a
//! baseline RSS, then N connections that each send an unsigned `POST` declaring 1 MiB and all
//! but its last byte, plus N/5 that send half a request head, all held open for a few seconds
//! (loopback only, bounded in count and time). It prints the process's RSS before and during,
//! and the latency of `GET /healthz` and of signed Slack events sent meanwhile:
//!
//! ```sh
//! cargo run --release -p codereview-sync --example loadbench -- --slow-clients 500
//! ```
//!
//! Server and client share the machine (and, here, one process on separate runtimes), so the
//! absolute numbers are a floor; the ratio to the healthz baseline is what the target is about.

#![allow(clippy::unwrap_used)] // a example: a failed unwrap is a failed run, with its location

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use codereview_sync::config::{WebhookSecrets, WorkerSettings};
use codereview_sync::domain::Forge;
use codereview_sync::http::{github, slack};
use codereview_sync::secret::Secret;
use codereview_sync::startup::Application;
use codereview_sync::store::{HookScope, Store, now_ms};
use codereview_sync::vault::Vault;
use codereview_sync::worker::LogOnlyHandler;

const SECRET: &str = "loadbench-signing-secret";
/// Repositories with their own webhook secret in the GitHub scenario.
const BENCH_REPOS: u64 = 1000;

fn repo_secret(i: u64) -> String {
    format!("loadbench-repo-secret-{i:06}")
}

struct Options {
    connections: usize,
    seconds: u64,
    postgres: Option<String>,
    sqlite: bool,
    worker: bool,
    concurrency: u32,
    healthz: bool,
    slow_clients: usize,
}

fn parse_args() -> Options {
    let mut o = Options {
        connections: 32,
        seconds: 5,
        postgres: std::env::var("CODEREVIEW_TEST_POSTGRES").ok(),
        sqlite: true,
        worker: true,
        concurrency: WorkerSettings::default().concurrency,
        healthz: true,
        slow_clients: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--connections" => {
                o.connections = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--connections N")
            }
            "--seconds" => {
                o.seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--seconds N")
            }
            "--postgres" => o.postgres = Some(args.next().expect("--postgres URL")),
            "--no-sqlite" => o.sqlite = false,
            "--no-worker" => o.worker = false,
            "--no-healthz" => o.healthz = false,
            "--slow-clients" => {
                o.slow_clients = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--slow-clients N")
            }
            "--worker-concurrency" => {
                o.concurrency = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--worker-concurrency N")
            }
            other => panic!("unknown argument {other}; see the doc comment for usage"),
        }
    }
    o
}

struct Result {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Result {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

#[derive(Clone, Copy)]
enum Scenario {
    Healthz,
    SlackEvent,
    GitHubRepoSecret,
}

/// One client per connection, each with a single pooled keep-alive connection; built once and
/// reused by every scenario (client construction loads TLS roots, which is not what we measure).
fn clients(n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|_| {
            reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap()
        })
        .collect()
}

async fn drive(
    base: &str,
    clients: &[reqwest::Client],
    scenario: Scenario,
    duration: Duration,
    run_id: u64,
) -> Result {
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    let healthz = reqwest::Url::parse(&format!("{base}/healthz")).unwrap();
    let events = reqwest::Url::parse(&format!("{base}/slack/events")).unwrap();
    let github = reqwest::Url::parse(&format!("{base}/github/webhook")).unwrap();
    for (conn, client) in clients.iter().enumerate() {
        let (client, healthz, events) = (client.clone(), healthz.clone(), events.clone());
        let github = github.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(50_000);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let ok = match scenario {
                    Scenario::Healthz => client
                        .get(healthz.clone())
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false),
                    Scenario::SlackEvent => {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let body = format!(
                            r#"{{"token":"x","team_id":"T0001","api_app_id":"A0001","type":"event_callback","event_id":"Ev{run_id}x{conn}x{n}","event_time":1700000000,"event":{{"type":"message","channel":"C0001","user":"U0001","text":"load test message {n}","ts":"1700000000.{n:06}"}}}}"#
                        );
                        let ts = now_ms() / 1000;
                        client
                            .post(events.clone())
                            .header("content-type", "application/json")
                            .header("x-slack-request-timestamp", ts.to_string())
                            .header("x-slack-signature", slack::sign(SECRET, ts, body.as_bytes()))
                            .body(body)
                            .send()
                            .await
                            .map(|r| r.status().is_success())
                            .unwrap_or(false)
                    }
                    Scenario::GitHubRepoSecret => {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let repo = n % BENCH_REPOS;
                        let body = format!(
                            r#"{{"action":"created","issue":{{"number":1,"pull_request":{{}}}},"comment":{{"id":{n},"body":"load {run_id}x{conn}x{n}"}},"repository":{{"full_name":"bench/repo-{repo}"}}}}"#
                        );
                        client
                            .post(github.clone())
                            .header("content-type", "application/json")
                            .header("x-github-event", "issue_comment")
                            .header("x-github-delivery", format!("d{run_id}x{conn}x{n}"))
                            .header("x-hub-signature-256", github::sign(&repo_secret(repo), body.as_bytes()))
                            .body(body)
                            .send()
                            .await
                            .map(|r| r.status().is_success())
                            .unwrap_or(false)
                    }
                };
                if ok {
                    latencies.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        latencies_us.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies_us.sort_unstable();
    Result {
        requests: latencies_us.len() as u64,
        errors,
        elapsed,
        latencies_us,
    }
}

/// A fresh PostgreSQL schema in the given database, selected by the URL's search_path.
async fn postgres_schema(admin_url: &str) -> (String, String) {
    use sqlx::Connection as _;
    let name = format!("cr_bench_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(admin_url).unwrap();
    url.query_pairs_mut()
        .append_pair("options[search_path]", &name);
    (url.to_string(), name)
}

async fn drop_schema(admin_url: &str, name: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn bench_backend(label: &str, url: &str, o: &Options) -> Vec<(String, &'static str, Result)> {
    // The server gets its own runtime and threads, as in production.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .unwrap();
    let (addr, stop) = server_rt.block_on(async {
        let store = Store::connect(url).await.unwrap();
        store.migrate().await.unwrap();
        let vault = Arc::new(Vault::new(rand::random(), &[]));
        for i in 0..BENCH_REPOS {
            let path = format!("bench/repo-{i}");
            let secret = Secret::new(repo_secret(i));
            store
                .put_webhook_secret(&vault, Forge::GitHub, HookScope::Repo, &path, &secret)
                .await
                .unwrap();
        }
        let secrets = WebhookSecrets {
            slack_signing_secret: Some(Secret::new(SECRET.to_string())),
            ..WebhookSecrets::default()
        };
        let app = Application::build_with(
            store,
            vault,
            &secrets,
            WorkerSettings {
                concurrency: o.concurrency,
                ..WorkerSettings::default()
            },
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(LogOnlyHandler),
        )
        .await
        .unwrap();
        let addr = app.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        if o.worker {
            tokio::spawn(app.run(shutdown));
        } else {
            tokio::spawn(app.serve(shutdown));
        }
        (addr, tx)
    });
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://{addr}");
    let duration = Duration::from_secs(o.seconds);
    let results = client_rt.block_on(async {
        let clients = clients(o.connections);
        let mut results = Vec::new();
        let scenarios = [
            ("GET /healthz", Scenario::Healthz),
            ("POST /slack/events (signed)", Scenario::SlackEvent),
            (
                "POST /github/webhook (per-repo secret)",
                Scenario::GitHubRepoSecret,
            ),
        ];
        for (name, scenario) in scenarios
            .into_iter()
            .filter(|(_, s)| o.healthz || !matches!(s, Scenario::Healthz))
        {
            // Warm-up: connections, prepared statements, page cache.
            drive(&base, &clients, scenario, Duration::from_secs(1), 0).await;
            let r = drive(&base, &clients, scenario, duration, 1).await;
            results.push((label.to_string(), name, r));
        }
        results
    });
    let _ = stop.send(());
    server_rt.shutdown_timeout(Duration::from_secs(5));
    results
}

/// This process's resident memory in MiB (server and client share it: an upper bound).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Bytes the slow clients send, from one static buffer so the client side holds no memory.
static ZEROS: [u8; 64 * 1024] = [b' '; 64 * 1024];

/// Opens a connection that declares a 1 MiB body and sends all but its last byte
/// (`body: true`), or half a request head (`body: false`), then holds it until aborted.
fn slow_client(addr: std::net::SocketAddr, body: bool) -> tokio::task::JoinHandle<()> {
    use tokio::io::AsyncWriteExt as _;
    tokio::spawn(async move {
        let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
            return;
        };
        if body {
            let head = "POST /github/webhook HTTP/1.1\r\nHost: bench\r\n\
                        Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n";
            let _ = s.write_all(head.as_bytes()).await;
            let mut left = 1024 * 1024 - 1;
            while left > 0 {
                let n = left.min(ZEROS.len());
                if s.write_all(&ZEROS[..n]).await.is_err() {
                    break;
                }
                left -= n;
            }
        } else {
            let _ = s
                .write_all(b"POST /slack/events HTTP/1.1\r\nHost: bench\r\nContent-Ty")
                .await;
        }
        std::future::pending::<()>().await;
    })
}

/// `--slow-clients N`: RSS and latency while N unfinished 1 MiB bodies (and N/5 half-sent
/// heads) are held open.
fn bench_slow_clients(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("slow.db").display());
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .unwrap();
    let (addr, stop) = server_rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let secrets = WebhookSecrets {
            slack_signing_secret: Some(Secret::new(SECRET.to_string())),
            ..WebhookSecrets::default()
        };
        let app = Application::build_with(
            store,
            Arc::new(Vault::new(rand::random(), &[])),
            &secrets,
            WorkerSettings::default(),
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(LogOnlyHandler),
        )
        .await
        .unwrap();
        let addr = app.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        (addr, tx)
    });
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://{addr}");
    client_rt.block_on(async {
        let clients = clients(1);
        // Warm-up, then the baseline.
        drive(&base, &clients, Scenario::Healthz, Duration::from_millis(300), 0).await;
        drive(&base, &clients, Scenario::SlackEvent, Duration::from_millis(300), 0).await;
        let before = rss_mib();
        let attack: Vec<_> = (0..n)
            .map(|_| slow_client(addr, true))
            .chain((0..n / 5).map(|_| slow_client(addr, false)))
            .collect();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut during = rss_mib();
        let healthz = drive(&base, &clients, Scenario::Healthz, Duration::from_secs(2), 1).await;
        during = during.max(rss_mib());
        let events = drive(&base, &clients, Scenario::SlackEvent, Duration::from_secs(2), 2).await;
        during = during.max(rss_mib());
        for a in &attack {
            a.abort();
        }
        println!(
            "\n{n} unfinished 1 MiB bodies + {} half-sent heads held open, loopback, {} cores\n",
            n / 5,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!("RSS before: {before:.1} MiB; during: {during:.1} MiB (server and client)\n");
        println!("| scenario (1 connection, during the attack) | requests | errors | p50 ms | p99 ms | max ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (name, r) in [("GET /healthz", &healthz), ("POST /slack/events (signed)", &events)] {
            println!(
                "| {name} | {} | {} | {:.2} | {:.2} | {:.2} |",
                r.requests,
                r.errors,
                r.percentile(0.50),
                r.percentile(0.99),
                r.percentile(1.0)
            );
        }
    });
    let _ = stop.send(());
    server_rt.shutdown_timeout(Duration::from_secs(2));
}

fn main() {
    let o = parse_args();
    if o.slow_clients > 0 {
        bench_slow_clients(o.slow_clients);
        return;
    }
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    if o.sqlite {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        rows.extend(bench_backend("sqlite", &url, &o));
    }
    if let Some(admin) = &o.postgres {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (url, schema) = rt.block_on(postgres_schema(admin));
        rows.extend(bench_backend("postgres", &url, &o));
        rt.block_on(drop_schema(admin, &schema));
    } else {
        eprintln!("PostgreSQL skipped: set CODEREVIEW_TEST_POSTGRES or pass --postgres URL");
    }
    println!(
        "\n{} keep-alive connections, {} s per scenario, {} cores\n",
        o.connections,
        o.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| backend | scenario | requests | errors | req/s | p50 ms | p99 ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (backend, name, r) in &rows {
        println!(
            "| {backend} | {name} | {} | {} | {:.0} | {:.2} | {:.2} |",
            r.requests,
            r.errors,
            r.rps(),
            r.percentile(0.50),
            r.percentile(0.99)
        );
    }
    for backend in ["sqlite", "postgres"] {
        let rate = |healthz: bool| {
            rows.iter()
                .find(|(b, n, _)| {
                    *b == backend
                        && n.starts_with("GET") == healthz
                        && !n.starts_with("POST /github")
                })
                .map(|(_, _, r)| r.rps())
        };
        if let (Some(h), Some(s)) = (rate(true), rate(false)) {
            println!(
                "{backend}: signed ingestion = {:.0}% of the healthz rate",
                100.0 * s / h
            );
        }
    }
}
