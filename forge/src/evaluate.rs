//! The one way a pull/merge request is judged, whoever asks: the `codereview` action (rules
//! read from its checkout, changes from `git diff`) and the sync service (rules and changes
//! from the API) hand their inputs to these two steps, so both reach the same verdict from the
//! same facts.
//!
//! 1. [`load_rules`]: the base branch's config files → parsed, teams expanded through the
//!    forge, compiled; or the early verdict (no rules, invalid rules, a team the token cannot
//!    read).
//! 2. [`evaluate`]: the rules and the pull request → the evaluation, refined with what only
//!    matters once it is known (the approvers' checklist answers where the forge keeps them
//!    apart, the availability and load of the people a `request` could pick), each asked of
//!    the forge only when needed.
//!
//! [`from_api`] chains both with every input read through the API, for callers without a
//! checkout.

use crate::{Forge, ForgeError, PrFacts};
use codereview_policy::config::{CONFIG_FILENAME, ConfigErrors, ConfigFile, ConfigSet, RawSet};
use codereview_policy::diff::FileDiff;
use codereview_policy::review::{
    self, Evaluation, EvaluationError, LargeScaleLimits, PullRequest, ReviewState, ReviewerFacts,
};
use std::collections::BTreeSet;

/// Why there is a verdict without an evaluation.
#[derive(Debug, Clone)]
pub enum Early {
    /// No `CODEREVIEW.toml` at the root of the base branch: review rules are not enabled.
    NoRules,
    /// The rules do not parse or compile; the errors name file, line and column.
    InvalidConfig(ConfigErrors),
    /// A team the rules reference cannot be read with this token (the message says which
    /// permission is missing).
    TeamUnreadable(String),
}

/// The base branch's rules, ready to evaluate: parsed, with their teams expanded.
pub async fn load_rules<F: Forge>(
    forge: &F,
    files: Vec<ConfigFile>,
) -> Result<Result<ConfigSet, Early>, ForgeError> {
    if !files.iter().any(|f| f.path == CONFIG_FILENAME) {
        return Ok(Err(Early::NoRules));
    }
    let raw = match RawSet::parse(files) {
        Ok(raw) => raw,
        Err(errors) => return Ok(Err(Early::InvalidConfig(errors))),
    };
    let team_refs = match raw.team_refs() {
        Ok(t) => t,
        Err(errors) => return Ok(Err(Early::InvalidConfig(errors))),
    };
    let teams = match forge.team_members(&team_refs).await {
        Ok(t) => t,
        Err(ForgeError::Forbidden(message)) => return Ok(Err(Early::TeamUnreadable(message))),
        Err(e) => return Err(e),
    };
    Ok(raw.compile(Some(&teams)).map_err(Early::InvalidConfig))
}

/// How an evaluation is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Where a change becomes one large-scale change.
    pub limits: LargeScaleLimits,
    /// Pick requested reviewers by their open review requests (fewest first).
    pub balanced: bool,
}

/// At most this many people's availability is asked in the one request (GitHub and GitLab
/// answer 100 nodes a query).
pub const MAX_AVAILABILITY_LOOKUPS: usize = 100;

