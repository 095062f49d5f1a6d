//! Typed settings read from the environment (DESIGN §4), parsed once at start-up.
//!
//! Every problem is reported as one line naming the variable and the fix, because the first
//! thing an operator sees of a misconfigured service is its exit message. Each command loads
//! only what it needs: admin commands work with just `DATABASE_URL` and `CODEREVIEW_SYNC_KEY`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use url::Url;

use crate::secret::Secret;
use crate::vault::Vault;

/// Default `DATABASE_URL`: an embedded SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://codereview-sync.db";
/// Default `LISTEN` address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8000";

/// A configuration problem, rendered as one line for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Log output format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (default).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Tuning for the queue worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Events claimed and processed concurrently per step (`CODEREVIEW_SYNC_WORKER_CONCURRENCY`).
    pub concurrency: u32,
    /// How long a claim is exclusive (`CODEREVIEW_SYNC_LEASE_SECONDS`). A crashed worker's
    /// events become claimable again after this long; a handler is cut off before it ends.
    pub lease: Duration,
    /// Retries for errors that are not a provider outage (handler panic or timeout, database)
    /// before the event is given up (`CODEREVIEW_SYNC_MAX_ATTEMPTS`). Provider outages (429,
    /// 5xx, timeouts, connection errors) never count here: see `max_event_age`.
    pub max_attempts: u32,
    /// How long an event keeps waiting out provider outages before it is given up (and kept
    /// for `queue retry-failed`) (`CODEREVIEW_SYNC_MAX_EVENT_AGE`, default 72h).
    pub max_event_age: Duration,
    /// First delay between probes of a provider that backs off; doubles per failed probe.
    pub probe_base: Duration,
    /// Longest delay between probes when the provider gives no `Retry-After`
    /// (`CODEREVIEW_SYNC_PROBE_MAX`, default 10s): bounds how long after a recovery the queue
    /// starts catching up.
    pub probe_max: Duration,
    /// How often an idle worker looks for due events (other replicas' events, retries).
    pub poll_interval: Duration,
    /// First retry delay; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay, also the cap applied to a `Retry-After`.
    pub backoff_max: Duration,
    /// How long SIGTERM waits for in-flight events before releasing them to other workers.
    pub shutdown_grace: Duration,
    /// How long accepted delivery ids are remembered to drop late duplicates.
    pub dedupe_retention: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 32,
            lease: Duration::from_secs(60),
            max_attempts: 10,
            max_event_age: Duration::from_secs(72 * 3600),
            probe_base: Duration::from_secs(1),
            probe_max: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(15 * 60),
            shutdown_grace: Duration::from_secs(20),
            dedupe_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Limits that keep slow or hostile HTTP clients from holding the service's memory or
