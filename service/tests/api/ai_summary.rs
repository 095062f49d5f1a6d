//! End to end, the optional AI summary (issue 7): the real service with the real sync handler,
//! fake GitHub, GitLab and Slack, and a fake OpenAI-compatible endpoint (wiremock). Each test
//! asserts the exact requests (the diff fetch, the model request: path, key, model, messages,
//! size budget) and the posts, then scans every table and the captured logs for the diff and
//! summary texts.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use codereview_sync::clients::diff::DiffClient;
use codereview_sync::clients::llm::LlmClient;
use codereview_sync::config::LlmSettings;
use codereview_sync::domain::Forge;
use codereview_sync::metrics::Metrics;
use codereview_sync::secret::Secret;
use codereview_sync::store::{AiSummaryRepo, CredentialKind, Store};
use codereview_sync::worker::AiSummary;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;
use crate::sync_fakes::*;

/// The LLM API key (a secret: never in a table or a log).
pub const LLM_KEY: &str = "sk-test-llm-key-0001";
/// A line of the source file's diff.
pub const DIFF_SOURCE_TEXT: &str = "compute_cache_eviction_budget(items, ratio)";
/// A line of the lockfile's diff: never sent to the model.
pub const DIFF_LOCKFILE_TEXT: &str = "lockfile-checksum-that-must-stay-out";
/// A line of the README's diff.
pub const DIFF_DOCS_TEXT: &str = "Document the response cache eviction knobs";
/// What the fake model answers.
pub const SUMMARY_TEXT: &str = "Adds an LRU response cache in front of the parser";

const MODEL: &str = "llama3.1:8b-instruct";
const BUDGET: usize = 6000;

/// Every `tracing` line of this test binary from the first call on (the service's own and
/// reqwest's, down to trace), for the log scan.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "codereview_sync=trace,reqwest=trace,info",
            ))
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured logs contain each of `expected` and none of [`TEXTS`].
fn assert_logs_clean(expected: &[&str]) {
    let logs = captured_logs();
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    for e in expected {
        assert!(text.contains(e), "the logs should mention {e:?}");
    }
    for t in TEXTS {
        assert!(!text.contains(t), "the logs contain {t:?}");
    }
}

/// A PR diff as GitHub renders it: a new source file, a lockfile, a large source file and
/// the README.
fn github_diff() -> String {
    let mut d = String::from(
        "diff --git a/src/cache.rs b/src/cache.rs\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/src/cache.rs\n@@ -0,0 +1,20 @@\n",
    );
    d.push_str(&format!(
        "+pub fn evict(items: &mut Vec<Item>, ratio: f64) {{\n+    let n = {DIFF_SOURCE_TEXT};\n+    items.truncate(n);\n+}}\n"
    ));
    for i in 0..16 {
        d.push_str(&format!("+// cache line {i}\n"));
    }
    d.push_str("diff --git a/Cargo.lock b/Cargo.lock\nindex 2222222..3333333 100644\n--- a/Cargo.lock\n+++ b/Cargo.lock\n@@ -1,3 +1,3 @@\n");
    d.push_str(&format!(
        "-checksum = \"old\"\n+checksum = \"{DIFF_LOCKFILE_TEXT}\"\n"
    ));
    d.push_str("diff --git a/src/big.rs b/src/big.rs\nindex 4444444..5555555 100644\n--- a/src/big.rs\n+++ b/src/big.rs\n@@ -1,400 +1,400 @@\n");
    for i in 0..400 {
        d.push_str(&format!("+    let value_{i} = parse_field(input, {i});\n"));
    }
    d.push_str(&format!(
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n # Hello\n+{DIFF_DOCS_TEXT}\n"
    ));
    d
}

fn summary_markdown() -> String {
    format!("- {SUMMARY_TEXT} (`src/cache.rs`)\n- Parses more fields in `src/big.rs`")
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1500, "completion_tokens": 60, "total_tokens": 1560}
    })
}

/// A fake OpenAI-compatible endpoint at `{uri}/v1`.
struct FakeLlm {
    server: MockServer,
}

impl FakeLlm {
    async fn start(answer: ResponseTemplate) -> Self {
        let server = MockServer::start().await;
        let llm = Self { server };
        llm.answer(answer).await;
        llm
    }

    async fn answer(&self, answer: ResponseTemplate) {
        self.server.reset().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(answer)
            .mount(&self.server)
            .await;
    }

