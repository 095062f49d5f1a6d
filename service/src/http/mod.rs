//! The HTTP surface (warp): three webhook endpoints, the `/codereview` slash command
//! ([`commands`], signed and size-limited like the Slack events endpoint, answered at once),
//! `GET /healthz`, `GET /metrics` and the Slack install pair ([`slack_install`]), served by
//! [`server`] (timeouts and memory bounds for slow clients).
//!
//! A webhook request goes through the same steps for every source, in this order, and the
//! first failing step answers:
//!
//! | step | failure |
//! |---|---|
//! | 1. size: `Content-Length` and the bytes actually read, at most 1 MiB, within `HTTP_READ_TIMEOUT_SECS` | 413, 408 |
//! | 2. signature (Slack `v0` HMAC + 5-minute window, GitHub `X-Hub-Signature-256`, GitLab `X-Gitlab-Token`), constant-time, on the raw bytes; GitHub and GitLab with the operator-level secret or the secret of the repository the payload names ([`tenant`]) | 401 |
//! | 3. `Content-Type: application/json` | 415 |
//! | 4. JSON shape and the delivery headers (event name, delivery id) | 400 |
//! | 5. queue (sealed) — or answer Slack's `url_verification` / GitHub's `ping` | 200 |
//!
//! Nothing is written to the database before step 5, so every rejected request leaves no
//! trace but a log line and a metric. Duplicates (same delivery id; for GitHub, same body, see
//! [`github`]) answer 200 and are not queued again.

pub mod commands;
pub mod github;
pub mod gitlab;
pub mod server;
pub mod slack;
pub mod slack_install;
pub mod tenant;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use futures::{Stream, StreamExt};
use http::{HeaderMap, StatusCode, header};
use serde_json::json;
use tokio::sync::Notify;
use warp::Filter;
use warp::Reply as _;
use warp::reply::Response;

use crate::config::{HttpSettings, WebhookSecrets};
use crate::domain::{Forge, Source};
use crate::ingest::Ingestor;
use crate::metrics::Metrics;
use crate::store::{Enqueued, NewEvent, Store, now_ms};
use crate::vault::Vault;

/// Largest accepted request body (1 MiB). Slack caps events far below this; GitHub caps
/// webhook payloads at 25 MB but PR events with huge bodies are not worth queueing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Everything a request handler needs, shared by all requests.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Group-commit writer for accepted deliveries.
    pub ingestor: Ingestor,
    /// Seals queued payloads.
    pub vault: Arc<Vault>,
    /// Request and queue metrics.
    pub metrics: Metrics,
    /// Slack signature check; `None` = endpoint disabled (401).
    pub slack: Option<slack::SlackVerifier>,
    /// GitHub signature check (`GITHUB_WEBHOOK_SECRET`); `None` = per-repository secrets only.
    pub github: Option<github::GitHubVerifier>,
    /// GitLab token check (`GITLAB_WEBHOOK_TOKEN`); `None` = per-repository secrets only.
    pub gitlab: Option<gitlab::GitLabVerifier>,
    /// Per-repository and per-owner webhook secrets (`webhook-secret add`).
    pub tenants: tenant::TenantSecrets,
    /// Wakes this process's worker when an event is queued.
    pub wake: Arc<Notify>,
    /// The Slack OAuth install flow; `None` = `/slack/install` answers 404 with a hint.
    pub slack_install: Option<Arc<slack_install::SlackInstall>>,
    /// Client limits (the body read timeout) and whether `/metrics` moved to `LISTEN_METRICS`.
    pub limits: HttpSettings,
    /// Memory for request bodies beyond [`server::FREE_BODY_BYTES`], shared by all requests.
    pub body_budget: server::BodyBudget,
    /// The Slack Web API for `/codereview digest on`'s time zone lookup; `None` = UTC.
    pub slack_api: Option<Arc<dyn crate::clients::SlackApi>>,
    /// What `/codereview` reads "now" from (waiting times, the next digest).
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("slack", &self.slack.is_some())
            .field("github", &self.github.is_some())
            .field("gitlab", &self.gitlab.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state, turning each configured secret into a verifier and starting the
    /// ingest writers, which stamp deliveries with `clock` (call inside a Tokio runtime).
    pub fn new(
        store: Store,
        vault: Arc<Vault>,
        metrics: Metrics,
        secrets: &WebhookSecrets,
        wake: Arc<Notify>,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        Self {
            ingestor: Ingestor::start_timed(store.clone(), clock.clone()),
            tenants: tenant::TenantSecrets::new(
                store.clone(),
                vault.clone(),
                tenant::SECRET_CACHE_TTL,
            ),
            store,
            vault,
            metrics,
            slack: secrets
                .slack_signing_secret
                .as_ref()
                .map(slack::SlackVerifier::new),
            github: secrets
                .github_webhook_secret
                .as_ref()
                .map(github::GitHubVerifier::new),
            gitlab: secrets
                .gitlab_webhook_token
                .as_ref()
                .map(gitlab::GitLabVerifier::new),
            wake,
            slack_install: None,
            limits: HttpSettings::default(),
            body_budget: server::BodyBudget::default(),
            slack_api: None,
            clock,
        }
    }
}

