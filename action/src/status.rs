//! `codereview status`'s evaluation, whatever the forge and CI: evaluate the current pull/merge
//! request and post one commit status, the reviewer requests, labels and instructions comment;
//! hand the job summary and outputs back to the caller (`ci`), which knows where they go.
//!
//! The path is short and one-way: ask the forge for the facts → read the configs from the
//! **base** commit of the local checkout → expand teams → diff against the merge base locally
//! (API only as a fallback) → evaluate → report → post.

use crate::failure::{Failure, forge_failure};
use crate::git;
use codereview_forge::{CommitStatus, Forge, ForgeError, PrFacts};
use codereview_policy::config::{self, ConfigErrors, RawSet, is_config_path};
use codereview_policy::diff::FileDiff;
use codereview_policy::report::{self, SummaryContext};
use codereview_policy::review::{self, Evaluation, LargeScaleLimits, Overall};
use std::io::Write;
use std::path::Path;

/// What a run was asked to do, from the command line and the CI job's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Print the evaluation and the summary; write nothing.
    pub dry_run: bool,
    /// Where a change becomes one large-scale change.
    pub limits: LargeScaleLimits,
    /// The status context (`CODEREVIEW_STATUS_CONTEXT`, `codereview` by default).
    pub context: String,
    /// Link to the CI job for the status.
    pub target_url: Option<String>,
}

impl Default for Settings {
    /// The command line's defaults: a real run, the default limits, context `codereview`.
    fn default() -> Self {
        Settings {
            dry_run: false,
            limits: LargeScaleLimits::default(),
            context: "codereview".to_string(),
            target_url: None,
        }
    }
}

/// What a run leaves for the CI job besides the forge: the Markdown summary and the outputs
/// (`key`, `value`). `ci` writes them where the runner wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// The job summary.
    pub markdown: String,
    /// The step outputs, in order.
    pub outputs: Vec<(String, String)>,
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
    settings: &Settings,
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
    let assessment = match review::evaluate(&configs, &pr, settings.limits) {
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

/// The forge-independent part of CI mode: assess, print, post. Returns the job report to write
/// when a verdict was evaluated and posted (none for a dry run or a verdict reached early).
pub async fn evaluate_and_publish<F: Forge>(
    forge: &F,
    root: &Path,
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<Option<JobReport>, Failure> {
    let (facts, assessment) = assess(forge, root, settings).await?;
    let context = settings.context.clone();
    let status = |state: Overall, description: String| CommitStatus {
        sha: facts.pr.head_sha.clone(),
        state,
        description,
        context: context.clone(),
        target_url: settings.target_url.clone(),
    };
    let (evaluation, pr, configs_modified, mechanical) = match assessment {
        Assessment::Early {
            state,
            description,
            failure,
        } => {
            announce(forge, settings, status(state, description), out).await?;
            return failure.map_or(Ok(None), Err);
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
        dry_run: settings.dry_run,
        mechanical,
    };
    let markdown = report::markdown(&evaluation, &summary_ctx);
    let _ = write!(out, "{}", report::text(&evaluation));
    if settings.dry_run {
        let _ = write!(out, "\n{markdown}");
        return Ok(None);
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
    Ok(Some(JobReport {
        markdown,
        outputs: report::outputs(&evaluation)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }))
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
    settings: &Settings,
    status: CommitStatus,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let _ = writeln!(out, "{}: {}", status.state.as_str(), status.description);
    if settings.dry_run {
        return Ok(());
    }
    forge.post_status(&status).await.map_err(forge_failure)
}

/// Refuse a commit id from an event or an API that is not a full hex SHA before it reaches
/// `git` (where `--upload-pack=...` would be an option) or a URL: exit 2, nothing posted.
pub(crate) fn check_sha(what: &str, sha: &str) -> Result<(), Failure> {
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
