//! The daily digest's pure parts: when it is next due (in the person's time zone, DST-correct),
//! which waiting pull requests are theirs, and the text of the direct message. The same lines
//! answer `/codereview status` ([`super::command`]).
//!
//! What Slack receives (one direct message, oldest first, no titles: we store none):
//!
//! ```text
//! *2 pull requests are waiting for your review* (oldest first)
//! • <https://github.com/o/r/pull/12|o/r#12> · waiting 2d 3h
//! • <https://gitlab.example.com/g/p/-/merge_requests/7|g/p!7> · waiting 5h 10m
//! ```

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::markup::{escape_slack, slack_link};
use crate::domain::Forge;
use crate::store::ReviewWait;
pub use crate::store::{DIGEST_TIMER as TIMER_KIND, digest_timer_key as timer_key};

/// When a digest is sent if no time is given (`/codereview digest on`): 09:30.
pub const DEFAULT_AT_MIN: u16 = 9 * 60 + 30;

/// Splits a digest timer key back into (team, user).
pub fn parse_timer_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('/')
        .filter(|(t, u)| !t.is_empty() && !u.is_empty())
}

/// Parses `HH:MM` (24-hour clock, `9:30` too) into minutes after midnight.
pub fn parse_at(value: &str) -> Result<u16, String> {
    let bad = || format!("`{value}` is not a time of day: expected HH:MM, e.g. 09:30");
    let (h, m) = value.trim().split_once(':').ok_or_else(bad)?;
    let digits = |s: &str, max: u16| {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let h = digits(h, 23).ok_or_else(bad)?;
    let m = digits(m, 59).filter(|_| m.len() == 2).ok_or_else(bad)?;
    Ok(h * 60 + m)
}

/// `HH:MM` for minutes after midnight.
pub fn format_at(at_min: u16) -> String {
    format!("{:02}:{:02}", at_min / 60, at_min % 60)
}

/// Looks up an IANA time zone name (`Europe/Berlin`, `UTC`) in the bundled database.
pub fn parse_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name.trim()).map_err(|_| {
        format!("`{name}` is not a known time zone: use an IANA name such as Europe/Berlin or UTC")
    })
}

fn at_on(date: Date, at_min: u16, zone: &TimeZone) -> Option<i64> {
    let time = date
        .at(
            i8::try_from(at_min / 60).ok()?,
            i8::try_from(at_min % 60).ok()?,
            0,
            0,
        )
        .to_zoned(zone.clone())
        .ok()?;
    Some(time.timestamp().as_millisecond())
}

/// The next time (ms) strictly after `now_ms` when the wall clock in `zone` shows `at_min`.
/// A time that does not exist that day (the spring-forward gap) fires at the same instant
/// shifted past the gap (02:30 → 03:30); one that occurs twice (the autumn fold) fires at the
/// first. `None` only outside the representable range.
pub fn next_due(now_ms: i64, at_min: u16, zone: &TimeZone) -> Option<i64> {
    let now = Timestamp::from_millisecond(now_ms).ok()?;
    let today = now.to_zoned(zone.clone()).date();
    let mut date = today;
    for _ in 0..3 {
        if let Some(due) = at_on(date, at_min, zone)
            && due > now_ms
        {
            return Some(due);
        }
        date = date.tomorrow().ok()?;
    }
    None
}

/// One pull request waiting on a person, merged across the channels it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// github or gitlab.
    pub forge: Forge,
    /// Repository path as stored (lower case).
    pub repo: String,
    /// Pull/merge request number.
    pub number: i64,
    /// Its web page.
    pub url: String,
    /// Pending since (ms): the earliest over its channels.
    pub since: i64,
    /// Everyone it waits on (lower-case logins), over its channels.
    pub on: BTreeSet<String>,
}

/// The pull requests among `waits` (one workspace's) that wait on any of `logins`: one entry
/// per pull request however many channels show it, oldest first (then by repository and
/// number, so the order is stable). With `logins` = `None`, every waiting pull request.
pub fn waiting_for(waits: &[ReviewWait], logins: Option<&[String]>) -> Vec<Waiting> {
    let wanted: Option<BTreeSet<String>> =
        logins.map(|l| l.iter().map(|s| s.to_lowercase()).collect());
    let mut by_pr: HashMap<(Forge, String, i64), Waiting> = HashMap::new();
    for w in waits {
        if let Some(wanted) = &wanted
            && !w
                .waiting_on
                .iter()
                .any(|l| wanted.contains(&l.to_lowercase()))
        {
            continue;
        }
        let pr = &w.thread.pr;
        let entry = by_pr
            .entry((pr.forge, pr.repo.clone(), pr.number))
            .or_insert_with(|| Waiting {
                forge: pr.forge,
                repo: pr.repo.clone(),
                number: pr.number,
                url: w.url.clone(),
                since: w.pending_since,
                on: BTreeSet::new(),
            });
        if w.pending_since < entry.since {
            entry.since = w.pending_since;
            entry.url = w.url.clone();
        }
        entry
            .on
            .extend(w.waiting_on.iter().map(|l| l.to_lowercase()));
    }
    let mut out: Vec<Waiting> = by_pr.into_values().collect();
    out.sort_by(|a, b| {
        (a.since, a.forge.as_str(), &a.repo, a.number).cmp(&(
            b.since,
            b.forge.as_str(),
            &b.repo,
            b.number,
        ))
    });
    out
}

