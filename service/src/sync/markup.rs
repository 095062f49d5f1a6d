//! Slack mrkdwn ↔ GitHub/GitLab Markdown. Pure string functions, tested exhaustively below.
//!
//! | Slack | Markdown |
//! |---|---|
//! | `<@U123>` | `@login` when mapped, else `@Display Name` (resolved by the caller) |
//! | `<#C1\|name>` | `#name` |
//! | `<url\|text>` / `<url>` | `[text](url)` / `url` |
//! | `*bold*` | `**bold**` (`__bold__` also read) |
//! | `_italic_` | `_italic_` (`*italic*` also read) |
//! | `~strike~` | `~~strike~~` |
//! | `*Heading*` (a bold line) | `# Heading` (read only) |
//! | `&lt; &gt; &amp;` | `< > &` |
//!
//! Forge text is untrusted (any commenter on a public repository, or a prompt-injected AI
//! summary): towards Slack only `http(s)://` and `mailto:` targets become links, and every `<`,
//! `>` and `&` is escaped, so `[x](!channel)`, `<!here>` or `<@U1>` stay plain text. The only
//! mentions that reach Slack are the ones the user map puts there (`@login` → `<@U…>`).
//!
//! Code spans and fenced blocks are copied verbatim apart from Slack's three entity escapes.
//! Mentions are resolved by the caller (they need the store and the APIs) and passed in as
//! maps, so this module stays pure.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What our forge comments start with after the author's name. Used to recognise our own
/// comments when the ledger cannot (see `decide::echo_reason`; [`super::render`] writes it).
pub const ATTRIBUTION_MARK: &str = " (via Slack):";

/// Private-use characters used as placeholders while converting; removed from input first.
const HOLD_OPEN: char = '\u{E000}';
const HOLD_CLOSE: char = '\u{E001}';
const BOLD: char = '\u{E002}';

fn strip_private(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(*c, HOLD_OPEN | HOLD_CLOSE | BOLD))
        .collect()
}

/// Splits text into `(is_code, piece)`: fenced blocks (```` ``` ````) and inline spans (`` ` ``)
/// are code; an unmatched backtick is plain text.
fn segments(text: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut plain_start = 0usize; // offset in `rest` where the current plain piece starts
    let mut search_from = 0usize;
    loop {
        let Some(found) = rest[search_from..].find('`') else {
            out.push((false, &rest[plain_start..]));
            break;
        };
        let i = search_from + found;
        let delim = if rest[i..].starts_with("```") {
            "```"
        } else {
            "`"
        };
        let body_start = i + delim.len();
        let close = rest[body_start..].find(delim).filter(|&j| {
            // Inline code stays on one line and is not empty.
            delim == "```" || (j > 0 && !rest[body_start..body_start + j].contains('\n'))
        });
        match close {
            Some(j) => {
                let end = body_start + j + delim.len();
                out.push((false, &rest[plain_start..i]));
                out.push((true, &rest[i..end]));
                rest = &rest[end..];
                plain_start = 0;
                search_from = 0;
            }
            None => {
                search_from = body_start;
            }
        }
    }
    out.retain(|(_, s)| !s.is_empty());
    out
}

/// Reverses Slack's three escapes in one pass (`&amp;lt;` → `&lt;`, not `<`).
pub fn unescape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (replacement, len) = if tail.starts_with("&lt;") {
            ("<", 4)
        } else if tail.starts_with("&gt;") {
            (">", 4)
        } else if tail.starts_with("&amp;") {
            ("&", 5)
        } else {
            ("&", 1)
        };
        out.push_str(replacement);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Escapes `&`, `<` and `>` as Slack requires for literal text.
pub fn escape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// True for the link targets forge text may turn into a Slack link: `http://`, `https://` and
/// `mailto:` (case-insensitive) with something after the scheme. Anything else (`!channel`,
/// `@U123`, `#C1`, `javascript:`) would be a Slack control sequence or a trap, so it stays text.
pub fn is_safe_link_target(target: &str) -> bool {
    ["http://", "https://", "mailto:"].iter().any(|scheme| {
        target.len() > scheme.len()
            && target.is_char_boundary(scheme.len())
            && target[..scheme.len()].eq_ignore_ascii_case(scheme)
    })
}

