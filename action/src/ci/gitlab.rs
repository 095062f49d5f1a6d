//! GitLab CI: the runner's variables of a merge request pipeline, and the files GitLab reads
//! back (GitLab has no step summary or outputs file): the summary goes to the job log and to
//! `codereview-summary.md` in `CI_PROJECT_DIR` (`CODEREVIEW_SUMMARY_PATH`), the outputs to the
//! dotenv report `codereview.env` (`CODEREVIEW_DOTENV_PATH`) as `CODEREVIEW_STATE=...`.

use super::files::{self, Publish, dotenv_from_outputs};
use super::{CiEnv, StatusArgs, var};
use crate::failure::{Failure, forge_failure};
use crate::status::{self, JobReport};
use codereview_forge::gitlab::{Gitlab, GitlabSettings, MISSING_TOKEN, MergePipeline};
use codereview_forge::secret::Secret;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What GitLab CI tells the job, typed.
#[derive(Debug, Clone)]
pub struct GitlabEnv {
    /// How to reach the merge request (URL, project, iid, token, pipeline, CA bundle).
    pub gitlab: GitlabSettings,
    /// Where the Markdown summary goes.
    pub summary_file: PathBuf,
    /// Where the dotenv report goes.
    pub dotenv_file: PathBuf,
    /// `CI_JOB_URL`: the status's link.
    pub target_url: Option<String>,
}