    fn base(&self) -> Url {
        Url::parse(&format!("{}/v1", self.server.uri())).unwrap()
    }

    async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

fn ok_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(completion(&summary_markdown()))
}

/// The AI summary wired to the fake endpoint and the fake forges.
fn ai_for(
    llm: &FakeLlm,
    metrics: &Metrics,
    timeout: Duration,
) -> impl FnOnce(&MockServer, &MockServer) -> Option<AiSummary> + use<> {
    let settings = LlmSettings {
        api_url: llm.base(),
        model: MODEL.into(),
        diff_budget: BUDGET,
        timeout,
    };
    let metrics = metrics.clone();
    move |github, gitlab| {
        Some(AiSummary {
            llm: Arc::new(LlmClient::new(&settings.api_url)),
            diffs: Arc::new(DiffClient::new(
                &Url::parse(&github.uri()).unwrap(),
                Some(&Url::parse(&gitlab.uri()).unwrap()),
            )),
            settings,
            metrics,
        })
    }
}

async fn opt_in(app: &SyncApp, forge: Forge, repo: &str, pr_comment: bool) {
    app.store()
        .enable_ai_summary(&AiSummaryRepo {
            forge: Some(forge),
            repo: repo.into(),
            pr_comment,
        })
        .await
        .unwrap();
}

async fn store_key(store: &Store) {
    store
        .put_llm_key(&vault(1), &Secret::new(LLM_KEY.into()))
        .await
        .unwrap();
}

fn bearer_github() -> String {
    format!("Bearer {GITHUB_TOKEN}")
}

async fn mount_diff(app: &SyncApp, number: i64) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/{number}")))
        .and(header("accept", "application/vnd.github.diff"))
        .and(header("authorization", bearer_github().as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/plain; charset=utf-8")
                .set_body_string(github_diff()),
        )
        .mount(&app.github)
        .await;
}

/// `GET /pulls/2` (JSON) and its status, for parent updates on later deliveries.
async fn mount_pull_json(app: &SyncApp) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/2")))
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull(json!({}))))
        .mount(&app.github)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/commits/{HEAD_SHA}/status")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"state": "pending", "statuses": []})),
        )
        .mount(&app.github)
        .await;
}

/// The diff requests the fake GitHub received.
async fn diff_requests(app: &SyncApp) -> Vec<Request> {
    app.github
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r.headers
                .get("accept")
                .is_some_and(|v| v == "application/vnd.github.diff")
                || r.url.path().ends_with("/diffs")
        })
        .collect()
}

async fn posts(app: &SyncApp) -> Vec<Call> {
    app.slack
        .writes()
        .await
        .into_iter()
        .filter(|c| c.path == "/api/chat.postMessage")
        .collect()
}

async fn metrics_text(app: &SyncApp) -> String {
    let (status, text) = app.app.get("/metrics").await;
    assert_eq!(status, 200);
    text
}

async fn summary_rows(store: &Store) -> Vec<(String, String, i64, String)> {
    let sql = "SELECT forge, repo, pr_number, state FROM ai_summaries ORDER BY pr_number";
    match store.pool() {
        codereview_sync::store::Pool::Sqlite(pool) => {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        }
        codereview_sync::store::Pool::Postgres(pool) => {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        }
    }
}

const SLACK_SUMMARY: &str = "🤖 *AI summary* (model `llama3.1:8b-instruct`)\n\
     - Adds an LRU response cache in front of the parser (`src/cache.rs`)\n\
     - Parses more fields in `src/big.rs`\n\
     1 file left out: Cargo.lock; cut short: src/big.rs";

fn opened(number: i64) -> Value {
    let mut v = fixture("pull_request.opened.payload.json");
    v["number"] = json!(number);
    v["pull_request"]["number"] = json!(number);
    v
}

