//! Fetching a pull/merge request's diff for the AI summary, read into memory only.
//!
//! - GitHub: `GET /repos/{o}/{r}/pulls/{n}` with `Accept: application/vnd.github.diff` (one
//!   unified diff). GitHub refuses that for very large PRs (406); then the per-file patches of
//!   `GET /repos/{o}/{r}/pulls/{n}/files` are used instead.
//! - GitLab: `GET /projects/:id/merge_requests/:iid/diffs` (GitLab 15.7+), paginated; on a 404
//!   the older `/changes`.
//!
//! At most [`MAX_DIFF_BYTES`] are read: what is beyond is reported as "not read in full", so a
//! huge PR costs bounded memory and time. Errors carry status codes only, and are never a queue
//! retry: a failed fetch only means no summary.

use async_trait::async_trait;
use codereview_policy::diff::PatchStatus;
use serde::Deserialize;
use url::Url;

use super::http_client;
use crate::domain::Forge;
use crate::secret::Secret;
use crate::store::PrRef;
use crate::sync::summary::{FileDiff, PrDiff, files_of_unified};

/// The most diff bytes read from a forge for one PR.
pub const MAX_DIFF_BYTES: usize = 8 * 1024 * 1024;
/// Most pages of per-file patches read (100 files each; GitHub lists at most 3000 files).
pub const MAX_PAGES: u32 = 30;

/// Why no diff came back. Carries status codes at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// The request timed out.
    #[error("diff request timed out")]
    Timeout,
    /// Could not connect, or the connection broke.
    #[error("diff request failed in transport")]
    Transport,
    /// A non-success status.
    #[error("diff request answered {0}")]
    Status(u16),
    /// The answer did not have the expected shape.
    #[error("diff request answered an unexpected body")]
    Invalid,
    /// The forge is not configured (`GITLAB_URL` unset).
    #[error("the forge is not configured")]
    NoForge,
}

/// Reads a PR's diff. A trait so the handler can be tested against anything.
#[async_trait]
pub trait DiffApi: Send + Sync {
    /// The PR's files and their patches, at most [`MAX_DIFF_BYTES`] of them.
    async fn diff(&self, token: &Secret<String>, pr: &PrRef) -> Result<PrDiff, DiffError>;
}

/// [`DiffApi`] for GitHub (`GITHUB_API_URL`) and GitLab (`GITLAB_URL`).
#[derive(Debug, Clone)]
pub struct DiffClient {
    github: Url,
    gitlab: Option<Url>,
    http: reqwest::Client,
}

fn transport(e: &reqwest::Error) -> DiffError {
    if e.is_timeout() {
        DiffError::Timeout
    } else {
        DiffError::Transport
    }
}

/// Reads a body up to `max` bytes; the bool says whether there was more.
async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), DiffError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

#[derive(Deserialize)]
struct GitHubFile {
    filename: String,
    #[serde(default)]
    status: String,
    previous_filename: Option<String>,
    patch: Option<String>,
    #[serde(default)]
    changes: u64,
}

#[derive(Deserialize)]
struct GitLabDiff {
    #[serde(default)]
    old_path: String,
    #[serde(default)]
    new_path: String,
    #[serde(default)]
    diff: String,
    #[serde(default)]
    new_file: bool,
    #[serde(default)]
    renamed_file: bool,
    #[serde(default)]
    deleted_file: bool,
    #[serde(default)]
    generated_file: bool,
    #[serde(default)]
    too_large: bool,
    #[serde(default)]
    collapsed: bool,
}

#[derive(Deserialize)]
struct GitLabChanges {
    #[serde(default)]
    changes: Vec<GitLabDiff>,
}

fn gitlab_file(d: GitLabDiff) -> FileDiff {
    let status = if d.new_file {
        PatchStatus::Added
    } else if d.deleted_file {
        PatchStatus::Deleted
    } else if d.renamed_file {
        PatchStatus::Renamed
    } else {
        PatchStatus::Modified
    };
    let no_patch = d.diff.is_empty() && (d.too_large || d.collapsed);
    let mut file = FileDiff::from_patch(&d.old_path, &d.new_path, status, &d.diff);
    file.generated = d.generated_file;
    file.too_large = no_patch;
    file
}