/// `owner/repo#12` (GitHub) or `group/project!12` (GitLab).
pub fn pr_label(forge: Forge, repo: &str, number: i64) -> String {
    let sigil = match forge {
        Forge::GitHub => '#',
        Forge::GitLab => '!',
    };
    escape_slack(&format!("{repo}{sigil}{number}"))
}

/// How long something has waited, coarse: `2d 3h`, `5h 10m`, `42m` (`0m` under a minute).
pub fn waited(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

/// One line: `• <url|o/r#12> · waiting 2d 3h`.
pub fn line(w: &Waiting, now_ms: i64) -> String {
    format!(
        "• {} · waiting {}",
        slack_link(&w.url, &pr_label(w.forge, &w.repo, w.number)),
        waited(now_ms - w.since)
    )
}

/// The bold first line: `*2 pull requests are waiting for your review* (oldest first)`, or
/// `*1 pull request is waiting for your review*`.
pub fn heading(count: usize) -> String {
    if count == 1 {
        "*1 pull request is waiting for your review*".to_string()
    } else {
        format!("*{count} pull requests are waiting for your review* (oldest first)")
    }
}

/// The digest's text: the heading, then one line per pull request. `None` when nothing waits
/// (no message is sent then).
pub fn render(items: &[Waiting], now_ms: i64) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let mut text = heading(items.len());
    for w in items {
        text.push('\n');
        text.push_str(&line(w, now_ms));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PrRef, PrThread, SlackRef};

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn zone(name: &str) -> TimeZone {
        parse_zone(name).unwrap()
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(parse_at("09:30"), Ok(570));
        assert_eq!(parse_at("9:30"), Ok(570));
        assert_eq!(parse_at("00:00"), Ok(0));
        assert_eq!(parse_at("23:59"), Ok(1439));
        for bad in [
            "24:00", "9", "09:60", "09:5", "-1:00", "ab:cd", "", "09:30:00", "+9:30",
        ] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
        assert_eq!(format_at(570), "09:30");
        assert_eq!(format_at(5), "00:05");
    }

    #[test]
    fn zones_are_checked() {
        assert!(parse_zone("Europe/Berlin").is_ok());
        assert!(parse_zone("UTC").is_ok());
        let e = parse_zone("Mars/Olympus").unwrap_err();
        assert!(e.contains("Mars/Olympus"), "{e}");
    }

    #[test]
    fn next_due_is_today_or_tomorrow_in_the_zone() {
        let berlin = zone("Europe/Berlin");
        // 07:00 UTC = 08:00 in Berlin (winter): 09:30 Berlin is 08:30 UTC the same day.
        assert_eq!(
            next_due(ms("2026-01-15T07:00:00Z"), 570, &berlin),
            Some(ms("2026-01-15T08:30:00Z"))
        );
        // Exactly at 09:30 Berlin: strictly after, so tomorrow.
        assert_eq!(
            next_due(ms("2026-01-15T08:30:00Z"), 570, &berlin),
            Some(ms("2026-01-16T08:30:00Z"))
        );
        // Summer time: 09:30 Berlin is 07:30 UTC.
        assert_eq!(
            next_due(ms("2026-07-01T12:00:00Z"), 570, &berlin),
            Some(ms("2026-07-02T07:30:00Z"))
        );
        // Late evening UTC is already tomorrow in Tokyo.
        assert_eq!(
            next_due(ms("2026-01-15T20:00:00Z"), 570, &zone("Asia/Tokyo")),
            Some(ms("2026-01-16T00:30:00Z"))
        );
        assert_eq!(
            next_due(ms("2026-01-15T20:00:00Z"), 570, &zone("UTC")),
            Some(ms("2026-01-16T09:30:00Z"))
        );
    }

    #[test]
    fn next_due_follows_daylight_saving_changes() {
        let berlin = zone("Europe/Berlin");
        // Spring forward on 2026-03-29: the day before, 09:30 is 08:30 UTC; that day 07:30.
        let sat = next_due(ms("2026-03-28T09:00:00Z"), 570, &berlin).unwrap();
        assert_eq!(sat, ms("2026-03-29T07:30:00Z"));
        // The day is 23 hours long: the next digest comes 24 h of wall time later.
        assert_eq!(
            next_due(sat, 570, &berlin),
            Some(ms("2026-03-30T07:30:00Z"))
        );
        // 02:30 does not exist that day: it fires past the gap, at 03:30 CEST (01:30 UTC).
        assert_eq!(
            next_due(ms("2026-03-28T22:00:00Z"), 150, &berlin),
            Some(ms("2026-03-29T01:30:00Z"))
        );
        // Fall back on 2026-10-25: 02:30 happens twice; the first (CEST, 00:30 UTC) fires.
        assert_eq!(
            next_due(ms("2026-10-24T22:00:00Z"), 150, &berlin),
            Some(ms("2026-10-25T00:30:00Z"))
        );
        // 09:30 after the change is 08:30 UTC again.
        assert_eq!(
            next_due(ms("2026-10-25T06:00:00Z"), 570, &berlin),
            Some(ms("2026-10-25T08:30:00Z"))
        );
    }

    #[test]
    fn timer_keys_round_trip() {
        assert_eq!(timer_key("T1", "U2"), "T1/U2");
        assert_eq!(parse_timer_key("T1/U2"), Some(("T1", "U2")));
        assert_eq!(parse_timer_key("T1"), None);
        assert_eq!(parse_timer_key("/U2"), None);
    }

    fn wait(
        forge: Forge,
        repo: &str,
        number: i64,
        channel: &str,
        since: i64,
        on: &[&str],
    ) -> ReviewWait {
        let url = match forge {
            Forge::GitHub => format!("https://github.com/{repo}/pull/{number}"),
            Forge::GitLab => format!("https://gitlab.example.com/{repo}/-/merge_requests/{number}"),
        };
        ReviewWait {
            thread: PrThread {
                pr: PrRef {
                    forge,
                    repo: repo.into(),
                    number,
                },
                thread: SlackRef {
                    team_id: "T1".into(),
                    channel_id: channel.into(),
                    ts: "1.1".into(),
                },
            },
            url,
            pending_since: since,
            waiting_on: on.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn waiting_for_filters_by_login_dedupes_and_sorts_oldest_first() {
        let waits = vec![
            wait(Forge::GitHub, "o/r", 12, "C1", 5 * HOUR, &["alice", "bob"]),
            wait(Forge::GitHub, "o/r", 12, "C2", 2 * HOUR, &["alice"]),
            wait(Forge::GitLab, "g/p", 7, "C1", 3 * HOUR, &["bob"]),
            wait(Forge::GitHub, "o/other", 1, "C1", HOUR, &["carol"]),
        ];
        let bob = waiting_for(&waits, Some(&["Bob".to_string()]));
        let labels: Vec<String> = bob
            .iter()
            .map(|w| pr_label(w.forge, &w.repo, w.number))
            .collect();
        assert_eq!(labels, ["g/p!7", "o/r#12"]);
        let alice = waiting_for(&waits, Some(&["alice".to_string()]));
        assert_eq!(alice.len(), 1, "one line per pull request across channels");
        assert_eq!(alice[0].since, 2 * HOUR, "the earliest pending time");
        assert!(waiting_for(&waits, Some(&[])).is_empty());
        assert_eq!(waiting_for(&waits, None).len(), 3);
    }

    #[test]
    fn durations_are_coarse() {
        assert_eq!(waited(2 * DAY + 3 * HOUR + 59 * MIN), "2d 3h");
        assert_eq!(waited(DAY), "1d 0h");
        assert_eq!(waited(5 * HOUR + 10 * MIN), "5h 10m");
        assert_eq!(waited(42 * MIN + 59_000), "42m");
        assert_eq!(waited(0), "0m");
        assert_eq!(waited(-5), "0m");
    }

    #[test]
    fn digest_text_is_exact() {
        let now = 10 * DAY;
        let waits = vec![
            wait(
                Forge::GitHub,
                "o/r",
                12,
                "C1",
                now - (2 * DAY + 3 * HOUR),
                &["bob"],
            ),
            wait(
                Forge::GitLab,
                "g/p",
                7,
                "C1",
                now - (5 * HOUR + 10 * MIN),
                &["bob"],
            ),
        ];
        let items = waiting_for(&waits, Some(&["bob".to_string()]));
        assert_eq!(
            render(&items, now).unwrap(),
            "*2 pull requests are waiting for your review* (oldest first)\n\
             • <https://github.com/o/r/pull/12|o/r#12> · waiting 2d 3h\n\
             • <https://gitlab.example.com/g/p/-/merge_requests/7|g/p!7> · waiting 5h 10m"
        );
        assert_eq!(
            render(&items[..1], now).unwrap(),
            "*1 pull request is waiting for your review*\n\
             • <https://github.com/o/r/pull/12|o/r#12> · waiting 2d 3h"
        );
        assert_eq!(render(&[], now), None);
    }

    #[test]
    fn unsafe_urls_stay_text() {
        let mut w = wait(Forge::GitHub, "o/r", 1, "C1", 0, &["bob"]);
        w.url = "javascript:alert(1)".into();
        let items = waiting_for(&[w], None);
        assert_eq!(line(&items[0], MIN), "• o/r#1 · waiting 1m");
    }
}
