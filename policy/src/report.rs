//! How an evaluation is told: the commit-status description (≤ 140 characters, says who is
//! missing), the Markdown job summary, the CI outputs, and the dry-run text.

use crate::config::ConfigError;
use crate::review::{Evaluation, Overall, ScopeResult, ScopeState};
use std::fmt::Write as _;

/// First line of the PR comment that carries the matched scopes' `instructions`: how a later
/// run finds the comment again to keep it current instead of posting another.
pub const INSTRUCTIONS_MARKER: &str = "<!-- codereview:instructions -->";

/// The body of the instructions comment, or `None` when the rules use no `instructions`.
/// Lists each matched scope that has instructions, in declaration order; when none matches
/// any more it says so (an earlier comment is then edited, never a new one posted).
pub fn instructions_comment(e: &Evaluation) -> Option<InstructionsComment> {
    if !e.instructions_in_use {
        return None;
    }
    let mut body = format!("{INSTRUCTIONS_MARKER}\n");
    let mut any = false;
    for scope in &e.scopes {
        let text = scope.scope.instructions.trim();
        if !text.is_empty() {
            any = true;
            let _ = write!(
                body,
                "\n#### Review instructions: {}\n\n{text}\n",
                scope.name
            );
        }
    }
    let with_checklists: Vec<_> = e
        .scopes
        .iter()
        .filter_map(|s| s.scope.checklist.as_ref().map(|c| (s, c)))
        .collect();
    if !with_checklists.is_empty() {
        any = true;
        body.push_str(CHECKLIST_HOWTO);
        for (scope, checklist) in with_checklists {
            let _ = write!(
                body,
                "\n{}",
                crate::checklist::render(&scope.name, checklist)
            );
        }
    }
    if !any {
        body.push_str("\nNo review scope with instructions matches this pull request any more.\n");
    }
    Some(InstructionsComment {
        body,
        post_new: any,
    })
}

/// How to answer the checklists, above them in the instructions comment.
const CHECKLIST_HOWTO: &str = "\n### Approval checklists\n\nAn approval counts for a scope below only \
with its checklist completed. Copy the scope's section (from its `Checklist:` line) into the \
comment of your approving review (GitLab: a comment, before you approve), tick the boxes and \
write any note after the item.\n";

/// What the PR's instructions comment should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionsComment {
    /// Full Markdown body, starting with [`INSTRUCTIONS_MARKER`].
    pub body: String,
    /// Whether to post it when the PR has no such comment yet (false when nothing matched:
    /// only an existing comment is brought up to date).
    pub post_new: bool,
}

/// GitHub and GitLab cut status descriptions at 140 characters.
pub const MAX_DESCRIPTION: usize = 140;

/// Cut `text` to `max` characters, ending with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// "alice, bob, carol +2" — who could still approve, excluding those who already did.
fn who(scope: &ScopeResult) -> String {
    if scope.can_approve.iter().any(|c| c == "*") {
        return "anyone".to_string();
    }
    let missing: Vec<&String> = scope.still_can_approve().collect();
    let shown: Vec<&str> = missing.iter().take(3).map(|s| s.as_str()).collect();
    let mut s = shown.join(", ");
    if missing.len() > 3 {
        let _ = write!(s, " +{}", missing.len() - 3);
    }
    if s.is_empty() {
        s = "nobody".to_string();
    }
    s
}

/// What one scope still needs, e.g. `backend needs 1 more (alice, bob)`.
pub fn need(scope: &ScopeResult) -> String {
    match scope.state {
        ScopeState::Rejected => format!(
            "{} has changes requested by {}",
            scope.name,
            scope.rejected_by.join(", ")
        ),
        _ => {
            let more = scope.required.saturating_sub(scope.points);
            let mut s = format!("{} needs {more} more ({})", scope.name, who(scope));
            if let Some(problem) = &scope.problem {
                let _ = write!(s, " — {problem}");
            }
            for sentence in incomplete_checklist_sentences(scope) {
                let _ = write!(s, "; {sentence}");
            }
            s
        }
    }
}

