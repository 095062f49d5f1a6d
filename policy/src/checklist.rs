//! Approval checklists (PullApprove 5 `checklist`) without a web UI: the instructions comment
//! shows each matched scope's checklist as a Markdown task list; a reviewer copies it into the
//! approving review (GitHub review body, GitLab comment), ticks the boxes and writes notes after
//! the items; an approval then counts for that scope only when its answer is complete.
//!
//! The format, written by [`render`] and read by [`answer`]:
//!
//! ```markdown
//! #### Checklist: backend
//!
//! - [x] Migrations reviewed
//! - [ ] Rollback plan written — notes: see the runbook, step 4
//! ```
//!
//! A section starts at a line `Checklist: <scope>` (a Markdown heading or plain text, any case);
//! items are task-list lines (`- [ ]`, `- [x]`, `*`/`+` bullets too) whose text starts with the
//! item's label; the note is what follows the label on that line (after `—`, `-`, `:` or
//! `notes:`), plus indented lines under the item. A text with no `Checklist:` line at all is
//! read as one section for every scope, so a reviewer may paste only the items.

use crate::config::compiled::{Checklist, ChecklistItem};
use std::fmt::Write as _;

/// One item as a reviewer answered it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemAnswer {
    /// The box is ticked.
    pub checked: bool,
    /// The note written after the item (trimmed; empty when none).
    pub note: String,
}

/// The first line of a checklist section for `scope`.
pub fn heading(scope: &str) -> String {
    format!("#### Checklist: {scope}")
}

/// `scope`'s checklist as the Markdown task list reviewers copy (unticked, with a `notes:`
/// placeholder where a note is wanted and the help text indented under the item).
pub fn render(scope: &str, checklist: &Checklist) -> String {
    let mut out = format!("{}\n\n", heading(scope));
    for item in &checklist.items {
        let _ = write!(out, "- [ ] {}", item.label);
        match item.notes.as_str() {
            "disabled" => {}
            "optional" => out.push_str(" — notes (optional):"),
            _ => out.push_str(" — notes:"),
        }
        out.push('\n');
        let mut rules = Vec::new();
        if !item.required {
            rules.push("optional item");
        }
        match item.notes.as_str() {
            "required" => rules.push("a note is required"),
            "required_if_checked" => rules.push("a note is required when checked"),
            "required_if_unchecked" => rules.push("a note is required when not checked"),
            _ => {}
        }
        let help = item.help.trim();
        if !help.is_empty() || !rules.is_empty() {
            let mut line = help.to_string();
            if !rules.is_empty() {
                if !line.is_empty() {
                    line.push(' ');
                }
                let _ = write!(line, "({})", rules.join("; "));
            }
            let _ = writeln!(out, "  <sub>{line}</sub>");
        }
    }
    out
}

/// The scope a `Checklist: <scope>` line opens, if `line` is one.
fn section_scope(line: &str) -> Option<&str> {
    let text = line.trim().trim_start_matches('#').trim();
    let text = text.trim_matches('*').trim();
    let (word, rest) = text.split_at_checked("checklist:".len())?;
    word.eq_ignore_ascii_case("checklist:")
        .then(|| rest.trim().trim_matches('*').trim())
}

/// A task-list line: `(checked, text after the box)`.
fn task(line: &str) -> Option<(bool, &str)> {
    let rest = line.trim_start().strip_prefix(['-', '*', '+'])?;
    let rest = rest.strip_prefix(' ')?.trim_start();
    let checked = match rest.get(..3)? {
        "[ ]" => false,
        "[x]" | "[X]" => true,
        _ => return None,
    };
    Some((checked, rest[3..].trim()))
}

/// What follows a label on its line, without the separators and the `notes:` placeholder.
fn note_after_label(rest: &str) -> String {
    let mut note = rest.trim();
    loop {
        let before = note;
        note = note.trim_start_matches(['—', '–', '-', ':']).trim_start();
        for placeholder in ["notes (optional):", "notes:", "note:"] {
            if note.len() >= placeholder.len()
                && note[..placeholder.len()].eq_ignore_ascii_case(placeholder)
            {
                note = note[placeholder.len()..].trim_start();
            }
        }
        if note == before {
            return note.trim().to_string();
        }
    }
}

