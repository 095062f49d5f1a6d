-- The review cockpit's durable state (issue 15). Identifiers and settings only: no titles, no
-- message text.

-- One-shot timers (a reminder for a pull request's thread, a user's daily digest). A due row
-- is moved into the event queue in one transaction (deleted here, queued there under a dedupe
-- key naming the timer and its due time), so N replicas fire it once and a crash loses none;
-- the handler sets the next one when it has done the work.
CREATE TABLE timers (
    kind TEXT NOT NULL,
    timer_key TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    order_key TEXT,
    PRIMARY KEY (kind, timer_key)
);
CREATE INDEX timers_due ON timers (due_at);

-- `link reminders`: when a linked channel nudges the reviewers of a pending pull request.
-- `forge` is as in repo_links ('github', 'gitlab' or 'any'); `days` has bit 0 for Monday.
CREATE TABLE reminder_settings (
    forge TEXT NOT NULL,
    repo TEXT NOT NULL,
    team_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    after_ms BIGINT NOT NULL,
    day_start_min INTEGER NOT NULL,
    day_end_min INTEGER NOT NULL,
    days INTEGER NOT NULL,
    timezone TEXT NOT NULL,
    PRIMARY KEY (forge, repo, team_id, channel_id)
);

-- Which pull request threads wait for review, since when, and on whom (lower-case forge
-- logins, JSON array). Written whenever the live review state is computed; deleted when the
-- pull request is approved, closed or a draft. Read by reminders, digests and /codereview.
CREATE TABLE review_waits (
    forge TEXT NOT NULL,
    repo TEXT NOT NULL,
    number BIGINT NOT NULL,
    team_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    url TEXT NOT NULL,
    pending_since BIGINT NOT NULL,
    waiting_on TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, number, team_id, channel_id)
);
CREATE INDEX review_waits_team ON review_waits (team_id);

-- Daily digest opt-ins (`user digest`, `/codereview digest on`): minute of the day and the
-- user's time zone.
CREATE TABLE digest_subscriptions (
    team_id TEXT NOT NULL,
    slack_user TEXT NOT NULL,
    at_min INTEGER NOT NULL,
    timezone TEXT NOT NULL,
    PRIMARY KEY (team_id, slack_user)
);
