//! The decision table: an event plus the facts the store holds about it → a list of
//! [`Action`]s. Pure (no I/O, no clock), so every row of the table is a unit test below.
//!
//! | event | condition | actions |
//! |---|---|---|
//! | any forge comment | ledger hit, our GitHub App, or our forge account with our attribution line | ignore (echo) |
//! | any forge event | repository linked to no channel | ignore (GitLab approvals still restart the pipeline) |
//! | PR opened / reopened / ready (MR open / reopen) | no thread in a linked channel, not a draft | post parent |
//! | same | thread exists | update parent |
//! | PR closed / merged / edited / synchronize / converted to draft (MR update / close / merge) | thread exists | update parent (facts fetched live) |
//! | `status` with context `codereview` | PRs of that commit with a thread | update parent with the event's state and description |
//! | GitLab MR pipeline finished | thread exists | update parent (status fetched live) |
//! | GitLab MR approved / unapproved | — | start a merge-request pipeline |
//! | same, on an MR from a fork (source project ≠ target project) | thread exists | no pipeline; a reply in the thread says why |
//! | comment / review / review comment / note created | not mirrored in that channel | (post parent if the PR has no thread yet) + post reply |
//! | review created | comment-only with no body | ignore (its review comments arrive on their own) |
//! | comment edited, review edited or dismissed | mirrored (ours) | update the reply |
//! | comment deleted | mirrored by us | delete the reply, forget the link |
//! | comment deleted | it was our forge copy of a Slack message | forget the link (the person's Slack message stays) |
//! | any GitLab MR event | the MR has mirrored notes | first reconcile: delete replies whose note is gone |
//! | Slack message | any bot, a non-human subtype, our bot user, ledger hit | ignore (echo) |
//! | Slack reply in a PR thread | not yet posted | create a forge comment: in the review thread of the latest mirrored item before it when that item belongs to one, else in the PR conversation |
//! | Slack `message_changed` | text really changed and the message was posted to the forge | edit the forge comment |
//! | Slack `message_deleted` | posted to the forge | delete the forge comment, forget the link |
//! | Slack `message_deleted` | it was our mirror of a forge comment | forget the link (the forge comment stays) |

use std::collections::HashSet;

use super::markup::ATTRIBUTION_MARK;
use super::model::{
    Change, Channel, CommentKind, ForgeComment, ForgeEvent, ForgeUser, Location, PrChange, PrFacts,
    PrState, ReplyTarget, ReviewStatus, ReviewVerdict, SlackEvent,
};
use crate::store::{Mirror, Origin, PrRef, PrThread, SlackRef};

/// What the store (and, when needed, the forge API) knows about a forge event's PR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgeFacts {
    /// Channels the repository is linked to.
    pub links: Vec<Channel>,
    /// The PR's existing threads (for a `status`, the threads of every PR of that commit).
    pub threads: Vec<PrThread>,
    /// Existing mirrors of the event's comment, one per channel.
    pub mirrors: Vec<Mirror>,
    /// Mirrors in the same review thread (same thread root) on this PR, oldest first.
    pub thread_mirrors: Vec<Mirror>,
    /// The comment is in our ledger: we created it.
    pub ledger_hit: bool,
    /// Our own forge account, when it had to be looked up (see [`needs_bot_identity`]).
    pub bot: Option<ForgeUser>,
    /// `GITHUB_APP_ID`, when configured.
    pub github_app_id: Option<i64>,
    /// The status context that carries the review state (`codereview`).
    pub status_context: String,
    /// GitLab: some notes of this MR are mirrored, so deleted notes must be looked for.
    pub has_mirrored_notes: bool,
    /// The parent shows the live review state, so what the rules read (reviews, labels,
    /// requested reviewers) updates it too.
    pub live_review: bool,
}

/// What the store knows about a Slack event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackFacts {
    /// Our bot's user id in this workspace (`auth.test`).
    pub our_bot_user: Option<String>,
    /// The message's ts is in our ledger.
    pub ledger_hit: bool,
    /// The PR thread the message replies in.
    pub thread: Option<PrThread>,
    /// The mirror the message itself belongs to.
    pub mirror: Option<Mirror>,
    /// The latest mirrored item in the same thread before this message.
    pub previous: Option<Mirror>,
}

/// Where a mirrored reply in a review thread points back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    /// Web link to the thread's root comment.
    pub url: String,
    /// Its diff position.
    pub location: Option<Location>,
}

/// A forge comment to show as a Slack reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The comment.
    pub comment: ForgeComment,
    /// Set when the comment answers an earlier review comment.
    pub reply_to: Option<ReplyTo>,
}

