//! Scaffolding for the thread-sync end-to-end tests: a fake Slack Web API (wiremock with a
//! stateful responder that hands out message timestamps and remembers what was posted), fake
//! GitHub and GitLab servers, the real service wired to them, payload builders, and the scan
//! that proves no message text reaches the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use codereview_sync::clients::{ForgeApi, GitHubClient, GitLabClient, SlackApi, SlackClient};
use codereview_sync::config::SyncConfig;
use codereview_sync::domain::Forge;
use codereview_sync::metrics::Metrics;
use codereview_sync::secret::Secret;
use codereview_sync::store::{CredentialKind, RepoLink, Store, UserMapping};
use codereview_sync::worker::{AiSummary, SyncHandler};
use serde_json::{Value, json};
use sqlx::Row as _;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

pub const TEAM: &str = "T0001";
/// The channel the GitHub repository is linked to.
pub const CHANNEL: &str = "C0001";
/// The channel the GitLab project is linked to.
pub const GL_CHANNEL: &str = "C0002";
pub const SLACK_TOKEN: &str = "xoxb-test-slack-token-0001";
pub const GITHUB_TOKEN: &str = "ghp_test_github_token_0001";
pub const GITLAB_API_TOKEN: &str = "glpat-test-gitlab-token-0001";
pub const BOT_USER: &str = "UBOT0001";
pub const BOT_ID: &str = "BBOT0001";
/// The fixtures' repository, as stored (lower case).
pub const REPO: &str = "codertocat/hello-world";
pub const GL_REPO: &str = "group/app";
/// A person in Slack, and the name `users.info` gives for them.
pub const JANE: &str = "U0JANE";
pub const JANE_NAME: &str = "Jane Doe";
/// A person whose Slack status says they are on holiday.
pub const AWAY_USER: &str = "U0AWAY";
/// A Slack user whose presence is "away" (no status set).
pub const IDLE_USER: &str = "U0IDLE";
/// The head commit of the fixtures' PR.
pub const HEAD_SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

/// Every comment, review, note or message text the sync tests send through the service, and
/// the tokens: none may be found in any table afterwards.
pub const TEXTS: &[&str] = &[
    // From the GitHub fixtures.
    "You are totally right! I'll get this fixed right away.",
    "Maybe you should use more emoji on this line.",
    "Update the README with new information.",
    // Written by the tests.
    "Ship it, the emoji count is now acceptable",
    "Agreed on emoji, adding a rocket here",
    "Slack says the parser needs another look",
    "Slack says the parser needs two more looks",
    "Replying under the review comment from Slack",
    "GitLab note about the cache eviction policy",
    "GitLab note about the cache eviction policy, revised",
    "GitLab diff note on the retry loop",
    "Slack answer to the retry loop question",
    "Add a response cache",
    "Rate limited comment should still arrive once",
    "Echo of our own words must not come back",
    "2 scopes approved, 1 pending",
    // AI summary tests: diff lines, the model's summary, the LLM key.
    crate::ai_summary::DIFF_SOURCE_TEXT,
    crate::ai_summary::DIFF_LOCKFILE_TEXT,
    crate::ai_summary::DIFF_DOCS_TEXT,
    crate::ai_summary::SUMMARY_TEXT,
    crate::ai_summary::LLM_KEY,
    // Secrets.
    SLACK_TOKEN,
    GITHUB_TOKEN,
    GITLAB_API_TOKEN,
    "xoxb-installed-through-oauth-0002",
    "oauth-client-secret-0003",
];

/// A recorded request to a fake.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub auth: Option<String>,
    pub private_token: Option<String>,
    pub query: HashMap<String, String>,
    /// JSON body, or a form body as a JSON object.
    pub body: Value,
}

impl Call {
    fn from(r: &Request) -> Self {
        let header = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let body = match serde_json::from_slice::<Value>(&r.body) {
            Ok(v) => v,
            Err(_) => {
                let map: serde_json::Map<String, Value> = url::form_urlencoded::parse(&r.body)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect();
                Value::Object(map)
            }
        };
        Call {
            method: r.method.to_string(),
            path: r.url.path().to_string(),
            auth: header("authorization"),
            private_token: header("private-token"),
            query: r.url.query_pairs().into_owned().collect(),
            body,
        }
    }

