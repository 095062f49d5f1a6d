//! GitLab REST (v4) client for the sync handler ([`ForgeApi`]), at `{GITLAB_URL}/api/v4`.
//!
//! Projects are addressed by their URL-encoded path (`group%2Fsub%2Fapp`), which GitLab
//! accepts wherever it takes a numeric id, so nothing but the path needs to be known. The
//! token goes in `PRIVATE-TOKEN` (a project or group access token with the `api` scope).

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
use crate::sync::model::{CommentKind, ForgeUser, PrFacts, PrState, ReplyTarget, ReviewStatus};

/// Most pages of notes read when reconciling deletions (100 notes each).
pub const MAX_NOTE_PAGES: u32 = 50;

/// Most pages of `codereview` statuses read on a GitLab too old to sort them newest first.
pub const MAX_STATUS_PAGES: u32 = 50;

/// [`ForgeApi`] for GitLab.
#[derive(Debug, Clone)]
pub struct GitLabClient {
    base: Url,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

/// A note as the list endpoints return it.
#[derive(Deserialize)]
struct ListedNote {
    id: i64,
    #[serde(default)]
    body: String,
    #[serde(default)]
    system: bool,
}

/// A discussion with its notes.
#[derive(Deserialize)]
struct Discussion {
    #[serde(default)]
    notes: Vec<ListedNote>,
}

#[derive(Deserialize, Default)]
struct Author {
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    author: Author,
    #[serde(default)]
    web_url: String,
    #[serde(default)]
    source_branch: String,
    #[serde(default)]
    target_branch: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    work_in_progress: bool,
    sha: Option<String>,
    changes_count: Option<String>,
}

#[derive(Deserialize)]
struct CommitStatus {
    /// Grows with each new status (one per pipeline); the highest is the newest.
    #[serde(default)]
    id: i64,
    status: String,
    description: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    username: String,
    #[serde(default)]
    bot: bool,
    public_email: Option<String>,
}

impl GitLabClient {
    /// A client for the GitLab instance at `gitlab_url` (e.g. `https://gitlab.com`).
    pub fn new(gitlab_url: &Url) -> Self {
        Self {
            base: gitlab_url.clone(),
            http: http_client(),
        }
    }

    /// `{GITLAB_URL}/api/v4/` + segments; each segment is one encoded path segment (so a
    /// project path's slashes become `%2F`).
    fn url(&self, segments: &[&str]) -> Url {
        super::join_segments(
            &self.base,
            ["api", "v4"].into_iter().chain(segments.iter().copied()),
        )
    }

    fn mr_url(&self, pr: &PrRef, rest: &[&str]) -> Url {
        let iid = pr.number.to_string();
        let mut segments = vec!["projects", pr.repo.as_str(), "merge_requests", iid.as_str()];
        segments.extend_from_slice(rest);
        self.url(&segments)
    }

    /// Every note of an MR, up to [`MAX_NOTE_PAGES`] pages (more is an error: callers must
    /// not act on a partial list).
    async fn notes(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
    ) -> Result<Vec<ListedNote>, HandleError> {
        let mut all = Vec::new();
        let mut page = 1u32;
        loop {
            let mut url = self.mr_url(pr, &["notes"]);
            url.query_pairs_mut()
                .append_pair("per_page", "100")
                .append_pair("page", &page.to_string());
            let answer = send(
                "gitlab list notes",
                self.request(reqwest::Method::GET, token, url),
                false,
            )
            .await?
            .expect("404 is not accepted here");
            let notes: Vec<ListedNote> = answer.json("gitlab list notes")?;
            all.extend(notes);
            match next_page(&answer.headers) {
                Some(n) if n > page && n <= MAX_NOTE_PAGES => page = n,
                Some(n) if n > MAX_NOTE_PAGES => {
                    // Too many to be sure: fail rather than act on part of the list.
                    return Err(HandleError::permanent(format!(
                        "gitlab list notes: more than {MAX_NOTE_PAGES} pages"
                    )));
                }
                _ => return Ok(all),
            }
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        token: &Secret<String>,
        url: Url,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header("private-token", token.expose())
    }

    fn note_id(kind: CommentKind, id: &str) -> Result<&str, HandleError> {
        if kind == CommentKind::Note {
            Ok(id)
        } else {
            Err(HandleError::permanent(format!(
                "gitlab has no {}",
                kind.as_str()
            )))
        }
    }
}

/// GitLab's `x-next-page` header: the next page number, or `None` on the last page.
fn next_page(headers: &http::HeaderMap) -> Option<u32> {
    headers
        .get("x-next-page")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
}

/// GitLab commit-status names → the states the parent message knows.
fn normalise_status(status: &str) -> &str {
    match status {
        "success" => "success",
        "failed" => "failure",
        "canceled" => "error",
        _ => "pending",
    }
}

#[async_trait]
impl ForgeApi for GitLabClient {
    fn forge(&self) -> Forge {
        Forge::GitLab
    }

