//! The `/codereview` slash command's pure parts: what the text asks for, and every answer's
//! wording. The HTTP side (`crate::http::commands`) verifies, reads the database and answers
//! with what these functions write.

use jiff::Timestamp;

use super::digest::{self, Waiting, format_at};
use super::markup::{escape_slack, slack_link};
use crate::domain::Forge;

/// A pull request named in `/codereview status <ref>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrQuery {
    /// Known from a GitLab `!N` or a URL's shape; `None` for `owner/repo#N` (either forge).
    pub forge: Option<Forge>,
    /// Repository path, lower case (as stored).
    pub repo: String,
    /// Pull/merge request number.
    pub number: i64,
}

impl PrQuery {
    /// Whether a stored pull request is the one named.
    pub fn matches(&self, forge: Forge, repo: &str, number: i64) -> bool {
        self.forge.is_none_or(|f| f == forge)
            && self.repo.eq_ignore_ascii_case(repo)
            && self.number == number
    }

    /// How the answer names it when nothing is stored: `o/r#12`, `g/p!7`.
    pub fn label(&self) -> String {
        digest::pr_label(self.forge.unwrap_or(Forge::GitHub), &self.repo, self.number)
    }
}

/// What `/codereview <text>` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlashCommand {
    /// `help`, nothing, or something unknown (`Some(word)`): the list of commands.
    Help(Option<String>),
    /// `status`: the pull requests waiting on the caller.
    Status,
    /// `status <owner/repo#N | URL>`: one pull request's wait.
    StatusOf(PrQuery),
    /// `status <something unreadable>`.
    BadPr(String),
    /// `digest on [HH:MM]`.
    DigestOn(Option<u16>),
    /// `digest on <unreadable time>`.
    BadTime(String),
    /// `digest off`.
    DigestOff,
    /// `digest`: the current setting.
    DigestShow,
}

/// Reads the command text (what follows `/codereview`). Words are case-insensitive.
pub fn parse(text: &str) -> SlashCommand {
    let words: Vec<&str> = text.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        [] | ["help"] => SlashCommand::Help(None),
        ["status"] => SlashCommand::Status,
        ["status", _] => match parse_pr(words[1]) {
            Some(q) => SlashCommand::StatusOf(q),
            None => SlashCommand::BadPr(words[1].to_string()),
        },
        ["digest"] => SlashCommand::DigestShow,
        ["digest", "on"] => SlashCommand::DigestOn(None),
        ["digest", "on", at] => match digest::parse_at(at) {
            Ok(min) => SlashCommand::DigestOn(Some(min)),
            Err(_) => SlashCommand::BadTime(words[2].to_string()),
        },
        ["digest", "off"] => SlashCommand::DigestOff,
        _ => SlashCommand::Help(Some(words.join(" "))),
    }
}

fn repo_path(segments: &[&str]) -> Option<String> {
    let ok = segments.len() >= 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    ok.then(|| segments.join("/").to_lowercase())
}

