-- PostgreSQL flavour (keep in step with ../sqlite/).
-- Drop the UNIQUE (source, dedupe_key) index of event_queue: event_deliveries' primary key
-- already makes a delivery id unique, and every row is inserted only after its delivery id
-- (same statement). The second index cost one random index page per event on every
-- ingestion commit and on every delete by the worker (see service/README.md § Load benchmark).
ALTER TABLE event_queue DROP CONSTRAINT event_queue_source_dedupe_key_key;
