//! GitLab's answers turned into facts, file diffs and error messages: pure functions of the JSON
//! (and the settings), tested without a server.

use super::GitlabSettings;
use crate::{ForgeError, PrFacts};
use ::gitlab::RestError;
use ::gitlab::api::ApiError;
use codereview_policy::diff::{self, FileDiff, LineKind};
use codereview_policy::review::{CheckRun, PullRequest, Review, ReviewState};
use codereview_policy::unread::Unread;
use http::StatusCode;
use serde_json::Value;

/// The HTTP status and GitLab's message in an API error, when it has them. GitLab often repeats
/// the code in the message (`401 Unauthorized`); that copy is dropped.
pub(super) fn status_and_message(e: &ApiError<RestError>) -> (Option<StatusCode>, String) {
    let (status, message) = raw_status_and_message(e);
    let message = match status {
        Some(s) => message
            .strip_prefix(&format!("{} ", s.as_u16()))
            .map(String::from)
            .unwrap_or(message),
        None => message,
    };
    (status, message)
}

fn raw_status_and_message(e: &ApiError<RestError>) -> (Option<StatusCode>, String) {
    match e {
        ApiError::GitlabWithStatus { status, msg } => (Some(*status), msg.clone()),
        ApiError::GitlabObjectWithStatus { status, obj } => (Some(*status), obj.to_string()),
        ApiError::GitlabUnrecognizedWithStatus { status, obj } => (Some(*status), obj.to_string()),
        ApiError::GitlabService { status, data } => {
            let text = String::from_utf8_lossy(data);
            let text: String = text.trim().chars().take(200).collect();
            (Some(*status), text)
        }
        other => (None, other.to_string()),
    }
}

/// GitLab's own accounts never count as reviewers: project and group access token bots
/// (`project_42_bot_…`, `group_7_bot_…`), the `ghost` placeholder of deleted users, and any
/// `name[bot]` account.
pub fn is_gitlab_bot(username: &str) -> bool {
    let u = username.to_lowercase();
    if u == "ghost" || u.ends_with("[bot]") {
        return true;
    }
    ["project_", "group_"].iter().any(|prefix| {
        u.strip_prefix(prefix).is_some_and(|rest| {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            digits > 0 && rest[digits..].starts_with("_bot")
        })
    })
}

pub(super) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub(super) fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Map a GitLab job to a check run: `producer` = the job's stage, `name` = the job's name.
fn check_run_of(job: &Value) -> CheckRun {
    let status = job.get("status").and_then(Value::as_str).unwrap_or("");
    let conclusion = match status {
        "success" => Some("success"),
        "failed" => Some("failure"),
        "canceled" => Some("cancelled"),
        "skipped" => Some("skipped"),
        _ => None,
    };
    CheckRun {
        app: job
            .get("stage")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        name: job
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        status: if conclusion.is_some() {
            "completed".to_string()
        } else {
            status.to_string()
        },
        conclusion: conclusion.map(String::from),
    }
}

fn iid_of(mr: &Value, settings: &GitlabSettings) -> u64 {
    mr.get("iid")
        .and_then(Value::as_u64)
        .unwrap_or(settings.merge_request)
}

/// The merge commit that a merged results or merge train pipeline of `head` runs on: this job's
/// (when it runs in one for `head`), else the head pipeline's when it runs on the merge request's
/// merge or train ref (GitLab picks the head pipeline for the current head).
fn merge_commit_of_head(
    settings: &GitlabSettings,
    mr: &Value,
    head: &str,
    iid: u64,
) -> Option<String> {
    if let Some(m) = &settings.merge_pipeline
        && m.source_sha == head
    {
        return Some(m.merge_sha.clone());
    }
    let pipeline = mr.get("head_pipeline")?;
    let reference = str_at(pipeline, "/ref")?;
    let merge_refs = [
        format!("refs/merge-requests/{iid}/merge"),
        format!("refs/merge-requests/{iid}/train"),
    ];
    merge_refs
        .contains(&reference.to_string())
        .then(|| str_at(pipeline, "/sha").map(String::from))
        .flatten()
}

