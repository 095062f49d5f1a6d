//! AI summary bookkeeping: which repositories opted in, and which PRs were summarised. Flags
//! and identifiers only — the diff and the summary are never written anywhere. The LLM API
//! key is an ordinary sealed credential (kind `llm`, owner [`LLM_OWNER`]).

use std::time::Duration;

use super::{Store, StoreError, duration_ms, now_ms, on_pool};
use crate::domain::Forge;
use crate::secret::Secret;
use crate::store::{CredentialKind, PrRef};
use crate::vault::Vault;

/// The owner column of the one LLM credential row.
pub const LLM_OWNER: &str = "default";

/// A claim older than this is taken to belong to a worker that died mid-summary, and may be
/// taken again. Longer than any handler runs (the worker cuts handlers off at its lease).
pub const STALE_CLAIM: Duration = Duration::from_secs(15 * 60);

/// A repository's AI summary setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiSummaryRepo {
    /// The forge, or `None` for that path on any forge.
    pub forge: Option<Forge>,
    /// Lower-case repository path.
    pub repo: String,
    /// Also post the summary as a PR comment.
    pub pr_comment: bool,
}

fn forge_column(forge: Option<Forge>) -> &'static str {
    forge.map_or("any", Forge::as_str)
}

fn parse_forge(s: &str) -> Result<Option<Forge>, StoreError> {
    match s {
        "any" => Ok(None),
        other => other
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("forge `{other}`"))),
    }
}

impl Store {
    /// Seals and stores the LLM API key, replacing any previous one.
    pub async fn put_llm_key(&self, vault: &Vault, key: &Secret<String>) -> Result<(), StoreError> {
        self.put_credential(vault, CredentialKind::Llm, LLM_OWNER, key)
            .await
    }

    /// Opens the stored LLM API key, if any.
    pub async fn llm_key(&self, vault: &Vault) -> Result<Option<Secret<String>>, StoreError> {
        self.credential(vault, CredentialKind::Llm, LLM_OWNER).await
    }

    /// Deletes the LLM API key (which turns summaries off). False if there was none.
    pub async fn remove_llm_key(&self) -> Result<bool, StoreError> {
        self.remove_credential(CredentialKind::Llm, LLM_OWNER).await
    }

    /// Turns summaries on for a repository (replacing its `pr_comment` flag).
    pub async fn enable_ai_summary(&self, setting: &AiSummaryRepo) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO ai_summary_repos (forge, repo, pr_comment, created_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (forge, repo) DO UPDATE SET pr_comment = excluded.pr_comment",
            )
            .bind(forge_column(setting.forge))
            .bind(setting.repo.to_ascii_lowercase())
            .bind(setting.pr_comment)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Turns summaries off for a repository. False if they were not on.
    pub async fn disable_ai_summary(
        &self,
        forge: Option<Forge>,
        repo: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM ai_summary_repos WHERE forge = $1 AND repo = $2")
                .bind(forge_column(forge))
                .bind(repo.to_ascii_lowercase())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// The setting for a repository on `forge`: its forge-specific row, else an `any` row.
    pub async fn ai_summary_for_repo(
        &self,
        forge: Forge,
        repo: &str,
    ) -> Result<Option<AiSummaryRepo>, StoreError> {
        let rows: Vec<(String, String, bool)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, repo, pr_comment FROM ai_summary_repos
                 WHERE repo = $1 AND (forge = $2 OR forge = 'any')",
            )
            .bind(repo.to_ascii_lowercase())
            .bind(forge.as_str())
            .fetch_all(pool)
            .await?
        });
        let mut found = None;
        for (f, repo, pr_comment) in rows {
            let setting = AiSummaryRepo {
                forge: parse_forge(&f)?,
                repo,
                pr_comment,
            };
            if setting.forge.is_some() || found.is_none() {
                found = Some(setting);
            }
        }
        Ok(found)
    }

    /// Every repository that opted in, sorted.
    pub async fn list_ai_summary_repos(&self) -> Result<Vec<AiSummaryRepo>, StoreError> {
        let rows: Vec<(String, String, bool)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, repo, pr_comment FROM ai_summary_repos ORDER BY repo, forge",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(f, repo, pr_comment)| {
                Ok(AiSummaryRepo {
                    forge: parse_forge(&f)?,
                    repo,
                    pr_comment,
                })
            })
            .collect()
    }

    /// Claims the right to summarise a PR. True for exactly one caller: the first, or the
    /// first after a claim went stale (its worker died). A posted summary is never claimed
    /// again.
    pub async fn claim_ai_summary(&self, pr: &PrRef) -> Result<bool, StoreError> {
        let now = now_ms();
        let stale_before = now - duration_ms(STALE_CLAIM);
        let n = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO ai_summaries (forge, repo, pr_number, state, updated_at)
                 VALUES ($1, $2, $3, 'pending', $4)
                 ON CONFLICT (forge, repo, pr_number) DO UPDATE SET updated_at = excluded.updated_at
                 WHERE ai_summaries.state = 'pending' AND ai_summaries.updated_at < $5",
            )
            .bind(pr.forge.as_str())
            .bind(&pr.repo)
            .bind(pr.number)
            .bind(now)
            .bind(stale_before)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Marks a claimed PR summarised: it is never summarised again.
    pub async fn ai_summary_posted(&self, pr: &PrRef) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE ai_summaries SET state = 'posted', updated_at = $4
                 WHERE forge = $1 AND repo = $2 AND pr_number = $3",
            )
            .bind(pr.forge.as_str())
            .bind(&pr.repo)
            .bind(pr.number)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Releases a claim after a failure, so a later trigger (marked ready, a new delivery) may
    /// try again. A posted summary stays recorded.
    pub async fn release_ai_summary(&self, pr: &PrRef) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM ai_summaries
                 WHERE forge = $1 AND repo = $2 AND pr_number = $3 AND state = 'pending'",
            )
            .bind(pr.forge.as_str())
            .bind(&pr.repo)
            .bind(pr.number)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
