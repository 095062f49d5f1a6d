//! Shared test scaffolding: fresh databases on both backends, a `matrix!` macro that runs one
//! test body on each, `spawn_app()` (the real server on a random port), signing helpers and
//! handlers that record or script what the worker sees.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use codereview_sync::config::{HttpSettings, WebhookSecrets, WorkerSettings};
use codereview_sync::http::slack_install::SlackInstall;
use codereview_sync::http::{github, slack};
use codereview_sync::metrics::Metrics;
use codereview_sync::queue::{Event, EventHandler, HandleError, Worker};
use codereview_sync::secret::Secret;
use codereview_sync::startup::{Application, Extras};
use codereview_sync::store::{Pool, Store, now_ms};
use codereview_sync::vault::Vault;
use sqlx::Connection as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const GITHUB_SECRET: &str = "It's a Secret to Everybody";
pub const GITLAB_TOKEN: &str = "glpat-webhook-token-for-tests";

/// The env var that enables the PostgreSQL variants.
pub const POSTGRES_ENV: &str = "CODEREVIEW_TEST_POSTGRES";

/// A deterministic test key.
pub fn key(byte: u8) -> [u8; 32] {
    [byte; 32]
}

/// A vault whose current key is `key(byte)`.
pub fn vault(byte: u8) -> Arc<Vault> {
    Arc::new(Vault::new(key(byte), &[]))
}

/// Base64 form of `key(byte)`, as the binary reads it from the environment.
pub fn key_b64(byte: u8) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key(byte))
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// A fresh, migrated database (SQLite file or PostgreSQL schema), removed when dropped.
pub struct TestDb {
    pub url: String,
    pub store: Store,
    guard: Guard,
}

impl TestDb {
    /// A second, independent connection pool to the same database (another replica).
    pub async fn another_store(&self) -> Store {
        Store::connect_with(&self.url, 5).await.unwrap()
    }

    /// The SQLite file, for byte-level scans.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match &self.guard {
            Guard::Sqlite(dir) => Some(dir.path().join("test.db")),
            Guard::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = &self.guard {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside async context: use a throwaway runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A fresh SQLite database in a temp directory.
pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::connect_with(&url, 5).await.unwrap();
    store.migrate().await.unwrap();
    TestDb {
        url,
        store,
        guard: Guard::Sqlite(dir),
    }
}

/// A fresh PostgreSQL schema (`CREATE SCHEMA cr_test_<random>` in the database named by
/// `CODEREVIEW_TEST_POSTGRES`, selected through the URL's `search_path` option, dropped at the
/// end), or `None` with a message when the variable is not set. A schema is created in
/// milliseconds where `CREATE DATABASE` takes a second, and isolates tests just as well.
pub async fn postgres_db(test: &str) -> Option<TestDb> {
    let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
        eprintln!(
            "skipping the PostgreSQL variant of {test}: set {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432/test to run it"
        );
        return None;
    };
    let name = format!("cr_test_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but unreachable: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.query_pairs_mut()
        .append_pair("options[search_path]", &name);
    let url = url.to_string();
    let store = Store::connect_with(&url, 5).await.unwrap();
    store.migrate().await.unwrap();
    Some(TestDb {
        url,
        store,
        guard: Guard::Postgres { admin_url, name },
    })
}

/// Writes one async test body, runs it as `<name>::sqlite` and `<name>::postgres`.
macro_rules! matrix {
    ($(async fn $name:ident($db:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn test_body($db: crate::helpers::TestDb) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    test_body(crate::helpers::sqlite_db().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = crate::helpers::postgres_db(module_path!()).await {
                        test_body(db).await
                    }
                }
            }
        )*
    };
}
pub(crate) use matrix;

/// Runs the same statement on whichever pool a store holds (test-side twin of the crate's
/// private macro).
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store.pool() {
            codereview_sync::store::Pool::Sqlite($pool) => $body,
            codereview_sync::store::Pool::Postgres($pool) => $body,
        }
    };
}

/// `SELECT COUNT(*) FROM table`.
pub async fn count(store: &Store, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let (n,): (i64,) = on_pool!(store, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_one(pool)
            .await
            .unwrap()
    });
    n
}