/// Why a webhook request was refused. The message is safe to log and to send back: it names
/// the failed check, never a secret or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Body over [`MAX_BODY_BYTES`].
    #[error("body larger than 1 MiB")]
    TooLarge,
    /// The body did not arrive within `HTTP_READ_TIMEOUT_SECS`.
    #[error("body not received in time")]
    Timeout,
    /// Signature missing, malformed, wrong or stale; or the endpoint is not configured.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Not `application/json`.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// A slash command that is not `application/x-www-form-urlencoded`.
    #[error("content type must be application/x-www-form-urlencoded")]
    NotForm,
    /// Signed, but not a delivery we can read.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The database failed; the sender should retry.
    #[error("internal error")]
    Internal,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Timeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Refusal::UnsupportedMediaType | Refusal::NotForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn into_response(self) -> Response {
        let mut response = json_response(
            self.status(),
            &json!({ "ok": false, "error": self.to_string() }),
        );
        if matches!(self, Refusal::TooLarge | Refusal::Timeout) {
            // The rest of the body is not read: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        response
    }
}

/// What a verified, well-formed request asks for.
#[derive(Debug)]
pub enum Delivery {
    /// Queue it under this delivery id and event name.
    Queue {
        /// Delivery id (dedupe key).
        dedupe_key: String,
        /// Event name.
        kind: String,
    },
    /// Answer directly without queueing (Slack `url_verification`, GitHub `ping`).
    Answer(Response),
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`]: first by the declared
/// `Content-Length` (without reading), then by counting the bytes actually received (chunked
/// bodies declare nothing). Memory comes from `budget` (see [`server`]): a body declared larger
/// than [`server::FREE_BODY_BYTES`] reserves all of it before the first byte is read (so while
/// the budget is spent it waits without reading its socket), a chunked one pays for what it
/// grows past that allowance, a small one is free. The returned reservation holds the memory
/// until the request is done. The caller bounds the time.
async fn read_body<S, B>(
    headers: &HeaderMap,
    body: S,
    budget: &server::BodyBudget,
) -> Result<(Bytes, server::Reservation), Refusal>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Refusal::TooLarge);
    }
    let mut reservation = budget.reservation();
    let capacity = match declared.map(|n| n as usize) {
        Some(n) if n > server::FREE_BODY_BYTES => {
            reservation.grow_to(n).await;
            n
        }
        Some(n) => n,
        None => 4096,
    };
    // A `Vec` grown with `reserve_exact` holds exactly what the budget paid for.
    let mut buf: Vec<u8> = Vec::with_capacity(capacity);
    futures::pin_mut!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| Refusal::BadRequest("body could not be read"))?;
        let needed = buf.len() + chunk.remaining();
        if needed > MAX_BODY_BYTES {
            return Err(Refusal::TooLarge);
        }
        if needed > buf.capacity() {
            // Only a chunked body grows (hyper holds a declared one to its length).
            let target = needed.max(buf.capacity() * 2).min(MAX_BODY_BYTES);
            reservation
                .grow_to(target.saturating_sub(server::FREE_BODY_BYTES))
                .await;
            buf.reserve_exact(target - buf.len());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buf.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok((Bytes::from(buf), reservation))
}

/// True for `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    has_media_type(headers, "application/json")
}

/// Whether the `Content-Type` is `mime` (any case), with or without parameters.
pub(crate) fn has_media_type(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
}

