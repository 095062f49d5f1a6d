//! `codereview status`: CI mode. Evaluate the current pull/merge request and post one commit
//! status, the job summary and outputs.
//!
//! The path is short and one-way: read the runner's environment → ask the forge for the facts →
//! read the configs from the **base** commit of the local checkout → expand teams → diff against
//! the merge base locally (API only as a fallback) → evaluate → report → post.

use crate::cli::Failure;
use crate::git;
use clap::ValueEnum;
use codereview_forge::github::{EventTarget, Github, GithubSettings, event_target};
use codereview_forge::gitlab::{Gitlab, GitlabSettings, MergePipeline};
use codereview_forge::secret::Secret;
use codereview_forge::{CommitStatus, Forge, ForgeError, PrFacts};
use codereview_policy::config::{self, ConfigErrors, RawSet, is_config_path};
use codereview_policy::diff::FileDiff;
use codereview_policy::report::{self, SummaryContext};
use codereview_policy::review::{self, Evaluation, LargeScaleLimits, Overall};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `codereview status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Print the evaluation and the summary; write nothing (no status, requests, labels, files).
    #[arg(long)]
    pub dry_run: bool,
    /// Which forge; detected from `GITHUB_ACTIONS` / `GITLAB_CI` when absent.
    #[arg(long, value_enum)]
    pub forge: Option<ForgeKind>,
    /// More changed files than this is reviewed as one large-scale change.
    #[arg(long, env = "CODEREVIEW_LARGE_SCALE_FILES", default_value_t = 300)]
    pub large_scale_files: usize,
    /// More changed lines than this is reviewed as one large-scale change.
    #[arg(long, env = "CODEREVIEW_LARGE_SCALE_LINES", default_value_t = 3000)]
    pub large_scale_lines: usize,
}

/// Supported forges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForgeKind {
    /// GitHub Actions.
    Github,
    /// GitLab CI.
    Gitlab,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The status context: `CODEREVIEW_STATUS_CONTEXT` or `codereview`.
pub fn status_context() -> String {
    env("CODEREVIEW_STATUS_CONTEXT").unwrap_or_else(|| "codereview".to_string())
}

/// Run `codereview status`.
pub fn run(repo: Option<&Path>, args: &StatusArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let kind = match args.forge {
        Some(k) => k,
        None if env("GITHUB_ACTIONS").is_some() => ForgeKind::Github,
        None if env("GITLAB_CI").is_some() => ForgeKind::Gitlab,
        None => {
            return Err(Failure::usage(
                "not in a CI job: set GITHUB_ACTIONS or GITLAB_CI, or pass --forge github|gitlab with the runner's variables",
            ));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}")))?;
    match kind {
        ForgeKind::Github => runtime.block_on(run_github(repo, args, out)),
        ForgeKind::Gitlab => runtime.block_on(run_gitlab(repo, args, out)),
    }
}

/// Where the job summary and outputs go, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    /// Append the Markdown summary here (`GITHUB_STEP_SUMMARY`).
    pub summary_file: Option<PathBuf>,
    /// Append `key=value` outputs here (`GITHUB_OUTPUT`).
    pub output_file: Option<PathBuf>,
    /// Link to the CI job for the status.
    pub target_url: Option<String>,
}

async fn run_github(
    repo: Option<&Path>,
    args: &StatusArgs,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let token = env("INPUT_TOKEN").or_else(|| env("GITHUB_TOKEN")).ok_or_else(|| {
        Failure::usage(
            "no GitHub token: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`, or the action's `token` input)",
        )
    })?;
    let repository = env("GITHUB_REPOSITORY").ok_or_else(|| {
        Failure::usage("GITHUB_REPOSITORY is not set (owner/name): run inside GitHub Actions")
    })?;
    let event_path = env("GITHUB_EVENT_PATH")
        .ok_or_else(|| Failure::usage("GITHUB_EVENT_PATH is not set: run inside GitHub Actions"))?;
    let event_name = env("GITHUB_EVENT_NAME").unwrap_or_default();
    let payload: serde_json::Value = std::fs::read_to_string(&event_path)
        .map_err(|e| format!("cannot read the event file {event_path}: {e}"))
        .and_then(|t| {
            serde_json::from_str(&t)
                .map_err(|e| format!("the event file {event_path} is not JSON: {e}"))
        })
        .map_err(Failure::usage)?;
    let api_url = env("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_string());
    let graphql_url = env("GITHUB_GRAPHQL_URL")
        .unwrap_or_else(|| format!("{}/graphql", api_url.trim_end_matches('/')));
    let server = env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_string());
    let publish = Publish {
        summary_file: env("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        output_file: env("GITHUB_OUTPUT").map(PathBuf::from),
        target_url: env("GITHUB_RUN_ID").map(|id| {
            format!(
                "{}/{repository}/actions/runs/{id}",
                server.trim_end_matches('/')
            )
        }),
    };
    let target = event_target(&event_name, &payload).map_err(|e| Failure::usage(e.0))?;
    let mut settings = GithubSettings {
        api_url,
        graphql_url,
        repository,
        number: 0,
        token: Secret::new(token),
    };
    let number = match target {
        EventTarget::PullRequest(n) => n,
        EventTarget::MergeGroup(group) => {
            settings.number = group.number;
            let lookup = Github::new(settings).map_err(forge_failure)?;
            let root = checkout_root(repo)?;
            let result = crate::merge_group::run(&lookup, &group, &root, args, &publish, out).await;
            report_requests(lookup.request_count());
            return result;
        }
        EventTarget::Nothing(why) => {
            let _ = writeln!(out, "codereview: nothing to evaluate: {why}");
            return Ok(());
        }
        EventTarget::Commit(sha) => {
            check_sha("the event's head", &sha)?;
            let lookup = Github::new(settings.clone()).map_err(forge_failure)?;
            match lookup
                .pull_request_for_commit(&sha)
                .await
                .map_err(forge_failure)?
            {
                Some(n) => n,
                None => {
                    let _ = writeln!(
                        out,
                        "codereview: nothing to evaluate: no open pull request has head {sha}"
                    );
                    return Ok(());
                }
            }
        }
    };
    settings.number = number;
    let forge = Github::new(settings).map_err(forge_failure)?;
    let root = checkout_root(repo)?;
    let result = evaluate_and_publish(&forge, &root, args, &publish, out).await;
    report_requests(forge.request_count());
    result
}

