//! The AI summary's effects: after a PR event that asks for one ([`summary::trigger`]) has
//! been synced, check that the feature is on for the repository, claim the PR, fetch the diff,
//! ask the model, and post the answer in the PR's Slack thread (and, if the repository asked,
//! as a PR comment). Pure parts are in [`crate::sync::summary`].
//!
//! Rules, and how they hold:
//! - **Off unless configured twice.** Nothing happens without [`AiSummary`] (`LLM_API_URL` and
//!   `LLM_MODEL`), a stored key (`llm key set`) and the repository's opt-in
//!   (`link ai-summary --on`); all three are checked in the store before any network call, so
//!   with the feature off the diff is never fetched.
//! - **Never blocks the sync.** It runs after the event's own actions succeeded, returns
//!   nothing (so it can never make the worker retry the event), and is bounded by
//!   `LLM_TIMEOUT_SECS` for the diff fetch and the model together; one quick retry on a 5xx or
//!   a transport error, inside that bound. Failures are logged (identifiers, status codes)
//!   and counted in `codereview_sync_ai_summary_failures_total{reason}`.
//! - **Once per PR.** A claim row is taken before the diff is fetched; a posted summary is
//!   recorded, so redeliveries, retries and other replicas neither call the model nor post
//!   again. A failure releases the claim: a later trigger (marked ready) may try again.
//! - **Nothing kept.** The diff, the prompt and the summary live in this function's locals;
//!   posts are recorded in the ledger by id only, so they are never echoed back.

use std::sync::Arc;

use tokio::time::Instant;

use super::{SyncHandler, forge_ledger, pr_key, slack_ledger};
use crate::clients::diff::{DiffApi, DiffError};
use crate::clients::llm::{LlmApi, LlmError, complete_once_or_twice, request_body};
use crate::clients::slack::NewMessage;
use crate::config::LlmSettings;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::store::{PrRef, PrThread, SlackRef};
use crate::sync::model::ReplyTarget;
use crate::sync::summary::{self, SummaryTrigger};

/// What the optional AI summary needs: its settings, the model and diff clients, and the
/// metrics it reports to. Given to [`SyncHandler::with_ai_summary`] only when `LLM_API_URL`
/// and `LLM_MODEL` are set.
#[derive(Clone)]
pub struct AiSummary {
    /// `LLM_*` settings.
    pub settings: LlmSettings,
    /// The OpenAI-compatible endpoint.
    pub llm: Arc<dyn LlmApi>,
    /// Reads PR diffs.
    pub diffs: Arc<dyn DiffApi>,
    /// Where successes and failures are counted (the registry `/metrics` serves).
    pub metrics: Metrics,
}

impl std::fmt::Debug for AiSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiSummary")
            .field("model", &self.settings.model)
            .field("diff_budget", &self.settings.diff_budget)
            .field("timeout", &self.settings.timeout)
            .finish_non_exhaustive()
    }
}

/// Why no summary was written.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Diff(DiffError),
    Llm(LlmError),
}

impl Failure {
    fn reason(self) -> &'static str {
        match self {
            Failure::Diff(_) => "diff",
            Failure::Llm(e) => e.reason(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Diff(e) => e.fmt(f),
            Failure::Llm(e) => e.fmt(f),
        }
    }
}

/// A summary ready to post (held in memory only).
struct Written {
    text: String,
    footer: Option<String>,
}

impl SyncHandler {
    /// Turns the AI summary on (see [`AiSummary`]).
    pub fn with_ai_summary(mut self, ai: AiSummary) -> Self {
        self.summary = Some(ai);
        self
    }

    /// The summary trigger in a forge delivery, when the feature is configured at all.
    pub(super) fn summary_trigger(&self, event: &crate::queue::Event) -> Option<SummaryTrigger> {
        self.summary.as_ref()?;
        summary::trigger(event.source, &event.kind, &event.payload)
    }

