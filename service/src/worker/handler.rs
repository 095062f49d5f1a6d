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

mod ai;

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::clients::github_app::GitHubApp;
use crate::clients::slack::{NewMessage, SlackApi, SlackIdentity, SlackUser};
use crate::clients::{CreatedComment, ForgeApi};
use crate::config::SyncConfig;
use crate::domain::{Forge, Source};
use crate::queue::{Event, EventHandler, HandleError};
use crate::secret::Secret;
use crate::store::{
    CommentMessage, CredentialKind, LedgerEntry, Mirror, Origin, PrRef, PrThread, SlackRef, Store,
    StoreError,
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

pub use ai::AiSummary;

/// How long looked-up names, emails and mention mappings stay in memory.
pub const LOOKUP_TTL: Duration = Duration::from_secs(10 * 60);

fn store_error(e: StoreError) -> HandleError {
    HandleError::retry(format!("store: {e}"))
}

/// A small in-memory cache with expiry (lookups only; nothing here is persisted).
struct TtlCache<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
    ttl: Option<Duration>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    fn new(ttl: Option<Duration>) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().ok()?;
        let (at, v) = map.get(key)?;
        match self.ttl {
            Some(ttl) if at.elapsed() > ttl => None,
            _ => Some(v.clone()),
        }
    }

    fn put(&self, key: K, value: V) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(key, (Instant::now(), value));
        }
    }
}

/// One async mutex per key (a PR), created on demand and dropped when unused.
#[derive(Default)]
struct KeyedLocks {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.locks.lock().expect("lock map poisoned");
            if map.len() > 1024 {
                map.retain(|_, w| w.strong_count() > 0);
            }
            match map.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key.to_string(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
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
        }
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