/// connections (issue 12 §3); see `http::server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// `HTTP_READ_TIMEOUT_SECS`: a client gets this long to send a request's headers (also an
    /// idle keep-alive connection), and again this long for its body; then it is cut off.
    pub read_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS`: connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// `LISTEN_METRICS`: when set, `/metrics` is served there only, not on `LISTEN`.
    pub listen_metrics: Option<SocketAddr>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            listen_metrics: None,
        }
    }
}

/// `HTTP_READ_TIMEOUT_SECS`, `HTTP_MAX_CONNECTIONS` and `LISTEN_METRICS`.
pub fn http_settings(env: &impl Lookup) -> Result<HttpSettings, ConfigError> {
    let defaults = HttpSettings::default();
    let listen_metrics = match env("LISTEN_METRICS") {
        None => None,
        Some(v) => Some(v.trim().parse().map_err(|_| {
            ConfigError(format!(
                "LISTEN_METRICS must be an address like 127.0.0.1:9090, got `{v}`"
            ))
        })?),
    };
    Ok(HttpSettings {
        read_timeout: Duration::from_secs(u64::from(number_var(
            env,
            "HTTP_READ_TIMEOUT_SECS",
            defaults.read_timeout.as_secs() as u32,
            1,
        )?)),
        max_connections: number_var(
            env,
            "HTTP_MAX_CONNECTIONS",
            defaults.max_connections as u32,
            1,
        )? as usize,
        listen_metrics,
    })
}

/// Secrets that authenticate incoming webhooks. `None` means the endpoint is disabled and
/// answers 401 to everything.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// `SLACK_SIGNING_SECRET`: HMAC key for Slack's `v0` signatures.
    pub slack_signing_secret: Option<Secret<String>>,
    /// `GITHUB_WEBHOOK_SECRET`: HMAC key for `X-Hub-Signature-256`.
    pub github_webhook_secret: Option<Secret<String>>,
    /// `GITLAB_WEBHOOK_TOKEN`: the shared token GitLab sends in `X-Gitlab-Token`.
    pub gitlab_webhook_token: Option<Secret<String>>,
}

/// The Slack OAuth install flow (`GET /slack/install`, `GET /slack/oauth/callback`), enabled
/// when `SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET` and `PUBLIC_URL` are all set.
#[derive(Debug, Clone)]
pub struct SlackInstallSettings {
    /// `SLACK_CLIENT_ID` (public).
    pub client_id: String,
    /// `SLACK_CLIENT_SECRET`.
    pub client_secret: Secret<String>,
    /// `PUBLIC_URL`: where Slack sends the browser back (`{PUBLIC_URL}/slack/oauth/callback`).
    pub public_url: Url,
    /// HMAC key for the signed `state`, derived from `CODEREVIEW_SYNC_KEY` so no extra secret
    /// is needed and rotating the vault key also invalidates pending installs.
    pub state_key: Secret<[u8; 32]>,
}

/// Default `LLM_DIFF_BUDGET`: bytes of the user message (title, left-out files, diff) sent to
/// the model. About 15k tokens: fits the context of small local models and keeps cost low.
pub const DEFAULT_LLM_DIFF_BUDGET: u32 = 60_000;
/// Default `LLM_TIMEOUT_SECS`: the bound on one PR's summary (diff fetch and model calls).
pub const DEFAULT_LLM_TIMEOUT_SECS: u32 = 30;

/// The optional AI summary's global settings (`LLM_API_URL` and `LLM_MODEL` turn it on; the API
/// key is stored sealed with `llm key set`, never read from the environment by `serve`).
/// Repositories opt in one by one with `link ai-summary --on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmSettings {
    /// `LLM_API_URL`: base of an OpenAI-compatible API; requests go to
    /// `{LLM_API_URL}/chat/completions`.
    pub api_url: Url,
    /// `LLM_MODEL`: the model name sent in each request.
    pub model: String,
    /// `LLM_DIFF_BUDGET`: most bytes of the user message (the diff is cut to fit).
    pub diff_budget: usize,
    /// `LLM_TIMEOUT_SECS`: one PR's summary (diff fetch, model call and its one retry) gives up
    /// after this long.
    pub timeout: Duration,
}

/// Everything `serve` needs.
#[derive(Debug)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// `LISTEN`: address the HTTP server binds.
    pub listen: SocketAddr,
    /// Keys from `CODEREVIEW_SYNC_KEY` and `CODEREVIEW_SYNC_OLD_KEYS` (shared by the HTTP
    /// side, the worker and the sync handler).
    pub vault: Arc<Vault>,
    /// Webhook verification secrets.
    pub webhooks: WebhookSecrets,
    /// `SLACK_API_URL` (default `https://slack.com/api`).
    pub slack_api_url: Url,
    /// `GITHUB_API_URL` (default `https://api.github.com`).
    pub github_api_url: Url,
    /// `GITLAB_URL` (no default: GitLab is optional).
    pub gitlab_url: Option<Url>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// HTTP client limits and `LISTEN_METRICS`.
    pub http: HttpSettings,
    /// Queue worker tuning.
    pub worker: WorkerSettings,
    /// Thread-sync settings (`GITHUB_APP_ID`, `CODEREVIEW_STATUS_CONTEXT`).
    pub sync: SyncConfig,
    /// The Slack install flow, when configured.
    pub slack_install: Option<SlackInstallSettings>,
    /// The AI summary, when `LLM_API_URL` and `LLM_MODEL` are set.
    pub llm: Option<LlmSettings>,
}

/// Reads env vars through a lookup function, so tests can pass a map instead of mutating the
/// process environment.
pub trait Lookup: Fn(&str) -> Option<String> {}
impl<F: Fn(&str) -> Option<String>> Lookup for F {}

