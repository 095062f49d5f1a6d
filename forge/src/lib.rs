//! Forges (GitHub, GitLab) behind one trait: read the pull/merge request's facts, expand teams,
//! list changed files when the checkout lacks history, and write the result back (one commit
//! status, reviewer requests, labels, the job summary and outputs).
//!
//! Nothing here decides policy: `codereview_policy::review` does, from the facts these return.

pub mod evaluate;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod github;
pub mod gitlab;
pub mod graphql_pages;
pub mod secret;

pub use secret::Secret;

use codereview_policy::config::{ConfigFile, Teams};
use codereview_policy::diff::FileDiff;
use codereview_policy::review::{Overall, PullRequest, ReviewerFacts};
use std::collections::{BTreeMap, BTreeSet};

/// What a forge says about a pull/merge request, beyond the changed files.
#[derive(Debug, Clone, Default)]
pub struct PrFacts {
    /// Author, head, draft, labels, requested reviewers, reviews, check runs (files empty).
    pub pr: PullRequest,
    /// The target branch's commit the configs are read from.
    pub base_sha: String,
    /// The target branch's name (for fetching history).
    pub base_ref: String,
    /// What a chat message about it shows, when the forge answered it in the same read
    /// (GitHub); `None` otherwise.
    pub card: Option<PrCard>,
}

/// The pull request as a chat message shows it: title, link, size, state and the commit
/// statuses of its head. Read together with the facts, so the sync service's parent costs no
/// second request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrCard {
    /// Title.
    pub title: String,
    /// Web page.
    pub url: String,
    /// `open`, `closed` or `merged` (a draft is `open` with [`PullRequest::draft`]).
    pub state: String,
    /// Source branch.
    pub head_ref: String,
    /// Lines added.
    pub additions: Option<u64>,
    /// Lines removed.
    pub deletions: Option<u64>,
    /// Files changed.
    pub changed_files: Option<u64>,
    /// The head commit's statuses, newest per context.
    pub statuses: Vec<StatusContext>,
}

/// One commit status context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusContext {
    /// Its name, e.g. `codereview`.
    pub context: String,
    /// `success`, `pending`, `failure` or `error`.
    pub state: String,
    /// Its one-line description.
    pub description: Option<String>,
}

/// The commit status to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    /// Commit to post on (the head).
    pub sha: String,
    /// Verdict.
    pub state: Overall,
    /// ≤ 140 characters.
    pub description: String,
    /// Context / name, `codereview` by default.
    pub context: String,
    /// Link to the CI job.
    pub target_url: Option<String>,
}

/// Why a forge call failed, in terms a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// The token was rejected (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The token lacks a permission; the message says which.
    #[error("{0}")]
    Forbidden(String),
    /// Anything else (after retries for 5xx and transport errors).
    #[error("{0}")]
    Api(String),
}

/// A forge as `codereview status` needs it. Implementations keep the number of requests small:
/// a whole evaluation costs a handful of calls whatever the size of the change.
#[allow(async_fn_in_trait)]
pub trait Forge {
    /// The facts of the pull/merge request being evaluated.
    async fn pull_request(&self) -> Result<PrFacts, ForgeError>;
    /// Members of each team (lowercased `org/team`); a team the token cannot read is a
    /// [`ForgeError::Forbidden`] naming the permission needed.
    async fn team_members(&self, teams: &BTreeSet<String>) -> Result<Teams, ForgeError>;
    /// Changed files with hunks from the API, when the checkout cannot tell.
    async fn changed_files(&self) -> Result<Vec<FileDiff>, ForgeError>;
    /// Post the commit status.
    async fn post_status(&self, status: &CommitStatus) -> Result<(), ForgeError>;
    /// Ask these people to review.
    async fn request_reviewers(&self, logins: &[String]) -> Result<(), ForgeError>;
    /// The first comment on the pull/merge request whose body starts with `marker`, as
    /// (id, body): how the instructions comment is found again on the next run.
    async fn find_comment(&self, marker: &str) -> Result<Option<(u64, String)>, ForgeError>;
    /// Post a new comment on the pull/merge request.
    async fn create_comment(&self, body: &str) -> Result<(), ForgeError>;
    /// Replace the body of a comment found by [`Forge::find_comment`].
    async fn edit_comment(&self, id: u64, body: &str) -> Result<(), ForgeError>;
    /// Add and remove labels (`current` is what the facts said is there now).
    async fn update_labels(
        &self,
        current: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<(), ForgeError>;
    /// Every `CODEREVIEW*.toml` of the repository at commit `rev`, read through the API: how a
    /// caller without a checkout (the sync service) gets the base branch's rules.
    async fn config_files(&self, rev: &str) -> Result<Vec<ConfigFile>, ForgeError>;
    /// Who of `people` is away and, when `balanced`, how many open review requests each has in
    /// this repository: one request for everyone, asked only when someone is to be requested.
    /// A forge that cannot tell says nobody is away (the default).
    async fn reviewer_facts(
        &self,
        people: &[String],
        balanced: bool,
    ) -> Result<ReviewerFacts, ForgeError> {
        let _ = (people, balanced);
        Ok(ReviewerFacts::default())
    }
    /// The text in which each of `approvers` answered the approval checklists, where the forge
    /// keeps it apart from the approval (GitLab: the person's latest comment holding a task
    /// list). GitHub's review bodies already come with the reviews, so the default is none.
    async fn checklist_answers(
        &self,
        approvers: &[String],
    ) -> Result<BTreeMap<String, String>, ForgeError> {
        let _ = approvers;
        Ok(BTreeMap::new())
    }
}
