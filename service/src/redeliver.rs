//! Redelivery of GitHub App webhooks that failed while the service was down.
//!
//! GitHub does not retry a failed webhook delivery by itself. When the service runs as a
//! GitHub App, [`Redeliverer`] lists the App's recent deliveries (`GET /app/hook/deliveries`,
//! paged through the `Link` header, authenticated with an App JWT) at start and every few
//! minutes, and asks GitHub to redeliver each failed one (`POST
//! /app/hook/deliveries/{id}/attempts`). It is bounded (a time window, a page limit, a cap
//! per run) and deduplicated by the delivery's `guid` (= `X-GitHub-Delivery`): a guid the
//! queue already accepted, one that was delivered successfully since, or one we already asked
//! to redeliver is left alone. The queue's own dedupe drops a redelivery that races a late
//! original. One replica at a time runs it (a lease row in `reconciliations`, which is also
//! what `queue status` shows as the last reconciliation).
//!
//! The App JWT comes from an [`AppJwtSource`]: in `serve`, [`StoredAppKey`] signs it with the
//! App's private key stored sealed by `github-app key set`; [`jwt_from`] adapts any closure
//! (tests).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;
use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::domain::Source;
use crate::secret::Secret;
use crate::store::{Store, duration_ms};

/// The `reconciliations.name` of this job.
pub const RECONCILIATION: &str = "github_app_deliveries";

/// Mints the short-lived JWT that authenticates as the GitHub App itself.
#[async_trait::async_trait]
pub trait AppJwtSource: Send + Sync {
    /// A fresh JWT, or why none can be made (no key stored, bad key).
    async fn jwt(&self) -> Result<Secret<String>, String>;
}

struct FnJwt<F>(F);

#[async_trait::async_trait]
impl<F: Fn() -> Result<String, String> + Send + Sync> AppJwtSource for FnJwt<F> {
    async fn jwt(&self) -> Result<Secret<String>, String> {
        (self.0)().map(Secret::new)
    }
}

/// The App JWT signed with the private key stored by `github-app key set`, read at each use
/// so a key set or replaced while the service runs is picked up.
pub struct StoredAppKey {
    /// Where the sealed key is.
    pub store: Store,
    /// Opens it.
    pub vault: Arc<crate::vault::Vault>,
    /// `GITHUB_APP_ID`.
    pub app_id: String,
}

#[async_trait::async_trait]
impl AppJwtSource for StoredAppKey {
    async fn jwt(&self) -> Result<Secret<String>, String> {
        let key = self
            .store
            .credential(
                &self.vault,
                crate::store::CredentialKind::GitHubApp,
                &self.app_id,
            )
            .await
            .map_err(|e| format!("cannot read the GitHub App key: {e}"))?
            .ok_or("no GitHub App key stored: run `codereview-sync github-app key set`")?;
        crate::clients::github_app::mint_app_jwt(
            &self.app_id,
            key.expose(),
            time::OffsetDateTime::now_utc(),
        )
        .map(Secret::new)
        .map_err(|e| format!("cannot sign the GitHub App JWT: {e}"))
    }
}

/// An [`AppJwtSource`] from a closure.
pub fn jwt_from(
    mint: impl Fn() -> Result<String, String> + Send + Sync + 'static,
) -> Arc<dyn AppJwtSource> {
    Arc::new(FnJwt(mint))
}

/// Bounds of the redelivery job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeliverySettings {
    /// How often it runs (across all replicas).
    pub interval: Duration,
    /// How far back failed deliveries are redelivered (GitHub keeps 3 days of them).
    pub window: Duration,
    /// Most pages (100 deliveries each) read per run.
    pub max_pages: u32,
    /// Most redeliveries requested per run.
    pub max_requests: u32,
}

impl Default for RedeliverySettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5 * 60),
            window: Duration::from_secs(24 * 3600),
            max_pages: 20,
            max_requests: 200,
        }
    }
}

