//! GitLab webhook payloads → [`ForgeEvent`]. Pure: bytes in, typed model out.
//!
//! Hooks handled: `Merge Request Hook` (lifecycle and approvals), `Note Hook` (MR notes: plain,
//! diff and threaded), `Pipeline Hook` (a finished MR pipeline may have changed the
//! `codereview` status). GitLab sends no event when a note is deleted: see
//! [`super::decide::gitlab_deleted_notes`] for how that is reconciled.

use serde::Deserialize;

use super::model::{
    Change, CommentKind, ForgeComment, ForgeEvent, ForgeUser, Location, PrChange, PrFacts, PrState,
};
use crate::domain::Forge;
use crate::store::PrRef;

pub use super::github::ParseError;

/// The `X-Gitlab-Event` names this module understands.
pub const HANDLED_EVENTS: &[&str] = &["Merge Request Hook", "Note Hook", "Pipeline Hook"];

/// `object_attributes.action` values of a Merge Request Hook that change approvals.
pub const APPROVAL_ACTIONS: &[&str] = &["approved", "unapproved", "approval", "unapproval"];

#[derive(Deserialize)]
struct Project {
    path_with_namespace: String,
}

#[derive(Deserialize, Default)]
struct User {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
struct LastCommit {
    id: String,
}

#[derive(Deserialize)]
struct MergeRequestAttrs {
    iid: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    source_branch: String,
    #[serde(default)]
    target_branch: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    work_in_progress: bool,
    last_commit: Option<LastCommit>,
    #[serde(default)]
    source_project_id: Option<i64>,
    #[serde(default)]
    target_project_id: Option<i64>,
}

#[derive(Deserialize)]
struct Position {
    new_path: Option<String>,
    old_path: Option<String>,
    new_line: Option<u64>,
    old_line: Option<u64>,
}

#[derive(Deserialize)]
struct NoteAttrs {
    id: i64,
    #[serde(default)]
    note: String,
    #[serde(default)]
    noteable_type: String,
    discussion_id: Option<String>,
    #[serde(rename = "type")]
    note_type: Option<String>,
    position: Option<Position>,
    #[serde(default)]
    url: String,
    #[serde(default)]
    system: bool,
    action: Option<String>,
}

#[derive(Deserialize)]
struct MergeRequestRef {
    iid: i64,
}

#[derive(Deserialize)]
struct PipelineAttrs {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct Payload {
    project: Option<Project>,
    #[serde(default)]
    user: Option<User>,
    object_attributes: Option<serde_json::Value>,
    merge_request: Option<MergeRequestRef>,
}

fn shape_error(event: &str, e: &serde_json::Error) -> ParseError {
    ParseError(format!(
        "{event} payload does not have the expected shape (line {}, column {})",
        e.line(),
        e.column()
    ))
}

fn pr_ref(repo: &str, iid: i64) -> PrRef {
    PrRef {
        forge: Forge::GitLab,
        repo: repo.to_ascii_lowercase(),
        number: iid,
    }
}

/// Parses one delivery. `event` is `X-Gitlab-Event`.
pub fn parse(event: &str, payload: &[u8]) -> Result<ForgeEvent, ParseError> {
    if !HANDLED_EVENTS.contains(&event) {
        return Ok(ForgeEvent::Unsupported(format!("GitLab event {event}")));
    }
    let p: Payload = serde_json::from_slice(payload).map_err(|e| shape_error(event, &e))?;
    let repo = p
        .project
        .ok_or_else(|| ParseError(format!("{event} payload has no project")))?
        .path_with_namespace;
    let attrs = p
        .object_attributes
        .ok_or_else(|| ParseError(format!("{event} payload has no object_attributes")))?;
    match event {
        "Merge Request Hook" => {
            let mr: MergeRequestAttrs =
                serde_json::from_value(attrs).map_err(|e| shape_error(event, &e))?;
            let pr = pr_ref(&repo, mr.iid);
            let action = mr.action.clone().unwrap_or_default();
            if APPROVAL_ACTIONS.contains(&action.as_str()) {
                let from_fork = matches!((mr.source_project_id, mr.target_project_id),
                    (Some(source), Some(target)) if source != target);
                return Ok(if from_fork {
                    ForgeEvent::ForkApproval { pr }
                } else {
                    ForgeEvent::Approval { pr }
                });
            }
            let change = match action.as_str() {
                "open" | "reopen" => PrChange::Opened,
                "update" | "close" | "merge" => PrChange::Updated,
                other => PrChange::Irrelevant(format!("merge request {other}")),
            };
            let state = match mr.state.as_str() {
                "merged" => PrState::Merged,
                "closed" | "locked" => PrState::Closed,
                _ if mr.draft || mr.work_in_progress => PrState::Draft,
                _ => PrState::Open,
            };
            let facts = PrFacts {
                number: mr.iid,
                title: mr.title,
                // The hook's `user` performed the action; for "open" that is the author.
                author: p.user.map(|u| u.username).unwrap_or_default(),
                url: mr.url,
                base: mr.target_branch,
                head: mr.source_branch,
                head_sha: mr.last_commit.map(|c| c.id),
                additions: None,
                deletions: None,
                files: None,
                state,
            };
            Ok(ForgeEvent::PullRequest { pr, change, facts })
        }
        "Note Hook" => {
            let note: NoteAttrs =
                serde_json::from_value(attrs).map_err(|e| shape_error(event, &e))?;
            if note.noteable_type != "MergeRequest" {
                return Ok(ForgeEvent::Unsupported(format!(
                    "note on a {}",
                    if note.noteable_type.is_empty() {
                        "non-merge-request object"
                    } else {
                        &note.noteable_type
                    }
                )));
            }
            let iid = p
                .merge_request
                .ok_or_else(|| ParseError("Note Hook payload has no merge_request".into()))?
                .iid;
            let change = match note.action.as_deref() {
                Some("create") => Change::Created,
                Some("update") => Change::Edited,
                _ => Change::Upsert,
            };
            let threaded = matches!(
                note.note_type.as_deref(),
                Some("DiffNote") | Some("DiscussionNote")
            );
            let location = note.position.and_then(|pos| {
                let path = pos.new_path.or(pos.old_path)?;
                Some(Location {
                    path,
                    line: pos.new_line.or(pos.old_line),
                })
            });
            let user = p.user.unwrap_or_default();
            Ok(ForgeEvent::Comment {
                pr: pr_ref(&repo, iid),
                change,
                comment: ForgeComment {
                    kind: CommentKind::Note,
                    id: note.id.to_string(),
                    author: ForgeUser {
                        login: user.username,
                        id: user.id,
                        is_bot: false,
                    },
                    body: note.note,
                    url: note.url,
                    via_app: None,
                    location,
                    thread_root: if threaded { note.discussion_id } else { None },
                    in_reply_to: None,
                    verdict: None,
                    system: note.system,
                },
            })
        }
        "Pipeline Hook" => {
            let pipeline: PipelineAttrs =
                serde_json::from_value(attrs).map_err(|e| shape_error(event, &e))?;
            let Some(mr) = p.merge_request else {
                return Ok(ForgeEvent::Unsupported(
                    "pipeline not for a merge request".into(),
                ));
            };
            if !matches!(
                pipeline.status.as_str(),
                "success" | "failed" | "canceled" | "skipped"
            ) {
                return Ok(ForgeEvent::Unsupported(format!(
                    "pipeline still {}",
                    pipeline.status
                )));
            }
            Ok(ForgeEvent::Pipeline {
                pr: pr_ref(&repo, mr.iid),
            })
        }
        _ => Ok(ForgeEvent::Unsupported(format!("GitLab event {event}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn merge_request_hook_actions() {
        let mr = |action: &str, state: &str| {
            bytes(json!({
                "object_kind": "merge_request",
                "user": {"id": 1, "name": "Ada", "username": "ada"},
                "project": {"id": 7, "path_with_namespace": "Group/Sub/App"},
                "object_attributes": {
                    "iid": 3, "title": "Add cache", "state": state, "action": action,
                    "source_branch": "cache", "target_branch": "main",
                    "url": "https://gitlab.example.com/group/sub/app/-/merge_requests/3",
                    "draft": false, "last_commit": {"id": "abc123"}
                }
            }))
        };
        let ev = parse("Merge Request Hook", &mr("open", "opened")).unwrap();
        let ForgeEvent::PullRequest { pr, change, facts } = ev else {
            panic!()
        };
        assert_eq!(pr, pr_ref("group/sub/app", 3));
        assert_eq!(change, PrChange::Opened);
        assert_eq!(facts.head_sha.as_deref(), Some("abc123"));
        assert_eq!((facts.author.as_str(), facts.state), ("ada", PrState::Open));
        for action in APPROVAL_ACTIONS {
            assert_eq!(
                parse("Merge Request Hook", &mr(action, "opened")).unwrap(),
                ForgeEvent::Approval {
                    pr: pr_ref("group/sub/app", 3)
                }
            );
        }
        let ev = parse("Merge Request Hook", &mr("merge", "merged")).unwrap();
        assert!(matches!(
            ev,
            ForgeEvent::PullRequest { change: PrChange::Updated, ref facts, .. } if facts.state == PrState::Merged
        ));
    }

    #[test]
    fn note_hook_kinds() {
        let note = |kind: Option<&str>, action: Option<&str>| {
            bytes(json!({
                "object_kind": "note",
                "user": {"id": 5, "username": "bob"},
                "project": {"path_with_namespace": "group/app"},
                "merge_request": {"iid": 9},
                "object_attributes": {
                    "id": 1244, "note": "body", "noteable_type": "MergeRequest",
                    "discussion_id": "d1", "type": kind, "action": action,
                    "position": {"new_path": "src/lib.rs", "new_line": 12, "old_path": "src/lib.rs", "old_line": null},
                    "url": "https://gitlab.example.com/group/app/-/merge_requests/9#note_1244"
                }
            }))
        };
        let ForgeEvent::Comment {
            pr,
            change,
            comment,
        } = parse("Note Hook", &note(Some("DiffNote"), Some("create"))).unwrap()
        else {
            panic!()
        };
        assert_eq!(pr, pr_ref("group/app", 9));
        assert_eq!(change, Change::Created);
        assert_eq!(comment.thread_root.as_deref(), Some("d1"));
        assert_eq!(comment.location.unwrap().to_string(), "src/lib.rs:12");
        let ForgeEvent::Comment {
            change, comment, ..
        } = parse("Note Hook", &note(None, None)).unwrap()
        else {
            panic!()
        };
        assert_eq!(change, Change::Upsert);
        assert_eq!(comment.thread_root, None, "plain notes are not threads");
        let issue_note = bytes(json!({
            "project": {"path_with_namespace": "group/app"},
            "object_attributes": {"id": 1, "noteable_type": "Issue"}
        }));
        assert!(matches!(
            parse("Note Hook", &issue_note).unwrap(),
            ForgeEvent::Unsupported(_)
        ));
    }

    #[test]
    fn pipeline_hook_only_when_finished() {
        let pipeline = |status: &str| {
            bytes(json!({
                "project": {"path_with_namespace": "group/app"},
                "merge_request": {"iid": 2},
                "object_attributes": {"status": status}
            }))
        };
        assert_eq!(
            parse("Pipeline Hook", &pipeline("success")).unwrap(),
            ForgeEvent::Pipeline {
                pr: pr_ref("group/app", 2)
            }
        );
        assert!(matches!(
            parse("Pipeline Hook", &pipeline("running")).unwrap(),
            ForgeEvent::Unsupported(_)
        ));
        assert!(matches!(
            parse("Push Hook", b"{}").unwrap(),
            ForgeEvent::Unsupported(_)
        ));
    }
}
