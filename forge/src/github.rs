//! GitHub, through octocrab, with the token the Actions runner provides.
//!
//! One GraphQL request reads everything evaluation needs (author, head and base, draft, labels,
//! requested reviewers, reviews, check runs); one more expands all referenced teams at once.
//! Lists longer than a page are read to their end ([`super::graphql_pages`]): one more request
//! per extra page, for all such lists together, and none for an ordinary pull request.
//! Writes are REST: the commit status, reviewer requests and labels, one request each.

use super::graphql_pages::{
    PAGE_INFO, PageRequest, append_nodes, connection_in, errors_of, literal, next_cursor,
    next_pages_query,
};
use super::{CommitStatus, Forge, ForgeError, PrCard, PrFacts, StatusContext};
use crate::secret::Secret;
use codereview_policy::config::{ConfigFile, Teams, is_config_path};
use codereview_policy::diff::{self, FileDiff};
use codereview_policy::review::{
    CheckRun, Overall, PullRequest, Review, ReviewState, ReviewerFacts,
};
use http::StatusCode;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where and as whom to talk to GitHub.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    /// REST base, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// GraphQL endpoint (`GITHUB_GRAPHQL_URL`, else `{api_url}/graphql`).
    pub graphql_url: String,
    /// `owner/name`.
    pub repository: String,
    /// The pull request number.
    pub number: u64,
    /// The token (never printed: `Debug` shows `[redacted]`).
    pub token: Secret<String>,
}

/// A GitHub pull request, as a [`Forge`].
pub struct Github {
    settings: GithubSettings,
    client: Octocrab,
    requests: Arc<AtomicUsize>,
}

/// The pull request a GitHub Actions event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTarget {
    /// This pull request number.
    PullRequest(u64),
    /// A commit whose pull request must be looked up (`workflow_run` from a fork).
    Commit(String),
    /// A merge queue's group to check before it merges (`merge_group` `checks_requested`).
    MergeGroup(MergeGroup),
    /// An event that concerns no pull request now (e.g. a check run still in progress): there
    /// is nothing to do, and that is not an error.
    Nothing(String),
}

/// A merge group: the commit GitHub's merge queue wants a status on before merging, and the
/// pull request its branch was built for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeGroup {
    /// The group's head commit: the status goes there.
    pub head_sha: String,
    /// The target branch's name (`main`, without `refs/heads/`).
    pub base_ref: String,
    /// The pull request named by the queue branch `gh-readonly-queue/<base>/pr-<N>-<sha>`.
    pub number: u64,
}

/// Why the event cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

/// Find the pull request in a GitHub Actions event payload.
pub fn event_target(event_name: &str, payload: &Value) -> Result<EventTarget, EventError> {
    let number = |v: &Value| v.get("number").and_then(Value::as_u64);
    let first_pr = |list: Option<&Value>| {
        list.and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(number)
    };
    match event_name {
        "pull_request"
        | "pull_request_target"
        | "pull_request_review"
        | "pull_request_review_comment" => payload
            .get("pull_request")
            .and_then(number)
            .map(EventTarget::PullRequest)
            .ok_or_else(|| {
                EventError(format!("the {event_name} event has no pull_request.number"))
            }),
        "issue_comment" => {
            let issue = payload.get("issue");
            if issue.and_then(|i| i.get("pull_request")).is_none() {
                return Ok(EventTarget::Nothing(
                    "the comment is on an issue, not a pull request".into(),
                ));
            }
            issue
                .and_then(number)
                .map(EventTarget::PullRequest)
                .ok_or_else(|| EventError("the issue_comment event has no issue.number".into()))
        }
        "check_run" | "check_suite" => {
            let body = payload.get(event_name).unwrap_or(&Value::Null);
            let action = payload.get("action").and_then(Value::as_str).unwrap_or("");
            if action != "completed" {
                return Ok(EventTarget::Nothing(format!(
                    "{event_name} {action}: only completed checks change the verdict"
                )));
            }
            Ok(first_pr(body.get("pull_requests")).map_or_else(
                || {
                    EventTarget::Nothing(format!(
                        "the {event_name} is not attached to an open pull request of this repository"
                    ))
                },
                EventTarget::PullRequest,
            ))
        }
        "workflow_run" => {
            let run = payload.get("workflow_run").unwrap_or(&Value::Null);
            if let Some(n) = first_pr(run.get("pull_requests")) {
                return Ok(EventTarget::PullRequest(n));
            }
            run.get("head_sha")
                .and_then(Value::as_str)
                .map(|s| EventTarget::Commit(s.to_string()))
                .ok_or_else(|| EventError("the workflow_run event has no head_sha".into()))
        }
        "merge_group" => merge_group_target(payload),
        other => Err(EventError(format!(
            "`{other}` is not a pull request event: run codereview on pull_request, pull_request_target, pull_request_review, issue_comment, check_run, check_suite, workflow_run or merge_group"
        ))),
    }
}