/// The real process environment. A value that is not valid Unicode reads as malformed below,
/// because `var_os` is mapped through lossy conversion.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// `DATABASE_URL`, defaulting to the embedded SQLite file.
pub fn database_url(env: &impl Lookup) -> Result<String, ConfigError> {
    match env("DATABASE_URL") {
        None => Ok(DEFAULT_DATABASE_URL.to_string()),
        Some(url) if url.starts_with("sqlite:") || url.starts_with("postgres") => Ok(url),
        Some(_) => Err(ConfigError(
            "DATABASE_URL must start with sqlite: or postgres:// (e.g. sqlite://codereview-sync.db)"
                .into(),
        )),
    }
}

/// The vault from `CODEREVIEW_SYNC_KEY` (required) and `CODEREVIEW_SYNC_OLD_KEYS`.
pub fn vault(env: &impl Lookup) -> Result<Vault, ConfigError> {
    let Some(key) = env("CODEREVIEW_SYNC_KEY") else {
        return Err(ConfigError(
            "CODEREVIEW_SYNC_KEY is not set: run `codereview-sync keygen` and export the printed key"
                .into(),
        ));
    };
    let old = env("CODEREVIEW_SYNC_OLD_KEYS");
    Vault::from_base64(&key, old.as_deref()).map_err(|e| ConfigError(e.to_string()))
}

fn optional_secret(env: &impl Lookup, name: &str) -> Result<Option<Secret<String>>, ConfigError> {
    match env(name) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Err(ConfigError(format!(
            "{name} is set but empty: set it to the secret, or unset it to disable that endpoint"
        ))),
        Some(v) if v.trim() != v => Err(ConfigError(format!(
            "{name} has leading or trailing whitespace (a pasted newline?): remove it"
        ))),
        Some(v) => Ok(Some(Secret::new(v))),
    }
}

/// The three webhook secrets; a missing one disables its endpoint, an empty one is an error.
pub fn webhook_secrets(env: &impl Lookup) -> Result<WebhookSecrets, ConfigError> {
    Ok(WebhookSecrets {
        slack_signing_secret: optional_secret(env, "SLACK_SIGNING_SECRET")?,
        github_webhook_secret: optional_secret(env, "GITHUB_WEBHOOK_SECRET")?,
        gitlab_webhook_token: optional_secret(env, "GITLAB_WEBHOOK_TOKEN")?,
    })
}

fn url_var(
    env: &impl Lookup,
    name: &str,
    default: Option<&str>,
) -> Result<Option<Url>, ConfigError> {
    match env(name).or_else(|| default.map(String::from)) {
        None => Ok(None),
        Some(v) => match Url::parse(&v) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(url)),
            _ => Err(ConfigError(format!("{name} is not an http(s) URL: `{v}`"))),
        },
    }
}

fn number_var(env: &impl Lookup, name: &str, default: u32, min: u32) -> Result<u32, ConfigError> {
    match env(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(ConfigError(format!(
                "{name} must be a whole number >= {min}, got `{v}`"
            ))),
        },
    }
}

