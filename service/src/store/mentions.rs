//! Which pending scopes already had their reviewers mentioned in a thread, per head commit:
//! the live review state nudges each scope's reviewers once per commit, from one replica.

use super::{PrRef, Store, StoreError, now_ms, on_pool};

impl Store {
    /// Claims the mention of `scope`'s reviewers on `pr` at `head_sha`: true for the first
    /// caller (who then posts it), false when it was already claimed.
    pub async fn claim_scope_mention(
        &self,
        pr: &PrRef,
        scope: &str,
        head_sha: &str,
    ) -> Result<bool, StoreError> {
        let forge = pr.forge.to_string();
        let inserted = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO scope_mentions (forge, repo, number, scope, head_sha, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (forge, repo, number, scope, head_sha) DO NOTHING",
            )
            .bind(&forge)
            .bind(&pr.repo)
            .bind(pr.number)
            .bind(scope)
            .bind(head_sha)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted == 1)
    }

    /// Gives a claim back (the mention could not be posted), so a retry posts it.
    pub async fn release_scope_mention(
        &self,
        pr: &PrRef,
        scope: &str,
        head_sha: &str,
    ) -> Result<(), StoreError> {
        let forge = pr.forge.to_string();
        on_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM scope_mentions
                 WHERE forge = $1 AND repo = $2 AND number = $3 AND scope = $4 AND head_sha = $5",
            )
            .bind(&forge)
            .bind(&pr.repo)
            .bind(pr.number)
            .bind(scope)
            .bind(head_sha)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }
}
