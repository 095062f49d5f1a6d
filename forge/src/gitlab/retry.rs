//! The `gitlab` crate's async client, wrapped to count requests and retry transient failures
//! (5xx answers and transport errors) with a short, doubling backoff.

use ::gitlab::api::{ApiError, AsyncClient, RestClient};
use ::gitlab::{AsyncGitlab, RestError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How a failed request is retried: `attempts` in all, waiting `first_delay`, then twice as long
/// each time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The first wait.
    pub first_delay: Duration,
}

impl Default for Retry {
    /// Four attempts over about two seconds: enough for a GitLab deploy's 502 blip, short
    /// enough that a broken instance fails the job quickly.
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_delay: Duration::from_millis(250),
        }
    }
}

/// The crate's async client, wrapped to count requests and retry transient failures.
///
/// The crate ships `api::retry::Client`, but only for its blocking client, and it retries 5xx
/// answers only; this wrapper does the same for the async client and also retries transport
/// errors (connection refused or reset), which is what a GitLab restart looks like.
pub(super) struct RetryingClient {
    /// The crate's client.
    pub(super) inner: AsyncGitlab,
    /// How failed requests are retried.
    pub(super) retry: Retry,
    /// Requests made, retries counted once.
    pub(super) requests: AtomicUsize,
}

impl RestClient for RetryingClient {
    type Error = RestError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<url::Url, ApiError<Self::Error>> {
        self.inner.rest_endpoint(endpoint)
    }

    fn instance_endpoint(&self, endpoint: &str) -> Result<url::Url, ApiError<Self::Error>> {
        self.inner.instance_endpoint(endpoint)
    }
}

/// A copy of a request builder (they are not `Clone`); extensions are not used by the crate.
fn copy_request(request: &http::request::Builder) -> http::request::Builder {
    let mut copy = http::Request::builder();
    if let Some(method) = request.method_ref() {
        copy = copy.method(method);
    }
    if let Some(uri) = request.uri_ref() {
        copy = copy.uri(uri);
    }
    if let Some(version) = request.version_ref() {
        copy = copy.version(*version);
    }
    if let Some(headers) = request.headers_ref() {
        for (key, value) in headers {
            copy = copy.header(key, value);
        }
    }
    copy
}

#[async_trait::async_trait]
impl AsyncClient for RetryingClient {
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<bytes::Bytes>, ApiError<Self::Error>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            let result = self
                .inner
                .rest_async(copy_request(&request), body.clone())
                .await;
            let transient = match &result {
                Ok(response) => response.status().is_server_error(),
                Err(e) => is_transport(e),
            };
            if !transient || attempt >= self.retry.attempts {
                return result;
            }
            tracing::debug!(attempt, "GitLab request failed transiently; retrying");
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }
}

pub(super) fn is_transport(e: &ApiError<RestError>) -> bool {
    matches!(
        e,
        ApiError::Client {
            source: RestError::Communication { .. }
        }
    )
}