/// One effect for the handler to carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Post the PR's parent message in a channel. `facts: None` = fetch them first and post
    /// only if the PR is open and not a draft (a thread created by later activity).
    PostParent {
        /// Where.
        channel: Channel,
        /// Which PR.
        pr: PrRef,
        /// Facts from the opening event, if it carried them.
        facts: Option<PrFacts>,
    },
    /// Re-render the parent from live facts. `status` from a `status` event; else fetched.
    UpdateParent {
        /// The thread parent.
        thread: PrThread,
        /// The review status the event carried.
        status: Option<ReviewStatus>,
    },
    /// Post a reply in the PR's thread in a channel and link it to the comment.
    PostReply {
        /// Where.
        channel: Channel,
        /// Which PR.
        pr: PrRef,
        /// What.
        reply: Reply,
    },
    /// `chat.update` a mirrored reply.
    UpdateReply {
        /// The message.
        message: SlackRef,
        /// The PR.
        pr: PrRef,
        /// New content.
        reply: Reply,
    },
    /// `chat.delete` a message we posted, then forget its link.
    DeleteMessage {
        /// The message.
        message: SlackRef,
    },
    /// Forget a link whose other side is gone.
    ForgetLink {
        /// The message side of the link.
        message: SlackRef,
    },
    /// Post a Slack reply on the forge, attributed to its author.
    CreateForgeComment {
        /// The PR.
        pr: PrRef,
        /// Conversation or review thread.
        target: ReplyTarget,
        /// The Slack message.
        message: SlackRef,
        /// Slack user id of the author.
        author: String,
        /// mrkdwn text.
        text: String,
    },
    /// Edit our forge copy of a Slack message.
    EditForgeComment {
        /// The PR.
        pr: PrRef,
        /// Comment kind.
        kind: CommentKind,
        /// Comment id.
        id: String,
        /// Slack user id of the author.
        author: String,
        /// New mrkdwn text.
        text: String,
    },
    /// Delete our forge copy of a Slack message, then forget the link.
    DeleteForgeComment {
        /// The PR.
        pr: PrRef,
        /// Comment kind.
        kind: CommentKind,
        /// Comment id.
        id: String,
        /// The deleted Slack message.
        message: SlackRef,
    },
    /// GitLab: start a merge-request pipeline so `codereview` re-evaluates approvals.
    StartPipeline {
        /// The MR.
        pr: PrRef,
    },
    /// Post a fixed notice from us in a PR thread (not linked to any forge comment).
    PostNotice {
        /// The thread.
        thread: PrThread,
        /// Which notice.
        notice: Notice,
        /// Idempotency key of the message (one notice per event).
        key: String,
    },
    /// GitLab: list the MR's notes and act on mirrored notes that no longer exist
    /// ([`gitlab_deleted_notes`]).
    ReconcileNotes {
        /// The MR.
        pr: PrRef,
    },
    /// Nothing to do, and why (logged).
    Ignore(String),
}

/// A notice we post in a thread on our own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// An approval changed on an MR from a fork: its pipeline was not started.
    ForkPipelineNotStarted,
}

fn ignore(reason: impl Into<String>) -> Vec<Action> {
    vec![Action::Ignore(reason.into())]
}

fn channel_of(message: &SlackRef) -> Channel {
    Channel {
        team_id: message.team_id.clone(),
        channel_id: message.channel_id.clone(),
    }
}

fn thread_in<'a>(threads: &'a [PrThread], channel: &Channel) -> Option<&'a PrThread> {
    threads
        .iter()
        .find(|t| t.thread.team_id == channel.team_id && t.thread.channel_id == channel.channel_id)
}

fn mirror_in<'a>(mirrors: &'a [Mirror], channel: &Channel) -> Option<&'a Mirror> {
    mirrors
        .iter()
        .find(|m| channel_of(&m.link.message) == *channel)
}

/// True when deciding needs our forge account ([`ForgeFacts::bot`]): only for a comment that
/// carries our attribution line and was not made through our GitHub App (the caller also
/// skips it on a ledger hit), so the lookup is rare.
pub fn needs_bot_identity(event: &ForgeEvent, github_app_id: Option<i64>) -> bool {
    matches!(event, ForgeEvent::Comment { comment, .. }
        if comment.body.contains(ATTRIBUTION_MARK)
            && (comment.via_app.is_none() || comment.via_app != github_app_id))
}

/// Why a forge comment is our own (echo), if it is.
pub fn echo_reason(comment: &ForgeComment, facts: &ForgeFacts) -> Option<&'static str> {
    if facts.ledger_hit {
        return Some("we created this comment (ledger)");
    }
    if let (Some(app), Some(ours)) = (comment.via_app, facts.github_app_id)
        && app == ours
    {
        return Some("posted through our GitHub App");
    }
    if let Some(bot) = &facts.bot {
        let same = match (bot.id, comment.author.id) {
            (Some(a), Some(b)) => a == b,
            _ => !bot.login.is_empty() && bot.login.eq_ignore_ascii_case(&comment.author.login),
        };
        if same && comment.body.contains(ATTRIBUTION_MARK) {
            return Some("posted by our forge account with our attribution line");
        }
    }
    None
}

/// The web link to a thread's root comment, derived from a link to a comment on the same PR.
fn root_url(comment_url: &str, anchor: &str) -> String {
    let base = comment_url.split('#').next().unwrap_or(comment_url);
    format!("{base}#{anchor}")
}

fn reply_for(comment: &ForgeComment, channel: &Channel, facts: &ForgeFacts) -> Reply {
    let reply_to = match comment.kind {
        CommentKind::ReviewComment => comment.in_reply_to.as_ref().map(|root| ReplyTo {
            url: root_url(&comment.url, &format!("discussion_r{root}")),
            location: comment.location.clone(),
        }),
        CommentKind::Note if comment.thread_root.is_some() => facts
            .thread_mirrors
            .iter()
            .find(|m| channel_of(&m.link.message) == *channel && m.link.comment_id != comment.id)
            .map(|root| ReplyTo {
                url: root_url(&comment.url, &format!("note_{}", root.link.comment_id)),
                location: comment.location.clone(),
            }),
        _ => None,
    };
    Reply {
        comment: comment.clone(),
        reply_to,
    }
}

/// Decides what a forge event means. `facts` are loaded for the event's PR.
pub fn decide_forge(event: &ForgeEvent, facts: &ForgeFacts) -> Vec<Action> {
    let mut actions = Vec::new();
    if let (Some(pr), true) = (event.pr(), facts.has_mirrored_notes) {
        actions.push(Action::ReconcileNotes { pr: pr.clone() });
    }
    actions.extend(decide_forge_event(event, facts));
    actions
}

