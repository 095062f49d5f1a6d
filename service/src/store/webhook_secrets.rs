//! Per-repository and per-owner webhook secrets (`webhook-secret add|list|remove`), sealed by
//! the vault like tokens. Read by the HTTP side to verify a delivery with the secret of the
//! repository its payload names (see `crate::http::tenant`).

use super::{Store, StoreError, now_ms, on_pool};
use crate::domain::Forge;
use crate::secret::Secret;
use crate::vault::{Aad, Sealed, Vault};

/// What a stored webhook secret covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookScope {
    /// One repository (`owner/name`, GitLab `group/sub/project`).
    Repo,
    /// Every repository under an owner (GitHub organisation or user, GitLab group and its
    /// subgroups) that has no closer secret.
    Owner,
}

impl HookScope {
    /// The stable name stored in the `scope` column.
    pub fn as_str(self) -> &'static str {
        match self {
            HookScope::Repo => "repo",
            HookScope::Owner => "owner",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "repo" => Ok(HookScope::Repo),
            "owner" => Ok(HookScope::Owner),
            other => Err(StoreError::Corrupt(format!(
                "webhook secret scope `{other}`"
            ))),
        }
    }
}

/// Associated data for a webhook secret row: its primary key, so a sealed secret copied onto
/// another repository's row does not open.
pub(crate) fn webhook_secret_aad(forge: &str, scope: &str, path: &str) -> Aad {
    Aad::new("webhook_secrets", &[forge, scope, path])
}

/// A stored webhook secret as `webhook-secret list` shows it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSecretInfo {
    /// The forge.
    pub forge: Forge,
    /// Repository or owner.
    pub scope: HookScope,
    /// Lower-case repository or owner path.
    pub path: String,
    /// Id of the key that sealed it.
    pub key_id: String,
    /// Last write, ms since the epoch.
    pub updated_at: i64,
}

/// A stored webhook secret, opened (or why it could not be).
#[derive(Debug, Clone)]
pub struct StoredHookSecret {
    /// The forge.
    pub forge: Forge,
    /// Repository or owner level.
    pub scope: HookScope,
    /// The repository or owner path it was stored under.
    pub path: String,
    /// The secret, or why it could not be opened (identity only).
    pub secret: Result<Secret<String>, String>,
}

/// The places a secret for `repo` may be stored, closest first: the repository itself, then
/// each owner prefix from the longest (`group/sub`) to the shortest (`group`).
pub fn closest_first(repo: &str) -> Vec<(HookScope, String)> {
    let segments: Vec<&str> = repo.split('/').collect();
    let mut out = vec![(HookScope::Repo, repo.to_string())];
    for end in (1..segments.len()).rev() {
        out.push((HookScope::Owner, segments[..end].join("/")));
    }
    out
}

/// forge, scope, path, key id, nonce, ciphertext.
type SecretRow = (String, String, String, String, Vec<u8>, Vec<u8>);

impl Store {
    /// Seals and stores a webhook secret, replacing any previous one for the same place.
    pub async fn put_webhook_secret(
        &self,
        vault: &Vault,
        forge: Forge,
        scope: HookScope,
        path: &str,
        secret: &Secret<String>,
    ) -> Result<(), StoreError> {
        let sealed = vault.seal(
            &webhook_secret_aad(forge.as_str(), scope.as_str(), path),
            secret.expose().as_bytes(),
        );
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO webhook_secrets
                     (forge, scope, path, key_id, nonce, ciphertext, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (forge, scope, path) DO UPDATE SET key_id = excluded.key_id,
                     nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                     updated_at = excluded.updated_at",
            )
            .bind(forge.as_str())
            .bind(scope.as_str())
            .bind(path)
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Deletes a webhook secret. Returns false if there was none.
    pub async fn remove_webhook_secret(
        &self,
        forge: Forge,
        scope: HookScope,
        path: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM webhook_secrets WHERE forge = $1 AND scope = $2 AND path = $3")
                .bind(forge.as_str())
                .bind(scope.as_str())
                .bind(path)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Every stored webhook secret's place and key id (never the secret), sorted.
    pub async fn list_webhook_secrets(&self) -> Result<Vec<WebhookSecretInfo>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, scope, path, key_id, updated_at FROM webhook_secrets
                 ORDER BY forge, path, scope",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(forge, scope, path, key_id, updated_at)| {
                Ok(WebhookSecretInfo {
                    forge: forge
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("forge `{forge}`")))?,
                    scope: HookScope::parse(&scope)?,
                    path,
                    key_id,
                    updated_at,
                })
            })
            .collect()
    }

    /// Every stored webhook secret, opened. A row that cannot be opened (unknown key,
    /// tampered) is returned as an error for that place, so the caller can refuse its
    /// deliveries instead of falling back to a more distant secret.
    pub async fn load_webhook_secrets(
        &self,
        vault: &Vault,
    ) -> Result<Vec<StoredHookSecret>, StoreError> {
        let rows: Vec<SecretRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, scope, path, key_id, nonce, ciphertext FROM webhook_secrets",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(forge_s, scope_s, path, key_id, nonce, ciphertext)| {
                let forge: Forge = forge_s
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("forge `{forge_s}`")))?;
                let scope = HookScope::parse(&scope_s)?;
                let sealed = Sealed {
                    key_id,
                    nonce,
                    ciphertext,
                };
                let secret = vault
                    .open(&webhook_secret_aad(&forge_s, &scope_s, &path), &sealed)
                    .map_err(StoreError::from)
                    .and_then(|plain| {
                        String::from_utf8(plain).map_err(|_| {
                            StoreError::Corrupt(format!("{forge} webhook secret for {path}"))
                        })
                    })
                    .map(Secret::new)
                    .map_err(|e| e.to_string());
                Ok(StoredHookSecret {
                    forge,
                    scope,
                    path,
                    secret,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_first_walks_up_the_owner_chain() {
        assert_eq!(
            closest_first("group/sub/app"),
            vec![
                (HookScope::Repo, "group/sub/app".to_string()),
                (HookScope::Owner, "group/sub".to_string()),
                (HookScope::Owner, "group".to_string()),
            ]
        );
        assert_eq!(
            closest_first("acme/web"),
            vec![
                (HookScope::Repo, "acme/web".to_string()),
                (HookScope::Owner, "acme".to_string()),
            ]
        );
    }
}
