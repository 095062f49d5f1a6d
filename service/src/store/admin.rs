//! Operator-managed data: Slack workspaces, sealed API tokens, repository ↔ channel links and
//! the explicit user mapping. Written by the admin commands, read by the sync handlers.

use sqlx::Row as _;

use super::{Store, StoreError, now_ms, on_pool};
use crate::domain::Forge;
use crate::secret::Secret;
use crate::vault::{Aad, Sealed, Vault};

/// Which service a stored token talks to; with the owner it is the row's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A Slack bot token (`xoxb-...`); owner = team id.
    Slack,
    /// A forge API token; owner = organisation, user or group.
    Forge(Forge),
    /// The API key of the OpenAI-compatible endpoint for AI summaries; owner =
    /// [`LLM_OWNER`](crate::store::LLM_OWNER).
    Llm,
    /// A GitHub App's private key (PEM); owner = `GITHUB_APP_ID`.
    GitHubApp,
}

impl CredentialKind {
    /// The stable name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Slack => "slack",
            CredentialKind::Forge(f) => f.as_str(),
            CredentialKind::Llm => "llm",
            CredentialKind::GitHubApp => "github-app",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "slack" => Ok(CredentialKind::Slack),
            "llm" => Ok(CredentialKind::Llm),
            "github-app" => Ok(CredentialKind::GitHubApp),
            other => other
                .parse()
                .map(CredentialKind::Forge)
                .map_err(|_| StoreError::Corrupt(format!("credential kind `{other}`"))),
        }
    }
}

/// Associated data for a credential row: its primary key.
pub(crate) fn credential_aad(kind: &str, owner: &str) -> Aad {
    Aad::new("credentials", &[kind, owner])
}

/// A stored credential as listed by `credential list`: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// What the token is for.
    pub kind: CredentialKind,
    /// Team id, organisation or group.
    pub owner: String,
    /// Id of the key that sealed it (shows whether `rotate-key` is still needed).
    pub key_id: String,
    /// Last write, ms since the epoch.
    pub updated_at: i64,
}

/// A repository linked to a Slack channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLink {
    /// The forge, or `None` for a link that applies to that path on any forge.
    pub forge: Option<Forge>,
    /// Lower-case repository path (`owner/name`, `group/sub/project`).
    pub repo: String,
    /// Slack team id.
    pub team_id: String,
    /// Slack channel id.
    pub channel_id: String,
}

/// A Slack user explicitly mapped to a forge login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMapping {
    /// Slack user id (`U...`).
    pub slack_user_id: String,
    /// The forge the login belongs to.
    pub forge: Forge,
    /// Forge login (username).
    pub login: String,
}

fn forge_column(forge: Option<Forge>) -> &'static str {
    forge.map_or("any", Forge::as_str)
}

fn parse_forge_column(s: &str) -> Result<Option<Forge>, StoreError> {
    match s {
        "any" => Ok(None),
        other => other
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("forge `{other}`"))),
    }
}

impl Store {
    /// Registers a Slack workspace and seals its bot token, replacing any previous token.
    pub async fn add_workspace(
        &self,
        vault: &Vault,
        team_id: &str,
        bot_token: &Secret<String>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let kind = CredentialKind::Slack.as_str();
        let sealed = vault.seal(
            &credential_aad(kind, team_id),
            bot_token.expose().as_bytes(),
        );
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO workspaces (team_id, created_at) VALUES ($1, $2)
                 ON CONFLICT (team_id) DO NOTHING",
            )
            .bind(team_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            upsert_credential_sql()
                .bind(kind)
                .bind(team_id)
                .bind(&sealed.key_id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Team ids of registered workspaces, sorted.
    pub async fn list_workspaces(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT team_id FROM workspaces ORDER BY team_id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// Removes a workspace, its bot token and its channel links. Returns false if unknown.
    pub async fn remove_workspace(&self, team_id: &str) -> Result<bool, StoreError> {
        let removed = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let removed = sqlx::query("DELETE FROM workspaces WHERE team_id = $1")
                .bind(team_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM credentials WHERE kind = 'slack' AND owner = $1")
                .bind(team_id)
                .execute(&mut *tx)
                .await?;
            // What the workspace's cockpit kept goes with it (a digest timer left behind fires
            // once more, finds no subscription and ends).
            for table in [
                "repo_links",
                "reminder_settings",
                "review_waits",
                "digest_subscriptions",
            ] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE team_id = $1"
                )))
                .bind(team_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            removed
        });
        Ok(removed > 0)
    }

