//! The live review state of a parent (on unless `CODEREVIEW_SYNC_LIVE_REVIEW=off`): the
//! repository's rules at the base commit, the pull request's facts and changes, read through
//! `codereview_forge` with the repository's token and judged by
//! [`codereview_forge::evaluate`] — the path the `codereview` action takes — then shown one
//! line per matched scope. A pending scope's reviewers who are neither requested nor
//! approving get one mention in the thread per scope and head commit. Nothing of the pull
//! request's content is stored (which scope was mentioned at which commit, and who the thread
//! waits on, are: identifiers); a failure only leaves the lines out.

use super::*;
use crate::sync::card;
use crate::sync::markup::escape_slack;
use crate::sync::model::ReviewStatus;
use crate::sync::review_state::{self, PendingMention, ReminderScope};
use crate::worker::cache::RepoMemo;
use codereview_forge::evaluate::{self, Early, Judgement};
use codereview_forge::github::{Github, GithubSettings};
use codereview_forge::gitlab::{Gitlab, GitlabSettings};
use codereview_forge::{Forge as ForgeApiTrait, ForgeError};
use std::collections::BTreeSet;

/// What the live review state adds to a parent and its thread.
#[derive(Default)]
pub(super) struct LiveState {
    /// One line per matched scope.
    pub(super) lines: Vec<String>,
    /// Pending scopes whose reviewers to mention, at this head commit.
    pub(super) mentions: Vec<PendingMention>,
    /// The head commit the mentions are about.
    pub(super) head_sha: String,
    /// The parent's facts and `codereview` status, when the forge answered them with the
    /// review facts (GitHub): the parent then needs no read of its own.
    pub(super) card: Option<(PrFacts, Option<ReviewStatus>)>,
    /// Whether the review state is known: judged, or settled without a judgement (no rules,
    /// invalid rules). False when live review is off or the forge could not be read: then
    /// nothing about the thread's wait may change.
    pub(super) evaluated: bool,
    /// At least one scope is pending.
    pub(super) pending: bool,
    /// The pull request is a draft.
    pub(super) draft: bool,
    /// Lower-case logins who could still approve a pending scope.
    pub(super) awaiting: Vec<String>,
    /// The pending scopes as a reminder names them.
    pub(super) reminder: Vec<ReminderScope>,
}

impl SyncHandler {
    /// The live review state for `pr`'s parent; empty when it is off or cannot be read now
    /// (logged).
    pub(super) async fn live_state(&self, pr: &PrRef, team_id: &str) -> LiveState {
        let judging = self.judge_pr(pr).await;
        self.live_state_of(judging.as_ref(), pr, team_id).await
    }

    /// [`SyncHandler::live_state`] for an event's actions: `pr` is judged (read from the
    /// forge) once per event however many linked channels' parents it updates.
    pub(super) async fn live_state_in(
        &self,
        pr: &PrRef,
        team_id: &str,
        run: &mut Run,
    ) -> LiveState {
        if run.judging.is_none() {
            run.judging = Some(self.judge_pr(pr).await);
        }
        let judging = run.judging.as_ref().and_then(Option::as_ref);
        self.live_state_of(judging, pr, team_id).await
    }

    /// Reads and judges `pr` (see [`judge`]); `None` when the live review state is off or the
    /// repository has no token or forge URL.
    async fn judge_pr(&self, pr: &PrRef) -> Option<Judging> {
        let live = self.config.live_review.as_ref()?;
        let token = self.optional_forge_token(pr.forge, &pr.repo).await?;
        let number = u64::try_from(pr.number).unwrap_or_default();
        let (memo, context) = (
            self.review_memo.of(pr.forge, &pr.repo),
            self.config.status_context.as_str(),
        );
        Some(match pr.forge {
            Forge::GitHub => {
                let settings = GithubSettings {
                    api_url: live.github_api_url.clone(),
                    graphql_url: live.github_graphql_url.clone(),
                    repository: pr.repo.clone(),
                    number,
                    token,
                };
                match Github::new(settings) {
                    Ok(forge) => judge(&forge, &memo, live.budget, context).await,
                    Err(e) => Err(e),
                }
            }
            Forge::GitLab => {
                let api_url = live.gitlab_api_url.as_ref()?;
                let settings = GitlabSettings::new(api_url.clone(), pr.repo.clone(), number, token);
                match self.gitlab_on(settings).await {
                    Ok(forge) => judge(&forge, &memo, live.budget, context).await,
                    Err(e) => Err(e),
                }
            }
        })
    }