/// Turn GitLab's answers into facts. `jobs` are those of the head pipeline.
pub(super) fn parse_facts(
    settings: &GitlabSettings,
    mr: &Value,
    approvals: &Value,
    reviewers: &[Value],
    jobs: &[Value],
) -> Result<PrFacts, ForgeError> {
    let head_sha = str_at(mr, "/sha")
        .map(String::from)
        .or_else(|| {
            settings
                .merge_pipeline
                .as_ref()
                .map(|m| m.source_sha.clone())
        })
        .or_else(|| settings.commit_sha.clone())
        .ok_or_else(|| {
            ForgeError::Api("GitLab reported no head commit (sha) for the merge request".into())
        })?;
    let base_sha = str_at(mr, "/diff_refs/base_sha")
        .map(String::from)
        .or_else(|| settings.diff_base_sha.clone())
        .ok_or_else(|| {
            ForgeError::Api(
                "GitLab reported no base commit (diff_refs.base_sha) for the merge request and CI_MERGE_REQUEST_DIFF_BASE_SHA is not set".into(),
            )
        })?;
    let username = |u: &Value| u.get("username").and_then(Value::as_str).map(String::from);
    let mut reviews = Vec::new();
    for a in array(approvals.get("approved_by").unwrap_or(&Value::Null)) {
        if let Some(user) = a.get("user").and_then(username)
            && !is_gitlab_bot(&user)
        {
            reviews.push(Review {
                user,
                state: ReviewState::Approved,
                commit: None,
                submitted_at: None,
                body: String::new(),
            });
        }
    }
    // GitLab 17+ keeps a review state per reviewer. Approving replaces "requested changes", so a
    // reviewer still in that state requested changes after any approval: list it last.
    for r in reviewers {
        if r.get("state").and_then(Value::as_str) == Some("requested_changes")
            && let Some(user) = r.get("user").and_then(username)
            && !is_gitlab_bot(&user)
        {
            reviews.push(Review {
                user,
                state: ReviewState::ChangesRequested,
                commit: None,
                submitted_at: None,
                body: String::new(),
            });
        }
    }
    // Only jobs that ran on the head commit can waive a scope, or on the merge commit of a
    // merged results / merge train pipeline of that head.
    let merge_sha = merge_commit_of_head(settings, mr, &head_sha, iid_of(mr, settings));
    let check_runs = jobs
        .iter()
        .filter(|j| {
            str_at(j, "/commit/id")
                .or_else(|| str_at(j, "/pipeline/sha"))
                .is_some_and(|sha| sha == head_sha || Some(sha) == merge_sha.as_deref())
        })
        .map(check_run_of)
        .collect();
    Ok(PrFacts {
        pr: PullRequest {
            number: mr
                .get("iid")
                .and_then(Value::as_u64)
                .unwrap_or(settings.merge_request),
            author: str_at(mr, "/author/username").unwrap_or("").to_string(),
            head_sha,
            draft: mr.get("draft").and_then(Value::as_bool).unwrap_or(false)
                || mr
                    .get("work_in_progress")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            labels: array(mr.get("labels").unwrap_or(&Value::Null))
                .iter()
                .filter_map(|l| l.as_str().map(String::from))
                .collect(),
            requested_reviewers: array(mr.get("reviewers").unwrap_or(&Value::Null))
                .iter()
                .filter_map(username)
                .collect(),
            reviews,
            check_runs,
            files: Vec::new(),
            reviewer_facts: Default::default(),
        },
        base_sha,
        base_ref: str_at(mr, "/target_branch").unwrap_or("").to_string(),
        // The sync service reads the merge request's card and pipeline status itself.
        card: None,
    })
}