fn decide_forge_event(event: &ForgeEvent, facts: &ForgeFacts) -> Vec<Action> {
    match event {
        ForgeEvent::Unsupported(what) => ignore(format!("not handled: {what}")),
        ForgeEvent::Approval { pr } => vec![Action::StartPipeline { pr: pr.clone() }],
        ForgeEvent::ForkApproval { pr } => {
            let notices: Vec<Action> = facts
                .threads
                .iter()
                .filter(|t| {
                    facts
                        .links
                        .iter()
                        .any(|l| thread_in(std::slice::from_ref(*t), l).is_some())
                })
                .map(|thread| Action::PostNotice {
                    thread: thread.clone(),
                    notice: Notice::ForkPipelineNotStarted,
                    key: format!("{}:{}#{}:fork-approval", pr.forge, pr.repo, pr.number),
                })
                .collect();
            if notices.is_empty() {
                ignore(
                    "approval on a merge request from a fork: no pipeline is started automatically",
                )
            } else {
                notices
            }
        }
        _ if facts.links.is_empty() => ignore("repository is not linked to a channel"),
        ForgeEvent::Checks { .. } if facts.live_review => {
            update_parents(&facts.threads, &facts.links, None)
        }
        ForgeEvent::Checks { what, .. } => ignore(format!(
            "not shown on the parent without the live review state: {what}"
        )),
        ForgeEvent::PullRequest {
            pr,
            change,
            facts: pr_facts,
        } => match change {
            PrChange::Irrelevant(what) => ignore(format!("not shown on the parent: {what}")),
            PrChange::ReviewFacts(_) if facts.live_review => {
                update_parents(&facts.threads, &facts.links, None)
            }
            PrChange::ReviewFacts(what) => ignore(format!(
                "not shown on the parent without the live review state: {what}"
            )),
            PrChange::Opened => facts
                .links
                .iter()
                .map(|channel| match thread_in(&facts.threads, channel) {
                    Some(thread) => Action::UpdateParent {
                        thread: thread.clone(),
                        status: None,
                    },
                    None if pr_facts.state == PrState::Draft => Action::Ignore(
                        "draft: the thread is posted when it is ready for review".into(),
                    ),
                    None => Action::PostParent {
                        channel: channel.clone(),
                        pr: pr.clone(),
                        facts: Some(pr_facts.clone()),
                    },
                })
                .collect(),
            PrChange::Updated => update_parents(&facts.threads, &facts.links, None),
        },
        ForgeEvent::Pipeline { .. } => update_parents(&facts.threads, &facts.links, None),
        ForgeEvent::Status {
            context, status, ..
        } => {
            if *context != facts.status_context {
                return ignore(format!("status context is not {}", facts.status_context));
            }
            update_parents(&facts.threads, &facts.links, Some(status))
        }
        ForgeEvent::Comment {
            pr,
            change,
            comment,
        } => decide_comment(pr, *change, comment, facts),
    }
}

fn update_parents(
    threads: &[PrThread],
    links: &[Channel],
    status: Option<&ReviewStatus>,
) -> Vec<Action> {
    let actions: Vec<Action> = threads
        .iter()
        .filter(|t| links.contains(&channel_of(&t.thread)))
        .map(|t| Action::UpdateParent {
            thread: t.clone(),
            status: status.cloned(),
        })
        .collect();
    if actions.is_empty() {
        return ignore("no thread to update");
    }
    actions
}

fn decide_comment(
    pr: &PrRef,
    change: Change,
    comment: &ForgeComment,
    facts: &ForgeFacts,
) -> Vec<Action> {
    if comment.system {
        return ignore("GitLab system note");
    }
    if let Some(reason) = echo_reason(comment, facts) {
        return ignore(reason);
    }
    if comment.kind == CommentKind::Review
        && comment.verdict == Some(ReviewVerdict::Commented)
        && comment.body.trim().is_empty()
    {
        return ignore("comment-only review without a summary (its comments are mirrored)");
    }
    let mut actions = Vec::new();
    for channel in &facts.links {
        let mirror = mirror_in(&facts.mirrors, channel);
        let change = match (change, mirror) {
            (Change::Upsert, Some(_)) => Change::Edited,
            (Change::Upsert, None) => Change::Created,
            (other, _) => other,
        };
        match (change, mirror) {
            (Change::Created, Some(_)) => {
                actions.push(Action::Ignore("already mirrored in this channel".into()))
            }
            (Change::Created, None) => {
                if comment.body.trim().is_empty() && comment.kind != CommentKind::Review {
                    actions.push(Action::Ignore("empty comment".into()));
                    continue;
                }
                if thread_in(&facts.threads, channel).is_none() {
                    actions.push(Action::PostParent {
                        channel: channel.clone(),
                        pr: pr.clone(),
                        facts: None,
                    });
                }
                actions.push(Action::PostReply {
                    channel: channel.clone(),
                    pr: pr.clone(),
                    reply: reply_for(comment, channel, facts),
                });
            }
            (Change::Edited, Some(m)) if m.link.origin == Origin::Forge => {
                actions.push(Action::UpdateReply {
                    message: m.link.message.clone(),
                    pr: pr.clone(),
                    reply: reply_for(comment, channel, facts),
                })
            }
            (Change::Edited, Some(_)) => actions.push(Action::Ignore(
                "our forge copy of a Slack message was edited on the forge".into(),
            )),
            (Change::Edited, None) => {
                actions.push(Action::Ignore("edited comment was never mirrored".into()))
            }
            (Change::Deleted, Some(m)) if m.link.origin == Origin::Forge => {
                actions.push(Action::DeleteMessage {
                    message: m.link.message.clone(),
                })
            }
            (Change::Deleted, Some(m)) => actions.push(Action::ForgetLink {
                message: m.link.message.clone(),
            }),
            (Change::Deleted, None) => {
                actions.push(Action::Ignore("deleted comment was never mirrored".into()))
            }
            (Change::Upsert, _) => unreachable!("resolved above"),
        }
    }
    // A verdict changes what the rules conclude: the live review state follows.
    let verdict = matches!(
        comment.verdict,
        Some(ReviewVerdict::Approved | ReviewVerdict::ChangesRequested | ReviewVerdict::Dismissed)
    );
    if facts.live_review && comment.kind == CommentKind::Review && verdict {
        actions.extend(
            facts
                .threads
                .iter()
                .filter(|t| facts.links.contains(&channel_of(&t.thread)))
                .map(|t| Action::UpdateParent {
                    thread: t.clone(),
                    status: None,
                }),
        );
    }
    actions
}

