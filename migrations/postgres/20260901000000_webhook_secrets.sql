-- Per-repository (or per-owner) webhook secrets: a delivery must verify with the secret of
-- the repository its payload names (closest match: the repository, then its owner chain), or
-- with the operator-level GITHUB_WEBHOOK_SECRET / GITLAB_WEBHOOK_TOKEN.
-- scope: 'repo' (path = owner/name, group/sub/project) | 'owner' (path = owner or group path).
-- The secret is sealed by the vault (associated data: forge, scope, path), like credentials.
CREATE TABLE webhook_secrets (
    forge       TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    nonce       BYTEA   NOT NULL,
    ciphertext  BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (forge, scope, path)
);