    /// The `text` field of a Slack call.
    pub fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
struct SlackState {
    next_ts: u64,
    /// Messages posted (with their metadata), for `conversations.*` lookups.
    posted: Vec<Value>,
    /// Answer the next `chat.postMessage` with 429 and this `Retry-After`.
    rate_limit_next_post: Option<u64>,
    post_attempts: Vec<Instant>,
    /// An outage: every call answers, in turn, 429 (`Retry-After: 1`), 503 and 502.
    outage: bool,
    calls_during_outage: usize,
    /// Answer each `chat.postMessage` this much later (the message counts as posted at once).
    post_delay: Option<std::time::Duration>,
    /// `users.getPresence` answers 503 (a Slack without it, or a broken one).
    presence_fails: bool,
}

struct SlackResponder(Arc<Mutex<SlackState>>);

fn ok(v: Value) -> ResponseTemplate {
    let mut v = v;
    v["ok"] = json!(true);
    ResponseTemplate::new(200).set_body_json(v)
}

impl Respond for SlackResponder {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let call = Call::from(r);
        let mut state = self.0.lock().unwrap();
        let method = call.path.trim_start_matches("/api/");
        if state.outage {
            state.calls_during_outage += 1;
            return match state.calls_during_outage % 3 {
                1 => ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_json(json!({"ok": false, "error": "ratelimited"})),
                2 => ResponseTemplate::new(503),
                _ => ResponseTemplate::new(502),
            };
        }
        if method != "oauth.v2.access"
            && call.auth.as_deref() != Some(&format!("Bearer {SLACK_TOKEN}"))
        {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "invalid_auth"}));
        }
        match method {
            "chat.postMessage" => {
                state.post_attempts.push(Instant::now());
                if let Some(after) = state.rate_limit_next_post.take() {
                    return ResponseTemplate::new(429)
                        .insert_header("retry-after", after.to_string().as_str())
                        .set_body_json(json!({"ok": false, "error": "ratelimited"}));
                }
                state.next_ts += 1;
                let ts = format!("1700000{:03}.000100", state.next_ts);
                let mut message = call.body.clone();
                message["ts"] = json!(ts);
                state.posted.push(message);
                let answer = ok(json!({"channel": call.body["channel"], "ts": ts}));
                match state.post_delay {
                    Some(delay) => answer.set_delay(delay),
                    None => answer,
                }
            }
            "chat.update" | "chat.delete" => {
                ok(json!({"channel": call.body["channel"], "ts": call.body["ts"]}))
            }
            "auth.test" => ok(json!({"user_id": BOT_USER, "bot_id": BOT_ID, "team_id": TEAM})),
            "users.info" => {
                let user = call.query.get("user").cloned().unwrap_or_default();
                let name = if user == JANE {
                    JANE_NAME.to_string()
                } else {
                    format!("Person {user}")
                };
                // AWAY_USER is on holiday (a status that has not expired).
                let (emoji, status, expires) = if user == AWAY_USER {
                    (":palm_tree:", "Back on Monday", 4_102_444_800i64)
                } else {
                    ("", "", 0)
                };
                // Jane's profile has a time zone; nobody else's does.
                let tz = if user == JANE {
                    json!("Europe/Berlin")
                } else {
                    Value::Null
                };
                ok(
                    json!({"user": {"id": user, "name": "handle", "real_name": name, "tz": tz,
                    "profile": {"display_name": name, "real_name": name, "email": format!("{}@example.com", user.to_lowercase()),
                                "status_emoji": emoji, "status_text": status, "status_expiration": expires}}}),
                )
            }
            "conversations.open" => {
                // One user, as `users` (a comma-separated list of user ids): our DM with them.
                let users = call.body["users"].as_str().unwrap_or_default();
                let valid = !users.is_empty()
                    && !users.contains(',')
                    && users.starts_with('U')
                    && users
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                if !valid || call.body.as_object().is_some_and(|o| o.len() != 1) {
                    return ResponseTemplate::new(200)
                        .set_body_json(json!({"ok": false, "error": "invalid_arguments"}));
                }
                ok(json!({"channel": {"id": dm_channel(users)}}))
            }
            "users.getPresence" if state.presence_fails => ResponseTemplate::new(503),
            "users.getPresence" => {
                // IDLE_USER has no Slack client connected; everyone else is active.
                let user = call.query.get("user").cloned().unwrap_or_default();
                let presence = if user == IDLE_USER { "away" } else { "active" };
                ok(json!({"presence": presence}))
            }
            "users.lookupByEmail" => ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "users_not_found"})),
            "conversations.replies" | "conversations.history" => {
                let thread = call.query.get("ts").cloned();
                let channel = call.query.get("channel").cloned();
                let messages: Vec<Value> = state
                    .posted
                    .iter()
                    .filter(|m| m["channel"].as_str() == channel.as_deref())
                    .filter(|m| m["thread_ts"].as_str().map(str::to_string) == thread)
                    .cloned()
                    .collect();
                ok(json!({"messages": messages}))
            }
            "oauth.v2.access" => ok(json!({
                "access_token": "xoxb-installed-through-oauth-0002",
                "token_type": "bot",
                "scope": "chat:write",
                "bot_user_id": "UBOT0002",
                "app_id": "A0002",
                "team": {"id": "T0INST", "name": "Acme & Co"},
            })),
            _ => ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "unknown_method"})),
        }
    }
}

