-- Pending scopes whose reviewers were mentioned in a pull request's Slack thread (issue 15 §2):
-- once per scope and head commit, claimed by one replica. Only identifiers: the scope's name
-- from the rules and the commit id.
CREATE TABLE scope_mentions (
    forge TEXT NOT NULL,
    repo TEXT NOT NULL,
    number BIGINT NOT NULL,
    scope TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, number, scope, head_sha)
);
