-- SQLite flavour (keep in step with ../postgres/).
-- Drop the UNIQUE (source, dedupe_key) index of event_queue: event_deliveries' primary key
-- already makes a delivery id unique, and every row is inserted only after its delivery id
-- (same transaction). The second index cost one random index page per event on every
-- ingestion commit and on every delete by the worker (see service/README.md § Load benchmark).
-- SQLite cannot drop a table constraint, so the table is rebuilt with its rows and ids.
CREATE TABLE event_queue_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    source            TEXT    NOT NULL,
    dedupe_key        TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    key_id            TEXT    NOT NULL,
    nonce             BLOB    NOT NULL,
    ciphertext        BLOB    NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT  NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    last_error        TEXT,
    received_at       BIGINT  NOT NULL
);
INSERT INTO event_queue_new (id, source, dedupe_key, kind, key_id, nonce, ciphertext, attempts,
                             next_attempt_at, lease_owner, lease_expires_at, last_error,
                             received_at)
    SELECT id, source, dedupe_key, kind, key_id, nonce, ciphertext, attempts, next_attempt_at,
           lease_owner, lease_expires_at, last_error, received_at
    FROM event_queue;
-- Ids keep growing where the old table left off, even when it was empty.
DELETE FROM sqlite_sequence WHERE name = 'event_queue_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'event_queue_new', seq FROM sqlite_sequence WHERE name = 'event_queue';
DROP TABLE event_queue;
ALTER TABLE event_queue_new RENAME TO event_queue;
CREATE INDEX event_queue_due ON event_queue (next_attempt_at);
