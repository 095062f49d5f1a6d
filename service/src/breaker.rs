//! Per-provider back-off: when Slack (or one GitHub/GitLab host) is down or rate limiting, the
//! worker stops calling it — one probe at a time, honouring `Retry-After` — while events for
//! other providers keep flowing, and releases everything that waited once a probe gets through.
//!
//! A *provider* is an API endpoint named by kind and host (`slack:slack.com`,
//! `github:api.github.com`, `gitlab:gitlab.example.com`), so two GitLab hosts back off on their
//! own. The shared state (which provider backs off until when, who probes) lives in the
//! database (`provider_backoff`, see [`crate::store::ProviderState`]) so every replica sees it;
//! this module holds the in-process side:
//!
//! - [`Breakers`]: the worker's view of which providers back off (refreshed from the database
//!   every step, updated at once when a call fails so concurrent handlers stop too).
//! - [`CallScope`]: what one event's outbound calls did. [`crate::clients::send`] consults it
//!   before a call ([`check`]) and reports to it after ([`answered`], [`transient`]), through a
//!   task-local, so no client or handler signature carries it. Outside a scope (CLI, install
//!   flow) these functions do nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use crate::config::WorkerSettings;
use crate::outcome::{HandleError, MAX_RETRY_AFTER};

/// The provider an API URL belongs to: `kind:host[:port]`.
pub fn provider_for(kind: &str, url: &Url) -> String {
    let host = url.host_str().unwrap_or("unknown");
    match url.port() {
        Some(port) => format!("{kind}:{host}:{port}"),
        None => format!("{kind}:{host}"),
    }
}

/// Delay before the next probe of a provider that failed `failures` times in a row: the
/// provider's own `Retry-After` when it gave one (capped at [`MAX_RETRY_AFTER`]), else
/// `probe_base * 2^(failures-1)` capped at `probe_max` — short, so that the queue catches up
/// within seconds of a recovery even after hours of outage.
pub fn probe_delay(settings: &WorkerSettings, failures: u32, after: Option<Duration>) -> Duration {
    if let Some(after) = after {
        return after.min(MAX_RETRY_AFTER);
    }
    let exp = failures.saturating_sub(1).min(30);
    settings
        .probe_base
        .saturating_mul(1u32 << exp)
        .min(settings.probe_max)
}

/// The providers a worker must not call right now (their back-off is in force).
#[derive(Debug, Default)]
pub struct Breakers {
    open: Mutex<HashSet<String>>,
}

impl Breakers {
    /// Replaces the view with the providers that back off now (read from the database).
    pub fn replace(&self, open: impl IntoIterator<Item = String>) {
        if let Ok(mut set) = self.open.lock() {
            *set = open.into_iter().collect();
        }
    }

    /// Marks a provider as backing off (a call just failed).
    pub fn trip(&self, provider: &str) {
        if let Ok(mut set) = self.open.lock() {
            set.insert(provider.to_string());
        }
    }

    /// Marks a provider as answering again (its probe got through).
    pub fn close(&self, provider: &str) {
        if let Ok(mut set) = self.open.lock() {
            set.remove(provider);
        }
    }

    /// Whether `provider` backs off.
    pub fn is_open(&self, provider: &str) -> bool {
        self.open.lock().is_ok_and(|set| set.contains(provider))
    }

    /// The providers backing off.
    pub fn open(&self) -> Vec<String> {
        self.open
            .lock()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// What one event's outbound calls did, per provider.
#[derive(Debug)]
pub struct CallScope {
    breakers: Arc<Breakers>,
    probe: Option<String>,
    reached: Mutex<HashSet<String>>,
    failed: Mutex<HashMap<String, Failure>>,
}

/// A failed call to a provider, as one event saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The longest `Retry-After` the provider gave.
    pub after: Option<Duration>,
    /// The last failure (status or error code).
    pub reason: String,
}

impl CallScope {
    /// A scope for one event; `probe` is the provider this event may call although it backs off.
    pub fn new(breakers: Arc<Breakers>, probe: Option<String>) -> Self {
        Self {
            breakers,
            probe,
            reached: Mutex::default(),
            failed: Mutex::default(),
        }
    }

    /// Runs `fut` with this scope in force for the calls it makes.
    pub async fn run<F: Future>(self: Arc<Self>, fut: F) -> F::Output {
        SCOPE.scope(self, fut).await
    }

    fn blocked(&self, provider: &str) -> bool {
        self.probe.as_deref() != Some(provider) && self.breakers.is_open(provider)
    }