/// Log how many GitHub API requests the run made (stderr with `CODEREVIEW_DEBUG_REQUESTS`).
fn report_requests(requests: usize) {
    tracing::debug!(requests, "GitHub API requests");
    if env("CODEREVIEW_DEBUG_REQUESTS").is_some() {
        eprintln!("codereview: {requests} GitHub API requests");
    }
}

/// GitLab CI: the merge request of a merge request pipeline. The summary goes to the job log and
/// to `codereview-summary.md` in `CI_PROJECT_DIR` (`CODEREVIEW_SUMMARY_PATH`), the outputs to the
/// dotenv report `codereview.env` (`CODEREVIEW_DOTENV_PATH`) as `CODEREVIEW_STATE=...`: GitLab
/// has no step summary or outputs file.
async fn run_gitlab(
    repo: Option<&Path>,
    args: &StatusArgs,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let api_url = env("CI_API_V4_URL").ok_or_else(|| {
        Failure::usage("CI_API_V4_URL is not set: run inside GitLab CI (or set it, e.g. https://gitlab.example.com/api/v4)")
    })?;
    let project = env("CI_PROJECT_ID")
        .ok_or_else(|| Failure::usage("CI_PROJECT_ID is not set: run inside GitLab CI"))?;
    let merge_request = env("CI_MERGE_REQUEST_IID")
        .ok_or_else(|| {
            Failure::usage(
                "CI_MERGE_REQUEST_IID is not set: this is not a merge request pipeline; run the job only there (rules: - if: $CI_PIPELINE_SOURCE == \"merge_request_event\")",
            )
        })?
        .parse::<u64>()
        .map_err(|e| Failure::usage(format!("CI_MERGE_REQUEST_IID is not a number: {e}")))?;
    let token = env("CODEREVIEW_GITLAB_TOKEN")
        .ok_or_else(|| Failure::usage(codereview_forge::gitlab::MISSING_TOKEN))?;
    let settings = GitlabSettings {
        api_url,
        project,
        merge_request,
        token: Secret::new(token),
        commit_sha: env("CI_COMMIT_SHA"),
        diff_base_sha: env("CI_MERGE_REQUEST_DIFF_BASE_SHA"),
        pipeline_id: env("CI_PIPELINE_ID").and_then(|p| p.parse().ok()),
        merge_pipeline: MergePipeline::from_runner(
            env("CI_MERGE_REQUEST_EVENT_TYPE").as_deref(),
            env("CI_COMMIT_SHA").as_deref(),
            env("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA").as_deref(),
        ),
        ca_file: env("CI_SERVER_TLS_CA_FILE").map(PathBuf::from),
        retry: Default::default(),
    };
    let dir = env("CI_PROJECT_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let summary = env("CODEREVIEW_SUMMARY_PATH")
        .map_or_else(|| dir.join("codereview-summary.md"), PathBuf::from);
    let dotenv =
        env("CODEREVIEW_DOTENV_PATH").map_or_else(|| dir.join("codereview.env"), PathBuf::from);
    let raw_outputs = dotenv.with_extension("outputs.tmp");
    let publish = Publish {
        summary_file: Some(summary.clone()),
        output_file: Some(raw_outputs.clone()),
        target_url: env("CI_JOB_URL"),
    };
    let forge = Gitlab::connect(settings).await.map_err(forge_failure)?;
    let root = checkout_root(repo)?;
    // The files describe this run only (they are appended to).
    for stale in [&summary, &dotenv, &raw_outputs] {
        let _ = std::fs::remove_file(stale);
    }
    let result = evaluate_and_publish(&forge, &root, args, &publish, out).await;
    if let Ok(markdown) = std::fs::read_to_string(&summary) {
        let _ = write!(out, "\n{markdown}");
    }
    if let Ok(outputs) = std::fs::read_to_string(&raw_outputs) {
        let _ = std::fs::remove_file(&raw_outputs);
        std::fs::write(
            &dotenv,
            codereview_forge::gitlab::dotenv_from_outputs(&outputs),
        )
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", dotenv.display())))?;
    }
    tracing::debug!(requests = forge.request_count(), "GitLab API requests");
    if env("CODEREVIEW_DEBUG_REQUESTS").is_some() {
        eprintln!("codereview: {} GitLab API requests", forge.request_count());
    }
    result
}

/// A forge error as the one-line exit-2 failure the runner shows.
pub(crate) fn forge_failure(e: ForgeError) -> Failure {
    Failure::usage(e.to_string())
}

/// The checkout: `--repo`, else `GITHUB_WORKSPACE` / `CI_PROJECT_DIR`, else the current directory.
fn checkout_root(repo: Option<&Path>) -> Result<PathBuf, Failure> {
    let start = repo
        .map(Path::to_path_buf)
        .or_else(|| env("GITHUB_WORKSPACE").map(PathBuf::from))
        .or_else(|| env("CI_PROJECT_DIR").map(PathBuf::from));
    crate::cli::repo_root(start.as_deref())
}

/// What evaluating one pull/merge request concluded, before anything is written.
pub enum Assessment {
    /// A verdict reached without evaluating reviews (no rules, invalid rules, a team the token
    /// cannot read), and the failure to exit with once it is posted.
    Early {
        /// The verdict.
        state: Overall,
        /// Why, for the status description.
        description: String,
        /// The exit failure, when the run must not exit 0.
        failure: Option<Failure>,
    },
    /// The evaluation of the rules.
    Evaluated {
        /// The verdict per scope and overall.
        evaluation: Box<Evaluation>,
        /// The pull request as evaluated (files filled in).
        pr: review::PullRequest,
        /// Config files the change modifies (they take effect only after merging).
        configs_modified: Vec<String>,
        /// How many changed lines are mechanical, when the checkout has the history.
        mechanical: Option<codereview_policy::trust::Mechanical>,
    },
}

impl Assessment {
    /// The verdict and the status description.
    pub fn verdict(&self) -> (Overall, String) {
        match self {
            Assessment::Early {
                state, description, ..
            } => (*state, description.clone()),
            Assessment::Evaluated { evaluation, .. } => {
                (evaluation.overall, report::description(evaluation))
            }
        }
    }
}

/// Read the facts, the base branch's rules, the teams and the changes, and evaluate; writes
/// nothing. An `Err` is an environment problem that leaves no verdict at all.
pub async fn assess<F: Forge>(
    forge: &F,
    root: &Path,
    args: &StatusArgs,
) -> Result<(PrFacts, Assessment), Failure> {
    let facts = forge.pull_request().await.map_err(forge_failure)?;
    let early = |state, description: String, failure| Assessment::Early {
        state,
        description,
        failure,
    };

    check_sha("the base", &facts.base_sha)?;
    check_sha("the head", &facts.pr.head_sha)?;
    let have_history = ensure_history(root, &facts);
    if !git::has_commit(root, &facts.base_sha) {
        return Err(Failure::usage(format!(
            "the base commit {} is not in the checkout and could not be fetched: check out the repository first (actions/checkout with fetch-depth: 0, or GIT_DEPTH: 0 on GitLab)",
            short(&facts.base_sha)
        )));
    }
    let files = crate::discover::from_revision(root, &facts.base_sha)?;
    if !files.iter().any(|f| f.path == config::CONFIG_FILENAME) {
        let description = "No CODEREVIEW.toml on the base branch: review rules are not enabled";
        return Ok((facts, early(Overall::Success, description.into(), None)));
    }

    // Invalid rules fail the status and name the file and line.
    let raw = match RawSet::parse(files) {
        Ok(raw) => raw,
        Err(errors) => return Ok((facts, config_failure(&errors))),
    };
    let team_refs = match raw.team_refs() {
        Ok(t) => t,
        Err(errors) => return Ok((facts, config_failure(&errors))),
    };
    let teams = match forge.team_members(&team_refs).await {
        Ok(t) => t,
        Err(ForgeError::Forbidden(message)) => {
            let description = report::truncate(&message, report::MAX_DESCRIPTION);
            let failure = Some(Failure::usage(message));
            return Ok((facts, early(Overall::Failure, description, failure)));
        }
        Err(e) => return Err(forge_failure(e)),
    };
    let configs = match raw.compile(Some(&teams)) {
        Ok(c) => c,
        Err(errors) => return Ok((facts, config_failure(&errors))),
    };

    let changed = match have_history.then(|| local_changes(root, &facts)).flatten() {
        Some(files) => files,
        None => forge.changed_files().await.map_err(forge_failure)?,
    };
    let configs_modified: Vec<String> = changed
        .iter()
        .flat_map(|f| std::iter::once(&f.path).chain(f.old_path.as_ref()))
        .filter(|p| is_config_path(p))
        .cloned()
        .collect();
    let mut pr = facts.pr.clone();
    pr.files = changed;
    let limits = LargeScaleLimits {
        max_files: args.large_scale_files,
        max_lines: args.large_scale_lines,
    };
    let assessment = match review::evaluate(&configs, &pr, limits) {
        Ok(evaluation) => Assessment::Evaluated {
            mechanical: have_history
                .then(|| {
                    crate::trust_command::mechanical_since_merge_base(
                        root,
                        &facts.base_sha,
                        &pr.head_sha,
                    )
                })
                .flatten(),
            evaluation: Box::new(evaluation),
            pr,
            configs_modified,
        },
        Err(e) => {
            let description = report::truncate(&e.0, report::MAX_DESCRIPTION);
            early(Overall::Failure, description, Some(Failure::failed(e.0)))
        }
    };
    Ok((facts, assessment))
}

/// The forge-independent part of CI mode.
pub async fn evaluate_and_publish<F: Forge>(
    forge: &F,
    root: &Path,
    args: &StatusArgs,
    publish: &Publish,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let (facts, assessment) = assess(forge, root, args).await?;
    let context = status_context();
    let status = |state: Overall, description: String| CommitStatus {
        sha: facts.pr.head_sha.clone(),
        state,
        description,
        context: context.clone(),
        target_url: publish.target_url.clone(),
    };
    let (evaluation, pr, configs_modified, mechanical) = match assessment {
        Assessment::Early {
            state,
            description,
            failure,
        } => {
            announce(forge, args, status(state, description), out).await?;
            return failure.map_or(Ok(()), Err);
        }
        Assessment::Evaluated {
            evaluation,
            pr,
            configs_modified,
            mechanical,
        } => (evaluation, pr, configs_modified, mechanical),
    };

    let summary_ctx = SummaryContext {
        context: context.clone(),
        configs_modified,
        dry_run: args.dry_run,
        mechanical,
    };
    let markdown = report::markdown(&evaluation, &summary_ctx);
    let _ = write!(out, "{}", report::text(&evaluation));
    if args.dry_run {
        let _ = write!(out, "\n{markdown}");
        return Ok(());
    }
    forge
        .post_status(&status(
            evaluation.overall,
            report::description(&evaluation),
        ))
        .await
        .map_err(forge_failure)?;
    // Requests and labels help people but do not decide anything: a refusal is a warning.
    if let Err(e) = forge.request_reviewers(&evaluation.to_request).await {
        eprintln!("warning: could not request reviewers: {e}");
    }
    if let Err(e) = forge
        .update_labels(
            &pr.labels,
            &evaluation.labels_to_add,
            &evaluation.labels_to_remove,
        )
        .await
    {
        eprintln!("warning: could not update labels: {e}");
    }
    if let Some(comment) = report::instructions_comment(&evaluation)
        && let Err(e) = keep_instructions_comment(forge, &comment).await
    {
        eprintln!("warning: could not post the scopes' instructions: {e}");
    }
    publish_files(publish, &markdown, Some(&evaluation))
        .map_err(|e| Failure::usage(format!("cannot write the job summary or outputs: {e}")))
}

/// One instructions comment per pull request, kept current: edited when what it should say
/// changed, posted only when some matched scope has instructions, untouched otherwise.
async fn keep_instructions_comment<F: Forge>(
    forge: &F,
    comment: &report::InstructionsComment,
) -> Result<(), ForgeError> {
    match forge.find_comment(report::INSTRUCTIONS_MARKER).await? {
        Some((_, body)) if body.trim_end() == comment.body.trim_end() => Ok(()),
        Some((id, _)) => forge.edit_comment(id, &comment.body).await,
        None if comment.post_new => forge.create_comment(&comment.body).await,
        None => Ok(()),
    }
}

/// Invalid configs: a failure naming file and line, and exit 1.
fn config_failure(errors: &ConfigErrors) -> Assessment {
    let description = errors
        .first()
        .map(report::config_error_description)
        .unwrap_or_else(|| "Invalid config".to_string());
    Assessment::Early {
        state: Overall::Failure,
        description,
        failure: Some(Failure::failed(errors.to_string())),
    }
}

/// Print a verdict that needs no evaluation (no rules, invalid rules, missing permission) and
/// post it as the status, unless this is a dry run.
async fn announce<F: Forge>(
    forge: &F,
    args: &StatusArgs,
    status: CommitStatus,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let _ = writeln!(out, "{}: {}", status.state.as_str(), status.description);
    if args.dry_run {
        return Ok(());
    }
    forge.post_status(&status).await.map_err(forge_failure)
}

/// Refuse a commit id from an event or an API that is not a full hex SHA before it reaches
/// `git` (where `--upload-pack=...` would be an option) or a URL: exit 2, nothing posted.
fn check_sha(what: &str, sha: &str) -> Result<(), Failure> {
    if git::is_object_id(sha) {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{what} commit '{}' is not a full hexadecimal SHA (40 or 64 digits): refusing to pass it to git",
        report::truncate(&sha.escape_debug().to_string(), 80)
    )))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Make sure the base and head commits and their merge base are in the checkout, fetching
