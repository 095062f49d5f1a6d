-- PostgreSQL flavour (keep in step with ../sqlite/).
-- Optional AI summary of pull requests (issue 7). Identifiers and flags only: the diff and
-- the summary are never stored. The LLM API key is a sealed row in credentials
-- (kind 'llm', owner 'default').

-- Repositories that opted in (`link ai-summary --on`). forge: 'github' | 'gitlab' | 'any'.
-- pr_comment: also post the summary as a PR comment, not only in the Slack thread.
CREATE TABLE ai_summary_repos (
    forge       TEXT     NOT NULL,
    repo        TEXT     NOT NULL,
    pr_comment  BOOLEAN  NOT NULL,
    created_at  BIGINT   NOT NULL,
    PRIMARY KEY (forge, repo)
);

-- One summary per pull/merge request: a claim taken before the diff is fetched, so retries,
-- redeliveries and other replicas neither call the model nor post twice.
--   state: 'pending' (claimed; released on failure, reclaimable once stale) | 'posted'
CREATE TABLE ai_summaries (
    forge       TEXT    NOT NULL,
    repo        TEXT    NOT NULL,
    pr_number   BIGINT  NOT NULL,
    state       TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (forge, repo, pr_number)
);
