//! The live review state a thread's parent shows: one line per matched scope, from the
//! engine's evaluation of the repository's `CODEREVIEW.toml` (the same evaluation the
//! `codereview` status comes from), e.g. `⏳ backend · needs 1 more: ana or li`.

use super::markup::escape_slack;
use codereview_policy::report;
use codereview_policy::review::{Evaluation, ScopeResult, ScopeState};
use std::collections::{BTreeSet, HashMap};

/// One line per matched scope, in the rules' order. People in `users` (lowercased forge login
/// → Slack user id, the workspace's user map) are Slack mentions, others plain names escaped
/// for Slack; people who said they are away (on the forge, or `slack_away`: lowercased logins
/// whose Slack status says so) carry "(away)".
pub fn scope_lines(
    e: &Evaluation,
    users: &HashMap<String, String>,
    slack_away: &BTreeSet<String>,
) -> Vec<String> {
    e.scopes
        .iter()
        .map(|s| scope_line(e, s, users, slack_away))
        .collect()
}

/// Away on the forge or in Slack.
fn is_away(e: &Evaluation, slack_away: &BTreeSet<String>, login: &str) -> bool {
    slack_away.contains(&login.to_lowercase())
        || e.away.iter().any(|a| a.eq_ignore_ascii_case(login))
}

/// Every login a scope line may name: whose Slack ids to look up.
pub fn people(e: &Evaluation) -> BTreeSet<String> {
    e.scopes
        .iter()
        .flat_map(|s| {
            s.approved_by
                .iter()
                .chain(&s.rejected_by)
                .chain(&s.can_approve)
        })
        .filter(|p| *p != "*")
        .map(|p| p.to_lowercase())
        .collect()
}

/// The lowercased logins who could still approve a pending scope: the only people whose
/// Slack status matters (an "(away)" mark or a skipped mention).
pub fn awaiting(e: &Evaluation) -> BTreeSet<String> {
    e.scopes
        .iter()
        .filter(|s| s.state == ScopeState::Pending)
        .flat_map(ScopeResult::still_can_approve)
        .filter(|p| *p != "*")
        .map(|p| p.to_lowercase())
        .collect()
}

fn scope_line(
    e: &Evaluation,
    s: &ScopeResult,
    users: &HashMap<String, String>,
    slack_away: &BTreeSet<String>,
) -> String {
    let name = escape_slack(&s.name);
    // "(away)" only where it helps: next to people who could still approve.
    let people = |list: &[String], mark_away: bool| {
        list.iter()
            .map(|p| {
                let away = mark_away && is_away(e, slack_away, p);
                let shown = match users.get(&p.to_lowercase()) {
                    Some(id) => format!("<@{id}>"),
                    None => escape_slack(p),
                };
                format!("{shown}{}", if away { " (away)" } else { "" })
            })
            .collect::<Vec<_>>()
    };
    match s.state {
        ScopeState::Approved => format!(
            "✅ {name} · approved by {}",
            people(&s.approved_by, false).join(", ")
        ),
        ScopeState::Waived => format!(
            "✅ {name} · waived by {}",
            escape_slack(&s.waived_by.join(", "))
        ),
        ScopeState::Rejected => format!(
            "❌ {name} · changes requested by {}",
            people(&s.rejected_by, false).join(", ")
        ),
        ScopeState::Pending => {
            let more = s.required.saturating_sub(s.points);
            let who = if s.can_approve.iter().any(|c| c == "*") {
                "anyone".to_string()
            } else {
                let missing: Vec<String> = s.still_can_approve().cloned().collect();
                or_list(&people(&missing, true))
            };
            let mut line = format!("⏳ {name} · needs {more} more: {who}");
            for sentence in report::incomplete_checklist_sentences(s) {
                line.push_str(&format!(" ({})", escape_slack(&sentence)));
            }
            line
        }
    }
}

