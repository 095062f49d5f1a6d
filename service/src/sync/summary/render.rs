//! How a summary is shown: a reply in the PR's Slack thread, a PR comment, and the footer
//! naming what the model did not see.

use std::collections::HashMap;

use serde_json::json;

use super::super::markup::{escape_slack, markdown_to_slack};
use super::super::render::SlackText;
use super::budget::Cut;
use super::{PATH_MAX, one_line};

/// Most left-out files named in a footer.
const FOOTER_NAMES: usize = 10;

/// The line under a posted summary naming what the model did not see, if anything:
/// "3 files left out: Cargo.lock, dist/app.min.js, logo.png; cut short: src/big.rs".
pub fn footer(cut: &Cut) -> Option<String> {
    let mut parts = Vec::new();
    if !cut.left_out.is_empty() {
        let n = cut.left_out.len();
        let mut names: Vec<String> = cut
            .left_out
            .iter()
            .take(FOOTER_NAMES)
            .map(|l| one_line(&l.path, PATH_MAX))
            .collect();
        if n > FOOTER_NAMES {
            names.push(format!("and {} more", n - FOOTER_NAMES));
        }
        parts.push(format!(
            "{n} file{} left out: {}",
            if n == 1 { "" } else { "s" },
            names.join(", ")
        ));
    }
    if let Some(path) = &cut.truncated {
        parts.push(format!("cut short: {}", one_line(path, PATH_MAX)));
    }
    if cut.incomplete {
        parts.push("the diff was too large to read in full".into());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn model_label(model: &str) -> String {
    one_line(model, 100).replace('`', "")
}

/// The summary as a reply in the PR's Slack thread.
pub fn slack_reply(model: &str, summary: &str, footer: Option<&str>) -> SlackText {
    let head = format!(
        "🤖 *AI summary* (model `{}`)",
        escape_slack(&model_label(model))
    );
    let body = markdown_to_slack(summary, &HashMap::new());
    let section = format!("{head}\n{body}");
    match footer {
        Some(f) => {
            let f = escape_slack(f);
            SlackText {
                text: format!("{section}\n{f}"),
                blocks: Some(json!([
                    {"type": "section", "text": {"type": "mrkdwn", "text": section}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": f}]},
                ])),
            }
        }
        None => SlackText {
            blocks: Some(json!([
                {"type": "section", "text": {"type": "mrkdwn", "text": section}},
            ])),
            text: section,
        },
    }
}

/// Breaks `@login` mentions (a zero-width space after the `@`) so a model's answer cannot
/// notify people on the forge.
pub fn defuse_mentions(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut chars = md.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '@' && chars.peek().is_some_and(|n| n.is_ascii_alphanumeric()) {
            out.push('\u{200B}');
        }
    }
    out
}

/// The summary as a PR comment (Markdown), when the repository asked for one.
pub fn forge_comment(model: &str, summary: &str, footer: Option<&str>) -> String {
    let mut body = format!(
        "**AI summary** (model `{}`)\n\n{}\n",
        model_label(model),
        defuse_mentions(summary)
    );
    let note = "Written by a language model from the diff: it may be incomplete or wrong.";
    match footer {
        Some(f) => body.push_str(&format!("\n<sub>{} · {note}</sub>\n", defuse_mentions(f))),
        None => body.push_str(&format!("\n<sub>{note}</sub>\n")),
    }
    body
}

#[cfg(test)]
mod tests {
    use super::super::budget::{LeftOut, Why};
    use super::*;

    #[test]
    fn footers() {
        let mut c = Cut::default();
        assert_eq!(footer(&c), None);
        c.left_out = (0..12)
            .map(|i| LeftOut {
                path: format!("f{i}"),
                why: Why::Budget,
            })
            .collect();
        c.truncated = Some("src/big.rs".into());
        c.incomplete = true;
        assert_eq!(
            footer(&c).unwrap(),
            "12 files left out: f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, and 2 more; cut short: src/big.rs; the diff was too large to read in full"
        );
    }

    #[test]
    fn renders() {
        let r = slack_reply(
            "gpt-4o-mini",
            "- Adds `cache<K>`\n- **Bold** & more",
            Some("1 file left out: Cargo.lock"),
        );
        assert_eq!(
            r.text,
            "🤖 *AI summary* (model `gpt-4o-mini`)\n- Adds `cache&lt;K&gt;`\n- *Bold* &amp; more\n1 file left out: Cargo.lock"
        );
        assert_eq!(r.blocks.as_ref().unwrap()[1]["type"], "context");
        let r = slack_reply("m`x", "<!channel> hi", None);
        assert!(r.text.contains("&lt;!channel&gt;"), "{}", r.text);
        assert!(r.text.contains("model `mx`"));
        let c = forge_comment(
            "llama3",
            "- pings @alice and mail a@b.c",
            Some("1 file left out: go.sum"),
        );
        assert!(c.starts_with("**AI summary** (model `llama3`)\n\n- pings @\u{200B}alice"));
        assert!(c.contains("<sub>1 file left out: go.sum · Written by a language model"));
    }
}