    /// The live review state of `pr` in workspace `team_id`, from its judging (who is mapped
    /// and away is the workspace's own).
    async fn live_state_of(
        &self,
        judging: Option<&Judging>,
        pr: &PrRef,
        team_id: &str,
    ) -> LiveState {
        match judging {
            None => LiveState::default(),
            Some(Ok((Judged::Lines { lines, settled }, card))) => LiveState {
                lines: lines.clone(),
                evaluated: *settled,
                card: card.clone(),
                ..LiveState::default()
            },
            Some(Ok((
                Judged::Evaluated {
                    evaluation,
                    pr: facts,
                },
                card,
            ))) => {
                // Mentions from the workspace's user map only: no lookups per parent update.
                let mut users = HashMap::new();
                for login in review_state::people(evaluation) {
                    if let Ok(Some(id)) = self.store.slack_user_for_login(pr.forge, &login).await {
                        users.insert(login, id);
                    }
                }
                let awaiting = review_state::awaiting(evaluation);
                let slack_away = self.away_in_slack(team_id, &users, &awaiting).await;
                LiveState {
                    lines: review_state::scope_lines(evaluation, &users, &slack_away),
                    mentions: review_state::pending_mentions(
                        evaluation,
                        &facts.requested_reviewers,
                        &users,
                        &slack_away,
                    ),
                    head_sha: facts.head_sha.clone(),
                    card: card.clone(),
                    evaluated: true,
                    pending: evaluation
                        .scopes
                        .iter()
                        .any(|s| s.state == codereview_policy::review::ScopeState::Pending),
                    draft: evaluation.draft || facts.draft,
                    reminder: review_state::reminder_scopes(evaluation, &users, &slack_away),
                    awaiting: awaiting.into_iter().collect(),
                }
            }
            Some(Err(e)) => {
                tracing::warn!(pr = %pr_key(pr), error = %e, "live review state not available");
                LiveState::default()
            }
        }
    }

    /// The merge request `settings` names, through a connection checked in the last minutes
    /// with the same instance and token when there is one (the `gitlab` crate checks a token
    /// with `GET /user` on every connect).
    async fn gitlab_on(&self, settings: GitlabSettings) -> Result<Gitlab, ForgeError> {
        use sha2::Digest as _;
        let fingerprint = hex::encode(sha2::Sha256::digest(settings.token.expose().as_bytes()));
        let key = (settings.api_url.clone(), fingerprint);
        if let Some(connection) = self.gitlab_connections.get(&key) {
            return Ok(Gitlab::on(&connection, settings));
        }
        let forge = Gitlab::connect(settings).await?;
        self.gitlab_connections.put(key, forge.connection());
        Ok(forge)
    }

    /// Those of `awaiting` (lowercased logins who could still approve a pending scope) who are
    /// mapped and whom Slack shows away (status, or presence away all day:
    /// [`SyncHandler::slack_says_away`]; lookups cached for a few minutes). A lookup that fails
    /// counts as present.
    async fn away_in_slack(
        &self,
        team_id: &str,
        users: &HashMap<String, String>,
        awaiting: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        let mut away = BTreeSet::new();
        let asked: Vec<(&String, &String)> = users
            .iter()
            .filter(|(login, _)| awaiting.contains(*login))
            .collect();
        if asked.is_empty() {
            return away;
        }
        let Ok(token) = self.slack_token(team_id).await else {
            return away;
        };
        for (login, id) in asked {
            if self.slack_says_away(&token, team_id, id).await {
                away.insert(login.clone());
            }
        }
        away
    }

    /// One reply per pending scope mentioning its reviewers, in the thread `parent`, unless
    /// this scope was already mentioned at this head commit (by any replica). A failed post
    /// gives the claim back and fails the event, so the retry mentions them.
    pub(super) async fn mention_pending(
        &self,
        pr: &PrRef,
        channel: &Channel,
        parent_ts: &str,
        state: &LiveState,
        attempts: u32,
    ) -> Result<(), HandleError> {
        for mention in &state.mentions {
            let claimed = self
                .store
                .claim_scope_mention(pr, &mention.scope, &state.head_sha)
                .await
                .map_err(store_error)?;
            if !claimed {
                continue;
            }
            let token = self.slack_token(&channel.team_id).await?;
            let content = render::SlackText {
                text: review_state::mention_text(mention),
                blocks: None,
            };
            let key = format!(
                "{}:mention:{}:{}",
                pr_key(pr),
                mention.scope,
                state.head_sha
            );
            if let Err(e) = self
                .post_once(&token, channel, Some(parent_ts), &content, &key, attempts)
                .await
            {
                let _ = self
                    .store
                    .release_scope_mention(pr, &mention.scope, &state.head_sha)
                    .await;
                return Err(e);
            }
            self.metrics.cockpit_message("mention");
        }
        Ok(())
    }
}

