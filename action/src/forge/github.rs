//! GitHub, through octocrab, with the token the Actions runner provides.
//!
//! One GraphQL request reads everything evaluation needs (author, head and base, draft, labels,
//! requested reviewers, reviews, check runs); one more expands all referenced teams at once.
//! Writes are REST: the commit status, reviewer requests and labels, one request each.

use super::{CommitStatus, Forge, ForgeError, PrFacts};
use crate::config::Teams;
use crate::git::{self, FileDiff};
use crate::review::{CheckRun, Overall, PullRequest, Review, ReviewState};
use http::StatusCode;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde_json::{Value, json};
use std::collections::BTreeSet;
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
    /// The token (never printed).
    pub token: String,
}

/// A GitHub pull request, as a [`Forge`].
pub struct Github {
    settings: GithubSettings,
    client: Octocrab,
    requests: AtomicUsize,
}

/// The pull request a GitHub Actions event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTarget {
    /// This pull request number.
    PullRequest(u64),
    /// A commit whose pull request must be looked up (`workflow_run` from a fork).
    Commit(String),
    /// An event that concerns no pull request now (e.g. a check run still in progress): there
    /// is nothing to do, and that is not an error.
    Nothing(String),
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
        other => Err(EventError(format!(
            "`{other}` is not a pull request event: run codereview on pull_request, pull_request_target, pull_request_review, issue_comment, check_run, check_suite or workflow_run"
        ))),
    }
}

const PR_QUERY: &str = r#"query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      number isDraft headRefOid baseRefOid baseRefName
      author { __typename login }
      labels(first: 100) { nodes { name } }
      reviewRequests(first: 100) { nodes { requestedReviewer { __typename ... on User { login } ... on Bot { login } } } }
      reviews(last: 100) { nodes { state submittedAt author { __typename login } commit { oid } } }
      commits(last: 1) { nodes { commit { checkSuites(first: 50) { nodes { app { slug } checkRuns(first: 100) { nodes { name status conclusion } } } } } } }
    }
  }
}"#;

impl Github {
    /// A client for one pull request. Retries 5xx and transport errors (3 times).
    pub fn new(settings: GithubSettings) -> Result<Self, ForgeError> {
        let client = Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(|e| ForgeError::Api(format!("invalid GITHUB_API_URL: {e}")))?
            .personal_token(settings.token.clone())
            .add_retry_config(RetryConfig::Simple(3))
            .build()
            .map_err(|e| ForgeError::Api(format!("cannot build the GitHub client: {e}")))?;
        Ok(Github {
            settings,
            client,
            requests: AtomicUsize::new(0),
        })
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
        },
        base_sha: s("/baseRefOid"),
        base_ref: s("/baseRefName"),
    })
}

impl Forge for Github {
    async fn pull_request(&self) -> Result<PrFacts, ForgeError> {
        let (owner, name) = self
            .settings
            .repository
            .split_once('/')
            .ok_or_else(|| ForgeError::Api("GITHUB_REPOSITORY must be owner/name".into()))?;
        let data = self
            .graphql(
                PR_QUERY,
                json!({ "owner": owner, "name": name, "number": self.settings.number }),
            )
            .await?;
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
                "  t{i}: organization(login: {}) {{ team(slug: {}) {{ members(first: 100) {{ nodes {{ login }} }} }} }}\n",
                json!(org),
                json!(slug)
            ));
        }
        query.push('}');
        let data = self.graphql(&query, json!({})).await?;
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
                let mut file = git::api_file_diff(
                    old_path,
                    &path,
                    patch,
                    (!moved_only).then_some(crate::unread::Unread::NoPatch),
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
