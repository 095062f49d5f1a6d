//! GitLab, through the `gitlab` crate, with a project access token (`CODEREVIEW_GITLAB_TOKEN`).
//!
//! The CI job token cannot do this job: it cannot post commit statuses nor read approvals, so a
//! project (or group) access token with the Developer role and the `api` scope is required.
//!
//! Requests per evaluation, whatever the size of the change:
//! - `GET /user` — the crate checks the token when the client is built;
//! - `GET` the merge request, its `approvals` and its `reviewers`, concurrently;
//! - `GET` the jobs of the merge request's head pipeline (for `unless`), when it has one;
//! - `GET /groups/:path/members` once per referenced `@group/subgroup` (100 members a page);
//! - `POST /projects/:id/statuses/:sha`;
//! - when something changes: `GET /users?username=` for a reviewer to request whose id is not
//!   already known, and one `PUT` of the merge request for reviewers, one for labels.
//!
//! Every call goes through the crate's endpoint builders, sent by a thin client wrapper that
//! counts requests and retries 5xx answers and transport errors with a short backoff.

mod parse;
mod retry;

pub use parse::is_gitlab_bot;
pub use retry::Retry;

use self::parse::{array, file_diff_of, parse_facts, status_and_message, str_at};
use self::retry::{RetryingClient, is_transport};
use crate::secret::Secret;
use crate::{CommitStatus, Forge, ForgeError, PrFacts};
use ::gitlab::api::common::NameOrId;
use ::gitlab::api::groups::members::GroupMembers;
use ::gitlab::api::projects::merge_requests::approvals::MergeRequestApprovals;
use ::gitlab::api::projects::merge_requests::notes::{
    CreateMergeRequestNote, EditMergeRequestNote, MergeRequestNotes,
};
use ::gitlab::api::projects::merge_requests::{
    EditMergeRequest, MergeRequest, MergeRequestDiffs, MergeRequestReviewers,
};
use ::gitlab::api::projects::pipelines::PipelineJobs;
use ::gitlab::api::projects::repository::commits::{CommitStatusState, CreateCommitStatus};
use ::gitlab::api::projects::repository::files::FileRaw;
use ::gitlab::api::users::Users;
use ::gitlab::api::{
    self, ApiError, AsyncClient as _, AsyncQuery, Endpoint, Pagination, RestClient as _,
};
use ::gitlab::{CertificateBundle, GitlabBuilder, GitlabError, RestError};
use codereview_policy::config::{ConfigFile, Teams, is_config_path};
use codereview_policy::diff::FileDiff;
use codereview_policy::review::{Overall, ReviewerFacts};
use http::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The one line `codereview status` prints when `CODEREVIEW_GITLAB_TOKEN` is missing.
pub const MISSING_TOKEN: &str = "no GitLab token: the job token (CI_JOB_TOKEN) cannot post commit statuses or read approvals; create a project access token (Settings > Access tokens: role Developer, scope api) and add it as a masked CI/CD variable named CODEREVIEW_GITLAB_TOKEN";

/// Where and as whom to talk to GitLab: typed settings (the action's `ci` module reads them
/// from the runner's variables; this crate reads no environment).
#[derive(Debug, Clone)]
pub struct GitlabSettings {
    /// `CI_API_V4_URL`, e.g. `https://gitlab.example.com/api/v4` or
    /// `https://example.com/gitlab/api/v4` (an instance under a relative URL root).
    pub api_url: String,
    /// `CI_PROJECT_ID` (a numeric id, or a `group/project` path).
    pub project: String,
    /// `CI_MERGE_REQUEST_IID`.
    pub merge_request: u64,
    /// `CODEREVIEW_GITLAB_TOKEN` (never printed: `Debug` shows `[redacted]`).
    pub token: Secret<String>,
    /// `CI_COMMIT_SHA`: the head when the API does not say.
    pub commit_sha: Option<String>,
    /// `CI_MERGE_REQUEST_DIFF_BASE_SHA`: the base when the API does not say.
    pub diff_base_sha: Option<String>,
    /// `CI_PIPELINE_ID`: the status is attached to this pipeline when it runs on the head commit,
    /// so it shows in the merge request's pipeline and is updated when the job is retried.
    pub pipeline_id: Option<u64>,
    /// Set when the job runs in a merged results or merge train pipeline (on a merge commit).
    pub merge_pipeline: Option<MergePipeline>,
    /// `CI_SERVER_TLS_CA_FILE`: the instance's CA bundle (PEM), for self-signed instances.
    pub ca_file: Option<PathBuf>,
    /// Retries after a 5xx answer or a transport error.
    pub retry: Retry,
}