/// One entry of `GET /app/hook/deliveries`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery attempt's id (what `/attempts` takes).
    pub id: i64,
    /// The event's id, shared by an original and its redeliveries (`X-GitHub-Delivery`).
    pub guid: String,
    /// When it was attempted (RFC 3339).
    pub delivered_at: String,
    /// Whether this attempt was a redelivery.
    #[serde(default)]
    pub redelivery: bool,
    /// Our answer's status (0 when we could not be reached).
    #[serde(default)]
    pub status_code: u16,
}

impl Delivery {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status_code)
    }

    fn at_ms(&self) -> Option<i64> {
        let t = time::OffsetDateTime::parse(
            &self.delivered_at,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?;
        Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RedeliveryReport {
    /// Deliveries read (within the window).
    pub listed: u32,
    /// Redeliveries requested.
    pub requested: u32,
}

/// The deliveries to redeliver, oldest first: per guid, the newest failed attempt of a guid
/// that never succeeded, was never redelivered by request, is not known to the queue, and is
/// within the window. Pure.
pub fn to_redeliver(deliveries: &[Delivery], known: &HashSet<String>, since_ms: i64) -> Vec<i64> {
    let mut by_guid: HashMap<&str, Vec<&Delivery>> = HashMap::new();
    for d in deliveries {
        by_guid.entry(d.guid.as_str()).or_default().push(d);
    }
    let mut picked: Vec<(i64, i64)> = by_guid
        .into_iter()
        .filter(|(guid, attempts)| {
            !known.contains(*guid) && !attempts.iter().any(|d| d.ok() || d.redelivery)
        })
        .filter_map(|(_, attempts)| {
            let newest = attempts.iter().max_by_key(|d| d.at_ms().unwrap_or(0))?;
            let at = newest.at_ms()?;
            (at >= since_ms).then_some((at, newest.id))
        })
        .collect();
    picked.sort();
    picked.into_iter().map(|(_, id)| id).collect()
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::LINK)?.to_str().ok()?;
    value.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// Lists failed App deliveries and asks GitHub to redeliver them.
pub struct Redeliverer {
    store: Store,
    api: Url,
    jwt: Arc<dyn AppJwtSource>,
    http: reqwest::Client,
    settings: RedeliverySettings,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Redeliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redeliverer")
            .field("api", &self.api.as_str())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Redeliverer {
    /// A job against the GitHub API at `api` (`GITHUB_API_URL`).
    pub fn new(
        store: Store,
        api: Url,
        jwt: Arc<dyn AppJwtSource>,
        settings: RedeliverySettings,
    ) -> Self {
        Self {
            store,
            api,
            jwt,
            http: crate::clients::http_client(),
            settings,
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        jwt: &Secret<String>,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(jwt.expose())
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
    }

    /// One run, unless another replica ran within the interval (`Ok(None)`). The outcome is
    /// recorded for `queue status`.
    pub async fn run_once(&self) -> Result<Option<RedeliveryReport>, String> {
        let now = self.clock.now_ms();
        let interval = duration_ms(self.settings.interval).saturating_sub(1000);
        let mine = self
            .store
            .start_reconciliation(RECONCILIATION, now, interval)
            .await
            .map_err(|e| e.to_string())?;
        if !mine {
            return Ok(None);
        }
        let mut report = RedeliveryReport::default();
        let result = self.reconcile(now, &mut report).await;
        let error = result.as_ref().err().map(String::as_str);
        let _ = self
            .store
            .finish_reconciliation(
                RECONCILIATION,
                self.clock.now_ms(),
                report.listed,
                report.requested,
                error,
            )
            .await;
        match result {
            Ok(()) => {
                tracing::info!(
                    listed = report.listed,
                    requested = report.requested,
                    "GitHub App deliveries reconciled"
                );
                Ok(Some(report))
            }
            Err(e) => {
                tracing::warn!(error = %e, requested = report.requested, "GitHub App delivery reconciliation failed");
                Err(e)
            }
        }
    }

    async fn reconcile(&self, now: i64, report: &mut RedeliveryReport) -> Result<(), String> {
        let jwt = self.jwt.jwt().await?;
        let since = now.saturating_sub(duration_ms(self.settings.window));
        let mut url = crate::clients::join_segments(&self.api, ["app", "hook", "deliveries"]);
        url.query_pairs_mut().append_pair("per_page", "100");
        let mut next = Some(url.to_string());
        let mut deliveries: Vec<Delivery> = Vec::new();
        for _ in 0..self.settings.max_pages {
            let Some(page_url) = next.take() else { break };
            let response = self
                .request(reqwest::Method::GET, &page_url, &jwt)
                .send()
                .await
                .map_err(|e| format!("listing deliveries failed: {}", e.without_url()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!(
                    "GET /app/hook/deliveries answered {}",
                    status.as_u16()
                ));
            }
            next = next_link(response.headers());
            let page: Vec<Delivery> = response
                .json()
                .await
                .map_err(|_| "GET /app/hook/deliveries answered an unexpected body".to_string())?;
            let oldest = page.iter().filter_map(Delivery::at_ms).min();
            deliveries.extend(page);
            // Newest first: once a page reaches past the window, older pages are not needed.
            if oldest.is_some_and(|at| at < since) {
                break;
            }
        }
        deliveries.retain(|d| d.at_ms().is_some_and(|at| at >= since));
        report.listed = u32::try_from(deliveries.len()).unwrap_or(u32::MAX);
        let guids: Vec<String> = deliveries
            .iter()
            .map(|d| d.guid.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let known = self
            .store
            .known_deliveries(Source::GitHub, &guids)
            .await
            .map_err(|e| e.to_string())?;
        for id in to_redeliver(&deliveries, &known, since)
            .into_iter()
            .take(self.settings.max_requests as usize)
        {
            let url = crate::clients::join_segments(
                &self.api,
                ["app", "hook", "deliveries", &id.to_string(), "attempts"],
            );
            let response = self
                .request(reqwest::Method::POST, url.as_str(), &jwt)
                .send()
                .await
                .map_err(|e| format!("redelivery request failed: {}", e.without_url()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!(
                    "POST /app/hook/deliveries/{id}/attempts answered {}",
                    status.as_u16()
                ));
            }
            report.requested += 1;
        }
        Ok(())
    }

    /// Runs at start and then every interval until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let _ = self.run_once().await;
            tokio::select! {
                _ = tokio::time::sleep(self.settings.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: i64, guid: &str, at: &str, redelivery: bool, status_code: u16) -> Delivery {
        Delivery {
            id,
            guid: guid.into(),
            delivered_at: at.into(),
            redelivery,
            status_code,
        }
    }

    #[test]
    fn picks_failed_unknown_recent_guids_once() {
        let since = Delivery::at_ms(&d(0, "", "2026-11-29T10:00:00Z", false, 0)).unwrap();
        let list = [
            d(1, "a", "2026-11-29T11:00:00Z", false, 502), // failed: pick
            d(2, "b", "2026-11-29T11:01:00Z", false, 0),   // unreachable, then ...
            d(3, "b", "2026-11-29T11:05:00Z", false, 200), // ... delivered: skip
            d(4, "c", "2026-11-29T11:02:00Z", false, 500), // known to the queue: skip
            d(5, "e", "2026-11-29T11:03:00Z", false, 503), // already redelivered: skip
            d(6, "e", "2026-11-29T11:04:00Z", true, 503),
            d(7, "f", "2026-11-29T09:00:00Z", false, 500), // before the window: skip
            d(8, "g", "2026-11-29T10:30:00Z", false, 0),   // pick, older than a
        ];
        let known: HashSet<String> = ["c".to_string()].into();
        assert_eq!(to_redeliver(&list, &known, since), [8, 1]);
    }

    #[test]
    fn next_link_reads_rel_next() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::LINK,
            "<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_2>; rel=\"next\", <https://x/first>; rel=\"first\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_2")
        );
        h.insert(
            http::header::LINK,
            "<https://x/first>; rel=\"first\"".parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }
}
