//! GitHub webhook payloads → [`ForgeEvent`]. Pure: bytes in, typed model out.
//!
//! Events handled (and subscribed in `github-app-manifest.json`, checked by a test):
//! `pull_request`, `issue_comment`, `pull_request_review`, `pull_request_review_comment`,
//! `status`, and `check_run` / `check_suite` (completed: the live review state is refreshed).
//! Anything else parses to [`ForgeEvent::Unsupported`].

use serde::Deserialize;

use super::model::{
    Change, CommentKind, ForgeComment, ForgeEvent, ForgeUser, Location, PrChange, PrFacts, PrState,
    ReviewStatus, ReviewVerdict,
};
use crate::domain::Forge;
use crate::store::PrRef;

/// The `X-GitHub-Event` names this module understands.
pub const HANDLED_EVENTS: &[&str] = &[
    "check_run",
    "check_suite",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "status",
];

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize, Default)]
struct User {
    #[serde(default)]
    login: String,
    id: Option<i64>,
    #[serde(rename = "type", default)]
    kind: String,
}

impl From<User> for ForgeUser {
    fn from(u: User) -> Self {
        ForgeUser {
            is_bot: u.kind == "Bot",
            login: u.login,
            id: u.id,
        }
    }
}

#[derive(Deserialize)]
struct BranchRef {
    #[serde(rename = "ref")]
    name: String,
    sha: Option<String>,
}

/// A pull request as GitHub's webhook payloads and `GET /repos/{o}/{r}/pulls/{n}` show it.
#[derive(Deserialize)]
pub struct PullRequest {
    number: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    html_url: String,
    head: BranchRef,
    base: BranchRef,
    additions: Option<u64>,
    deletions: Option<u64>,
    changed_files: Option<u64>,
    #[serde(default)]
    state: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    merged: bool,
    merged_at: Option<String>,
}

impl PullRequest {
    /// The facts a parent message shows.
    pub fn facts(self) -> PrFacts {
        let state = if self.merged || self.merged_at.is_some() {
            PrState::Merged
        } else if self.state == "closed" {
            PrState::Closed
        } else if self.draft {
            PrState::Draft
        } else {
            PrState::Open
        };
        PrFacts {
            number: self.number,
            title: self.title,
            author: self.user.map(|u| u.login).unwrap_or_default(),
            url: self.html_url,
            base: self.base.name,
            head: self.head.name,
            head_sha: self.head.sha,
            additions: self.additions,
            deletions: self.deletions,
            files: self.changed_files,
            state,
        }
    }
}

#[derive(Deserialize)]
struct App {
    id: i64,
}

#[derive(Deserialize)]
struct Comment {
    id: i64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    html_url: String,
    performed_via_github_app: Option<App>,
    // Review comments only.
    path: Option<String>,
    line: Option<u64>,
    original_line: Option<u64>,
    in_reply_to_id: Option<i64>,
}

#[derive(Deserialize)]
struct Review {
    id: i64,
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct Issue {
    number: i64,
    pull_request: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    action: String,
    repository: Option<Repository>,
    pull_request: Option<PullRequest>,
    issue: Option<Issue>,
    comment: Option<Comment>,
    review: Option<Review>,
    check_run: Option<Check>,
    check_suite: Option<Check>,
    // status
    sha: Option<String>,
    context: Option<String>,
    state: Option<String>,
    description: Option<String>,
}

/// A check run or check suite: its commit and the pull requests it ran for.
#[derive(Deserialize)]
struct Check {
    head_sha: String,
    #[serde(default)]
    pull_requests: Vec<CheckPr>,
}

#[derive(Deserialize)]
struct CheckPr {
    number: i64,
}

/// Why a payload could not be read: a position, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn missing(what: &str, event: &str) -> ParseError {
    ParseError(format!("{event} payload has no {what}"))
}