impl GitlabSettings {
    /// The merge request `merge_request` of `project` at `api_url`, read with `token`; nothing
    /// from a CI job (no commit, base, pipeline or CA file), default retries. What a caller
    /// outside CI (the sync service) needs; a CI job sets the rest.
    pub fn new(
        api_url: String,
        project: String,
        merge_request: u64,
        token: Secret<String>,
    ) -> Self {
        GitlabSettings {
            api_url,
            project,
            merge_request,
            token,
            commit_sha: None,
            diff_base_sha: None,
            pipeline_id: None,
            merge_pipeline: None,
            ca_file: None,
            retry: Retry::default(),
        }
    }
}

/// A merged results (or merge train) pipeline: GitLab runs it on a temporary merge commit of the
/// source branch into the target, and it becomes the merge request's head pipeline, the one
/// *Pipelines must succeed* reads. The status must land in it, on its merge commit: posted on
/// the source branch's head instead, it would start a separate external pipeline on that commit
/// that the merge check may take for the head pipeline, or ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergePipeline {
    /// `CI_COMMIT_SHA`: the merge commit the pipeline runs on.
    pub merge_sha: String,
    /// `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`: the source branch head it merges.
    pub source_sha: String,
}

/// What GitLab needs to grant for a kind of call, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Status,
    Edit,
    Group,
}

impl Need {
    fn explain(self) -> &'static str {
        match self {
            Need::Read => {
                "CODEREVIEW_GITLAB_TOKEN needs access to this project (a project access token with the Developer role and the api scope)"
            }
            Need::Status => {
                "CODEREVIEW_GITLAB_TOKEN cannot post commit statuses: it needs the Developer role and the api scope"
            }
            Need::Edit => {
                "CODEREVIEW_GITLAB_TOKEN cannot edit the merge request: it needs the Developer role and the api scope"
            }
            Need::Group => {
                "the token's user must be able to see the group and its members; a project access token's bot user sees only its own project, so use a group access token (Developer role, api scope) of a group that contains both, or add the bot user to the group"
            }
        }
    }
}

/// The host argument for [`GitlabBuilder`] and whether the instance speaks plain http.
///
/// The crate builds its base URL as `{scheme}://{host}/api/v4/`, so an instance under a relative
/// URL root (`https://example.com/gitlab/api/v4`) works by passing `example.com/gitlab` as the
/// host: the path rides along in the host string.
pub fn builder_host(api_url: &str) -> Result<(String, bool), ForgeError> {
    let invalid = |why: &str| {
        ForgeError::Api(format!(
            "invalid CI_API_V4_URL `{api_url}`: {why} (expected e.g. https://gitlab.example.com/api/v4)"
        ))
    };
    let url = url::Url::parse(api_url).map_err(|e| invalid(&e.to_string()))?;
    let insecure = match url.scheme() {
        "https" => false,
        "http" => true,
        _ => return Err(invalid("the scheme must be https or http")),
    };
    let host = url.host_str().ok_or_else(|| invalid("no host"))?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    let root = path
        .strip_suffix("/api/v4")
        .ok_or_else(|| invalid("the path must end in /api/v4"))?;
    Ok((format!("{host}{port}{root}"), insecure))
}

/// What the facts taught us that later writes need.
#[derive(Debug, Default)]
struct Known {
    /// Lowercased username → user id (from every user object seen).
    user_ids: HashMap<String, u64>,
    /// Ids of the merge request's current reviewers (a `PUT` replaces the list).
    reviewer_ids: Vec<u64>,
    /// The project's full path (`group/project`), from the merge request's references: the
    /// GraphQL API names projects by path.
    project_path: Option<String>,
    /// The merge request's notes, once read: the checklist answers and the instructions
    /// comment are both found in them, with one paged read per run.
    notes: Option<Vec<Value>>,
}