/// Adds to `evaluation.away` those who could still approve a pending scope and told the forge
/// they are busy (GitHub `indicatesLimitedAvailability`, GitLab `availability: busy`): the
/// engine asks only about people it might request. One request for everyone not asked in the
/// last minutes; a failure counts everyone as present.
async fn mark_away_on_the_forge<F: ForgeApiTrait>(
    forge: &F,
    memo: &RepoMemo<'_>,
    evaluation: &mut codereview_policy::review::Evaluation,
) {
    let asked: BTreeSet<String> = evaluation
        .request_candidates
        .iter()
        .map(|c| c.to_lowercase())
        .collect();
    let mut unknown = Vec::new();
    for login in review_state::awaiting(evaluation) {
        if login == "*" || asked.contains(&login) {
            continue;
        }
        match memo.away(&login) {
            Some(true) => evaluation.away.push(login),
            Some(false) => {}
            None => unknown.push(login),
        }
    }
    unknown.truncate(evaluate::MAX_AVAILABILITY_LOOKUPS);
    if unknown.is_empty() {
        return;
    }
    match forge.reviewer_facts(&unknown, false).await {
        Ok(facts) => {
            for login in unknown {
                let away = facts.away.iter().any(|a| a.eq_ignore_ascii_case(&login));
                memo.keep_away(&login, away);
                if away {
                    evaluation.away.push(login);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read reviewers' availability"),
    }
}

/// A pull request read and judged: what the parent can show, and its card.
pub(super) type Judging = Result<(Judged, Option<(PrFacts, Option<ReviewStatus>)>), ForgeError>;

/// What the parent can show: the evaluation (and the facts it was made from), or lines
/// saying why there is none (`settled`: for good, as with no rules or invalid rules, rather
/// than for now).
pub(super) enum Judged {
    Lines {
        lines: Vec<String>,
        settled: bool,
    },
    Evaluated {
        evaluation: Box<codereview_policy::review::Evaluation>,
        pr: Box<codereview_policy::review::PullRequest>,
    },
}

/// The one judging path ([`evaluate::from_facts_with`]), as parent lines, with the parent's
/// card when the forge answered it with the facts; the rules and changes of commits seen in
/// the last minutes come from `memo`. At most `budget` is spent (then nothing is settled).
async fn judge<F: ForgeApiTrait>(
    forge: &F,
    memo: &RepoMemo<'_>,
    budget: std::time::Duration,
    status_context: &str,
) -> Judging {
    let problem = |text: &str, settled: bool| Judged::Lines {
        lines: vec![format!("❌ {}", escape_slack(text))],
        settled,
    };
    let read = async {
        let facts = forge.pull_request().await?;
        let card = facts
            .card
            .as_ref()
            .map(|c| card::parent_facts(&facts, c, status_context));
        let mut judgement =
            evaluate::from_facts_with(forge, facts, evaluate::Options::default(), memo).await?;
        if let Judgement::Evaluated { evaluation, .. } = &mut judgement {
            mark_away_on_the_forge(forge, memo, evaluation).await;
        }
        Ok::<_, ForgeError>((judgement, card))
    };
    let Ok(judged) = tokio::time::timeout(budget, read).await else {
        tracing::warn!(
            budget_ms = budget.as_millis() as u64,
            "the forge did not answer the live review state's reads in time: parent without scope lines"
        );
        let nothing = Judged::Lines {
            lines: Vec::new(),
            settled: false,
        };
        return Ok((nothing, None));
    };
    let (judgement, card) = judged?;
    let judged = match judgement {
        Judgement::Evaluated { evaluation, pr } => Judged::Evaluated { evaluation, pr },
        Judgement::Early(Early::NoRules) => Judged::Lines {
            lines: Vec::new(),
            settled: true,
        },
        Judgement::Early(Early::InvalidConfig(errors)) => problem(
            &errors
                .first()
                .map(codereview_policy::report::config_error_description)
                .unwrap_or_else(|| "invalid rules".into()),
            true,
        ),
        Judgement::Early(Early::TeamUnreadable(message)) => problem(&message, false),
        Judgement::Failed(message) => problem(&message, false),
    };
    Ok((judged, card))
}
