//! [`SyncHandler`]: the worker's [`EventHandler`] that keeps threads and PR conversations in
//! step: load facts from the store → [`crate::sync::decide`] (pure) → execute each
//! action through the client traits → record ids at once.
//!
//! Guarantees, and how:
//! - **No duplicates.** Before posting, the link tables are checked (the facts); right after a
//!   post succeeds, the link and the ledger entry are written in one transaction, before the
//!   next action runs. A retried event therefore finds what an earlier attempt posted. The
//!   remaining window (the post succeeded, the process died before the write) is closed for
//!   Slack by an idempotency key in the message metadata, looked up on retries only; for
//!   forge comments it remains (documented in `docs/slack.md`).
//! - **No echo.** Events are processed one PR at a time within a process (a keyed lock), so
//!   the webhook about a comment we just created waits until its ledger entry exists. Across
//!   replicas, bot checks cover the gap: any Slack bot message is ignored, and forge comments
//!   by our App or our account with our attribution line are ignored.
//! - **Identifiers only.** Text lives in memory for the duration of one event. Names and
//!   emails looked up for mentions are cached in memory for a few minutes, never stored.

mod actions;
mod ai;
mod credentials;
mod digest;
mod mentions;
mod reminders;
mod review_state;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clients::github_app::GitHubApp;
use crate::clients::slack::{NewMessage, SlackApi, SlackIdentity, SlackUser};
use crate::clients::{CreatedComment, ForgeApi};
use crate::clock::{Clock, SystemClock};
use crate::config::SyncConfig;
use crate::domain::{Forge, Source};
use crate::queue::{Event, EventHandler, HandleError};
use crate::secret::Secret;
use crate::store::{
    CommentMessage, CredentialKind, FiredTimer, LedgerEntry, Mirror, Origin, PrRef, PrThread,
    SlackRef, Store, StoreError,
};
use crate::sync::decide::{
    Action, ForgeFacts, Reply, SlackFacts, decide_forge, decide_slack, gitlab_deleted_notes,
    needs_bot_identity,
};
use crate::sync::markup::{markdown_logins, slack_to_markdown, slack_user_ids};
use crate::sync::model::{
    Channel, CommentKind, ForgeEvent, ForgeUser, PrFacts, PrState, ReplyTarget, SlackEvent,
};
use crate::sync::{github, gitlab, render, slack};
use crate::vault::Vault;
use crate::worker::cache::{KeyedLocks, ReviewMemo, TtlCache};

pub use ai::AiSummary;

/// How long looked-up names, emails and mention mappings stay in memory.
pub const LOOKUP_TTL: Duration = Duration::from_secs(10 * 60);

/// How long a Slack presence lookup is trusted: short, since presence changes by the minute.
pub const PRESENCE_TTL: Duration = Duration::from_secs(5 * 60);

fn store_error(e: StoreError) -> HandleError {
    HandleError::retry(format!("store: {e}"))
}

fn pr_key(pr: &PrRef) -> String {
    format!("{}:{}#{}", pr.forge, pr.repo, pr.number)
}

fn forge_source(forge: Forge) -> Source {
    match forge {
        Forge::GitHub => Source::GitHub,
        Forge::GitLab => Source::GitLab,
    }
}

fn slack_container(team_id: &str, channel_id: &str) -> String {
    format!("{team_id}/{channel_id}")
}

fn slack_ledger(message: &SlackRef) -> LedgerEntry {
    LedgerEntry {
        platform: Source::Slack,
        container: slack_container(&message.team_id, &message.channel_id),
        object_kind: "message".into(),
        object_id: message.ts.clone(),
    }
}

fn forge_ledger(pr: &PrRef, kind: CommentKind, id: &str) -> LedgerEntry {
    LedgerEntry {
        platform: forge_source(pr.forge),
        container: pr.repo.clone(),
        object_kind: kind.as_str().into(),
        object_id: id.into(),
    }
}