/// Keeps files while their patches fit in `max` bytes; the rest makes the diff incomplete.
fn bounded(files: impl IntoIterator<Item = FileDiff>, max: usize, out: &mut PrDiff) {
    let mut used: usize = out.files.iter().map(|f| f.text.len()).sum();
    for file in files {
        if used + file.text.len() > max {
            out.incomplete = true;
            return;
        }
        used += file.text.len();
        out.files.push(file);
    }
}

impl DiffClient {
    /// A client for GitHub at `github` (`GITHUB_API_URL`) and, when set, GitLab at `gitlab`.
    pub fn new(github: &Url, gitlab: Option<&Url>) -> Self {
        Self {
            github: github.clone(),
            gitlab: gitlab.cloned(),
            http: http_client(),
        }
    }

    fn github_url(&self, segments: &[&str]) -> Url {
        super::join_segments(&self.github, segments.iter().flat_map(|s| s.split('/')))
    }

    /// `{GITLAB_URL}/api/v4/projects/{path}/merge_requests/{iid}/{last}`.
    fn gitlab_mr_url(base: &Url, pr: &PrRef, last: &str) -> Url {
        let iid = pr.number.to_string();
        let segments = [
            "api",
            "v4",
            "projects",
            pr.repo.as_str(),
            "merge_requests",
            iid.as_str(),
            last,
        ];
        super::join_segments(base, segments)
    }

    async fn get(
        &self,
        url: Url,
        auth: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DiffError> {
        let response = auth(self.http.get(url))
            .send()
            .await
            .map_err(|e| transport(&e))?;
        if !response.status().is_success() {
            return Err(DiffError::Status(response.status().as_u16()));
        }
        Ok(response)
    }

    async fn github(&self, token: &Secret<String>, pr: &PrRef) -> Result<PrDiff, DiffError> {
        let n = pr.number.to_string();
        let url = self.github_url(&["repos", &pr.repo, "pulls", &n]);
        let auth = |accept: &'static str| {
            move |r: reqwest::RequestBuilder| {
                r.bearer_auth(token.expose())
                    .header("accept", accept)
                    .header("x-github-api-version", "2022-11-28")
            }
        };
        match self.get(url, auth("application/vnd.github.diff")).await {
            Ok(response) => {
                let (body, more) = read_capped(response, MAX_DIFF_BYTES).await?;
                let text = String::from_utf8_lossy(&body);
                let mut files = files_of_unified(&text);
                if more {
                    files.pop(); // the last file was cut mid-way
                }
                Ok(PrDiff {
                    files,
                    incomplete: more,
                })
            }
            // Too large for GitHub to render as one diff: read the per-file patches.
            Err(DiffError::Status(406)) => {
                let mut out = PrDiff::default();
                for page in 1..=MAX_PAGES {
                    let mut url = self.github_url(&["repos", &pr.repo, "pulls", &n, "files"]);
                    url.query_pairs_mut()
                        .append_pair("per_page", "100")
                        .append_pair("page", &page.to_string());
                    let response = self.get(url, auth("application/vnd.github+json")).await?;
                    let (body, more) = read_capped(response, MAX_DIFF_BYTES).await?;
                    if more {
                        out.incomplete = true;
                        break;
                    }
                    let files: Vec<GitHubFile> =
                        serde_json::from_slice(&body).map_err(|_| DiffError::Invalid)?;
                    let count = files.len();
                    let files = files.into_iter().map(|f| {
                        let status = match f.status.as_str() {
                            "added" => PatchStatus::Added,
                            "removed" => PatchStatus::Deleted,
                            "renamed" => PatchStatus::Renamed,
                            _ => PatchStatus::Modified,
                        };
                        let old = f.previous_filename.as_deref().unwrap_or(&f.filename);
                        let patch = f.patch.as_deref().unwrap_or_default();
                        let mut file = FileDiff::from_patch(old, &f.filename, status, patch);
                        file.too_large = f.patch.is_none() && f.changes > 0;
                        file.binary = file.binary || (f.patch.is_none() && f.changes == 0);
                        file
                    });
                    bounded(files, MAX_DIFF_BYTES, &mut out);
                    if out.incomplete || count < 100 {
                        break;
                    }
                    if page == MAX_PAGES {
                        out.incomplete = true;
                    }
                }
                Ok(out)
            }
            Err(e) => Err(e),
        }
    }