/// Evaluate `pr` (its changed files filled in) under `configs`. `pr` gains what the forge
/// added (checklist answers, reviewer facts). A warning is printed, and the evaluation goes on
/// without it, when the forge cannot say.
pub async fn evaluate<F: Forge>(
    forge: &F,
    configs: &ConfigSet,
    pr: &mut PullRequest,
    options: Options,
) -> Result<Evaluation, EvaluationError> {
    let mut evaluation = review::evaluate(configs, pr, options.limits)?;
    let reevaluate = |pr: &PullRequest, previous: Evaluation| {
        review::evaluate(configs, pr, options.limits).unwrap_or(previous)
    };
    let unanswered: Vec<String> = evaluation
        .scopes
        .iter()
        .flat_map(|s| &s.incomplete_checklists)
        .map(|(login, _)| login.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !unanswered.is_empty() {
        match forge.checklist_answers(&unanswered).await {
            Ok(answers) if !answers.is_empty() => {
                for review in &mut pr.reviews {
                    if let Some(text) = answers.get(&review.user.to_lowercase())
                        && review.state == ReviewState::Approved
                        && review.body.trim().is_empty()
                    {
                        review.body = text.clone();
                    }
                }
                evaluation = reevaluate(pr, evaluation);
            }
            Ok(_) => {}
            Err(e) => eprintln!("warning: could not read the approvers' checklist answers: {e}"),
        }
    }
    if !evaluation.request_candidates.is_empty() {
        let people: Vec<String> = evaluation
            .request_candidates
            .iter()
            .take(MAX_AVAILABILITY_LOOKUPS)
            .cloned()
            .collect();
        match forge.reviewer_facts(&people, options.balanced).await {
            Ok(facts) if facts != ReviewerFacts::default() => {
                pr.reviewer_facts = facts;
                evaluation = reevaluate(pr, evaluation);
            }
            Ok(_) => {}
            Err(e) => eprintln!(
                "warning: could not read reviewers' availability{}: {e}",
                if options.balanced {
                    " and open review requests"
                } else {
                    ""
                }
            ),
        }
    }
    Ok(evaluation)
}

/// What [`from_api`] concludes.
#[derive(Debug)]
pub enum Judgement {
    /// A verdict without an evaluation.
    Early(Early),
    /// The evaluation, and the pull request as evaluated (its files and added facts in).
    Evaluated {
        /// Scopes, files, overall verdict.
        evaluation: Box<Evaluation>,
        /// The facts it was made from.
        pr: Box<PullRequest>,
    },
    /// The rules cannot be applied to this change (e.g. a large-scale change without
    /// reviewers); the message says why.
    Failed(String),
}

/// What does not change for given commits, kept between evaluations by a long-running caller
/// (the sync service judges a pull request on every event of it): the rules at a base commit
/// with their teams expanded, and the changes between a base and a head commit. Keyed by
/// commit ids of one repository; the implementation decides how long to keep them (team
/// membership can change, so not forever). The action judges once: [`NoMemo`].
pub trait Memo: Send + Sync {
    /// The rules (or the early verdict) at `base_sha`, if kept.
    fn rules(&self, base_sha: &str) -> Option<Result<ConfigSet, Early>>;
    /// Keeps the rules at `base_sha`.
    fn keep_rules(&self, base_sha: &str, rules: &Result<ConfigSet, Early>);
    /// The changed files from `base_sha` to `head_sha`, if kept.
    fn files(&self, base_sha: &str, head_sha: &str) -> Option<Vec<FileDiff>>;
    /// Keeps the changed files from `base_sha` to `head_sha`.
    fn keep_files(&self, base_sha: &str, head_sha: &str, files: &[FileDiff]);
}

/// Keeps nothing: every input is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMemo;

impl Memo for NoMemo {
    fn rules(&self, _: &str) -> Option<Result<ConfigSet, Early>> {
        None
    }
    fn keep_rules(&self, _: &str, _: &Result<ConfigSet, Early>) {}
    fn files(&self, _: &str, _: &str) -> Option<Vec<FileDiff>> {
        None
    }
    fn keep_files(&self, _: &str, _: &str, _: &[FileDiff]) {}
}

/// Judge the forge's pull request with every input from the API: its facts, the rules at its
/// base commit ([`Forge::config_files`]) and its changed files ([`Forge::changed_files`]).
/// The sync service's live review state; the action reads rules and changes from its
/// checkout instead and otherwise takes the same two steps.
pub async fn from_api<F: Forge>(forge: &F, options: Options) -> Result<Judgement, ForgeError> {
    from_api_with(forge, options, &NoMemo).await
}

/// [`from_api`], reading the rules and the changes only when `memo` does not have them for
/// these commits: then a new event of a known pull request costs one read (its facts) plus
/// what the evaluation must ask (checklist answers, availability).
pub async fn from_api_with<F: Forge>(
    forge: &F,
    options: Options,
    memo: &dyn Memo,
) -> Result<Judgement, ForgeError> {
    let facts = forge.pull_request().await?;
    from_facts_with(forge, facts, options, memo).await
}

/// [`from_api_with`] for a caller that has read the pull request's facts already (the sync
/// service also shows their [`crate::PrCard`]).
pub async fn from_facts_with<F: Forge>(
    forge: &F,
    facts: PrFacts,
    options: Options,
    memo: &dyn Memo,
) -> Result<Judgement, ForgeError> {
    let rules = match memo.rules(&facts.base_sha) {
        Some(rules) => rules,
        None => {
            let files = forge.config_files(&facts.base_sha).await?;
            let rules = load_rules(forge, files).await?;
            memo.keep_rules(&facts.base_sha, &rules);
            rules
        }
    };
    let configs = match rules {
        Ok(configs) => configs,
        Err(early) => return Ok(Judgement::Early(early)),
    };
    let mut pr = facts.pr;
    pr.files = match memo.files(&facts.base_sha, &pr.head_sha) {
        Some(files) => files,
        None => {
            let files = forge.changed_files().await?;
            memo.keep_files(&facts.base_sha, &pr.head_sha, &files);
            files
        }
    };
    Ok(match evaluate(forge, &configs, &mut pr, options).await {
        Ok(evaluation) => Judgement::Evaluated {
            evaluation: Box::new(evaluation),
            pr: Box::new(pr),
        },
        Err(e) => Judgement::Failed(e.0),
    })
}
