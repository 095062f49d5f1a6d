//! Which secret a GitHub or GitLab delivery must verify with.
//!
//! A payload names the repository it is about, and that name decides which Slack thread it
//! reaches and whose stored token acts on it. So a delivery is accepted only when it verifies
//! with either
//! - the operator-level secret (`GITHUB_WEBHOOK_SECRET` / `GITLAB_WEBHOOK_TOKEN`: a GitHub
//!   App, organisation or GitLab group/system hook secret that repository admins never see), or
//! - the secret stored for the repository the payload names, closest match first: the
//!   repository's own (`webhook-secret add --repo`), else its closest owner's (`--owner`,
//!   GitLab subgroup before group).
//!
//! The admin of repository A therefore cannot sign a payload naming repository B. A GitHub
//! payload that names only an organisation (an organisation hook's `ping`) verifies with that
//! organisation's owner secret. Every refusal gives the same answer, whether or not a secret
//! covers the named repository, so callers cannot probe which repositories are configured.
//!
//! Only the repository name is read from the body before verification, through a minimal
//! serde struct; nothing else of an unverified body is looked at. The stored secrets are held
//! in memory, unsealed, as one snapshot reloaded at most every [`SECRET_CACHE_TTL`], so a
//! delivery costs one map lookup and one HMAC, and unauthenticated requests naming random
//! repositories cannot make the service query its database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use serde::Deserialize;

use super::github::GitHubVerifier;
use super::gitlab::GitLabVerifier;
use super::{Refusal, header_str};
use crate::domain::Forge;
use crate::store::{HookScope, Store, closest_first};
use crate::vault::Vault;

/// How long the in-memory snapshot of stored webhook secrets is used before it is reloaded:
/// `webhook-secret add` / `remove` take effect in a running service within this time.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(10);

/// The repository name of a GitHub payload (`repository.full_name`), as the sync parser reads
/// it, and the organisation (`organization.login`) for organisation-level payloads (an
/// organisation hook's `ping`); nothing else.
#[derive(Deserialize)]
struct GitHubNamed {
    repository: Option<GitHubRepo>,
    organization: Option<GitHubOrg>,
}

#[derive(Deserialize)]
struct GitHubRepo {
    full_name: String,
}

#[derive(Deserialize)]
struct GitHubOrg {
    login: String,
}

/// The project path of a GitLab payload (`project.path_with_namespace`).
#[derive(Deserialize)]
struct GitLabNamed {
    project: Option<GitLabProject>,
}

#[derive(Deserialize)]
struct GitLabProject {
    path_with_namespace: String,
}

/// What a payload is about, lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A repository (every event the service acts on).
    Repo(String),
    /// Only an organisation (GitHub organisation-level payloads): its owner secret applies.
    Owner(String),
}

/// What a payload names, if anything (installation events name neither; they need the
/// operator-level secret).
pub fn named(forge: Forge, body: &[u8]) -> Option<Named> {
    match forge {
        Forge::GitHub => {
            let p = serde_json::from_slice::<GitHubNamed>(body).ok()?;
            match (p.repository, p.organization) {
                (Some(r), _) => Some(Named::Repo(r.full_name.to_ascii_lowercase())),
                (None, Some(o)) => Some(Named::Owner(o.login.to_ascii_lowercase())),
                (None, None) => None,
            }
        }
        Forge::GitLab => {
            let p = serde_json::from_slice::<GitLabNamed>(body).ok()?;
            Some(Named::Repo(
                p.project?.path_with_namespace.to_ascii_lowercase(),
            ))
        }
    }
}

/// A stored secret, ready to compare.
enum HookVerifier {
    GitHub(GitHubVerifier),
    GitLab(GitLabVerifier),
    /// The row could not be opened: deliveries for its repositories are refused rather than
    /// checked against a more distant secret.
    Unusable,
}

struct Snapshot {
    loaded_at: Instant,
    verifiers: HashMap<(Forge, HookScope, String), HookVerifier>,
}

/// The per-repository secrets, cached (see the module docs).
pub struct TenantSecrets {
    store: Store,
    vault: Arc<Vault>,
    ttl: Duration,
    current: RwLock<Option<Arc<Snapshot>>>,
    reload: tokio::sync::Mutex<()>,
}