/// "ana approved backend without checking 'Migrations reviewed'", one per approval that does
/// not count because the scope's checklist was incomplete.
pub fn incomplete_checklist_sentences(scope: &ScopeResult) -> Vec<String> {
    scope
        .incomplete_checklists
        .iter()
        .map(|(login, gaps)| format!("{login} approved {} without {}", scope.name, join_and(gaps)))
        .collect()
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The one-line status description, ≤ 140 characters.
pub fn description(e: &Evaluation) -> String {
    if e.draft {
        return "Draft is not ready for review".to_string();
    }
    if e.scopes.is_empty() {
        return "No review scopes matched".to_string();
    }
    // "2 scopes approved, 1 waived, 1 pending": the first count carries the noun.
    let mut text = String::new();
    for state in [
        ScopeState::Approved,
        ScopeState::Waived,
        ScopeState::Rejected,
        ScopeState::Pending,
    ] {
        let n = e.scopes.iter().filter(|r| r.state == state).count();
        if n == 0 {
            continue;
        }
        if text.is_empty() {
            let _ = write!(text, "{} {}", plural(n, "scope"), state.word());
        } else {
            let _ = write!(text, ", {n} {}", state.word());
        }
    }
    if e.large_scale {
        text = format!("Large-scale change: {text}");
    }
    let blocking: Vec<String> = e
        .scopes
        .iter()
        .filter(|s| s.state == ScopeState::Rejected)
        .chain(e.scopes.iter().filter(|s| s.state == ScopeState::Pending))
        .map(need)
        .collect();
    if e.overall == Overall::Success && !blocking.is_empty() {
        text.push_str(" (every file approved)");
    } else if !blocking.is_empty() {
        let _ = write!(text, ": {}", blocking.join("; "));
    }
    truncate(&text, MAX_DESCRIPTION)
}

/// The failure description for an invalid configuration: names the file and line.
pub fn config_error_description(error: &ConfigError) -> String {
    truncate(&format!("Invalid config: {error}"), MAX_DESCRIPTION)
}

fn state_badge(state: ScopeState) -> &'static str {
    match state {
        ScopeState::Approved => "✅ approved",
        ScopeState::Waived => "☑️ waived",
        ScopeState::Rejected => "❌ rejected",
        ScopeState::Pending => "⏳ pending",
    }
}

fn overall_badge(o: Overall) -> &'static str {
    match o {
        Overall::Success => "✅ success",
        Overall::Pending => "⏳ pending",
        Overall::Failure => "❌ failure",
    }
}

fn code_list(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .map(|i| format!("`{}`", i.replace('`', "'")))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        let _ = write!(s, " +{} more", items.len() - max);
    }
    s
}

/// Facts about the run that the summary mentions.
#[derive(Debug, Clone, Default)]
pub struct SummaryContext {
    /// Status context name.
    pub context: String,
    /// Config files the pull request modifies (evaluated from the base branch's copy).
    pub configs_modified: Vec<String>,
    /// Whether nothing was written (dry run).
    pub dry_run: bool,
    /// How many changed lines are mechanically trivial (`codereview trust`), when the checkout
    /// has the history to tell.
    pub mechanical: Option<crate::trust::Mechanical>,
}

/// The Markdown job summary: verdict, a table with one row per scope, files per scope, and
/// what was requested or labelled.
pub fn markdown(e: &Evaluation, ctx: &SummaryContext) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## {}: {}\n", ctx.context, overall_badge(e.overall));
    let _ = writeln!(md, "{}\n", description(e));
    let _ = writeln!(
        md,
        "{} changed, {} lines.{}\n",
        plural(e.changed_files, "file"),
        e.changed_lines,
        if e.large_scale {
            " Reviewed as one **large-scale change**."
        } else {
            ""
        }
    );
    if let Some(m) = ctx.mechanical.filter(|m| m.changed_lines > 0) {
        let _ = writeln!(
            md,
            "{} of {} changed lines are mechanical (lockfiles, formatting, comments, imports, type annotations: `codereview diff` hides them).\n",
            m.trusted_lines, m.changed_lines
        );
    }
    if !ctx.configs_modified.is_empty() {
        let _ = writeln!(
            md,
            "> This pull request modifies {}: it is evaluated with the **base branch's** rules, so a pull request cannot change the rules it is judged by.\n",
            code_list(&ctx.configs_modified, 5)
        );
    }
    if !e.scopes.is_empty() {
        md.push_str("| Scope | State | Points | Who can approve | Files |\n");
        md.push_str("|---|---|---|---|---|\n");
        for s in &e.scopes {
            let mut state = state_badge(s.state).to_string();
            if !s.approved_by.is_empty() {
                let _ = write!(state, " by {}", s.approved_by.join(", "));
            }
            if !s.rejected_by.is_empty() {
                let _ = write!(
                    state,
                    " (changes requested by {})",
                    s.rejected_by.join(", ")
                );
            }
            if !s.waived_by.is_empty() {
                let _ = write!(state, " by {}", code_list(&s.waived_by, 5));
            }
            let name = format!("{}{}", s.ownership.marker(), s.name).replace('|', "\\|");
            let _ = writeln!(
                md,
                "| {name} | {state} | {}/{} | {} | {} |",
                s.points,
                s.required,
                if s.can_approve.iter().any(|c| c == "*") {
                    "anyone".to_string()
                } else {
                    s.can_approve.join(", ")
                },
                code_list(&s.files, 5)
            );
        }
        md.push('\n');
        let problems: Vec<String> = e
            .scopes
            .iter()
            .filter_map(|s| s.problem.as_ref().map(|p| format!("- **{}**: {p}", s.name)))
            .collect();
        if !problems.is_empty() {
            let _ = writeln!(
                md,
                "Scopes that cannot pass as configured:\n{}\n",
                problems.join("\n")
            );
        }
        let incomplete: Vec<String> = e
            .scopes
            .iter()
            .flat_map(incomplete_checklist_sentences)
            .map(|s| format!("- {s}"))
            .collect();
        if !incomplete.is_empty() {
            let _ = writeln!(
                md,
                "Approvals that do not count yet (checklist incomplete; approve again with the checklist from the instructions comment):\n{}\n",
                incomplete.join("\n")
            );
        }
    }
    if !e.unread_files.is_empty() {
        md.push_str(
            "Files whose changed lines could not all be checked: every `code` scope matching their paths applies.\n",
        );
        for u in e.unread_files.iter().take(20) {
            let _ = writeln!(
                md,
                "- `{}`: {} → {}",
                u.path.replace('`', "'"),
                u.reason.sentence(),
                u.scopes.join(", ")
            );
        }
        if e.unread_files.len() > 20 {
            let _ = writeln!(md, "- ...and {} more", e.unread_files.len() - 20);
        }
        md.push('\n');
    }
    let unowned: Vec<String> = e
        .files
        .iter()
        .filter(|f| f.state.is_none())
        .map(|f| f.path.clone())
        .collect();
    if !unowned.is_empty() {
        let _ = writeln!(
            md,
            "Files no scope owns (they do not block): {}\n",
            code_list(&unowned, 10)
        );
    }
    let verb = if ctx.dry_run {
        "Would request"
    } else {
        "Requested"
    };
    if !e.to_request.is_empty() {
        let _ = writeln!(md, "{verb} reviews from: {}\n", e.to_request.join(", "));
    }
    if !e.away.is_empty() {
        let _ = writeln!(md, "Away (not requested): {}\n", e.away.join(", "));
    }
    if !e.requested_while_away.is_empty() {
        let _ = writeln!(
            md,
            "{verb} although away (everyone who could review is away): {}\n",
            e.requested_while_away.join(", ")
        );
    }
    if !e.labels_to_add.is_empty() || !e.labels_to_remove.is_empty() {
        let verb = if ctx.dry_run { "Would label" } else { "Labels" };
        let _ = writeln!(
            md,
            "{verb}: +{} −{}\n",
            code_list(&e.labels_to_add, 10),
            code_list(&e.labels_to_remove, 10)
        );
    }
    let with_instructions: Vec<String> = e
        .scopes
        .iter()
        .filter(|s| !s.scope.instructions.trim().is_empty())
        .map(|s| s.name.clone())
        .collect();
    if !with_instructions.is_empty() {
        let verb = if ctx.dry_run {
            "Would post instructions of"
        } else {
            "Instructions posted as a comment for"
        };
        let _ = writeln!(md, "{verb}: {}\n", code_list(&with_instructions, 10));
    }
    md
}

