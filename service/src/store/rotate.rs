//! `rotate-key`: re-seal every row written under an older key with the current key.
//!
//! Rows are rewritten one at a time with an optimistic check (the update only applies if the
//! row still holds the ciphertext we read), so rotation runs while the service is serving and
//! can be interrupted and re-run: it only touches rows whose key id is not the current one.

use super::admin::credential_aad;
use super::queue::event_aad;
use super::webhook_secrets::webhook_secret_aad;
use super::{Store, StoreError, on_pool};
use crate::vault::{Aad, Sealed, Vault};

type CredentialRow = (String, String, String, Vec<u8>, Vec<u8>);
type HookSecretRow = (String, String, String, String, Vec<u8>, Vec<u8>);
type EventRow = (i64, String, String, String, Vec<u8>, Vec<u8>);

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Credentials re-sealed under the current key.
    pub credentials: u64,
    /// Queued payloads (and payloads kept with given-up events) re-sealed under the current key.
    pub events: u64,
    /// Webhook secrets re-sealed under the current key.
    pub webhook_secrets: u64,
    /// Rows that could not be opened (unknown key, tampered), described by identity only.
    pub unreadable: Vec<String>,
}

impl Store {
    /// Re-seals every credential and queued payload not under the vault's current key.
    pub async fn rotate_key(&self, vault: &Vault) -> Result<RotationReport, StoreError> {
        let mut report = RotationReport::default();
        let current = vault.current_key_id().to_string();

        let credentials: Vec<CredentialRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT kind, owner, key_id, nonce, ciphertext FROM credentials WHERE key_id <> $1",
            )
            .bind(&current)
            .fetch_all(pool)
            .await?
        });
        for (kind, owner, key_id, nonce, ciphertext) in credentials {
            let old = Sealed {
                key_id,
                nonce,
                ciphertext,
            };
            let what = format!("credential {kind}/{owner}");
            let Some(new) = reseal(
                vault,
                &credential_aad(&kind, &owner),
                &old,
                &what,
                &mut report,
            ) else {
                continue;
            };
            let n = on_pool!(self, |pool| {
                sqlx::query(
                    "UPDATE credentials SET key_id = $1, nonce = $2, ciphertext = $3
                     WHERE kind = $4 AND owner = $5 AND nonce = $6",
                )
                .bind(&new.key_id)
                .bind(&new.nonce)
                .bind(&new.ciphertext)
                .bind(&kind)
                .bind(&owner)
                .bind(&old.nonce)
                .execute(pool)
                .await?
                .rows_affected()
            });
            report.credentials += n;
        }

        report.webhook_secrets = self.rotate_webhook_secrets(vault, &mut report).await?;

        // Queued payloads, and the payloads kept with given-up events (`queue retry-failed`).
        for (table, select, update) in [
            (
                "queued",
                "SELECT id, source, dedupe_key, key_id, nonce, ciphertext FROM event_queue
                 WHERE key_id <> $1",
                "UPDATE event_queue SET key_id = $1, nonce = $2, ciphertext = $3
                 WHERE id = $4 AND nonce = $5",
            ),
            (
                "given-up",
                "SELECT id, source, dedupe_key, key_id, nonce, ciphertext FROM event_failures
                 WHERE key_id IS NOT NULL AND key_id <> $1",
                "UPDATE event_failures SET key_id = $1, nonce = $2, ciphertext = $3
                 WHERE id = $4 AND nonce = $5",
            ),
        ] {
            let events: Vec<EventRow> = on_pool!(self, |pool| {
                sqlx::query_as(select)
                    .bind(&current)
                    .fetch_all(pool)
                    .await?
            });
            for (id, source, dedupe_key, key_id, nonce, ciphertext) in events {
                let old = Sealed {
                    key_id,
                    nonce,
                    ciphertext,
                };
                let what = format!("{table} event {source}/{dedupe_key}");
                let Some(new) = reseal(
                    vault,
                    &event_aad(&source, &dedupe_key),
                    &old,
                    &what,
                    &mut report,
                ) else {
                    continue;
                };
                let n = on_pool!(self, |pool| {
                    sqlx::query(update)
                        .bind(&new.key_id)
                        .bind(&new.nonce)
                        .bind(&new.ciphertext)
                        .bind(id)
                        .bind(&old.nonce)
                        .execute(pool)
                        .await?
                        .rows_affected()
                });
                report.events += n;
            }
        }
        Ok(report)
    }
}

impl Store {
    /// Re-seals the webhook secrets not under the current key; returns how many.
    async fn rotate_webhook_secrets(
        &self,
        vault: &Vault,
        report: &mut RotationReport,
    ) -> Result<u64, StoreError> {
        let rows: Vec<HookSecretRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, scope, path, key_id, nonce, ciphertext FROM webhook_secrets
                 WHERE key_id <> $1",
            )
            .bind(vault.current_key_id())
            .fetch_all(pool)
            .await?
        });
        let mut done = 0;
        for (forge, scope, path, key_id, nonce, ciphertext) in rows {
            let old = Sealed {
                key_id,
                nonce,
                ciphertext,
            };
            let what = format!("webhook secret {forge}/{scope}/{path}");
            let aad = webhook_secret_aad(&forge, &scope, &path);
            let Some(new) = reseal(vault, &aad, &old, &what, report) else {
                continue;
            };
            done += on_pool!(self, |pool| {
                sqlx::query(
                    "UPDATE webhook_secrets SET key_id = $1, nonce = $2, ciphertext = $3
                     WHERE forge = $4 AND scope = $5 AND path = $6 AND nonce = $7",
                )
                .bind(&new.key_id)
                .bind(&new.nonce)
                .bind(&new.ciphertext)
                .bind(&forge)
                .bind(&scope)
                .bind(&path)
                .bind(&old.nonce)
                .execute(pool)
                .await?
                .rows_affected()
            });
        }
        Ok(done)
    }
}

/// Open a row sealed under any accepted key and seal it again under the current one; a row
/// that cannot be opened is reported by its identity (`what`) and left as it is.
fn reseal(
    vault: &Vault,
    aad: &Aad,
    old: &Sealed,
    what: &str,
    report: &mut RotationReport,
) -> Option<Sealed> {
    match vault.open(aad, old) {
        Ok(plain) => Some(vault.seal(aad, &plain)),
        Err(e) => {
            report.unreadable.push(format!("{what}: {e}"));
            None
        }
    }
}
