-- SQLite flavour (keep in step with ../postgres/).
-- Thread sync (issue 5). Identifiers only, like every table.
--
-- thread_root: the review-comment thread a mirrored item belongs to, so a Slack reply under
-- it goes back into that thread: GitHub = id of the thread's root review comment, GitLab = the
-- discussion id of a diff or threaded note. NULL for PR-level comments, reviews and notes.
ALTER TABLE comment_messages ADD COLUMN thread_root TEXT;

-- "Which linked message came last in this Slack thread before ts?" (routing a Slack reply) and
-- "which notes of this MR are mirrored?" (GitLab deletion reconcile).
CREATE INDEX comment_messages_by_pr
    ON comment_messages (forge, repo, pr_number, team_id, channel_id, message_ts);