/// The answers to `items` found in `text` under `scope`'s section (or anywhere, when `text` has
/// no section line). An item not found is unticked with no note.
pub fn answer(text: &str, scope: &str, items: &[ChecklistItem]) -> Vec<ItemAnswer> {
    let lines: Vec<&str> = text.lines().collect();
    let sectioned = lines.iter().any(|l| section_scope(l).is_some());
    let mut answers = vec![ItemAnswer::default(); items.len()];
    let mut inside = !sectioned;
    let mut current: Option<usize> = None;
    for line in lines {
        if let Some(name) = section_scope(line) {
            inside = name.eq_ignore_ascii_case(scope);
            current = None;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((checked, text)) = task(line) {
            // The longest label the text starts with, so "Tests" does not take "Tests pass".
            current = items
                .iter()
                .enumerate()
                .filter(|(_, item)| text.starts_with(item.label.trim()))
                .max_by_key(|(_, item)| item.label.trim().len())
                .map(|(i, _)| i);
            if let Some(i) = current {
                answers[i] = ItemAnswer {
                    checked,
                    note: note_after_label(&text[items[i].label.trim().len()..]),
                };
            }
        } else if let Some(i) = current {
            let indented = line.starts_with("  ") || line.starts_with('\t');
            let more = line.trim();
            if !indented || more.is_empty() {
                current = None;
            } else if !more.starts_with("<sub>") {
                let note = &mut answers[i].note;
                if !note.is_empty() {
                    note.push(' ');
                }
                note.push_str(more);
            }
        }
    }
    answers
}

/// What an answer lacks, one phrase per gap ("checking 'Migrations reviewed'", "a note for
/// 'Rollback plan'"); empty when the answer is complete.
pub fn missing(items: &[ChecklistItem], answers: &[ItemAnswer]) -> Vec<String> {
    let mut out = Vec::new();
    for (item, a) in items.iter().zip(answers) {
        if item.required && !a.checked {
            out.push(format!("checking '{}'", item.label));
        }
        let note_needed = match item.notes.as_str() {
            "required" => true,
            "required_if_checked" => a.checked,
            "required_if_unchecked" => !a.checked,
            _ => false,
        };
        if note_needed && a.note.is_empty() {
            out.push(format!("a note for '{}'", item.label));
        }
    }
    out
}

/// Whether `text` holds a task list (`- [ ]`/`- [x]` lines): where a forge that keeps
/// approvals apart from text (GitLab) finds an approver's answer.
pub fn has_task_list(text: &str) -> bool {
    text.lines().any(|l| task(l).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: &str, required: bool, notes: &str) -> ChecklistItem {
        ChecklistItem {
            label: label.into(),
            required,
            notes: notes.into(),
            help: String::new(),
        }
    }

    fn list() -> Vec<ChecklistItem> {
        vec![
            item("Migrations reviewed", true, "optional"),
            item("Rollback plan", true, "required"),
            item("Docs updated", false, "required_if_unchecked"),
            item("Tests", true, "disabled"),
            item("Tests pass on staging", true, "required_if_checked"),
        ]
    }

    #[test]
    fn the_rendered_list_reads_back_as_unticked_with_no_notes() {
        let items = list();
        let text = render(
            "backend",
            &Checklist {
                items: items.clone(),
            },
        );
        let answers = answer(&text, "backend", &items);
        assert!(
            answers.iter().all(|a| !a.checked && a.note.is_empty()),
            "{answers:?}\n{text}"
        );
        assert_eq!(
            missing(&items, &answers),
            [
                "checking 'Migrations reviewed'",
                "checking 'Rollback plan'",
                "a note for 'Rollback plan'",
                "a note for 'Docs updated'",
                "checking 'Tests'",
                "checking 'Tests pass on staging'",
            ]
        );
    }

    #[test]
    fn a_completed_copy_is_complete() {
        let items = list();
        let text = "Looks good.\n\n#### Checklist: backend\n\n\
            - [x] Migrations reviewed — notes (optional):\n\
            - [X] Rollback plan — notes: revert 4f2a, then\n  run the down migration\n\
            - [ ] Docs updated: no user-visible change\n\
            * [x] Tests\n\
            + [x] Tests pass on staging - notes: job 118\n";
        let answers = answer(text, "backend", &items);
        assert_eq!(answers[1].note, "revert 4f2a, then run the down migration");
        assert_eq!(answers[2].note, "no user-visible change");
        assert_eq!(answers[4].note, "job 118");
        assert!(answers[3].checked && answers[3].note.is_empty());
        assert_eq!(missing(&items, &answers), Vec::<String>::new());
    }

    #[test]
    fn sections_keep_scopes_apart_and_bare_lists_answer_every_scope() {
        let items = vec![item("Reviewed", true, "optional")];
        let text =
            "**Checklist: frontend**\n- [x] Reviewed\n\n## checklist: Backend\n- [ ] Reviewed\n";
        assert!(answer(text, "frontend", &items)[0].checked);
        assert!(!answer(text, "backend", &items)[0].checked);
        assert!(!answer(text, "ops", &items)[0].checked);
        assert!(has_task_list(text));
        let bare = "- [x] Reviewed";
        assert!(answer(bare, "ops", &items)[0].checked);
        assert!(has_task_list(bare));
        assert!(!has_task_list("LGTM"));
        assert!(!has_task_list("- [a link](https://example.com)"));
    }

    #[test]
    fn a_ticked_box_with_another_label_does_not_count() {
        let items = vec![item("Security reviewed", true, "optional")];
        let answers = answer("- [x] Security", "s", &items);
        assert!(!answers[0].checked);
        assert_eq!(missing(&items, &answers), ["checking 'Security reviewed'"]);
    }
}