/// The merge group of a `merge_group` event; other actions (`destroyed`) need no status.
fn merge_group_target(payload: &Value) -> Result<EventTarget, EventError> {
    let action = payload.get("action").and_then(Value::as_str).unwrap_or("");
    if action != "checks_requested" {
        return Ok(EventTarget::Nothing(format!(
            "merge_group {action}: only checks_requested asks for a status"
        )));
    }
    let group = payload.get("merge_group").unwrap_or(&Value::Null);
    let field = |name: &str| {
        group
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| EventError(format!("the merge_group event has no merge_group.{name}")))
    };
    let head_sha = field("head_sha")?;
    if head_sha.len() != 40 || !head_sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EventError(format!(
            "the merge_group event's head_sha `{head_sha}` is not a commit sha"
        )));
    }
    let head_ref = field("head_ref")?;
    let number = queue_branch_pull_request(head_ref).ok_or_else(|| {
        EventError(format!(
            "the merge group branch `{head_ref}` is not a merge queue branch (gh-readonly-queue/<base>/pr-<number>-<sha>)"
        ))
    })?;
    let base_ref = field("base_ref")?;
    Ok(EventTarget::MergeGroup(MergeGroup {
        head_sha: head_sha.to_ascii_lowercase(),
        base_ref: base_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(base_ref)
            .to_string(),
        number,
    }))
}

/// What evaluation reads of each node; the continuation pages ask for exactly the same.
const LABEL_NODES: &str = "nodes { name }";
const REQUEST_NODES: &str =
    "nodes { requestedReviewer { __typename ... on User { login } ... on Bot { login } } }";
const REVIEW_NODES: &str =
    "nodes { state submittedAt body author { __typename login } commit { oid } }";
const RUN_NODES: &str = "nodes { name status conclusion }";
const SUITE_NODES: &str = "nodes { id app { slug } checkRuns(first: 100) { pageInfo { hasNextPage endCursor } nodes { name status conclusion } } }";
const MEMBER_NODES: &str = "nodes { login }";
const ENTRY_NODES: &str = "nodes { headCommit { oid } pullRequest { number } }";

/// Everything evaluation needs in one read; each connection says whether it has more pages.
/// Reviews are read oldest first (`first`), so later pages append in order.
fn pr_query() -> String {
    format!(
        r#"query($owner: String!, $name: String!, $number: Int!) {{
  repository(owner: $owner, name: $name) {{
    pullRequest(number: $number) {{
      number isDraft headRefOid baseRefOid baseRefName
      title url state headRefName additions deletions changedFiles
      author {{ __typename login }}
      labels(first: 100) {{ {PAGE_INFO} {LABEL_NODES} }}
      reviewRequests(first: 100) {{ {PAGE_INFO} {REQUEST_NODES} }}
      reviews(first: 100) {{ {PAGE_INFO} {REVIEW_NODES} }}
      commits(last: 1) {{ nodes {{ commit {{ id status {{ contexts {{ context state description }} }} checkSuites(first: 50) {{ {PAGE_INFO} {SUITE_NODES} }} }} }} }}
    }}
  }}
}}"#
    )
}

/// A connection of an answer with more pages: where it sits in that answer, and how to ask
/// GitHub for the rest.
type Pending = (String, PageRequest);

/// The check-suite connection of each commit in a pull request answer.
const SUITES_AT: &str = "/data/repository/pullRequest/commits/nodes/0/commit/checkSuites";

