//! Tokens and identities: the Slack bot token of a workspace, the forge token for a
//! repository (the GitHub App installation first, stored tokens as the fallback), and who we
//! are on each side, so our own messages are never mirrored back.

use super::*;

impl SyncHandler {
    pub(super) async fn slack_token(&self, team_id: &str) -> Result<Secret<String>, HandleError> {
        self.store
            .slack_bot_token(&self.vault, team_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                HandleError::permanent(format!(
                    "no Slack bot token for team {team_id}: run `workspace add` or install the app"
                ))
            })
    }

    /// The token to act on `repo` with: the GitHub App's installation token when the App
    /// covers it, else the stored token of the repository's closest owner.
    pub(super) async fn find_forge_token(
        &self,
        forge: Forge,
        repo: &str,
    ) -> Result<Option<Secret<String>>, HandleError> {
        if let (Forge::GitHub, Some(app)) = (forge, &self.github_app) {
            let key = self
                .store
                .credential(&self.vault, CredentialKind::GitHubApp, app.app_id())
                .await
                .map_err(store_error)?;
            if let Some(key) = key
                && let Some(token) = app.token_for_repo(&key, repo).await?
            {
                return Ok(Some(token));
            }
        }
        self.store
            .forge_token_for_repo(&self.vault, forge, repo)
            .await
            .map_err(store_error)
    }

    pub(super) async fn forge_token(
        &self,
        forge: Forge,
        repo: &str,
    ) -> Result<Secret<String>, HandleError> {
        self.find_forge_token(forge, repo).await?.ok_or_else(|| {
            HandleError::permanent(format!(
                "no {forge} token for {repo}: run `credential add --forge {forge} --owner OWNER`"
            ))
        })
    }

    pub(super) async fn optional_forge_token(
        &self,
        forge: Forge,
        repo: &str,
    ) -> Option<Secret<String>> {
        self.find_forge_token(forge, repo).await.ok().flatten()
    }

    pub(super) async fn our_slack_identity(
        &self,
        team_id: &str,
    ) -> Result<SlackIdentity, HandleError> {
        if let Some(id) = self.slack_identity.get(&team_id.to_string()) {
            return Ok(id);
        }
        let token = self.slack_token(team_id).await?;
        let id = self.slack.auth_test(&token).await?;
        self.slack_identity.put(team_id.to_string(), id.clone());
        Ok(id)
    }

    pub(super) async fn our_forge_identity(
        &self,
        pr: &PrRef,
    ) -> Result<Option<ForgeUser>, HandleError> {
        let owner = pr.repo.rsplit_once('/').map_or("", |(o, _)| o).to_string();
        let key = (pr.forge, owner);
        if let Some(id) = self.forge_identity.get(&key) {
            return Ok(id);
        }
        let Some(token) = self.optional_forge_token(pr.forge, &pr.repo).await else {
            return Ok(None);
        };
        let id = self.api(pr.forge)?.token_user(&token).await?;
        self.forge_identity.put(key, id.clone());
        Ok(id)
    }
}