    /// Seals and stores an API token, replacing any previous one for the same kind and owner.
    pub async fn put_credential(
        &self,
        vault: &Vault,
        kind: CredentialKind,
        owner: &str,
        token: &Secret<String>,
    ) -> Result<(), StoreError> {
        let sealed = vault.seal(
            &credential_aad(kind.as_str(), owner),
            token.expose().as_bytes(),
        );
        on_pool!(self, |pool| {
            upsert_credential_sql()
                .bind(kind.as_str())
                .bind(owner)
                .bind(&sealed.key_id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .bind(now_ms())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Opens the stored token for `kind` and `owner`, if any.
    pub async fn credential(
        &self,
        vault: &Vault,
        kind: CredentialKind,
        owner: &str,
    ) -> Result<Option<Secret<String>>, StoreError> {
        let row: Option<(String, Vec<u8>, Vec<u8>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT key_id, nonce, ciphertext FROM credentials WHERE kind = $1 AND owner = $2",
            )
            .bind(kind.as_str())
            .bind(owner)
            .fetch_optional(pool)
            .await?
        });
        let Some((key_id, nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let sealed = Sealed {
            key_id,
            nonce,
            ciphertext,
        };
        let plain = vault.open(&credential_aad(kind.as_str(), owner), &sealed)?;
        let token = String::from_utf8(plain)
            .map_err(|_| StoreError::Corrupt(format!("{} token for {owner}", kind.as_str())))?;
        Ok(Some(Secret::new(token)))
    }

    /// The Slack bot token of a workspace.
    pub async fn slack_bot_token(
        &self,
        vault: &Vault,
        team_id: &str,
    ) -> Result<Option<Secret<String>>, StoreError> {
        self.credential(vault, CredentialKind::Slack, team_id).await
    }

    /// The forge token for the repository `repo`: the token registered for its closest owner
    /// (`group/sub` before `group` for GitLab subgroups, `owner` for GitHub).
    pub async fn forge_token_for_repo(
        &self,
        vault: &Vault,
        forge: Forge,
        repo: &str,
    ) -> Result<Option<Secret<String>>, StoreError> {
        let segments: Vec<&str> = repo.split('/').collect();
        for end in (1..segments.len()).rev() {
            let owner = segments[..end].join("/");
            if let Some(token) = self
                .credential(vault, CredentialKind::Forge(forge), &owner)
                .await?
            {
                return Ok(Some(token));
            }
        }
        Ok(None)
    }

    /// Every stored credential's identity and key id (never the token).
    pub async fn list_credentials(&self) -> Result<Vec<CredentialInfo>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT kind, owner, key_id, updated_at FROM credentials ORDER BY kind, owner",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(kind, owner, key_id, updated_at)| {
                Ok(CredentialInfo {
                    kind: CredentialKind::parse(&kind)?,
                    owner,
                    key_id,
                    updated_at,
                })
            })
            .collect()
    }

    /// Deletes a credential. Returns false if there was none.
    pub async fn remove_credential(
        &self,
        kind: CredentialKind,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM credentials WHERE kind = $1 AND owner = $2")
                .bind(kind.as_str())
                .bind(owner)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Links a repository to a channel. Idempotent.
    pub async fn add_link(&self, link: &RepoLink) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO repo_links (forge, repo, team_id, channel_id, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(forge_column(link.forge))
            .bind(&link.repo)
            .bind(&link.team_id)
            .bind(&link.channel_id)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes a link. Returns false if it did not exist.
    pub async fn remove_link(&self, link: &RepoLink) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The link's reminder settings and the waits of its threads go with it: a link
            // added again starts afresh, and digests no longer list its pull requests.
            let mut removed = Vec::new();
            for sql in [
                "DELETE FROM repo_links
                 WHERE forge = $1 AND repo = $2 AND team_id = $3 AND channel_id = $4",
                "DELETE FROM reminder_settings
                 WHERE forge = $1 AND repo = $2 AND team_id = $3 AND channel_id = $4",
                "DELETE FROM review_waits
                 WHERE ($1 = 'any' OR forge = $1) AND repo = $2 AND team_id = $3
                   AND channel_id = $4",
            ] {
                let n = sqlx::query(sql)
                    .bind(forge_column(link.forge))
                    .bind(&link.repo)
                    .bind(&link.team_id)
                    .bind(&link.channel_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                removed.push(n);
            }
            let n = removed[0];
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    /// Every link, sorted by repository.
    pub async fn list_links(&self) -> Result<Vec<RepoLink>, StoreError> {
        let rows = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, repo, team_id, channel_id FROM repo_links
                 ORDER BY repo, forge, team_id, channel_id",
            )
            .fetch_all(pool)
            .await?
        });
        links_from_rows(rows)
    }

    /// Channels a repository on `forge` talks in (links for that forge or for any forge).
    pub async fn links_for_repo(
        &self,
        forge: Forge,
        repo: &str,
    ) -> Result<Vec<RepoLink>, StoreError> {
        let rows = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, repo, team_id, channel_id FROM repo_links
                 WHERE repo = $1 AND (forge = $2 OR forge = 'any')
                 ORDER BY team_id, channel_id",
            )
            .bind(repo.to_ascii_lowercase())
            .bind(forge.as_str())
            .fetch_all(pool)
            .await?
        });
        links_from_rows(rows)
    }

    /// Repositories linked to a channel (to route a Slack reply back to its PR).
    pub async fn links_for_channel(
        &self,
        team_id: &str,
        channel_id: &str,
    ) -> Result<Vec<RepoLink>, StoreError> {
        let rows = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT forge, repo, team_id, channel_id FROM repo_links
                 WHERE team_id = $1 AND channel_id = $2 ORDER BY repo, forge",
            )
            .bind(team_id)
            .bind(channel_id)
            .fetch_all(pool)
            .await?
        });
        links_from_rows(rows)
    }

    /// Maps a Slack user to a forge login, replacing a previous mapping for that forge.
    pub async fn map_user(&self, mapping: &UserMapping) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO user_map (slack_user_id, forge, login, created_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (slack_user_id, forge) DO UPDATE SET login = excluded.login",
            )
            .bind(&mapping.slack_user_id)
            .bind(mapping.forge.as_str())
            .bind(&mapping.login)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes a user mapping. Returns false if there was none.
    pub async fn unmap_user(&self, slack_user_id: &str, forge: Forge) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM user_map WHERE slack_user_id = $1 AND forge = $2")
                .bind(slack_user_id)
                .bind(forge.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Every user mapping, sorted.
    pub async fn list_user_mappings(&self) -> Result<Vec<UserMapping>, StoreError> {
        let rows: Vec<(String, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT slack_user_id, forge, login FROM user_map ORDER BY slack_user_id, forge",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(slack_user_id, forge, login)| {
                Ok(UserMapping {
                    slack_user_id,
                    forge: forge
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("forge `{forge}`")))?,
                    login,
                })
            })
            .collect()
    }

    /// The forge login a Slack user is mapped to.
    pub async fn login_for_slack_user(
        &self,
        slack_user_id: &str,
        forge: Forge,
    ) -> Result<Option<String>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query("SELECT login FROM user_map WHERE slack_user_id = $1 AND forge = $2")
                .bind(slack_user_id)
                .bind(forge.as_str())
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get::<String, _>("login"))
                .transpose()?
        });
        Ok(row)
    }

    /// Every forge login a Slack user is mapped to, lower-case (GitHub first): who "me" is
    /// for the digest and `/codereview status`.
    pub async fn logins_of_slack_user(
        &self,
        slack_user_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut logins = Vec::new();
        for forge in [Forge::GitHub, Forge::GitLab] {
            if let Some(login) = self.login_for_slack_user(slack_user_id, forge).await? {
                logins.push(login.to_lowercase());
            }
        }
        Ok(logins)
    }

    /// The Slack user a forge login is mapped to (for mentions).
    pub async fn slack_user_for_login(
        &self,
        forge: Forge,
        login: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query("SELECT slack_user_id FROM user_map WHERE forge = $1 AND login = $2")
                .bind(forge.as_str())
                .bind(login)
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get::<String, _>("slack_user_id"))
                .transpose()?
        });
        Ok(row)
    }
}

fn upsert_credential_sql<'q, DB: sqlx::Database>()
-> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments> {
    // $6 is used twice: created_at for a new row, updated_at for both.
    sqlx::query(
        "INSERT INTO credentials (kind, owner, key_id, nonce, ciphertext, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (kind, owner) DO UPDATE SET key_id = excluded.key_id,
             nonce = excluded.nonce, ciphertext = excluded.ciphertext,
             updated_at = excluded.updated_at",
    )
}

fn links_from_rows(
    rows: Vec<(String, String, String, String)>,
) -> Result<Vec<RepoLink>, StoreError> {
    rows.into_iter()
        .map(|(forge, repo, team_id, channel_id)| {
            Ok(RepoLink {
                forge: parse_forge_column(&forge)?,
                repo,
                team_id,
                channel_id,
            })
        })
        .collect()
}