impl TenantSecrets {
    /// Reads secrets from `store`, opened with `vault`, reloading every `ttl`.
    pub fn new(store: Store, vault: Arc<Vault>, ttl: Duration) -> Self {
        Self {
            store,
            vault,
            ttl,
            current: RwLock::new(None),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().ok()?.clone()
    }

    /// The current snapshot. Once it is older than the TTL, one request reloads it while the
    /// others keep using the stale one; only the very first load makes requests wait.
    async fn snapshot(&self) -> Result<Arc<Snapshot>, Refusal> {
        let current = self.current();
        if let Some(s) = &current
            && s.loaded_at.elapsed() < self.ttl
        {
            return Ok(s.clone());
        }
        let _one_loader = match (self.reload.try_lock(), current) {
            (Ok(guard), _) => guard,
            (Err(_), Some(stale)) => return Ok(stale),
            (Err(_), None) => {
                let guard = self.reload.lock().await;
                if let Some(s) = self.current() {
                    return Ok(s);
                }
                guard
            }
        };
        if let Some(s) = self.current()
            && s.loaded_at.elapsed() < self.ttl
        {
            return Ok(s);
        }
        let rows = self
            .store
            .load_webhook_secrets(&self.vault)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not load webhook secrets");
                Refusal::Internal
            })?;
        let mut verifiers = HashMap::with_capacity(rows.len());
        for row in rows {
            let verifier = match (&row.secret, row.forge) {
                (Ok(secret), Forge::GitHub) => HookVerifier::GitHub(GitHubVerifier::new(secret)),
                (Ok(secret), Forge::GitLab) => HookVerifier::GitLab(GitLabVerifier::new(secret)),
                (Err(e), _) => {
                    tracing::error!(forge = %row.forge, path = %row.path, error = %e,
                        "webhook secret cannot be opened: its deliveries are refused until it is added again");
                    HookVerifier::Unusable
                }
            };
            verifiers.insert((row.forge, row.scope, row.path), verifier);
        }
        let snapshot = Arc::new(Snapshot {
            loaded_at: Instant::now(),
            verifiers,
        });
        if let Ok(mut current) = self.current.write() {
            *current = Some(snapshot.clone());
        }
        Ok(snapshot)
    }

    /// Verifies a GitHub or GitLab delivery: operator-level secret first (no lookup), else the
    /// secret closest to the repository the body names.
    pub async fn verify(
        &self,
        forge: Forge,
        operator: Option<&OperatorVerifier<'_>>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Refusal> {
        let presented = match forge {
            Forge::GitHub => header_str(headers, "x-hub-signature-256")
                .ok_or(Refusal::Unauthorized("missing X-Hub-Signature-256"))?,
            Forge::GitLab => header_str(headers, "x-gitlab-token")
                .ok_or(Refusal::Unauthorized("missing X-Gitlab-Token"))?,
        };
        let operator_refusal = match operator {
            Some(op) => match op.verify(presented, body) {
                Ok(()) => return Ok(()),
                Err(refusal) => Some(refusal),
            },
            None => None,
        };
        // The same answer whether or not the named repository has a secret, so a caller cannot
        // probe which repositories are configured; the log says which case it was.
        let mismatch = Refusal::Unauthorized(match forge {
            Forge::GitHub => "X-Hub-Signature-256 does not match",
            Forge::GitLab => "X-Gitlab-Token does not match",
        });
        let places = match named(forge, body) {
            Some(Named::Repo(repo)) => closest_first(&repo),
            Some(Named::Owner(owner)) => vec![(HookScope::Owner, owner)],
            None => {
                tracing::info!(%forge, "delivery names no repository: only the operator-level secret can verify it");
                return Err(operator_refusal.unwrap_or(mismatch));
            }
        };
        let snapshot = self.snapshot().await?;
        let closest = places
            .iter()
            .find_map(|(scope, path)| snapshot.verifiers.get(&(forge, *scope, path.clone())));
        match closest {
            Some(HookVerifier::GitHub(v)) => v.verify(Some(presented), body),
            Some(HookVerifier::GitLab(v)) => v.verify(Some(presented)),
            Some(HookVerifier::Unusable) => {
                tracing::warn!(%forge, place = %places[0].1, "refused: the closest webhook secret cannot be opened");
                Err(mismatch)
            }
            None => {
                tracing::info!(%forge, place = %places[0].1, "no webhook secret covers what this delivery names");
                Err(operator_refusal.unwrap_or(mismatch))
            }
        }
    }
}

/// The operator-level verifier of one endpoint.
pub enum OperatorVerifier<'a> {
    /// `GITHUB_WEBHOOK_SECRET`.
    GitHub(&'a GitHubVerifier),
    /// `GITLAB_WEBHOOK_TOKEN`.
    GitLab(&'a GitLabVerifier),
}

impl OperatorVerifier<'_> {
    fn verify(&self, presented: &str, body: &[u8]) -> Result<(), Refusal> {
        match self {
            OperatorVerifier::GitHub(v) => v.verify(Some(presented), body),
            OperatorVerifier::GitLab(v) => v.verify(Some(presented)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_repository_name_is_read() {
        let gh = br#"{"action":"opened","repository":{"full_name":"Acme/Web","id":1},"organization":{"login":"Other"},"x":[1,2]}"#;
        assert_eq!(
            named(Forge::GitHub, gh),
            Some(Named::Repo("acme/web".into()))
        );
        let org = br#"{"zen":"Keep it logically awesome.","organization":{"login":"Acme"}}"#;
        assert_eq!(named(Forge::GitHub, org), Some(Named::Owner("acme".into())));
        let gl = br#"{"object_kind":"note","project":{"path_with_namespace":"Group/Sub/App"}}"#;
        assert_eq!(
            named(Forge::GitLab, gl),
            Some(Named::Repo("group/sub/app".into()))
        );
        for unnamed in [
            &br#"{"action":"created","installation":{"id":1}}"#[..],
            br#"{"repository":null}"#,
            br#"{"repository":{"name":"web"}}"#,
            br#"not json"#,
            br#"[]"#,
            // Two names: serde refuses duplicate fields, so neither is trusted.
            br#"{"repository":{"full_name":"a/a"},"repository":{"full_name":"b/b"}}"#,
        ] {
            assert_eq!(named(Forge::GitHub, unnamed), None);
        }
        assert_eq!(named(Forge::GitLab, gh), None);
    }
}
