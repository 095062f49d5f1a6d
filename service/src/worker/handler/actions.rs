//! Executing the decided actions: post or update the parent message, post, edit or delete
//! replies and forge comments, and record each id right after it exists (no duplicates on
//! retries).

use super::*;
use crate::sync::model::ReviewStatus;

impl SyncHandler {
    pub(super) async fn run_actions(
        &self,
        actions: &[Action],
        run: &mut Run,
    ) -> Result<(), HandleError> {
        for action in actions {
            tracing::info!(action = %describe(action), "sync action");
            self.run_action(action, run).await?;
        }
        Ok(())
    }

    pub(super) async fn run_action(
        &self,
        action: &Action,
        run: &mut Run,
    ) -> Result<(), HandleError> {
        match action {
            Action::Ignore(_) => Ok(()),
            Action::PostParent { channel, pr, facts } => {
                self.post_parent(channel, pr, facts.clone(), run).await
            }
            Action::UpdateParent { thread, status } => {
                let live = self
                    .live_state_in(&thread.pr, &thread.thread.team_id, run)
                    .await;
                let (facts, status) = match &live.card {
                    // Read with the live review state: no second read.
                    Some((facts, card_status)) => (
                        facts.clone(),
                        status.clone().or_else(|| card_status.clone()),
                    ),
                    None => self.parent_facts(&thread.pr, status.as_ref()).await?,
                };
                let content = render::parent(thread.pr.forge, &facts, status.as_ref(), &live.lines);
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
                    return Ok(());
                }
                self.track_wait(thread, &facts, &live).await?;
                let channel = Channel {
                    team_id: thread.thread.team_id.clone(),
                    channel_id: thread.thread.channel_id.clone(),
                };
                self.mention_pending(&thread.pr, &channel, &thread.thread.ts, &live, run.attempts)
                    .await
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
                self.reply_in_thread(thread, &render::notice(*notice), key, run.attempts)
                    .await
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
    pub(super) async fn forge_body(
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

    /// A parent's facts and `codereview` status read from the forge (`status` when the event
    /// brought it).
    async fn parent_facts(
        &self,
        pr: &PrRef,
        status: Option<&ReviewStatus>,
    ) -> Result<(PrFacts, Option<ReviewStatus>), HandleError> {
        let api = self.api(pr.forge)?;
        let token = self.forge_token(pr.forge, &pr.repo).await?;
        let facts = api.pull_request(&token, pr).await?;
        let status = match (status, &facts.head_sha) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(sha)) => {
                api.review_status(&token, &pr.repo, sha, &self.config.status_context)
                    .await?
            }
            (None, None) => None,
        };
        Ok((facts, status))
    }

    pub(super) async fn post_parent(
        &self,
        channel: &Channel,
        pr: &PrRef,
        facts: Option<PrFacts>,
        run: &mut Run,
    ) -> Result<(), HandleError> {
        if run.new_threads.contains_key(channel) {
            return Ok(());
        }
        let live = self.live_state_in(pr, &channel.team_id, run).await;
        let (facts, status) = match (facts, &live.card) {
            (Some(facts), _) => (facts, None),
            (None, card) => {
                let (facts, status) = match card {
                    // Read with the live review state: no second read.
                    Some((facts, status)) => (facts.clone(), status.clone()),
                    None => self.parent_facts(pr, None).await?,
                };
                if facts.state != PrState::Open {
                    tracing::info!(pr = %pr_key(pr), "no thread for a closed or draft PR");
                    run.no_thread.insert(channel.clone());
                    return Ok(());
                }
                (facts, status)
            }
        };
        let token = self.slack_token(&channel.team_id).await?;
        let key = format!("{}:parent", pr_key(pr));
        let content = render::parent(pr.forge, &facts, status.as_ref(), &live.lines);
        let ts = self
            .post_once(&token, channel, None, &content, &key, run.attempts)
            .await?;
        let thread = PrThread {
            pr: pr.clone(),
            thread: channel.message(ts.clone()),
        };
        if self
            .store
            .record_thread(&thread, &slack_ledger(&thread.thread))
            .await
            .map_err(store_error)?
        {
            run.new_threads.insert(channel.clone(), ts.clone());
            self.track_wait(&thread, &facts, &live).await?;
            self.mention_pending(pr, channel, &ts, &live, run.attempts)
                .await?;
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

    pub(super) async fn post_reply(
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
        let message = channel.message(ts);
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
    pub(super) async fn posted_by_earlier_attempt(
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

    /// Posts a reply of ours in `thread` (once: `key`, see [`SyncHandler::post_once`]) and
    /// records it in the ledger, so its own message event is never mirrored back.
    pub(super) async fn reply_in_thread(
        &self,
        thread: &PrThread,
        content: &render::SlackText,
        key: &str,
        attempts: u32,
    ) -> Result<(), HandleError> {
        let token = self.slack_token(&thread.thread.team_id).await?;
        let channel = Channel {
            team_id: thread.thread.team_id.clone(),
            channel_id: thread.thread.channel_id.clone(),
        };
        let ts = self
            .post_once(
                &token,
                &channel,
                Some(&thread.thread.ts),
                content,
                key,
                attempts,
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

    /// Posts a message unless an earlier attempt of this event already did: on a retry, the
    /// idempotency key in the message metadata is looked up first.
    pub(super) async fn post_once(
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