matrix! {
    async fn a_new_pull_request_gets_one_summary_in_its_thread(db) {
        captured_logs();
        let metrics = Metrics::new();
        let llm = FakeLlm::start(ok_answer()).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_secs(5)), Some(metrics.clone())).await;
        opt_in(&app, Forge::GitHub, REPO, false).await;
        store_key(app.store()).await;
        mount_diff(&app, 2).await;

        app.github("pull_request", "d-open", &opened(2)).await;

        // The diff was read once, with the repository's token.
        let diffs = diff_requests(&app).await;
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].url.path(), format!("/repos/{REPO}/pulls/2"));
        assert_eq!(diffs[0].headers.get("authorization").unwrap(), bearer_github().as_str());

        // The model was asked once: path, key, model, messages, budget.
        let reqs = llm.requests().await;
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!((r.method.as_str(), r.url.path()), ("POST", "/v1/chat/completions"));
        assert_eq!(r.headers.get("authorization").unwrap(), format!("Bearer {LLM_KEY}").as_str());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["model"], MODEL);
        assert_eq!(body["temperature"], 0.2);
        assert_eq!(body["max_tokens"], 400);
        assert_eq!(body["stream"], false);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["role"], "system");
        assert!(messages[0]["content"].as_str().unwrap().contains("summarise the most relevant changes"));
        assert_eq!(messages[1]["role"], "user");
        let user = messages[1]["content"].as_str().unwrap();
        assert!(user.len() <= BUDGET, "user message {} bytes > budget {BUDGET}", user.len());
        assert!(user.starts_with("Pull request title: Update the README with new information.\n"), "{user}");
        assert!(user.contains("Left out of the diff below, not shown to you: Cargo.lock (lockfile).\n"));
        assert!(user.contains("Cut short to fit: src/big.rs.\n"));
        assert!(user.contains(DIFF_SOURCE_TEXT), "the source file is sent");
        assert!(user.contains(DIFF_DOCS_TEXT), "the README fits after the source");
        assert!(!user.contains(DIFF_LOCKFILE_TEXT), "the lockfile is not sent");
        assert!(user.contains("cut to fit the size budget"));
        let diff_len = github_diff().len();
        eprintln!(
            "measured: diff {diff_len} bytes, user message {} bytes (budget {BUDGET}), request body {} bytes",
            user.len(),
            r.body.len()
        );
        assert!(r.body.len() < BUDGET + 2000, "whole request {} bytes", r.body.len());

        // Slack: the parent, then the summary as a reply in its thread.
        let p = posts(&app).await;
        assert_eq!(p.len(), 2);
        let parent = FakeSlack::ts(1);
        assert!(p[0].body.get("thread_ts").is_none());
        assert_eq!(p[1].auth.as_deref(), Some(format!("Bearer {SLACK_TOKEN}").as_str()));
        assert_eq!((p[1].body["channel"].as_str(), p[1].body["thread_ts"].as_str()), (Some(CHANNEL), Some(parent.as_str())));
        assert_eq!(p[1].text(), SLACK_SUMMARY);
        assert_eq!(p[1].body["metadata"]["event_payload"]["key"], "github:codertocat/hello-world#2:ai-summary");
        assert_eq!(p[1].body["blocks"][1]["elements"][0]["text"], "1 file left out: Cargo.lock; cut short: src/big.rs");
        // Recorded by id only: the reply in the ledger (never echoed), the PR as summarised.
        assert!(ledger_rows(app.store()).await.contains(&("slack".into(), format!("{TEAM}/{CHANNEL}"), "message".into(), FakeSlack::ts(2))));
        assert_eq!(summary_rows(app.store()).await, vec![("github".into(), REPO.into(), 2, "posted".into())]);
        let m = metrics_text(&app).await;
        assert!(m.contains("codereview_sync_ai_summaries_posted_total 1"), "{m}");
        assert!(m.contains("codereview_sync_ai_summary_failures_total{reason=\"server_error\"} 0"));
        assert!(m.contains("codereview_sync_ai_summary_llm_seconds_count 1"));

        // Our summary echoed back by Slack: a bot message, ignored.
        app.slack("Ev-echo", json!({
            "type": "message", "channel": CHANNEL, "bot_id": BOT_ID, "user": BOT_USER,
            "text": "(our summary)", "ts": FakeSlack::ts(2), "thread_ts": parent,
        })).await;

        // The same event redelivered under a new id, and "ready for review": the thread is
        // updated, but the model is not asked again and nothing else is posted.
        mount_pull_json(&app).await;
        let mut again = opened(2);
        again["pull_request"]["updated_at"] = json!("2019-05-15T15:30:00Z");
        app.github("pull_request", "d-open-again", &again).await;
        app.github("pull_request", "d-ready", &fixture("pull_request.ready_for_review.payload.json")).await;
        assert_eq!(llm.requests().await.len(), 1, "one model call per PR");
        assert_eq!(diff_requests(&app).await.len(), 1, "one diff fetch per PR");
        assert_eq!(posts(&app).await.len(), 2, "one summary per PR");
        assert_eq!(app.slack.writes().await.iter().filter(|c| c.path == "/api/chat.update").count(), 2);

        app.assert_clean().await;
        app.assert_no_text().await;
        assert_logs_clean(&["AI summary posted", "AI summary: asking the model"]);
    }

    async fn a_retried_event_asks_the_model_once(db) {
        captured_logs();
        let metrics = Metrics::new();
        let llm = FakeLlm::start(ok_answer()).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_secs(5)), Some(metrics.clone())).await;
        opt_in(&app, Forge::GitHub, REPO, false).await;
        store_key(app.store()).await;
        mount_diff(&app, 2).await;
        // The parent's first post is rate limited: the event is retried, the summary comes
        // only once the parent exists, and only once.
        app.slack.rate_limit_next_post(0);
        let (status, _) = app.app.github("pull_request", "d-open", serde_json::to_vec(&opened(2)).unwrap()).await;
        assert_eq!(status, 200);
        let first = app.app.worker.run_once().await.unwrap();
        assert_eq!((first.claimed, first.waiting), (1, 1));
        assert!(llm.requests().await.is_empty(), "no summary before the parent exists");
        assert!(
            wait_for(Duration::from_secs(5), || async { app.app.worker.run_once().await.unwrap().done == 1 }).await,
            "the retry succeeds"
        );
        assert_eq!(llm.requests().await.len(), 1);
        let p = posts(&app).await;
        assert_eq!(p.len(), 3, "the rate-limited parent, the parent, the summary");
        assert!(p[1].body.get("thread_ts").is_none());
        assert_eq!(p[2].body["thread_ts"].as_str(), Some(FakeSlack::ts(1).as_str()));
        assert_eq!(p[2].text(), SLACK_SUMMARY);
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn the_summary_can_also_be_a_pr_comment_never_echoed(db) {
        captured_logs();
        let metrics = Metrics::new();
        let llm = FakeLlm::start(ok_answer()).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_secs(5)), Some(metrics.clone())).await;
        opt_in(&app, Forge::GitHub, REPO, true).await;
        store_key(app.store()).await;
        mount_diff(&app, 2).await;
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/issues/2/comments")))
            .and(header("authorization", bearer_github().as_str()))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 9001})))
            .expect(1)
            .mount(&app.github)
            .await;

        app.github("pull_request", "d-open", &opened(2)).await;

        let comments: Vec<Call> = calls(&app.github).await.into_iter().filter(|c| c.method == "POST").collect();
        assert_eq!(comments.len(), 1);
        let body = comments[0].body["body"].as_str().unwrap().to_string();
        assert_eq!(
            body,
            format!(
                "**AI summary** (model `{MODEL}`)\n\n{}\n\n<sub>1 file left out: Cargo.lock; cut short: src/big.rs · \
                 Written by a language model from the diff: it may be incomplete or wrong.</sub>\n",
                summary_markdown()
            )
        );
        assert_eq!(posts(&app).await.len(), 2, "and in the Slack thread");
        assert!(ledger_rows(app.store()).await.contains(&("github".into(), REPO.into(), "issue_comment".into(), "9001".into())));
        let m = metrics_text(&app).await;
        assert!(m.contains("codereview_sync_ai_summaries_posted_total 1"), "{m}");

        // GitHub's webhook for our comment: a ledger hit, not mirrored into Slack.
        let mut echo = pr_comment("issue_comment.created.payload.json");
        echo["comment"]["id"] = json!(9001);
        echo["comment"]["body"] = json!(body);
        app.github("issue_comment", "d-echo", &echo).await;
        assert_eq!(posts(&app).await.len(), 2, "our comment is not echoed");
        assert_eq!(llm.requests().await.len(), 1);
        app.assert_clean().await;
        app.assert_no_text().await;
        assert_logs_clean(&["AI summary posted"]);
    }

    async fn server_errors_get_one_quick_retry_and_never_block_the_sync(db) {
        captured_logs();
        let metrics = Metrics::new();
        let llm = FakeLlm::start(ResponseTemplate::new(500).set_body_string(format!("upstream broke on {DIFF_SOURCE_TEXT}"))).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_secs(5)), Some(metrics.clone())).await;
        opt_in(&app, Forge::GitHub, REPO, false).await;
        store_key(app.store()).await;
        mount_diff(&app, 2).await;

        app.github("pull_request", "d-open", &opened(2)).await;

        assert_eq!(llm.requests().await.len(), 2, "one attempt and one quick retry");
        let p = posts(&app).await;
        assert_eq!(p.len(), 1, "the parent only");
        assert!(p[0].body.get("thread_ts").is_none());
        let m = metrics_text(&app).await;
        assert!(m.contains("codereview_sync_ai_summary_failures_total{reason=\"server_error\"} 1"), "{m}");
        assert!(m.contains("codereview_sync_ai_summaries_posted_total 0"));
        assert!(m.contains("codereview_sync_event_retries_total{source=\"github\"} 0"), "the event is not retried");
        assert!(summary_rows(app.store()).await.is_empty(), "the claim is released");
        app.assert_clean().await;

        // A later trigger (marked ready) may try again, and succeeds once the model is back.
        llm.answer(ok_answer()).await;
        mount_pull_json(&app).await;
        app.github("pull_request", "d-ready", &fixture("pull_request.ready_for_review.payload.json")).await;
        assert_eq!(llm.requests().await.len(), 1);
        let p = posts(&app).await;
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].text(), SLACK_SUMMARY);
        app.assert_clean().await;
        app.assert_no_text().await;
        assert_logs_clean(&["AI summary failed; the sync goes on without it"]);
    }

    async fn a_slow_model_is_cut_off_at_the_timeout(db) {
        captured_logs();
        let metrics = Metrics::new();
        let llm = FakeLlm::start(ok_answer().set_delay(Duration::from_secs(4))).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_millis(800)), Some(metrics.clone())).await;
        opt_in(&app, Forge::GitHub, REPO, false).await;
        store_key(app.store()).await;
        mount_diff(&app, 2).await;

        let started = Instant::now();
        app.github("pull_request", "d-open", &opened(2)).await;
        let took = started.elapsed();
        assert!(took < Duration::from_millis(2500), "bounded by LLM_TIMEOUT_SECS: took {took:?}");
        assert_eq!(llm.requests().await.len(), 1, "a timeout is not retried");
        assert_eq!(posts(&app).await.len(), 1, "the parent only");
        let m = metrics_text(&app).await;
        assert!(m.contains("codereview_sync_ai_summary_failures_total{reason=\"timeout\"} 1"), "{m}");
        assert!(m.contains("codereview_sync_event_retries_total{source=\"github\"} 0"));
        app.assert_clean().await;
        app.assert_no_text().await;
        assert_logs_clean(&[]);
    }

    async fn a_refusal_posts_nothing(db) {
        captured_logs();
        let metrics = Metrics::new();
        let refusal = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "refusal": "I can't help with that."}, "finish_reason": "stop"}]});
        let llm = FakeLlm::start(ResponseTemplate::new(200).set_body_json(refusal)).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_secs(5)), Some(metrics.clone())).await;
        opt_in(&app, Forge::GitHub, REPO, false).await;
        store_key(app.store()).await;
        mount_diff(&app, 2).await;

        app.github("pull_request", "d-open", &opened(2)).await;
        assert_eq!(llm.requests().await.len(), 1, "a refusal is not retried");
        assert_eq!(posts(&app).await.len(), 1, "the parent only");
        let m = metrics_text(&app).await;
        assert!(m.contains("codereview_sync_ai_summary_failures_total{reason=\"refusal\"} 1"), "{m}");
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn without_the_global_setting_no_diff_is_fetched(db) {
        captured_logs();
        let llm = FakeLlm::start(ok_answer()).await;
        // Opted in and a key stored, but no LLM_API_URL / LLM_MODEL: no AiSummary.
        let app = spawn_sync_app(db).await;
        opt_in(&app, Forge::GitHub, REPO, true).await;
        store_key(app.store()).await;
        mount_diff(&app, 2).await;
        app.github("pull_request", "d-open", &opened(2)).await;
        assert_eq!(posts(&app).await.len(), 1, "the parent");
        assert!(calls(&app.github).await.is_empty(), "nothing about the PR was read from GitHub");
        assert!(llm.requests().await.is_empty());
        assert!(summary_rows(app.store()).await.is_empty());
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn without_opt_in_key_or_readiness_no_diff_is_fetched(db) {
        captured_logs();
        let metrics = Metrics::new();
        let llm = FakeLlm::start(ok_answer()).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_secs(5)), Some(metrics.clone())).await;
        for n in 2..=5 {
            mount_diff(&app, n).await;
        }
        // Configured globally with a key, but the repository did not opt in.
        store_key(app.store()).await;
        app.github("pull_request", "d-2", &opened(2)).await;
        // Opted in for the other forge only.
        opt_in(&app, Forge::GitLab, REPO, false).await;
        app.github("pull_request", "d-3", &opened(3)).await;
        // Opted in, but the key was removed.
        opt_in(&app, Forge::GitHub, REPO, false).await;
        assert!(app.store().remove_llm_key().await.unwrap());
        app.github("pull_request", "d-4", &opened(4)).await;
        // Key back, but the PR is a draft.
        store_key(app.store()).await;
        let mut draft = opened(5);
        draft["pull_request"]["draft"] = json!(true);
        app.github("pull_request", "d-5", &draft).await;

        assert_eq!(posts(&app).await.len(), 3, "parents of the three ready PRs, no summary");
        assert!(calls(&app.github).await.is_empty(), "no diff was fetched");
        assert!(llm.requests().await.is_empty(), "the model was never called");
        let m = metrics_text(&app).await;
        assert!(m.contains("codereview_sync_ai_summaries_posted_total 0"));
        assert!(!m.contains("codereview_sync_ai_summary_failures_total{reason=\"diff\"} 1"));
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn a_gitlab_merge_request_is_summarised_from_its_diffs(db) {
        captured_logs();
        let metrics = Metrics::new();
        let llm = FakeLlm::start(ok_answer()).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_secs(5)), Some(metrics.clone())).await;
        opt_in(&app, Forge::GitLab, GL_REPO, false).await;
        store_key(app.store()).await;
        Mock::given(method("GET"))
            .and(path("/api/v4/projects/group%2Fapp/merge_requests/1/diffs"))
            .and(query_param("page", "1"))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"old_path": "src/cache.rs", "new_path": "src/cache.rs", "new_file": true, "renamed_file": false,
                 "deleted_file": false, "diff": format!("@@ -0,0 +1,2 @@\n+pub fn evict() {{\n+    {DIFF_SOURCE_TEXT};\n")},
                {"old_path": "yarn.lock", "new_path": "yarn.lock", "new_file": false, "renamed_file": false,
                 "deleted_file": false, "diff": format!("@@ -1 +1 @@\n-a\n+{DIFF_LOCKFILE_TEXT}\n")},
                {"old_path": "web/api.ts", "new_path": "web/api.ts", "new_file": false, "renamed_file": false,
                 "deleted_file": false, "generated_file": true, "diff": "@@ -1 +1 @@\n-x\n+y\n"}
            ])))
            .mount(&app.gitlab)
            .await;

        app.gitlab("Merge Request Hook", "k-open", &gitlab_mr("open", "opened")).await;

        let reqs = llm.requests().await;
        assert_eq!(reqs.len(), 1);
        let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
        let user = body["messages"][1]["content"].as_str().unwrap();
        assert!(user.starts_with("Pull request title: Add a response cache\n"));
        assert!(user.contains("Left out of the diff below, not shown to you: yarn.lock (lockfile), web/api.ts (generated).\n"));
        assert!(user.contains(&format!("--- /dev/null\n+++ b/src/cache.rs\n@@ -0,0 +1,2 @@\n+pub fn evict() {{\n+    {DIFF_SOURCE_TEXT};\n")));
        assert!(!user.contains(DIFF_LOCKFILE_TEXT));
        let p = posts(&app).await;
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].body["channel"].as_str(), p[1].body["thread_ts"].as_str()), (Some(GL_CHANNEL), Some(FakeSlack::ts(1).as_str())));
        assert!(p[1].text().ends_with("\n2 files left out: yarn.lock, web/api.ts"), "{}", p[1].text());
        assert_eq!(summary_rows(app.store()).await, vec![("gitlab".into(), GL_REPO.into(), 1, "posted".into())]);
        app.assert_clean().await;
        app.assert_no_text().await;
    }
}

