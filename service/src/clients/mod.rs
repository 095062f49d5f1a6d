//! Outbound API clients (Slack, GitHub, GitLab) live here, each behind a trait so sync logic
//! can be tested against fakes and wiremock.
//!
//! What every client shares is how a failed call becomes a queue decision, so that rate
//! limits and outages are retried and everything else is recorded once:
//! [`classify_response`] maps a status and headers to `Ok`, a retry (honouring
//! `Retry-After` and GitHub's rate-limit reset) or a permanent failure.

pub mod diff;
pub mod github;
pub mod github_app;
pub mod gitlab;
pub mod llm;
pub mod slack;

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::domain::Forge;
use crate::outcome::HandleError;
use crate::secret::Secret;
use crate::store::PrRef;
use crate::sync::model::{CommentKind, ForgeUser, PrFacts, ReplyTarget, ReviewStatus};

pub use github::GitHubClient;
pub use gitlab::GitLabClient;
pub use slack::{SlackApi, SlackClient};

/// Delay requested by `Retry-After` (seconds or an HTTP date), relative to `now`.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Delay until GitHub's primary rate limit resets, when a 403/429 says it is exhausted.
fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let remaining = headers.get("x-ratelimit-remaining")?.to_str().ok()?;
    if remaining.trim() != "0" {
        return None;
    }
    let reset: u64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Turns an API response into a queue decision. `api` names the call for the reason