/// A Slack link `<url|label>` when `url` is a safe target ([`is_safe_link_target`]), else just
/// the label. `label` must already be Slack text (escaped); the URL is escaped here, and a `|`
/// in it is percent-encoded so it cannot end the URL early.
pub fn slack_link(url: &str, label: &str) -> String {
    if is_safe_link_target(url) {
        format!("<{}|{label}>", escape_slack(&url.replace('|', "%7C")))
    } else {
        label.to_string()
    }
}

/// Escapes like [`escape_slack`] but keeps a `>` that starts a line (a block quote in both
/// Markdown and mrkdwn).
fn escape_keep_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        if let Some(quoted) = rest.strip_prefix('>') {
            out.push_str(&line[..indent]);
            out.push('>');
            out.push_str(&escape_slack(quoted));
        } else {
            out.push_str(&escape_slack(line));
        }
    }
    out
}

fn is_delim_char(delim: &str, c: char) -> bool {
    delim.starts_with(c)
}

fn can_open(text: &str, i: usize, delim: &str) -> bool {
    let prev = text[..i].chars().next_back();
    let next = text[i + delim.len()..].chars().next();
    prev.is_none_or(|c| !c.is_alphanumeric() && !is_delim_char(delim, c))
        && next.is_some_and(|c| !c.is_whitespace() && !is_delim_char(delim, c))
}

fn find_close(text: &str, from: usize, delim: &str) -> Option<usize> {
    let mut k = from;
    while let Some(off) = text[k..].find(delim) {
        let j = k + off;
        if text[from..j].contains('\n') {
            return None;
        }
        let prev = text[..j].chars().next_back();
        let next = text[j + delim.len()..].chars().next();
        if j > from
            && prev.is_some_and(|c| !c.is_whitespace() && !is_delim_char(delim, c))
            && next.is_none_or(|c| !c.is_alphanumeric() && !is_delim_char(delim, c))
        {
            return Some(j);
        }
        k = j + delim.len();
    }
    None
}

/// Rewrites `delim inner delim` pairs (emphasis-style: opening not inside a word, no space
/// just inside, one line) as `open inner close`.
fn convert_pairs(text: &str, delim: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(delim)
            && can_open(text, i, delim)
            && let Some(j) = find_close(text, i + delim.len(), delim)
        {
            out.push_str(open);
            out.push_str(&text[i + delim.len()..j]);
            out.push_str(close);
            i = j + delim.len();
            continue;
        }
        let c = text[i..].chars().next().expect("i is a char boundary");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Parks each replacement in `held` and leaves an index placeholder in the text, so later
/// passes (emphasis, escaping) cannot touch it.
fn hold(held: &mut Vec<String>, value: String) -> String {
    held.push(value);
    format!("{HOLD_OPEN}{}{HOLD_CLOSE}", held.len() - 1)
}

static HELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("\u{E000}(\\d+)\u{E001}").expect("a literal regex"));

fn release(text: &str, held: &[String]) -> String {
    HELD.replace_all(text, |c: &Captures| {
        held.get(c[1].parse::<usize>().unwrap_or(usize::MAX))
            .cloned()
            .unwrap_or_default()
    })
    .into_owned()
}

static SLACK_ANGLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<([^<>\n]+)>").expect("a literal regex"));
static SLACK_USER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>").expect("a literal regex"));

/// Slack user ids mentioned in a message (`<@U123>`), in order, without duplicates.
pub fn slack_user_ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for (code, piece) in segments(text) {
        if code {
            continue;
        }
        for c in SLACK_USER.captures_iter(piece) {
            if !ids.iter().any(|i| i == &c[1]) {
                ids.push(c[1].to_string());
            }
        }
    }
    ids
}

