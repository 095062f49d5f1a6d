//! GitHub Actions: the runner's variables, the event file, and the dispatch of a pull request
//! event (or a commit's pull request) to `status` and of a merge queue's `merge_group` event to
//! `merge_group`.

use super::files::{self, Publish};
use super::{CiEnv, StatusArgs, var};
use crate::failure::{Failure, forge_failure};
use crate::merge_group;
use crate::status::{self, JobReport, check_sha};
use codereview_forge::github::{EventTarget, Github, GithubSettings, event_target};
use codereview_forge::secret::Secret;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What GitHub Actions tells the job, typed.
#[derive(Debug, Clone)]
pub struct GithubEnv {
    /// `INPUT_TOKEN` (the action's `token` input), else `GITHUB_TOKEN`.
    pub token: Secret<String>,
    /// `GITHUB_REPOSITORY` (`owner/name`).
    pub repository: String,
    /// `GITHUB_EVENT_PATH`: the webhook payload that started the run.
    pub event_path: PathBuf,
    /// `GITHUB_EVENT_NAME` (empty when unset).
    pub event_name: String,
    /// `GITHUB_API_URL`, else `https://api.github.com`.
    pub api_url: String,
    /// `GITHUB_GRAPHQL_URL`, else `{api_url}/graphql`.
    pub graphql_url: String,
    /// `GITHUB_STEP_SUMMARY` and `GITHUB_OUTPUT`.
    pub publish: Publish,
    /// The run's page, from `GITHUB_SERVER_URL` (else `https://github.com`) and `GITHUB_RUN_ID`.
    pub target_url: Option<String>,
}

impl GithubEnv {
    /// Read the variables; a missing one the run cannot do without is a usage error that says
    /// how to set it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Failure> {
        let token = var(&lookup, "INPUT_TOKEN")
            .or_else(|| var(&lookup, "GITHUB_TOKEN"))
            .ok_or_else(|| {
                Failure::usage(
                    "no GitHub token: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`, or the action's `token` input)",
                )
            })?;
        let repository = var(&lookup, "GITHUB_REPOSITORY").ok_or_else(|| {
            Failure::usage("GITHUB_REPOSITORY is not set (owner/name): run inside GitHub Actions")
        })?;
        let event_path = var(&lookup, "GITHUB_EVENT_PATH").ok_or_else(|| {
            Failure::usage("GITHUB_EVENT_PATH is not set: run inside GitHub Actions")
        })?;
        let api_url =
            var(&lookup, "GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_string());
        let graphql_url = var(&lookup, "GITHUB_GRAPHQL_URL")
            .unwrap_or_else(|| format!("{}/graphql", api_url.trim_end_matches('/')));
        let server =
            var(&lookup, "GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_string());
        let target_url = var(&lookup, "GITHUB_RUN_ID").map(|id| {
            format!(
                "{}/{repository}/actions/runs/{id}",
                server.trim_end_matches('/')
            )
        });
        Ok(GithubEnv {
            token: Secret::new(token),
            repository,
            event_path: PathBuf::from(event_path),
            event_name: var(&lookup, "GITHUB_EVENT_NAME").unwrap_or_default(),
            api_url,
            graphql_url,
            publish: Publish {
                summary_file: var(&lookup, "GITHUB_STEP_SUMMARY").map(PathBuf::from),
                output_file: var(&lookup, "GITHUB_OUTPUT").map(PathBuf::from),
            },
            target_url,
        })
    }

    /// The event file's payload.
    pub fn read_event(&self) -> Result<serde_json::Value, Failure> {
        let shown = self.event_path.display();
        std::fs::read_to_string(&self.event_path)
            .map_err(|e| format!("cannot read the event file {shown}: {e}"))
            .and_then(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| format!("the event file {shown} is not JSON: {e}"))
            })
            .map_err(Failure::usage)
    }
}