/// A one-line description of an action for logs: kinds and ids, never text.
fn describe(action: &Action) -> String {
    match action {
        Action::PostParent { channel, pr, .. } => {
            format!("post parent for {} in {}", pr_key(pr), channel.channel_id)
        }
        Action::UpdateParent { thread, .. } => format!(
            "update parent {} in {}",
            thread.thread.ts, thread.thread.channel_id
        ),
        Action::PostReply { channel, reply, .. } => format!(
            "post reply for {} {} in {}",
            reply.comment.kind.as_str(),
            reply.comment.id,
            channel.channel_id
        ),
        Action::UpdateReply { message, reply, .. } => format!(
            "update reply {} for {} {}",
            message.ts,
            reply.comment.kind.as_str(),
            reply.comment.id
        ),
        Action::DeleteMessage { message } => format!("delete message {}", message.ts),
        Action::ForgetLink { message } => format!("forget link of {}", message.ts),
        Action::CreateForgeComment {
            pr,
            message,
            target,
            ..
        } => format!(
            "create comment on {} for {} ({target:?})",
            pr_key(pr),
            message.ts
        ),
        Action::EditForgeComment { pr, kind, id, .. } => {
            format!("edit {} {id} on {}", kind.as_str(), pr_key(pr))
        }
        Action::DeleteForgeComment { pr, kind, id, .. } => {
            format!("delete {} {id} on {}", kind.as_str(), pr_key(pr))
        }
        Action::StartPipeline { pr } => format!("start pipeline for {}", pr_key(pr)),
        Action::PostNotice { thread, notice, .. } => {
            format!("post {notice:?} in {}", thread.thread.channel_id)
        }
        Action::ReconcileNotes { pr } => format!("reconcile notes of {}", pr_key(pr)),
        Action::Ignore(reason) => format!("ignore: {reason}"),
    }
}

/// The thread-sync [`EventHandler`].
pub struct SyncHandler {
    store: Store,
    vault: Arc<Vault>,
    slack: Arc<dyn SlackApi>,
    github: Arc<dyn ForgeApi>,
    gitlab: Option<Arc<dyn ForgeApi>>,
    config: SyncConfig,
    locks: KeyedLocks,
    slack_identity: TtlCache<String, SlackIdentity>,
    forge_identity: TtlCache<(Forge, String), Option<ForgeUser>>,
    slack_users: TtlCache<(String, String), SlackUser>,
    logins: TtlCache<(Forge, String, String), Option<String>>,
    slack_ids: TtlCache<(Forge, String, String), Option<String>>,
    summary: Option<AiSummary>,
    github_app: Option<Arc<GitHubApp>>,
    clock: Arc<dyn Clock>,
    review_memo: ReviewMemo,
    /// Slack presence lookups (away or not), for a few minutes.
    presence: TtlCache<(String, String), bool>,
    /// Since when (ms, by the handler's clock) each person's presence has been seen "away".
    away_since: std::sync::Mutex<HashMap<(String, String), i64>>,
    /// Where cockpit messages (mentions, reminders, digests) are counted.
    metrics: crate::metrics::Metrics,
    /// Checked GitLab connections by (API URL, token fingerprint), for a few minutes.
    gitlab_connections: TtlCache<(String, String), codereview_forge::gitlab::GitlabConnection>,
}

impl std::fmt::Debug for SyncHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHandler")
            .field("config", &self.config)
            .field("gitlab", &self.gitlab.is_some())
            .field("summary", &self.summary)
            .field("github_app", &self.github_app)
            .finish_non_exhaustive()
    }
}

/// Per-event execution state: threads created by earlier actions of the same event.
#[derive(Default)]
struct Run {
    attempts: u32,
    /// The pull request as judged for the live review state, once per event (`None`: not
    /// asked yet).
    judging: Option<Option<review_state::Judging>>,
    new_threads: HashMap<Channel, String>,
    no_thread: HashSet<Channel>,
}

impl SyncHandler {
    /// Builds the handler from its clients. `gitlab` is `None` when `GITLAB_URL` is unset.
    pub fn new(
        store: Store,
        vault: Arc<Vault>,
        slack: Arc<dyn SlackApi>,
        github: Arc<dyn ForgeApi>,
        gitlab: Option<Arc<dyn ForgeApi>>,
        config: SyncConfig,
    ) -> Self {
        Self {
            store,
            vault,
            slack,
            github,
            gitlab,
            config,
            locks: KeyedLocks::default(),
            slack_identity: TtlCache::new(None),
            forge_identity: TtlCache::new(Some(LOOKUP_TTL)),
            slack_users: TtlCache::new(Some(LOOKUP_TTL)),
            logins: TtlCache::new(Some(LOOKUP_TTL)),
            slack_ids: TtlCache::new(Some(LOOKUP_TTL)),
            summary: None,
            github_app: None,
            clock: Arc::new(SystemClock),
            review_memo: ReviewMemo::default(),
            presence: TtlCache::new(Some(PRESENCE_TTL)),
            away_since: std::sync::Mutex::default(),
            metrics: crate::metrics::Metrics::default(),
            gitlab_connections: TtlCache::new(Some(LOOKUP_TTL)),
        }
    }

