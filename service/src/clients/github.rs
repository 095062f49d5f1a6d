//! GitHub REST client for the sync handler ([`ForgeApi`]), at `GITHUB_API_URL`.
//!
//! Plain `reqwest` rather than octocrab: the handler needs a dozen calls, each with exact
//! control of the path (tests assert them against a fake) and of how failures become queue
//! decisions ([`super::send`]).

use std::collections::HashSet;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{CreatedComment, ForgeApi, http_client, send};
use crate::domain::Forge;
use crate::outcome::HandleError;
use crate::secret::Secret;
use crate::store::PrRef;
use crate::sync::github::PullRequest;
use crate::sync::model::{CommentKind, ForgeUser, PrFacts, ReplyTarget, ReviewStatus};

/// [`ForgeApi`] for GitHub.
#[derive(Debug, Clone)]
pub struct GitHubClient {
    base: Url,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

/// A comment as the list endpoints return it (issue and review comments alike).
#[derive(Deserialize)]
struct ListedComment {
    id: i64,
    #[serde(default)]
    body: String,
    #[serde(default)]
    in_reply_to_id: Option<i64>,
}

/// Most pages (100 comments each) read when looking for an earlier attempt's comment.
const MAX_COMMENT_PAGES: u32 = 10;

#[derive(Deserialize)]
struct Status {
    context: String,
    state: String,
    description: Option<String>,
}

#[derive(Deserialize)]
struct Combined {
    #[serde(default)]
    statuses: Vec<Status>,
    /// How many contexts the commit has in all pages.
    total_count: Option<u64>,
}

/// Most pages (100 contexts each) of a commit's combined status read to find `codereview`.
const MAX_STATUS_PAGES: u32 = 10;

#[derive(Deserialize)]
struct Number {
    number: i64,
}

#[derive(Deserialize)]
struct Account {
    login: String,
    id: Option<i64>,
    #[serde(rename = "type", default)]
    kind: String,
    email: Option<String>,
}

#[derive(Deserialize)]
struct Search {
    total_count: u64,
    #[serde(default)]
    items: Vec<Account>,
}

impl GitHubClient {
    /// A client for the REST API at `base` (e.g. `https://api.github.com`).
    pub fn new(base: &Url) -> Self {
        Self {
            base: base.clone(),
            http: http_client(),
        }
    }

    /// `base` + path segments, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        super::join_segments(&self.base, segments.iter().flat_map(|s| s.split('/')))
    }

    fn request(
        &self,
        method: reqwest::Method,
        token: &Secret<String>,
        url: Url,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(token.expose())
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
    }

    fn comment_path(pr: &PrRef, kind: CommentKind, id: &str) -> Result<Vec<String>, HandleError> {
        let middle = match kind {
            CommentKind::IssueComment => "issues",
            CommentKind::ReviewComment => "pulls",
            other => {
                return Err(HandleError::permanent(format!(
                    "github cannot edit a {} from Slack",
                    other.as_str()
                )));
            }
        };
        Ok(vec![
            "repos".into(),
            pr.repo.clone(),
            middle.into(),
            "comments".into(),
            id.into(),
        ])
    }
}

fn segs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[async_trait]
impl ForgeApi for GitHubClient {
    fn forge(&self) -> Forge {
        Forge::GitHub
    }

    async fn pull_request(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
    ) -> Result<PrFacts, HandleError> {
        let n = pr.number.to_string();
        let url = self.url(&["repos", &pr.repo, "pulls", &n]);
        let answer = send(
            "github get pull",
            self.request(reqwest::Method::GET, token, url),
            false,
        )
        .await?
        .expect("404 is not accepted here");
        Ok(answer.json::<PullRequest>("github get pull")?.facts())
    }

    async fn review_status(
        &self,
        token: &Secret<String>,
        repo: &str,
        sha: &str,
        context: &str,
    ) -> Result<Option<ReviewStatus>, HandleError> {
        // The combined status keeps only the newest status per context, but it pages over
        // contexts (30 by default): a commit with many checks can have `codereview` on a later
        // page, so read pages until it is found or the list ends.
        for page in 1..=MAX_STATUS_PAGES {
            let mut url = self.url(&["repos", repo, "commits", sha, "status"]);
            url.query_pairs_mut()
                .append_pair("per_page", "100")
                .append_pair("page", &page.to_string());
            let answer = send(
                "github get status",
                self.request(reqwest::Method::GET, token, url),
                false,
            )
            .await?
            .expect("404 is not accepted here");
            let combined: Combined = answer.json("github get status")?;
            let last_page = combined.statuses.len() < 100
                || combined
                    .total_count
                    .is_some_and(|total| total <= u64::from(page) * 100);
            if let Some(status) = combined.statuses.into_iter().find(|s| s.context == context) {
                return Ok(Some(ReviewStatus {
                    state: status.state,
                    description: status.description,
                }));
            }
            if last_page {
                break;
            }
        }
        Ok(None)
    }