/// (e.g. `"slack chat.postMessage"`); reasons carry the status only, never response bodies.
pub fn classify_response(
    api: &str,
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<(), HandleError> {
    if status.is_success() {
        return Ok(());
    }
    let reason = format!("{api} answered {}", status.as_u16());
    let limited = rate_limit_reset(headers, now);
    if status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || (status == StatusCode::FORBIDDEN
            && (limited.is_some() || headers.contains_key(http::header::RETRY_AFTER)))
    {
        return Err(HandleError::Retry {
            after: retry_after(headers, now).or(limited),
            reason,
        });
    }
    Err(HandleError::Permanent(reason))
}

/// Timeout for one outbound API call. The worker's lease bounds a whole event; this bounds a
/// single hung connection inside it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP client every API client uses: rustls, a timeout, our user agent.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .user_agent(concat!("codereview-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// `base` with `segments` appended, each one percent-encoded as a single path segment (so a
/// GitLab project path's `/` becomes `%2F`). Clients build every URL through this, so a base
/// with a path (`https://ghe.example.com/api/v3`, `https://host/gitlab`) keeps it.
pub fn join_segments<'a>(base: &url::Url, segments: impl IntoIterator<Item = &'a str>) -> url::Url {
    let mut url = base.clone();
    {
        let mut path = url
            .path_segments_mut()
            .expect("API base URLs are http(s) URLs, which have a path");
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// A response that passed [`classify_response`]: status, headers and body bytes.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status (a success).
    pub status: StatusCode,
    /// Response headers (pagination, ...).
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: bytes::Bytes,
}

impl Answer {
    /// Decodes the body; a mismatch is permanent and the reason names only the position.
    pub fn json<T: DeserializeOwned>(&self, api: &str) -> Result<T, HandleError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            HandleError::permanent(format!(
                "{api} answered an unexpected body (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
    }
}

/// Sends a request and classifies the outcome: transport errors and timeouts are retried,
/// statuses go through [`classify_response`]. `not_found_ok` turns a 404 into `Ok(None)`
/// (deleting something already gone is success).
///
/// Every call is attributed to its provider (`api`'s first word and the URL's host, see
/// [`crate::breaker`]): a provider that backs off is not called at all, and a transient failure
/// comes back as [`HandleError::Unavailable`] for that provider.
pub async fn send(
    api: &str,
    request: reqwest::RequestBuilder,
    not_found_ok: bool,
) -> Result<Option<Answer>, HandleError> {
    send_with(api, request, not_found_ok, true).await
}

/// [`send`] for an optional lookup whose failure the caller shrugs off (Slack presence): it
/// is not made while the provider backs off, but its own failure does not trip the breaker,
/// so one endpoint a provider lacks cannot hold up the event's other calls.
pub async fn send_lookup(
    api: &str,
    request: reqwest::RequestBuilder,
) -> Result<Option<Answer>, HandleError> {
    send_with(api, request, false, false).await
}

async fn send_with(
    api: &str,
    request: reqwest::RequestBuilder,
    not_found_ok: bool,
    trips: bool,
) -> Result<Option<Answer>, HandleError> {
    let (client, request) = request.build_split();
    let request =
        request.map_err(|_| HandleError::permanent(format!("{api} request could not be built")))?;
    let kind = api.split_whitespace().next().unwrap_or("api");
    let provider = crate::breaker::provider_for(kind, request.url());
    crate::breaker::check(&provider, api)?;
    let transient = |e: HandleError| {
        if trips {
            crate::breaker::transient(&provider, e)
        } else {
            e
        }
    };
    let response = client.execute(request).await.map_err(|e| {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        transient(HandleError::retry(format!("{api} {what}")))
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    if not_found_ok && status == StatusCode::NOT_FOUND {
        crate::breaker::answered(&provider);
        return Ok(None);
    }
    if let Err(e) = classify_response(api, status, &headers, SystemTime::now()) {
        if matches!(e, HandleError::Retry { .. }) {
            return Err(transient(e));
        }
        // A 4xx is an answer: the provider is up, the request cannot succeed.
        crate::breaker::answered(&provider);
        return Err(e);
    }
    let body = response
        .bytes()
        .await
        .map_err(|_| transient(HandleError::retry(format!("{api} body could not be read"))))?;
    crate::breaker::answered(&provider);
    Ok(Some(Answer {
        status,
        headers,
        body,
    }))
}

/// A forge comment we created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedComment {
    /// What kind it is (decides the edit and delete endpoints).
    pub kind: CommentKind,
    /// Its id.
    pub id: String,
    /// The review thread it is in, if any.
    pub thread_root: Option<String>,
}

/// What the sync handler needs from a forge. Implemented for GitHub and GitLab against their
/// REST APIs; every base URL comes from configuration so tests point them at fakes.
#[async_trait]
pub trait ForgeApi: Send + Sync {
    /// Which forge this is.
    fn forge(&self) -> Forge;
    /// The PR's current facts for its parent message.
    async fn pull_request(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
    ) -> Result<PrFacts, HandleError>;
    /// The latest status named `context` on a commit.
    async fn review_status(
        &self,
        token: &Secret<String>,
        repo: &str,
        sha: &str,
        context: &str,
    ) -> Result<Option<ReviewStatus>, HandleError>;
    /// PR numbers a commit belongs to (GitHub `status` events name only the commit).
    async fn prs_for_commit(
        &self,
        token: &Secret<String>,
        repo: &str,
        sha: &str,
    ) -> Result<Vec<i64>, HandleError>;
    /// Posts a comment in the PR conversation or as a reply in a review thread.
    async fn create_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        target: &ReplyTarget,
        body: &str,
    ) -> Result<CreatedComment, HandleError>;
    /// Comments already where `create_comment` would post to `target` whose body is exactly
    /// `body`. A retried event looks here before posting, so a comment an
    /// earlier attempt created (and crashed before recording) is adopted, not posted twice.
    async fn comments_with_body(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        target: &ReplyTarget,
        body: &str,
    ) -> Result<Vec<CreatedComment>, HandleError>;
    /// Replaces a comment's body.
    async fn edit_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        kind: CommentKind,
        id: &str,
        body: &str,
    ) -> Result<(), HandleError>;
    /// Deletes a comment; an already deleted comment is success.
    async fn delete_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        kind: CommentKind,
        id: &str,
    ) -> Result<(), HandleError>;
    /// Ids of every note of an MR (GitLab deletion reconcile).
    async fn comment_ids(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
    ) -> Result<std::collections::HashSet<String>, HandleError>;
    /// Starts a merge-request pipeline (GitLab).
    async fn start_pipeline(&self, token: &Secret<String>, pr: &PrRef) -> Result<(), HandleError>;
    /// The account the token acts as, when the forge says (`GET /user`).
    async fn token_user(&self, token: &Secret<String>) -> Result<Option<ForgeUser>, HandleError>;
    /// The login whose (visible) email is `email`, if exactly one matches.
    async fn login_for_email(
        &self,
        token: &Secret<String>,
        email: &str,
    ) -> Result<Option<String>, HandleError>;
    /// A login's public email, if it shows one.
    async fn email_for_login(
        &self,
        token: &Secret<String>,
        login: &str,
    ) -> Result<Option<String>, HandleError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784111777);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "30")]), now),
            Some(Duration::from_secs(30))
        );
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT")]),
                now
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn statuses_map_to_queue_decisions() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let ok = classify_response("x", StatusCode::OK, &HeaderMap::new(), now);
        assert!(ok.is_ok());
        assert_eq!(
            classify_response(
                "slack chat.postMessage",
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "7")]),
                now
            ),
            Err(HandleError::Retry {
                after: Some(Duration::from_secs(7)),
                reason: "slack chat.postMessage answered 429".into()
            })
        );
        assert!(matches!(
            classify_response("x", StatusCode::BAD_GATEWAY, &HeaderMap::new(), now),
            Err(HandleError::Retry { after: None, .. })
        ));
        assert_eq!(
            classify_response(
                "github",
                StatusCode::FORBIDDEN,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1090")
                ]),
                now
            ),
            Err(HandleError::Retry {
                after: Some(Duration::from_secs(90)),
                reason: "github answered 403".into()
            })
        );
        assert!(matches!(
            classify_response("github", StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            Err(HandleError::Permanent(_))
        ));
        assert!(matches!(
            classify_response("github", StatusCode::NOT_FOUND, &HeaderMap::new(), now),
            Err(HandleError::Permanent(_))
        ));
    }
}
