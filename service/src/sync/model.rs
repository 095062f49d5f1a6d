//! The small typed model the sync decisions work on. Webhook payloads are parsed into these
//! once ([`super::github`], [`super::gitlab`], [`super::slack`]); everything after that —
//! deciding, rendering, executing — sees only these types, never raw JSON.

use crate::domain::Forge;
use crate::store::{PrRef, SlackRef};

/// A forge comment object that can be mirrored as a Slack message. The name is what the
/// `comment_kind` column stores and decides which API edits or deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommentKind {
    /// GitHub PR conversation comment (`/issues/comments/{id}`).
    IssueComment,
    /// GitHub review (approve / request changes / comment) with its summary body.
    Review,
    /// GitHub review comment on a diff line (`/pulls/comments/{id}`).
    ReviewComment,
    /// GitLab MR note: plain, diff note or threaded discussion note (`/notes/{id}`).
    Note,
}

impl CommentKind {
    /// Stable name for the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CommentKind::IssueComment => "issue_comment",
            CommentKind::Review => "review",
            CommentKind::ReviewComment => "review_comment",
            CommentKind::Note => "note",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "issue_comment" => CommentKind::IssueComment,
            "review" => CommentKind::Review,
            "review_comment" => CommentKind::ReviewComment,
            "note" => CommentKind::Note,
            _ => return None,
        })
    }
}

/// A forge account as a payload describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForgeUser {
    /// Login / username.
    pub login: String,
    /// Numeric id, when the payload has it.
    pub id: Option<i64>,
    /// GitHub `type == "Bot"`, GitLab `bot == true`.
    pub is_bot: bool,
}

/// Where a pull/merge request stands, as shown on the parent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    /// Open and ready for review.
    Open,
    /// Open as a draft.
    Draft,
    /// Merged.
    Merged,
    /// Closed without merging.
    Closed,
}

/// The facts a parent message shows. Read from the opening event's payload for the first post
/// and from the forge API for every update (never from the database: nothing but ids is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrFacts {
    /// PR number / MR iid.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Author's login.
    pub author: String,
    /// Web URL of the PR.
    pub url: String,
    /// Target branch.
    pub base: String,
    /// Source branch.
    pub head: String,
    /// Head commit (for the review status).
    pub head_sha: Option<String>,
    /// Added lines (GitHub only).
    pub additions: Option<u64>,
    /// Removed lines (GitHub only).
    pub deletions: Option<u64>,
    /// Changed files.
    pub files: Option<u64>,
    /// Open, draft, merged or closed.
    pub state: PrState,
}

/// The latest `codereview` commit status on the head commit: its state and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewStatus {
    /// `success`, `pending`, `failure`, `error` (GitLab `running`/`failed`/`canceled` are
    /// normalised by the client).
    pub state: String,
    /// The status description (e.g. "2 scopes approved, 1 pending: backend needs 1 more").
    pub description: Option<String>,
}

/// What happened to a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// New comment.
    Created,
    /// Body changed.
    Edited,
    /// Removed.
    Deleted,
    /// Created or edited — the payload does not say (old GitLab versions): edit if linked,
    /// else create.
    Upsert,
}

/// A review's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewVerdict {
    /// Approved.
    Approved,
    /// Changes requested.
    ChangesRequested,
    /// Comment-only review.
    Commented,
    /// A review that was dismissed.
    Dismissed,
}

/// A diff position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File path.
    pub path: String,
    /// Line in the new (or, failing that, old) file.
    pub line: Option<u64>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// A forge comment, review or note, as one event describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeComment {
    /// What kind of object it is.
    pub kind: CommentKind,
    /// The forge's id for it.
    pub id: String,
    /// Who wrote it.
    pub author: ForgeUser,
    /// Markdown body (empty when there is none).
    pub body: String,
    /// Web link to it.
    pub url: String,
    /// GitHub `performed_via_github_app.id`.
    pub via_app: Option<i64>,
    /// Diff position for review comments and diff notes.
    pub location: Option<Location>,
    /// The review thread it belongs to: GitHub root review comment id (itself for a root),
    /// GitLab discussion id for diff and threaded notes.
    pub thread_root: Option<String>,
    /// GitHub `in_reply_to_id`: a reply whose root is known from the payload alone. GitLab
    /// notes leave this `None`; whether they are replies is decided from the links.
    pub in_reply_to: Option<String>,
    /// A review's verdict.
    pub verdict: Option<ReviewVerdict>,
    /// GitLab system note ("added 1 commit"): never mirrored.
    pub system: bool,
}