    /// Providers that answered (a success or an answer that retrying cannot change): they are up.
    pub fn reached(&self) -> HashSet<String> {
        self.reached.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Providers a real call failed on (5xx, 429, timeout, connection).
    pub fn failed(&self) -> HashMap<String, Failure> {
        self.failed.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

tokio::task_local! {
    static SCOPE: Arc<CallScope>;
}

/// Before a call to `provider`: refuses it (a transient error naming the provider, no request
/// sent) when the provider backs off and this event is not its probe.
pub fn check(provider: &str, api: &str) -> Result<(), HandleError> {
    let blocked = SCOPE.try_with(|s| s.blocked(provider)).unwrap_or(false);
    if blocked {
        return Err(HandleError::Unavailable {
            provider: provider.to_string(),
            after: None,
            reason: format!("{api} not called: {provider} is backing off"),
        });
    }
    Ok(())
}

/// After a call that `provider` answered (whatever the answer, as long as it was not transient).
pub fn answered(provider: &str) {
    let _ = SCOPE.try_with(|s| {
        if let Ok(mut set) = s.reached.lock() {
            set.insert(provider.to_string());
        }
    });
}

/// After a call to `provider` failed: a transient error ([`HandleError::Retry`]: 429, 5xx,
/// timeout, connection) becomes [`HandleError::Unavailable`] for that provider and trips its
/// back-off in this process at once; any other error is returned as it is.
pub fn transient(provider: &str, error: HandleError) -> HandleError {
    let HandleError::Retry { after, reason } = error else {
        return error;
    };
    let _ = SCOPE.try_with(|s| {
        if let Ok(mut map) = s.failed.lock() {
            let slot = map.entry(provider.to_string()).or_insert(Failure {
                after,
                reason: String::new(),
            });
            slot.after = slot.after.max(after);
            slot.reason.clone_from(&reason);
        }
        s.breakers.trip(provider);
    });
    HandleError::Unavailable {
        provider: provider.to_string(),
        after,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_kind_and_host() {
        let url = Url::parse("https://slack.com/api/chat.postMessage").unwrap();
        assert_eq!(provider_for("slack", &url), "slack:slack.com");
        let url = Url::parse("http://127.0.0.1:4567/repos/a/b").unwrap();
        assert_eq!(provider_for("github", &url), "github:127.0.0.1:4567");
    }

    #[test]
    fn probe_delay_doubles_to_its_cap_and_honours_retry_after() {
        let s = WorkerSettings {
            probe_base: Duration::from_secs(1),
            probe_max: Duration::from_secs(10),
            ..WorkerSettings::default()
        };
        let secs: Vec<u64> = (1..=6)
            .map(|n| probe_delay(&s, n, None).as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
        assert_eq!(
            probe_delay(&s, 6, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(
            probe_delay(&s, 1, Some(Duration::from_secs(86_400))),
            MAX_RETRY_AFTER
        );
    }

    #[tokio::test]
    async fn a_scope_blocks_open_providers_except_its_probe() {
        let breakers = Arc::new(Breakers::default());
        breakers.replace(["slack:x".to_string()]);
        let plain = Arc::new(CallScope::new(breakers.clone(), None));
        let blocked = plain
            .clone()
            .run(async { check("slack:x", "slack chat.postMessage") });
        assert!(matches!(
            blocked.await,
            Err(HandleError::Unavailable { provider, .. }) if provider == "slack:x"
        ));
        let probe = Arc::new(CallScope::new(breakers.clone(), Some("slack:x".into())));
        assert!(
            probe
                .clone()
                .run(async { check("slack:x", "x") })
                .await
                .is_ok()
        );
        assert!(check("slack:x", "x").is_ok(), "no scope, no gate");

        // A transient failure trips the provider for every scope of this worker.
        let scope = Arc::new(CallScope::new(breakers.clone(), None));
        let err = scope
            .clone()
            .run(async {
                assert!(check("github:h", "x").is_ok());
                transient(
                    "github:h",
                    HandleError::Retry {
                        after: Some(Duration::from_secs(3)),
                        reason: "github answered 502".into(),
                    },
                )
            })
            .await;
        assert!(
            matches!(err, HandleError::Unavailable { ref provider, .. } if provider == "github:h")
        );
        assert!(breakers.is_open("github:h"));
        assert_eq!(
            scope.failed().get("github:h"),
            Some(&Failure {
                after: Some(Duration::from_secs(3)),
                reason: "github answered 502".into()
            })
        );
        // A permanent error passes through and says nothing about the provider's health.
        let p = transient("github:h", HandleError::permanent("github answered 404"));
        assert_eq!(p, HandleError::permanent("github answered 404"));
    }
}