/// A checked connection to a GitLab instance with one token: what [`Gitlab::connect`] builds
/// (including the crate's token check) and [`Gitlab::on`] reuses for another merge request,
/// so a long-running caller checks a token once, not once per merge request.
#[derive(Clone)]
pub struct GitlabConnection {
    inner: ::gitlab::AsyncGitlab,
}

impl std::fmt::Debug for GitlabConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitlabConnection")
    }
}

/// A GitLab merge request, as a [`Forge`].
pub struct Gitlab {
    settings: GitlabSettings,
    client: RetryingClient,
    known: Mutex<Known>,
}

impl Gitlab {
    /// Connect to the instance. The crate checks the token with `GET /user` here, so a rejected
    /// token fails before anything else (retried like any call on 5xx and transport errors).
    pub async fn connect(settings: GitlabSettings) -> Result<Self, ForgeError> {
        let (host, insecure) = builder_host(&settings.api_url)?;
        let mut builder = GitlabBuilder::new(host, settings.token.expose().clone());
        if insecure {
            builder.insecure();
        }
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                ForgeError::Api(format!(
                    "cannot read CI_SERVER_TLS_CA_FILE {}: {e}",
                    path.display()
                ))
            })?;
            let bundle = CertificateBundle::pem_bundle(&pem).map_err(|e| {
                ForgeError::Api(format!(
                    "CI_SERVER_TLS_CA_FILE {} is not a PEM bundle: {e}",
                    path.display()
                ))
            })?;
            builder.cert_custom(bundle);
        }
        builder.user_agent(concat!("codereview/", env!("CARGO_PKG_VERSION")));
        let mut delay = settings.retry.first_delay;
        let mut attempt = 1;
        let inner = loop {
            match builder.build_async().await {
                Ok(client) => break client,
                Err(e) => {
                    let transient = match &e {
                        GitlabError::Communication { .. } => true,
                        GitlabError::Api { source } => {
                            is_transport(source)
                                || status_and_message(source)
                                    .0
                                    .is_some_and(|s| s.is_server_error())
                        }
                        _ => false,
                    };
                    if !transient || attempt >= settings.retry.attempts {
                        return Err(connect_error(&settings.api_url, e));
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
            }
        };
        let retry = settings.retry;
        Ok(Gitlab {
            settings,
            client: RetryingClient {
                inner,
                retry,
                // The token check above.
                requests: AtomicUsize::new(1),
            },
            known: Mutex::new(Known::default()),
        })
    }

    /// This client's connection, to reach other merge requests with [`Gitlab::on`].
    pub fn connection(&self) -> GitlabConnection {
        GitlabConnection {
            inner: self.client.inner.clone(),
        }
    }

    /// The merge request `settings` names, through a `connection` made earlier with the same
    /// instance and token: no token check (`settings.api_url` and `settings.token` must be the
    /// ones the connection was made with).
    pub fn on(connection: &GitlabConnection, settings: GitlabSettings) -> Self {
        let retry = settings.retry;
        Gitlab {
            settings,
            client: RetryingClient {
                inner: connection.inner.clone(),
                retry,
                requests: AtomicUsize::new(0),
            },
            known: Mutex::new(Known::default()),
        }
    }

    /// How many API requests this client made (retries counted once), the token check included.
    pub fn request_count(&self) -> usize {
        self.client.requests.load(Ordering::Relaxed)
    }

    fn project(&self) -> NameOrId<'_> {
        match self.settings.project.parse::<u64>() {
            Ok(id) => NameOrId::Id(id),
            Err(_) => NameOrId::Name(self.settings.project.as_str().into()),
        }
    }

    fn error(&self, method: &str, path: &str, need: Need, e: ApiError<RestError>) -> ForgeError {
        let (status, message) = status_and_message(&e);
        match status {
            Some(StatusCode::UNAUTHORIZED) => ForgeError::Unauthorized(format!(
                "GitLab rejected CODEREVIEW_GITLAB_TOKEN (401 {message}): it is expired, revoked or mistyped; create a new project access token (role Developer, scope api) and update the CI/CD variable"
            )),
            Some(s @ (StatusCode::FORBIDDEN | StatusCode::NOT_FOUND)) => {
                ForgeError::Forbidden(format!(
                    "GitLab refused {method} /{path} ({} {message}): {}",
                    s.as_u16(),
                    need.explain()
                ))
            }
            Some(s) => ForgeError::Api(format!(
                "GitLab answered {} to {method} /{path}: {message}",
                s.as_u16()
            )),
            None => ForgeError::Api(format!("{method} /{path}: {message}")),
        }
    }

    /// One request.
    async fn get<E>(&self, endpoint: &E, need: Need) -> Result<Value, ForgeError>
    where
        E: Endpoint + Sync,
    {
        endpoint
            .query_async(&self.client)
            .await
            .map_err(|e| self.error(endpoint.method().as_str(), &endpoint.endpoint(), need, e))
    }

    /// Every page (100 items a page).
    async fn get_all<E>(&self, endpoint: E, need: Need) -> Result<Vec<Value>, ForgeError>
    where
        E: Endpoint + api::Pageable + Sync,
    {
        let path = endpoint.endpoint().to_string();
        api::paged(endpoint, Pagination::All)
            .query_async(&self.client)
            .await
            .map_err(|e| self.error("GET", &path, need, e))
    }

    /// A write whose answer does not matter.
    async fn send<E>(&self, endpoint: E, need: Need) -> Result<(), ForgeError>
    where
        E: Endpoint + Sync,
    {
        let (method, path) = (endpoint.method(), endpoint.endpoint().to_string());
        api::ignore(endpoint)
            .query_async(&self.client)
            .await
            .map_err(|e| self.error(method.as_str(), &path, need, e))
    }

    /// Remember the ids of every user object in `v`.
    fn learn_users<'a>(&self, users: impl IntoIterator<Item = &'a Value>) {
        let mut known = self.known.lock().expect("not poisoned");
        for u in users {
            if let (Some(name), Some(id)) = (
                u.get("username").and_then(Value::as_str),
                u.get("id").and_then(Value::as_u64),
            ) {
                known.user_ids.insert(name.to_lowercase(), id);
            }
        }
    }

    /// The merge request's notes, oldest first, read once per run (every page).
    async fn notes(&self) -> Result<Vec<Value>, ForgeError> {
        if let Some(notes) = self.known.lock().expect("not poisoned").notes.clone() {
            return Ok(notes);
        }
        let endpoint = MergeRequestNotes::builder()
            .project(self.project())
            .merge_request(self.settings.merge_request)
            .sort(api::common::SortOrder::Ascending)
            .build()
            .map_err(Self::bad_endpoint)?;
        let notes = self.get_all(endpoint, Need::Read).await?;
        self.known.lock().expect("not poisoned").notes = Some(notes.clone());
        Ok(notes)
    }

    fn bad_endpoint(e: impl std::fmt::Display) -> ForgeError {
        ForgeError::Api(format!("cannot build the GitLab request: {e}"))
    }
}