/// CI outputs: `state`, `approved-scopes`, `pending-scopes`, `rejected-scopes`.
pub fn outputs(e: &Evaluation) -> Vec<(&'static str, String)> {
    let names = |f: fn(ScopeState) -> bool| {
        e.scopes
            .iter()
            .filter(|s| f(s.state))
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![
        ("state", e.overall.as_str().to_string()),
        ("approved-scopes", names(ScopeState::is_satisfied)),
        ("pending-scopes", names(|s| s == ScopeState::Pending)),
        ("rejected-scopes", names(|s| s == ScopeState::Rejected)),
    ]
}

/// A terminal-friendly rendering for `--dry-run`.
pub fn text(e: &Evaluation) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}: {}", e.overall.as_str(), description(e));
    for s in &e.scopes {
        let _ = writeln!(
            t,
            "  {}{}: {} ({}/{}){}",
            s.ownership.marker(),
            s.name,
            s.state.word(),
            s.points,
            s.required,
            if s.state.is_satisfied() {
                String::new()
            } else {
                format!(" — {}", need(s))
            }
        );
        for f in s.files.iter().take(20) {
            let _ = writeln!(t, "      {f}");
        }
        if s.files.len() > 20 {
            let _ = writeln!(t, "      ...and {} more", s.files.len() - 20);
        }
    }
    for u in &e.unread_files {
        let _ = writeln!(
            t,
            "  {}: {} → {}",
            u.path,
            u.reason.sentence(),
            u.scopes.join(", ")
        );
    }
    if !e.to_request.is_empty() {
        let _ = writeln!(t, "  request: {}", e.to_request.join(", "));
    }
    if !e.away.is_empty() {
        let _ = writeln!(t, "  away (not requested): {}", e.away.join(", "));
    }
    if !e.requested_while_away.is_empty() {
        let _ = writeln!(
            t,
            "  requested although away (everyone who could review is away): {}",
            e.requested_while_away.join(", ")
        );
    }
    if !e.labels_to_add.is_empty() {
        let _ = writeln!(t, "  add labels: {}", e.labels_to_add.join(", "));
    }
    if !e.labels_to_remove.is_empty() {
        let _ = writeln!(t, "  remove labels: {}", e.labels_to_remove.join(", "));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 4).chars().count(), 4);
    }
}