/// A duration written as a number and a unit (`90s`, `15m`, `72h`, `3d`; a bare number is
/// seconds), at least one second.
fn duration_var(env: &impl Lookup, name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let Some(raw) = env(name) else {
        return Ok(default);
    };
    let v = raw.trim();
    let (digits, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let scale = match unit.trim() {
        "" | "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3600),
        "d" => Some(86_400),
        _ => None,
    };
    match (digits.parse::<u64>(), scale) {
        (Ok(n), Some(scale)) if n >= 1 => n
            .checked_mul(scale)
            .map(Duration::from_secs)
            .ok_or_else(|| ConfigError(format!("{name} is too large: `{raw}`"))),
        _ => Err(ConfigError(format!(
            "{name} must be a duration such as 90s, 15m, 72h or 3d, got `{raw}`"
        ))),
    }
}

/// Worker tuning from `CODEREVIEW_SYNC_WORKER_CONCURRENCY`, `CODEREVIEW_SYNC_LEASE_SECONDS`,
/// `CODEREVIEW_SYNC_MAX_ATTEMPTS`, `CODEREVIEW_SYNC_MAX_EVENT_AGE` and
/// `CODEREVIEW_SYNC_PROBE_MAX`.
pub fn worker_settings(env: &impl Lookup) -> Result<WorkerSettings, ConfigError> {
    let defaults = WorkerSettings::default();
    Ok(WorkerSettings {
        concurrency: number_var(
            env,
            "CODEREVIEW_SYNC_WORKER_CONCURRENCY",
            defaults.concurrency,
            1,
        )?,
        lease: Duration::from_secs(u64::from(number_var(
            env,
            "CODEREVIEW_SYNC_LEASE_SECONDS",
            defaults.lease.as_secs() as u32,
            1,
        )?)),
        max_attempts: number_var(
            env,
            "CODEREVIEW_SYNC_MAX_ATTEMPTS",
            defaults.max_attempts,
            1,
        )?,
        max_event_age: duration_var(env, "CODEREVIEW_SYNC_MAX_EVENT_AGE", defaults.max_event_age)?,
        probe_max: duration_var(env, "CODEREVIEW_SYNC_PROBE_MAX", defaults.probe_max)?,
        ..defaults
    })
}

/// Derives the key that signs Slack OAuth `state` values from the vault key.
pub fn derive_state_key(vault_key_b64: &str) -> Result<[u8; 32], ConfigError> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(vault_key_b64.trim())
        .map_err(|_| ConfigError("CODEREVIEW_SYNC_KEY is not a valid key".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(b"codereview-sync/slack-oauth-state/v1");
    Ok(mac.finalize().into_bytes().into())
}

/// `SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`, `PUBLIC_URL`: all three or none.
pub fn slack_install(env: &impl Lookup) -> Result<Option<SlackInstallSettings>, ConfigError> {
    let client_id = env("SLACK_CLIENT_ID").filter(|v| !v.trim().is_empty());
    let client_secret = optional_secret(env, "SLACK_CLIENT_SECRET")?;
    let public_url = url_var(env, "PUBLIC_URL", None)?;
    match (client_id, client_secret, public_url) {
        (None, None, None) => Ok(None),
        (Some(client_id), Some(client_secret), Some(public_url)) => {
            let key = env("CODEREVIEW_SYNC_KEY").unwrap_or_default();
            Ok(Some(SlackInstallSettings {
                client_id: client_id.trim().to_string(),
                client_secret,
                public_url,
                state_key: Secret::new(derive_state_key(&key)?),
            }))
        }
        (id, secret, url) => {
            let missing: Vec<&str> = [
                (id.is_none(), "SLACK_CLIENT_ID"),
                (secret.is_none(), "SLACK_CLIENT_SECRET"),
                (url.is_none(), "PUBLIC_URL"),
            ]
            .into_iter()
            .filter_map(|(m, name)| m.then_some(name))
            .collect();
            Err(ConfigError(format!(
                "the Slack install needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and PUBLIC_URL together: set {} (or unset the others)",
                missing.join(" and ")
            )))
        }
    }
}

/// Handler settings beyond the clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// `GITHUB_APP_ID`: comments made through this App are ours.
    pub github_app_id: Option<i64>,
    /// `CODEREVIEW_STATUS_CONTEXT` (default `codereview`): the status shown on parents.
    pub status_context: String,
    /// `CODEREVIEW_SYNC_LIVE_REVIEW` (on unless `off`): parents show each matched scope's state
    /// and who can still approve, evaluated here from the repository's `CODEREVIEW.toml`.
    pub live_review: Option<LiveReview>,
}

/// Where the live review state reads the rules and facts from (the same APIs as the sync).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveReview {
    /// GitHub's REST base (`GITHUB_API_URL`).
    pub github_api_url: String,
    /// GitHub's GraphQL endpoint: `GITHUB_GRAPHQL_URL` when set, else `https://HOST/api/graphql`
    /// for a GitHub Enterprise Server REST base `https://HOST/api/v3`, else `{REST base}/graphql`.
    pub github_graphql_url: String,
    /// GitLab's API base (`GITLAB_URL` + `/api/v4`), when GitLab is configured.
    pub gitlab_api_url: Option<String>,
    /// How long reading a pull request may take: a slow forge delays the parent by at most
    /// this, then the parent goes out without the scope lines (10 s, well within the lease).
    pub budget: std::time::Duration,
}