fn connect_error(api_url: &str, e: GitlabError) -> ForgeError {
    match &e {
        GitlabError::Api { source } => {
            let (status, message) = status_and_message(source);
            match status {
                Some(StatusCode::UNAUTHORIZED) => ForgeError::Unauthorized(format!(
                    "GitLab rejected CODEREVIEW_GITLAB_TOKEN (401 {message}): it is expired, revoked or mistyped; create a new project access token (role Developer, scope api) and update the CI/CD variable"
                )),
                Some(StatusCode::FORBIDDEN) => ForgeError::Forbidden(format!(
                    "GitLab refused GET /user (403 {message}): CODEREVIEW_GITLAB_TOKEN needs the api scope"
                )),
                Some(s) => ForgeError::Api(format!(
                    "GitLab at {api_url} answered {} to GET /user: {message}",
                    s.as_u16()
                )),
                None => ForgeError::Api(format!("cannot reach GitLab at {api_url}: {message}")),
            }
        }
        _ => ForgeError::Api(format!("cannot reach GitLab at {api_url}: {e}")),
    }
}

impl Forge for Gitlab {
    async fn pull_request(&self) -> Result<PrFacts, ForgeError> {
        let iid = self.settings.merge_request;
        let mr = MergeRequest::builder()
            .project(self.project())
            .merge_request(iid)
            .build()
            .map_err(Self::bad_endpoint)?;
        let approvals = MergeRequestApprovals::builder()
            .project(self.project())
            .merge_request(iid)
            .build()
            .map_err(Self::bad_endpoint)?;
        let reviewers = MergeRequestReviewers::builder()
            .project(self.project())
            .merge_request(iid)
            .build()
            .map_err(Self::bad_endpoint)?;
        let (mr, approvals, reviewers) = futures::try_join!(
            self.get(&mr, Need::Read),
            self.get(&approvals, Need::Read),
            self.get_all(reviewers, Need::Read),
        )?;

        let head = str_at(&mr, "/sha");
        // The merge request's head pipeline, else (while GitLab has not linked it yet) the
        // pipeline this job runs in when that one is on the head commit.
        let pipeline = mr
            .pointer("/head_pipeline/id")
            .and_then(Value::as_u64)
            .or_else(|| {
                self.settings.pipeline_id.filter(|_| {
                    head.is_some()
                        && (self.settings.commit_sha.as_deref() == head
                            || self
                                .settings
                                .merge_pipeline
                                .as_ref()
                                .is_some_and(|m| Some(m.source_sha.as_str()) == head))
                })
            });
        let jobs = match pipeline {
            Some(pipeline) => {
                let endpoint = PipelineJobs::builder()
                    .project(self.project())
                    .pipeline(pipeline)
                    .build()
                    .map_err(Self::bad_endpoint)?;
                self.get_all(endpoint, Need::Read).await?
            }
            None => Vec::new(),
        };

        let facts = parse_facts(&self.settings, &mr, &approvals, &reviewers, &jobs)?;
        let reviewer_objects = array(mr.get("reviewers").unwrap_or(&Value::Null));
        self.learn_users(
            reviewer_objects
                .iter()
                .chain(mr.get("author"))
                .chain(
                    array(approvals.get("approved_by").unwrap_or(&Value::Null))
                        .iter()
                        .filter_map(|a| a.get("user")),
                )
                .chain(reviewers.iter().filter_map(|r| r.get("user"))),
        );
        let mut known = self.known.lock().expect("not poisoned");
        known.reviewer_ids = reviewer_objects
            .iter()
            .filter_map(|u| u.get("id").and_then(Value::as_u64))
            .collect();
        known.project_path = str_at(&mr, "/references/full")
            .and_then(|r| r.rsplit_once('!'))
            .map(|(path, _)| path.to_string());
        drop(known);
        Ok(facts)
    }

