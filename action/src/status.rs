//! `codereview status`'s evaluation, whatever the forge and CI: evaluate the current pull/merge
//! request and post one commit status, the reviewer requests, labels and instructions comment;
//! hand the job summary and outputs back to the caller (`ci`), which knows where they go.
//!
//! The path is short and one-way: ask the forge for the facts → read the configs from the
//! **base** commit of the local checkout → expand teams → diff against the merge base locally
//! (API only as a fallback) → evaluate → report → post.

use crate::failure::{Failure, forge_failure};
use crate::git;
use codereview_forge::evaluate;
use codereview_forge::{CommitStatus, Forge, ForgeError, PrFacts};
use codereview_policy::config::{ConfigErrors, is_config_path};
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
    /// How `request = N` picks reviewers.
    pub request_strategy: RequestStrategy,
}

/// How reviewers are picked for `request = N` (`--request-strategy`,
/// `CODEREVIEW_REQUEST_STRATEGY`, the action's `request-strategy` input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RequestStrategy {
    /// PullApprove's pick: a stable order seeded by the pull request number.
    #[default]
    Deterministic,
    /// The fewest open review requests in the repository first (ties: the stable order).
    Balanced,
}

impl Default for Settings {
    /// The command line's defaults: a real run, the default limits, context `codereview`.
    fn default() -> Self {
        Settings {
            dry_run: false,
            limits: LargeScaleLimits::default(),
            context: codereview_policy::STATUS_CONTEXT.to_string(),
            target_url: None,
            request_strategy: RequestStrategy::Deterministic,
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
        pr: Box<review::PullRequest>,
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
    let configs = match evaluate::load_rules(forge, files).await {
        Ok(Ok(configs)) => configs,
        Ok(Err(early_verdict)) => return Ok((facts, early_assessment(early_verdict))),
        Err(e) => return Err(forge_failure(e)),
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
    let options = evaluate::Options {
        limits: settings.limits,
        balanced: settings.request_strategy == RequestStrategy::Balanced,
    };
    let assessment = match evaluate::evaluate(forge, &configs, &mut pr, options).await {
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
            pr: Box::new(pr),
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

/// The verdict and exit of a run that could not evaluate: no rules (success, exit 0), invalid
/// rules (failure naming file and line, exit 1), a team the token cannot read (failure, exit
/// 2 with the permission to add).
fn early_assessment(early: evaluate::Early) -> Assessment {
    match early {
        evaluate::Early::NoRules => Assessment::Early {
            state: Overall::Success,
            description: "No CODEREVIEW.toml on the base branch: review rules are not enabled"
                .into(),
            failure: None,
        },
        evaluate::Early::InvalidConfig(errors) => config_failure(&errors),
        evaluate::Early::TeamUnreadable(message) => Assessment::Early {
            state: Overall::Failure,
            description: report::truncate(&message, report::MAX_DESCRIPTION),
            failure: Some(Failure::usage(message)),
        },
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

/// `evaluate_and_publish` against [`codereview_forge::fake::FakeForge`] and real git
/// repositories: one test per branch of the evaluation. What only a real HTTP exchange shows
/// (paging, retries, headers, request counts) stays in the wiremock suites
/// (`tests/github_status.rs`, `tests/gitlab_status.rs`).
/// The test repositories of the CI-mode end-to-end tests, shared with these unit tests.
#[cfg(test)]
#[path = "../tests/ci_support/repo.rs"]
mod test_repo;

#[cfg(test)]
mod tests {
    use super::test_repo::{Repo, pull_request_repo};
    use super::*;
    use codereview_forge::fake::{FakeForge, LabelUpdate, Method, Written};
    use codereview_policy::diff::api_file_diff;
    use codereview_policy::review::{CheckRun, PullRequest, Review, ReviewState};
    use std::collections::{BTreeMap, BTreeSet};

    const CONFIG: &str = r#"
[[scopes]]
name = "backend"
paths = ["src/**"]
reviewers = ["alice", "bob"]
require = 1
labels = ["backend"]
"#;

    const UNLESS: &str = "[[scopes]]\nname = \"deps\"\npaths = [\"Cargo.lock\"]\nreviewers = [\"alice\"]\nrequire = 1\nunless = [\"renovate-checks/safe-update\"]\n";

    const TEAM_CONFIG: &str = "[[scopes]]\nname = \"core\"\npaths = [\"**\"]\nreviewers = [\"@octo/core\"]\nrequire = 1\n";

    const TARGET: &str = "https://github.com/octo/repo/actions/runs/42";

    /// Pull request #7 by dana from `head` onto `base` (on `main`).
    fn facts(base: &str, head: &str) -> PrFacts {
        PrFacts {
            pr: PullRequest {
                number: 7,
                author: "dana".into(),
                head_sha: head.into(),
                ..PullRequest::default()
            },
            base_sha: base.into(),
            base_ref: "main".into(),
            card: None,
        }
    }

    fn review(user: &str, state: ReviewState) -> Review {
        Review {
            user: user.into(),
            state,
            commit: None,
            submitted_at: None,
            body: String::new(),
        }
    }

    fn check(app: &str, name: &str, conclusion: &str) -> CheckRun {
        CheckRun {
            app: app.into(),
            name: name.into(),
            status: "completed".into(),
            conclusion: Some(conclusion.into()),
        }
    }

    /// `text` contains `part` (the whole text shows when it does not).
    fn assert_has(text: &str, part: &str) {
        assert!(text.contains(part), "{part:?} is not in:\n{text}");
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn settings() -> Settings {
        Settings {
            target_url: Some(TARGET.into()),
            ..Settings::default()
        }
    }

    /// The one status a run should post on `head`.
    fn status(head: &str, state: Overall, description: &str) -> CommitStatus {
        CommitStatus {
            sha: head.into(),
            state,
            description: description.into(),
            context: "codereview".into(),
            target_url: Some(TARGET.into()),
        }
    }

    /// Run `evaluate_and_publish`: its result and what it printed.
    fn evaluate(
        forge: &FakeForge,
        repo: &Repo,
        settings: &Settings,
    ) -> (Result<Option<JobReport>, Failure>, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut out = Vec::new();
        let result = runtime.block_on(evaluate_and_publish(forge, repo.path(), settings, &mut out));
        (result, String::from_utf8(out).unwrap())
    }

    /// A run that must succeed and write a report.
    fn report(forge: &FakeForge, repo: &Repo) -> JobReport {
        match evaluate(forge, repo, &settings()).0 {
            Ok(Some(report)) => report,
            Ok(None) => panic!("no report"),
            Err(f) => panic!("exit {}: {}", f.code, f.message),
        }
    }

    /// A run that must fail.
    fn failure(forge: &FakeForge, repo: &Repo, settings: &Settings) -> Failure {
        match evaluate(forge, repo, settings).0 {
            Err(f) => f,
            Ok(r) => panic!("expected a failure, got {r:?}"),
        }
    }

    fn outputs(report: &JobReport) -> String {
        report
            .outputs
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// The methods that write.
    fn write_calls(forge: &FakeForge) -> usize {
        [
            Method::PostStatus,
            Method::RequestReviewers,
            Method::UpdateLabels,
            Method::CreateComment,
            Method::EditComment,
        ]
        .iter()
        .map(|m| forge.calls(*m))
        .sum()
    }

    fn backend_pr() -> (Repo, PrFacts) {
        let (repo, base, head) = pull_request_repo(
            &[("CODEREVIEW.toml", CONFIG), ("src/a.rs", "fn a() {}\n")],
            &[("src/a.rs", "fn a() { b() }\n")],
        );
        (repo, facts(&base, &head))
    }

    #[test]
    fn without_rules_on_the_base_branch_the_status_is_success_and_nothing_else_happens() {
        let (repo, base, head) =
            pull_request_repo(&[("README.md", "hi\n")], &[("CODEREVIEW.toml", CONFIG)]);
        let forge = FakeForge::new(facts(&base, &head));
        let (result, out) = evaluate(&forge, &repo, &settings());
        assert!(matches!(result, Ok(None)));
        let description = "No CODEREVIEW.toml on the base branch: review rules are not enabled";
        assert_eq!(
            forge.written().statuses,
            vec![status(&head, Overall::Success, description)]
        );
        assert_eq!(out, format!("success: {description}\n"));
        assert_eq!(forge.calls(Method::TeamMembers), 0);
        assert_eq!(write_calls(&forge), 1);
    }

    #[test]
    fn approved_gets_success_labels_and_outputs() {
        let (repo, mut facts) = backend_pr();
        facts.pr.labels = strings(&["triage"]);
        facts.pr.reviews = vec![review("alice", ReviewState::Approved)];
        let head = facts.pr.head_sha.clone();
        let forge = FakeForge::new(facts);
        let report = report(&forge, &repo);
        let written = forge.written();
        assert_eq!(
            written.statuses,
            vec![status(&head, Overall::Success, "1 scope approved")]
        );
        assert_eq!(
            written.labels,
            vec![LabelUpdate {
                current: strings(&["triage"]),
                add: strings(&["backend"]),
                remove: vec![],
            }]
        );
        assert!(written.reviewer_requests.iter().all(Vec::is_empty));
        assert_has(&report.markdown, "## codereview: ✅ success");
        assert!(
            report
                .markdown
                .contains("| backend | ✅ approved by alice | 1/1 | alice, bob | `src/a.rs` |"),
            "{}",
            report.markdown
        );
        assert_eq!(
            outputs(&report),
            "state=success\napproved-scopes=backend\npending-scopes=\nrejected-scopes=\n"
        );
    }

    #[test]
    fn labels_no_scope_wants_any_more_are_removed() {
        // Only docs change: the backend label goes.
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", CONFIG)], &[("docs/a.md", "a\n")]);
        let mut facts = facts(&base, &head);
        facts.pr.labels = strings(&["backend", "triage"]);
        let forge = FakeForge::new(facts);
        report(&forge, &repo);
        assert_eq!(
            forge.written().labels,
            vec![LabelUpdate {
                current: strings(&["backend", "triage"]),
                add: vec![],
                remove: strings(&["backend"]),
            }]
        );
    }

    #[test]
    fn status_context_and_link_come_from_the_settings() {
        let (repo, facts) = backend_pr();
        let forge = FakeForge::new(facts);
        let settings = Settings {
            context: "review/rules".into(),
            target_url: None,
            ..Settings::default()
        };
        let (result, _) = evaluate(&forge, &repo, &settings);
        let report = result.ok().flatten().expect("a report");
        let posted = &forge.written().statuses[0];
        assert_eq!(
            (posted.context.as_str(), posted.target_url.as_deref()),
            ("review/rules", None)
        );
        assert!(
            report.markdown.starts_with("## review/rules: "),
            "{}",
            report.markdown
        );
    }

    /// Moved from the GitHub suite (`pending_pull_request_requests_a_reviewer`).
    #[test]
    fn pending_pull_request_requests_a_reviewer() {
        let (repo, base, head) = pull_request_repo(
            &[(
                "CODEREVIEW.toml",
                "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"dana\"]\nalternates = [\"bob\"]\nrequire = 1\nrequest = 1\n",
            )],
            &[("src/a.rs", "x\n")],
        );
        let forge = FakeForge::new(facts(&base, &head));
        let report = report(&forge, &repo);
        // dana is the author and bob only an alternate: alice is the one to ask.
        assert_eq!(
            forge.written().statuses,
            vec![status(
                &head,
                Overall::Pending,
                "1 scope pending: backend needs 1 more (alice, bob)"
            )]
        );
        assert_eq!(forge.written().reviewer_requests, vec![strings(&["alice"])]);
        assert!(outputs(&report).contains("pending-scopes=backend\n"));
    }

    /// Moved from the GitHub suite (`change_request_rejects`) and the GitLab suite
    /// (`requested_changes_reject`).
    #[test]
    fn a_change_request_rejects() {
        let (repo, mut facts) = backend_pr();
        facts.pr.labels = strings(&["backend"]);
        facts.pr.reviews = vec![
            review("alice", ReviewState::Approved),
            review("bob", ReviewState::ChangesRequested),
        ];
        let head = facts.pr.head_sha.clone();
        let forge = FakeForge::new(facts);
        let report = report(&forge, &repo);
        assert_eq!(
            forge.written().statuses,
            vec![status(
                &head,
                Overall::Failure,
                "1 scope rejected: backend has changes requested by bob"
            )]
        );
        let outputs = outputs(&report);
        assert!(outputs.starts_with("state=failure\n"), "{outputs}");
        assert!(outputs.contains("rejected-scopes=backend\n"), "{outputs}");
    }

    /// Moved from the GitHub suite (`successful_check_waives_the_scope`) and the GitLab suite
    /// (`successful_job_on_the_head_waives_the_scope`).
    #[test]
    fn a_successful_check_waives_the_scope() {
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", UNLESS)], &[("Cargo.lock", "v2\n")]);
        let mut facts = facts(&base, &head);
        facts.pr.check_runs = vec![
            check("renovate-checks", "safe-update", "success"),
            check("other", "lint", "failure"),
        ];
        let forge = FakeForge::new(facts);
        report(&forge, &repo);
        assert_eq!(
            forge.written().statuses,
            vec![status(&head, Overall::Success, "1 scope waived")]
        );
    }

    /// Moved from the GitHub suite (`failed_check_does_not_waive`).
    #[test]
    fn a_failed_check_does_not_waive() {
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", UNLESS)], &[("Cargo.lock", "v2\n")]);
        let mut facts = facts(&base, &head);
        facts.pr.check_runs = vec![check("renovate-checks", "safe-update", "failure")];
        let forge = FakeForge::new(facts);
        report(&forge, &repo);
        assert_eq!(
            forge.written().statuses,
            vec![status(
                &head,
                Overall::Pending,
                "1 scope pending: deps needs 1 more (alice)"
            )]
        );
    }

    #[test]
    fn teams_come_from_the_forge() {
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", TEAM_CONFIG)], &[("x.txt", "x\n")]);
        let mut facts = facts(&base, &head);
        facts.pr.reviews = vec![review("carol", ReviewState::Approved)];
        let teams = [("octo/core".to_string(), strings(&["carol", "erin"]))].into();
        let forge = FakeForge::new(facts).with_teams(teams);
        let report = report(&forge, &repo);
        assert_eq!(
            forge.team_requests(),
            vec![BTreeSet::from(["octo/core".to_string()])]
        );
        assert_eq!(
            forge.written().statuses,
            vec![status(&head, Overall::Success, "1 scope approved")]
        );
        assert_has(&report.markdown, "carol, erin");
    }

    #[test]
    fn a_team_the_token_cannot_read_fails_with_the_missing_permission_and_exit_2() {
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", TEAM_CONFIG)], &[("x.txt", "x\n")]);
        let message = "cannot read team @octo/core: the token needs the organization permission Members: read (GITHUB_TOKEN cannot; use a GitHub App token)";
        let forge = FakeForge::new(facts(&base, &head))
            .with_error(Method::TeamMembers, ForgeError::Forbidden(message.into()));
        let f = failure(&forge, &repo, &settings());
        assert_eq!((f.code, f.message.as_str()), (2, message));
        assert_eq!(
            forge.written().statuses,
            vec![status(&head, Overall::Failure, message)]
        );
        assert_eq!(write_calls(&forge), 1, "only the status");
    }

    #[test]
    fn a_team_read_that_fails_otherwise_leaves_no_verdict() {
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", TEAM_CONFIG)], &[("x.txt", "x\n")]);
        let forge = FakeForge::new(facts(&base, &head)).with_error(
            Method::TeamMembers,
            ForgeError::Api("GitHub answered 502".into()),
        );
        let f = failure(&forge, &repo, &settings());
        assert_eq!((f.code, f.message.as_str()), (2, "GitHub answered 502"));
        assert_eq!(write_calls(&forge), 0);
    }

    /// Moved from the GitHub suite (`large_scale_change_is_one_scope`).
    #[test]
    fn a_large_scale_change_is_one_scope() {
        let config = "[large_scale_change]\nreviewers = [\"lead\"]\n\n[[scopes]]\nname = \"all\"\npaths = [\"**\"]\nreviewers = [\"alice\"]\nrequire = 1\n";
        let changes: Vec<(String, String)> = (0..301)
            .map(|i| (format!("f/{i}.txt"), "x\n".into()))
            .collect();
        let changes: Vec<(&str, &str)> = changes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (repo, base, head) = pull_request_repo(&[("CODEREVIEW.toml", config)], &changes);
        let forge = FakeForge::new(facts(&base, &head));
        let report = report(&forge, &repo);
        assert_eq!(
            forge.written().statuses,
            vec![status(
                &head,
                Overall::Pending,
                "Large-scale change: 1 scope pending: Large-scale change needs 1 more (lead)"
            )]
        );
        assert!(report.markdown.contains("large-scale change"));
    }

    /// Moved from the GitHub suite (`large_scale_change_without_reviewers_is_a_clear_failure`,
    /// which passed `--large-scale-files 3`).
    #[test]
    fn a_large_scale_change_without_reviewers_is_a_clear_failure() {
        let changes: Vec<(String, String)> = (0..5)
            .map(|i| (format!("f/{i}.txt"), "x\n".into()))
            .collect();
        let changes: Vec<(&str, &str)> = changes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (repo, base, head) = pull_request_repo(&[("CODEREVIEW.toml", CONFIG)], &changes);
        let forge = FakeForge::new(facts(&base, &head));
        let settings = Settings {
            limits: LargeScaleLimits {
                max_files: 3,
                ..LargeScaleLimits::default()
            },
            ..settings()
        };
        let f = failure(&forge, &repo, &settings);
        assert_eq!(f.code, 1);
        assert_eq!(
            forge.written().statuses,
            vec![status(
                &head,
                Overall::Failure,
                "Large-scale change: configuration required (no reviewers defined)"
            )]
        );
    }

    /// Moved from the GitHub suite (`a_pull_request_cannot_loosen_its_own_rules`) and the GitLab
    /// suite (`a_merge_request_cannot_loosen_its_own_rules`).
    #[test]
    fn a_pull_request_cannot_loosen_its_own_rules() {
        let loosened = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"*\"]\nrequire = 0\n";
        let (repo, base, head) = pull_request_repo(
            &[("CODEREVIEW.toml", CONFIG), ("src/a.rs", "a\n")],
            &[("CODEREVIEW.toml", loosened), ("src/a.rs", "b\n")],
        );
        let forge = FakeForge::new(facts(&base, &head));
        let report = report(&forge, &repo);
        // The base branch's rules apply: backend still needs alice or bob. The PR's
        // CODEREVIEW.toml is owned by no scope of the base rules, so it does not block alone.
        assert_eq!(
            forge.written().statuses,
            vec![status(
                &head,
                Overall::Pending,
                "1 scope pending: backend needs 1 more (alice, bob)"
            )]
        );
        assert_eq!(forge.written().labels[0].add, strings(&["backend"]));
        assert_has(&report.markdown, "base branch's");
        assert_has(&report.markdown, "CODEREVIEW.toml");
    }

    /// Moved from the GitHub suite (`summary_says_how_many_changed_lines_are_mechanical`).
    #[test]
    fn the_summary_says_how_many_changed_lines_are_mechanical() {
        let (repo, base, head) = pull_request_repo(
            &[
                ("CODEREVIEW.toml", CONFIG),
                ("src/a.rs", "fn a() {}\n"),
                ("Cargo.lock", "a = 1\n"),
            ],
            &[
                ("src/a.rs", "fn a() { b() }\n"),
                ("Cargo.lock", "a = 1\nb = 2\nc = 3\n"),
            ],
        );
        let forge = FakeForge::new(facts(&base, &head));
        let report = report(&forge, &repo);
        // The lockfile's 2 added lines are mechanical; src/a.rs's 2 changed lines are not.
        assert!(
            report
                .markdown
                .contains("2 of 4 changed lines are mechanical"),
            "{}",
            report.markdown
        );
    }

    /// Moved from the GitHub and GitLab suites (`invalid_config_posts_a_failure_naming_file_and_line`).
    #[test]
    fn invalid_config_posts_a_failure_naming_file_and_line() {
        let bad =
            "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"$missing\"]\n";
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", bad)], &[("src/a.rs", "x\n")]);
        let forge = FakeForge::new(facts(&base, &head));
        let f = failure(&forge, &repo, &settings());
        assert_eq!(f.code, 1);
        assert_has(&f.message, "CODEREVIEW.toml:4:14");
        assert_eq!(
            forge.written().statuses,
            vec![status(
                &head,
                Overall::Failure,
                "Invalid config: CODEREVIEW.toml:4:14: scope 'backend': Unknown alias: $missing"
            )]
        );
        assert_eq!(write_calls(&forge), 1);
    }

    /// Moved from the GitLab suite (`draft_is_pending`; the GitHub one stays there, as the only
    /// check of `isDraft`).
    #[test]
    fn a_draft_is_pending() {
        let (repo, mut facts) = backend_pr();
        facts.pr.draft = true;
        facts.pr.labels = strings(&["backend"]);
        facts.pr.reviews = vec![review("bob", ReviewState::Approved)];
        let head = facts.pr.head_sha.clone();
        let forge = FakeForge::new(facts);
        report(&forge, &repo);
        assert_eq!(
            forge.written().statuses,
            vec![status(
                &head,
                Overall::Pending,
                "Draft is not ready for review"
            )]
        );
    }

    /// Moved from the GitHub and GitLab suites (`dry_run_writes_nothing`).
    #[test]
    fn a_dry_run_writes_nothing() {
        let (repo, facts) = backend_pr();
        let forge = FakeForge::new(facts);
        let dry = Settings {
            dry_run: true,
            ..settings()
        };
        let (result, out) = evaluate(&forge, &repo, &dry);
        assert!(matches!(result, Ok(None)), "no report to write");
        assert_eq!(forge.written(), Written::default());
        assert_eq!(write_calls(&forge), 0);
        assert_eq!(
            forge.all_calls(),
            BTreeMap::from([(Method::PullRequest, 1), (Method::TeamMembers, 1)]),
            "only the reads"
        );
        assert!(
            out.contains("pending: 1 scope pending: backend needs 1 more (alice, bob)"),
            "{out}"
        );
        assert!(out.contains("| backend | ⏳ pending | 0/1 |"), "{out}");
    }

    #[test]
    fn a_dry_run_of_invalid_rules_posts_nothing_and_still_fails() {
        let (repo, base, head) = pull_request_repo(
            &[("CODEREVIEW.toml", "[[scopes]]\nname = 1\n")],
            &[("src/a.rs", "x\n")],
        );
        let forge = FakeForge::new(facts(&base, &head));
        let dry = Settings {
            dry_run: true,
            ..settings()
        };
        let (result, out) = evaluate(&forge, &repo, &dry);
        assert_eq!(result.err().map(|f| f.code), Some(1));
        assert!(
            out.starts_with("failure: Invalid config: CODEREVIEW.toml:2"),
            "{out}"
        );
        assert_eq!(write_calls(&forge), 0);
    }

    #[test]
    fn refused_reviewer_requests_and_labels_are_only_warnings() {
        let (repo, base, head) = pull_request_repo(
            &[(
                "CODEREVIEW.toml",
                "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\"]\nrequire = 1\nrequest = 1\nlabels = [\"backend\"]\n",
            )],
            &[("src/a.rs", "x\n")],
        );
        let refused = || ForgeError::Forbidden("Resource not accessible by integration".into());
        let forge = FakeForge::new(facts(&base, &head))
            .with_error(Method::RequestReviewers, refused())
            .with_error(Method::UpdateLabels, refused());
        let report = report(&forge, &repo);
        assert_eq!(forge.written().reviewer_requests, vec![strings(&["alice"])]);
        assert_eq!(forge.calls(Method::UpdateLabels), 1);
        assert!(outputs(&report).starts_with("state=pending\n"));
    }

    #[test]
    fn a_refused_status_is_an_environment_error_and_nothing_else_is_written() {
        let (repo, facts) = backend_pr();
        let message = "GitLab refused POST /projects/42/statuses/x (403 Forbidden): CODEREVIEW_GITLAB_TOKEN cannot post commit statuses: it needs the Developer role and the api scope";
        let forge = FakeForge::new(facts)
            .with_error(Method::PostStatus, ForgeError::Forbidden(message.into()));
        let f = failure(&forge, &repo, &settings());
        assert_eq!((f.code, f.message.as_str()), (2, message));
        assert_eq!(forge.calls(Method::PostStatus), 1);
        assert_eq!(
            write_calls(&forge),
            1,
            "no requests, labels or comments after it"
        );
    }

    #[test]
    fn an_unreadable_pull_request_posts_nothing() {
        let (repo, facts) = backend_pr();
        let forge = FakeForge::new(facts).with_error(
            Method::PullRequest,
            ForgeError::Unauthorized("GitHub rejected the token (401 Bad credentials)".into()),
        );
        let f = failure(&forge, &repo, &settings());
        assert_eq!(f.code, 2);
        assert_has(&f.message, "401 Bad credentials");
        assert_eq!(write_calls(&forge), 0);
    }

    #[test]
    fn commit_ids_that_are_not_shas_never_reach_git() {
        let (repo, mut facts) = backend_pr();
        facts.base_sha = "--upload-pack=touch /tmp/pwned".into();
        let forge = FakeForge::new(facts);
        let f = failure(&forge, &repo, &settings());
        assert_eq!(f.code, 2);
        assert!(
            f.message.starts_with("the base commit '--upload-pack"),
            "{}",
            f.message
        );
        assert_has(&f.message, "not a full hexadecimal SHA");
        assert_eq!(write_calls(&forge), 0);
    }

    #[test]
    fn a_base_commit_missing_from_the_checkout_is_an_environment_error() {
        let (repo, mut facts) = backend_pr();
        facts.base_sha = "0123456789abcdef0123456789abcdef01234567".into();
        let forge = FakeForge::new(facts);
        let f = failure(&forge, &repo, &settings());
        assert_eq!(f.code, 2);
        assert_has(
            &f.message,
            "the base commit 0123456789ab is not in the checkout",
        );
        assert_eq!(write_calls(&forge), 0);
    }

    /// Moved from the GitHub and GitLab suites' `without_history_changed_files_come_from_the_api`
    /// (the branch; the API's answer format stays tested there).
    #[test]
    fn without_history_changed_files_come_from_the_forge() {
        let repo = Repo::new();
        repo.write("CODEREVIEW.toml", CONFIG);
        let base = repo.commit("base");
        // The head commit is not in this checkout and there is no remote to fetch it from.
        let head = "0123456789abcdef0123456789abcdef01234567";
        let mut facts = facts(&base, head);
        facts.pr.labels = strings(&["backend"]);
        facts.pr.reviews = vec![review("alice", ReviewState::Approved)];
        let forge = FakeForge::new(facts).with_changed_files(vec![
            api_file_diff(
                "src/new.rs",
                "src/new.rs",
                "@@ -0,0 +1 @@\n+fn x() {}",
                None,
            ),
            api_file_diff("docs/a.md", "docs/a.md", "@@ -1 +1 @@\n-a\n+b", None),
        ]);
        let report = report(&forge, &repo);
        assert_eq!(forge.calls(Method::ChangedFiles), 1);
        assert_eq!(
            forge.written().statuses,
            vec![status(head, Overall::Success, "1 scope approved")]
        );
        assert!(
            report.markdown.contains("`docs/a.md`"),
            "unowned file listed: {}",
            report.markdown
        );
    }

    /// Moved from the GitHub suite (`a_shallow_checkout_is_deepened_from_origin`).
    #[test]
    fn a_shallow_checkout_is_deepened_from_origin() {
        // The forge's side: the full history, base on main and the PR on feature.
        let (origin, base, head) = pull_request_repo(
            &[
                ("CODEREVIEW.toml", CONFIG),
                ("src/a.rs", "a\n"),
                ("docs/x.md", "x\n"),
            ],
            &[("src/a.rs", "b\n")],
        );
        origin.git(&["config", "uploadpack.allowAnySHA1InWant", "true"]);
        // The runner's side: actions/checkout's default, one commit of the base branch.
        let checkout = Repo::new();
        let url = format!("file://{}", origin.path().display());
        checkout.git(&["fetch", "-q", "--depth=1", &url, "main"]);
        checkout.git(&["reset", "-q", "--hard", "FETCH_HEAD"]);
        checkout.git(&["remote", "add", "origin", &url]);
        assert_eq!(
            checkout.git(&["rev-parse", "--is-shallow-repository"]),
            "true"
        );
        assert!(!git::has_commit(checkout.path(), &head), "not fetched yet");
        let mut facts = facts(&base, &head);
        facts.pr.labels = strings(&["backend"]);
        facts.pr.reviews = vec![review("alice", ReviewState::Approved)];
        let forge = FakeForge::new(facts);
        let report = report(&forge, &checkout);
        // The diff came from git, not from the API.
        assert_eq!(forge.calls(Method::ChangedFiles), 0);
        assert_eq!(
            forge.written().statuses,
            vec![status(&head, Overall::Success, "1 scope approved")]
        );
        assert_has(&report.markdown, "1 file changed");
    }

    const INSTRUCTED: &str = r#"
[[scopes]]
name = "backend"
paths = ["src/**"]
reviewers = ["alice"]
require = 1
instructions = """
Run `make migrate` before approving.
Check the query plans."""

[[scopes]]
name = "docs"
paths = ["docs/**"]
reviewers = ["bob"]
instructions = "Preview the site."
"#;

    const INSTRUCTIONS_BODY: &str = "<!-- codereview:instructions -->\n\n#### Review instructions: backend\n\nRun `make migrate` before approving.\nCheck the query plans.\n";

    /// A PR touching `src/` under rules with instructions.
    fn instructed_pr() -> (Repo, PrFacts) {
        let (repo, base, head) = pull_request_repo(
            &[("CODEREVIEW.toml", INSTRUCTED), ("src/a.rs", "fn a() {}\n")],
            &[("src/a.rs", "fn a() { b() }\n")],
        );
        let mut facts = facts(&base, &head);
        facts.pr.reviews = vec![review("alice", ReviewState::Approved)];
        (repo, facts)
    }

    #[test]
    fn matched_scope_instructions_are_posted_once_as_a_comment() {
        let (repo, facts) = instructed_pr();
        let forge = FakeForge::new(facts);
        let report = report(&forge, &repo);
        let written = forge.written();
        assert_eq!(written.comments_created, strings(&[INSTRUCTIONS_BODY]));
        assert!(written.comments_edited.is_empty());
        assert!(
            report
                .markdown
                .contains("Instructions posted as a comment for: `backend`"),
            "{}",
            report.markdown
        );
    }

    #[test]
    fn a_stale_instructions_comment_is_edited() {
        let stale = "<!-- codereview:instructions -->\n\n#### Review instructions: docs\n\nPreview the site.\n";
        let (repo, facts) = instructed_pr();
        let forge = FakeForge::new(facts).with_comment(11, stale);
        report(&forge, &repo);
        let written = forge.written();
        assert_eq!(
            written.comments_edited,
            vec![(11, INSTRUCTIONS_BODY.to_string())]
        );
        assert!(written.comments_created.is_empty());
    }

    /// Moved from the GitHub suite (the second half of
    /// `instructions_comment_is_edited_when_stale_and_left_alone_when_current`).
    #[test]
    fn a_current_instructions_comment_is_left_alone() {
        let (repo, facts) = instructed_pr();
        let forge = FakeForge::new(facts).with_comment(11, format!("{INSTRUCTIONS_BODY}\n"));
        report(&forge, &repo);
        assert_eq!(forge.calls(Method::FindComment), 1);
        assert_eq!(forge.calls(Method::CreateComment), 0);
        assert_eq!(forge.calls(Method::EditComment), 0);
    }

    #[test]
    fn without_a_matched_instruction_no_comment_is_started() {
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", INSTRUCTED)], &[("other.txt", "x\n")]);
        let forge = FakeForge::new(facts(&base, &head));
        report(&forge, &repo);
        assert_eq!(forge.calls(Method::FindComment), 1);
        assert_eq!(forge.calls(Method::CreateComment), 0);
    }

    #[test]
    fn an_instructions_comment_that_cannot_be_written_is_only_a_warning() {
        let (repo, facts) = instructed_pr();
        let forge =
            FakeForge::new(facts).with_error(Method::CreateComment, ForgeError::Api("no".into()));
        let report = report(&forge, &repo);
        assert_eq!(forge.calls(Method::CreateComment), 1);
        assert!(outputs(&report).starts_with("state=success\n"));
    }

    const REQUEST_TWO: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\", \"carol\"]\nrequire = 1\nrequest = 2\n";

    fn requesting_pr(config: &str) -> (Repo, PrFacts) {
        let (repo, base, head) = pull_request_repo(
            &[("CODEREVIEW.toml", config), ("src/a.rs", "fn a() {}\n")],
            &[("src/a.rs", "fn a() { b() }\n")],
        );
        (repo, facts(&base, &head))
    }

    #[test]
    fn away_reviewers_are_not_requested_and_the_summary_says_so() {
        let (repo, facts) = requesting_pr(REQUEST_TWO);
        let forge = FakeForge::new(facts).with_away(&["Alice"]);
        let report = report(&forge, &repo);
        assert_eq!(forge.calls(Method::ReviewerFacts), 1);
        assert_eq!(
            forge.reviewer_fact_requests(),
            vec![(strings(&["alice", "bob", "carol"]), false)]
        );
        let requested = forge.written().reviewer_requests;
        assert_eq!(requested.len(), 1);
        let mut picked = requested[0].clone();
        picked.sort();
        assert_eq!(picked, strings(&["bob", "carol"]));
        assert_has(&report.markdown, "Away (not requested): alice");
    }

    #[test]
    fn when_everyone_is_away_they_are_requested_anyway() {
        let (repo, facts) = requesting_pr(REQUEST_TWO);
        let forge = FakeForge::new(facts).with_away(&["alice", "bob", "carol"]);
        let report = report(&forge, &repo);
        assert_eq!(forge.written().reviewer_requests[0].len(), 2);
        assert!(
            report
                .markdown
                .contains("Requested although away (everyone who could review is away)"),
            "{}",
            report.markdown
        );
    }

    #[test]
    fn balanced_asks_the_least_loaded_in_one_lookup() {
        let (repo, facts) = requesting_pr(REQUEST_TWO);
        let forge =
            FakeForge::new(facts).with_open_requests(&[("alice", 9), ("bob", 1), ("carol", 0)]);
        let settings = Settings {
            request_strategy: RequestStrategy::Balanced,
            ..settings()
        };
        let (result, _) = evaluate(&forge, &repo, &settings);
        assert!(matches!(result, Ok(Some(_))));
        assert_eq!(forge.calls(Method::ReviewerFacts), 1);
        assert!(forge.reviewer_fact_requests()[0].1, "asked for load");
        assert_eq!(
            forge.written().reviewer_requests,
            vec![strings(&["carol", "bob"])]
        );
    }

    #[test]
    fn nobody_to_request_means_no_availability_lookup() {
        let (repo, mut facts) = requesting_pr(REQUEST_TWO);
        facts.pr.reviews = vec![review("alice", ReviewState::Approved)];
        let forge = FakeForge::new(facts).with_away(&["bob"]);
        report(&forge, &repo);
        assert_eq!(forge.calls(Method::ReviewerFacts), 0);
        let (repo, facts) = backend_pr(); // request = 0
        let forge = FakeForge::new(facts);
        report(&forge, &repo);
        assert_eq!(forge.calls(Method::ReviewerFacts), 0);
    }

    #[test]
    fn an_unreadable_availability_is_a_warning_not_a_failure() {
        let (repo, facts) = requesting_pr(REQUEST_TWO);
        let forge = FakeForge::new(facts).with_error(
            Method::ReviewerFacts,
            ForgeError::Forbidden("no user scope".into()),
        );
        report(&forge, &repo);
        assert_eq!(forge.written().reviewer_requests[0].len(), 2);
    }

    const CHECKLIST: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\n\
        checklist = { items = [{ label = \"Migrations reviewed\" }] }\n";

    #[test]
    fn a_checklist_answered_in_a_separate_comment_completes_the_approval() {
        let (repo, mut facts) = requesting_pr(CHECKLIST);
        facts.pr.reviews = vec![review("alice", ReviewState::Approved)];
        let head = facts.pr.head_sha.clone();

        // Unanswered: the approval does not count, and the instructions show the checklist.
        let forge = FakeForge::new(facts.clone());
        let first = report(&forge, &repo);
        assert_eq!(forge.calls(Method::ChecklistAnswers), 1);
        assert_eq!(forge.written().statuses[0].state, Overall::Pending);
        assert!(
            first
                .markdown
                .contains("alice approved backend without checking 'Migrations reviewed'"),
            "{}",
            first.markdown
        );
        assert!(forge.written().comments_created[0].contains("- [ ] Migrations reviewed"));

        // Answered in the approver's comment (GitLab): it counts.
        let forge = FakeForge::new(facts).with_checklist_answer(
            "alice",
            "#### Checklist: backend\n- [x] Migrations reviewed",
        );
        report(&forge, &repo);
        assert_eq!(
            forge.written().statuses,
            vec![status(&head, Overall::Success, "1 scope approved")]
        );
    }

    #[test]
    fn a_complete_review_body_needs_no_lookup() {
        let (repo, mut facts) = requesting_pr(CHECKLIST);
        let mut approval = review("alice", ReviewState::Approved);
        approval.body = "- [x] Migrations reviewed".into();
        facts.pr.reviews = vec![approval];
        let forge = FakeForge::new(facts);
        report(&forge, &repo);
        assert_eq!(forge.calls(Method::ChecklistAnswers), 0);
        assert_eq!(forge.written().statuses[0].state, Overall::Success);
    }

    // ---- The service's path gives the same verdict (issue 15 §1) ----

    /// The verdict `codereview status` posts for `facts` in `repo`, and the one the sync
    /// service's live review state reaches for the same pull request with every input from the
    /// API (`forge::evaluate::from_api`): the rules as the API lists them at the base commit,
    /// the changes as the API diffs them (here: the checkout's diff, which the API would give).
    fn both_verdicts(
        repo: &Repo,
        facts: &PrFacts,
        extra: impl Fn(FakeForge) -> FakeForge,
    ) -> ((Overall, String), (Overall, String)) {
        let action = extra(FakeForge::new(facts.clone()));
        let _ = evaluate(&action, repo, &settings());
        let posted = action.written().statuses[0].clone();

        let configs = crate::discover::from_revision(repo.path(), &facts.base_sha).unwrap();
        let pairs: Vec<(&str, &str)> = configs
            .iter()
            .map(|c| (c.path.as_str(), c.text.as_str()))
            .collect();
        let changed = local_changes(repo.path(), facts).expect("the checkout has the history");
        let api = extra(FakeForge::new(facts.clone()))
            .with_config_files(&pairs)
            .with_changed_files(changed);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let judged = runtime
            .block_on(evaluate::from_api(&api, evaluate::Options::default()))
            .unwrap();
        let service = match judged {
            evaluate::Judgement::Early(early) => early_assessment(early).verdict(),
            evaluate::Judgement::Evaluated { evaluation, .. } => {
                (evaluation.overall, report::description(&evaluation))
            }
            evaluate::Judgement::Failed(message) => (
                Overall::Failure,
                report::truncate(&message, report::MAX_DESCRIPTION),
            ),
        };
        ((posted.state, posted.description), service)
    }

    #[test]
    fn the_service_reaches_the_verdict_the_action_posts() {
        let approved = |user: &str| review(user, ReviewState::Approved);
        let mut answered = approved("alice");
        answered.body = "- [x] Migrations reviewed".into();
        let teams = || -> codereview_policy::config::Teams {
            [("octo/core".to_string(), strings(&["carol", "erin"]))].into()
        };
        type Extra = fn(FakeForge) -> FakeForge;
        /// (name, rules, the changed file, reviews, checks, what else the forge says).
        type Scenario = (
            &'static str,
            &'static str,
            &'static str,
            Vec<Review>,
            Vec<CheckRun>,
            Extra,
        );
        let none: Extra = |f| f;
        let scenarios: Vec<Scenario> = vec![
            ("pending", CONFIG, "src/a.rs", vec![], vec![], none),
            (
                "approved",
                CONFIG,
                "src/a.rs",
                vec![approved("alice")],
                vec![],
                none,
            ),
            (
                "rejected",
                CONFIG,
                "src/a.rs",
                vec![review("bob", ReviewState::ChangesRequested)],
                vec![],
                none,
            ),
            (
                "author's own approval",
                CONFIG,
                "src/a.rs",
                vec![approved("dana")],
                vec![],
                none,
            ),
            (
                "waived",
                UNLESS,
                "Cargo.lock",
                vec![],
                vec![check("renovate-checks", "safe-update", "success")],
                none,
            ),
            (
                "not waived",
                UNLESS,
                "Cargo.lock",
                vec![],
                vec![check("renovate-checks", "safe-update", "failure")],
                none,
            ),
            ("nothing matched", CONFIG, "docs/a.md", vec![], vec![], none),
            (
                "invalid rules",
                "[[scopes]]\nname = 1\n",
                "src/a.rs",
                vec![],
                vec![],
                none,
            ),
            (
                "checklist missing",
                CHECKLIST,
                "src/a.rs",
                vec![approved("alice")],
                vec![],
                none,
            ),
            (
                "checklist answered",
                CHECKLIST,
                "src/a.rs",
                vec![answered],
                vec![],
                none,
            ),
            ("away", REQUEST_TWO, "src/a.rs", vec![], vec![], |f| {
                f.with_away(&["alice"])
            }),
        ];
        for (name, rules, changed, reviews, checks, extra) in scenarios {
            let (repo, base, head) = pull_request_repo(
                &[("CODEREVIEW.toml", rules), (changed, "v1\n")],
                &[(changed, "v2\n")],
            );
            let mut facts = facts(&base, &head);
            facts.pr.reviews = reviews;
            facts.pr.check_runs = checks;
            let (action, service) = both_verdicts(&repo, &facts, extra);
            assert_eq!(action, service, "{name}");
        }
        // Teams come from the forge on both paths.
        let (repo, base, head) =
            pull_request_repo(&[("CODEREVIEW.toml", TEAM_CONFIG)], &[("x.txt", "x\n")]);
        let mut facts = facts(&base, &head);
        facts.pr.reviews = vec![approved("carol")];
        let (action, service) = both_verdicts(&repo, &facts, |f| f.with_teams(teams()));
        assert_eq!(action, service, "teams");
        assert_eq!(action.0, Overall::Success);
    }
}