    async fn prs_for_commit(
        &self,
        token: &Secret<String>,
        repo: &str,
        sha: &str,
    ) -> Result<Vec<i64>, HandleError> {
        let url = self.url(&["repos", repo, "commits", sha, "pulls"]);
        let answer = send(
            "github commit pulls",
            self.request(reqwest::Method::GET, token, url),
            false,
        )
        .await?
        .expect("404 is not accepted here");
        let prs: Vec<Number> = answer.json("github commit pulls")?;
        Ok(prs.into_iter().map(|p| p.number).collect())
    }

    async fn create_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        target: &ReplyTarget,
        body: &str,
    ) -> Result<CreatedComment, HandleError> {
        let n = pr.number.to_string();
        let (url, kind, root, api) = match target {
            ReplyTarget::Conversation => (
                self.url(&["repos", &pr.repo, "issues", &n, "comments"]),
                CommentKind::IssueComment,
                None,
                "github create issue comment",
            ),
            ReplyTarget::Thread(root) => (
                self.url(&["repos", &pr.repo, "pulls", &n, "comments", root, "replies"]),
                CommentKind::ReviewComment,
                Some(root.clone()),
                "github reply to review comment",
            ),
        };
        let request = self
            .request(reqwest::Method::POST, token, url)
            .json(&json!({ "body": body }));
        let answer = send(api, request, false)
            .await?
            .expect("404 is not accepted here");
        let created: Id = answer.json(api)?;
        Ok(CreatedComment {
            kind,
            id: created.id.to_string(),
            thread_root: root,
        })
    }

    async fn comments_with_body(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        target: &ReplyTarget,
        body: &str,
    ) -> Result<Vec<CreatedComment>, HandleError> {
        let n = pr.number.to_string();
        let (list, kind, root, api) = match target {
            ReplyTarget::Conversation => (
                "issues",
                CommentKind::IssueComment,
                None,
                "github list issue comments",
            ),
            ReplyTarget::Thread(root) => (
                "pulls",
                CommentKind::ReviewComment,
                Some(root.clone()),
                "github list review comments",
            ),
        };
        let in_thread = |c: &ListedComment| match &root {
            None => true,
            Some(root) => c.in_reply_to_id.map(|r| r.to_string()).as_ref() == Some(root),
        };
        let mut found = Vec::new();
        for page in 1..=MAX_COMMENT_PAGES {
            let mut url = self.url(&["repos", &pr.repo, list, &n, "comments"]);
            url.query_pairs_mut()
                .append_pair("per_page", "100")
                .append_pair("page", &page.to_string());
            let answer = send(api, self.request(reqwest::Method::GET, token, url), false)
                .await?
                .expect("404 is not accepted here");
            let comments: Vec<ListedComment> = answer.json(api)?;
            found.extend(
                comments
                    .iter()
                    .filter(|c| c.body == body && in_thread(c))
                    .map(|c| CreatedComment {
                        kind,
                        id: c.id.to_string(),
                        thread_root: root.clone(),
                    }),
            );
            if comments.len() < 100 {
                break;
            }
        }
        Ok(found)
    }

    async fn edit_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        kind: CommentKind,
        id: &str,
        body: &str,
    ) -> Result<(), HandleError> {
        let path = Self::comment_path(pr, kind, id)?;
        let request = self
            .request(reqwest::Method::PATCH, token, self.url(&segs(&path)))
            .json(&json!({ "body": body }));
        send("github edit comment", request, false).await?;
        Ok(())
    }

    async fn delete_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        kind: CommentKind,
        id: &str,
    ) -> Result<(), HandleError> {
        let path = Self::comment_path(pr, kind, id)?;
        let request = self.request(reqwest::Method::DELETE, token, self.url(&segs(&path)));
        send("github delete comment", request, true).await?;
        Ok(())
    }

    async fn comment_ids(
        &self,
        _token: &Secret<String>,
        _pr: &PrRef,
    ) -> Result<HashSet<String>, HandleError> {
        Err(HandleError::permanent(
            "github sends delete events: no reconcile needed",
        ))
    }

    async fn start_pipeline(
        &self,
        _token: &Secret<String>,
        _pr: &PrRef,
    ) -> Result<(), HandleError> {
        Err(HandleError::permanent(
            "merge-request pipelines are a GitLab feature",
        ))
    }

    async fn token_user(&self, token: &Secret<String>) -> Result<Option<ForgeUser>, HandleError> {
        let url = self.url(&["user"]);
        // App installation tokens cannot read /user (403): no identity, the ledger and the
        // App id still recognise our comments.
        match send(
            "github get user",
            self.request(reqwest::Method::GET, token, url),
            true,
        )
        .await
        {
            Ok(Some(answer)) => {
                let a: Account = answer.json("github get user")?;
                Ok(Some(ForgeUser {
                    is_bot: a.kind == "Bot",
                    login: a.login,
                    id: a.id,
                }))
            }
            Ok(None) => Ok(None),
            Err(HandleError::Permanent(_)) => Ok(None),
            Err(retry) => Err(retry),
        }
    }

    async fn login_for_email(
        &self,
        token: &Secret<String>,
        email: &str,
    ) -> Result<Option<String>, HandleError> {
        let mut url = self.url(&["search", "users"]);
        url.query_pairs_mut()
            .append_pair("q", &format!("{email} in:email"));
        let answer = send(
            "github search users",
            self.request(reqwest::Method::GET, token, url),
            false,
        )
        .await?
        .expect("404 is not accepted here");
        let found: Search = answer.json("github search users")?;
        Ok(match (found.total_count, found.items.as_slice()) {
            (1, [one]) => Some(one.login.clone()),
            _ => None,
        })
    }

    async fn email_for_login(
        &self,
        token: &Secret<String>,
        login: &str,
    ) -> Result<Option<String>, HandleError> {
        let url = self.url(&["users", login]);
        let Some(answer) = send(
            "github get user",
            self.request(reqwest::Method::GET, token, url),
            true,
        )
        .await?
        else {
            return Ok(None);
        };
        let a: Account = answer.json("github get user")?;
        Ok(a.email.filter(|e| !e.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        let c = GitHubClient::new(&Url::parse("https://ghe.example.com/api/v3/").unwrap());
        assert_eq!(
            c.url(&["repos", "acme/web", "pulls", "7"]).as_str(),
            "https://ghe.example.com/api/v3/repos/acme/web/pulls/7"
        );
        let c = GitHubClient::new(&Url::parse("https://api.github.com").unwrap());
        assert_eq!(
            c.url(&["users", "a b"]).as_str(),
            "https://api.github.com/users/a%20b"
        );
    }

    /// A retry looking for its own reply in a review thread: only replies to that root with
    /// exactly the body count, across pages.
    #[tokio::test]
    async fn review_thread_lookup_filters_by_root_and_body_across_pages() {
        use wiremock::matchers::{header, method, path, query_param};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        let body = "**Jane** (via Slack): fixed";
        // A full first page (99 replies in another thread, one in ours) makes it read on.
        let first: Vec<serde_json::Value> = (0..99)
            .map(|i| json!({"id": 1000 + i, "body": body, "in_reply_to_id": 12}))
            .chain([json!({"id": 7, "body": body, "in_reply_to_id": 77})])
            .collect();
        for (page, comments) in [
            ("1", json!(first)),
            (
                "2",
                json!([
                    {"id": 8, "body": body, "in_reply_to_id": 77},
                    {"id": 9, "body": "other words", "in_reply_to_id": 77},
                    {"id": 77, "body": body, "in_reply_to_id": null},
                ]),
            ),
        ] {
            Mock::given(method("GET"))
                .and(path("/repos/acme/web/pulls/5/comments"))
                .and(query_param("per_page", "100"))
                .and(query_param("page", page))
                .and(header("authorization", "Bearer ghs_token"))
                .respond_with(ResponseTemplate::new(200).set_body_json(comments))
                .expect(1)
                .mount(&server)
                .await;
        }
        let client = GitHubClient::new(&Url::parse(&server.uri()).unwrap());
        let pr = PrRef {
            forge: crate::domain::Forge::GitHub,
            repo: "acme/web".into(),
            number: 5,
        };
        let token = Secret::new("ghs_token".to_string());
        let found = client
            .comments_with_body(&token, &pr, &ReplyTarget::Thread("77".into()), body)
            .await
            .unwrap();
        let ids: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|c| (c.id.as_str(), c.thread_root.as_deref()))
            .collect();
        assert_eq!(ids, [("7", Some("77")), ("8", Some("77"))]);
        assert!(found.iter().all(|c| c.kind == CommentKind::ReviewComment));
    }
}
