//! Message text: the parent message of a PR thread, a mirrored reply, and a forge comment
//! written from Slack. Pure; mentions arrive already resolved.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::decide::{Notice, Reply};
use super::markup::{ATTRIBUTION_MARK, escape_slack, markdown_to_slack, slack_link};
use super::model::{CommentKind, PrFacts, PrState, ReviewStatus, ReviewVerdict};
use crate::domain::Forge;

/// A rendered Slack message: `text` is the notification fallback, `blocks` the layout.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackText {
    /// mrkdwn text.
    pub text: String,
    /// Block Kit blocks, when the message has a layout.
    pub blocks: Option<Value>,
}

fn escape_markdown_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '*' | '_' | '`' | '[' | ']' | '\\' | '<' | '>' | '~') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The forge comment for a Slack message: `**Jane Doe** (via Slack): text`.
pub fn forge_comment(author_name: &str, markdown: &str) -> String {
    format!(
        "**{}**{ATTRIBUTION_MARK} {markdown}",
        escape_markdown_name(author_name)
    )
}

fn state_label(state: PrState) -> &'static str {
    match state {
        PrState::Open => "🟢 Open",
        PrState::Draft => "📝 Draft",
        PrState::Merged => "🟣 Merged",
        PrState::Closed => "⚫ Closed",
    }
}

fn review_label(status: Option<&ReviewStatus>) -> String {
    let Some(status) = status else {
        return "⏳ review not evaluated yet".into();
    };
    let icon = match status.state.as_str() {
        "success" => "✅",
        "failure" | "error" => "❌",
        _ => "⏳",
    };
    match status.description.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => format!(
            "{icon} {}: {}",
            escape_slack(&status.state),
            escape_slack(d)
        ),
        None => format!("{icon} {}", escape_slack(&status.state)),
    }
}

/// A notice we post in a thread ([`Notice`]).
pub fn notice(notice: Notice) -> SlackText {
    let text = match notice {
        Notice::ForkPipelineNotStarted => {
            "⚠️ The approvals changed, but this merge request comes from a fork, so no pipeline was started automatically: it would run the fork's code with this project's CI secrets. A maintainer can run the pipeline from the merge request's Pipelines tab after reviewing the changes."
        }
    };
    SlackText {
        text: text.into(),
        blocks: None,
    }
}

/// The parent message: linked title, author, branches, size, state and review state, then
/// (with the live review state on) one line per matched scope ([`super::review_state`]).
pub fn parent(
    forge: Forge,
    pr: &PrFacts,
    status: Option<&ReviewStatus>,
    scopes: &[String],
) -> SlackText {
    let sigil = match forge {
        Forge::GitHub => '#',
        Forge::GitLab => '!',
    };
    let title = format!(
        "*{}*",
        slack_link(
            &pr.url,
            &format!("{sigil}{} {}", pr.number, escape_slack(&pr.title))
        )
    );
    let mut size = Vec::new();
    if let (Some(a), Some(d)) = (pr.additions, pr.deletions) {
        size.push(format!("+{a} −{d}"));
    }
    if let Some(f) = pr.files {
        size.push(format!("{f} file{}", if f == 1 { "" } else { "s" }));
    }
    let mut details = format!(
        "by *{}* · `{}` ← `{}`",
        escape_slack(&pr.author),
        escape_slack(&pr.base),
        escape_slack(&pr.head)
    );
    if !size.is_empty() {
        details.push_str(" · ");
        details.push_str(&size.join(", "));
    }
    let state = format!("{} · {}", state_label(pr.state), review_label(status));
    let mut text = format!("{title}\n{details}\n{state}");
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("{title}\n{details}")}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": state}]}),
    ];
    if !scopes.is_empty() {
        let lines = scopes.join("\n");
        text.push('\n');
        text.push_str(&lines);
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": lines}}));
    }
    let blocks = serde_json::Value::Array(blocks);
    SlackText {
        text,
        blocks: Some(blocks),
    }
}