    async fn pull_request(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
    ) -> Result<PrFacts, HandleError> {
        let url = self.mr_url(pr, &[]);
        let answer = send(
            "gitlab get merge request",
            self.request(reqwest::Method::GET, token, url),
            false,
        )
        .await?
        .expect("404 is not accepted here");
        let mr: MergeRequest = answer.json("gitlab get merge request")?;
        let state = match mr.state.as_str() {
            "merged" => PrState::Merged,
            "closed" | "locked" => PrState::Closed,
            _ if mr.draft || mr.work_in_progress => PrState::Draft,
            _ => PrState::Open,
        };
        Ok(PrFacts {
            number: mr.iid,
            title: mr.title,
            author: mr.author.username,
            url: mr.web_url,
            base: mr.target_branch,
            head: mr.source_branch,
            head_sha: mr.sha,
            additions: None,
            deletions: None,
            files: mr
                .changes_count
                .and_then(|c| c.trim_end_matches('+').parse().ok()),
            state,
        })
    }

    async fn review_status(
        &self,
        token: &Secret<String>,
        repo: &str,
        sha: &str,
        context: &str,
    ) -> Result<Option<ReviewStatus>, HandleError> {
        // GitLab keeps one status per pipeline on a commit and lists them oldest first unless
        // asked otherwise (`order_by`/`sort` exist from GitLab 17.9 on). Ask for newest first
        // and keep the highest id seen; an older GitLab ignores `sort`, and then the pages are
        // followed to the end, so the verdict shown is always the newest one.
        let mut newest: Option<CommitStatus> = None;
        let mut page = 1u32;
        loop {
            let mut url = self.url(&["projects", repo, "repository", "commits", sha, "statuses"]);
            url.query_pairs_mut()
                .append_pair("name", context)
                .append_pair("order_by", "id")
                .append_pair("sort", "desc")
                .append_pair("per_page", "100")
                .append_pair("page", &page.to_string());
            let answer = send(
                "gitlab get statuses",
                self.request(reqwest::Method::GET, token, url),
                false,
            )
            .await?
            .expect("404 is not accepted here");
            let statuses: Vec<CommitStatus> = answer.json("gitlab get statuses")?;
            let newest_first = statuses.windows(2).all(|pair| pair[0].id >= pair[1].id);
            for status in statuses {
                if newest.as_ref().is_none_or(|kept| status.id > kept.id) {
                    newest = Some(status);
                }
            }
            match next_page(&answer.headers) {
                Some(next) if !newest_first && next > page && next <= MAX_STATUS_PAGES => {
                    page = next
                }
                Some(next) if !newest_first && next > MAX_STATUS_PAGES => {
                    return Err(HandleError::permanent(format!(
                        "gitlab get statuses: more than {MAX_STATUS_PAGES} pages, oldest first"
                    )));
                }
                _ => break,
            }
        }
        Ok(newest.map(|s| ReviewStatus {
            state: normalise_status(&s.status).to_string(),
            description: s.description,
        }))
    }

    async fn prs_for_commit(
        &self,
        _token: &Secret<String>,
        _repo: &str,
        _sha: &str,
    ) -> Result<Vec<i64>, HandleError> {
        // GitLab events name their merge request; nothing needs this lookup.
        Ok(Vec::new())
    }