    /// `@group/subgroup` means the group's **direct** members (`GET /groups/:path/members`), as
    /// GitLab's own Code Owners do. Not `members/all`: that adds every member of every ancestor
    /// group, so `@acme/backend` would let anyone in `acme` approve.
    async fn team_members(&self, teams: &BTreeSet<String>) -> Result<Teams, ForgeError> {
        let requests = teams.iter().map(|team| async move {
            let endpoint = GroupMembers::builder()
                .group(team.as_str())
                .build()
                .map_err(Self::bad_endpoint)?;
            let members = self
                .get_all(endpoint, Need::Group)
                .await
                .map_err(|e| match e {
                    ForgeError::Forbidden(message) => ForgeError::Forbidden(format!(
                        "cannot read the members of GitLab group @{team}: {message}"
                    )),
                    other => other,
                })?;
            Ok::<_, ForgeError>((team.clone(), members))
        });
        let answers = futures::future::try_join_all(requests).await?;
        let mut out = Teams::new();
        for (team, members) in answers {
            self.learn_users(&members);
            let logins = members
                .iter()
                .filter(|m| m.get("state").and_then(Value::as_str).unwrap_or("active") == "active")
                .filter_map(|m| m.get("username").and_then(Value::as_str))
                .filter(|u| !is_gitlab_bot(u))
                .map(String::from)
                .collect();
            out.insert(team, logins);
        }
        Ok(out)
    }

    async fn changed_files(&self) -> Result<Vec<FileDiff>, ForgeError> {
        let endpoint = MergeRequestDiffs::builder()
            .project(self.project())
            .merge_request(self.settings.merge_request)
            .build()
            .map_err(Self::bad_endpoint)?;
        let diffs = self.get_all(endpoint, Need::Read).await?;
        Ok(diffs.iter().map(file_diff_of).collect())
    }

