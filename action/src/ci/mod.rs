//! CI mode (`codereview status`): read the runner's environment into typed settings, pick the
//! forge, dispatch (a GitHub pull request or merge group, a GitLab merge request), and write the
//! job summary and outputs where that CI wants them.
//!
//! This is the only place that reads CI environment variables, always through a lookup
//! (`impl Fn(&str) -> Option<String>`) so the parsing is tested without touching the process
//! environment. Below it, `status` and `merge_group` evaluate and post, whatever the CI.

pub mod files;
pub mod github;
pub mod gitlab;

use crate::failure::Failure;
use crate::git;
use crate::status::{RequestStrategy, Settings};
use clap::ValueEnum;
use codereview_policy::review::LargeScaleLimits;
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
    /// How `request = N` picks reviewers: `deterministic` (PullApprove's) or `balanced` (the
    /// fewest open review requests first). Away reviewers are skipped either way.
    #[arg(
        long,
        value_enum,
        env = "CODEREVIEW_REQUEST_STRATEGY",
        default_value_t = RequestStrategy::Deterministic,
        ignore_case = true
    )]
    pub request_strategy: RequestStrategy,
}

/// Supported forges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForgeKind {
    /// GitHub Actions.
    Github,
    /// GitLab CI.
    Gitlab,
}

/// A variable through `lookup`, with a blank value read as unset (runners export empty
/// variables for absent inputs).
pub(crate) fn var(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// The settings every CI shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiEnv {
    /// `GITHUB_ACTIONS` or `GITLAB_CI` is set: the forge to use without `--forge`.
    pub detected: Option<ForgeKind>,
    /// `CODEREVIEW_STATUS_CONTEXT`, else `codereview`.
    pub status_context: String,
    /// `CODEREVIEW_DEBUG_REQUESTS`: print the API request count to stderr.
    pub debug_requests: bool,
    /// `GITHUB_WORKSPACE`, else `CI_PROJECT_DIR`: the checkout when `--repo` is absent.
    pub workspace: Option<PathBuf>,
}

impl CiEnv {
    /// Read the shared settings.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let detected = if var(&lookup, "GITHUB_ACTIONS").is_some() {
            Some(ForgeKind::Github)
        } else if var(&lookup, "GITLAB_CI").is_some() {
            Some(ForgeKind::Gitlab)
        } else {
            None
        };
        CiEnv {
            detected,
            status_context: var(&lookup, "CODEREVIEW_STATUS_CONTEXT")
                .unwrap_or_else(|| codereview_policy::STATUS_CONTEXT.to_string()),
            debug_requests: var(&lookup, "CODEREVIEW_DEBUG_REQUESTS").is_some(),
            workspace: var(&lookup, "GITHUB_WORKSPACE")
                .or_else(|| var(&lookup, "CI_PROJECT_DIR"))
                .map(PathBuf::from),
        }
    }

    /// The evaluation's settings for this run.
    pub fn settings(&self, args: &StatusArgs, target_url: Option<String>) -> Settings {
        Settings {
            dry_run: args.dry_run,
            limits: LargeScaleLimits {
                max_files: args.large_scale_files,
                max_lines: args.large_scale_lines,
            },
            context: self.status_context.clone(),
            target_url,
            request_strategy: args.request_strategy,
        }
    }

    /// The checkout: `--repo`, else the CI's workspace, else the current directory.
    pub fn checkout_root(&self, repo: Option<&Path>) -> Result<PathBuf, Failure> {
        let start = repo
            .map(Path::to_path_buf)
            .or_else(|| self.workspace.clone());
        Ok(git::repo_root_of(start.as_deref())?)
    }

    /// Log how many API requests the run made (stderr with `CODEREVIEW_DEBUG_REQUESTS`).
    pub fn report_requests(&self, forge: &str, requests: usize) {
        tracing::debug!(requests, "{forge} API requests");
        if self.debug_requests {
            eprintln!("codereview: {requests} {forge} API requests");
        }
    }
}