    async fn create_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        target: &ReplyTarget,
        body: &str,
    ) -> Result<CreatedComment, HandleError> {
        let (url, root, api) = match target {
            ReplyTarget::Conversation => (self.mr_url(pr, &["notes"]), None, "gitlab create note"),
            ReplyTarget::Thread(discussion) => (
                self.mr_url(pr, &["discussions", discussion, "notes"]),
                Some(discussion.clone()),
                "gitlab reply in discussion",
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
            kind: CommentKind::Note,
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
        let (notes, root) = match target {
            ReplyTarget::Conversation => (self.notes(token, pr).await?, None),
            ReplyTarget::Thread(discussion) => {
                let url = self.mr_url(pr, &["discussions", discussion]);
                let api = "gitlab get discussion";
                let answer = send(api, self.request(reqwest::Method::GET, token, url), false)
                    .await?
                    .expect("404 is not accepted here");
                let found: Discussion = answer.json(api)?;
                (found.notes, Some(discussion.clone()))
            }
        };
        Ok(notes
            .into_iter()
            .filter(|n| !n.system && n.body == body)
            .map(|n| CreatedComment {
                kind: CommentKind::Note,
                id: n.id.to_string(),
                thread_root: root.clone(),
            })
            .collect())
    }

    async fn edit_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        kind: CommentKind,
        id: &str,
        body: &str,
    ) -> Result<(), HandleError> {
        let url = self.mr_url(pr, &["notes", Self::note_id(kind, id)?]);
        let request = self
            .request(reqwest::Method::PUT, token, url)
            .json(&json!({ "body": body }));
        send("gitlab edit note", request, false).await?;
        Ok(())
    }

    async fn delete_comment(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
        kind: CommentKind,
        id: &str,
    ) -> Result<(), HandleError> {
        let url = self.mr_url(pr, &["notes", Self::note_id(kind, id)?]);
        send(
            "gitlab delete note",
            self.request(reqwest::Method::DELETE, token, url),
            true,
        )
        .await?;
        Ok(())
    }

    async fn comment_ids(
        &self,
        token: &Secret<String>,
        pr: &PrRef,
    ) -> Result<HashSet<String>, HandleError> {
        let notes = self.notes(token, pr).await?;
        Ok(notes.iter().map(|n| n.id.to_string()).collect())
    }

    async fn start_pipeline(&self, token: &Secret<String>, pr: &PrRef) -> Result<(), HandleError> {
        let url = self.mr_url(pr, &["pipelines"]);
        send(
            "gitlab create merge request pipeline",
            self.request(reqwest::Method::POST, token, url),
            false,
        )
        .await?;
        Ok(())
    }

    async fn token_user(&self, token: &Secret<String>) -> Result<Option<ForgeUser>, HandleError> {
        let url = self.url(&["user"]);
        let Some(answer) = send(
            "gitlab get user",
            self.request(reqwest::Method::GET, token, url),
            true,
        )
        .await?
        else {
            return Ok(None);
        };
        let u: User = answer.json("gitlab get user")?;
        Ok(Some(ForgeUser {
            login: u.username,
            id: Some(u.id),
            is_bot: u.bot,
        }))
    }

    async fn login_for_email(
        &self,
        token: &Secret<String>,
        email: &str,
    ) -> Result<Option<String>, HandleError> {
        let mut url = self.url(&["users"]);
        url.query_pairs_mut().append_pair("search", email);
        let answer = send(
            "gitlab search users",
            self.request(reqwest::Method::GET, token, url),
            false,
        )
        .await?
        .expect("404 is not accepted here");
        let users: Vec<User> = answer.json("gitlab search users")?;
        Ok(match users.as_slice() {
            [one] => Some(one.username.clone()),
            _ => None,
        })
    }

    async fn email_for_login(
        &self,
        token: &Secret<String>,
        login: &str,
    ) -> Result<Option<String>, HandleError> {
        let mut url = self.url(&["users"]);
        url.query_pairs_mut().append_pair("username", login);
        let answer = send(
            "gitlab get user",
            self.request(reqwest::Method::GET, token, url),
            false,
        )
        .await?
        .expect("404 is not accepted here");
        let users: Vec<User> = answer.json("gitlab get user")?;
        Ok(users
            .into_iter()
            .next()
            .and_then(|u| u.public_email)
            .filter(|e| !e.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_are_one_encoded_segment() {
        let c = GitLabClient::new(&Url::parse("https://gitlab.example.com/").unwrap());
        let pr = PrRef {
            forge: Forge::GitLab,
            repo: "group/sub/app".into(),
            number: 3,
        };
        assert_eq!(
            c.mr_url(&pr, &["notes", "9"]).as_str(),
            "https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fapp/merge_requests/3/notes/9"
        );
        let c = GitLabClient::new(&Url::parse("https://example.com/gitlab").unwrap());
        assert_eq!(
            c.url(&["user"]).as_str(),
            "https://example.com/gitlab/api/v4/user"
        );
    }

    #[test]
    fn statuses_normalise() {
        assert_eq!(normalise_status("failed"), "failure");
        assert_eq!(normalise_status("running"), "pending");
        assert_eq!(normalise_status("canceled"), "error");
        assert_eq!(normalise_status("success"), "success");
    }
}