/// A header as text, if present and visible ASCII.
pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks a delivery id taken from a header or payload before it becomes a database key.
pub(crate) fn delivery_id(value: &str) -> Result<String, Refusal> {
    let ok = !value.is_empty() && value.len() <= 200 && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(value.to_string())
    } else {
        Err(Refusal::BadRequest(
            "delivery id is empty, too long or not printable",
        ))
    }
}

/// Checks an event name (`pull_request`, `Note Hook`, `message`) before it is stored.
pub(crate) fn event_name(value: &str) -> Result<String, Refusal> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if ok {
        Ok(value.to_string())
    } else {
        Err(Refusal::BadRequest(
            "event name is empty, too long or not printable",
        ))
    }
}

fn endpoint(source: Source) -> &'static str {
    match source {
        Source::Slack => "/slack/events",
        Source::GitHub => "/github/webhook",
        Source::GitLab => "/gitlab/webhook",
        Source::Timer => "internal",
    }
}

async fn ingest<S, B>(state: Arc<AppState>, source: Source, headers: HeaderMap, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let started = Instant::now();
    let response = match accept(&state, source, &headers, body).await {
        Ok(response) => response,
        Err(refusal) => {
            tracing::warn!(source = %source, status = refusal.status().as_u16(), reason = %refusal, "webhook refused");
            refusal.into_response()
        }
    };
    state.metrics.http_request(
        endpoint(source),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn accept<S, B>(
    state: &AppState,
    source: Source,
    headers: &HeaderMap,
    body: S,
) -> Result<Response, Refusal>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let read = read_body(headers, body, &state.body_budget);
    let (body, _reservation) = tokio::time::timeout(state.limits.read_timeout, read)
        .await
        .map_err(|_| Refusal::Timeout)??;
    let now = now_ms();
    match source {
        Source::Slack => slack::verify(state.slack.as_ref(), headers, &body, now / 1000)?,
        Source::GitHub => {
            let operator = state.github.as_ref().map(tenant::OperatorVerifier::GitHub);
            let operator = operator.as_ref();
            state
                .tenants
                .verify(Forge::GitHub, operator, headers, &body)
                .await?
        }
        Source::GitLab => {
            let operator = state.gitlab.as_ref().map(tenant::OperatorVerifier::GitLab);
            let operator = operator.as_ref();
            state
                .tenants
                .verify(Forge::GitLab, operator, headers, &body)
                .await?
        }
        Source::Timer => return Err(Refusal::BadRequest("timers are not delivered over HTTP")),
    }
    if !is_json(headers) {
        return Err(Refusal::UnsupportedMediaType);
    }
    let delivery = match source {
        Source::Slack => slack::parse(headers, &body)?,
        Source::GitHub => github::parse(headers, &body)?,
        Source::GitLab => gitlab::parse(headers, &body)?,
        Source::Timer => return Err(Refusal::BadRequest("timers are not delivered over HTTP")),
    };
    let (dedupe_key, kind) = match delivery {
        Delivery::Answer(response) => return Ok(response),
        Delivery::Queue { dedupe_key, kind } => (dedupe_key, kind),
    };
    let event = NewEvent {
        source,
        dedupe_key: &dedupe_key,
        kind: &kind,
        payload: &body,
    };
    let outcome = state
        .ingestor
        .submit(event.seal(&state.vault))
        .await
        .map_err(|e| {
            tracing::error!(source = %source, error = %e, "could not queue event");
            Refusal::Internal
        })?;
    let duplicate = outcome == Enqueued::Duplicate;
    state
        .metrics
        .event_received(source, if duplicate { "duplicate" } else { "queued" });
    if duplicate {
        tracing::info!(source = %source, kind = %kind, dedupe_key = %dedupe_key, "duplicate delivery ignored");
    } else {
        tracing::debug!(source = %source, kind = %kind, dedupe_key = %dedupe_key, "event queued");
        state.wake.notify_one();
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ok": true, "duplicate": duplicate }),
    ))
}

async fn healthz(state: Arc<AppState>) -> Response {
    let started = Instant::now();
    let response =
        warp::reply::with_header("ok\n", header::CONTENT_TYPE, "text/plain").into_response();
    state
        .metrics
        .http_request("/healthz", 200, started.elapsed());
    response
}

