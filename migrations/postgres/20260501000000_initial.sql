-- codereview-sync schema, PostgreSQL flavour (keep in step with ../sqlite/).
-- Times are BIGINT milliseconds since the Unix epoch, written by the application.
-- Rule for every table: identifiers only. No message text, no diff, no token in clear.

-- Slack workspaces (installations) the bot is allowed to act in.
CREATE TABLE workspaces (
    team_id     TEXT    NOT NULL PRIMARY KEY,
    created_at  BIGINT  NOT NULL
);

-- API tokens, sealed with AES-256-GCM by the vault. The associated data is the row identity
-- (kind, owner), so a ciphertext copied to another row does not decrypt.
--   kind:  'slack' (bot token, owner = team id) | 'github' | 'gitlab' (owner = org or group)
CREATE TABLE credentials (
    kind        TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    nonce       BYTEA   NOT NULL,
    ciphertext  BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (kind, owner)
);

-- Which repository talks in which Slack channel. forge: 'github' | 'gitlab' | 'any'.
CREATE TABLE repo_links (
    forge       TEXT    NOT NULL,
    repo        TEXT    NOT NULL,
    team_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (forge, repo, team_id, channel_id)
);
CREATE INDEX repo_links_by_channel ON repo_links (team_id, channel_id);

-- Explicit Slack user <-> forge login mapping.
CREATE TABLE user_map (
    slack_user_id  TEXT    NOT NULL,
    forge          TEXT    NOT NULL,
    login          TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    PRIMARY KEY (slack_user_id, forge)
);
CREATE INDEX user_map_by_login ON user_map (forge, login);

-- One Slack thread per pull/merge request and channel.
CREATE TABLE pr_threads (
    forge       TEXT    NOT NULL,
    repo        TEXT    NOT NULL,
    pr_number   BIGINT  NOT NULL,
    team_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    thread_ts   TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (forge, repo, pr_number, team_id, channel_id),
    UNIQUE (team_id, channel_id, thread_ts)
);

-- A forge comment (issue comment, review, review comment, note) and its Slack message.
-- origin says which side the conversation item started on: 'forge' | 'slack'.
CREATE TABLE comment_messages (
    forge         TEXT    NOT NULL,
    repo          TEXT    NOT NULL,
    pr_number     BIGINT  NOT NULL,
    comment_kind  TEXT    NOT NULL,
    comment_id    TEXT    NOT NULL,
    team_id       TEXT    NOT NULL,
    channel_id    TEXT    NOT NULL,
    message_ts    TEXT    NOT NULL,
    origin        TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (forge, repo, comment_kind, comment_id, team_id, channel_id),
    UNIQUE (team_id, channel_id, message_ts)
);

-- Everything we created ourselves, so our own posts are never echoed back.
--   platform: 'slack' | 'github' | 'gitlab'; container: 'T/C' for Slack, the repo for a forge.
CREATE TABLE ledger (
    platform     TEXT    NOT NULL,
    container    TEXT    NOT NULL,
    object_kind  TEXT    NOT NULL,
    object_id    TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (platform, container, object_kind, object_id)
);

-- Every delivery id we accepted, kept for a retention period after the queue row is gone, so
-- a late duplicate (Slack retry, GitHub redelivery) is recognised and not processed twice.
CREATE TABLE event_deliveries (
    source       TEXT    NOT NULL,
    dedupe_key   TEXT    NOT NULL,
    received_at  BIGINT  NOT NULL,
    PRIMARY KEY (source, dedupe_key)
);
CREATE INDEX event_deliveries_by_age ON event_deliveries (received_at);

-- The durable work queue. The payload is sealed by the vault (associated data: source and
-- dedupe key) and the row is deleted once processed. A worker owns a row while
-- lease_expires_at is in the future; an expired lease makes it claimable again.
CREATE TABLE event_queue (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source            TEXT    NOT NULL,
    dedupe_key        TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    key_id            TEXT    NOT NULL,
    nonce             BYTEA   NOT NULL,
    ciphertext        BYTEA   NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT  NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    last_error        TEXT,
    received_at       BIGINT  NOT NULL,
    UNIQUE (source, dedupe_key)
);
CREATE INDEX event_queue_due ON event_queue (next_attempt_at);

-- Events given up on (permanent error or too many attempts). No payload is kept.
CREATE TABLE event_failures (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       TEXT    NOT NULL,
    dedupe_key   TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    received_at  BIGINT  NOT NULL,
    failed_at    BIGINT  NOT NULL
);