    /// Counts the cockpit messages it posts in `metrics` (what `/metrics` serves).
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads time from `clock` (reminders and digests are scheduled by it; tests inject a
    /// manual one and never sleep for a reminder).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, in ms since the epoch, by the handler's clock.
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Shows the live review state on parents, reading rules and facts from these APIs (what
    /// `serve` sets up unless `CODEREVIEW_SYNC_LIVE_REVIEW=off`).
    pub fn with_live_review(mut self, live: crate::config::LiveReview) -> Self {
        self.config.live_review = Some(live);
        self
    }

    /// Authenticates GitHub calls as this App's installation when the App is installed on the
    /// repository and its private key is stored (`github-app key set`); stored tokens remain
    /// the fallback.
    pub fn with_github_app(mut self, app: Arc<GitHubApp>) -> Self {
        self.github_app = Some(app);
        self
    }

    fn api(&self, forge: Forge) -> Result<&dyn ForgeApi, HandleError> {
        match forge {
            Forge::GitHub => Ok(self.github.as_ref()),
            Forge::GitLab => self.gitlab.as_deref().ok_or_else(|| {
                HandleError::permanent("GITLAB_URL is not set: GitLab events cannot be synced")
            }),
        }
    }

    async fn load_forge_facts(
        &self,
        event: &ForgeEvent,
        pr: &PrRef,
    ) -> Result<ForgeFacts, HandleError> {
        let s = &self.store;
        let links = s
            .links_for_repo(pr.forge, &pr.repo)
            .await
            .map_err(store_error)?;
        let mut facts = ForgeFacts {
            links: links
                .into_iter()
                .map(|l| Channel {
                    team_id: l.team_id,
                    channel_id: l.channel_id,
                })
                .collect(),
            github_app_id: self.config.github_app_id,
            status_context: self.config.status_context.clone(),
            live_review: self.config.live_review.is_some(),
            ..ForgeFacts::default()
        };
        if facts.links.is_empty() {
            return Ok(facts);
        }
        facts.threads = s.pr_threads(pr).await.map_err(store_error)?;
        let pr_mirrors = s.mirrors_of_pr(pr).await.map_err(store_error)?;
        facts.has_mirrored_notes = pr.forge == Forge::GitLab
            && pr_mirrors
                .iter()
                .any(|m| m.link.comment_kind == CommentKind::Note.as_str());
        if let ForgeEvent::Comment { comment, .. } = event {
            let kind = comment.kind.as_str();
            facts.mirrors = s
                .mirrors_of_comment(pr.forge, &pr.repo, kind, &comment.id)
                .await
                .map_err(store_error)?;
            facts.ledger_hit = s
                .created_by_us(&forge_ledger(pr, comment.kind, &comment.id))
                .await
                .map_err(store_error)?;
            if let Some(root) = &comment.thread_root {
                facts.thread_mirrors = pr_mirrors
                    .iter()
                    .filter(|m| m.thread_root.as_ref() == Some(root))
                    .cloned()
                    .collect();
            }
            if !facts.ledger_hit && needs_bot_identity(event, self.config.github_app_id) {
                facts.bot = self.our_forge_identity(pr).await?;
            }
        }
        Ok(facts)
    }

    async fn handle_forge(&self, event: ForgeEvent, attempts: u32) -> Result<(), HandleError> {
        match &event {
            ForgeEvent::Status { context, repo, .. } if *context != self.config.status_context => {
                tracing::debug!(%repo, "status for another context ignored");
                return Ok(());
            }
            ForgeEvent::Status {
                forge, repo, sha, ..
            } => {
                return self
                    .for_each_pr_of_commit(&event, *forge, repo, sha, &[], attempts)
                    .await;
            }
            ForgeEvent::Checks { repo, .. } if self.config.live_review.is_none() => {
                tracing::debug!(%repo, "checks finished: no live review state to refresh");
                return Ok(());
            }
            ForgeEvent::Checks {
                forge,
                repo,
                sha,
                numbers,
                ..
            } => {
                return self
                    .for_each_pr_of_commit(&event, *forge, repo, sha, numbers, attempts)
                    .await;
            }
            _ => {}
        }
        let Some(pr) = event.pr().cloned() else {
            let actions = decide_forge(&event, &ForgeFacts::default());
            for action in &actions {
                tracing::debug!(action = %describe(action), "sync decision");
            }
            return Ok(());
        };
        self.decide_and_run(&event, &pr, attempts).await
    }

    /// Handles `event` (about commit `sha`, not one pull request) for each pull request of a
    /// linked repository: those `named` by the payload, else those the forge finds by commit
    /// (a fork's are never named).
    async fn for_each_pr_of_commit(
        &self,
        event: &ForgeEvent,
        forge: Forge,
        repo: &str,
        sha: &str,
        named: &[i64],
        attempts: u32,
    ) -> Result<(), HandleError> {
        let linked = self
            .store
            .links_for_repo(forge, repo)
            .await
            .map_err(store_error)?;
        if linked.is_empty() {
            tracing::debug!(%repo, "commit event for an unlinked repository ignored");
            return Ok(());
        }
        let numbers = if named.is_empty() {
            let token = self.forge_token(forge, repo).await?;
            self.api(forge)?.prs_for_commit(&token, repo, sha).await?
        } else {
            named.to_vec()
        };
        for number in numbers {
            let pr = PrRef {
                forge,
                repo: repo.to_string(),
                number,
            };
            self.decide_and_run(event, &pr, attempts).await?;
        }
        Ok(())
    }

    async fn decide_and_run(
        &self,
        event: &ForgeEvent,
        pr: &PrRef,
        attempts: u32,
    ) -> Result<(), HandleError> {
        let _guard = self.locks.lock(&pr_key(pr)).await;
        let facts = self.load_forge_facts(event, pr).await?;
        let actions = decide_forge(event, &facts);
        let mut run = Run {
            attempts,
            ..Run::default()
        };
        for thread in &facts.threads {
            run.new_threads.insert(
                Channel {
                    team_id: thread.thread.team_id.clone(),
                    channel_id: thread.thread.channel_id.clone(),
                },
                thread.thread.ts.clone(),
            );
        }
        self.run_actions(&actions, &mut run).await
    }

    async fn handle_slack(&self, event: SlackEvent, attempts: u32) -> Result<(), HandleError> {
        let mut facts = SlackFacts::default();
        let mut lock_pr = None;
        match &event {
            SlackEvent::Other(_) => {}
            SlackEvent::Message {
                channel,
                ts,
                thread_ts,
                bot_id,
                ..
            } => {
                if let (Some(parent), None) = (thread_ts, bot_id) {
                    facts.thread = self
                        .store
                        .pr_thread_by_ts(&channel.team_id, &channel.channel_id, parent)
                        .await
                        .map_err(store_error)?;
                }
                if let Some(thread) = &facts.thread {
                    lock_pr = Some(thread.pr.clone());
                    let message = channel.message(ts.clone());
                    facts.our_bot_user =
                        Some(self.our_slack_identity(&channel.team_id).await?.user_id);
                    facts.ledger_hit = self
                        .store
                        .created_by_us(&slack_ledger(&message))
                        .await
                        .map_err(store_error)?;
                }
            }
            SlackEvent::Changed { channel, ts, .. } | SlackEvent::Deleted { channel, ts } => {
                let message = channel.message(ts.clone());
                facts.mirror = self
                    .store
                    .mirror_of_message(&message)
                    .await
                    .map_err(store_error)?;
                lock_pr = facts.mirror.as_ref().map(|m| m.link.pr.clone());
            }
        }
        let _guard = match &lock_pr {
            Some(pr) => Some(self.locks.lock(&pr_key(pr)).await),
            None => None,
        };
        // Re-read under the lock: a concurrent worker may have just linked this message.
        if let (SlackEvent::Message { channel, ts, .. }, Some(thread)) = (&event, &facts.thread) {
            let message = channel.message(ts.clone());
            facts.mirror = self
                .store
                .mirror_of_message(&message)
                .await
                .map_err(store_error)?;
            facts.previous = self
                .store
                .latest_mirror_before(&thread.pr, &channel.team_id, &channel.channel_id, ts)
                .await
                .map_err(store_error)?;
        }
        let actions = decide_slack(&event, &facts);
        let mut run = Run {
            attempts,
            ..Run::default()
        };
        self.run_actions(&actions, &mut run).await
    }
}

#[async_trait]
impl EventHandler for SyncHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        match event.source {
            Source::GitHub | Source::GitLab => {
                let parsed = match event.source {
                    Source::GitHub => github::parse(&event.kind, &event.payload),
                    _ => gitlab::parse(&event.kind, &event.payload),
                }
                .map_err(|e| HandleError::permanent(e.0))?;
                let summary = self.summary_trigger(event);
                self.handle_forge(parsed, event.attempts).await?;
                // Only once the event's own actions succeeded (the parent exists), and never
                // an error: a summary cannot delay or fail the sync.
                if let Some(trigger) = summary {
                    self.summarize(&trigger).await;
                }
                Ok(())
            }
            Source::Slack => {
                let parsed =
                    slack::parse(&event.payload).map_err(|e| HandleError::permanent(e.0))?;
                self.handle_slack(parsed, event.attempts).await
            }
            Source::Timer => {
                let timer: FiredTimer = event.json()?;
                match timer.kind.as_str() {
                    reminders::KIND => self.remind(&timer, event.attempts).await,
                    digest::KIND => self.send_digest(&timer, event.attempts).await,
                    other => Err(HandleError::permanent(format!(
                        "unknown timer kind `{other}`"
                    ))),
                }
            }
        }
    }
}