/// A file of `GET .../merge_requests/:iid/diffs` as a [`FileDiff`].
pub(super) fn file_diff_of(d: &Value) -> FileDiff {
    let new_path = str_at(d, "/new_path").unwrap_or("").to_string();
    let old_path = str_at(d, "/old_path").unwrap_or(&new_path).to_string();
    let patch = d.get("diff").and_then(Value::as_str).unwrap_or("");
    // GitLab sends an empty `diff` for files over its diff limits (`too_large`, `collapsed`)
    // and for some large new files without either flag: only a pure rename has no lines.
    let flag = |key: &str| d.get(key).and_then(Value::as_bool).unwrap_or(false);
    let when_empty = if flag("too_large") || flag("collapsed") {
        Some(Unread::TooLarge)
    } else if flag("renamed_file") && !flag("new_file") && !flag("deleted_file") {
        None
    } else {
        Some(Unread::NoPatch)
    };
    let mut file = diff::api_file_diff(&old_path, &new_path, patch, when_empty);
    let count = |kind: LineKind| {
        file.hunks
            .iter()
            .flat_map(|h| &h.lines)
            .filter(|l| l.kind == kind)
            .count()
    };
    file.additions = count(LineKind::Added);
    file.deletions = count(LineKind::Removed);
    file
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitlab::tests::settings;
    use serde_json::json;

    #[test]
    fn empty_api_diffs_fail_closed_except_pure_renames() {
        let file = |extra: serde_json::Value| {
            let mut d = json!({ "old_path": "a.js", "new_path": "a.js", "diff": "",
                "new_file": false, "renamed_file": false, "deleted_file": false });
            d.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            file_diff_of(&d).unreadable
        };
        assert_eq!(file(json!({ "too_large": true })), Some(Unread::TooLarge));
        assert_eq!(file(json!({ "collapsed": true })), Some(Unread::TooLarge));
        assert_eq!(file(json!({ "new_file": true })), Some(Unread::NoPatch));
        assert_eq!(file(json!({})), Some(Unread::NoPatch));
        assert_eq!(
            file(json!({ "old_path": "b.js", "renamed_file": true })),
            None
        );
        assert_eq!(
            file(json!({ "diff": "Binary files a/a.js and b/a.js differ\n" })),
            Some(Unread::Binary)
        );
        assert_eq!(file(json!({ "diff": "@@ -1 +1 @@\n-a\n+b\n" })), None);
    }

    #[test]
    fn gitlab_bots_are_recognised() {
        for bot in [
            "project_42_bot_3f9a2c",
            "project_7_bot",
            "group_12_bot_ab",
            "ghost",
            "renovate[bot]",
        ] {
            assert!(is_gitlab_bot(bot), "{bot}");
        }
        for human in [
            "alice",
            "project_manager",
            "group_bot",
            "botany",
            "project_x_bot",
        ] {
            assert!(!is_gitlab_bot(human), "{human}");
        }
    }

    #[test]
    fn facts_map_approvals_change_requests_and_head_jobs() {
        let mr = json!({
            "iid": 7, "sha": "head", "draft": false, "work_in_progress": true,
            "author": { "id": 1, "username": "dana" },
            "diff_refs": { "base_sha": "base", "head_sha": "head", "start_sha": "tip" },
            "target_branch": "main",
            "labels": ["backend"],
            "reviewers": [ { "id": 2, "username": "alice" } ]
        });
        let approvals = json!({ "approved_by": [
            { "user": { "id": 2, "username": "alice" } },
            { "user": { "id": 9, "username": "project_42_bot_x" } }
        ] });
        let reviewers = vec![
            json!({ "user": { "id": 3, "username": "bob" }, "state": "requested_changes" }),
            json!({ "user": { "id": 2, "username": "alice" }, "state": "approved" }),
        ];
        let jobs = vec![
            json!({ "name": "safe-update", "stage": "test", "status": "success", "commit": { "id": "head" } }),
            json!({ "name": "lint", "stage": "test", "status": "failed", "commit": { "id": "head" } }),
            json!({ "name": "old", "stage": "test", "status": "success", "commit": { "id": "older" } }),
            json!({ "name": "slow", "stage": "test", "status": "running", "commit": { "id": "head" } }),
        ];
        let facts = parse_facts(&settings(), &mr, &approvals, &reviewers, &jobs).unwrap();
        assert_eq!(facts.base_sha, "base");
        assert_eq!(facts.base_ref, "main");
        assert!(facts.pr.draft, "work_in_progress counts as draft");
        assert_eq!(facts.pr.author, "dana");
        assert_eq!(facts.pr.requested_reviewers, vec!["alice"]);
        let reviews: Vec<(&str, ReviewState)> = facts
            .pr
            .reviews
            .iter()
            .map(|r| (r.user.as_str(), r.state))
            .collect();
        assert_eq!(
            reviews,
            vec![
                ("alice", ReviewState::Approved),
                ("bob", ReviewState::ChangesRequested)
            ]
        );
        let runs: Vec<(&str, &str, Option<&str>)> = facts
            .pr
            .check_runs
            .iter()
            .map(|c| (c.name.as_str(), c.status.as_str(), c.conclusion.as_deref()))
            .collect();
        assert_eq!(
            runs,
            vec![
                ("safe-update", "completed", Some("success")),
                ("lint", "completed", Some("failure")),
                ("slow", "running", None),
            ]
        );
        assert!(facts.pr.check_runs.iter().all(|c| c.app == "test"));
    }

    #[test]
    fn facts_fall_back_to_the_runner_variables() {
        let facts = parse_facts(&settings(), &json!({ "iid": 7 }), &json!({}), &[], &[]).unwrap();
        assert_eq!(facts.pr.head_sha, "head");
        assert_eq!(facts.base_sha, "base-from-env");
        let mut s = settings();
        s.diff_base_sha = None;
        assert!(parse_facts(&s, &json!({ "sha": "x" }), &json!({}), &[], &[]).is_err());
    }

    #[test]
    fn api_diffs_become_file_diffs() {
        let f = file_diff_of(&json!({
            "old_path": "src/old.rs", "new_path": "src/new.rs", "renamed_file": true,
            "diff": "@@ -1,2 +1,2 @@\n-a\n+b\n c\n"
        }));
        assert_eq!(f.path, "src/new.rs");
        assert_eq!(f.old_path.as_deref(), Some("src/old.rs"));
        assert_eq!((f.additions, f.deletions), (1, 1));
        assert_eq!(f.hunks.len(), 1);
        let same = file_diff_of(&json!({ "old_path": "a", "new_path": "a", "diff": "" }));
        assert_eq!(same.old_path, None);
    }

    #[test]
    fn jobs_of_a_merged_results_head_pipeline_can_waive() {
        let job = |sha: &str| json!({ "stage": "test", "name": "safe", "status": "success", "commit": { "id": sha } });
        let mr = |reference: &str| {
            json!({ "iid": 7, "sha": "head", "diff_refs": { "base_sha": "base" },
                    "head_pipeline": { "id": 1, "sha": "merge", "ref": reference } })
        };
        let runs = |mr: &Value| {
            parse_facts(
                &settings(),
                mr,
                &json!({}),
                &[],
                &[job("merge"), job("other")],
            )
            .unwrap()
            .pr
            .check_runs
            .len()
        };
        assert_eq!(runs(&mr("refs/merge-requests/7/merge")), 1);
        assert_eq!(runs(&mr("refs/merge-requests/7/train")), 1);
        // Another merge request's merge ref, or a branch pipeline: not this head's.
        assert_eq!(runs(&mr("refs/merge-requests/8/merge")), 0);
        assert_eq!(runs(&mr("feature")), 0);
    }
}