    async fn post_status(&self, status: &CommitStatus) -> Result<(), ForgeError> {
        let state = match status.state {
            Overall::Success => CommitStatusState::Success,
            Overall::Pending => CommitStatusState::Pending,
            Overall::Failure => CommitStatusState::Failed,
        };
        // In a merged results / merge train pipeline the status goes on its merge commit, in
        // that pipeline: the merge request's head pipeline (see [`MergePipeline`]).
        let merge = self.settings.merge_pipeline.as_ref();
        let sha = merge.map_or(status.sha.as_str(), |m| m.merge_sha.as_str());
        let mut builder = CreateCommitStatus::builder();
        builder
            .project(self.project())
            .commit(sha)
            .state(state)
            .name(status.context.as_str())
            .description(status.description.as_str());
        if let Some(url) = &status.target_url {
            builder.target_url(url.as_str());
        }
        // Attach the status to this job's pipeline when it runs on the head commit; otherwise
        // GitLab picks the newest pipeline of the commit.
        if let Some(id) = self.settings.pipeline_id
            && self.settings.commit_sha.as_deref() == Some(sha)
        {
            builder.pipeline_id(id);
        }
        let endpoint = builder.build().map_err(Self::bad_endpoint)?;
        match self.send(endpoint, Need::Status).await {
            // GitLab refuses to move a pending or running status to the same state again
            // ("Cannot transition status via :enqueue from :pending"): it is already posted.
            Err(ForgeError::Api(message)) if message.contains("Cannot transition status") => {
                tracing::debug!(%message, "the status already has this state");
                Ok(())
            }
            other => other,
        }
    }

