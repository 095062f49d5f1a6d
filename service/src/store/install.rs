//! Used Slack OAuth install states: a callback's `state` is accepted once, so a leaked or
//! replayed callback URL cannot install a second time.

use super::{Store, StoreError, now_ms, on_pool};

impl Store {
    /// Marks the install state with `nonce` (hex) used, remembering it until `expires_at`
    /// (Unix ms); expired marks are purged on the way. True the first time, false for a replay.
    pub async fn consume_install_state(
        &self,
        nonce: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let inserted = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM slack_install_states WHERE expires_at < $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO slack_install_states (nonce, expires_at) VALUES ($1, $2)
                 ON CONFLICT (nonce) DO NOTHING",
            )
            .bind(nonce)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted == 1)
    }
}