/// A pending scope whose reviewers are worth a mention: those who can approve it and are
/// neither requested (the forge notified them) nor approving, nor away, and are in the
/// workspace's user map (a plain name would notify nobody).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMention {
    /// The scope's name.
    pub scope: String,
    /// Approvals still needed.
    pub more: u32,
    /// Their Slack user ids, in the rules' order.
    pub slack_ids: Vec<String>,
}

/// The pending scopes to mention reviewers for (see [`PendingMention`]); nobody away (on the
/// forge or in `slack_away`) is mentioned.
pub fn pending_mentions(
    e: &Evaluation,
    requested: &[String],
    users: &HashMap<String, String>,
    slack_away: &BTreeSet<String>,
) -> Vec<PendingMention> {
    let is_in = |list: &[String], p: &str| list.iter().any(|x| x.eq_ignore_ascii_case(p));
    e.scopes
        .iter()
        .filter(|s| s.state == ScopeState::Pending)
        .filter_map(|s| {
            let mut slack_ids: Vec<String> = Vec::new();
            for p in s.still_can_approve() {
                if p == "*" || is_in(requested, p) || is_away(e, slack_away, p) {
                    continue;
                }
                if let Some(id) = users.get(&p.to_lowercase())
                    && !slack_ids.contains(id)
                {
                    slack_ids.push(id.clone());
                }
            }
            (!slack_ids.is_empty()).then(|| PendingMention {
                scope: s.name.clone(),
                more: s.required.saturating_sub(s.points),
                slack_ids,
            })
        })
        .collect()
}

/// The thread reply that mentions a pending scope's reviewers.
pub fn mention_text(m: &PendingMention) -> String {
    let who: Vec<String> = m.slack_ids.iter().map(|id| format!("<@{id}>")).collect();
    format!(
        "👋 *{}* needs {} more review{}: {}",
        escape_slack(&m.scope),
        m.more,
        if m.more == 1 { "" } else { "s" },
        or_list(&who)
    )
}

/// A pending scope as a reminder names it: who could still approve it, requested or not,
/// minus anyone away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderScope {
    /// The scope's name.
    pub scope: String,
    /// Approvals still needed.
    pub more: u32,
    /// Anyone may approve it (`*`).
    pub anyone: bool,
    /// The people still needed, shown as Slack mentions (mapped) or plain names, in the rules'
    /// order; nobody away.
    pub who: Vec<String>,
}

/// The pending scopes of `e` for a reminder (see [`ReminderScope`]). Unlike the first mention
/// ([`pending_mentions`]) a reminder names requested reviewers too (they were asked and have
/// not answered) and unmapped people by name; people away (on the forge or in `slack_away`)
/// are left out.
pub fn reminder_scopes(
    e: &Evaluation,
    users: &HashMap<String, String>,
    slack_away: &BTreeSet<String>,
) -> Vec<ReminderScope> {
    e.scopes
        .iter()
        .filter(|s| s.state == ScopeState::Pending)
        .map(|s| {
            let mut who: Vec<String> = Vec::new();
            for p in s.still_can_approve() {
                if p == "*" || is_away(e, slack_away, p) {
                    continue;
                }
                let shown = match users.get(&p.to_lowercase()) {
                    Some(id) => format!("<@{id}>"),
                    None => escape_slack(p),
                };
                if !who.contains(&shown) {
                    who.push(shown);
                }
            }
            ReminderScope {
                scope: s.name.clone(),
                more: s.required.saturating_sub(s.points),
                anyone: s.can_approve.iter().any(|c| c == "*"),
                who,
            }
        })
        .collect()
}