/// A mirrored comment, review, review comment or note as a thread reply. `users` maps forge
/// logins to Slack user ids for mentions in the body.
pub fn reply(r: &Reply, users: &HashMap<String, String>) -> SlackText {
    let c = &r.comment;
    let who = format!("*{}*", escape_slack(&c.author.login));
    let link = |label: &str| slack_link(&c.url, label);
    let body = markdown_to_slack(c.body.trim(), users);
    let with_body = |head: String| {
        if body.is_empty() {
            head
        } else {
            format!("{head}:\n{body}")
        }
    };
    let text = if let Some(to) = &r.reply_to {
        let what = match &to.location {
            Some(loc) => format!("comment on {}", escape_slack(&loc.to_string())),
            None => "comment".into(),
        };
        format!(
            "↳ reply to {}\n{who} {}: {body}",
            slack_link(&to.url, &what),
            link("replied")
        )
    } else {
        match (c.kind, c.verdict, &c.location) {
            (CommentKind::Review, Some(ReviewVerdict::Approved), _) => {
                with_body(format!("✅ {who} {}", link("approved")))
            }
            (CommentKind::Review, Some(ReviewVerdict::ChangesRequested), _) => {
                with_body(format!("🔴 {who} {}", link("requested changes")))
            }
            (CommentKind::Review, Some(ReviewVerdict::Dismissed), _) => {
                with_body(format!("⚪ {who}'s {} was dismissed", link("review")))
            }
            (CommentKind::Review, _, _) => with_body(format!("💬 {who} {}", link("reviewed"))),
            (_, _, Some(loc)) => with_body(format!(
                "📝 {who} on {}",
                link(&escape_slack(&loc.to_string()))
            )),
            _ => with_body(format!("💬 {who} {}", link("commented"))),
        }
    };
    SlackText { text, blocks: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::decide::ReplyTo;
    use crate::sync::model::{ForgeComment, ForgeUser, Location};

    fn facts() -> PrFacts {
        PrFacts {
            number: 7,
            title: "Fix <script> & stuff".into(),
            author: "ada".into(),
            url: "https://github.com/acme/web/pull/7".into(),
            base: "main".into(),
            head: "fix".into(),
            head_sha: None,
            additions: Some(10),
            deletions: Some(2),
            files: Some(1),
            state: PrState::Open,
        }
    }

    #[test]
    fn parent_shows_every_fact_escaped() {
        let m = parent(Forge::GitHub, &facts(), None, &[]);
        assert_eq!(
            m.text,
            "*<https://github.com/acme/web/pull/7|#7 Fix &lt;script&gt; &amp; stuff>*\n\
             by *ada* · `main` ← `fix` · +10 −2, 1 file\n\
             🟢 Open · ⏳ review not evaluated yet"
        );
        let status = ReviewStatus {
            state: "failure".into(),
            description: Some("backend needs 1 more (alice)".into()),
        };
        let merged = PrFacts {
            state: PrState::Merged,
            additions: None,
            deletions: None,
            files: Some(4),
            ..facts()
        };
        let m = parent(Forge::GitLab, &merged, Some(&status), &[]);
        assert!(m.text.contains("|!7 Fix"), "{}", m.text);
        assert!(m.text.contains("· 4 files\n"), "{}", m.text);
        assert!(
            m.text
                .ends_with("🟣 Merged · ❌ failure: backend needs 1 more (alice)"),
            "{}",
            m.text
        );
        let blocks = m.blocks.unwrap();
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(
            blocks[1]["elements"][0]["text"],
            "🟣 Merged · ❌ failure: backend needs 1 more (alice)"
        );
    }

    fn comment(kind: CommentKind) -> ForgeComment {
        ForgeComment {
            kind,
            id: "1".into(),
            author: ForgeUser {
                login: "ada".into(),
                id: None,
                is_bot: false,
            },
            body: "**Nice** @bob".into(),
            url: "https://x/pull/7#c1".into(),
            via_app: None,
            location: None,
            thread_root: None,
            in_reply_to: None,
            verdict: None,
            system: false,
        }
    }

    #[test]
    fn replies_by_kind() {
        let users: HashMap<String, String> = [("bob".to_string(), "U2".to_string())].into();
        let r = |c: ForgeComment, to: Option<ReplyTo>| {
            reply(
                &Reply {
                    comment: c,
                    reply_to: to,
                },
                &users,
            )
            .text
        };
        assert_eq!(
            r(comment(CommentKind::IssueComment), None),
            "💬 *ada* <https://x/pull/7#c1|commented>:\n*Nice* <@U2>"
        );
        let review = |v| ForgeComment {
            verdict: Some(v),
            ..comment(CommentKind::Review)
        };
        assert!(
            r(review(ReviewVerdict::Approved), None)
                .starts_with("✅ *ada* <https://x/pull/7#c1|approved>:")
        );
        assert!(
            r(review(ReviewVerdict::ChangesRequested), None)
                .starts_with("🔴 *ada* <https://x/pull/7#c1|requested changes>:")
        );
        assert!(
            r(review(ReviewVerdict::Commented), None)
                .starts_with("💬 *ada* <https://x/pull/7#c1|reviewed>:")
        );
        assert!(
            r(review(ReviewVerdict::Dismissed), None)
                .starts_with("⚪ *ada*'s <https://x/pull/7#c1|review> was dismissed")
        );
        let bare = ForgeComment {
            body: String::new(),
            ..review(ReviewVerdict::Approved)
        };
        assert_eq!(r(bare, None), "✅ *ada* <https://x/pull/7#c1|approved>");
        let loc = Location {
            path: "src/a.rs".into(),
            line: Some(3),
        };
        let rc = ForgeComment {
            location: Some(loc.clone()),
            ..comment(CommentKind::ReviewComment)
        };
        assert_eq!(
            r(rc.clone(), None),
            "📝 *ada* on <https://x/pull/7#c1|src/a.rs:3>:\n*Nice* <@U2>"
        );
        let to = ReplyTo {
            url: "https://x/pull/7#discussion_r9".into(),
            location: Some(loc),
        };
        assert_eq!(
            r(rc, Some(to)),
            "↳ reply to <https://x/pull/7#discussion_r9|comment on src/a.rs:3>\n*ada* <https://x/pull/7#c1|replied>: *Nice* <@U2>"
        );
    }

    #[test]
    fn urls_from_payloads_are_links_only_when_they_are_web_links() {
        let hostile = PrFacts {
            url: "!channel".into(),
            title: "<!here>".into(),
            ..facts()
        };
        let m = parent(Forge::GitHub, &hostile, None, &[]);
        assert!(m.text.starts_with("*#7 &lt;!here&gt;*\n"), "{}", m.text);
        let c = ForgeComment {
            url: "@U0ADMIN".into(),
            body: "[see](!channel) <!everyone>".into(),
            ..comment(CommentKind::IssueComment)
        };
        let text = reply(
            &Reply {
                comment: c,
                reply_to: None,
            },
            &HashMap::new(),
        )
        .text;
        assert_eq!(
            text,
            "💬 *ada* commented:\n[see](!channel) &lt;!everyone&gt;"
        );
    }

    #[test]
    fn attribution() {
        assert_eq!(
            forge_comment("Jane Doe", "hi"),
            "**Jane Doe** (via Slack): hi"
        );
        assert_eq!(forge_comment("a*b_", "x"), "**a\\*b\\_** (via Slack): x");
        assert!(forge_comment("x", "y").contains(ATTRIBUTION_MARK));
    }
}