/// Message subtypes that are a person writing (everything else is ignored).
const HUMAN_SUBTYPES: &[&str] = &["thread_broadcast", "file_share"];

/// Decides what a Slack event means.
pub fn decide_slack(event: &SlackEvent, facts: &SlackFacts) -> Vec<Action> {
    match event {
        SlackEvent::Other(kind) => ignore(format!("not handled: Slack {kind}")),
        SlackEvent::Message {
            channel,
            user,
            bot_id,
            subtype,
            text,
            ts,
            thread_ts,
        } => {
            if bot_id.is_some() {
                return ignore("posted by a bot");
            }
            if let Some(s) = subtype
                && !HUMAN_SUBTYPES.contains(&s.as_str())
            {
                return ignore(format!("message subtype {s}"));
            }
            let Some(user) = user else {
                return ignore("message without a user");
            };
            if facts.our_bot_user.as_ref() == Some(user) {
                return ignore("posted by our bot user");
            }
            if facts.ledger_hit {
                return ignore("we posted this message (ledger)");
            }
            match thread_ts {
                Some(parent) if parent != ts => {}
                _ => return ignore("not a thread reply"),
            }
            let Some(thread) = &facts.thread else {
                return ignore("not a pull request thread");
            };
            if facts.mirror.is_some() {
                return ignore("already posted to the forge");
            }
            if text.trim().is_empty() {
                return ignore("no text");
            }
            let target = match facts.previous.as_ref().and_then(|m| m.thread_root.clone()) {
                Some(root) => ReplyTarget::Thread(root),
                None => ReplyTarget::Conversation,
            };
            vec![Action::CreateForgeComment {
                pr: thread.pr.clone(),
                target,
                message: channel.message(ts.clone()),
                author: user.clone(),
                text: text.clone(),
            }]
        }
        SlackEvent::Changed {
            user,
            bot_id,
            text,
            previous_text,
            ..
        } => {
            if bot_id.is_some() {
                return ignore("a bot's message changed");
            }
            if previous_text.as_deref() == Some(text.as_str()) {
                return ignore("text unchanged (unfurl or other metadata)");
            }
            let Some(mirror) = &facts.mirror else {
                return ignore("message was never posted to the forge");
            };
            if mirror.link.origin != Origin::Slack {
                return ignore("our mirror of a forge comment");
            }
            let Some(kind) = CommentKind::parse(&mirror.link.comment_kind) else {
                return ignore("unknown comment kind");
            };
            let Some(user) = user else {
                return ignore("changed message without a user");
            };
            vec![Action::EditForgeComment {
                pr: mirror.link.pr.clone(),
                kind,
                id: mirror.link.comment_id.clone(),
                author: user.clone(),
                text: text.clone(),
            }]
        }
        SlackEvent::Deleted { .. } => {
            let Some(mirror) = &facts.mirror else {
                return ignore("message was never mirrored");
            };
            if mirror.link.origin == Origin::Forge {
                return vec![Action::ForgetLink {
                    message: mirror.link.message.clone(),
                }];
            }
            let Some(kind) = CommentKind::parse(&mirror.link.comment_kind) else {
                return ignore("unknown comment kind");
            };
            vec![Action::DeleteForgeComment {
                pr: mirror.link.pr.clone(),
                kind,
                id: mirror.link.comment_id.clone(),
                message: mirror.link.message.clone(),
            }]
        }
    }
}