/// The reminder reply: `⏰ Still waiting for review after 24h of working time · backend needs
/// 1 more: <@U0BOB> or mo`, one `· scope needs N more: …` part per pending scope that someone
/// present can approve. `None` when there is nobody to remind (every needed reviewer away).
/// `waited` is the working time since the pull request became pending, as shown (`24h`).
pub fn reminder_text(waited: &str, scopes: &[ReminderScope]) -> Option<String> {
    let parts: Vec<String> = scopes
        .iter()
        .filter(|s| s.anyone || !s.who.is_empty())
        .map(|s| {
            let who = if s.anyone {
                "anyone".to_string()
            } else {
                or_list(&s.who)
            };
            format!("{} needs {} more: {who}", escape_slack(&s.scope), s.more)
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "⏰ Still waiting for review after {waited} of working time · {}",
        parts.join(" · ")
    ))
}

/// "a", "a or b", "a, b or c"; at most five names, then "+N".
fn or_list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let shown = &names[..names.len().min(SHOWN)];
    let mut text = match shown {
        [] => "nobody".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    };
    if names.len() > SHOWN {
        text.push_str(&format!(" +{}", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use codereview_policy::config::{ConfigFile, RawSet};
    use codereview_policy::diff::FileDiff;
    use codereview_policy::review::{
        LargeScaleLimits, PullRequest, Review, ReviewState, ReviewerFacts, evaluate,
    };

    fn evaluation(reviews: &[(&str, ReviewState)], away: &[&str]) -> Evaluation {
        let configs = RawSet::parse([ConfigFile {
            path: "CODEREVIEW.toml".into(),
            text: "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"ana\", \"li\", \"mo\"]\nrequire = 2\nrequest = 1\n\n\
                   [[scopes]]\nname = \"docs\"\npaths = [\"docs/**\"]\nreviewers = [\"*\"]\nrequire = 1\n"
                .into(),
        }])
        .unwrap()
        .compile(None)
        .unwrap();
        let file = |p: &str| FileDiff {
            path: p.into(),
            additions: 1,
            ..FileDiff::default()
        };
        let pr = PullRequest {
            number: 3,
            author: "bob".into(),
            files: vec![file("src/a.rs"), file("docs/a.md")],
            reviews: reviews
                .iter()
                .map(|(u, s)| Review {
                    user: u.to_string(),
                    state: *s,
                    commit: None,
                    submitted_at: None,
                    body: String::new(),
                })
                .collect(),
            reviewer_facts: ReviewerFacts {
                away: away.iter().map(|a| a.to_string()).collect(),
                open_requests: None,
            },
            ..PullRequest::default()
        };
        evaluate(&configs, &pr, LargeScaleLimits::default()).unwrap()
    }

    #[test]
    fn each_scope_says_its_state_and_who_can_still_approve() {
        let e = evaluation(&[("ana", ReviewState::Approved)], &[]);
        assert_eq!(
            scope_lines(&e, &HashMap::new(), &BTreeSet::new()),
            [
                "⏳ backend · needs 1 more: li or mo",
                "✅ docs · approved by ana"
            ]
        );
        let e = evaluation(
            &[
                ("ana", ReviewState::Approved),
                ("li", ReviewState::Approved),
                ("zed", ReviewState::Approved),
            ],
            &[],
        );
        assert_eq!(
            scope_lines(&e, &HashMap::new(), &BTreeSet::new()),
            [
                "✅ backend · approved by ana, li",
                "✅ docs · approved by ana, li, zed"
            ]
        );
        let e = evaluation(&[("mo", ReviewState::ChangesRequested)], &[]);
        assert_eq!(
            scope_lines(&e, &HashMap::new(), &BTreeSet::new()),
            [
                "❌ backend · changes requested by mo",
                "❌ docs · changes requested by mo"
            ]
        );
    }

    #[test]
    fn away_people_are_marked() {
        let e = evaluation(&[], &["li"]);
        assert_eq!(
            scope_lines(&e, &HashMap::new(), &BTreeSet::new())[0],
            "⏳ backend · needs 2 more: ana, li (away) or mo"
        );
    }

    #[test]
    fn mapped_people_are_mentioned() {
        let e = evaluation(&[], &[]);
        assert_eq!(
            people(&e),
            BTreeSet::from(["ana".into(), "li".into(), "mo".into()])
        );
        let users = HashMap::from([("li".to_string(), "U0LI".to_string())]);
        assert_eq!(
            scope_lines(&e, &users, &BTreeSet::new())[0],
            "⏳ backend · needs 2 more: ana, <@U0LI> or mo"
        );
    }

    #[test]
    fn only_mapped_reviewers_not_yet_asked_are_mentioned() {
        let e = evaluation(&[], &["mo"]);
        let users = HashMap::from([
            ("ana".to_string(), "U0ANA".to_string()),
            ("li".to_string(), "U0LI".to_string()),
            ("mo".to_string(), "U0MO".to_string()),
        ]);
        // li is requested on the forge already, mo is away: only ana is mentioned.
        assert_eq!(
            awaiting(&e),
            BTreeSet::from(["ana".into(), "li".into(), "mo".into()])
        );
        let m = pending_mentions(&e, &["LI".to_string()], &users, &BTreeSet::new());
        assert_eq!(
            m,
            [PendingMention {
                scope: "backend".into(),
                more: 2,
                slack_ids: vec!["U0ANA".into()]
            }]
        );
        assert_eq!(
            mention_text(&m[0]),
            "👋 *backend* needs 2 more reviews: <@U0ANA>"
        );
        // Nobody mapped: no mention at all.
        assert!(pending_mentions(&e, &[], &HashMap::new(), &BTreeSet::new()).is_empty());
        // Away in Slack: not mentioned, marked in the line.
        let slack_away = BTreeSet::from(["ana".to_string()]);
        assert!(pending_mentions(&e, &["li".to_string()], &users, &slack_away).is_empty());
        assert_eq!(
            scope_lines(&e, &users, &slack_away)[0],
            "⏳ backend · needs 2 more: <@U0ANA> (away), <@U0LI> or <@U0MO> (away)"
        );
    }

    #[test]
    fn reminders_name_everyone_still_needed_who_is_present() {
        let e = evaluation(&[("ana", ReviewState::Approved)], &[]);
        let users = HashMap::from([("li".to_string(), "U0LI".to_string())]);
        let away = BTreeSet::from(["mo".to_string()]);
        let scopes = reminder_scopes(&e, &users, &away);
        // backend: ana approved, mo is away: li (requested or not) is named; docs is approved.
        assert_eq!(
            scopes,
            [ReminderScope {
                scope: "backend".into(),
                more: 1,
                anyone: false,
                who: vec!["<@U0LI>".into()]
            }]
        );
        assert_eq!(
            reminder_text("24h", &scopes).unwrap(),
            "⏰ Still waiting for review after 24h of working time · backend needs 1 more: <@U0LI>"
        );
        // Away on the forge counts too.
        let e = evaluation(&[], &["mo"]);
        let scopes = reminder_scopes(&e, &users, &BTreeSet::new());
        assert_eq!(scopes[0].who, ["ana", "<@U0LI>"]);
        // Nobody reviewed: both scopes wait; unmapped people by name, anyone for `*`.
        let e = evaluation(&[], &[]);
        let scopes = reminder_scopes(&e, &users, &BTreeSet::new());
        assert_eq!(
            reminder_text("1h30m", &scopes).unwrap(),
            "⏰ Still waiting for review after 1h30m of working time · backend needs 2 more: ana, <@U0LI> or mo · docs needs 1 more: anyone"
        );
        // Everyone needed for backend away, in Slack or on the forge: nothing to say about it.
        let e = evaluation(&[("ana", ReviewState::Approved)], &[]);
        let away = BTreeSet::from(["li".to_string(), "mo".to_string()]);
        let scopes = reminder_scopes(&e, &users, &away);
        assert!(scopes[0].who.is_empty());
        assert_eq!(reminder_text("24h", &scopes), None);
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (1..=7).map(|i| format!("p{i}")).collect();
        assert_eq!(or_list(&names), "p1, p2, p3, p4 or p5 +2");
        assert_eq!(or_list(&[]), "nobody");
    }
}