impl LiveReview {
    /// The API bases of the service's GitHub and (optional) GitLab.
    pub fn new(github_api_url: &Url, gitlab_url: Option<&Url>) -> Self {
        let rest = github_api_url.as_str().trim_end_matches('/').to_string();
        LiveReview {
            github_api_url: rest.clone(),
            github_graphql_url: match rest.strip_suffix("/api/v3") {
                Some(host) => format!("{host}/api/graphql"),
                None => format!("{rest}/graphql"),
            },
            gitlab_api_url: gitlab_url
                .map(|u| format!("{}/api/v4", u.as_str().trim_end_matches('/'))),
            budget: std::time::Duration::from_secs(10),
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            github_app_id: None,
            status_context: codereview_policy::STATUS_CONTEXT.into(),
            live_review: None,
        }
    }
}

/// `GITHUB_APP_ID` and `CODEREVIEW_STATUS_CONTEXT`.
pub fn sync_config(env: &impl Lookup) -> Result<SyncConfig, ConfigError> {
    let github_app_id = match env("GITHUB_APP_ID") {
        None => None,
        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
            ConfigError(format!(
                "GITHUB_APP_ID must be the App's numeric id, got `{v}`"
            ))
        })?),
    };
    let status_context = match env("CODEREVIEW_STATUS_CONTEXT") {
        None => SyncConfig::default().status_context,
        Some(v) if v.trim().is_empty() => {
            return Err(ConfigError(
                "CODEREVIEW_STATUS_CONTEXT is set but empty: unset it to use `codereview`".into(),
            ));
        }
        Some(v) => v.trim().to_string(),
    };
    Ok(SyncConfig {
        github_app_id,
        status_context,
        live_review: None,
    })
}

/// `CODEREVIEW_SYNC_LIVE_REVIEW`: `on` (the default: the parent is the live review state) or
/// `off` (the parent shows only the pull request and its `codereview` status, and the service
/// reads nothing else from the forge).
pub fn live_review_on(env: &impl Lookup) -> Result<bool, ConfigError> {
    match env("CODEREVIEW_SYNC_LIVE_REVIEW").as_deref().map(str::trim) {
        Some("off") | Some("false") | Some("0") => Ok(false),
        None | Some("") | Some("on") | Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ConfigError(format!(
            "CODEREVIEW_SYNC_LIVE_REVIEW must be `on` or `off`, got `{other}`"
        ))),
    }
}

