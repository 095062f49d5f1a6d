//! Which forge deliveries ask for a summary: a PR opened ready for review, or marked ready.
//! The payload is read here on its own (the sync's parsed events fold "opened", "reopened" and
//! "ready" together, and a summary must not follow a reopen).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{Forge, Source};
use crate::store::PrRef;

/// A PR event that asks for a summary: opened ready for review, or marked ready.
#[derive(Clone, PartialEq, Eq)]
pub struct SummaryTrigger {
    /// The PR.
    pub pr: PrRef,
    /// Its title (sent to the model as context; never logged).
    pub title: String,
}

impl std::fmt::Debug for SummaryTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryTrigger")
            .field("pr", &self.pr)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct GhRepo {
    full_name: String,
}

#[derive(Deserialize)]
struct GhPull {
    number: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct GhPayload {
    #[serde(default)]
    action: String,
    repository: Option<GhRepo>,
    pull_request: Option<GhPull>,
}

#[derive(Deserialize)]
struct GlProject {
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct GlMr {
    iid: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    work_in_progress: bool,
}

#[derive(Deserialize)]
struct GlPayload {
    project: Option<GlProject>,
    object_attributes: Option<GlMr>,
    #[serde(default)]
    changes: Value,
}

/// True when GitLab's `changes` say the MR stopped being a draft.
fn gitlab_marked_ready(changes: &Value) -> bool {
    ["draft", "work_in_progress"].iter().any(|field| {
        let change = &changes[*field];
        change["previous"] == json!(true) && change["current"] == json!(false)
    })
}

/// Whether a forge delivery asks for a summary: GitHub `pull_request` `opened` (not a draft)
/// or `ready_for_review`; GitLab MR `open` (not a draft) or an update from draft to ready.
/// Reopening does not: a PR is summarised once, when it first wants review.
pub fn trigger(source: Source, kind: &str, payload: &[u8]) -> Option<SummaryTrigger> {
    match source {
        Source::GitHub if kind == "pull_request" => {
            let p: GhPayload = serde_json::from_slice(payload).ok()?;
            let pull = p.pull_request?;
            let wanted = matches!(p.action.as_str(), "opened" | "ready_for_review");
            if !wanted || pull.draft || pull.state != "open" {
                return None;
            }
            Some(SummaryTrigger {
                pr: PrRef {
                    forge: Forge::GitHub,
                    repo: p.repository?.full_name.to_ascii_lowercase(),
                    number: pull.number,
                },
                title: pull.title,
            })
        }
        Source::GitLab if kind == "Merge Request Hook" => {
            let p: GlPayload = serde_json::from_slice(payload).ok()?;
            let mr = p.object_attributes?;
            let ready = !mr.draft && !mr.work_in_progress && mr.state == "opened";
            let wanted = match mr.action.as_deref() {
                Some("open") => true,
                Some("update") => gitlab_marked_ready(&p.changes),
                _ => false,
            };
            if !(ready && wanted) {
                return None;
            }
            Some(SummaryTrigger {
                pr: PrRef {
                    forge: Forge::GitLab,
                    repo: p.project?.path_with_namespace.to_ascii_lowercase(),
                    number: mr.iid,
                },
                title: mr.title,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gh(action: &str, draft: bool) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "action": action,
            "repository": {"full_name": "Acme/Web"},
            "pull_request": {"number": 7, "title": "T", "draft": draft, "state": "open"}
        }))
        .unwrap()
    }

    #[test]
    fn triggers() {
        let pr = PrRef {
            forge: Forge::GitHub,
            repo: "acme/web".into(),
            number: 7,
        };
        let t = trigger(Source::GitHub, "pull_request", &gh("opened", false)).unwrap();
        assert_eq!((t.pr, t.title.as_str()), (pr.clone(), "T"));
        assert!(
            trigger(
                Source::GitHub,
                "pull_request",
                &gh("ready_for_review", false)
            )
            .is_some()
        );
        assert!(
            trigger(Source::GitHub, "pull_request", &gh("opened", true)).is_none(),
            "draft"
        );
        for action in ["reopened", "synchronize", "edited", "closed"] {
            assert!(
                trigger(Source::GitHub, "pull_request", &gh(action, false)).is_none(),
                "{action}"
            );
        }
        assert!(trigger(Source::GitHub, "issue_comment", &gh("opened", false)).is_none());
        assert!(trigger(Source::GitHub, "pull_request", b"{").is_none());
        let shown = format!(
            "{:?}",
            trigger(Source::GitHub, "pull_request", &gh("opened", false)).unwrap()
        );
        assert!(
            !shown.contains("\"T\""),
            "Debug leaves the title out: {shown}"
        );

        let gl = |action: &str, draft: bool, changes: Value| {
            serde_json::to_vec(&json!({
                "project": {"path_with_namespace": "Group/App"},
                "object_attributes": {"iid": 3, "title": "G", "state": "opened", "action": action, "draft": draft},
                "changes": changes
            }))
            .unwrap()
        };
        let t = trigger(
            Source::GitLab,
            "Merge Request Hook",
            &gl("open", false, json!({})),
        )
        .unwrap();
        assert_eq!(
            (t.pr.forge, t.pr.repo.as_str(), t.pr.number),
            (Forge::GitLab, "group/app", 3)
        );
        assert!(
            trigger(
                Source::GitLab,
                "Merge Request Hook",
                &gl("open", true, json!({}))
            )
            .is_none()
        );
        let ready = json!({"draft": {"previous": true, "current": false}});
        assert!(
            trigger(
                Source::GitLab,
                "Merge Request Hook",
                &gl("update", false, ready)
            )
            .is_some()
        );
        let wip = json!({"work_in_progress": {"previous": true, "current": false}});
        assert!(
            trigger(
                Source::GitLab,
                "Merge Request Hook",
                &gl("update", false, wip)
            )
            .is_some()
        );
        let title = json!({"title": {"previous": "a", "current": "b"}});
        assert!(
            trigger(
                Source::GitLab,
                "Merge Request Hook",
                &gl("update", false, title)
            )
            .is_none()
        );
        assert!(
            trigger(
                Source::GitLab,
                "Merge Request Hook",
                &gl("reopen", false, json!([]))
            )
            .is_none()
        );
        assert!(trigger(Source::GitLab, "Note Hook", &gl("open", false, json!({}))).is_none());
    }
}