    async fn request_reviewers(&self, logins: &[String]) -> Result<(), ForgeError> {
        if logins.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::new();
        let mut unknown = Vec::new();
        for login in logins {
            let cached = self
                .known
                .lock()
                .expect("not poisoned")
                .user_ids
                .get(&login.to_lowercase())
                .copied();
            let id = match cached {
                Some(id) => Some(id),
                None => {
                    let endpoint = Users::builder()
                        .username(login.as_str())
                        .build()
                        .map_err(Self::bad_endpoint)?;
                    let found = self.get(&endpoint, Need::Read).await?;
                    let user = array(&found).iter().find(|u| {
                        u.get("username")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.eq_ignore_ascii_case(login))
                    });
                    user.and_then(|u| u.get("id")).and_then(Value::as_u64)
                }
            };
            match id {
                Some(id) => ids.push(id),
                None => unknown.push(login.as_str()),
            }
        }
        if !ids.is_empty() {
            let current = self
                .known
                .lock()
                .expect("not poisoned")
                .reviewer_ids
                .clone();
            // `reviewer_ids` replaces the list: keep everyone already asked.
            let endpoint = EditMergeRequest::builder()
                .project(self.project())
                .merge_request(self.settings.merge_request)
                .reviewers(current.iter().chain(&ids).copied())
                .build()
                .map_err(Self::bad_endpoint)?;
            self.send(endpoint, Need::Edit).await?;
            self.known
                .lock()
                .expect("not poisoned")
                .reviewer_ids
                .extend(ids);
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ForgeError::Api(format!(
                "no GitLab user named {}",
                unknown.join(", ")
            )))
        }
    }

    async fn find_comment(&self, marker: &str) -> Result<Option<(u64, String)>, ForgeError> {
        let notes = self.notes().await?;
        Ok(notes.iter().find_map(|n| {
            let body = n.get("body")?.as_str()?;
            let id = n.get("id")?.as_u64()?;
            body.starts_with(marker).then(|| (id, body.to_string()))
        }))
    }

    async fn create_comment(&self, body: &str) -> Result<(), ForgeError> {
        let endpoint = CreateMergeRequestNote::builder()
            .project(self.project())
            .merge_request(self.settings.merge_request)
            .body(body)
            .build()
            .map_err(Self::bad_endpoint)?;
        self.send(endpoint, Need::Edit).await
    }

    async fn edit_comment(&self, id: u64, body: &str) -> Result<(), ForgeError> {
        let endpoint = EditMergeRequestNote::builder()
            .project(self.project())
            .merge_request(self.settings.merge_request)
            .note(id)
            .body(body)
            .build()
            .map_err(Self::bad_endpoint)?;
        self.send(endpoint, Need::Edit).await
    }

    /// GitLab adds and removes labels incrementally, so `current` is not needed.
    async fn update_labels(
        &self,
        _current: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<(), ForgeError> {
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let mut builder = EditMergeRequest::builder();
        builder
            .project(self.project())
            .merge_request(self.settings.merge_request);
        for label in add {
            builder.add_label(label.as_str());
        }
        for label in remove {
            builder.remove_label(label.as_str());
        }
        let endpoint = builder.build().map_err(Self::bad_endpoint)?;
        self.send(endpoint, Need::Edit).await
    }

    /// The tree of `rev` (recursive, every page), then each config file's raw text.
    async fn config_files(&self, rev: &str) -> Result<Vec<ConfigFile>, ForgeError> {
        let tree = RecursiveTree {
            project: self.project(),
            rev,
        };
        let entries = self.get_all(tree, Need::Read).await?;
        let paths: Vec<String> = entries
            .iter()
            .filter(|e| e.get("type").and_then(Value::as_str) == Some("blob"))
            .filter_map(|e| e.get("path")?.as_str().map(String::from))
            .filter(|p| is_config_path(p))
            .collect();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let endpoint = FileRaw::builder()
                .project(self.project())
                .file_path(path.as_str())
                .ref_(rev)
                .build()
                .map_err(Self::bad_endpoint)?;
            let bytes = api::raw(endpoint)
                .query_async(&self.client)
                .await
                .map_err(|e| {
                    self.error(
                        "GET",
                        &format!("repository/files/{path}/raw"),
                        Need::Read,
                        e,
                    )
                })?;
            files.push(ConfigFile {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                path,
            });
        }
        Ok(files)
    }

    /// One GraphQL request (`POST /api/graphql`) for everyone: `users(usernames:)` with their
    /// status' `availability` and, when balanced, the count of open merge requests in this
    /// project where each is a requested reviewer.
    async fn reviewer_facts(
        &self,
        people: &[String],
        balanced: bool,
    ) -> Result<ReviewerFacts, ForgeError> {
        if people.is_empty() {
            return Ok(ReviewerFacts::default());
        }
        let project_path = self
            .known
            .lock()
            .expect("not poisoned")
            .project_path
            .clone();
        let load = match (&project_path, balanced) {
            (Some(path), true) => format!(
                " reviewRequestedMergeRequests(projectPath: {}, state: opened) {{ count }}",
                serde_json::Value::String(path.clone())
            ),
            _ => String::new(),
        };
        let query = format!(
            "query($usernames: [String!]) {{ users(usernames: $usernames, first: 100) {{ nodes {{ username status {{ availability }}{load} }} }} }}"
        );
        let body = serde_json::json!({ "query": query, "variables": { "usernames": people } });
        let url = self
            .client
            .instance_endpoint("api/graphql")
            .map_err(|e| ForgeError::Api(format!("cannot build the GitLab GraphQL URL: {e}")))?;
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/json");
        let response = self
            .client
            .rest_async(request, body.to_string().into_bytes())
            .await
            .map_err(|e| self.error("POST", "api/graphql", Need::Read, e))?;
        if !response.status().is_success() {
            return Err(ForgeError::Api(format!(
                "GitLab answered {} to POST /api/graphql",
                response.status().as_u16()
            )));
        }
        let answer: Value = serde_json::from_slice(response.body())
            .map_err(|e| ForgeError::Api(format!("GitLab's GraphQL answer is not JSON: {e}")))?;
        if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
            return Err(ForgeError::Api(format!("GitLab GraphQL errors: {errors}")));
        }
        let mut facts = ReviewerFacts::default();
        let mut counts = BTreeMap::new();
        for user in array(answer.pointer("/data/users/nodes").unwrap_or(&Value::Null)) {
            let Some(name) = str_at(user, "/username") else {
                continue;
            };
            let availability = str_at(user, "/status/availability").unwrap_or("NOT_SET");
            if availability.eq_ignore_ascii_case("busy") {
                facts.away.push(name.to_string());
            }
            if let Some(count) = user
                .pointer("/reviewRequestedMergeRequests/count")
                .and_then(Value::as_u64)
            {
                counts.insert(name.to_lowercase(), count as u32);
            }
        }
        facts.open_requests = (balanced && project_path.is_some()).then_some(counts);
        Ok(facts)
    }

    /// Each approver's latest comment holding a task list (GitLab approvals carry no text), from
    /// the merge request's notes: one paged read.
    async fn checklist_answers(
        &self,
        approvers: &[String],
    ) -> Result<BTreeMap<String, String>, ForgeError> {
        if approvers.is_empty() {
            return Ok(BTreeMap::new());
        }
        let wanted: BTreeSet<String> = approvers.iter().map(|a| a.to_lowercase()).collect();
        let notes = self.notes().await?;
        let mut out = BTreeMap::new();
        for note in &notes {
            if note.get("system").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let (Some(author), Some(body)) =
                (str_at(note, "/author/username"), str_at(note, "/body"))
            else {
                continue;
            };
            if codereview_policy::checklist::has_task_list(body)
                && wanted.contains(&author.to_lowercase())
            {
                out.insert(author.to_lowercase(), body.to_string());
            }
        }
        Ok(out)
    }
}