/// Every value of one BLOB/BYTEA column.
pub async fn blobs(store: &Store, table: &str, column: &str) -> Vec<Vec<u8>> {
    let sql = format!("SELECT {column} FROM {table}");
    let rows: Vec<(Vec<u8>,)> = on_pool!(store, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(pool)
            .await
            .unwrap()
    });
    rows.into_iter().map(|(b,)| b).collect()
}

/// Every value of one TEXT column.
pub async fn texts(store: &Store, table: &str, column: &str) -> Vec<String> {
    let sql = format!("SELECT {column} FROM {table}");
    let rows: Vec<(String,)> = on_pool!(store, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(pool)
            .await
            .unwrap()
    });
    rows.into_iter().map(|(t,)| t).collect()
}

/// Runs a statement without parameters.
pub async fn exec(store: &Store, sql: &str) -> u64 {
    let sql = sql.to_string();
    on_pool!(store, |pool| {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(pool)
            .await
            .unwrap()
            .rows_affected()
    })
}

/// True if `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A handler that records every event it is given and succeeds.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

impl Recorder {
    pub fn seen(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

/// A handler driven by a closure (fail first, sleep, panic, ...).
pub struct Scripted<F>(pub F);

#[async_trait]
impl<F, Fut> EventHandler for Scripted<F>
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), HandleError>> + Send + 'static,
{
    async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        (self.0)(event.clone()).await
    }
}

/// Worker settings suited to tests: short lease, fast backoff, no idle sleeping.
pub fn fast_worker() -> WorkerSettings {
    WorkerSettings {
        concurrency: 8,
        lease: Duration::from_secs(5),
        max_attempts: 5,
        poll_interval: Duration::from_millis(20),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        shutdown_grace: Duration::from_secs(5),
        ..WorkerSettings::default()
    }
}

/// Every webhook secret configured.
pub fn all_secrets() -> WebhookSecrets {
    WebhookSecrets {
        slack_signing_secret: Some(Secret::new(SLACK_SECRET.into())),
        github_webhook_secret: Some(Secret::new(GITHUB_SECRET.into())),
        gitlab_webhook_token: Some(Secret::new(GITLAB_TOKEN.into())),
    }
}

/// How to build a [`TestApp`].
pub struct AppOptions {
    pub secrets: WebhookSecrets,
    pub worker: WorkerSettings,
    pub handler: Arc<dyn EventHandler>,
    pub vault: Arc<Vault>,
    pub slack_install: Option<Arc<SlackInstall>>,
    /// The metrics `/metrics` serves, when the handler reports to them too.
    pub metrics: Option<Metrics>,
    /// Client limits and `LISTEN_METRICS`.
    pub http: HttpSettings,
    /// The worker's clock (default: the system clock).
    pub clock: Option<Arc<dyn codereview_sync::clock::Clock>>,
    /// The Slack API `/codereview digest on` asks for time zones (default none: UTC).
    pub slack_api: Option<Arc<dyn codereview_sync::clients::SlackApi>>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            secrets: all_secrets(),
            worker: fast_worker(),
            handler: Arc::new(Recorder::default()),
            vault: vault(1),
            slack_install: None,
            metrics: None,
            http: HttpSettings::default(),
            clock: None,
            slack_api: None,
        }
    }
}

/// The real server on 127.0.0.1 with a random port, plus its worker for manual stepping.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when `LISTEN_METRICS` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub db: TestDb,
    pub worker: Arc<Worker>,
    client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, AppOptions::default()).await
}

pub async fn spawn_app_with(db: TestDb, options: AppOptions) -> TestApp {
    let app = Application::build_with_extras(
        db.store.clone(),
        options.vault.clone(),
        &options.secrets,
        options.worker,
        "127.0.0.1:0".parse().unwrap(),
        options.handler,
        Extras {
            slack_install: options.slack_install,
            metrics: options.metrics,
            http: options.http,
            clock: options.clock,
            slack_api: options.slack_api,
        },
    )
    .await
    .unwrap();
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let worker = app.worker();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        metrics_addr,
        db,
        worker,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        shutdown: Some(tx),
    }
}

/// Headers Slack would send for `body` at `timestamp`.
pub fn slack_headers(body: &[u8], timestamp: i64) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-slack-request-timestamp", timestamp.to_string()),
        (
            "x-slack-signature",
            slack::sign(SLACK_SECRET, timestamp, body),
        ),
    ]
}