fn slack_angle_to_markdown(inner: &str, users: &HashMap<String, String>) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(unescape_slack(l))),
        None => (inner, None),
    };
    if let Some(id) = target.strip_prefix('@') {
        return users
            .get(id)
            .cloned()
            .or_else(|| label.map(|l| format!("@{}", l.trim_start_matches('@'))))
            .unwrap_or_else(|| format!("@{id}"));
    }
    if let Some(id) = target.strip_prefix('#') {
        return format!("#{}", label.unwrap_or_else(|| id.to_string()));
    }
    if let Some(special) = target.strip_prefix('!') {
        let name = special.split('^').next().unwrap_or(special);
        return match (name, label) {
            ("here" | "channel" | "everyone", _) => format!("@{name}"),
            (_, Some(label)) => label,
            (_, None) => format!("@{name}"),
        };
    }
    let url = unescape_slack(target);
    match label {
        Some(label) if label != url && Some(label.as_str()) != url.strip_prefix("mailto:") => {
            format!("[{label}]({url})")
        }
        Some(label) => label,
        None => url,
    }
}

/// Converts Slack mrkdwn to Markdown. `users` maps Slack user ids to what a mention becomes
/// (`@login`, or `@Display Name` when no login is known).
pub fn slack_to_markdown(text: &str, users: &HashMap<String, String>) -> String {
    let text = strip_private(text);
    let mut out = String::with_capacity(text.len() + 16);
    for (code, piece) in segments(&text) {
        if code {
            out.push_str(&unescape_slack(piece));
            continue;
        }
        let mut held = Vec::new();
        let parked = SLACK_ANGLE
            .replace_all(piece, |c: &Captures| {
                let md = slack_angle_to_markdown(&c[1], users);
                hold(&mut held, md)
            })
            .into_owned();
        let converted = convert_pairs(&parked, "*", "**", "**");
        let converted = convert_pairs(&converted, "~", "~~", "~~");
        out.push_str(&release(&unescape_slack(&converted), &held));
    }
    out
}