impl GitlabEnv {
    /// Read the variables; a missing one the run cannot do without is a usage error that says
    /// how to fix the pipeline.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Failure> {
        let api_url = var(&lookup, "CI_API_V4_URL").ok_or_else(|| {
            Failure::usage("CI_API_V4_URL is not set: run inside GitLab CI (or set it, e.g. https://gitlab.example.com/api/v4)")
        })?;
        let project = var(&lookup, "CI_PROJECT_ID")
            .ok_or_else(|| Failure::usage("CI_PROJECT_ID is not set: run inside GitLab CI"))?;
        let merge_request = var(&lookup, "CI_MERGE_REQUEST_IID")
            .ok_or_else(|| {
                Failure::usage(
                    "CI_MERGE_REQUEST_IID is not set: this is not a merge request pipeline; run the job only there (rules: - if: $CI_PIPELINE_SOURCE == \"merge_request_event\")",
                )
            })?
            .parse::<u64>()
            .map_err(|e| Failure::usage(format!("CI_MERGE_REQUEST_IID is not a number: {e}")))?;
        let token =
            var(&lookup, "CODEREVIEW_GITLAB_TOKEN").ok_or_else(|| Failure::usage(MISSING_TOKEN))?;
        let commit_sha = var(&lookup, "CI_COMMIT_SHA");
        let gitlab = GitlabSettings {
            merge_pipeline: merge_pipeline(
                var(&lookup, "CI_MERGE_REQUEST_EVENT_TYPE").as_deref(),
                commit_sha.as_deref(),
                var(&lookup, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA").as_deref(),
            ),
            commit_sha,
            diff_base_sha: var(&lookup, "CI_MERGE_REQUEST_DIFF_BASE_SHA"),
            pipeline_id: var(&lookup, "CI_PIPELINE_ID").and_then(|p| p.parse().ok()),
            ca_file: var(&lookup, "CI_SERVER_TLS_CA_FILE").map(PathBuf::from),
            ..GitlabSettings::new(api_url, project, merge_request, Secret::new(token))
        };
        let dir = var(&lookup, "CI_PROJECT_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
        Ok(GitlabEnv {
            gitlab,
            summary_file: var(&lookup, "CODEREVIEW_SUMMARY_PATH")
                .map_or_else(|| dir.join("codereview-summary.md"), PathBuf::from),
            dotenv_file: var(&lookup, "CODEREVIEW_DOTENV_PATH")
                .map_or_else(|| dir.join("codereview.env"), PathBuf::from),
            target_url: var(&lookup, "CI_JOB_URL"),
        })
    }
}

/// A merged results (or merge train) pipeline, from the runner's `CI_MERGE_REQUEST_EVENT_TYPE`
/// (`merged_result`, `merge_train`; a plain `detached` pipeline runs on the head itself),
/// `CI_COMMIT_SHA` and `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`.
pub fn merge_pipeline(
    event_type: Option<&str>,
    commit_sha: Option<&str>,
    source_sha: Option<&str>,
) -> Option<MergePipeline> {
    let (Some(event), Some(merge), Some(source)) = (event_type, commit_sha, source_sha) else {
        return None;
    };
    let hex = |s: &str| s.len() >= 7 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (matches!(event, "merged_result" | "merge_train")
        && merge != source
        && hex(merge)
        && hex(source))
    .then(|| MergePipeline {
        merge_sha: merge.to_string(),
        source_sha: source.to_string(),
    })
}

/// GitLab CI: the merge request of a merge request pipeline.
pub async fn run(
    repo: Option<&Path>,
    args: &StatusArgs,
    ci: &CiEnv,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let env = GitlabEnv::from_lookup(lookup)?;
    let settings = ci.settings(args, env.target_url.clone());
    let forge = Gitlab::connect(env.gitlab.clone())
        .await
        .map_err(forge_failure)?;
    let root = ci.checkout_root(repo)?;
    // The files describe this run only (the summary is appended to).
    for stale in [&env.summary_file, &env.dotenv_file] {
        let _ = std::fs::remove_file(stale);
    }
    let result = match status::evaluate_and_publish(&forge, &root, &settings, out).await {
        Ok(Some(report)) => write_report(&env, &report, out),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    ci.report_requests("GitLab", forge.request_count());
    result
}

/// The summary to its file and to the job log, the outputs to the dotenv report.
fn write_report(env: &GitlabEnv, report: &JobReport, out: &mut dyn Write) -> Result<(), Failure> {
    let publish = Publish {
        summary_file: Some(env.summary_file.clone()),
        output_file: None,
    };
    files::append(&publish, report)
        .map_err(|e| Failure::usage(format!("cannot write the job summary or outputs: {e}")))?;
    let _ = write!(out, "\n{}\n", report.markdown);
    std::fs::write(
        &env.dotenv_file,
        dotenv_from_outputs(&files::outputs_text(report)),
    )
    .map_err(|e| Failure::usage(format!("cannot write {}: {e}", env.dotenv_file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::tests::lookup;

    const RUNNER: [(&str, &str); 8] = [
        ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
        ("CI_PROJECT_ID", "42"),
        ("CI_MERGE_REQUEST_IID", "7"),
        ("CODEREVIEW_GITLAB_TOKEN", "glpat-x"),
        ("CI_COMMIT_SHA", "8c5a5a2e4d9b"),
        ("CI_PIPELINE_ID", "1001"),
        ("CI_JOB_URL", "https://gitlab.example.com/acme/app/-/jobs/5"),
        ("CI_PROJECT_DIR", "/builds/acme/app"),
    ];

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        RUNNER.iter().copied().filter(|(k, _)| *k != name).collect()
    }

    #[test]
    fn the_runner_variables_become_settings() {
        let env = GitlabEnv::from_lookup(lookup(&RUNNER)).unwrap();
        let g = &env.gitlab;
        assert_eq!(g.api_url, "https://gitlab.example.com/api/v4");
        assert_eq!(g.project, "42");
        assert_eq!(g.merge_request, 7);
        assert_eq!(g.token.expose(), "glpat-x");
        assert_eq!(g.commit_sha.as_deref(), Some("8c5a5a2e4d9b"));
        assert_eq!(g.diff_base_sha, None);
        assert_eq!(g.pipeline_id, Some(1001));
        assert_eq!(g.merge_pipeline, None);
        assert_eq!(g.ca_file, None);
        assert_eq!(
            env.summary_file,
            PathBuf::from("/builds/acme/app/codereview-summary.md")
        );
        assert_eq!(
            env.dotenv_file,
            PathBuf::from("/builds/acme/app/codereview.env")
        );
        assert_eq!(
            env.target_url.as_deref(),
            Some("https://gitlab.example.com/acme/app/-/jobs/5")
        );
        let mut vars = RUNNER.to_vec();
        vars.extend([
            ("CODEREVIEW_SUMMARY_PATH", "/tmp/s.md"),
            ("CODEREVIEW_DOTENV_PATH", "/tmp/r.env"),
            ("CI_SERVER_TLS_CA_FILE", "/etc/ca.pem"),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", "4b825dc642cb"),
            ("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "4b825dc642cc"),
        ]);
        let env = GitlabEnv::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(env.summary_file, PathBuf::from("/tmp/s.md"));
        assert_eq!(env.dotenv_file, PathBuf::from("/tmp/r.env"));
        assert_eq!(env.gitlab.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(env.gitlab.diff_base_sha.as_deref(), Some("4b825dc642cb"));
        assert_eq!(
            env.gitlab.merge_pipeline,
            Some(MergePipeline {
                merge_sha: "8c5a5a2e4d9b".into(),
                source_sha: "4b825dc642cc".into(),
            })
        );
        // Outside CI_PROJECT_DIR: the current directory.
        let env = GitlabEnv::from_lookup(lookup(&without("CI_PROJECT_DIR"))).unwrap();
        assert_eq!(env.dotenv_file, PathBuf::from("./codereview.env"));
    }

    #[test]
    fn a_missing_variable_says_how_to_fix_the_pipeline() {
        let e = |vars: &[(&str, &str)]| GitlabEnv::from_lookup(lookup(vars)).unwrap_err();
        let token = e(&without("CODEREVIEW_GITLAB_TOKEN"));
        assert_eq!((token.code, token.message.as_str()), (2, MISSING_TOKEN));
        let iid = e(&without("CI_MERGE_REQUEST_IID")).message;
        assert!(iid.contains("not a merge request pipeline"), "{iid}");
        assert!(iid.contains("merge_request_event"), "{iid}");
        let mut bad = without("CI_MERGE_REQUEST_IID");
        bad.push(("CI_MERGE_REQUEST_IID", "seven"));
        assert!(e(&bad).message.contains("is not a number"));
        assert!(
            e(&without("CI_API_V4_URL"))
                .message
                .starts_with("CI_API_V4_URL is not set")
        );
        assert!(
            e(&without("CI_PROJECT_ID"))
                .message
                .starts_with("CI_PROJECT_ID is not set")
        );
    }

    #[test]
    fn merged_results_pipelines_are_recognised_from_the_runner() {
        let (merge, head) = ("4b825dc642cb", "8c5a5a2e4d9b");
        assert_eq!(
            merge_pipeline(Some("merged_result"), Some(merge), Some(head)),
            Some(MergePipeline {
                merge_sha: merge.into(),
                source_sha: head.into()
            })
        );
        assert!(merge_pipeline(Some("merge_train"), Some(merge), Some(head)).is_some());
        // A detached pipeline runs on the head itself; anything missing or not a sha is ignored.
        assert_eq!(
            merge_pipeline(Some("detached"), Some(head), Some(head)),
            None
        );
        assert_eq!(
            merge_pipeline(Some("merged_result"), Some(head), Some(head)),
            None
        );
        assert_eq!(merge_pipeline(None, Some(merge), Some(head)), None);
        assert_eq!(
            merge_pipeline(Some("merged_result"), Some("-x"), Some(head)),
            None
        );
    }

    #[test]
    fn the_report_goes_to_the_summary_the_log_and_the_dotenv_report() {
        let dir = tempfile::tempdir().unwrap();
        let dirname = dir.path().display().to_string();
        let mut vars = RUNNER.to_vec();
        vars.retain(|(k, _)| *k != "CI_PROJECT_DIR");
        vars.push(("CI_PROJECT_DIR", &dirname));
        let env = GitlabEnv::from_lookup(lookup(&vars)).unwrap();
        let report = JobReport {
            markdown: "## codereview: ✅ success".into(),
            outputs: vec![
                ("state".into(), "success".into()),
                ("approved-scopes".into(), "backend".into()),
            ],
        };
        let mut out = Vec::new();
        write_report(&env, &report, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\n## codereview: ✅ success\n"
        );
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert_eq!(read("codereview-summary.md"), "## codereview: ✅ success\n");
        assert_eq!(
            read("codereview.env"),
            "CODEREVIEW_STATE=success\nCODEREVIEW_APPROVED_SCOPES=backend\n"
        );
    }
}