/// Headers GitHub would send.
pub fn github_headers(event: &str, delivery: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-github-event", event.into()),
        ("x-github-delivery", delivery.into()),
        ("x-hub-signature-256", github::sign(GITHUB_SECRET, body)),
    ]
}

/// Headers GitLab would send.
pub fn gitlab_headers(event: &str, idempotency_key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-gitlab-event", event.into()),
        ("x-gitlab-token", GITLAB_TOKEN.into()),
        ("idempotency-key", idempotency_key.into()),
    ]
}

/// A Slack `event_callback` envelope for a channel message.
pub fn slack_message(event_id: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "token": "verification-token",
        "team_id": "T0001",
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "event": {
            "type": "message",
            "channel": "C0001",
            "user": "U0001",
            "text": text,
            "ts": "1700000000.000100"
        }
    }))
    .unwrap()
}

/// A GitHub fixture from `tests/fixtures/github-webhooks`.
pub fn github_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap()
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/github-webhooks")
}

pub fn now_secs() -> i64 {
    now_ms() / 1000
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs `body` with exactly these headers; returns status and body text.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, String) {
        self.try_post(path, headers, body).await.unwrap()
    }

    /// [`TestApp::post`], with the transport error when the exchange broke (a server that
    /// refuses from the headers and closes may reset a client still sending its body).
    pub async fn try_post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<(u16, String), reqwest::Error> {
        let mut req = self.client.post(self.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self.client.get(self.url(path)).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// A correctly signed Slack request, timestamped now.
    pub async fn slack(&self, body: Vec<u8>) -> (u16, String) {
        let headers = slack_headers(&body, now_secs());
        self.post("/slack/events", &headers, body).await
    }

    /// A correctly signed GitHub delivery.
    pub async fn github(&self, event: &str, delivery: &str, body: Vec<u8>) -> (u16, String) {
        let headers = github_headers(event, delivery, &body);
        self.post("/github/webhook", &headers, body).await
    }

    /// A correctly authenticated GitLab delivery.
    pub async fn gitlab(&self, event: &str, key: &str, body: Vec<u8>) -> (u16, String) {
        let headers = gitlab_headers(event, key);
        self.post("/gitlab/webhook", &headers, body).await
    }

    /// Rows in the queue.
    pub async fn queued(&self) -> i64 {
        count(&self.db.store, "event_queue").await
    }

    /// Rows anywhere a delivery could have left a trace.
    pub async fn stored(&self) -> i64 {
        count(&self.db.store, "event_queue").await
            + count(&self.db.store, "event_deliveries").await
            + count(&self.db.store, "event_failures").await
    }

    /// Steps the worker until nothing is due.
    pub async fn drain(&self) -> usize {
        let mut done = 0;
        loop {
            let report = self.worker.run_once().await.unwrap();
            if report.claimed == 0 {
                return done;
            }
            done += report.done;
        }
    }
}

/// Sends raw bytes over a fresh TCP connection and returns the response status code
/// (for requests reqwest will not produce: lying Content-Length, chunked oversize bodies).
pub async fn raw_request(addr: SocketAddr, head: &str, body_parts: &[&[u8]]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for part in body_parts {
        // The server may refuse before reading everything; a write error is then expected.
        if stream.write_all(part).await.is_err() {
            break;
        }
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if contains(&buf, b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"))
}

/// Polls `check` every 10 ms until it returns true or `timeout` passes.
pub async fn wait_for<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[allow(dead_code)]
pub fn pool_kind(store: &Store) -> &'static str {
    match store.pool() {
        Pool::Sqlite(_) => "sqlite",
        Pool::Postgres(_) => "postgres",
    }
}

/// The `codereview-sync` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_codereview-sync");

/// Runs the binary with exactly `env` (nothing inherited), `stdin` piped in, in `cwd` (else
/// the test's own directory), and waits for it.
pub fn run_binary(args: &[&str], env: &[(&str, &str)], stdin: &str, cwd: Option<&Path>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().unwrap();
    // A command that fails before reading its input (a usage error) closes stdin: that is its
    // answer, not the test's failure.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}