static MD_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"!?\[([^\[\]\n]*)\]\(([^()\s]+)(?:\s+"[^"\n]*")?\)"#).expect("a literal regex")
});
static MD_AUTOLINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<((?:https?|mailto):[^<>\s]+)>").expect("a literal regex"));
static MD_MENTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(^|[^A-Za-z0-9_/.@`-])@([A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)")
        .expect("a literal regex")
});
static MD_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$").expect("a literal regex")
});

/// Forge logins mentioned in Markdown (`@login`, outside code), in order, without duplicates.
pub fn markdown_logins(md: &str) -> Vec<String> {
    let mut logins: Vec<String> = Vec::new();
    for (code, piece) in segments(md) {
        if code {
            continue;
        }
        for c in MD_MENTION.captures_iter(piece) {
            if !logins.iter().any(|l| l == &c[2]) {
                logins.push(c[2].to_string());
            }
        }
    }
    logins
}

/// Converts Markdown to Slack mrkdwn. `users` maps forge logins to Slack user ids; a mapped
/// `@login` becomes a real mention (`<@U123>`), an unmapped one stays text.
pub fn markdown_to_slack(md: &str, users: &HashMap<String, String>) -> String {
    let md = strip_private(md);
    let mut out = String::with_capacity(md.len() + 16);
    for (code, piece) in segments(&md) {
        if code {
            out.push_str(&escape_slack(piece));
            continue;
        }
        let mut held = Vec::new();
        let parked = MD_LINK
            .replace_all(piece, |c: &Captures| {
                if !is_safe_link_target(&c[2]) {
                    // Left as typed; escaped with the rest of the text below.
                    return c[0].to_string();
                }
                let text = if c[1].is_empty() { &c[2] } else { &c[1] };
                hold(&mut held, slack_link(&c[2], &escape_slack(text)))
            })
            .into_owned();
        let parked = MD_AUTOLINK
            .replace_all(&parked, |c: &Captures| {
                hold(&mut held, format!("<{}>", escape_slack(&c[1])))
            })
            .into_owned();
        let parked = MD_MENTION
            .replace_all(&parked, |c: &Captures| match users.get(&c[2]) {
                Some(id) => format!("{}{}", &c[1], hold(&mut held, format!("<@{id}>"))),
                None => c[0].to_string(),
            })
            .into_owned();
        let escaped = escape_keep_quotes(&parked);
        let headed = MD_HEADING
            .replace_all(&escaped, |c: &Captures| format!("{BOLD}{}{BOLD}", &c[1]))
            .into_owned();
        let bold = BOLD.to_string();
        let converted = convert_pairs(&headed, "**", &bold, &bold);
        let converted = convert_pairs(&converted, "__", &bold, &bold);
        let converted = convert_pairs(&converted, "*", "_", "_");
        let converted = convert_pairs(&converted, "~~", "~", "~");
        let converted = converted.replace(BOLD, "*");
        out.push_str(&release(&converted, &held));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn slack_to_markdown_table() {
        let users = map(&[("U123", "@octocat"), ("U9", "@Jane Doe")]);
        let cases = [
            ("plain text", "plain text"),
            ("<@U123> please look", "@octocat please look"),
            ("<@U9> and <@U777>", "@Jane Doe and @U777"),
            ("<@U777|bob>", "@bob"),
            ("see <#C1|general>", "see #general"),
            ("see <#C1>", "see #C1"),
            ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
            ("<!subteam^S1|@backend> ping", "@backend ping"),
            (
                "<https://x.io/a?b=1&amp;c=2|the docs>",
                "[the docs](https://x.io/a?b=1&c=2)",
            ),
            ("<https://x.io>", "https://x.io"),
            ("<https://x.io|https://x.io>", "https://x.io"),
            ("<mailto:a@b.io|a@b.io>", "a@b.io"),
            (
                "*bold* and _it_ and ~gone~",
                "**bold** and _it_ and ~~gone~~",
            ),
            ("*two words* *three*", "**two words** **three**"),
            ("a*b*c stays", "a*b*c stays"),
            ("2 * 3 * 4", "2 * 3 * 4"),
            ("*see <https://x.io|this>*", "**see [this](https://x.io)**"),
            ("1 &lt; 2 &amp;&amp; 3 &gt; 2", "1 < 2 && 3 > 2"),
            ("&amp;lt; stays escaped once", "&lt; stays escaped once"),
            ("`*not bold* &lt;x&gt;`", "`*not bold* <x>`"),
            (
                "```\nfn main() { *p = 1; }\n```",
                "```\nfn main() { *p = 1; }\n```",
            ),
            ("unmatched ` *tick*", "unmatched ` **tick**"),
            ("&gt; quoted line", "> quoted line"),
            ("multi\n*line*\n", "multi\n**line**\n"),
            ("ünïcödé *fett*", "ünïcödé **fett**"),
        ];
        for (slack, md) in cases {
            assert_eq!(slack_to_markdown(slack, &users), md, "{slack:?}");
        }
    }

    #[test]
    fn markdown_to_slack_table() {
        let users = map(&[("octocat", "U123"), ("jane.doe", "U9")]);
        let cases = [
            ("plain text", "plain text"),
            ("@octocat please look", "<@U123> please look"),
            ("cc @jane.doe.", "cc <@U9>."),
            ("@unknown stays", "@unknown stays"),
            ("mail me@octocat.io", "mail me@octocat.io"),
            ("**bold** and __bold__", "*bold* and *bold*"),
            ("*it* and _it_", "_it_ and _it_"),
            ("~~gone~~", "~gone~"),
            (
                "[the docs](https://x.io/a?b=1&c=2)",
                "<https://x.io/a?b=1&amp;c=2|the docs>",
            ),
            (
                "![diagram](https://x.io/d.png)",
                "<https://x.io/d.png|diagram>",
            ),
            ("[](https://x.io)", "<https://x.io|https://x.io>"),
            ("<https://x.io>", "<https://x.io>"),
            ("1 < 2 && 3 > 2", "1 &lt; 2 &amp;&amp; 3 &gt; 2"),
            ("> quoted\n>> nested", "> quoted\n>&gt; nested"),
            ("# Title\n## Sub ##\ntext", "*Title*\n*Sub*\ntext"),
            ("`@octocat **x** <y>`", "`@octocat **x** &lt;y&gt;`"),
            (
                "```rust\nlet x = a < b;\n```",
                "```rust\nlet x = a &lt; b;\n```",
            ),
            ("**[link](https://x.io)**", "*<https://x.io|link>*"),
            ("a**b**c", "a**b**c"),
            ("- item *one*\n- item two", "- item _one_\n- item two"),
        ];
        for (md, slack) in cases {
            assert_eq!(markdown_to_slack(md, &users), slack, "{md:?}");
        }
    }

    #[test]
    fn forge_text_cannot_ping_or_link_anything_but_the_web() {
        let users = map(&[("bob", "U0BOB")]);
        let cases = [
            ("[see](!channel)", "[see](!channel)"),
            ("[boss](@U0ADMIN)", "[boss](@U0ADMIN)"),
            ("[c](#C0001)", "[c](#C0001)"),
            ("[t](!subteam^S1)", "[t](!subteam^S1)"),
            ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
            ("[x](ftp://files.io/a)", "[x](ftp://files.io/a)"),
            ("[x](https:)", "[x](https:)"),
            ("![img](!here)", "![img](!here)"),
            (
                "<!here> <!channel> <!everyone>",
                "&lt;!here&gt; &lt;!channel&gt; &lt;!everyone&gt;",
            ),
            (
                "<@U123> <#C1|general> <!subteam^S1|@team>",
                "&lt;@U123&gt; &lt;#C1|general&gt; &lt;!subteam^S1|@team&gt;",
            ),
            (
                "<!date^1392734382^{date}|x>",
                "&lt;!date^1392734382^{date}|x&gt;",
            ),
            ("`<!here>`", "`&lt;!here&gt;`"),
            ("> <!channel>", "> &lt;!channel&gt;"),
            ("[<!here>](https://x.io)", "<https://x.io|&lt;!here&gt;>"),
            (
                "[x](https://x.io|<!here>)",
                "<https://x.io%7C&lt;!here&gt;|x>",
            ),
            ("[mail](MAILTO:a@b.io)", "<MAILTO:a@b.io|mail>"),
            ("[ok](HTTPS://x.io)", "<HTTPS://x.io|ok>"),
            ("@bob on purpose", "<@U0BOB> on purpose"),
            ("&lt;!here&gt;", "&amp;lt;!here&amp;gt;"),
        ];
        for (md, slack) in cases {
            let got = markdown_to_slack(md, &users);
            assert_eq!(got, slack, "{md:?}");
            // Whatever the input, the only `<` left opens a web link or the mapped mention.
            for (i, _) in got.match_indices('<') {
                let rest = &got[i + 1..];
                assert!(
                    is_safe_link_target(rest) || rest.starts_with("@U0BOB>"),
                    "{md:?} -> {got:?}"
                );
            }
        }
        assert_eq!(slack_link("!channel", "label"), "label");
        assert_eq!(
            slack_link("https://x.io/a?b&c", "l"),
            "<https://x.io/a?b&amp;c|l>"
        );
    }

    #[test]
    fn round_trips() {
        let to_md = map(&[("U123", "@octocat")]);
        let to_slack = map(&[("octocat", "U123")]);
        for slack in [
            "<@U123> *bold* _it_ ~s~ <https://x.io|docs> 1 &lt; 2",
            "`code *x*` and ```\nblock &amp;\n```",
        ] {
            let md = slack_to_markdown(slack, &to_md);
            assert_eq!(markdown_to_slack(&md, &to_slack), slack, "via {md:?}");
        }
        // Slack delivers a quote escaped and accepts it raw: both render as a quote.
        let md = slack_to_markdown("&gt; quote\nplain", &to_md);
        assert_eq!(markdown_to_slack(&md, &to_slack), "> quote\nplain");
    }

    #[test]
    fn mention_extraction() {
        assert_eq!(
            slack_user_ids("<@U1> <@W2|x> <@U1> `<@U3>`"),
            vec!["U1".to_string(), "W2".to_string()]
        );
        assert_eq!(
            markdown_logins("@a @b-c @a me@x.io `@code` (@d)"),
            vec!["a".to_string(), "b-c".to_string(), "d".to_string()]
        );
    }

    #[test]
    fn placeholders_in_input_are_harmless() {
        let hostile = format!("{HOLD_OPEN}0{HOLD_CLOSE} {BOLD}x");
        assert_eq!(slack_to_markdown(&hostile, &HashMap::new()), "0 x");
        assert_eq!(markdown_to_slack(&hostile, &HashMap::new()), "0 x");
    }

    #[test]
    fn segments_split_code() {
        assert_eq!(
            segments("a `b` c ```d``` e ` f"),
            vec![
                (false, "a "),
                (true, "`b`"),
                (false, " c "),
                (true, "```d```"),
                (false, " e ` f")
            ]
        );
    }
}