fn pr_ref(repo: &str, number: i64) -> PrRef {
    PrRef {
        forge: Forge::GitHub,
        repo: repo.to_ascii_lowercase(),
        number,
    }
}

fn change(action: &str) -> Option<Change> {
    match action {
        "created" | "submitted" => Some(Change::Created),
        "edited" | "dismissed" => Some(Change::Edited),
        "deleted" => Some(Change::Deleted),
        _ => None,
    }
}

/// Parses one delivery. `event` is `X-GitHub-Event`.
pub fn parse(event: &str, payload: &[u8]) -> Result<ForgeEvent, ParseError> {
    if !HANDLED_EVENTS.contains(&event) {
        return Ok(ForgeEvent::Unsupported(format!("GitHub event {event}")));
    }
    let p: Payload = serde_json::from_slice(payload).map_err(|e| {
        ParseError(format!(
            "{event} payload does not have the expected shape (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let repo = p
        .repository
        .ok_or_else(|| missing("repository", event))?
        .full_name;
    match event {
        "pull_request" => {
            let pr = p
                .pull_request
                .ok_or_else(|| missing("pull_request", event))?;
            let change = match p.action.as_str() {
                "opened" | "reopened" | "ready_for_review" => PrChange::Opened,
                "closed" | "edited" | "converted_to_draft" | "synchronize" => PrChange::Updated,
                "labeled" | "unlabeled" | "review_requested" | "review_request_removed" => {
                    PrChange::ReviewFacts(format!("pull_request {}", p.action))
                }
                other => PrChange::Irrelevant(format!("pull_request {other}")),
            };
            Ok(ForgeEvent::PullRequest {
                pr: pr_ref(&repo, pr.number),
                change,
                facts: pr.facts(),
            })
        }
        "issue_comment" => {
            let issue = p.issue.ok_or_else(|| missing("issue", event))?;
            if issue.pull_request.is_none() {
                return Ok(ForgeEvent::Unsupported(
                    "comment on an issue, not a pull request".into(),
                ));
            }
            let Some(change) = change(&p.action) else {
                return Ok(ForgeEvent::Unsupported(format!(
                    "issue_comment {}",
                    p.action
                )));
            };
            let c = p.comment.ok_or_else(|| missing("comment", event))?;
            Ok(ForgeEvent::Comment {
                pr: pr_ref(&repo, issue.number),
                change,
                comment: ForgeComment {
                    kind: CommentKind::IssueComment,
                    id: c.id.to_string(),
                    author: c.user.unwrap_or_default().into(),
                    body: c.body.unwrap_or_default(),
                    url: c.html_url,
                    via_app: c.performed_via_github_app.map(|a| a.id),
                    location: None,
                    thread_root: None,
                    in_reply_to: None,
                    verdict: None,
                    system: false,
                },
            })
        }
        "pull_request_review_comment" => {
            let pr = p
                .pull_request
                .ok_or_else(|| missing("pull_request", event))?;
            let Some(change) = change(&p.action) else {
                return Ok(ForgeEvent::Unsupported(format!(
                    "pull_request_review_comment {}",
                    p.action
                )));
            };
            let c = p.comment.ok_or_else(|| missing("comment", event))?;
            let root = c.in_reply_to_id.unwrap_or(c.id).to_string();
            Ok(ForgeEvent::Comment {
                pr: pr_ref(&repo, pr.number),
                change,
                comment: ForgeComment {
                    kind: CommentKind::ReviewComment,
                    id: c.id.to_string(),
                    author: c.user.unwrap_or_default().into(),
                    body: c.body.unwrap_or_default(),
                    url: c.html_url,
                    via_app: c.performed_via_github_app.map(|a| a.id),
                    location: c.path.map(|path| Location {
                        path,
                        line: c.line.or(c.original_line),
                    }),
                    thread_root: Some(root),
                    in_reply_to: c.in_reply_to_id.map(|id| id.to_string()),
                    verdict: None,
                    system: false,
                },
            })
        }
        "pull_request_review" => {
            let pr = p
                .pull_request
                .ok_or_else(|| missing("pull_request", event))?;
            let Some(change) = change(&p.action) else {
                return Ok(ForgeEvent::Unsupported(format!(
                    "pull_request_review {}",
                    p.action
                )));
            };
            let r = p.review.ok_or_else(|| missing("review", event))?;
            let verdict = match (p.action.as_str(), r.state.to_ascii_lowercase().as_str()) {
                ("dismissed", _) | (_, "dismissed") => ReviewVerdict::Dismissed,
                (_, "approved") => ReviewVerdict::Approved,
                (_, "changes_requested") => ReviewVerdict::ChangesRequested,
                _ => ReviewVerdict::Commented,
            };
            Ok(ForgeEvent::Comment {
                pr: pr_ref(&repo, pr.number),
                change,
                comment: ForgeComment {
                    kind: CommentKind::Review,
                    id: r.id.to_string(),
                    author: r.user.unwrap_or_default().into(),
                    body: r.body.unwrap_or_default(),
                    url: r.html_url,
                    via_app: None,
                    location: None,
                    thread_root: None,
                    in_reply_to: None,
                    verdict: Some(verdict),
                    system: false,
                },
            })
        }
        "status" => Ok(ForgeEvent::Status {
            forge: Forge::GitHub,
            repo: repo.to_ascii_lowercase(),
            sha: p.sha.ok_or_else(|| missing("sha", event))?,
            context: p.context.unwrap_or_default(),
            status: ReviewStatus {
                state: p.state.unwrap_or_default(),
                description: p.description,
            },
        }),
        "check_run" | "check_suite" => {
            let check = if event == "check_run" {
                p.check_run
            } else {
                p.check_suite
            }
            .ok_or_else(|| missing(event, event))?;
            if p.action != "completed" {
                return Ok(ForgeEvent::Unsupported(format!("{event} {}", p.action)));
            }
            Ok(ForgeEvent::Checks {
                forge: Forge::GitHub,
                repo: repo.to_ascii_lowercase(),
                sha: check.head_sha,
                numbers: check.pull_requests.iter().map(|pr| pr.number).collect(),
                what: format!("{event} completed"),
            })
        }
        _ => Ok(ForgeEvent::Unsupported(format!("GitHub event {event}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/github-webhooks")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn finished_checks_name_their_commit_and_pull_requests() {
        for event in ["check_run", "check_suite"] {
            let ev = parse(event, &fixture(&format!("{event}.completed.payload.json"))).unwrap();
            assert_eq!(
                ev,
                ForgeEvent::Checks {
                    forge: Forge::GitHub,
                    repo: "codertocat/hello-world".into(),
                    sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821".into(),
                    numbers: vec![2],
                    what: format!("{event} completed"),
                }
            );
        }
        let created = parse("check_run", &fixture("check_run.created.payload.json")).unwrap();
        assert!(matches!(created, ForgeEvent::Unsupported(_)), "{created:?}");
    }

    #[test]
    fn pull_request_events() {
        let ev = parse("pull_request", &fixture("pull_request.opened.payload.json")).unwrap();
        let ForgeEvent::PullRequest { pr, change, facts } = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(pr, pr_ref("codertocat/hello-world", 2));
        assert_eq!(change, PrChange::Opened);
        assert_eq!(
            (
                facts.base.as_str(),
                facts.head.as_str(),
                facts.author.as_str()
            ),
            ("master", "changes", "Codertocat")
        );
        assert_eq!(
            (facts.additions, facts.deletions, facts.files, facts.state),
            (Some(1), Some(1), Some(1), PrState::Open)
        );
        for (name, expected) in [
            ("pull_request.closed.payload.json", PrChange::Updated),
            ("pull_request.reopened.payload.json", PrChange::Opened),
            (
                "pull_request.ready_for_review.payload.json",
                PrChange::Opened,
            ),
            (
                "pull_request.converted_to_draft.payload.json",
                PrChange::Updated,
            ),
            ("pull_request.synchronize.payload.json", PrChange::Updated),
        ] {
            match parse("pull_request", &fixture(name)).unwrap() {
                ForgeEvent::PullRequest { change, .. } => assert_eq!(change, expected, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // Labels and requested reviewers are read by the review rules: shown with the live
        // review state; assignees are not.
        for name in [
            "pull_request.unlabeled.payload.json",
            "pull_request.review_requested.payload.json",
            "pull_request.review_request_removed.payload.json",
        ] {
            assert!(
                matches!(
                    parse("pull_request", &fixture(name)).unwrap(),
                    ForgeEvent::PullRequest {
                        change: PrChange::ReviewFacts(_),
                        ..
                    }
                ),
                "{name}"
            );
        }
        assert!(matches!(
            parse(
                "pull_request",
                &fixture("pull_request.assigned.payload.json")
            )
            .unwrap(),
            ForgeEvent::PullRequest {
                change: PrChange::Irrelevant(_),
                ..
            }
        ));
        assert!(matches!(
            parse(
                "pull_request",
                &fixture("pull_request.labeled.payload.json")
            )
            .unwrap(),
            ForgeEvent::PullRequest {
                change: PrChange::ReviewFacts(_),
                ..
            }
        ));
    }

    #[test]
    fn comments_reviews_and_review_comments() {
        // The fixture comments on an issue: not ours to mirror.
        assert!(matches!(
            parse(
                "issue_comment",
                &fixture("issue_comment.created.payload.json")
            )
            .unwrap(),
            ForgeEvent::Unsupported(_)
        ));
        let mut v: serde_json::Value =
            serde_json::from_slice(&fixture("issue_comment.edited.payload.json")).unwrap();
        v["issue"]["pull_request"] = serde_json::json!({"url": "x"});
        let ev = parse("issue_comment", &serde_json::to_vec(&v).unwrap()).unwrap();
        let ForgeEvent::Comment {
            change, comment, ..
        } = ev
        else {
            panic!()
        };
        assert_eq!(change, Change::Edited);
        assert_eq!(
            (comment.kind, comment.id.as_str()),
            (CommentKind::IssueComment, "492700400")
        );

        let ev = parse(
            "pull_request_review_comment",
            &fixture("pull_request_review_comment.created.payload.json"),
        )
        .unwrap();
        let ForgeEvent::Comment { comment, .. } = ev else {
            panic!()
        };
        assert_eq!(comment.kind, CommentKind::ReviewComment);
        assert_eq!(comment.thread_root.as_deref(), Some("284312630"));
        assert_eq!(comment.in_reply_to, None);
        assert_eq!(comment.location.unwrap().to_string(), "README.md:265");

        let ev = parse(
            "pull_request_review",
            &fixture("pull_request_review.submitted.payload.json"),
        )
        .unwrap();
        let ForgeEvent::Comment {
            change, comment, ..
        } = ev
        else {
            panic!()
        };
        assert_eq!(change, Change::Created);
        assert_eq!(comment.verdict, Some(ReviewVerdict::Commented));
        assert_eq!(comment.body, "");
        let ev = parse(
            "pull_request_review",
            &fixture("pull_request_review.dismissed.payload.json"),
        )
        .unwrap();
        let ForgeEvent::Comment { comment, .. } = ev else {
            panic!()
        };
        assert_eq!(comment.verdict, Some(ReviewVerdict::Dismissed));
    }

    #[test]
    fn unknown_events_and_bad_shapes() {
        assert!(matches!(
            parse("push", b"{}").unwrap(),
            ForgeEvent::Unsupported(_)
        ));
        let err = parse(
            "pull_request",
            br#"{"repository": {"full_name": "secret text"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("secret"), "{err}");
        let err = parse("pull_request", br#"{"action": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