/// `LLM_API_URL`, `LLM_MODEL`, `LLM_DIFF_BUDGET`, `LLM_TIMEOUT_SECS`: `None` (summaries off)
/// unless both the URL and the model are set. The timeout must leave the worker time to
/// finish the event: at most half the lease.
pub fn llm_settings(
    env: &impl Lookup,
    worker: &WorkerSettings,
) -> Result<Option<LlmSettings>, ConfigError> {
    let api_url = url_var(env, "LLM_API_URL", None)?;
    let model = env("LLM_MODEL").map(|m| m.trim().to_string());
    let diff_budget = number_var(
        env,
        "LLM_DIFF_BUDGET",
        DEFAULT_LLM_DIFF_BUDGET,
        crate::sync::summary::MIN_BUDGET as u32,
    )?;
    let timeout_secs = number_var(env, "LLM_TIMEOUT_SECS", DEFAULT_LLM_TIMEOUT_SECS, 1)?;
    let (api_url, model) = match (api_url, model) {
        (None, None) => return Ok(None),
        (Some(url), Some(model)) if !model.is_empty() => (url, model),
        (Some(_), _) => {
            return Err(ConfigError(
                "LLM_API_URL is set but LLM_MODEL is not: name the model (e.g. LLM_MODEL=llama3.1:8b), or unset LLM_API_URL to turn AI summaries off".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError(
                "LLM_MODEL is set but LLM_API_URL is not: set it to an OpenAI-compatible base URL (e.g. http://localhost:11434/v1), or unset LLM_MODEL".into(),
            ));
        }
    };
    let timeout = Duration::from_secs(u64::from(timeout_secs));
    if timeout * 2 > worker.lease {
        return Err(ConfigError(format!(
            "LLM_TIMEOUT_SECS ({timeout_secs}) must be at most half of CODEREVIEW_SYNC_LEASE_SECONDS ({}), so a slow model never outlives the event's lease",
            worker.lease.as_secs()
        )));
    }
    Ok(Some(LlmSettings {
        api_url,
        model,
        diff_budget: diff_budget as usize,
        timeout,
    }))
}

impl Settings {
    /// Loads every setting `serve` needs.
    pub fn load(env: &impl Lookup) -> Result<Self, ConfigError> {
        let vault = vault(env)?;
        let webhooks = webhook_secrets(env)?;
        let database_url = database_url(env)?;
        let listen_raw = env("LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_raw.parse().map_err(|_| {
            ConfigError(format!(
                "LISTEN must be an address like 0.0.0.0:8000, got `{listen_raw}`"
            ))
        })?;
        let log_format = match env("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError(format!(
                    "LOG_FORMAT must be `json` or `text`, got `{other}`"
                )));
            }
        };
        let worker = worker_settings(env)?;
        let github_api_url =
            url_var(env, "GITHUB_API_URL", Some("https://api.github.com"))?.expect("has a default");
        let gitlab_url = url_var(env, "GITLAB_URL", None)?;
        let mut sync = sync_config(env)?;
        if live_review_on(env)? {
            let mut live = LiveReview::new(&github_api_url, gitlab_url.as_ref());
            if let Some(graphql) = url_var(env, "GITHUB_GRAPHQL_URL", None)? {
                live.github_graphql_url = graphql.as_str().trim_end_matches('/').to_string();
            }
            sync.live_review = Some(live);
        }
        Ok(Self {
            database_url,
            listen,
            vault: Arc::new(vault),
            webhooks,
            slack_api_url: url_var(env, "SLACK_API_URL", Some("https://slack.com/api"))?
                .expect("has a default"),
            github_api_url,
            gitlab_url,
            log_format,
            http: http_settings(env)?,
            llm: llm_settings(env, &worker)?,
            worker,
            sync,
            slack_install: slack_install(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Lookup {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn only_the_key_is_required() {
        let s = Settings::load(&env(&[("CODEREVIEW_SYNC_KEY", KEY)])).unwrap();
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert!(s.webhooks.slack_signing_secret.is_none());
        assert_eq!(s.slack_api_url.as_str(), "https://slack.com/api");
        assert_eq!(s.github_api_url.as_str(), "https://api.github.com/");
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.worker, WorkerSettings::default());
    }

    #[test]
    fn the_live_review_state_is_on_unless_turned_off() {
        let on = Settings::load(&env(&[("CODEREVIEW_SYNC_KEY", KEY)])).unwrap();
        let live = on.sync.live_review.expect("on by default");
        assert_eq!(live.github_api_url, "https://api.github.com");
        assert_eq!(live.github_graphql_url, "https://api.github.com/graphql");
        let ghes = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
        ]))
        .unwrap();
        let live = ghes.sync.live_review.unwrap();
        assert_eq!(
            live.github_graphql_url,
            "https://ghe.example.com/api/graphql"
        );
        let set = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("GITHUB_GRAPHQL_URL", "http://127.0.0.1:9/gql"),
        ]))
        .unwrap();
        assert_eq!(
            set.sync.live_review.unwrap().github_graphql_url,
            "http://127.0.0.1:9/gql"
        );
        assert_eq!(live.gitlab_api_url, None);
        for off in ["off", "false", "0"] {
            let s = Settings::load(&env(&[
                ("CODEREVIEW_SYNC_KEY", KEY),
                ("CODEREVIEW_SYNC_LIVE_REVIEW", off),
            ]))
            .unwrap();
            assert!(s.sync.live_review.is_none(), "{off}");
        }
        let err = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("CODEREVIEW_SYNC_LIVE_REVIEW", "maybe"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("CODEREVIEW_SYNC_LIVE_REVIEW must be `on` or `off`"),
            "{err}"
        );
    }

    #[test]
    fn missing_or_malformed_key_is_one_clear_line() {
        let err = Settings::load(&env(&[])).unwrap_err().to_string();
        assert!(err.contains("CODEREVIEW_SYNC_KEY is not set"), "{err}");
        assert!(!err.contains('\n'));
        let err = Settings::load(&env(&[("CODEREVIEW_SYNC_KEY", "short")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CODEREVIEW_SYNC_KEY is not a valid key"),
            "{err}"
        );
        let err = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("CODEREVIEW_SYNC_OLD_KEYS", "nope"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("CODEREVIEW_SYNC_OLD_KEYS"), "{err}");
    }

    #[test]
    fn empty_or_padded_signing_secrets_stop_start_up() {
        for name in [
            "SLACK_SIGNING_SECRET",
            "GITHUB_WEBHOOK_SECRET",
            "GITLAB_WEBHOOK_TOKEN",
        ] {
            let err = Settings::load(&env(&[("CODEREVIEW_SYNC_KEY", KEY), (name, "")]))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(name) && err.contains("empty"), "{err}");
            let err = Settings::load(&env(&[("CODEREVIEW_SYNC_KEY", KEY), (name, "abc\n")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("whitespace"), "{err}");
        }
        let s = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("SLACK_SIGNING_SECRET", "s3cr3t"),
        ]))
        .unwrap();
        assert_eq!(s.webhooks.slack_signing_secret.unwrap().expose(), "s3cr3t");
    }

    #[test]
    fn other_values_are_checked() {
        let base = [("CODEREVIEW_SYNC_KEY", KEY)];
        for (name, value) in [
            ("LISTEN", "localhost"),
            ("LOG_FORMAT", "yaml"),
            ("DATABASE_URL", "mysql://x"),
            ("SLACK_API_URL", "ftp://x"),
            ("CODEREVIEW_SYNC_LEASE_SECONDS", "0"),
            ("CODEREVIEW_SYNC_WORKER_CONCURRENCY", "many"),
        ] {
            let mut pairs = base.to_vec();
            pairs.push((name, value));
            let err = Settings::load(&env(&pairs)).unwrap_err().to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
        let s = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("LOG_FORMAT", "json"),
            ("CODEREVIEW_SYNC_LEASE_SECONDS", "5"),
            ("GITLAB_URL", "https://gitlab.example.com"),
        ]))
        .unwrap();
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.worker.lease, Duration::from_secs(5));
        assert!(s.gitlab_url.is_some());
    }

    #[test]
    fn http_limits_and_metrics_address() {
        let s = Settings::load(&env(&[("CODEREVIEW_SYNC_KEY", KEY)])).unwrap();
        assert_eq!(s.http, HttpSettings::default());
        let s = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("HTTP_READ_TIMEOUT_SECS", "3"),
            ("HTTP_MAX_CONNECTIONS", "64"),
            ("LISTEN_METRICS", "127.0.0.1:9090"),
        ]))
        .unwrap();
        assert_eq!(s.http.read_timeout, Duration::from_secs(3));
        assert_eq!(s.http.max_connections, 64);
        assert_eq!(
            s.http.listen_metrics,
            Some("127.0.0.1:9090".parse().unwrap())
        );
        for (name, value) in [
            ("HTTP_READ_TIMEOUT_SECS", "0"),
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("LISTEN_METRICS", "metrics"),
        ] {
            let err = Settings::load(&env(&[("CODEREVIEW_SYNC_KEY", KEY), (name, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn llm_settings_are_all_or_nothing() {
        let base = [("CODEREVIEW_SYNC_KEY", KEY)];
        let s = Settings::load(&env(&base)).unwrap();
        assert_eq!(s.llm, None, "off by default");
        let s = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("LLM_API_URL", "http://localhost:11434/v1"),
            ("LLM_MODEL", "llama3.1:8b"),
        ]))
        .unwrap();
        let llm = s.llm.unwrap();
        assert_eq!(llm.api_url.as_str(), "http://localhost:11434/v1");
        assert_eq!(llm.model, "llama3.1:8b");
        assert_eq!(llm.diff_budget, 60_000);
        assert_eq!(llm.timeout, Duration::from_secs(30));
        let s = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("LLM_API_URL", "https://api.openai.com/v1"),
            ("LLM_MODEL", "gpt-4o-mini"),
            ("LLM_DIFF_BUDGET", "20000"),
            ("LLM_TIMEOUT_SECS", "10"),
        ]))
        .unwrap();
        let llm = s.llm.unwrap();
        assert_eq!(
            (llm.diff_budget, llm.timeout),
            (20_000, Duration::from_secs(10))
        );
        for (pairs, needle) in [
            (vec![("LLM_API_URL", "http://x/v1")], "LLM_MODEL"),
            (vec![("LLM_MODEL", "m")], "LLM_API_URL"),
            (
                vec![("LLM_API_URL", "ftp://x"), ("LLM_MODEL", "m")],
                "LLM_API_URL",
            ),
            (
                vec![("LLM_API_URL", "http://x/v1"), ("LLM_MODEL", " ")],
                "LLM_MODEL",
            ),
            (
                vec![
                    ("LLM_API_URL", "http://x/v1"),
                    ("LLM_MODEL", "m"),
                    ("LLM_DIFF_BUDGET", "100"),
                ],
                "LLM_DIFF_BUDGET",
            ),
            (
                vec![
                    ("LLM_API_URL", "http://x/v1"),
                    ("LLM_MODEL", "m"),
                    ("LLM_TIMEOUT_SECS", "31"),
                ],
                "LLM_TIMEOUT_SECS",
            ),
        ] {
            let mut all = base.to_vec();
            all.extend(pairs);
            let err = Settings::load(&env(&all)).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(!err.contains('\n'));
        }
        // A longer lease allows a longer timeout.
        let s = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("LLM_API_URL", "http://x/v1"),
            ("LLM_MODEL", "m"),
            ("LLM_TIMEOUT_SECS", "60"),
            ("CODEREVIEW_SYNC_LEASE_SECONDS", "120"),
        ]))
        .unwrap();
        assert_eq!(s.llm.unwrap().timeout, Duration::from_secs(60));
    }

    #[test]
    fn sync_and_install_settings() {
        let s = Settings::load(&env(&[("CODEREVIEW_SYNC_KEY", KEY)])).unwrap();
        assert_eq!(
            s.sync,
            SyncConfig {
                live_review: Some(LiveReview::new(&s.github_api_url, None)),
                ..SyncConfig::default()
            }
        );
        assert!(s.slack_install.is_none());
        let s = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("GITHUB_APP_ID", "12345"),
            ("CODEREVIEW_STATUS_CONTEXT", "review"),
            ("SLACK_CLIENT_ID", "1.2"),
            ("SLACK_CLIENT_SECRET", "shh"),
            ("PUBLIC_URL", "https://sync.example.com"),
        ]))
        .unwrap();
        assert_eq!(s.sync.github_app_id, Some(12345));
        assert_eq!(s.sync.status_context, "review");
        let install = s.slack_install.unwrap();
        assert_eq!(install.client_id, "1.2");
        assert_eq!(install.state_key.expose(), &derive_state_key(KEY).unwrap());
        assert!(!format!("{install:?}").contains("shh"));
        let err = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("SLACK_CLIENT_ID", "1.2"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("SLACK_CLIENT_SECRET and PUBLIC_URL"), "{err}");
        let err = Settings::load(&env(&[
            ("CODEREVIEW_SYNC_KEY", KEY),
            ("GITHUB_APP_ID", "app"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("GITHUB_APP_ID"), "{err}");
        assert_ne!(
            derive_state_key(KEY).unwrap(),
            derive_state_key("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap()
        );
    }

    #[test]
    fn outage_limits_are_durations() {
        let w = worker_settings(&env(&[])).unwrap();
        assert_eq!(w.max_event_age, Duration::from_secs(72 * 3600));
        assert_eq!(w.probe_max, Duration::from_secs(10));
        let w = worker_settings(&env(&[
            ("CODEREVIEW_SYNC_MAX_EVENT_AGE", "3d"),
            ("CODEREVIEW_SYNC_PROBE_MAX", "30"),
        ]))
        .unwrap();
        assert_eq!(w.max_event_age, Duration::from_secs(3 * 86_400));
        assert_eq!(w.probe_max, Duration::from_secs(30));
        for bad in ["", "0h", "72 hours", "-1s", "1.5h"] {
            let err = worker_settings(&env(&[("CODEREVIEW_SYNC_MAX_EVENT_AGE", bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("CODEREVIEW_SYNC_MAX_EVENT_AGE must be a duration"),
                "{bad}: {err}"
            );
        }
    }
}