/// What a pull/merge request event means for the parent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrChange {
    /// Opened, reopened or marked ready: the PR wants a thread (posted if missing, else
    /// updated).
    Opened,
    /// Something shown on the parent changed (title, draft, size, closed, merged).
    Updated,
    /// Something the review rules read changed (labels, requested reviewers): shown on the
    /// parent only with the live review state on.
    ReviewFacts(String),
    /// Not shown on the parent (assignees, ...).
    Irrelevant(String),
}

/// A forge webhook event, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgeEvent {
    /// PR / MR lifecycle.
    PullRequest {
        /// The PR.
        pr: PrRef,
        /// What changed.
        change: PrChange,
        /// Facts from the payload (used for the first post only).
        facts: PrFacts,
    },
    /// A comment, review, review comment or note.
    Comment {
        /// The PR it is on.
        pr: PrRef,
        /// What happened.
        change: Change,
        /// The comment.
        comment: ForgeComment,
    },
    /// A commit status (GitHub `status` event).
    Status {
        /// Forge.
        forge: Forge,
        /// Lower-case repository path.
        repo: String,
        /// Commit.
        sha: String,
        /// Status context / name.
        context: String,
        /// State and description.
        status: ReviewStatus,
    },
    /// A check run or suite finished (GitHub `check_run` / `check_suite` completed): rules
    /// that look at checks may judge differently, so the live review state is refreshed.
    Checks {
        /// Forge.
        forge: Forge,
        /// Lower-case repository path.
        repo: String,
        /// The commit checked.
        sha: String,
        /// The pull requests the payload names (none for a fork's: then found by commit).
        numbers: Vec<i64>,
        /// Which event, for logs.
        what: String,
    },
    /// GitLab approval change: re-run the MR pipeline, and refresh the parent.
    Approval {
        /// The MR.
        pr: PrRef,
    },
    /// GitLab approval change on a merge request from a fork (its source project is not its
    /// target): no pipeline is started automatically, since it would run the fork's code with
    /// the target project's CI secrets; the thread says so instead.
    ForkApproval {
        /// The MR.
        pr: PrRef,
    },
    /// GitLab MR pipeline finished: the `codereview` status may have changed.
    Pipeline {
        /// The MR.
        pr: PrRef,
    },
    /// Nothing we act on (unsupported event, or an issue rather than a PR).
    Unsupported(String),
}

impl ForgeEvent {
    /// The PR the event is about, when the payload names it.
    pub fn pr(&self) -> Option<&PrRef> {
        match self {
            ForgeEvent::PullRequest { pr, .. }
            | ForgeEvent::Comment { pr, .. }
            | ForgeEvent::Approval { pr }
            | ForgeEvent::ForkApproval { pr }
            | ForgeEvent::Pipeline { pr } => Some(pr),
            ForgeEvent::Status { .. } | ForgeEvent::Checks { .. } | ForgeEvent::Unsupported(_) => {
                None
            }
        }
    }
}

/// A Slack channel in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Channel {
    /// Team id.
    pub team_id: String,
    /// Channel id.
    pub channel_id: String,
}

impl Channel {
    /// The message `ts` in this channel.
    pub fn message(&self, ts: impl Into<String>) -> SlackRef {
        SlackRef {
            team_id: self.team_id.clone(),
            channel_id: self.channel_id.clone(),
            ts: ts.into(),
        }
    }
}

/// A Slack `message` event, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackEvent {
    /// A new message.
    Message {
        /// Where.
        channel: Channel,
        /// Author (absent for some bot messages).
        user: Option<String>,
        /// Set on any bot's message, ours included.
        bot_id: Option<String>,
        /// Message subtype (`thread_broadcast`, `bot_message`, `channel_join`, ...).
        subtype: Option<String>,
        /// mrkdwn text.
        text: String,
        /// Its ts.
        ts: String,
        /// Parent's ts when it is in a thread.
        thread_ts: Option<String>,
    },
    /// `message_changed`.
    Changed {
        /// Where.
        channel: Channel,
        /// Author of the edited message.
        user: Option<String>,
        /// Set when the edited message is a bot's.
        bot_id: Option<String>,
        /// The message's ts.
        ts: String,
        /// New text.
        text: String,
        /// Text before the change (unfurls and language detection leave it equal).
        previous_text: Option<String>,
    },
    /// `message_deleted`.
    Deleted {
        /// Where.
        channel: Channel,
        /// The deleted message's ts.
        ts: String,
    },
    /// Any other event or subtype.
    Other(String),
}

/// Where a comment created from Slack goes on the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTarget {
    /// The PR conversation (GitHub issue comment, GitLab MR note).
    Conversation,
    /// A reply in a review-comment thread: GitHub root comment id, GitLab discussion id.
    Thread(String),
}