    async fn slack_token(&self, team_id: &str) -> Result<Secret<String>, HandleError> {
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
    async fn find_forge_token(
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

    async fn forge_token(&self, forge: Forge, repo: &str) -> Result<Secret<String>, HandleError> {
        self.find_forge_token(forge, repo).await?.ok_or_else(|| {
            HandleError::permanent(format!(
                "no {forge} token for {repo}: run `credential add --forge {forge} --owner OWNER`"
            ))
        })
    }

    async fn optional_forge_token(&self, forge: Forge, repo: &str) -> Option<Secret<String>> {
        self.find_forge_token(forge, repo).await.ok().flatten()
    }

    async fn our_slack_identity(&self, team_id: &str) -> Result<SlackIdentity, HandleError> {
        if let Some(id) = self.slack_identity.get(&team_id.to_string()) {
            return Ok(id);
        }
        let token = self.slack_token(team_id).await?;
        let id = self.slack.auth_test(&token).await?;
        self.slack_identity.put(team_id.to_string(), id.clone());
        Ok(id)
    }

    async fn our_forge_identity(&self, pr: &PrRef) -> Result<Option<ForgeUser>, HandleError> {
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

    async fn slack_user(
        &self,
        token: &Secret<String>,
        team_id: &str,
        user: &str,
    ) -> Result<SlackUser, HandleError> {
        let key = (team_id.to_string(), user.to_string());
        if let Some(u) = self.slack_users.get(&key) {
            return Ok(u);
        }
        let u = self.slack.user_info(token, user).await?;
        self.slack_users.put(key, u.clone());
        Ok(u)
    }

    /// Slack user ids in `text` → what they become on the forge: `@login` (explicit map, else
    /// email match), else `@Display Name`.
    async fn slack_mentions(
        &self,
        token: &Secret<String>,
        team_id: &str,
        forge: Forge,
        repo: &str,
        text: &str,
    ) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for id in slack_user_ids(text) {
            if let Ok(Some(login)) = self.store.login_for_slack_user(&id, forge).await {
                out.insert(id, format!("@{login}"));
                continue;
            }
            let key = (forge, team_id.to_string(), id.clone());
            let cached = self.logins.get(&key);
            let info = self.slack_user(token, team_id, &id).await.ok();
            let login = match cached {
                Some(login) => login,
                None => {
                    let email = info.as_ref().and_then(|i| i.email.clone());
                    let found = match (email, self.optional_forge_token(forge, repo).await) {
                        (Some(email), Some(forge_token)) => match self.api(forge) {
                            Ok(api) => api
                                .login_for_email(&forge_token, &email)
                                .await
                                .ok()
                                .flatten(),
                            Err(_) => None,
                        },
                        _ => None,
                    };
                    self.logins.put(key, found.clone());
                    found
                }
            };
            let shown = match (login, info) {
                (Some(login), _) => format!("@{login}"),
                (None, Some(info)) => format!("@{}", info.name),
                (None, None) => format!("@{id}"),
            };
            out.insert(id, shown);
        }
        out
    }

    /// Forge logins in `markdown` → Slack user ids (explicit map, else email match).
    async fn forge_mentions(
        &self,
        token: &Secret<String>,
        team_id: &str,
        pr: &PrRef,
        markdown: &str,
    ) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for login in markdown_logins(markdown) {
            if let Ok(Some(id)) = self.store.slack_user_for_login(pr.forge, &login).await {
                out.insert(login, id);
                continue;
            }
            let key = (pr.forge, team_id.to_string(), login.clone());
            let id = match self.slack_ids.get(&key) {
                Some(id) => id,
                None => {
                    let email = match (
                        self.optional_forge_token(pr.forge, &pr.repo).await,
                        self.api(pr.forge),
                    ) {
                        (Some(forge_token), Ok(api)) => api
                            .email_for_login(&forge_token, &login)
                            .await
                            .ok()
                            .flatten(),
                        _ => None,
                    };
                    let id = match email {
                        Some(email) => self.slack.user_by_email(token, &email).await.ok().flatten(),
                        None => None,
                    };
                    self.slack_ids.put(key, id.clone());
                    id
                }
            };
            if let Some(id) = id {
                out.insert(login, id);
            }
        }
        out
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
        if let ForgeEvent::Status {
            forge,
            repo,
            sha,
            context,
            ..
        } = &event
        {
            if *context != self.config.status_context {
                tracing::debug!(%repo, "status for another context ignored");
                return Ok(());
            }
            let linked = self
                .store
                .links_for_repo(*forge, repo)
                .await
                .map_err(store_error)?;
            if linked.is_empty() {
                tracing::debug!(%repo, "status for an unlinked repository ignored");
                return Ok(());
            }
            let token = self.forge_token(*forge, repo).await?;
            let numbers = self.api(*forge)?.prs_for_commit(&token, repo, sha).await?;
            for number in numbers {
                let pr = PrRef {
                    forge: *forge,
                    repo: repo.clone(),
                    number,
                };
                self.decide_and_run(&event, &pr, attempts).await?;
            }
            return Ok(());
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
                    let message = SlackRef {
                        team_id: channel.team_id.clone(),
                        channel_id: channel.channel_id.clone(),
                        ts: ts.clone(),
                    };
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
                let message = SlackRef {
                    team_id: channel.team_id.clone(),
                    channel_id: channel.channel_id.clone(),
                    ts: ts.clone(),
                };
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
            let message = SlackRef {
                team_id: channel.team_id.clone(),
                channel_id: channel.channel_id.clone(),
                ts: ts.clone(),
            };
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

    async fn run_actions(&self, actions: &[Action], run: &mut Run) -> Result<(), HandleError> {
        for action in actions {
            tracing::info!(action = %describe(action), "sync action");
            self.run_action(action, run).await?;
        }
        Ok(())
    }

    async fn run_action(&self, action: &Action, run: &mut Run) -> Result<(), HandleError> {
        match action {
            Action::Ignore(_) => Ok(()),
            Action::PostParent { channel, pr, facts } => {
                self.post_parent(channel, pr, facts.clone(), run).await
            }
            Action::UpdateParent { thread, status } => {
                let api = self.api(thread.pr.forge)?;
                let token = self.forge_token(thread.pr.forge, &thread.pr.repo).await?;
                let facts = api.pull_request(&token, &thread.pr).await?;
                let status = match (status, &facts.head_sha) {
                    (Some(s), _) => Some(s.clone()),
                    (None, Some(sha)) => {
                        api.review_status(&token, &thread.pr.repo, sha, &self.config.status_context)
                            .await?
                    }
                    (None, None) => None,
                };
                let content = render::parent(thread.pr.forge, &facts, status.as_ref());
                let slack_token = self.slack_token(&thread.thread.team_id).await?;
                if !self
                    .slack
                    .update_message(
                        &slack_token,
                        &thread.thread.channel_id,
                        &thread.thread.ts,
                        &content,
                    )
                    .await?
                {
                    tracing::warn!(ts = %thread.thread.ts, "parent message is gone from Slack");
                }
                Ok(())
            }
            Action::PostReply { channel, pr, reply } => {
                self.post_reply(channel, pr, reply, run).await
            }
            Action::UpdateReply { message, pr, reply } => {
                let token = self.slack_token(&message.team_id).await?;
                let users = self
                    .forge_mentions(&token, &message.team_id, pr, &reply.comment.body)
                    .await;
                let content = render::reply(reply, &users);
                if !self
                    .slack
                    .update_message(&token, &message.channel_id, &message.ts, &content)
                    .await?
                {
                    self.store
                        .remove_comment_message(message)
                        .await
                        .map_err(store_error)?;
                }
                Ok(())
            }
            Action::DeleteMessage { message } => {
                let token = self.slack_token(&message.team_id).await?;
                self.slack
                    .delete_message(&token, &message.channel_id, &message.ts)
                    .await?;
                self.store
                    .remove_comment_message(message)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }
            Action::ForgetLink { message } => {
                self.store
                    .remove_comment_message(message)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }
            Action::CreateForgeComment {
                pr,
                target,
                message,
                author,
                text,
            } => {
                let api = self.api(pr.forge)?;
                let forge_token = self.forge_token(pr.forge, &pr.repo).await?;
                let body = self.forge_body(pr, &message.team_id, author, text).await?;
                let created = match self
                    .posted_by_earlier_attempt(api, &forge_token, pr, target, &body, run.attempts)
                    .await?
                {
                    Some(created) => created,
                    None => api.create_comment(&forge_token, pr, target, &body).await?,
                };
                let mirror = Mirror {
                    link: CommentMessage {
                        pr: pr.clone(),
                        comment_kind: created.kind.as_str().into(),
                        comment_id: created.id.clone(),
                        message: message.clone(),
                        origin: Origin::Slack,
                    },
                    thread_root: created.thread_root.clone(),
                };
                let ours = forge_ledger(pr, created.kind, &created.id);
                if !self
                    .store
                    .record_mirror(&mirror, &ours)
                    .await
                    .map_err(store_error)?
                {
                    tracing::warn!(id = %created.id, "another worker posted this Slack message first; deleting our copy");
                    api.delete_comment(&forge_token, pr, created.kind, &created.id)
                        .await?;
                }
                Ok(())
            }
            Action::EditForgeComment {
                pr,
                kind,
                id,
                author,
                text,
            } => {
                let api = self.api(pr.forge)?;
                let forge_token = self.forge_token(pr.forge, &pr.repo).await?;
                let team_id = self
                    .store
                    .mirrors_of_comment(pr.forge, &pr.repo, kind.as_str(), id)
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .map(|m| m.link.message.team_id)
                    .next()
                    .ok_or_else(|| HandleError::permanent("edited comment lost its link"))?;
                let body = self.forge_body(pr, &team_id, author, text).await?;
                api.edit_comment(&forge_token, pr, *kind, id, &body).await
            }
            Action::DeleteForgeComment {
                pr,
                kind,
                id,
                message,
            } => {
                let api = self.api(pr.forge)?;
                let forge_token = self.forge_token(pr.forge, &pr.repo).await?;
                api.delete_comment(&forge_token, pr, *kind, id).await?;
                self.store
                    .remove_comment_message(message)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }
            Action::StartPipeline { pr } => {
                let api = self.api(pr.forge)?;
                let token = self.forge_token(pr.forge, &pr.repo).await?;
                api.start_pipeline(&token, pr).await
            }
            Action::PostNotice {
                thread,
                notice,
                key,
            } => {
                let token = self.slack_token(&thread.thread.team_id).await?;
                let channel = Channel {
                    team_id: thread.thread.team_id.clone(),
                    channel_id: thread.thread.channel_id.clone(),
                };
                let content = render::notice(*notice);
                let ts = self
                    .post_once(
                        &token,
                        &channel,
                        Some(&thread.thread.ts),
                        &content,
                        key,
                        run.attempts,
                    )
                    .await?;
                let message = SlackRef {
                    ts,
                    ..thread.thread.clone()
                };
                self.store
                    .record_created(&slack_ledger(&message))
                    .await
                    .map_err(store_error)
            }
            Action::ReconcileNotes { pr } => {
                let api = self.api(pr.forge)?;
                let token = self.forge_token(pr.forge, &pr.repo).await?;
                let existing = api.comment_ids(&token, pr).await?;
                let mirrors = self.store.mirrors_of_pr(pr).await.map_err(store_error)?;
                let follow_up = gitlab_deleted_notes(&mirrors, &existing);
                Box::pin(self.run_actions(&follow_up, run)).await
            }
        }
    }

    /// The forge comment body for a Slack message: attribution + converted text.
    async fn forge_body(
        &self,
        pr: &PrRef,
        team_id: &str,
        author: &str,
        text: &str,
    ) -> Result<String, HandleError> {
        let token = self.slack_token(team_id).await?;
        let name = self.slack_user(&token, team_id, author).await?.name;
        let users = self
            .slack_mentions(&token, team_id, pr.forge, &pr.repo, text)
            .await;
        Ok(render::forge_comment(
            &name,
            &slack_to_markdown(text, &users),
        ))
    }

    async fn post_parent(
        &self,
        channel: &Channel,
        pr: &PrRef,
        facts: Option<PrFacts>,
        run: &mut Run,
    ) -> Result<(), HandleError> {
        if run.new_threads.contains_key(channel) {
            return Ok(());
        }
        let (facts, status) = match facts {
            Some(facts) => (facts, None),
            None => {
                let api = self.api(pr.forge)?;
                let token = self.forge_token(pr.forge, &pr.repo).await?;
                let facts = api.pull_request(&token, pr).await?;
                if facts.state != PrState::Open {
                    tracing::info!(pr = %pr_key(pr), "no thread for a closed or draft PR");
                    run.no_thread.insert(channel.clone());
                    return Ok(());
                }
                let status = match &facts.head_sha {
                    Some(sha) => {
                        api.review_status(&token, &pr.repo, sha, &self.config.status_context)
                            .await?
                    }
                    None => None,
                };
                (facts, status)
            }
        };
        let token = self.slack_token(&channel.team_id).await?;
        let key = format!("{}:parent", pr_key(pr));
        let content = render::parent(pr.forge, &facts, status.as_ref());
        let ts = self
            .post_once(&token, channel, None, &content, &key, run.attempts)
            .await?;
        let thread = PrThread {
            pr: pr.clone(),
            thread: SlackRef {
                team_id: channel.team_id.clone(),
                channel_id: channel.channel_id.clone(),
                ts: ts.clone(),
            },
        };
        if self
            .store
            .record_thread(&thread, &slack_ledger(&thread.thread))
            .await
            .map_err(store_error)?
        {
            run.new_threads.insert(channel.clone(), ts);
        } else {
            tracing::warn!(pr = %pr_key(pr), "another worker posted this PR's parent first; deleting ours");
            self.slack
                .delete_message(&token, &channel.channel_id, &ts)
                .await?;
            let existing = self.store.pr_threads(pr).await.map_err(store_error)?;
            if let Some(t) = existing.into_iter().find(|t| {
                t.thread.team_id == channel.team_id && t.thread.channel_id == channel.channel_id
            }) {
                run.new_threads.insert(channel.clone(), t.thread.ts);
            }
        }
        Ok(())
    }

    async fn post_reply(
        &self,
        channel: &Channel,
        pr: &PrRef,
        reply: &Reply,
        run: &mut Run,
    ) -> Result<(), HandleError> {
        let Some(thread_ts) = run.new_threads.get(channel).cloned() else {
            if !run.no_thread.contains(channel) {
                tracing::warn!(pr = %pr_key(pr), "no thread to reply in");
            }
            return Ok(());
        };
        let token = self.slack_token(&channel.team_id).await?;
        let users = self
            .forge_mentions(&token, &channel.team_id, pr, &reply.comment.body)
            .await;
        let content = render::reply(reply, &users);
        let c = &reply.comment;
        let key = format!("{}:{}:{}", pr_key(pr), c.kind.as_str(), c.id);
        let ts = self
            .post_once(
                &token,
                channel,
                Some(&thread_ts),
                &content,
                &key,
                run.attempts,
            )
            .await?;
        let message = SlackRef {
            team_id: channel.team_id.clone(),
            channel_id: channel.channel_id.clone(),
            ts,
        };
        let mirror = Mirror {
            link: CommentMessage {
                pr: pr.clone(),
                comment_kind: c.kind.as_str().into(),
                comment_id: c.id.clone(),
                message: message.clone(),
                origin: Origin::Forge,
            },
            thread_root: c.thread_root.clone(),
        };
        if !self
            .store
            .record_mirror(&mirror, &slack_ledger(&message))
            .await
            .map_err(store_error)?
        {
            tracing::warn!(id = %c.id, "another worker mirrored this comment first; deleting ours");
            self.slack
                .delete_message(&token, &channel.channel_id, &message.ts)
                .await?;
        }
        Ok(())
    }

    /// On a retry, the forge comment an earlier attempt of this event posted but did not get
    /// to record: same place, same body, and linked to no Slack message yet. The forge has no
    /// idempotency key, so the body is the key; a first attempt never looks.
    async fn posted_by_earlier_attempt(
        &self,
        api: &dyn ForgeApi,
        token: &Secret<String>,
        pr: &PrRef,
        target: &ReplyTarget,
        body: &str,
        attempts: u32,
    ) -> Result<Option<CreatedComment>, HandleError> {
        if attempts <= 1 {
            return Ok(None);
        }
        for candidate in api.comments_with_body(token, pr, target, body).await? {
            let linked = self
                .store
                .mirrors_of_comment(pr.forge, &pr.repo, candidate.kind.as_str(), &candidate.id)
                .await
                .map_err(store_error)?;
            if linked.is_empty() {
                tracing::info!(id = %candidate.id, "found the comment an earlier attempt posted");
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// Posts a message unless an earlier attempt of this event already did: on a retry, the
    /// idempotency key in the message metadata is looked up first.
    async fn post_once(
        &self,
        token: &Secret<String>,
        channel: &Channel,
        thread_ts: Option<&str>,
        content: &render::SlackText,
        key: &str,
        attempts: u32,
    ) -> Result<String, HandleError> {
        if attempts > 1
            && let Some(ts) = self
                .slack
                .find_posted(token, &channel.channel_id, thread_ts, key)
                .await?
        {
            tracing::info!(%ts, "found the message an earlier attempt posted");
            return Ok(ts);
        }
        self.slack
            .post_message(
                token,
                &NewMessage {
                    channel: &channel.channel_id,
                    thread_ts,
                    content,
                    key,
                },
            )
            .await
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
        }
    }
}