async fn metrics(state: Arc<AppState>) -> Response {
    let started = Instant::now();
    match state.store.queue_depth().await {
        Ok(depth) => state.metrics.set_queue_depth(depth),
        Err(e) => tracing::warn!(error = %e, "could not read queue depth"),
    }
    match state.store.provider_overview().await {
        Ok(p) => state
            .metrics
            .set_providers(&crate::metrics::provider_gauges(&p, crate::store::now_ms())),
        Err(e) => tracing::warn!(error = %e, "could not read provider states"),
    }
    // Count this scrape before rendering so the output includes it.
    state
        .metrics
        .http_request("/metrics", 200, started.elapsed());
    warp::reply::with_header(
        state.metrics.render(),
        header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )
    .into_response()
}

/// The complete route table. Unknown paths answer 404 and wrong methods 405, both counted
/// under the `unmatched` endpoint label.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };
    let webhook = |source: Source| {
        with_state
            .clone()
            .and(warp::post())
            .and(warp::header::headers_cloned())
            .and(warp::body::stream())
            .then(move |state, headers, body| ingest(state, source, headers, body))
    };
    let slack = warp::path!("slack" / "events").and(webhook(Source::Slack));
    let command = warp::path!("slack" / "commands")
        .and(with_state.clone())
        .and(warp::post())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(commands::command);
    let github = warp::path!("github" / "webhook").and(webhook(Source::GitHub));
    let gitlab = warp::path!("gitlab" / "webhook").and(webhook(Source::GitLab));
    let health = warp::path!("healthz")
        .and(warp::get())
        .and(with_state.clone())
        .then(healthz);
    let install = warp::path!("slack" / "install")
        .and(warp::get())
        .and(with_state.clone())
        .then(slack_install::install);
    let oauth_callback = warp::path!("slack" / "oauth" / "callback")
        .and(warp::get())
        .and(with_state.clone())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(warp::cookie::optional::<String>(
            slack_install::STATE_COOKIE,
        ))
        .then(slack_install::callback);
    let metrics_here = state.limits.listen_metrics.is_none();
    let metrics_route = warp::path!("metrics")
        .and(warp::get())
        .and_then(move || async move {
            // With `LISTEN_METRICS` set, `/metrics` lives only there ([`metrics_routes`]).
            if metrics_here {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
        .and(with_state)
        .then(metrics);
    let unmatched_metrics = state.metrics.clone();
    slack
        .or(github)
        .unify()
        .or(gitlab)
        .unify()
        .or(health)
        .unify()
        .or(metrics_route)
        .unify()
        .or(install)
        .unify()
        .or(oauth_callback)
        .unify()
        .or(command)
        .unify()
        .recover(move |rejection: warp::Rejection| {
            let metrics = unmatched_metrics.clone();
            async move {
                let status = if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
                    StatusCode::METHOD_NOT_ALLOWED
                } else if rejection.is_not_found() {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_REQUEST
                };
                metrics.http_request("unmatched", status.as_u16(), std::time::Duration::ZERO);
                Ok::<Response, Infallible>(json_response(
                    status,
                    &json!({ "ok": false, "error": status.canonical_reason().unwrap_or("error") }),
                ))
            }
        })
        .unify()
}

/// What `LISTEN_METRICS` serves: `GET /metrics` and nothing else (404).
pub fn metrics_routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    warp::path!("metrics")
        .and(warp::get())
        .and(warp::any().map(move || state.clone()))
        .then(metrics)
        .recover(|_: warp::Rejection| async {
            Ok::<Response, Infallible>(json_response(
                StatusCode::NOT_FOUND,
                &json!({ "ok": false, "error": "Not Found" }),
            ))
        })
        .unify()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_check_accepts_parameters_only_for_json() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/x-www-form-urlencoded", false),
            ("text/plain", false),
            ("application/jsonx", false),
        ] {
            h.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&h), ok, "{value}");
        }
    }

    #[test]
    fn delivery_ids_are_bounded() {
        assert!(delivery_id("72d3162e-cc78-11e3-81ab-4c9367dc0958").is_ok());
        assert!(delivery_id("").is_err());
        assert!(delivery_id(&"a".repeat(201)).is_err());
        assert!(delivery_id("has space").is_err());
    }
}
