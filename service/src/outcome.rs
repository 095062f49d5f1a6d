//! How handling an event can fail, and what each failure asks of the queue: the vocabulary
//! the worker ([`crate::queue`]), the provider breakers ([`crate::breaker`]) and the API clients
//! share, kept apart so each of them points down to it rather than at one another.

use std::time::Duration;

/// The longest `Retry-After` we honour; anything longer is treated as this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Why a handler did not finish an event. Reasons are logged and stored: they must name
/// identifiers and status codes only, never message text or tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Try again later: at `after` if the remote said so (`Retry-After`), else with
    /// exponential backoff.
    #[error("retry: {reason}")]
    Retry {
        /// The remote's requested delay, if any.
        after: Option<Duration>,
        /// What went wrong.
        reason: String,
    },
    /// A provider (Slack, one forge host) is down or rate limiting: 429, 5xx, a timeout or a
    /// connection error from its API, or the call was not made because it backs off. Never
    /// permanent: the event waits for the provider (see [`crate::breaker`]) and is given up only
    /// after `CODEREVIEW_SYNC_MAX_EVENT_AGE`.
    #[error("unavailable: {reason}")]
    Unavailable {
        /// The provider (`slack:slack.com`, `github:api.github.com`).
        provider: String,
        /// The provider's requested delay, if any.
        after: Option<Duration>,
        /// What went wrong.
        reason: String,
    },
    /// Retrying cannot help (bad payload, 4xx other than 429): record and drop the event.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl HandleError {
    /// A retry with backoff.
    pub fn retry(reason: impl Into<String>) -> Self {
        HandleError::Retry {
            after: None,
            reason: reason.into(),
        }
    }

    /// A permanent failure.
    pub fn permanent(reason: impl Into<String>) -> Self {
        HandleError::Permanent(reason.into())
    }
}
