-- Slack OAuth install states already used (issue 12 §4): a callback's `state` is accepted once.
-- Only the random nonce inside the state is kept, until the state would have expired anyway.
CREATE TABLE slack_install_states (
    nonce TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