/// Check suites (from index `from` on) whose check runs have more pages.
fn runs_pending(answer: &Value, suites_at: &str, from: usize) -> Vec<Pending> {
    let Some(suites) = answer
        .pointer(&format!("{suites_at}/nodes"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    suites
        .iter()
        .enumerate()
        .skip(from)
        .filter_map(|(k, suite)| {
            let after = next_cursor(suite.get("checkRuns")?)?;
            let id = suite.get("id")?.as_str()?;
            Some((
                format!("{suites_at}/nodes/{k}/checkRuns"),
                PageRequest {
                    parents: vec![format!("node(id: {})", literal(id))],
                    on_type: Some("CheckSuite"),
                    field: "checkRuns",
                    selection: RUN_NODES,
                    after,
                },
            ))
        })
        .collect()
}

/// The connections of a first pull request answer that have more pages.
fn pr_pending(answer: &Value, owner: &str, name: &str, number: u64) -> Vec<Pending> {
    let pr_at = "/data/repository/pullRequest";
    let parents = vec![
        format!(
            "repository(owner: {}, name: {})",
            literal(owner),
            literal(name)
        ),
        format!("pullRequest(number: {number})"),
    ];
    let mut pending = Vec::new();
    for (field, selection) in [
        ("labels", LABEL_NODES),
        ("reviewRequests", REQUEST_NODES),
        ("reviews", REVIEW_NODES),
    ] {
        let at = format!("{pr_at}/{field}");
        if let Some(after) = answer.pointer(&at).and_then(next_cursor) {
            pending.push((
                at,
                PageRequest {
                    parents: parents.clone(),
                    on_type: None,
                    field,
                    selection,
                    after,
                },
            ));
        }
    }
    if let Some(after) = answer.pointer(SUITES_AT).and_then(next_cursor)
        && let Some(id) = answer
            .pointer("/data/repository/pullRequest/commits/nodes/0/commit/id")
            .and_then(Value::as_str)
    {
        pending.push((
            SUITES_AT.to_string(),
            PageRequest {
                parents: vec![format!("node(id: {})", literal(id))],
                on_type: Some("Commit"),
                field: "checkSuites",
                selection: SUITE_NODES,
                after,
            },
        ));
    }
    pending.extend(runs_pending(answer, SUITES_AT, 0));
    pending
}

/// Nested connections that a newly appended page brought (check runs of further check suites).
fn nested_pending(answer: &Value, at: &str, from: usize) -> Vec<Pending> {
    if at.ends_with("/checkSuites") {
        runs_pending(answer, at, from)
    } else {
        Vec::new()
    }
}

/// More pages than any real team, review list or check list has: a server that keeps saying
/// "more" is broken, and the run stops instead of looping.
const MAX_ROUNDS: usize = 1000;

/// The pull request that a merge queue branch (`gh-readonly-queue/<base>/pr-<N>-<sha>`) was
/// built for; `None` for any other branch.
pub fn queue_branch_pull_request(head_ref: &str) -> Option<u64> {
    let branch = head_ref.strip_prefix("refs/heads/").unwrap_or(head_ref);
    let rest = branch.strip_prefix("gh-readonly-queue/")?;
    let (_base, last) = rest.rsplit_once('/')?;
    let (number, sha) = last.strip_prefix("pr-")?.split_once('-')?;
    if sha.is_empty() || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    number.parse().ok().filter(|n| *n > 0)
}

impl Github {
    /// A client for one pull request. Retries 5xx and transport errors (3 times).
    pub fn new(settings: GithubSettings) -> Result<Self, ForgeError> {
        let client = Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(|e| ForgeError::Api(format!("invalid GITHUB_API_URL: {e}")))?
            .personal_token(settings.token.expose().clone())
            .add_retry_config(RetryConfig::Simple(3))
            .build()
            .map_err(|e| ForgeError::Api(format!("cannot build the GitHub client: {e}")))?;
        Ok(Github {
            settings,
            client,
            requests: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The same client for another pull request of the repository (a merge group's members);
    /// requests are counted together.
    pub fn for_pull_request(&self, number: u64) -> Github {
        Github {
            settings: GithubSettings {
                number,
                ..self.settings.clone()
            },
            client: self.client.clone(),
            requests: Arc::clone(&self.requests),
        }
    }

    /// How many API requests this client made (retries included once).
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn repo_url(&self, rest: &str) -> String {
        format!(
            "{}/repos/{}{rest}",
            self.settings.api_url.trim_end_matches('/'),
            self.settings.repository
        )
    }

    /// Send one request; map 401/403 to actionable errors.
    async fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, ForgeError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let result = match method {
            "GET" => self.client._get(url).await,
            "POST" => self.client._post(url, body).await,
            "PUT" => self.client._put(url, body).await,
            "PATCH" => self.client._patch(url, body).await,
            "DELETE" => self.client._delete(url, body).await,
            _ => unreachable!("only the methods above are used"),
        };
        let response = result.map_err(|e| ForgeError::Api(format!("{method} {url}: {e}")))?;
        let status = response.status();
        let text = self
            .client
            .body_to_string(response)
            .await
            .map_err(|e| ForgeError::Api(format!("{method} {url}: {e}")))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or(text.as_str())
            .to_string();
        match status {
            s if s.is_success() => Ok(value),
            StatusCode::UNAUTHORIZED => Err(ForgeError::Unauthorized(format!(
                "GitHub rejected the token (401 {message}): pass a valid token (the action's `token` input, default `${{{{ github.token }}}}`)"
            ))),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND if !s_is_graphql(url) => {
                Err(ForgeError::Forbidden(format!(
                    "GitHub refused {method} {} ({} {message}): the token needs {}",
                    path_of(url),
                    status.as_u16(),
                    permission_for(method, url)
                )))
            }
            s => Err(ForgeError::Api(format!(
                "GitHub answered {} to {method} {}: {message}",
                s.as_u16(),
                path_of(url)
            ))),
        }
    }

    async fn graphql(&self, query: &str, variables: Value) -> Result<Value, ForgeError> {
        let url = self.settings.graphql_url.clone();
        let body = json!({ "query": query, "variables": variables });
        self.send("POST", &url, Some(&body)).await
    }

    /// Read the remaining pages of `pending` into `answer`: one request per round for all the
    /// connections that still have pages, until none has. A page GitHub does not return is an
    /// error, never a silently shorter list.
    async fn read_rest(
        &self,
        answer: &mut Value,
        mut pending: Vec<Pending>,
    ) -> Result<(), ForgeError> {
        for _ in 0..MAX_ROUNDS {
            if pending.is_empty() {
                return Ok(());
            }
            let requests: Vec<PageRequest> = pending.iter().map(|(_, r)| r.clone()).collect();
            let page_answer = self
                .graphql(&next_pages_query(&requests), json!({}))
                .await?;
            let mut next = Vec::new();
            for (i, (at, request)) in pending.into_iter().enumerate() {
                let page = connection_in(&page_answer, i, &request).ok_or_else(|| {
                    ForgeError::Api(format!(
                        "GitHub returned no further page of {} (after {}): {}",
                        request.field,
                        request.after,
                        errors_of(&page_answer)
                    ))
                })?;
                let before = answer
                    .pointer(&format!("{at}/nodes"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                append_nodes(answer, &at, page);
                next.extend(nested_pending(answer, &at, before));
                if let Some(after) = next_cursor(page) {
                    if after == request.after {
                        return Err(ForgeError::Api(format!(
                            "GitHub returned the same page of {} twice (cursor {after})",
                            request.field
                        )));
                    }
                    next.push((at, PageRequest { after, ..request }));
                }
            }
            pending = next;
        }
        Err(ForgeError::Api(format!(
            "GitHub kept returning more pages after {MAX_ROUNDS} requests"
        )))
    }

    /// The pull requests of a merge group: every queue entry whose head commit is the group's
    /// (GitHub may group several), and always the one the queue branch names.
    pub async fn merge_group_pull_requests(
        &self,
        group: &MergeGroup,
    ) -> Result<Vec<u64>, ForgeError> {
        let (owner, name) = self.owner_name()?;
        let query = format!(
            r#"query($owner: String!, $name: String!, $branch: String!) {{
  repository(owner: $owner, name: $name) {{
    mergeQueue(branch: $branch) {{ entries(first: 100) {{ {PAGE_INFO} {ENTRY_NODES} }} }}
  }}
}}"#
        );
        let mut answer = self
            .graphql(
                &query,
                json!({ "owner": owner, "name": name, "branch": group.base_ref }),
            )
            .await?;
        let at = "/data/repository/mergeQueue/entries";
        // No queue (or the entry already left it) is a null `mergeQueue`; an error is not: the
        // group's other pull requests would go unchecked, so stop instead.
        let errors = errors_of(&answer);
        if answer
            .pointer("/data/repository")
            .is_none_or(Value::is_null)
            || !errors.is_empty()
        {
            return Err(ForgeError::Api(format!(
                "cannot read the merge queue of {}: {errors}",
                group.base_ref
            )));
        }
        if let Some(after) = answer.pointer(at).and_then(next_cursor) {
            let request = PageRequest {
                parents: vec![
                    format!(
                        "repository(owner: {}, name: {})",
                        literal(owner),
                        literal(name)
                    ),
                    format!("mergeQueue(branch: {})", literal(&group.base_ref)),
                ],
                on_type: None,
                field: "entries",
                selection: ENTRY_NODES,
                after,
            };
            self.read_rest(&mut answer, vec![(at.to_string(), request)])
                .await?;
        }
        let mut numbers = vec![group.number];
        if let Some(entries) = answer.pointer(at) {
            for entry in nodes(entries) {
                let head = entry.pointer("/headCommit/oid").and_then(Value::as_str);
                let number = entry.pointer("/pullRequest/number").and_then(Value::as_u64);
                if let (Some(head), Some(n)) = (head, number)
                    && head.eq_ignore_ascii_case(&group.head_sha)
                    && !numbers.contains(&n)
                {
                    numbers.push(n);
                }
            }
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn owner_name(&self) -> Result<(&str, &str), ForgeError> {
        self.settings
            .repository
            .split_once('/')
            .ok_or_else(|| ForgeError::Api("GITHUB_REPOSITORY must be owner/name".into()))
    }

    /// Find the open pull request whose head is `sha` (for `workflow_run` from forks).
    pub async fn pull_request_for_commit(&self, sha: &str) -> Result<Option<u64>, ForgeError> {
        let v = self
            .send(
                "GET",
                &self.repo_url(&format!("/commits/{sha}/pulls")),
                None,
            )
            .await?;
        Ok(v.as_array()
            .and_then(|a| {
                a.iter()
                    .find(|p| p.get("state").and_then(Value::as_str) == Some("open"))
            })
            .and_then(|p| p.get("number"))
            .and_then(Value::as_u64))
    }
}

fn s_is_graphql(url: &str) -> bool {
    url.ends_with("/graphql")
}

fn path_of(url: &str) -> &str {
    url.find("/repos/").map(|i| &url[i..]).unwrap_or(url)
}

/// The permission GitHub wants for a call, for error messages.
fn permission_for(method: &str, url: &str) -> &'static str {
    if url.contains("/statuses/") {
        "`statuses: write`"
    } else if url.contains("/requested_reviewers")
        || url.contains("/labels")
        || url.contains("/comments")
    {
        "`pull-requests: write`"
    } else if url.contains("/pulls") && method == "GET" {
        "`pull-requests: read`"
    } else {
        "read access to this repository (`contents: read`, `pull-requests: read`, `checks: read`)"
    }
}

/// A login as evaluation sees it: bots get their `[bot]` suffix back (GraphQL drops it).
fn login_of(actor: &Value) -> Option<String> {
    let login = actor.get("login")?.as_str()?;
    if actor.get("__typename").and_then(Value::as_str) == Some("Bot") && !login.ends_with("[bot]") {
        Some(format!("{login}[bot]"))
    } else {
        Some(login.to_string())
    }
}

/// The items of a JSON array (none when it is missing or not an array).
fn nodes_of(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn nodes(v: &Value) -> impl Iterator<Item = &Value> {
    v.get("nodes")
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
}

fn review_state(s: &str) -> ReviewState {
    match s {
        "APPROVED" => ReviewState::Approved,
        "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
        "DISMISSED" => ReviewState::Dismissed,
        "PENDING" => ReviewState::Pending,
        _ => ReviewState::Commented,
    }
}

/// Turn the GraphQL answer into facts.
fn parse_facts(data: &Value) -> Result<PrFacts, ForgeError> {
    let pr = data
        .pointer("/data/repository/pullRequest")
        .filter(|v| !v.is_null())
        .ok_or_else(|| {
            let errors = data
                .get("errors")
                .map(|e| e.to_string())
                .unwrap_or_default();
            ForgeError::Api(format!("GitHub returned no pull request {errors}"))
        })?;
    let s = |p: &str| {
        pr.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let labels = pr
        .get("labels")
        .map(|l| {
            nodes(l)
                .filter_map(|n| n.get("name")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let requested_reviewers = pr
        .get("reviewRequests")
        .map(|r| {
            nodes(r)
                .filter_map(|n| login_of(n.get("requestedReviewer")?))
                .collect()
        })
        .unwrap_or_default();
    let reviews = pr
        .get("reviews")
        .map(|r| {
            nodes(r)
                .filter_map(|n| {
                    Some(Review {
                        user: login_of(n.get("author")?)?,
                        state: review_state(n.get("state")?.as_str()?),
                        commit: n
                            .pointer("/commit/oid")
                            .and_then(Value::as_str)
                            .map(String::from),
                        submitted_at: n
                            .get("submittedAt")
                            .and_then(Value::as_str)
                            .map(String::from),
                        body: n
                            .get("body")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut check_runs = Vec::new();
    if let Some(commits) = pr.get("commits") {
        for c in nodes(commits) {
            let Some(suites) = c.pointer("/commit/checkSuites") else {
                continue;
            };
            for suite in nodes(suites) {
                let app = suite
                    .pointer("/app/slug")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let Some(runs) = suite.get("checkRuns") else {
                    continue;
                };
                for run in nodes(runs) {
                    check_runs.push(CheckRun {
                        app: app.to_string(),
                        name: run
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        status: run
                            .get("status")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_lowercase(),
                        conclusion: run
                            .get("conclusion")
                            .and_then(Value::as_str)
                            .map(str::to_lowercase),
                    });
                }
            }
        }
    }
    Ok(PrFacts {
        pr: PullRequest {
            number: pr.get("number").and_then(Value::as_u64).unwrap_or(0),
            author: pr.get("author").and_then(login_of).unwrap_or_default(),
            head_sha: s("/headRefOid"),
            draft: pr.get("isDraft").and_then(Value::as_bool).unwrap_or(false),
            labels,
            requested_reviewers,
            reviews,
            check_runs,
            files: Vec::new(),
            reviewer_facts: Default::default(),
        },
        base_sha: s("/baseRefOid"),
        base_ref: s("/baseRefName"),
        card: card_of(pr),
    })
}

/// The chat card of a pull request answer; `None` when the answer lacks the title (a caller
/// that did not ask for it, or a partial answer).
fn card_of(pr: &Value) -> Option<PrCard> {
    let text = |p: &str| pr.pointer(p).and_then(Value::as_str).map(String::from);
    let count = |p: &str| pr.pointer(p).and_then(Value::as_u64);
    let statuses = pr
        .pointer("/commits/nodes/0/commit/status/contexts")
        .and_then(Value::as_array)
        .map(|contexts| {
            contexts
                .iter()
                .filter_map(|c| {
                    Some(StatusContext {
                        context: c.get("context")?.as_str()?.to_string(),
                        // GraphQL's EXPECTED is REST's pending.
                        state: match c.get("state")?.as_str()? {
                            "EXPECTED" => "pending".to_string(),
                            other => other.to_lowercase(),
                        },
                        description: c
                            .get("description")
                            .and_then(Value::as_str)
                            .map(String::from),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(PrCard {
        title: text("/title")?,
        url: text("/url").unwrap_or_default(),
        state: text("/state").unwrap_or_default().to_lowercase(),
        head_ref: text("/headRefName").unwrap_or_default(),
        additions: count("/additions"),
        deletions: count("/deletions"),
        changed_files: count("/changedFiles"),
        statuses,
    })
}

impl Forge for Github {
    async fn pull_request(&self) -> Result<PrFacts, ForgeError> {
        let (owner, name) = self.owner_name()?;
        let number = self.settings.number;
        let mut data = self
            .graphql(
                &pr_query(),
                json!({ "owner": owner, "name": name, "number": number }),
            )
            .await?;
        let pending = pr_pending(&data, owner, name, number);
        self.read_rest(&mut data, pending).await?;
        parse_facts(&data)
    }

    async fn team_members(&self, teams: &BTreeSet<String>) -> Result<Teams, ForgeError> {
        if teams.is_empty() {
            return Ok(Teams::new());
        }
        let mut query = String::from("query {\n");
        let list: Vec<&String> = teams.iter().collect();
        for (i, team) in list.iter().enumerate() {
            let (org, slug) = team.split_once('/').unwrap_or((team.as_str(), ""));
            query.push_str(&format!(
                "  t{i}: organization(login: {}) {{ team(slug: {}) {{ members(first: 100) {{ {PAGE_INFO} {MEMBER_NODES} }} }} }}\n",
                literal(org),
                literal(slug)
            ));
        }
        query.push('}');
        let mut data = self.graphql(&query, json!({})).await?;
        let pending = list
            .iter()
            .enumerate()
            .filter_map(|(i, team)| {
                let at = format!("/data/t{i}/team/members");
                let after = data.pointer(&at).and_then(next_cursor)?;
                let (org, slug) = team.split_once('/').unwrap_or((team.as_str(), ""));
                Some((
                    at,
                    PageRequest {
                        parents: vec![
                            format!("organization(login: {})", literal(org)),
                            format!("team(slug: {})", literal(slug)),
                        ],
                        on_type: None,
                        field: "members",
                        selection: MEMBER_NODES,
                        after,
                    },
                ))
            })
            .collect();
        self.read_rest(&mut data, pending).await?;
        let forbidden = |team: &str| {
            ForgeError::Forbidden(format!(
                "cannot read team @{team}: the token needs the organization permission Members: read (GITHUB_TOKEN cannot; use a GitHub App token)"
            ))
        };
        let mut out = Teams::new();
        for (i, team) in list.iter().enumerate() {
            let members = data.pointer(&format!("/data/t{i}/team/members"));
            match members {
                Some(m) if !m.is_null() => {
                    out.insert(
                        (*team).clone(),
                        nodes(m)
                            .filter_map(|n| n.get("login")?.as_str().map(String::from))
                            .collect(),
                    );
                }
                _ => return Err(forbidden(team)),
            }
        }
        Ok(out)
    }

    async fn changed_files(&self) -> Result<Vec<FileDiff>, ForgeError> {
        let mut files = Vec::new();
        // GitHub lists at most 3000 files (30 pages of 100).
        for page in 1..=30 {
            let url = self.repo_url(&format!(
                "/pulls/{}/files?per_page=100&page={page}",
                self.settings.number
            ));
            let v = self.send("GET", &url, None).await?;
            let batch = v.as_array().cloned().unwrap_or_default();
            for f in &batch {
                let path = f
                    .get("filename")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let patch = f.get("patch").and_then(Value::as_str).unwrap_or("");
                let old_path = f
                    .get("previous_filename")
                    .and_then(Value::as_str)
                    .unwrap_or(&path);
                // GitHub leaves `patch` out for binary and very large files: unless the file
                // was only renamed or copied, its changed lines are unknown (fail closed).
                let status = f.get("status").and_then(Value::as_str).unwrap_or("");
                let changes = f.get("changes").and_then(Value::as_u64).unwrap_or(0);
                let moved_only =
                    matches!(status, "renamed" | "copied" | "unchanged") && changes == 0;
                let mut file = diff::api_file_diff(
                    old_path,
                    &path,
                    patch,
                    (!moved_only).then_some(codereview_policy::unread::Unread::NoPatch),
                );
                file.additions = f.get("additions").and_then(Value::as_u64).unwrap_or(0) as usize;
                file.deletions = f.get("deletions").and_then(Value::as_u64).unwrap_or(0) as usize;
                files.push(file);
            }
            if batch.len() < 100 {
                break;
            }
        }
        Ok(files)
    }

    async fn post_status(&self, status: &CommitStatus) -> Result<(), ForgeError> {
        let mut body = json!({
            "state": match status.state {
                Overall::Success => "success",
                Overall::Pending => "pending",
                Overall::Failure => "failure",
            },
            "description": status.description,
            "context": status.context,
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        self.send(
            "POST",
            &self.repo_url(&format!("/statuses/{}", status.sha)),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    async fn request_reviewers(&self, logins: &[String]) -> Result<(), ForgeError> {
        if logins.is_empty() {
            return Ok(());
        }
        let url = self.repo_url(&format!(
            "/pulls/{}/requested_reviewers",
            self.settings.number
        ));
        self.send("POST", &url, Some(&json!({ "reviewers": logins })))
            .await
            .map(|_| ())
    }

    async fn find_comment(&self, marker: &str) -> Result<Option<(u64, String)>, ForgeError> {
        // Oldest first; the instructions comment is posted on an early run, so the first page
        // nearly always holds it.
        for page in 1.. {
            let url = self.repo_url(&format!(
                "/issues/{}/comments?per_page=100&page={page}",
                self.settings.number
            ));
            let v = self.send("GET", &url, None).await?;
            let batch = v.as_array().cloned().unwrap_or_default();
            let found = batch.iter().find_map(|c| {
                let body = c.get("body")?.as_str()?;
                let id = c.get("id")?.as_u64()?;
                body.starts_with(marker).then(|| (id, body.to_string()))
            });
            if found.is_some() || batch.len() < 100 {
                return Ok(found);
            }
        }
        Ok(None)
    }

    async fn create_comment(&self, body: &str) -> Result<(), ForgeError> {
        let url = self.repo_url(&format!("/issues/{}/comments", self.settings.number));
        self.send("POST", &url, Some(&json!({ "body": body })))
            .await
            .map(|_| ())
    }

    async fn edit_comment(&self, id: u64, body: &str) -> Result<(), ForgeError> {
        let url = self.repo_url(&format!("/issues/comments/{id}"));
        self.send("PATCH", &url, Some(&json!({ "body": body })))
            .await
            .map(|_| ())
    }

    async fn update_labels(
        &self,
        current: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<(), ForgeError> {
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let mut labels: Vec<String> = current
            .iter()
            .filter(|l| !remove.iter().any(|r| r.eq_ignore_ascii_case(l)))
            .cloned()
            .collect();
        labels.extend(add.iter().cloned());
        let url = self.repo_url(&format!("/issues/{}/labels", self.settings.number));
        self.send("PUT", &url, Some(&json!({ "labels": labels })))
            .await
            .map(|_| ())
    }

    /// The tree of `rev` (one REST request, recursive), then the text of every config file in
    /// one GraphQL query.
    async fn config_files(&self, rev: &str) -> Result<Vec<ConfigFile>, ForgeError> {
        let tree = self
            .send(
                "GET",
                &self.repo_url(&format!("/git/trees/{rev}?recursive=1")),
                None,
            )
            .await?;
        if tree.get("truncated").and_then(Value::as_bool) == Some(true) {
            return Err(ForgeError::Api(format!(
                "GitHub cut the file list of {} at {rev} (too many files for one answer): the rules cannot be read through the API",
                self.settings.repository
            )));
        }
        let paths: Vec<String> = nodes_of(tree.get("tree"))
            .filter(|e| e.get("type").and_then(Value::as_str) == Some("blob"))
            .filter_map(|e| e.get("path")?.as_str().map(String::from))
            .filter(|p| is_config_path(p))
            .collect();
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let (owner, name) = self.owner_name()?;
        let mut query = format!(
            "query {{\n  repository(owner: {}, name: {}) {{\n",
            literal(owner),
            literal(name)
        );
        for (i, path) in paths.iter().enumerate() {
            query.push_str(&format!(
                "    f{i}: object(expression: {}) {{ ... on Blob {{ text isBinary }} }}\n",
                literal(&format!("{rev}:{path}"))
            ));
        }
        query.push_str("  }\n}");
        let data = self.graphql(&query, json!({})).await?;
        paths
            .into_iter()
            .enumerate()
            .map(|(i, path)| {
                let blob = data.pointer(&format!("/data/repository/f{i}"));
                match blob.and_then(|b| b.get("text")).and_then(Value::as_str) {
                    Some(text) => Ok(ConfigFile {
                        path,
                        text: text.to_string(),
                    }),
                    None => Err(ForgeError::Api(format!(
                        "GitHub did not return the text of {path} at {rev}"
                    ))),
                }
            })
            .collect()
    }

    async fn reviewer_facts(
        &self,
        people: &[String],
        balanced: bool,
    ) -> Result<ReviewerFacts, ForgeError> {
        if people.is_empty() {
            return Ok(ReviewerFacts::default());
        }
        let (owner, name) = self.owner_name()?;
        let mut query = String::from("query {\n");
        for (i, login) in people.iter().enumerate() {
            query.push_str(&format!(
                "  u{i}: user(login: {}) {{ status {{ indicatesLimitedAvailability }} }}\n",
                literal(login)
            ));
            if balanced {
                let search = format!("repo:{owner}/{name} is:pr is:open review-requested:{login}");
                query.push_str(&format!(
                    "  r{i}: search(type: ISSUE, query: {}, first: 1) {{ issueCount }}\n",
                    literal(&search)
                ));
            }
        }
        query.push('}');
        let data = self.graphql(&query, json!({})).await?;
        let mut facts = ReviewerFacts::default();
        let mut load = BTreeMap::new();
        for (i, login) in people.iter().enumerate() {
            let limited = data
                .pointer(&format!("/data/u{i}/status/indicatesLimitedAvailability"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if limited {
                facts.away.push(login.clone());
            }
            if let Some(count) = data
                .pointer(&format!("/data/r{i}/issueCount"))
                .and_then(Value::as_u64)
            {
                load.insert(login.to_lowercase(), count as u32);
            }
        }
        facts.open_requests = balanced.then_some(load);
        Ok(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_comes_with_the_facts() {
        let answer = json!({ "data": { "repository": { "pullRequest": {
            "number": 2, "isDraft": false, "headRefOid": "h", "baseRefOid": "b",
            "baseRefName": "main", "title": "Fix <it> & ship", "url": "https://github.com/o/r/pull/2",
            "state": "MERGED", "headRefName": "fix", "additions": 3, "deletions": 1,
            "changedFiles": 2, "author": { "__typename": "User", "login": "dana" },
            "commits": { "nodes": [ { "commit": { "id": "C", "status": { "contexts": [
                { "context": "ci", "state": "SUCCESS", "description": null },
                { "context": "codereview", "state": "EXPECTED", "description": "1 scope pending" }
            ] } } } ] }
        } } } });
        let card = parse_facts(&answer).unwrap().card.unwrap();
        assert_eq!(card.title, "Fix <it> & ship");
        assert_eq!(card.state, "merged");
        assert_eq!(
            (card.additions, card.deletions, card.changed_files),
            (Some(3), Some(1), Some(2))
        );
        assert_eq!(card.head_ref, "fix");
        assert_eq!(
            card.statuses[1],
            StatusContext {
                context: "codereview".into(),
                state: "pending".into(),
                description: Some("1 scope pending".into())
            }
        );
        // Without a title (an answer to a query that did not ask) there is no card.
        let mut bare = answer.clone();
        bare["data"]["repository"]["pullRequest"]["title"] = Value::Null;
        assert!(parse_facts(&bare).unwrap().card.is_none());
    }

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../tests/fixtures/github-webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn finds_the_pull_request_in_each_event() {
        assert_eq!(
            event_target("pull_request", &fixture("pull_request.opened.payload.json")).unwrap(),
            EventTarget::PullRequest(2)
        );
        assert_eq!(
            event_target(
                "pull_request_review",
                &fixture("pull_request_review.submitted.payload.json")
            )
            .unwrap(),
            EventTarget::PullRequest(2)
        );
        assert!(matches!(
            event_target(
                "issue_comment",
                &fixture("issue_comment.created.payload.json")
            )
            .unwrap(),
            EventTarget::Nothing(_)
        ));
        assert!(matches!(
            event_target("check_run", &fixture("check_run.created.payload.json")).unwrap(),
            EventTarget::Nothing(_)
        ));
        assert!(event_target("push", &json!({})).is_err());
    }

    #[test]
    fn merge_queue_branches_name_their_pull_request() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            queue_branch_pull_request(&format!("refs/heads/gh-readonly-queue/main/pr-42-{sha}")),
            Some(42)
        );
        assert_eq!(
            queue_branch_pull_request(&format!("gh-readonly-queue/release/1.x/pr-7-{sha}")),
            Some(7)
        );
        for bad in [
            format!("refs/heads/main/pr-42-{sha}"),
            format!("gh-readonly-queue/main/pr-x-{sha}"),
            "gh-readonly-queue/main/pr-42-".to_string(),
            "gh-readonly-queue/main/pr-42-nothex".to_string(),
            format!("gh-readonly-queue/pr-0-{sha}"),
        ] {
            assert_eq!(queue_branch_pull_request(&bad), None, "{bad}");
        }
    }

    #[test]
    fn merge_group_events_target_the_group_head() {
        let sha = "0123456789ABCDEF0123456789abcdef01234567";
        let payload = json!({ "action": "checks_requested", "merge_group": {
            "head_sha": sha,
            "head_ref": format!("refs/heads/gh-readonly-queue/main/pr-7-{}", "a".repeat(40)),
            "base_ref": "refs/heads/main",
        } });
        assert_eq!(
            event_target("merge_group", &payload).unwrap(),
            EventTarget::MergeGroup(MergeGroup {
                head_sha: sha.to_ascii_lowercase(),
                base_ref: "main".into(),
                number: 7,
            })
        );
        let mut destroyed = payload.clone();
        destroyed["action"] = json!("destroyed");
        assert!(matches!(
            event_target("merge_group", &destroyed).unwrap(),
            EventTarget::Nothing(_)
        ));
        let mut bad = payload.clone();
        bad["merge_group"]["head_sha"] = json!("--upload-pack=evil");
        assert!(event_target("merge_group", &bad).is_err());
        let mut bad = payload;
        bad["merge_group"]["head_ref"] = json!("refs/heads/feature");
        assert!(event_target("merge_group", &bad).is_err());
    }
}