fn number(s: &str) -> Option<i64> {
    (!s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
        .filter(|n| *n > 0)
}

/// Reads `owner/repo#12`, `group/sub/project!7`, or a pull/merge request URL
/// (`https://github.com/o/r/pull/12`, `https://gitlab.example.com/g/p/-/merge_requests/7`,
/// with anything after the number). Slack's `<url>` / `<url|label>` wrapping is removed.
pub fn parse_pr(raw: &str) -> Option<PrQuery> {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .map_or(raw, |inner| inner.split('|').next().unwrap_or(inner));
    if raw.starts_with("http://") || raw.starts_with("https://") {
        let url = url::Url::parse(raw).ok()?;
        let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
        if let Some(i) = segments.iter().position(|s| *s == "merge_requests") {
            let repo_end = if i > 0 && segments[i - 1] == "-" {
                i - 1
            } else {
                i
            };
            return Some(PrQuery {
                forge: Some(Forge::GitLab),
                repo: repo_path(&segments[..repo_end])?,
                number: number(segments.get(i + 1)?)?,
            });
        }
        let i = segments.iter().position(|s| *s == "pull")?;
        return Some(PrQuery {
            forge: Some(Forge::GitHub),
            repo: repo_path(&segments[..i])?,
            number: number(segments.get(i + 1)?)?,
        });
    }
    let (repo, n, forge) = if let Some((repo, n)) = raw.rsplit_once('#') {
        (repo, n, None)
    } else {
        let (repo, n) = raw.rsplit_once('!')?;
        (repo, n, Some(Forge::GitLab))
    };
    let segments: Vec<&str> = repo.split('/').collect();
    Some(PrQuery {
        forge,
        repo: repo_path(&segments)?,
        number: number(n)?,
    })
}

/// The list of commands (also the answer to anything unknown).
pub fn help_text(unknown: Option<&str>) -> String {
    let mut text = String::new();
    if let Some(word) = unknown {
        text.push_str(&format!(
            "I don't know `{}`. ",
            escape_slack(word).replace('`', "'")
        ));
    }
    text.push_str(
        "*/codereview* shows what waits for review in this workspace's linked channels:\n\
         • `/codereview status` — the pull requests waiting for your review, oldest first\n\
         • `/codereview status owner/repo#12` (or the pull request's URL) — whether it waits, since when, on whom\n\
         • `/codereview digest on [HH:MM]` — a daily direct message listing them (default 09:30, your Slack time zone)\n\
         • `/codereview digest off` — stop the daily digest\n\
         • `/codereview help` — this list",
    );
    text
}

/// `status` for someone with no forge login in the user map.
pub fn unmapped_text(slack_user: &str) -> String {
    format!(
        "I don't know your GitHub or GitLab login yet, so I can't tell what waits for you. \
         Ask the codereview-sync admin to map you: \
         `codereview-sync user map --slack {slack_user} --forge github --login YOUR_LOGIN`"
    )
}

/// `status`: the digest's lines, or that nothing waits.
pub fn status_text(items: &[Waiting], now_ms: i64) -> String {
    digest::render(items, now_ms)
        .unwrap_or_else(|| "Nothing is waiting for your review.".to_string())
}

/// A time as `2026-11-28 14:05 UTC`.
pub fn utc_time(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// `status <pr>`: its wait (merged over the channels it is in), or that it does not wait.
pub fn pr_status_text(query: &PrQuery, found: Option<&Waiting>, now_ms: i64) -> String {
    match found {
        None => format!(
            "`{}` is not waiting for review in this workspace (approved, closed, a draft, or not tracked here).",
            query.label()
        ),
        Some(w) => {
            let on = if w.on.is_empty() {
                "nobody listed".to_string()
            } else {
                w.on.iter()
                    .map(|l| format!("@{}", escape_slack(l)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "{} is waiting for review since {} ({}) on {on}",
                slack_link(&w.url, &digest::pr_label(w.forge, &w.repo, w.number)),
                utc_time(w.since),
                digest::waited(now_ms - w.since)
            )
        }
    }
}

/// `digest on`: what was set and when the first one comes.
pub fn digest_on_text(at_min: u16, zone: &str, next_ms: i64, zone_guessed: bool) -> String {
    let next = Timestamp::from_millisecond(next_ms)
        .ok()
        .and_then(|t| jiff::tz::TimeZone::get(zone).ok().map(|z| t.to_zoned(z)))
        .map(|z| z.strftime("%a %Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| utc_time(next_ms));
    let mut text = format!(
        "Daily digest on: every day at {} ({}), the next on {next}. \
         It comes as a direct message, only when something waits for your review and you are not away.",
        format_at(at_min),
        escape_slack(zone)
    );
    if zone_guessed {
        text.push_str(" (Your Slack time zone could not be read, so UTC is used.)");
    }
    text
}

/// `digest off`.
pub fn digest_off_text(was_on: bool) -> String {
    if was_on {
        "Daily digest off.".to_string()
    } else {
        "You had no daily digest; nothing changed.".to_string()
    }
}

/// `digest`: the current setting.
pub fn digest_show_text(setting: Option<(u16, &str)>) -> String {
    match setting {
        Some((at, zone)) => format!(
            "Your daily digest is on at {} ({}). `/codereview digest off` stops it.",
            format_at(at),
            escape_slack(zone)
        ),
        None => "Your daily digest is off. `/codereview digest on [HH:MM]` starts it.".to_string(),
    }
}

/// `status <x>` where x is no pull request reference.
pub fn bad_pr_text(raw: &str) -> String {
    format!(
        "`{}` is not a pull request: use `owner/repo#12`, `group/project!7` or the pull request's URL.",
        escape_slack(raw).replace('`', "'")
    )
}

/// `digest on <x>` where x is no time of day.
pub fn bad_time_text(raw: &str) -> String {
    format!(
        "`{}` is not a time of day: use HH:MM, e.g. `/codereview digest on 09:30`.",
        escape_slack(raw).replace('`', "'")
    )
}

/// A workspace that is not registered with this service.
pub const NOT_INSTALLED: &str = "codereview is not installed in this workspace yet: ask your \
     codereview-sync admin to install the app (or to run `codereview-sync workspace add`).";

/// The database failed; Slack shows this instead of an error page.
pub const TRY_AGAIN: &str = "Something went wrong on our side; please try again in a minute.";

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn q(forge: Option<Forge>, repo: &str, number: i64) -> PrQuery {
        PrQuery {
            forge,
            repo: repo.into(),
            number,
        }
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse(""), SlashCommand::Help(None));
        assert_eq!(parse("  HELP "), SlashCommand::Help(None));
        assert_eq!(parse("status"), SlashCommand::Status);
        assert_eq!(
            parse("status Octo/Repo#12"),
            SlashCommand::StatusOf(q(None, "octo/repo", 12))
        );
        assert_eq!(parse("status what"), SlashCommand::BadPr("what".into()));
        assert_eq!(parse("digest on"), SlashCommand::DigestOn(None));
        assert_eq!(parse("Digest ON 8:05"), SlashCommand::DigestOn(Some(485)));
        assert_eq!(
            parse("digest on 25:00"),
            SlashCommand::BadTime("25:00".into())
        );
        assert_eq!(parse("digest off"), SlashCommand::DigestOff);
        assert_eq!(parse("digest"), SlashCommand::DigestShow);
        assert_eq!(
            parse("deploy prod"),
            SlashCommand::Help(Some("deploy prod".into()))
        );
        assert_eq!(
            parse("status a#1 b#2"),
            SlashCommand::Help(Some("status a#1 b#2".into()))
        );
    }

    #[test]
    fn pull_request_references_parse() {
        assert_eq!(parse_pr("o/r#12"), Some(q(None, "o/r", 12)));
        assert_eq!(
            parse_pr("group/sub/app!7"),
            Some(q(Some(Forge::GitLab), "group/sub/app", 7))
        );
        assert_eq!(
            parse_pr("https://github.com/Octo/Repo/pull/12/files"),
            Some(q(Some(Forge::GitHub), "octo/repo", 12))
        );
        assert_eq!(
            parse_pr("<https://github.com/o/r/pull/12|o/r#12>"),
            Some(q(Some(Forge::GitHub), "o/r", 12))
        );
        assert_eq!(
            parse_pr("https://gitlab.example.com/g/p/-/merge_requests/7"),
            Some(q(Some(Forge::GitLab), "g/p", 7))
        );
        assert_eq!(
            parse_pr("https://gitlab.example.com/g/p/merge_requests/7"),
            Some(q(Some(Forge::GitLab), "g/p", 7))
        );
        for bad in [
            "o#12",
            "o/r#",
            "o/r#0",
            "o/r#x",
            "/r#1",
            "o/r r#1",
            "https://github.com/o/r/issues/3",
            "https://github.com/pull/3",
            "o/<r>#1",
        ] {
            assert_eq!(parse_pr(bad), None, "{bad}");
        }
        let github_only = q(None, "o/r", 12);
        assert!(github_only.matches(Forge::GitHub, "o/r", 12));
        assert!(github_only.matches(Forge::GitLab, "O/R", 12));
        assert!(!github_only.matches(Forge::GitHub, "o/r", 13));
        assert!(!q(Some(Forge::GitLab), "o/r", 12).matches(Forge::GitHub, "o/r", 12));
    }

    #[test]
    fn answers_are_exact() {
        let now = 3 * 86_400_000;
        let w = Waiting {
            forge: Forge::GitHub,
            repo: "o/r".into(),
            number: 12,
            url: "https://github.com/o/r/pull/12".into(),
            since: 86_400_000 + 3_600_000,
            on: BTreeSet::from(["alice".to_string(), "bob".to_string()]),
        };
        assert_eq!(
            pr_status_text(&q(None, "o/r", 12), Some(&w), now),
            "<https://github.com/o/r/pull/12|o/r#12> is waiting for review since 1970-01-02 01:00 UTC (1d 23h) on @alice, @bob"
        );
        assert_eq!(
            pr_status_text(&q(Some(Forge::GitLab), "g/p", 7), None, now),
            "`g/p!7` is not waiting for review in this workspace (approved, closed, a draft, or not tracked here)."
        );
        assert_eq!(status_text(&[], now), "Nothing is waiting for your review.");
        assert!(status_text(std::slice::from_ref(&w), now).starts_with("*1 pull request"));
        assert!(unmapped_text("U1").contains("codereview-sync user map --slack U1 --forge github"));
        assert!(help_text(None).contains("`/codereview digest on [HH:MM]`"));
        assert!(help_text(Some("<!here> `x`")).starts_with("I don't know `&lt;!here&gt; 'x'`. "));
        // 2026-01-15 08:30 UTC is 09:30 in Berlin.
        let next = "2026-01-15T08:30:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        assert_eq!(
            digest_on_text(570, "Europe/Berlin", next, false),
            "Daily digest on: every day at 09:30 (Europe/Berlin), the next on Thu 2026-01-15 09:30. \
             It comes as a direct message, only when something waits for your review and you are not away."
        );
        assert!(digest_on_text(570, "UTC", next, true).ends_with("so UTC is used.)"));
        assert_eq!(digest_off_text(true), "Daily digest off.");
        assert_eq!(
            digest_show_text(Some((570, "UTC"))),
            "Your daily digest is on at 09:30 (UTC). `/codereview digest off` stops it."
        );
        assert!(bad_pr_text("x`y").contains("`x'y`"));
        assert!(bad_time_text("25:00").contains("`25:00`"));
    }
}
