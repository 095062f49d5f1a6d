//! Small value types that are parsed once and valid thereafter: where an event came from,
//! which forge a repository lives on, and the identifiers admin commands accept.

use std::fmt;
use std::str::FromStr;

/// Where a webhook event came from. Part of the queue's dedupe key and of the payload's
/// associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Slack Events API (`POST /slack/events`).
    Slack,
    /// GitHub webhooks (`POST /github/webhook`).
    GitHub,
    /// GitLab webhooks (`POST /gitlab/webhook`).
    GitLab,
    /// A durable timer of ours that came due (a reminder, a digest): queued by the worker,
    /// never received over HTTP.
    Timer,
}

impl Source {
    /// The stable name stored in the database and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Slack => "slack",
            Source::GitHub => "github",
            Source::GitLab => "gitlab",
            Source::Timer => "timer",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "slack" => Ok(Source::Slack),
            "github" => Ok(Source::GitHub),
            "gitlab" => Ok(Source::GitLab),
            "timer" => Ok(Source::Timer),
            other => Err(ParseError(format!("unknown event source `{other}`"))),
        }
    }
}

/// A code forge. Tokens, links and PR threads are keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Forge {
    /// github.com or GitHub Enterprise Server.
    #[value(name = "github")]
    GitHub,
    /// gitlab.com or a self-managed GitLab.
    #[value(name = "gitlab")]
    GitLab,
}

impl Forge {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        }
    }
}

impl fmt::Display for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Forge {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "github" => Ok(Forge::GitHub),
            "gitlab" => Ok(Forge::GitLab),
            other => Err(ParseError(format!(
                "unknown forge `{other}` (expected github or gitlab)"
            ))),
        }
    }
}

/// An identifier that failed validation; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Checks a Slack id (`T0001`, `C0001`, `U0001`): one of the expected prefix letters followed by
/// upper-case letters and digits. Admin commands validate ids so a typo (a channel *name*
/// instead of its id) fails at once instead of silently never matching an event.
pub fn parse_slack_id(kind: &str, prefixes: &[char], value: &str) -> Result<String, ParseError> {
    let mut chars = value.chars();
    let ok = chars.next().is_some_and(|c| prefixes.contains(&c))
        && value.len() >= 2
        && value.len() <= 32
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(value.to_string())
    } else {
        let expected: Vec<String> = prefixes.iter().map(|p| format!("{p}...")).collect();
        Err(ParseError(format!(
            "`{value}` is not a Slack {kind} id (expected {}, upper-case letters and digits)",
            expected.join(" or ")
        )))
    }
}

/// Normalises a repository path (`owner/name`, GitLab `group/sub/project`) to the lower-case
/// form links and threads are stored under: both forges treat paths case-insensitively, and
/// webhook payloads do not always use the case an operator typed.
pub fn parse_repo_path(value: &str) -> Result<String, ParseError> {
    let segments: Vec<&str> = value.split('/').collect();
    let valid_segment = |s: &&str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if segments.len() >= 2 && segments.iter().all(valid_segment) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ParseError(format!(
            "`{value}` is not a repository path (expected OWNER/NAME, or group/sub/project on GitLab)"
        )))
    }
}

/// Normalises an organisation, user or group path that owns forge tokens (`acme`,
/// `group/subgroup`).
pub fn parse_owner(value: &str) -> Result<String, ParseError> {
    let valid = !value.is_empty()
        && value.split('/').all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ParseError(format!(
            "`{value}` is not an organisation or group name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_ids_are_checked() {
        assert_eq!(
            parse_slack_id("team", &['T', 'E'], "T0001").unwrap(),
            "T0001"
        );
        assert!(parse_slack_id("team", &['T'], "C0001").is_err());
        assert!(parse_slack_id("channel", &['C', 'G'], "#general").is_err());
        assert!(parse_slack_id("channel", &['C'], "C").is_err());
        assert!(parse_slack_id("channel", &['C'], "c0001").is_err());
    }

    #[test]
    fn repo_paths_are_normalised() {
        assert_eq!(parse_repo_path("Acme/Web").unwrap(), "acme/web");
        assert_eq!(
            parse_repo_path("group/sub/project").unwrap(),
            "group/sub/project"
        );
        assert!(parse_repo_path("acme").is_err());
        assert!(parse_repo_path("acme//web").is_err());
        assert!(parse_repo_path("acme/web web").is_err());
        assert!(parse_owner("Acme").is_ok());
        assert!(parse_owner("").is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in [Source::Slack, Source::GitHub, Source::GitLab] {
            assert_eq!(s.as_str().parse::<Source>().unwrap(), s);
        }
        for f in [Forge::GitHub, Forge::GitLab] {
            assert_eq!(f.as_str().parse::<Forge>().unwrap(), f);
        }
    }
}
