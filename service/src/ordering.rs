//! The per-pull-request ordering key of a delivery.
//!
//! The queue claims only the oldest queued event of each key, so two events about one pull
//! request (opened, then a comment) are never handled out of order — not by concurrent
//! workers, not by replicas, and not when the first one waits out a provider outage. Events
//! without a key (a GitHub `status`, a top-level Slack message) are not ordered.
//!
//! Pure and tolerant: a payload this does not understand gets no key (it is still queued and
//! handled; the handler reports shape errors).

use serde_json::Value;

use crate::domain::Source;

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_i64()
}

/// `github:owner/repo#N`, `gitlab:group/project#IID`, or `slack:TEAM/CHANNEL/THREAD_TS`; `None`
/// when the event names no pull request or thread.
pub fn order_key(source: Source, payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    match source {
        Source::GitHub => {
            let repo = str_at(&v, &["repository", "full_name"])?.to_ascii_lowercase();
            let number = int_at(&v, &["pull_request", "number"])
                .or_else(|| int_at(&v, &["issue", "number"]))?;
            Some(format!("github:{repo}#{number}"))
        }
        Source::GitLab => {
            let project = str_at(&v, &["project", "path_with_namespace"])?.to_ascii_lowercase();
            let iid = match str_at(&v, &["object_kind"])? {
                "merge_request" => int_at(&v, &["object_attributes", "iid"])?,
                "note" => int_at(&v, &["merge_request", "iid"])?,
                _ => return None,
            };
            Some(format!("gitlab:{project}#{iid}"))
        }
        Source::Slack => {
            let team = str_at(&v, &["team_id"])?;
            let event = v.get("event")?;
            let channel = str_at(event, &["channel"])?;
            let thread = str_at(event, &["thread_ts"])
                .or_else(|| str_at(event, &["message", "thread_ts"]))
                .or_else(|| str_at(event, &["previous_message", "thread_ts"]))?;
            Some(format!("slack:{team}/{channel}/{thread}"))
        }
        // A timer carries the key of what it is about (a reminder: its pull request).
        Source::Timer => str_at(&v, &["order_key"]).map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(source: Source, v: Value) -> Option<String> {
        order_key(source, &serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn github_events_are_keyed_by_pull_request() {
        let repo = json!({"full_name": "Codertocat/Hello-World"});
        assert_eq!(
            key(
                Source::GitHub,
                json!({"repository": repo, "pull_request": {"number": 2}})
            ),
            Some("github:codertocat/hello-world#2".into())
        );
        assert_eq!(
            key(
                Source::GitHub,
                json!({"repository": repo, "issue": {"number": 2}})
            ),
            Some("github:codertocat/hello-world#2".into()),
            "issue_comment names the PR as an issue"
        );
        assert_eq!(
            key(Source::GitHub, json!({"repository": repo, "sha": "abc"})),
            None
        );
    }

    #[test]
    fn gitlab_merge_requests_and_notes_share_a_key() {
        let project = json!({"path_with_namespace": "Group/App"});
        let mr = json!({"object_kind": "merge_request", "project": project,
                        "object_attributes": {"iid": 7}});
        let note = json!({"object_kind": "note", "project": project,
                          "merge_request": {"iid": 7}});
        assert_eq!(key(Source::GitLab, mr), Some("gitlab:group/app#7".into()));
        assert_eq!(key(Source::GitLab, note), Some("gitlab:group/app#7".into()));
        assert_eq!(
            key(
                Source::GitLab,
                json!({"object_kind": "push", "project": project})
            ),
            None
        );
    }

    #[test]
    fn slack_thread_messages_are_keyed_by_thread() {
        let reply = json!({"team_id": "T1", "event": {"type": "message", "channel": "C1",
                           "ts": "2.0", "thread_ts": "1.0"}});
        let edit = json!({"team_id": "T1", "event": {"type": "message", "channel": "C1",
                          "subtype": "message_changed", "message": {"thread_ts": "1.0"}}});
        let top =
            json!({"team_id": "T1", "event": {"type": "message", "channel": "C1", "ts": "3.0"}});
        assert_eq!(key(Source::Slack, reply), Some("slack:T1/C1/1.0".into()));
        assert_eq!(key(Source::Slack, edit), Some("slack:T1/C1/1.0".into()));
        assert_eq!(key(Source::Slack, top), None);
        assert_eq!(order_key(Source::Slack, b"not json"), None);
    }
}