    /// Summarises a PR if the feature is on for it and it was not summarised yet. Never fails:
    /// whatever goes wrong is logged and counted, and the event is done.
    pub(super) async fn summarize(&self, trigger: &SummaryTrigger) {
        let Some(ai) = &self.summary else {
            return;
        };
        let pr = &trigger.pr;
        let key = pr_key(pr);
        let Some((threads, pr_comment, llm_key, forge_token)) = self.summary_ready(pr).await else {
            return;
        };
        match self.store.claim_ai_summary(pr).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(pr = %key, "AI summary already written for this PR (or in progress)");
                return;
            }
            Err(e) => {
                tracing::warn!(pr = %key, error = %e, "AI summary skipped: cannot record the claim");
                return;
            }
        }
        let written = self
            .write_summary(ai, trigger, &forge_token, &llm_key)
            .await;
        let posted = match written {
            Ok(Some(w)) => {
                self.post_summary(ai, pr, &threads, pr_comment, &w, &forge_token)
                    .await
            }
            Ok(None) => 0,
            Err(failure) => {
                ai.metrics.ai_summary_failed(failure.reason());
                tracing::warn!(
                    pr = %key,
                    reason = failure.reason(),
                    detail = %failure,
                    "AI summary failed; the sync goes on without it"
                );
                0
            }
        };
        let recorded = if posted > 0 {
            ai.metrics.ai_summary_posted();
            tracing::info!(pr = %key, places = posted, "AI summary posted");
            self.store.ai_summary_posted(pr).await
        } else {
            self.store.release_ai_summary(pr).await
        };
        if let Err(e) = recorded {
            tracing::warn!(pr = %key, error = %e, "could not record the AI summary's outcome");
        }
    }

    /// Everything that must be in place before any network call: the repository opted in and
    /// is linked, there is somewhere to post, the key and a forge token are stored. `None`
    /// (with a log line saying why) means no summary for this PR.
    async fn summary_ready(
        &self,
        pr: &PrRef,
    ) -> Option<(Vec<PrThread>, bool, Secret<String>, Secret<String>)> {
        let key = pr_key(pr);
        let skip = |why: &str| tracing::debug!(pr = %key, "no AI summary: {why}");
        let setting = match self.store.ai_summary_for_repo(pr.forge, &pr.repo).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                skip("not enabled for this repository (`link ai-summary --on`)");
                return None;
            }
            Err(e) => {
                tracing::warn!(pr = %key, error = %e, "AI summary skipped: store");
                return None;
            }
        };
        let links = self
            .store
            .links_for_repo(pr.forge, &pr.repo)
            .await
            .ok()
            .unwrap_or_default();
        if links.is_empty() {
            skip("the repository is not linked to a channel");
            return None;
        }
        let threads: Vec<PrThread> = self
            .store
            .pr_threads(pr)
            .await
            .ok()
            .unwrap_or_default()
            .into_iter()
            .filter(|t| {
                links
                    .iter()
                    .any(|l| l.team_id == t.thread.team_id && l.channel_id == t.thread.channel_id)
            })
            .collect();
        if threads.is_empty() && !setting.pr_comment {
            skip("no thread to post in");
            return None;
        }
        let llm_key = match self.store.llm_key(&self.vault).await {
            Ok(Some(k)) => k,
            Ok(None) => {
                tracing::info!(pr = %key, "no AI summary: no LLM API key stored (`llm key set`)");
                return None;
            }
            Err(e) => {
                tracing::warn!(pr = %key, error = %e, "AI summary skipped: the LLM key cannot be read");
                return None;
            }
        };
        let Some(forge_token) = self.optional_forge_token(pr.forge, &pr.repo).await else {
            tracing::warn!(pr = %key, "AI summary skipped: no forge token to read the diff");
            return None;
        };
        Some((threads, setting.pr_comment, llm_key, forge_token))
    }

    /// Fetches the diff, cuts it to the budget and asks the model, all within the deadline.
    async fn write_summary(
        &self,
        ai: &AiSummary,
        trigger: &SummaryTrigger,
        forge_token: &Secret<String>,
        llm_key: &Secret<String>,
    ) -> Result<Option<Written>, Failure> {
        let key = pr_key(&trigger.pr);
        let deadline = Instant::now() + ai.settings.timeout;
        let diff = tokio::time::timeout_at(deadline, ai.diffs.diff(forge_token, &trigger.pr))
            .await
            .unwrap_or(Err(DiffError::Timeout))
            .map_err(Failure::Diff)?;
        let (prompt, cut) = summary::prompt(&trigger.title, &diff, ai.settings.diff_budget);
        drop(diff);
        if cut.sent.is_empty() {
            tracing::info!(
                pr = %key,
                left_out = cut.left_out.len(),
                "no AI summary: nothing but lockfiles, generated or binary files changed"
            );
            return Ok(None);
        }
        tracing::info!(
            pr = %key,
            files_sent = cut.sent.len(),
            files_left_out = cut.left_out.len(),
            cut_short = cut.truncated.is_some(),
            user_bytes = prompt.user.len(),
            "AI summary: asking the model"
        );
        let body = request_body(&ai.settings.model, &prompt);
        drop(prompt);
        let started = Instant::now();
        let (answer, attempts) =
            complete_once_or_twice(ai.llm.as_ref(), llm_key, &body, deadline).await;
        ai.metrics.ai_summary_llm_time(started.elapsed());
        if attempts > 1 {
            tracing::info!(pr = %key, attempts, "AI summary: the model was asked twice");
        }
        let text = answer.map_err(Failure::Llm)?;
        Ok(Some(Written {
            text,
            footer: summary::footer(&cut),
        }))
    }

    /// Posts the summary in each thread (and as a PR comment when asked) under the PR's lock,
    /// recording each post in the ledger. Returns how many places it was posted in.
    async fn post_summary(
        &self,
        ai: &AiSummary,
        pr: &PrRef,
        threads: &[PrThread],
        pr_comment: bool,
        written: &Written,
        forge_token: &Secret<String>,
    ) -> usize {
        let key = pr_key(pr);
        let model = &ai.settings.model;
        let _guard = self.locks.lock(&key).await;
        let mut posted = 0;
        let content = summary::slack_reply(model, &written.text, written.footer.as_deref());
        let idempotency_key = format!("{key}:ai-summary");
        for thread in threads {
            let t = &thread.thread;
            let result = match self.slack_token(&t.team_id).await {
                Ok(token) => {
                    self.slack
                        .post_message(
                            &token,
                            &NewMessage {
                                channel: &t.channel_id,
                                thread_ts: Some(&t.ts),
                                content: &content,
                                key: &idempotency_key,
                            },
                        )
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(ts) => {
                    posted += 1;
                    let message = SlackRef {
                        team_id: t.team_id.clone(),
                        channel_id: t.channel_id.clone(),
                        ts,
                    };
                    if let Err(e) = self.store.record_created(&slack_ledger(&message)).await {
                        tracing::warn!(pr = %key, error = %e, "AI summary posted but not recorded in the ledger");
                    }
                }
                Err(e) => {
                    ai.metrics.ai_summary_failed("post");
                    tracing::warn!(pr = %key, channel = %t.channel_id, error = %e, "AI summary could not be posted in Slack");
                }
            }
        }
        if pr_comment {
            let body = summary::forge_comment(model, &written.text, written.footer.as_deref());
            let created = match self.api(pr.forge) {
                Ok(api) => {
                    api.create_comment(forge_token, pr, &ReplyTarget::Conversation, &body)
                        .await
                }
                Err(e) => Err(e),
            };
            match created {
                Ok(c) => {
                    posted += 1;
                    if let Err(e) = self
                        .store
                        .record_created(&forge_ledger(pr, c.kind, &c.id))
                        .await
                    {
                        tracing::warn!(pr = %key, error = %e, "AI summary comment posted but not recorded in the ledger");
                    }
                }
                Err(e) => {
                    ai.metrics.ai_summary_failed("post");
                    tracing::warn!(pr = %key, error = %e, "AI summary could not be posted as a PR comment");
                }
            }
        }
        posted
    }
}
