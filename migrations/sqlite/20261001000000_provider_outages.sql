-- Sqlite flavour (keep in step with ../postgres/).
-- Riding out provider outages (Slack, each GitHub/GitLab host): see service/README.md
-- § Provider outages.

-- event_queue.order_key: the pull request (or Slack thread) an event belongs to; only the
-- oldest queued event of a key is claimable, so events for one PR are never reordered.
-- event_queue.waiting_on: the provider whose outage the event waits for; it is not claimed
-- while that provider backs off (provider_backoff), except by the one probe.
-- event_queue.hard_errors: retries asked for by something other than a provider outage
-- (handler panic or timeout, database); CODEREVIEW_SYNC_MAX_ATTEMPTS bounds those only.
ALTER TABLE event_queue ADD COLUMN order_key TEXT;
ALTER TABLE event_queue ADD COLUMN waiting_on TEXT;
ALTER TABLE event_queue ADD COLUMN hard_errors INTEGER NOT NULL DEFAULT 0;
CREATE INDEX event_queue_order ON event_queue (order_key, id) WHERE order_key IS NOT NULL;
CREATE INDEX event_queue_waiting ON event_queue (waiting_on, id) WHERE waiting_on IS NOT NULL;

-- A given-up event keeps its sealed payload (same vault key and associated data as in the
-- queue) so `queue retry-failed` can put it back: nothing is lost for good.
-- cause: 'permanent' (cannot succeed on retry) | 'expired' (transient errors past
-- CODEREVIEW_SYNC_MAX_EVENT_AGE) | 'attempts' (CODEREVIEW_SYNC_MAX_ATTEMPTS hard errors).
-- Rows from before this migration have no payload (key_id IS NULL) and cannot be replayed.
ALTER TABLE event_failures ADD COLUMN cause TEXT NOT NULL DEFAULT 'permanent';
ALTER TABLE event_failures ADD COLUMN order_key TEXT;
ALTER TABLE event_failures ADD COLUMN key_id TEXT;
ALTER TABLE event_failures ADD COLUMN nonce BLOB;
ALTER TABLE event_failures ADD COLUMN ciphertext BLOB;

-- One row per provider that is backing off, shared by every replica. retry_at: when the next
-- probe may go; probe_owner/probe_expires_at: the one worker probing now (a lease, so a
-- crashed prober is replaced). The row is deleted when a probe gets through.
CREATE TABLE provider_backoff (
    provider          TEXT    NOT NULL PRIMARY KEY,
    retry_at          BIGINT  NOT NULL,
    failures          INTEGER NOT NULL,
    since             BIGINT  NOT NULL,
    last_error        TEXT    NOT NULL,
    probe_owner       TEXT,
    probe_expires_at  BIGINT
);

-- Background reconciliations (GitHub App failed-delivery redelivery): the last run of each,
-- also a lease so that one replica at a time runs it.
CREATE TABLE reconciliations (
    name         TEXT    NOT NULL PRIMARY KEY,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT,
    listed       INTEGER NOT NULL DEFAULT 0,
    requested    INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);