/// GitLab sends no webhook when a note is deleted. At the next event for the same MR the
/// handler lists the MR's notes; every mirrored note missing from `existing` is acted on here:
/// our Slack copy is deleted, or (for our forge copy of a Slack message) the link is forgotten.
pub fn gitlab_deleted_notes(mirrors: &[Mirror], existing: &HashSet<String>) -> Vec<Action> {
    mirrors
        .iter()
        .filter(|m| m.link.comment_kind == CommentKind::Note.as_str())
        .filter(|m| !existing.contains(&m.link.comment_id))
        .map(|m| match m.link.origin {
            Origin::Forge => Action::DeleteMessage {
                message: m.link.message.clone(),
            },
            Origin::Slack => Action::ForgetLink {
                message: m.link.message.clone(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Forge;
    use crate::store::CommentMessage;

    fn pr() -> PrRef {
        PrRef {
            forge: Forge::GitHub,
            repo: "acme/web".into(),
            number: 7,
        }
    }

    fn channel(c: &str) -> Channel {
        Channel {
            team_id: "T1".into(),
            channel_id: c.into(),
        }
    }

    fn thread(c: &str) -> PrThread {
        PrThread {
            pr: pr(),
            thread: SlackRef {
                team_id: "T1".into(),
                channel_id: c.into(),
                ts: "100.000001".into(),
            },
        }
    }

    fn mirror(
        c: &str,
        kind: &str,
        id: &str,
        ts: &str,
        origin: Origin,
        root: Option<&str>,
    ) -> Mirror {
        Mirror {
            link: CommentMessage {
                pr: pr(),
                comment_kind: kind.into(),
                comment_id: id.into(),
                message: SlackRef {
                    team_id: "T1".into(),
                    channel_id: c.into(),
                    ts: ts.into(),
                },
                origin,
            },
            thread_root: root.map(str::to_string),
        }
    }

    fn facts() -> PrFacts {
        PrFacts {
            number: 7,
            title: "Add cache".into(),
            author: "ada".into(),
            url: "https://github.com/acme/web/pull/7".into(),
            base: "main".into(),
            head: "cache".into(),
            head_sha: Some("abc".into()),
            additions: Some(10),
            deletions: Some(2),
            files: Some(3),
            state: PrState::Open,
        }
    }

    fn linked() -> ForgeFacts {
        ForgeFacts {
            links: vec![channel("C1")],
            status_context: "codereview".into(),
            ..ForgeFacts::default()
        }
    }

    fn comment(kind: CommentKind, id: &str) -> ForgeComment {
        ForgeComment {
            kind,
            id: id.into(),
            author: ForgeUser {
                login: "ada".into(),
                id: Some(1),
                is_bot: false,
            },
            body: "looks good".into(),
            url: format!("https://github.com/acme/web/pull/7#issuecomment-{id}"),
            via_app: None,
            location: None,
            thread_root: None,
            in_reply_to: None,
            verdict: None,
            system: false,
        }
    }

    fn comment_event(change: Change, c: ForgeComment) -> ForgeEvent {
        ForgeEvent::Comment {
            pr: pr(),
            change,
            comment: c,
        }
    }

    fn pr_event(change: PrChange, state: PrState) -> ForgeEvent {
        ForgeEvent::PullRequest {
            pr: pr(),
            change,
            facts: PrFacts { state, ..facts() },
        }
    }

    fn is_ignore(actions: &[Action]) -> bool {
        actions.len() == 1 && matches!(actions[0], Action::Ignore(_))
    }

    #[test]
    fn pull_request_lifecycle() {
        let opened = pr_event(PrChange::Opened, PrState::Open);
        assert_eq!(
            decide_forge(&opened, &linked()),
            vec![Action::PostParent {
                channel: channel("C1"),
                pr: pr(),
                facts: Some(facts())
            }]
        );
        let with_thread = ForgeFacts {
            threads: vec![thread("C1")],
            ..linked()
        };
        let update = vec![Action::UpdateParent {
            thread: thread("C1"),
            status: None,
        }];
        assert_eq!(
            decide_forge(&opened, &with_thread),
            update,
            "reopen updates in place"
        );
        for change in [PrChange::Updated] {
            for state in [
                PrState::Closed,
                PrState::Merged,
                PrState::Draft,
                PrState::Open,
            ] {
                assert_eq!(
                    decide_forge(&pr_event(change.clone(), state), &with_thread),
                    update
                );
            }
        }
        assert!(is_ignore(&decide_forge(
            &pr_event(PrChange::Updated, PrState::Closed),
            &linked()
        )));
        assert!(is_ignore(&decide_forge(
            &pr_event(PrChange::Opened, PrState::Draft),
            &linked()
        )));
        assert!(is_ignore(&decide_forge(
            &pr_event(PrChange::Irrelevant("labeled".into()), PrState::Open),
            &with_thread
        )));
        // Not linked: nothing, even with a leftover thread.
        let unlinked = ForgeFacts {
            links: vec![],
            threads: vec![thread("C1")],
            ..linked()
        };
        assert!(is_ignore(&decide_forge(&opened, &unlinked)));
        // Two channels: one thread each.
        let two = ForgeFacts {
            links: vec![channel("C1"), channel("C2")],
            threads: vec![thread("C2")],
            ..linked()
        };
        let actions = decide_forge(&opened, &two);
        assert!(
            matches!(actions[0], Action::PostParent { ref channel, .. } if channel.channel_id == "C1")
        );
        assert!(
            matches!(actions[1], Action::UpdateParent { ref thread, .. } if thread.thread.channel_id == "C2")
        );
        // A thread in a channel that is no longer linked is left alone.
        let moved = ForgeFacts {
            links: vec![channel("C2")],
            threads: vec![thread("C1")],
            ..linked()
        };
        assert!(is_ignore(&decide_forge(
            &pr_event(PrChange::Updated, PrState::Open),
            &moved
        )));
    }

    #[test]
    fn status_and_pipeline_update_parents() {
        let status = ReviewStatus {
            state: "success".into(),
            description: Some("all approved".into()),
        };
        let ev = |context: &str| ForgeEvent::Status {
            forge: Forge::GitHub,
            repo: "acme/web".into(),
            sha: "abc".into(),
            context: context.into(),
            status: status.clone(),
        };
        let with_thread = ForgeFacts {
            threads: vec![thread("C1")],
            ..linked()
        };
        assert_eq!(
            decide_forge(&ev("codereview"), &with_thread),
            vec![Action::UpdateParent {
                thread: thread("C1"),
                status: Some(status.clone())
            }]
        );
        assert!(is_ignore(&decide_forge(&ev("ci/build"), &with_thread)));
        assert!(is_ignore(&decide_forge(&ev("codereview"), &linked())));
        assert_eq!(
            decide_forge(&ForgeEvent::Pipeline { pr: pr() }, &with_thread),
            vec![Action::UpdateParent {
                thread: thread("C1"),
                status: None
            }]
        );
    }

    #[test]
    fn fork_approvals_never_start_a_pipeline() {
        let event = ForgeEvent::ForkApproval { pr: pr() };
        let actions = decide_forge(&event, &ForgeFacts::default());
        assert!(
            matches!(actions.as_slice(), [Action::Ignore(_)]),
            "{actions:?}"
        );
        let with_thread = ForgeFacts {
            links: vec![channel("C1")],
            threads: vec![thread("C1"), thread("C9")],
            ..ForgeFacts::default()
        };
        let actions = decide_forge(&event, &with_thread);
        assert!(
            matches!(
                actions.as_slice(),
                [Action::PostNotice {
                    notice: Notice::ForkPipelineNotStarted,
                    ..
                }]
            ),
            "{actions:?}"
        );
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::StartPipeline { .. }))
        );
    }

    #[test]
    fn approvals_start_a_pipeline_even_unlinked() {
        assert_eq!(
            decide_forge(&ForgeEvent::Approval { pr: pr() }, &ForgeFacts::default()),
            vec![Action::StartPipeline { pr: pr() }]
        );
    }

    #[test]
    fn comments_create_update_delete() {
        let c = comment(CommentKind::IssueComment, "11");
        let created = comment_event(Change::Created, c.clone());
        // No thread yet: the parent comes first.
        let actions = decide_forge(&created, &linked());
        assert!(matches!(actions[0], Action::PostParent { facts: None, .. }));
        assert!(
            matches!(actions[1], Action::PostReply { ref reply, .. } if reply.reply_to.is_none())
        );
        let with_thread = ForgeFacts {
            threads: vec![thread("C1")],
            ..linked()
        };
        assert_eq!(decide_forge(&created, &with_thread).len(), 1);
        let mirrored = ForgeFacts {
            mirrors: vec![mirror(
                "C1",
                "issue_comment",
                "11",
                "101.0",
                Origin::Forge,
                None,
            )],
            ..with_thread.clone()
        };
        assert!(
            is_ignore(&decide_forge(&created, &mirrored)),
            "duplicate delivery or retry"
        );
        let edited = comment_event(Change::Edited, c.clone());
        assert!(
            matches!(&decide_forge(&edited, &mirrored)[..], [Action::UpdateReply { message, .. }] if message.ts == "101.0")
        );
        assert!(is_ignore(&decide_forge(&edited, &with_thread)));
        let deleted = comment_event(Change::Deleted, c.clone());
        assert!(
            matches!(&decide_forge(&deleted, &mirrored)[..], [Action::DeleteMessage { message }] if message.ts == "101.0")
        );
        assert!(is_ignore(&decide_forge(&deleted, &with_thread)));
        // Our forge copy of a Slack message: never delete the person's Slack message.
        let slack_side = ForgeFacts {
            mirrors: vec![mirror(
                "C1",
                "issue_comment",
                "11",
                "101.0",
                Origin::Slack,
                None,
            )],
            ..with_thread.clone()
        };
        assert!(matches!(
            &decide_forge(&deleted, &slack_side)[..],
            [Action::ForgetLink { .. }]
        ));
        assert!(is_ignore(&decide_forge(&edited, &slack_side)));
        // Empty comment bodies are not mirrored.
        let empty = comment_event(
            Change::Created,
            ForgeComment {
                body: " ".into(),
                ..c
            },
        );
        assert!(is_ignore(&decide_forge(&empty, &with_thread)));
    }

    #[test]
    fn upsert_resolves_by_link() {
        let c = ForgeComment {
            kind: CommentKind::Note,
            ..comment(CommentKind::Note, "5")
        };
        let ev = comment_event(Change::Upsert, c);
        let with_thread = ForgeFacts {
            threads: vec![thread("C1")],
            ..linked()
        };
        assert!(matches!(
            &decide_forge(&ev, &with_thread)[..],
            [Action::PostReply { .. }]
        ));
        let mirrored = ForgeFacts {
            mirrors: vec![mirror("C1", "note", "5", "101.0", Origin::Forge, None)],
            ..with_thread
        };
        assert!(matches!(
            &decide_forge(&ev, &mirrored)[..],
            [Action::UpdateReply { .. }]
        ));
    }

    #[test]
    fn echoes_are_ignored() {
        let c = comment(CommentKind::IssueComment, "11");
        let ev = comment_event(Change::Created, c.clone());
        let base = ForgeFacts {
            threads: vec![thread("C1")],
            github_app_id: Some(42),
            ..linked()
        };
        assert!(is_ignore(&decide_forge(
            &ev,
            &ForgeFacts {
                ledger_hit: true,
                ..base.clone()
            }
        )));
        let via_app = comment_event(
            Change::Created,
            ForgeComment {
                via_app: Some(42),
                ..c.clone()
            },
        );
        assert!(is_ignore(&decide_forge(&via_app, &base)));
        let other_app = comment_event(
            Change::Created,
            ForgeComment {
                via_app: Some(7),
                ..c.clone()
            },
        );
        assert!(!is_ignore(&decide_forge(&other_app, &base)));
        // Our account: ignored only with our attribution line; its own words are mirrored.
        let bot = ForgeUser {
            login: "ada".into(),
            id: Some(1),
            is_bot: false,
        };
        let ours = comment_event(
            Change::Created,
            ForgeComment {
                body: "**Jane** (via Slack): hi".into(),
                ..c.clone()
            },
        );
        assert!(needs_bot_identity(&ours, Some(42)));
        assert!(!needs_bot_identity(&ev, Some(42)));
        let ours_via_app = comment_event(
            Change::Created,
            ForgeComment {
                body: "**Jane** (via Slack): hi".into(),
                via_app: Some(42),
                ..c.clone()
            },
        );
        assert!(!needs_bot_identity(&ours_via_app, Some(42)));
        assert!(is_ignore(&decide_forge(
            &ours,
            &ForgeFacts {
                bot: Some(bot.clone()),
                ..base.clone()
            }
        )));
        assert!(!is_ignore(&decide_forge(
            &ev,
            &ForgeFacts {
                bot: Some(bot.clone()),
                ..base.clone()
            }
        )));
        let someone_else = ForgeUser {
            login: "bob".into(),
            id: Some(2),
            is_bot: false,
        };
        assert!(!is_ignore(&decide_forge(
            &ours,
            &ForgeFacts {
                bot: Some(someone_else),
                ..base.clone()
            }
        )));
        // Login comparison when ids are unknown.
        let by_login = ForgeUser {
            login: "ADA".into(),
            id: None,
            is_bot: false,
        };
        assert!(is_ignore(&decide_forge(
            &ours,
            &ForgeFacts {
                bot: Some(by_login),
                ..base
            }
        )));
    }

    #[test]
    fn reviews() {
        let review = |verdict, body: &str| {
            comment_event(
                Change::Created,
                ForgeComment {
                    verdict: Some(verdict),
                    body: body.into(),
                    ..comment(CommentKind::Review, "900")
                },
            )
        };
        let with_thread = ForgeFacts {
            threads: vec![thread("C1")],
            ..linked()
        };
        assert!(is_ignore(&decide_forge(
            &review(ReviewVerdict::Commented, ""),
            &with_thread
        )));
        for (verdict, body) in [
            (ReviewVerdict::Approved, ""),
            (ReviewVerdict::ChangesRequested, "fix it"),
            (ReviewVerdict::Commented, "some notes"),
        ] {
            assert!(matches!(
                &decide_forge(&review(verdict, body), &with_thread)[..],
                [Action::PostReply { .. }]
            ));
        }
    }

    #[test]
    fn with_the_live_review_state_what_the_rules_read_updates_the_parent() {
        let review = |verdict| {
            comment_event(
                Change::Created,
                ForgeComment {
                    verdict: Some(verdict),
                    body: "".into(),
                    ..comment(CommentKind::Review, "901")
                },
            )
        };
        let off = ForgeFacts {
            threads: vec![thread("C1")],
            ..linked()
        };
        let on = ForgeFacts {
            live_review: true,
            ..off.clone()
        };
        for verdict in [
            ReviewVerdict::Approved,
            ReviewVerdict::ChangesRequested,
            ReviewVerdict::Dismissed,
        ] {
            assert!(matches!(
                &decide_forge(&review(verdict), &on)[..],
                [.., Action::UpdateParent { status: None, .. }]
            ));
            assert!(
                !decide_forge(&review(verdict), &off)
                    .iter()
                    .any(|a| matches!(a, Action::UpdateParent { .. }))
            );
        }
        // A comment-only review changes no vote.
        let notes = comment_event(
            Change::Created,
            ForgeComment {
                verdict: Some(ReviewVerdict::Commented),
                ..comment(CommentKind::Review, "902")
            },
        );
        assert!(
            !decide_forge(&notes, &on)
                .iter()
                .any(|a| matches!(a, Action::UpdateParent { .. }))
        );
        // Labels and requested reviewers: the parent follows only with the live state on.
        let labeled = pr_event(
            PrChange::ReviewFacts("pull_request labeled".into()),
            PrState::Open,
        );
        assert!(matches!(
            &decide_forge(&labeled, &on)[..],
            [Action::UpdateParent { .. }]
        ));
        assert!(is_ignore(&decide_forge(&labeled, &off)));
        // Finished checks: the same.
        let checks = ForgeEvent::Checks {
            forge: Forge::GitHub,
            repo: "acme/web".into(),
            sha: "abc".into(),
            numbers: vec![7],
            what: "check_run completed".into(),
        };
        assert!(matches!(
            &decide_forge(&checks, &on)[..],
            [Action::UpdateParent { .. }]
        ));
        assert!(is_ignore(&decide_forge(&checks, &off)));
    }

    #[test]
    fn review_comment_threads() {
        let root = ForgeComment {
            location: Some(Location {
                path: "src/a.rs".into(),
                line: Some(3),
            }),
            thread_root: Some("500".into()),
            url: "https://github.com/acme/web/pull/7#discussion_r500".into(),
            ..comment(CommentKind::ReviewComment, "500")
        };
        let with_thread = ForgeFacts {
            threads: vec![thread("C1")],
            ..linked()
        };
        let actions = decide_forge(&comment_event(Change::Created, root.clone()), &with_thread);
        assert!(
            matches!(&actions[..], [Action::PostReply { reply, .. }] if reply.reply_to.is_none())
        );
        let reply = ForgeComment {
            id: "501".into(),
            in_reply_to: Some("500".into()),
            url: "https://github.com/acme/web/pull/7#discussion_r501".into(),
            ..root
        };
        let actions = decide_forge(&comment_event(Change::Created, reply), &with_thread);
        let [Action::PostReply { reply, .. }] = &actions[..] else {
            panic!("{actions:?}")
        };
        assert_eq!(
            reply.reply_to,
            Some(ReplyTo {
                url: "https://github.com/acme/web/pull/7#discussion_r500".into(),
                location: Some(Location {
                    path: "src/a.rs".into(),
                    line: Some(3)
                })
            })
        );
    }

    #[test]
    fn gitlab_discussion_replies_are_found_from_links() {
        let note = |id: &str| ForgeComment {
            thread_root: Some("d1".into()),
            url: format!("https://gitlab.example.com/g/p/-/merge_requests/7#note_{id}"),
            ..comment(CommentKind::Note, id)
        };
        let with_thread = ForgeFacts {
            threads: vec![thread("C1")],
            ..linked()
        };
        let actions = decide_forge(&comment_event(Change::Created, note("1")), &with_thread);
        assert!(
            matches!(&actions[..], [Action::PostReply { reply, .. }] if reply.reply_to.is_none())
        );
        let known = ForgeFacts {
            thread_mirrors: vec![mirror(
                "C1",
                "note",
                "1",
                "101.0",
                Origin::Forge,
                Some("d1"),
            )],
            ..with_thread
        };
        let actions = decide_forge(&comment_event(Change::Created, note("2")), &known);
        let [Action::PostReply { reply, .. }] = &actions[..] else {
            panic!()
        };
        assert_eq!(
            reply.reply_to.as_ref().unwrap().url,
            "https://gitlab.example.com/g/p/-/merge_requests/7#note_1"
        );
    }

    #[test]
    fn gitlab_reconcile_runs_first_and_finds_deleted_notes() {
        let facts = ForgeFacts {
            threads: vec![thread("C1")],
            has_mirrored_notes: true,
            ..linked()
        };
        let actions = decide_forge(&ForgeEvent::Pipeline { pr: pr() }, &facts);
        assert_eq!(actions[0], Action::ReconcileNotes { pr: pr() });
        let mirrors = vec![
            mirror("C1", "note", "1", "101.0", Origin::Forge, None),
            mirror("C1", "note", "2", "102.0", Origin::Slack, None),
            mirror("C1", "note", "3", "103.0", Origin::Forge, None),
        ];
        let existing: HashSet<String> = ["3".to_string()].into();
        let actions = gitlab_deleted_notes(&mirrors, &existing);
        assert_eq!(actions.len(), 2);
        assert!(matches!(&actions[0], Action::DeleteMessage { message } if message.ts == "101.0"));
        assert!(matches!(&actions[1], Action::ForgetLink { message } if message.ts == "102.0"));
    }

    fn slack_msg(ts: &str, thread_ts: Option<&str>) -> SlackEvent {
        SlackEvent::Message {
            channel: channel("C1"),
            user: Some("U1".into()),
            bot_id: None,
            subtype: None,
            text: "hello".into(),
            ts: ts.into(),
            thread_ts: thread_ts.map(str::to_string),
        }
    }

    #[test]
    fn slack_replies_route_to_conversation_or_review_thread() {
        let ev = slack_msg("200.0", Some("100.000001"));
        let in_thread = SlackFacts {
            thread: Some(thread("C1")),
            ..SlackFacts::default()
        };
        let actions = decide_slack(&ev, &in_thread);
        assert!(
            matches!(&actions[..], [Action::CreateForgeComment { target: ReplyTarget::Conversation, author, .. }] if author == "U1")
        );
        let after_review_comment = SlackFacts {
            previous: Some(mirror(
                "C1",
                "review_comment",
                "501",
                "150.0",
                Origin::Forge,
                Some("500"),
            )),
            ..in_thread.clone()
        };
        let actions = decide_slack(&ev, &after_review_comment);
        assert!(
            matches!(&actions[..], [Action::CreateForgeComment { target: ReplyTarget::Thread(root), .. }] if root == "500")
        );
        let after_comment = SlackFacts {
            previous: Some(mirror(
                "C1",
                "issue_comment",
                "11",
                "150.0",
                Origin::Forge,
                None,
            )),
            ..in_thread.clone()
        };
        assert!(matches!(
            &decide_slack(&ev, &after_comment)[..],
            [Action::CreateForgeComment {
                target: ReplyTarget::Conversation,
                ..
            }]
        ));
    }

    #[test]
    fn slack_echoes_and_non_replies_are_ignored() {
        let in_thread = SlackFacts {
            thread: Some(thread("C1")),
            our_bot_user: Some("UBOT".into()),
            ..SlackFacts::default()
        };
        let base = slack_msg("200.0", Some("100.000001"));
        let SlackEvent::Message {
            channel,
            text,
            ts,
            thread_ts,
            ..
        } = base.clone()
        else {
            unreachable!()
        };
        let variant =
            |user: Option<&str>, bot_id: Option<&str>, subtype: Option<&str>| SlackEvent::Message {
                channel: channel.clone(),
                user: user.map(str::to_string),
                bot_id: bot_id.map(str::to_string),
                subtype: subtype.map(str::to_string),
                text: text.clone(),
                ts: ts.clone(),
                thread_ts: thread_ts.clone(),
            };
        for ev in [
            variant(Some("U1"), Some("B1"), None),
            variant(None, Some("B1"), Some("bot_message")),
            variant(Some("U1"), None, Some("channel_join")),
            variant(Some("UBOT"), None, None),
            variant(None, None, None),
            slack_msg("200.0", None),
            slack_msg("100.000001", Some("100.000001")),
        ] {
            assert!(is_ignore(&decide_slack(&ev, &in_thread)), "{ev:?}");
        }
        assert!(!is_ignore(&decide_slack(
            &variant(Some("U1"), None, Some("thread_broadcast")),
            &in_thread
        )));
        assert!(is_ignore(&decide_slack(
            &base,
            &SlackFacts {
                ledger_hit: true,
                ..in_thread.clone()
            }
        )));
        assert!(is_ignore(&decide_slack(
            &base,
            &SlackFacts {
                thread: None,
                ..in_thread.clone()
            }
        )));
        let already = SlackFacts {
            mirror: Some(mirror(
                "C1",
                "issue_comment",
                "12",
                "200.0",
                Origin::Slack,
                None,
            )),
            ..in_thread
        };
        assert!(
            is_ignore(&decide_slack(&base, &already)),
            "retry after the comment was posted"
        );
    }

    #[test]
    fn slack_edits_and_deletes() {
        let changed = |text: &str, previous: &str| SlackEvent::Changed {
            channel: channel("C1"),
            user: Some("U1".into()),
            bot_id: None,
            ts: "200.0".into(),
            text: text.into(),
            previous_text: Some(previous.into()),
        };
        let ours = SlackFacts {
            mirror: Some(mirror(
                "C1",
                "issue_comment",
                "12",
                "200.0",
                Origin::Slack,
                None,
            )),
            ..SlackFacts::default()
        };
        assert!(
            matches!(&decide_slack(&changed("new", "old"), &ours)[..], [Action::EditForgeComment { id, kind: CommentKind::IssueComment, .. }] if id == "12")
        );
        assert!(
            is_ignore(&decide_slack(&changed("same", "same"), &ours)),
            "unfurl"
        );
        assert!(is_ignore(&decide_slack(
            &changed("new", "old"),
            &SlackFacts::default()
        )));
        let forge_side = SlackFacts {
            mirror: Some(mirror(
                "C1",
                "issue_comment",
                "12",
                "200.0",
                Origin::Forge,
                None,
            )),
            ..SlackFacts::default()
        };
        assert!(is_ignore(&decide_slack(
            &changed("new", "old"),
            &forge_side
        )));
        let bot_changed = SlackEvent::Changed {
            channel: channel("C1"),
            user: Some("UBOT".into()),
            bot_id: Some("B1".into()),
            ts: "200.0".into(),
            text: "x".into(),
            previous_text: Some("y".into()),
        };
        assert!(is_ignore(&decide_slack(&bot_changed, &ours)));
        let deleted = SlackEvent::Deleted {
            channel: channel("C1"),
            ts: "200.0".into(),
        };
        assert!(
            matches!(&decide_slack(&deleted, &ours)[..], [Action::DeleteForgeComment { id, .. }] if id == "12")
        );
        assert!(matches!(
            &decide_slack(&deleted, &forge_side)[..],
            [Action::ForgetLink { .. }]
        ));
        assert!(is_ignore(&decide_slack(&deleted, &SlackFacts::default())));
        assert!(is_ignore(&decide_slack(
            &SlackEvent::Other("reaction_added".into()),
            &ours
        )));
    }
}