/// `GET /projects/:id/repository/tree?ref=REV&recursive=true`, paged. The crate's `Tree`
/// endpoint sends `ref` and `recursive` as a form body, which GitLab ignores on a `GET`.
struct RecursiveTree<'a> {
    project: NameOrId<'a>,
    rev: &'a str,
}

impl Endpoint for RecursiveTree<'_> {
    fn method(&self) -> http::Method {
        http::Method::GET
    }

    fn endpoint(&self) -> std::borrow::Cow<'static, str> {
        format!("projects/{}/repository/tree", self.project).into()
    }

    fn parameters(&self) -> api::QueryParams<'_> {
        let mut params = api::QueryParams::default();
        params.push("ref", self.rev).push("recursive", true);
        params
    }
}

impl api::Pageable for RecursiveTree<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    pub(super) fn settings() -> GitlabSettings {
        GitlabSettings {
            commit_sha: Some("head".into()),
            diff_base_sha: Some("base-from-env".into()),
            ..GitlabSettings::new(
                "https://gitlab.example.com/api/v4".into(),
                "42".into(),
                7,
                crate::secret::Secret::new("t".into()),
            )
        }
    }

    #[test]
    fn builder_host_keeps_port_and_relative_root() {
        assert_eq!(
            builder_host("https://gitlab.example.com/api/v4").unwrap(),
            ("gitlab.example.com".to_string(), false)
        );
        assert_eq!(
            builder_host("http://127.0.0.1:8080/api/v4/").unwrap(),
            ("127.0.0.1:8080".to_string(), true)
        );
        assert_eq!(
            builder_host("https://example.com/gitlab/api/v4").unwrap(),
            ("example.com/gitlab".to_string(), false)
        );
        assert!(builder_host("https://example.com/api/v3").is_err());
        assert!(builder_host("ftp://example.com/api/v4").is_err());
        assert!(builder_host("not a url").is_err());
    }

    /// A server that drops every connection listed in `drop` (1-based, in accept order) without
    /// answering, and answers the others with `body`. Returns its URL and the accept count.
    async fn flaky_server(
        drop: &'static [usize],
        body: &'static str,
    ) -> (String, std::sync::Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v4", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                if drop.contains(&n) {
                    continue; // dropped: the client sees the connection closed
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        (url, accepted)
    }

    fn fast(api_url: String) -> GitlabSettings {
        GitlabSettings {
            api_url,
            retry: Retry {
                attempts: 3,
                first_delay: Duration::from_millis(20),
            },
            ..settings()
        }
    }

    #[tokio::test]
    async fn dropped_connections_are_retried() {
        // 1: the token check (dropped, then 2 answers); 3: a read (dropped, then 4 answers).
        let (url, accepted) = flaky_server(&[1, 3], r#"{"id": 1, "username": "x"}"#).await;
        let forge = Gitlab::connect(fast(url))
            .await
            .expect("connects on the second try");
        let endpoint = MergeRequest::builder()
            .project(42u64)
            .merge_request(7u64)
            .build()
            .unwrap();
        let answer = forge
            .get(&endpoint, Need::Read)
            .await
            .expect("read on the second try");
        assert_eq!(answer["username"], "x");
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
        assert_eq!(forge.request_count(), 2, "retries are counted once");
    }

    #[tokio::test]
    async fn an_unreachable_instance_gives_up_after_the_attempts() {
        let (url, accepted) = flaky_server(&[1, 2, 3, 4], "{}").await;
        let e = Gitlab::connect(fast(url)).await.err().expect("fails");
        assert!(
            matches!(&e, ForgeError::Api(m) if m.starts_with("cannot reach GitLab at http://127.0.0.1:")),
            "{e}"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }
}