/// GitHub Actions: the pull request of the event (or of the pushed commit), or every pull
/// request of a merge group.
pub async fn run(
    repo: Option<&Path>,
    args: &StatusArgs,
    ci: &CiEnv,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let env = GithubEnv::from_lookup(lookup)?;
    let payload = env.read_event()?;
    let target = event_target(&env.event_name, &payload).map_err(|e| Failure::usage(e.0))?;
    let settings = ci.settings(args, env.target_url.clone());
    let mut github = GithubSettings {
        api_url: env.api_url.clone(),
        graphql_url: env.graphql_url.clone(),
        repository: env.repository.clone(),
        number: 0,
        token: env.token.clone(),
    };
    let number = match target {
        EventTarget::PullRequest(n) => n,
        EventTarget::MergeGroup(group) => {
            github.number = group.number;
            let lookup = Github::new(github).map_err(forge_failure)?;
            let root = ci.checkout_root(repo)?;
            let result = merge_group::run(&lookup, &group, &root, &settings, out).await;
            ci.report_requests("GitHub", lookup.request_count());
            let outcome = result?;
            write_report(&env.publish, outcome.report.as_ref())?;
            return outcome.failure.map_or(Ok(()), Err);
        }
        EventTarget::Nothing(why) => {
            let _ = writeln!(out, "codereview: nothing to evaluate: {why}");
            return Ok(());
        }
        EventTarget::Commit(sha) => {
            check_sha("the event's head", &sha)?;
            let lookup = Github::new(github.clone()).map_err(forge_failure)?;
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
    github.number = number;
    let forge = Github::new(github).map_err(forge_failure)?;
    let root = ci.checkout_root(repo)?;
    let result = status::evaluate_and_publish(&forge, &root, &settings, out).await;
    ci.report_requests("GitHub", forge.request_count());
    write_report(&env.publish, result?.as_ref())
}

fn write_report(publish: &Publish, report: Option<&JobReport>) -> Result<(), Failure> {
    match report {
        Some(report) => files::append(publish, report)
            .map_err(|e| Failure::usage(format!("cannot write the job summary or outputs: {e}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::tests::lookup;

    const RUNNER: [(&str, &str); 9] = [
        ("GITHUB_TOKEN", "ghs_x"),
        ("GITHUB_REPOSITORY", "octo/repo"),
        ("GITHUB_EVENT_PATH", "/tmp/event.json"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
        ("GITHUB_SERVER_URL", "https://ghe.example.com/"),
        ("GITHUB_RUN_ID", "42"),
        ("GITHUB_STEP_SUMMARY", "/tmp/summary.md"),
        ("GITHUB_OUTPUT", "/tmp/output.txt"),
    ];

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        RUNNER.iter().copied().filter(|(k, _)| *k != name).collect()
    }

    #[test]
    fn the_runner_variables_become_settings() {
        let env = GithubEnv::from_lookup(lookup(&RUNNER)).unwrap();
        assert_eq!(env.token.expose(), "ghs_x");
        assert_eq!(env.repository, "octo/repo");
        assert_eq!(env.event_path, PathBuf::from("/tmp/event.json"));
        assert_eq!(env.event_name, "pull_request");
        assert_eq!(env.api_url, "https://ghe.example.com/api/v3/");
        assert_eq!(env.graphql_url, "https://ghe.example.com/api/v3/graphql");
        assert_eq!(
            env.target_url.as_deref(),
            Some("https://ghe.example.com/octo/repo/actions/runs/42")
        );
        assert_eq!(
            env.publish,
            Publish {
                summary_file: Some("/tmp/summary.md".into()),
                output_file: Some("/tmp/output.txt".into()),
            }
        );
    }

    #[test]
    fn defaults_and_the_action_input_token() {
        let mut vars = without("GITHUB_API_URL");
        vars.retain(|(k, _)| {
            !matches!(*k, "GITHUB_SERVER_URL" | "GITHUB_RUN_ID" | "GITHUB_OUTPUT")
        });
        vars.push(("INPUT_TOKEN", "from-input"));
        vars.push(("GITHUB_GRAPHQL_URL", "https://gql.example.com"));
        let env = GithubEnv::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(env.token.expose(), "from-input");
        assert_eq!(env.api_url, "https://api.github.com");
        assert_eq!(env.graphql_url, "https://gql.example.com");
        assert_eq!(env.target_url, None);
        assert_eq!(env.publish.output_file, None);
    }

    #[test]
    fn a_missing_variable_says_how_to_set_it() {
        let e = |name| GithubEnv::from_lookup(lookup(&without(name))).unwrap_err();
        assert!(e("GITHUB_TOKEN").message.starts_with("no GitHub token"));
        assert!(
            e("GITHUB_REPOSITORY")
                .message
                .contains("GITHUB_REPOSITORY is not set")
        );
        assert!(
            e("GITHUB_EVENT_PATH")
                .message
                .contains("GITHUB_EVENT_PATH is not set")
        );
        assert!(
            [e("GITHUB_TOKEN"), e("GITHUB_EVENT_PATH")]
                .iter()
                .all(|f| f.code == 2)
        );
        // A blank token (an unset secret) is no token.
        let mut blank = without("GITHUB_TOKEN");
        blank.push(("GITHUB_TOKEN", ""));
        assert!(GithubEnv::from_lookup(lookup(&blank)).is_err());
    }

    #[test]
    fn an_unreadable_event_file_is_a_usage_error() {
        let mut vars = without("GITHUB_EVENT_PATH");
        vars.push(("GITHUB_EVENT_PATH", "/nonexistent/event.json"));
        let env = GithubEnv::from_lookup(lookup(&vars)).unwrap();
        let e = env.read_event().unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("cannot read the event file"),
            "{}",
            e.message
        );
    }
}
