//! The live review state of a parent (`CODEREVIEW_SYNC_LIVE_REVIEW=on`): the repository's
//! rules at the base commit, the pull request's facts and changes, read through
//! `codereview_forge` with the repository's token and judged by
//! [`codereview_forge::evaluate`] — the path the `codereview` action takes — then shown one
//! line per matched scope. Nothing is stored; a failure only leaves the lines out.

use super::*;
use crate::sync::markup::escape_slack;
use codereview_forge::evaluate::{self, Early, Judgement};
use codereview_forge::github::{Github, GithubSettings};
use codereview_forge::gitlab::{Gitlab, GitlabSettings};
use codereview_forge::{Forge as ForgeApiTrait, ForgeError};

impl SyncHandler {
    /// The scope lines for `pr`'s parent, or none when the live review state is off or cannot
    /// be read now (logged).
    pub(super) async fn review_lines(&self, pr: &PrRef) -> Vec<String> {
        let Some(live) = &self.config.live_review else {
            return Vec::new();
        };
        let Some(token) = self.optional_forge_token(pr.forge, &pr.repo).await else {
            return Vec::new();
        };
        let number = u64::try_from(pr.number).unwrap_or_default();
        let lines = match pr.forge {
            Forge::GitHub => {
                let settings = GithubSettings {
                    api_url: live.github_api_url.clone(),
                    graphql_url: format!("{}/graphql", live.github_api_url),
                    repository: pr.repo.clone(),
                    number,
                    token,
                };
                match Github::new(settings) {
                    Ok(forge) => judge(&forge).await,
                    Err(e) => Err(e),
                }
            }
            Forge::GitLab => {
                let Some(api_url) = &live.gitlab_api_url else {
                    return Vec::new();
                };
                let settings = GitlabSettings {
                    api_url: api_url.clone(),
                    project: pr.repo.clone(),
                    merge_request: number,
                    token,
                    commit_sha: None,
                    diff_base_sha: None,
                    pipeline_id: None,
                    merge_pipeline: None,
                    ca_file: None,
                    retry: Default::default(),
                };
                match Gitlab::connect(settings).await {
                    Ok(forge) => judge(&forge).await,
                    Err(e) => Err(e),
                }
            }
        };
        match lines {
            Ok(Judged::Lines(lines)) => lines,
            Ok(Judged::Evaluated(evaluation)) => {
                // Mentions from the workspace's user map only: no lookups per parent update.
                let mut users = HashMap::new();
                for login in crate::sync::review_state::people(&evaluation) {
                    if let Ok(Some(id)) = self.store.slack_user_for_login(pr.forge, &login).await {
                        users.insert(login, id);
                    }
                }
                crate::sync::review_state::scope_lines(&evaluation, &users)
            }
            Err(e) => {
                tracing::warn!(pr = %pr_key(pr), error = %e, "live review state not available");
                Vec::new()
            }
        }
    }
}

/// What the parent can show: the evaluation, or lines saying why there is none.
enum Judged {
    Lines(Vec<String>),
    Evaluated(Box<codereview_policy::review::Evaluation>),
}

/// The one judging path ([`evaluate::from_api`]), as parent lines.
async fn judge<F: ForgeApiTrait>(forge: &F) -> Result<Judged, ForgeError> {
    let problem = |text: &str| Judged::Lines(vec![format!("❌ {}", escape_slack(text))]);
    Ok(
        match evaluate::from_api(forge, evaluate::Options::default()).await? {
            Judgement::Evaluated { evaluation, .. } => Judged::Evaluated(evaluation),
            Judgement::Early(Early::NoRules) => Judged::Lines(Vec::new()),
            Judgement::Early(Early::InvalidConfig(errors)) => problem(
                &errors
                    .first()
                    .map(codereview_policy::report::config_error_description)
                    .unwrap_or_else(|| "invalid rules".into()),
            ),
            Judgement::Early(Early::TeamUnreadable(message)) => problem(&message),
            Judgement::Failed(message) => problem(&message),
        },
    )
}