    async fn gitlab(&self, token: &Secret<String>, pr: &PrRef) -> Result<PrDiff, DiffError> {
        let base = self.gitlab.as_ref().ok_or(DiffError::NoForge)?;
        let auth = |r: reqwest::RequestBuilder| r.header("private-token", token.expose());
        let mut out = PrDiff::default();
        for page in 1..=MAX_PAGES {
            let mut url = Self::gitlab_mr_url(base, pr, "diffs");
            url.query_pairs_mut()
                .append_pair("per_page", "100")
                .append_pair("page", &page.to_string());
            let response = match self.get(url, auth).await {
                Err(DiffError::Status(404)) if page == 1 => {
                    // GitLab before 15.7: one answer with every change.
                    let url = Self::gitlab_mr_url(base, pr, "changes");
                    let response = self.get(url, auth).await?;
                    let (body, more) = read_capped(response, MAX_DIFF_BYTES).await?;
                    if more {
                        return Ok(PrDiff {
                            files: Vec::new(),
                            incomplete: true,
                        });
                    }
                    let changes: GitLabChanges =
                        serde_json::from_slice(&body).map_err(|_| DiffError::Invalid)?;
                    bounded(
                        changes.changes.into_iter().map(gitlab_file),
                        MAX_DIFF_BYTES,
                        &mut out,
                    );
                    return Ok(out);
                }
                other => other?,
            };
            let (body, more) = read_capped(response, MAX_DIFF_BYTES).await?;
            if more {
                out.incomplete = true;
                break;
            }
            let diffs: Vec<GitLabDiff> =
                serde_json::from_slice(&body).map_err(|_| DiffError::Invalid)?;
            let count = diffs.len();
            bounded(diffs.into_iter().map(gitlab_file), MAX_DIFF_BYTES, &mut out);
            if out.incomplete || count < 100 {
                break;
            }
            if page == MAX_PAGES {
                out.incomplete = true;
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl DiffApi for DiffClient {
    async fn diff(&self, token: &Secret<String>, pr: &PrRef) -> Result<PrDiff, DiffError> {
        match pr.forge {
            Forge::GitHub => self.github(token, pr).await,
            Forge::GitLab => self.gitlab(token, pr).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_entries_become_files() {
        let f = gitlab_file(GitLabDiff {
            old_path: "a.rs".into(),
            new_path: "a.rs".into(),
            diff: "@@ -1 +1 @@\n-x\n+y\n".into(),
            new_file: false,
            renamed_file: false,
            deleted_file: false,
            generated_file: true,
            too_large: false,
            collapsed: false,
        });
        assert!(f.generated && !f.too_large);
        assert!(f.text.contains("+++ b/a.rs\n@@ -1 +1 @@"));
        let f = gitlab_file(GitLabDiff {
            old_path: "big.sql".into(),
            new_path: "big.sql".into(),
            diff: String::new(),
            new_file: true,
            renamed_file: false,
            deleted_file: false,
            generated_file: false,
            too_large: true,
            collapsed: false,
        });
        assert!(f.too_large);
    }

    #[test]
    fn bounded_stops_at_the_cap() {
        let file = |n: usize| FileDiff {
            path: format!("f{n}"),
            text: "x".repeat(40),
            ..FileDiff::default()
        };
        let mut out = PrDiff::default();
        bounded((0..5).map(file), 100, &mut out);
        assert_eq!(out.files.len(), 2);
        assert!(out.incomplete);
    }

    #[test]
    fn urls_encode_project_paths() {
        let base = Url::parse("https://gitlab.example.com").unwrap();
        let pr = PrRef {
            forge: crate::domain::Forge::GitLab,
            repo: "group/sub/app".into(),
            number: 3,
        };
        let url = DiffClient::gitlab_mr_url(&base, &pr, "diffs");
        assert_eq!(
            url.as_str(),
            "https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fapp/merge_requests/3/diffs"
        );
        let c = DiffClient::new(&Url::parse("https://ghe.example.com/api/v3").unwrap(), None);
        assert_eq!(
            c.github_url(&["repos", "acme/web", "pulls", "2"]).as_str(),
            "https://ghe.example.com/api/v3/repos/acme/web/pulls/2"
        );
    }
}