fn run_cli(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, String, String) {
    let out = run_binary(args, env, stdin, None);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The binary, configured only through its environment and the admin commands: the key goes
/// in sealed through stdin, a repository opts in, `serve` summarises a new PR, and nothing it
/// logs (at debug) holds the diff, the summary or a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_summarises_with_the_admin_commands_and_logs_no_diff() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sync.db").display());
    let key = key_b64(1);
    let llm = FakeLlm::start(ok_answer()).await;
    let slack = FakeSlack::start().await;
    let github = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/2")))
        .and(header("accept", "application/vnd.github.diff"))
        .respond_with(ResponseTemplate::new(200).set_body_string(github_diff()))
        .mount(&github)
        .await;
    let llm_base = llm.base().to_string();
    let admin = [
        ("DATABASE_URL", url.as_str()),
        ("CODEREVIEW_SYNC_KEY", key.as_str()),
    ];

    // Admin commands: the key from stdin, sealed; opting in needs a link first.
    let (code, _, err) = run_cli(&["llm", "key", "set"], &admin, &format!("{LLM_KEY}\n"));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_cli(
        &[
            "link",
            "ai-summary",
            "--repo",
            "Codertocat/Hello-World",
            "--on",
        ],
        &admin,
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("not linked to a channel"), "{err}");
    let (code, _, err) = run_cli(
        &[
            "link",
            "ai-summary",
            "--repo",
            REPO,
            "--off",
            "--pr-comment",
        ],
        &admin,
        "",
    );
    assert_eq!(code, 2, "--pr-comment needs --on: {err}");
    for (args, stdin) in [
        (vec!["workspace", "add", "--team", TEAM], SLACK_TOKEN),
        (
            vec![
                "credential",
                "add",
                "--forge",
                "github",
                "--owner",
                "codertocat",
            ],
            GITHUB_TOKEN,
        ),
        (
            vec![
                "link",
                "add",
                "--repo",
                "Codertocat/Hello-World",
                "--team",
                TEAM,
                "--channel",
                CHANNEL,
            ],
            "",
        ),
    ] {
        let (code, _, err) = run_cli(&args, &admin, stdin);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, out, err) = run_cli(
        &[
            "link",
            "ai-summary",
            "--repo",
            "Codertocat/Hello-World",
            "--on",
        ],
        &admin,
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "AI summary on for codertocat/hello-world: new pull requests are summarised in the Slack thread\n\
         note: `serve` also needs LLM_API_URL and LLM_MODEL (see docs/ai-summary.md)\n"
    );
    let mut with_llm = admin.to_vec();
    with_llm.extend([("LLM_API_URL", llm_base.as_str()), ("LLM_MODEL", MODEL)]);
    let (code, out, err) = run_cli(&["llm", "status"], &with_llm, "");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "AI summaries: on");
    assert_eq!(lines[1], format!("LLM_API_URL\t{llm_base}"));
    assert_eq!(lines[2], format!("LLM_MODEL\t{MODEL}"));
    assert_eq!(lines[3], "LLM_DIFF_BUDGET\t60000");
    assert_eq!(lines[4], "LLM_TIMEOUT_SECS\t30");
    assert!(lines[5].starts_with("API key\tstored, key "), "{out}");
    assert_eq!(lines[6], "any\tcodertocat/hello-world\tSlack thread");
    let (code, out, _) = run_cli(&["credential", "list"], &admin, "");
    assert_eq!(code, 0);
    assert!(
        out.lines().any(|l| l.starts_with("llm\tdefault\tkey ")),
        "{out}"
    );
    // Sealed at rest: the key is nowhere in the file in clear, and opens with the vault.
    let bytes = std::fs::read(dir.path().join("sync.db")).unwrap();
    assert!(!contains(&bytes, LLM_KEY.as_bytes()));
    {
        let store = Store::connect_with(&url, 1).await.unwrap();
        let opened = store
            .credential(&vault(1), CredentialKind::Llm, "default")
            .await
            .unwrap();
        assert_eq!(opened.unwrap().expose(), LLM_KEY);
        store.close().await;
    }

    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .envs([
            ("DATABASE_URL", url.as_str()),
            ("CODEREVIEW_SYNC_KEY", key.as_str()),
            ("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
            ("SLACK_API_URL", slack.api_url().as_str()),
            ("GITHUB_API_URL", github.uri().as_str()),
            ("LLM_API_URL", llm_base.as_str()),
            ("LLM_MODEL", MODEL),
            ("LLM_DIFF_BUDGET", "6000"),
            ("LLM_TIMEOUT_SECS", "10"),
            // Not read by serve: the stored key is used, and a warning says so.
            ("LLM_API_KEY", "sk-env-key-that-serve-ignores"),
            ("LISTEN", "127.0.0.1:0"),
            ("RUST_LOG", "debug"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = Arc::new(Mutex::new(String::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let logs = logs.clone();
        let addr_tx = addr_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(after) = line.split("listening on ").nth(1)
                    && let Some(addr) = after
                        .split(|c: char| c.is_whitespace() || c == '"')
                        .next()
                        .and_then(|a| a.parse().ok())
                {
                    let _ = addr_tx.send(addr);
                }
                let mut logs = logs.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
    }
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = github_fixture("pull_request.opened.payload.json");
    let mut req = http
        .post(format!("http://{addr}/github/webhook"))
        .body(body.clone());
    for (k, v) in github_headers("pull_request", "bin-open", &body) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    assert!(
        wait_for(Duration::from_secs(10), || async {
            slack.writes().await.len() >= 2
        })
        .await,
        "parent and summary posted; logs:\n{}",
        logs.lock().unwrap()
    );
    let w = slack.writes().await;
    assert_eq!(w[1].text(), SLACK_SUMMARY);
    let reqs = llm.requests().await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].headers.get("authorization").unwrap(),
        format!("Bearer {LLM_KEY}").as_str(),
        "the stored key, not LLM_API_KEY"
    );
    let sent: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(sent["model"], MODEL);
    assert!(sent["messages"][1]["content"].as_str().unwrap().len() <= 6000);
    let (status, metrics) = {
        let r = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(
        metrics.contains("codereview_sync_ai_summaries_posted_total 1"),
        "{metrics}"
    );

    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "clean shutdown: {status:?}");
    std::thread::sleep(Duration::from_millis(100));
    let logs = logs.lock().unwrap().clone();
    for needle in [
        "AI summaries available",
        "LLM_API_KEY is not read by serve",
        "AI summary: asking the model",
        "AI summary posted",
    ] {
        assert!(logs.contains(needle), "logs lack {needle:?}:\n{logs}");
    }
    for text in TEXTS.iter().chain(&["sk-env-key-that-serve-ignores"]) {
        assert!(!logs.contains(text), "logs contain {text:?}:\n{logs}");
    }
    let bytes = std::fs::read(dir.path().join("sync.db")).unwrap();
    for text in TEXTS {
        assert!(
            !contains(&bytes, text.as_bytes()),
            "the database holds {text:?}"
        );
    }

    // Off again: the key removed, the repository opted out.
    let (code, out, _) = run_cli(&["llm", "key", "remove"], &admin, "");
    assert_eq!(
        (code, out.as_str()),
        (0, "LLM API key removed: AI summaries are off\n")
    );
    let (code, _, _) = run_cli(&["link", "ai-summary", "--repo", REPO, "--off"], &admin, "");
    assert_eq!(code, 0);
    let (code, out, _) = run_cli(&["llm", "status"], &admin, "");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "AI summaries: off\nLLM_API_URL\tnot set (AI summaries off)\nAPI key\tnot stored (`llm key set`)\nrepositories\tnone (`link ai-summary --repo R --on`)\n"
    );
}

// A prompt-injected model (the diff is attacker-controlled) answers with Slack control
// sequences: they reach Slack as text, and only web links stay links.
matrix! {
    async fn a_prompt_injected_summary_cannot_ping_the_channel(db) {
        let metrics = Metrics::new();
        let injected = "- [urgent](!channel) ask [the boss](@U0ADMIN) <!here> <@U123> <!subteam^S1>\n\
                        - see [docs](https://x.io/d)";
        let llm = FakeLlm::start(ResponseTemplate::new(200).set_body_json(completion(injected))).await;
        let app = spawn_sync_app_with(db, ai_for(&llm, &metrics, Duration::from_secs(5)), Some(metrics.clone())).await;
        opt_in(&app, Forge::GitHub, REPO, false).await;
        store_key(app.store()).await;
        mount_diff(&app, 2).await;

        app.github("pull_request", "d-open", &opened(2)).await;
        let p = posts(&app).await;
        assert_eq!(p.len(), 2, "the parent and the summary");
        assert_eq!(
            p[1].text(),
            "🤖 *AI summary* (model `llama3.1:8b-instruct`)\n\
             - [urgent](!channel) ask [the boss](@U0ADMIN) &lt;!here&gt; &lt;@U123&gt; &lt;!subteam^S1&gt;\n\
             - see <https://x.io/d|docs>\n\
             1 file left out: Cargo.lock; cut short: src/big.rs"
        );
        assert_eq!(
            p[1].body["blocks"][0]["text"]["text"],
            "🤖 *AI summary* (model `llama3.1:8b-instruct`)\n\
             - [urgent](!channel) ask [the boss](@U0ADMIN) &lt;!here&gt; &lt;@U123&gt; &lt;!subteam^S1&gt;\n\
             - see <https://x.io/d|docs>"
        );
    }
}