/// (deeper) from `origin` when the clone is shallow or lacks them. Returns whether the merge
/// base is available.
pub fn ensure_history(root: &Path, facts: &PrFacts) -> bool {
    let base = facts.base_sha.as_str();
    let head = facts.pr.head_sha.as_str();
    let ready = || {
        git::has_commit(root, base)
            && git::has_commit(root, head)
            && git::merge_base(root, base, head).is_ok()
    };
    if ready() {
        return true;
    }
    for depth in [50u32, 1000] {
        let _ = git::run(
            root,
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                &format!("--depth={depth}"),
                "origin",
                base,
                head,
            ],
        );
        if ready() {
            return true;
        }
    }
    if git::is_shallow(root) {
        let _ = git::run(
            root,
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--unshallow",
                "origin",
                base,
                head,
            ],
        );
    }
    ready()
}

/// Changed files from the checkout (merge base → head), or `None` when history is missing.
pub fn local_changes(root: &Path, facts: &PrFacts) -> Option<Vec<FileDiff>> {
    let base = git::merge_base(root, &facts.base_sha, &facts.pr.head_sha).ok()?;
    git::diff(root, git::DiffTarget::Commits(&base, &facts.pr.head_sha)).ok()
}

/// Write the summary and outputs files.
pub fn publish_files(
    publish: &Publish,
    markdown: &str,
    e: Option<&Evaluation>,
) -> std::io::Result<()> {
    use std::fs::OpenOptions;
    if let Some(path) = &publish.summary_file {
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(f, "{markdown}")?;
    }
    if let (Some(path), Some(e)) = (&publish.output_file, e) {
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        for (k, v) in report::outputs(e) {
            writeln!(f, "{k}={v}")?;
        }
    }
    Ok(())
}