/// The id of our direct-message channel with `user` in the fake Slack.
pub fn dm_channel(user: &str) -> String {
    format!("D{}", user.trim_start_matches('U'))
}

/// The fake Slack Web API.
pub struct FakeSlack {
    pub server: MockServer,
    state: Arc<Mutex<SlackState>>,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(SlackState::default()));
        Mock::given(wiremock::matchers::any())
            .respond_with(SlackResponder(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    pub fn api_url(&self) -> url::Url {
        url::Url::parse(&format!("{}/api", self.server.uri())).unwrap()
    }

    /// Every call, in order.
    pub async fn calls(&self) -> Vec<Call> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(Call::from)
            .collect()
    }

    /// Calls that change something in Slack (`chat.*`).
    pub async fn writes(&self) -> Vec<Call> {
        self.calls()
            .await
            .into_iter()
            .filter(|c| c.path.starts_with("/api/chat."))
            .collect()
    }

    /// The ts the next successful post will get.
    pub fn ts(n: u64) -> String {
        format!("1700000{n:03}.000100")
    }

    /// Make the next `chat.postMessage` answer 429 with `Retry-After: secs`.
    pub fn rate_limit_next_post(&self, secs: u64) {
        self.state.lock().unwrap().rate_limit_next_post = Some(secs);
    }

    pub fn post_attempts(&self) -> Vec<Instant> {
        self.state.lock().unwrap().post_attempts.clone()
    }

    /// Answers every later `chat.postMessage` `delay` late (it is posted at once): a sender
    /// can die between Slack posting its message and hearing about it.
    pub fn delay_posts(&self, delay: Option<std::time::Duration>) {
        self.state.lock().unwrap().post_delay = delay;
    }

    /// Starts or ends an outage (429 `Retry-After: 1`, 503, 502 in turn for every call).
    /// Makes `users.getPresence` answer 503.
    pub fn fail_presence(&self) {
        self.state.lock().unwrap().presence_fails = true;
    }

    pub fn set_outage(&self, on: bool) {
        self.state.lock().unwrap().outage = on;
    }

    /// Calls answered with an error during outages.
    pub fn calls_during_outage(&self) -> usize {
        self.state.lock().unwrap().calls_during_outage
    }

    /// Messages posted, in order: (idempotency key, thread_ts, ts).
    pub fn posted(&self) -> Vec<(String, Option<String>, String)> {
        self.state
            .lock()
            .unwrap()
            .posted
            .iter()
            .map(|m| {
                (
                    m["metadata"]["event_payload"]["key"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    m["thread_ts"].as_str().map(str::to_string),
                    m["ts"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// Calls a forge fake received.
pub async fn calls(server: &MockServer) -> Vec<Call> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(Call::from)
        .collect()
}

/// The real service with the real sync handler, wired to fakes, with a workspace, tokens and
/// links in place.
pub struct SyncApp {
    pub app: TestApp,
    pub slack: FakeSlack,
    pub github: MockServer,
    pub gitlab: MockServer,
}

pub async fn spawn_sync_app(db: TestDb) -> SyncApp {
    spawn_sync_app_with(db, |_, _| None, None).await
}

/// [`spawn_sync_app`], with the AI summary that `ai` builds for the fake forges, reporting
/// to `metrics` (also what `/metrics` serves).
pub async fn spawn_sync_app_with(
    db: TestDb,
    ai: impl FnOnce(&MockServer, &MockServer) -> Option<AiSummary>,
    metrics: Option<Metrics>,
) -> SyncApp {
    spawn_sync_app_full(db, ai, metrics, SyncOptions::default()).await
}

/// What a [`spawn_sync_app_full`] service has beyond the defaults.
#[derive(Default)]
pub struct SyncOptions {
    /// Operator-level webhook secrets (default: [`all_secrets`]).
    pub secrets: Option<codereview_sync::config::WebhookSecrets>,
    /// Authenticate GitHub calls as this App (`GITHUB_APP_ID`) against the fake GitHub.
    pub github_app_id: Option<i64>,
    /// `CODEREVIEW_SYNC_LIVE_REVIEW=on`, against the fake forges.
    pub live_review: bool,
    /// One clock for the worker and the handler (reminders, digests), default the system's.
    pub clock: Option<Arc<dyn codereview_sync::clock::Clock>>,
}

/// [`spawn_sync_app_with`] plus [`SyncOptions`].
pub async fn spawn_sync_app_full(
    db: TestDb,
    ai: impl FnOnce(&MockServer, &MockServer) -> Option<AiSummary>,
    metrics: Option<Metrics>,
    options: SyncOptions,
) -> SyncApp {
    let slack = FakeSlack::start().await;
    let github = MockServer::start().await;
    let gitlab = MockServer::start().await;
    let vault = vault(1);
    let store = db.store.clone();
    store
        .add_workspace(&vault, TEAM, &Secret::new(SLACK_TOKEN.into()))
        .await
        .unwrap();
    store
        .put_credential(
            &vault,
            CredentialKind::Forge(Forge::GitHub),
            "codertocat",
            &Secret::new(GITHUB_TOKEN.into()),
        )
        .await
        .unwrap();
    store
        .put_credential(
            &vault,
            CredentialKind::Forge(Forge::GitLab),
            "group",
            &Secret::new(GITLAB_API_TOKEN.into()),
        )
        .await
        .unwrap();
    for (forge, repo, channel) in [
        (Forge::GitHub, REPO, CHANNEL),
        (Forge::GitLab, GL_REPO, GL_CHANNEL),
    ] {
        store
            .add_link(&RepoLink {
                forge: Some(forge),
                repo: repo.into(),
                team_id: TEAM.into(),
                channel_id: channel.into(),
            })
            .await
            .unwrap();
    }
    store
        .map_user(&UserMapping {
            slack_user_id: "U0BOB".into(),
            forge: Forge::GitHub,
            login: "bob".into(),
        })
        .await
        .unwrap();
    let mut handler = sync_handler(&store, vault.clone(), &slack, &github, &gitlab);
    if let Some(metrics) = &metrics {
        handler = handler.with_metrics(metrics.clone());
    }
    if options.live_review {
        let github_url = url::Url::parse(&github.uri()).unwrap();
        let gitlab_url = url::Url::parse(&gitlab.uri()).unwrap();
        let mut live = codereview_sync::config::LiveReview::new(&github_url, Some(&gitlab_url));
        // Within the test worker's 5 s lease.
        live.budget = std::time::Duration::from_secs(2);
        handler = handler.with_live_review(live);
    }
    if let Some(ai) = ai(&github, &gitlab) {
        handler = handler.with_ai_summary(ai);
    }
    if let Some(clock) = &options.clock {
        handler = handler.with_clock(clock.clone());
    }
    if let Some(app_id) = options.github_app_id {
        let base = url::Url::parse(&github.uri()).unwrap();
        handler = handler.with_github_app(Arc::new(
            codereview_sync::clients::github_app::GitHubApp::new(&base, app_id),
        ));
    }
    let app = spawn_app_with(
        db,
        AppOptions {
            handler: Arc::new(handler),
            vault,
            metrics,
            secrets: options.secrets.unwrap_or_else(all_secrets),
            clock: options.clock,
            slack_api: Some(Arc::new(SlackClient::new(&slack.api_url()))),
            ..AppOptions::default()
        },
    )
    .await;
    SyncApp {
        app,
        slack,
        github,
        gitlab,
    }
}

/// [`spawn_sync_app_full`] with one manual clock, standing at `start_ms`, for the worker and
/// the handler (reminders, digests, presence), the live review state on or off, and the
/// handler's metrics on `/metrics`.
pub async fn spawn_at(
    db: TestDb,
    start_ms: i64,
    live_review: bool,
) -> (SyncApp, Arc<codereview_sync::clock::ManualClock>) {
    let clock = Arc::new(codereview_sync::clock::ManualClock::new(start_ms));
    let options = SyncOptions {
        live_review,
        clock: Some(clock.clone()),
        ..SyncOptions::default()
    };
    let metrics = Some(codereview_sync::metrics::Metrics::new());
    (
        spawn_sync_app_full(db, |_, _| None, metrics, options).await,
        clock,
    )
}

/// A second Slack workspace (`T0002`), registered: what tenancy tests must never see.
pub const OTHER_TEAM: &str = "T0002";

/// Registers [`OTHER_TEAM`] with its own bot token.
pub async fn add_other_team(store: &Store) {
    store
        .add_workspace(
            &vault(1),
            OTHER_TEAM,
            &Secret::new("xoxb-other-team-0002".into()),
        )
        .await
        .unwrap();
}

/// The production handler, pointed at the fakes.
pub fn sync_handler(
    store: &Store,
    vault: Arc<codereview_sync::vault::Vault>,
    slack: &FakeSlack,
    github: &MockServer,
    gitlab: &MockServer,
) -> SyncHandler {
    let slack_api: Arc<dyn SlackApi> = Arc::new(SlackClient::new(&slack.api_url()));
    let github_api: Arc<dyn ForgeApi> =
        Arc::new(GitHubClient::new(&url::Url::parse(&github.uri()).unwrap()));
    let gitlab_api: Arc<dyn ForgeApi> =
        Arc::new(GitLabClient::new(&url::Url::parse(&gitlab.uri()).unwrap()));
    SyncHandler::new(
        store.clone(),
        vault,
        slack_api,
        github_api,
        Some(gitlab_api),
        SyncConfig {
            github_app_id: Some(4242),
            status_context: "codereview".into(),
            live_review: None,
        },
    )
}

impl SyncApp {
    pub fn store(&self) -> &Store {
        &self.app.db.store
    }

    /// Delivers a signed GitHub webhook and processes the queue.
    pub async fn github(&self, event: &str, delivery: &str, body: &Value) {
        let (status, text) = self
            .app
            .github(event, delivery, serde_json::to_vec(body).unwrap())
            .await;
        assert_eq!(status, 200, "{text}");
        self.app.drain().await;
    }

    /// Delivers a GitLab webhook and processes the queue.
    pub async fn gitlab(&self, event: &str, key: &str, body: &Value) {
        let (status, text) = self
            .app
            .gitlab(event, key, serde_json::to_vec(body).unwrap())
            .await;
        assert_eq!(status, 200, "{text}");
        self.app.drain().await;
    }

    /// Delivers a signed Slack event and processes the queue.
    pub async fn slack(&self, event_id: &str, event: Value) {
        let (status, text) = self.app.slack(slack_envelope(event_id, event)).await;
        assert_eq!(status, 200, "{text}");
        self.app.drain().await;
    }

    /// No event failed and nothing is left in the queue.
    pub async fn assert_clean(&self) {
        let failures = self.store().failures(10).await.unwrap();
        assert!(
            failures.is_empty(),
            "failures: {:?}",
            failures.iter().map(|f| &f.reason).collect::<Vec<_>>()
        );
        assert_eq!(self.app.queued().await, 0, "queue drained");
    }

    /// Scans every table (and, on SQLite, the database files) for [`TEXTS`].
    pub async fn assert_no_text(&self) {
        assert_no_text(&self.app.db).await;
    }
}

/// Rows of `(team/channel, ts)` style checks: every `comment_messages` row as a tuple.
pub async fn comment_rows(
    store: &Store,
) -> Vec<(String, String, String, String, String, Option<String>)> {
    let sql = "SELECT comment_kind, comment_id, channel_id, message_ts, origin, thread_root \
               FROM comment_messages ORDER BY message_ts";
    match store.pool() {
        codereview_sync::store::Pool::Sqlite(pool) => {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        }
        codereview_sync::store::Pool::Postgres(pool) => {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        }
    }
}

/// Every `pr_threads` row as `(forge, repo, number, channel, ts)`.
pub async fn thread_rows(store: &Store) -> Vec<(String, String, i64, String, String)> {
    let sql =
        "SELECT forge, repo, pr_number, channel_id, thread_ts FROM pr_threads ORDER BY thread_ts";
    match store.pool() {
        codereview_sync::store::Pool::Sqlite(pool) => {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        }
        codereview_sync::store::Pool::Postgres(pool) => {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        }
    }
}

/// Every ledger row as `(platform, container, kind, id)`.
pub async fn ledger_rows(store: &Store) -> Vec<(String, String, String, String)> {
    let sql = "SELECT platform, container, object_kind, object_id FROM ledger ORDER BY platform, object_id";
    match store.pool() {
        codereview_sync::store::Pool::Sqlite(pool) => {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        }
        codereview_sync::store::Pool::Postgres(pool) => {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        }
    }
}

/// Every text and blob value of every table, as bytes with the table's name.
pub async fn all_values(store: &Store) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    match store.pool() {
        codereview_sync::store::Pool::Sqlite(pool) => {
            let tables: Vec<(String,)> =
                sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(pool)
                    .await
                    .unwrap();
            for (table,) in tables {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                for row in rows {
                    for (i, _) in row.columns().iter().enumerate() {
                        if let Ok(Some(v)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                            out.push((table.clone(), v));
                        } else if let Ok(Some(v)) = row.try_get::<Option<String>, _>(i) {
                            out.push((table.clone(), v.into_bytes()));
                        }
                    }
                }
            }
        }
        codereview_sync::store::Pool::Postgres(pool) => {
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for (table,) in tables {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                for row in rows {
                    for (i, _) in row.columns().iter().enumerate() {
                        if let Ok(Some(v)) = row.try_get::<Option<String>, _>(i) {
                            out.push((table.clone(), v.into_bytes()));
                        } else if let Ok(Some(v)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                            out.push((table.clone(), v));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Scans every table for every text in [`TEXTS`] (and, on SQLite, the raw database, WAL and
/// shared-memory files). Also proves the scan can see: identifiers the tests wrote are found.
pub async fn assert_no_text(db: &TestDb) {
    let values = all_values(&db.store).await;
    // The scan must see both kinds of column: text (team ids) and blobs (sealed tokens).
    assert!(
        values
            .iter()
            .any(|(t, v)| t == "workspaces" && v.starts_with(b"T0")),
        "the scan must see text identifiers"
    );
    assert!(
        values
            .iter()
            .any(|(t, v)| t == "credentials" && v.len() >= 16 && !v.is_ascii()),
        "the scan must see sealed blobs"
    );
    for (table, value) in &values {
        for text in TEXTS {
            assert!(!contains(value, text.as_bytes()), "{table} holds {text:?}");
        }
    }
    if let Some(path) = db.sqlite_path() {
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for text in TEXTS {
                assert!(
                    !contains(&bytes, text.as_bytes()),
                    "{} holds {text:?}",
                    file.display()
                );
            }
        }
    }
}

/// A Slack `event_callback` envelope.
pub fn slack_envelope(event_id: &str, event: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "token": "verification-token",
        "team_id": TEAM,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "event": event,
    }))
    .unwrap()
}

/// A person's reply in a thread.
pub fn slack_reply(channel: &str, user: &str, text: &str, ts: &str, thread_ts: &str) -> Value {
    json!({
        "type": "message", "channel": channel, "user": user, "text": text,
        "ts": ts, "thread_ts": thread_ts, "channel_type": "channel",
        "client_msg_id": "6d1f8b1e-5a2c-4e0f-9e0b-0c4f0a1b2c3d",
    })
}

/// A real GitHub payload from the fixtures.
pub fn fixture(name: &str) -> Value {
    serde_json::from_slice(&github_fixture(name)).unwrap()
}

/// The `issue_comment` fixtures comment on issue #1; GitHub sends the same shape for PR
/// conversation comments, with `issue.pull_request` set. Moved onto PR #2 like the others.
pub fn pr_comment(name: &str) -> Value {
    let mut v = fixture(name);
    v["issue"]["number"] = json!(2);
    v["issue"]["pull_request"] = json!({
        "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/2",
        "html_url": "https://github.com/Codertocat/Hello-World/pull/2",
    });
    v["comment"]["html_url"] =
        json!("https://github.com/Codertocat/Hello-World/pull/2#issuecomment-492700400");
    v
}

/// `GET /repos/{o}/{r}/pulls/2` as GitHub answers it (the fixture's PR, with overrides).
pub fn pull(overrides: Value) -> Value {
    let mut pr = fixture("pull_request.opened.payload.json")["pull_request"].clone();
    if let (Some(pr), Some(o)) = (pr.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            pr.insert(k.clone(), v.clone());
        }
    }
    pr
}

/// A GitLab Merge Request Hook body.
pub fn gitlab_mr(action: &str, state: &str) -> Value {
    json!({
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 11, "name": "Ada Lovelace", "username": "ada", "email": "[REDACTED]"},
        "project": {"id": 15, "name": "app", "path_with_namespace": "group/app",
                    "web_url": "https://gitlab.example.com/group/app"},
        "object_attributes": {
            "id": 99, "iid": 1, "title": "Add a response cache", "state": state, "action": action,
            "source_branch": "cache", "target_branch": "main", "draft": false,
            "work_in_progress": false,
            "url": "https://gitlab.example.com/group/app/-/merge_requests/1",
            "last_commit": {"id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}
        },
        "changes": {}
    })
}

/// A GitLab Note Hook body for a note on MR !1.
pub fn gitlab_note(
    id: i64,
    text: &str,
    action: &str,
    note_type: Option<&str>,
    discussion: &str,
) -> Value {
    json!({
        "object_kind": "note",
        "event_type": "note",
        "user": {"id": 12, "name": "Bo Builder", "username": "bo", "email": "[REDACTED]"},
        "project_id": 15,
        "project": {"id": 15, "name": "app", "path_with_namespace": "group/app",
                    "web_url": "https://gitlab.example.com/group/app"},
        "object_attributes": {
            "id": id, "note": text, "noteable_type": "MergeRequest", "author_id": 12,
            "discussion_id": discussion, "type": note_type, "system": false, "action": action,
            "position": if note_type == Some("DiffNote") {
                json!({"new_path": "src/retry.rs", "old_path": "src/retry.rs", "new_line": 42, "old_line": null})
            } else { Value::Null },
            "url": format!("https://gitlab.example.com/group/app/-/merge_requests/1#note_{id}")
        },
        "merge_request": {"id": 99, "iid": 1, "title": "Add a response cache", "state": "opened"}
    })
}

/// Mounts `GET /repos/codertocat/hello-world/pulls/2` (the fixture PR with `pull_overrides`) and
/// the combined status of its head, whose `codereview` status is `status`: `description`.
pub async fn mount_pull_and_status(
    app: &SyncApp,
    pull_overrides: Value,
    status: &str,
    description: &str,
) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/2")))
        .and(header(
            "authorization",
            format!("Bearer {GITHUB_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull(pull_overrides)))
        .mount(&app.github)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/commits/{HEAD_SHA}/status")))
        .and(header(
            "authorization",
            format!("Bearer {GITHUB_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "state": status, "sha": HEAD_SHA,
            "statuses": [
                {"context": "ci/build", "state": "success", "description": "built"},
                {"context": "codereview", "state": status, "description": description}
            ]
        })))
        .mount(&app.github)
        .await;
}