/// Run `codereview status` with the process environment.
pub fn run(repo: Option<&Path>, args: &StatusArgs, out: &mut dyn Write) -> Result<(), Failure> {
    run_with(repo, args, &|name: &str| std::env::var(name).ok(), out)
}

/// Run `codereview status` with the environment `lookup` gives.
pub fn run_with(
    repo: Option<&Path>,
    args: &StatusArgs,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let ci = CiEnv::from_lookup(lookup);
    let Some(kind) = args.forge.or(ci.detected) else {
        return Err(Failure::usage(
            "not in a CI job: set GITHUB_ACTIONS or GITLAB_CI, or pass --forge github|gitlab with the runner's variables",
        ));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}")))?;
    match kind {
        ForgeKind::Github => runtime.block_on(github::run(repo, args, &ci, lookup, out)),
        ForgeKind::Gitlab => runtime.block_on(gitlab::run(repo, args, &ci, lookup, out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A lookup over these variables only.
    pub(crate) fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_shared_settings_have_defaults_and_blank_is_unset() {
        let ci = CiEnv::from_lookup(lookup(&[("GITLAB_CI", "true"), ("GITHUB_ACTIONS", " ")]));
        assert_eq!(
            ci,
            CiEnv {
                detected: Some(ForgeKind::Gitlab),
                status_context: "codereview".into(),
                debug_requests: false,
                workspace: None,
            }
        );
        let ci = CiEnv::from_lookup(lookup(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITLAB_CI", "true"),
            ("CODEREVIEW_STATUS_CONTEXT", "review/rules"),
            ("CODEREVIEW_DEBUG_REQUESTS", "1"),
            ("CI_PROJECT_DIR", "/builds/app"),
            ("GITHUB_WORKSPACE", "/home/runner/work/app"),
        ]));
        assert_eq!(ci.detected, Some(ForgeKind::Github));
        assert_eq!(ci.status_context, "review/rules");
        assert!(ci.debug_requests);
        assert_eq!(ci.workspace, Some(PathBuf::from("/home/runner/work/app")));
    }

    fn args() -> StatusArgs {
        StatusArgs {
            dry_run: false,
            forge: None,
            large_scale_files: 300,
            large_scale_lines: 3000,
            request_strategy: RequestStrategy::Deterministic,
        }
    }

    /// A GitHub Actions job for `event_name` with this payload (no API is reachable: these
    /// runs must end before any request).
    fn github_job(event_name: &str, payload: &str) -> (Result<(), Failure>, String) {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(&event, payload).unwrap();
        let event = event.display().to_string();
        let vars = lookup(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_TOKEN", "ghs_x"),
            ("GITHUB_REPOSITORY", "octo/repo"),
            ("GITHUB_EVENT_NAME", event_name),
            ("GITHUB_EVENT_PATH", &event),
            ("GITHUB_API_URL", "http://127.0.0.1:9"),
        ]);
        let mut out = Vec::new();
        let result = run_with(None, &args(), &vars, &mut out);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_comment_on_a_plain_issue_is_nothing_to_evaluate() {
        let payload = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/github-webhooks/issue_comment.created.payload.json"
        ))
        .unwrap();
        let (result, out) = github_job("issue_comment", &payload);
        assert!(result.is_ok());
        assert!(
            out.starts_with("codereview: nothing to evaluate: "),
            "{out}"
        );
    }

    #[test]
    fn a_push_event_is_a_usage_error() {
        let (result, out) = github_job("push", r#"{ "ref": "refs/heads/main" }"#);
        let e = result.unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("`push` is not a pull request event"),
            "{}",
            e.message
        );
        assert!(out.is_empty());
    }

    #[test]
    fn outside_ci_without_forge_is_a_usage_error() {
        let mut out = Vec::new();
        let e = run_with(None, &args(), &lookup(&[]), &mut out).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.starts_with("not in a CI job"), "{}", e.message);
    }
}
