//! Working-time arithmetic for reminders (`link reminders`): a channel's working hours in its
//! time zone, how much working time lies between two instants, and when an amount of working
//! time after an instant is reached. Pure: times are ms since the epoch; the zone's rules come
//! from `jiff`'s bundled tz database, so daylight-saving changes are counted in real elapsed
//! time (a working window that contains a spring-forward hour is an hour shorter).
//!
//! Also the parsing of the command's arguments (`--after 1h30m`, `--working-hours
//! 09:00-18:00`, `--days mon-fri`, `--timezone Europe/Berlin`) and the reminder timer's key.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::domain::Forge;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Longest accepted `--after`: a year of working time.
const MAX_AFTER_MS: i64 = 365 * 24 * HOUR_MS;
/// Calendar days looked at before giving up (unreachable with validated settings).
const MAX_DAYS: usize = 40_000;
/// Day names in bit order (bit 0 = Monday), as `--days` and the `days` column use them.
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One working window per working day, `start_min..end_min` local time in `tz`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingHours {
    /// Minute of the day the window opens (0..1440).
    pub start_min: u16,
    /// Minute of the day it closes (after `start_min`, at most 1440 = midnight).
    pub end_min: u16,
    /// Working days, Monday first.
    pub days: [bool; 7],
    /// The zone the window is in.
    pub tz: TimeZone,
}

impl WorkingHours {
    /// The working hours a link's stored reminder settings describe.
    pub fn of(settings: &crate::store::ReminderSettings) -> Result<Self, String> {
        Self::from_stored(
            i64::from(settings.day_start_min),
            i64::from(settings.day_end_min),
            i64::from(settings.days),
            &settings.timezone,
        )
    }

    /// Checked construction: a window inside one day (no overnight windows) and at least one
    /// working day, so every amount of working time is reached.
    pub fn new(
        start_min: u16,
        end_min: u16,
        days: [bool; 7],
        tz: TimeZone,
    ) -> Result<Self, String> {
        if end_min > 24 * 60 {
            return Err("working hours end after 24:00".into());
        }
        if end_min <= start_min {
            return Err(format!(
                "working hours must end after they start within one day ({}-{}): windows across midnight are not supported",
                hhmm(start_min),
                hhmm(end_min)
            ));
        }
        if !days.iter().any(|d| *d) {
            return Err("no working days".into());
        }
        Ok(Self {
            start_min,
            end_min,
            days,
            tz,
        })
    }

    /// The stored form (`days` as a bit mask, bit 0 = Monday; the zone by its IANA name).
    pub fn from_stored(start_min: i64, end_min: i64, days: i64, tz: &str) -> Result<Self, String> {
        let minute = |m: i64| u16::try_from(m).map_err(|_| format!("minute {m} out of range"));
        Self::new(
            minute(start_min)?,
            minute(end_min)?,
            days_from_mask(days),
            parse_timezone(tz)?,
        )
    }

    /// The working window of local day `date`, as `[start, end)` in ms; `None` on a day off.
    fn window(&self, date: Date) -> Option<(i64, i64)> {
        let weekday = usize::try_from(date.weekday().to_monday_zero_offset()).ok()?;
        if !self.days.get(weekday).copied().unwrap_or(false) {
            return None;
        }
        let at = |min: u16| -> Option<i64> {
            let (day, min) = if min >= 24 * 60 {
                (date.tomorrow().ok()?, 0)
            } else {
                (date, min)
            };
            let h = i8::try_from(min / 60).ok()?;
            let m = i8::try_from(min % 60).ok()?;
            // A local time in a spring-forward gap is taken after the gap, one in a fall-back
            // fold at its first occurrence (jiff's "compatible" choice, as RFC 5545 does).
            let zoned = day.at(h, m, 0, 0).to_zoned(self.tz.clone()).ok()?;
            Some(zoned.timestamp().as_millisecond())
        };
        let (start, end) = (at(self.start_min)?, at(self.end_min)?);
        (end > start).then_some((start, end))
    }

    fn local_date(&self, ms: i64) -> Date {
        to_timestamp(ms).to_zoned(self.tz.clone()).date()
    }

    /// Every working window that ends after `from`, in order (`from` clipped into the first).
    fn windows_from(&self, from: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let first = self.local_date(from);
        std::iter::successors(Some(first), |d| d.tomorrow().ok())
            .take(MAX_DAYS)
            .filter_map(move |d| self.window(d))
            .filter(move |(_, end)| *end > from)
            .map(move |(start, end)| (start.max(from), end))
    }

    /// Whether `ms` lies inside a working window.
    pub fn is_working(&self, ms: i64) -> bool {
        self.window(self.local_date(ms))
            .is_some_and(|(start, end)| start <= ms && ms < end)
    }

    /// The instant at which `amount_ms` of working time has passed since `from_ms`. Only time
    /// inside working windows counts. The result always lies inside a window: reaching a
    /// window's end exactly moves it to the next window's start.
    pub fn add_working_time(&self, from_ms: i64, amount_ms: i64) -> i64 {
        let mut left = amount_ms.max(0);
        for (start, end) in self.windows_from(from_ms) {
            let available = end - start;
            if left < available {
                return start + left;
            }
            left -= available;
        }
        i64::MAX
    }

    /// `ms` itself when it is working time, else the start of the next working window.
    pub fn next_working_moment(&self, ms: i64) -> i64 {
        self.add_working_time(ms, 0)
    }

    /// Working time between `from_ms` and `to_ms` (0 when `to_ms` is not later).
    pub fn working_time_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        let mut total = 0;
        for (start, end) in self.windows_from(from_ms) {
            if start >= to_ms {
                break;
            }
            total += end.min(to_ms) - start;
        }
        total
    }

    /// `09:00-18:00 mon-fri Europe/Berlin`: how `link list` and the command show it.
    pub fn describe(&self) -> String {
        format!(
            "{}-{} {} {}",
            hhmm(self.start_min),
            hhmm(self.end_min),
            format_days(self.days),
            self.tz.iana_name().unwrap_or("UTC")
        )
    }

    /// The `days` column: bit 0 = Monday.
    pub fn days_mask(&self) -> i64 {
        self.days
            .iter()
            .enumerate()
            .filter(|(_, on)| **on)
            .map(|(i, _)| 1_i64 << i)
            .sum()
    }
}

fn to_timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn hhmm(min: u16) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

fn days_from_mask(mask: i64) -> [bool; 7] {
    let mut days = [false; 7];
    for (i, d) in days.iter_mut().enumerate() {
        *d = mask & (1 << i) != 0;
    }
    days
}

/// `mon-fri`, `mon,wed,fri`, `sat,sun`, `mon-sun`: the shortest form (one range when the days
/// are consecutive, a list otherwise).
pub fn format_days(days: [bool; 7]) -> String {
    let on: Vec<usize> = (0..7).filter(|i| days[*i]).collect();
    match on.as_slice() {
        [] => "none".into(),
        [one] => DAY_NAMES[*one].into(),
        [first, .., last] if last - first + 1 == on.len() && on.len() > 2 => {
            format!("{}-{}", DAY_NAMES[*first], DAY_NAMES[*last])
        }
        _ => on
            .iter()
            .map(|i| DAY_NAMES[*i])
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `--after`: `30m`, `4h`, `1h30m`, `2d` (a day is 24 hours of working time, not a calendar
/// day: `2d` with 09:00-18:00 windows is a bit over five working days). At least a minute, at
/// most `365d`.
pub fn parse_after(text: &str) -> Result<i64, String> {
    let bad = || {
        format!("--after `{text}` is not a duration: use e.g. 30m, 4h, 1h30m or 2d (working time)")
    };
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut seen = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'd' => 24 * HOUR_MS,
            'h' => HOUR_MS,
            'm' => MINUTE_MS,
            _ => return Err(bad()),
        };
        // Units in order d, h, m, each at most once.
        if digits.is_empty()
            || seen.contains(c)
            || seen.chars().any(|s| "dhm".find(s) > "dhm".find(c))
        {
            return Err(bad());
        }
        seen.push(c);
        let n: i64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || seen.is_empty() {
        return Err(bad());
    }
    if total < MINUTE_MS {
        return Err(format!("--after `{text}` is too short: at least 1m"));
    }
    if total > MAX_AFTER_MS {
        return Err(format!("--after `{text}` is too long: at most 365d"));
    }
    Ok(total)
}

/// `--after` as shown: `24h`, `1h30m`, `45m` (hours and minutes of working time).
pub fn format_working_time(ms: i64) -> String {
    let minutes = ms.max(0) / MINUTE_MS;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// `--working-hours 09:00-18:00` → minutes of the day; the end may be `24:00`.
pub fn parse_working_hours(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("--working-hours `{text}` is not HH:MM-HH:MM, e.g. 09:00-18:00");
    let (start, end) = text.trim().split_once('-').ok_or_else(bad)?;
    let minute = |t: &str| -> Result<u16, String> {
        let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(h * 60 + m)
    };
    let (start, end) = (minute(start)?, minute(end)?);
    if start >= 24 * 60 {
        return Err(bad());
    }
    if end <= start {
        return Err(format!(
            "--working-hours `{text}`: the end must be after the start on the same day (windows across midnight are not supported)"
        ));
    }
    Ok((start, end))
}

/// `--days`: `mon-fri`, `mon,wed,fri`, `sat,sun`, `mon-sun` (ranges go forward from Monday).
pub fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let bad = |part: &str| {
        format!(
            "--days `{text}`: `{part}` is not a day or range (use mon..sun, e.g. mon-fri or mon,wed,fri)"
        )
    };
    let day = |name: &str| {
        let name = name.trim().to_ascii_lowercase();
        DAY_NAMES
            .iter()
            .position(|d| *d == name)
            .ok_or_else(|| bad(&name))
    };
    let mut days = [false; 7];
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                if b < a {
                    return Err(format!(
                        "--days `{text}`: the range `{}` runs backwards (weeks start on Monday: write e.g. sat,sun or fri,sat,sun)",
                        part.trim()
                    ));
                }
                for d in &mut days[a..=b] {
                    *d = true;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

/// `--timezone`: an IANA zone name (`Europe/Berlin`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<TimeZone, String> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|_| {
        format!("unknown time zone `{name}`: use an IANA name such as Europe/Berlin or UTC")
    })
}

/// The timer kind of a reminder (`timers.kind`).
pub const REMINDER_TIMER: &str = "reminder";

/// Which thread a reminder timer is for: the pull request and the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderKey {
    /// The forge of the pull request.
    pub forge: Forge,
    /// Its repository path, as stored (lower case).
    pub repo: String,
    /// Its number (GitLab: iid).
    pub number: i64,
    /// The Slack workspace of the thread.
    pub team_id: String,
    /// The channel of the thread.
    pub channel_id: String,
}

impl ReminderKey {
    /// The timer key: `github:owner/repo#2@T0001/C0001`.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}#{}@{}/{}",
            self.forge, self.repo, self.number, self.team_id, self.channel_id
        )
    }

    /// Reads a key [`ReminderKey::encode`] wrote.
    pub fn decode(key: &str) -> Option<Self> {
        let (forge, rest) = key.split_once(':')?;
        let (pr, slack) = rest.rsplit_once('@')?;
        let (repo, number) = pr.rsplit_once('#')?;
        let (team_id, channel_id) = slack.split_once('/')?;
        Some(Self {
            forge: forge.parse().ok()?,
            repo: repo.into(),
            number: number.parse().ok()?,
            team_id: team_id.into(),
            channel_id: channel_id.into(),
        })
    }

    /// The pull request's ordering key, as [`crate::ordering::order_key`] computes it for its
    /// webhooks (so a reminder waits behind the PR's queued events).
    pub fn order_key(&self) -> String {
        format!(
            "{}:{}#{}",
            self.forge,
            self.repo.to_ascii_lowercase(),
            self.number
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn berlin() -> WorkingHours {
        WorkingHours::new(
            9 * 60,
            18 * 60,
            parse_days("mon-fri").unwrap(),
            parse_timezone("Europe/Berlin").unwrap(),
        )
        .unwrap()
    }

    /// ms of a local Berlin time.
    fn at(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        date(y, mo, d)
            .at(h, mi, 0, 0)
            .to_zoned(TimeZone::get("Europe/Berlin").unwrap())
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    const H: i64 = HOUR_MS;

    #[test]
    fn working_time_counts_only_inside_windows_and_skips_weekends() {
        let w = berlin();
        // 2026-11-30 is a Monday.
        let mon10 = at(2026, 11, 30, 10, 0);
        assert!(w.is_working(mon10));
        assert!(
            !w.is_working(at(2026, 11, 30, 18, 0)),
            "the end is not inside"
        );
        assert!(w.is_working(at(2026, 11, 30, 9, 0)), "the start is");
        assert!(!w.is_working(at(2026, 12, 5, 12, 0)), "Saturday");
        assert_eq!(w.add_working_time(mon10, 2 * H), at(2026, 11, 30, 12, 0));
        // Overnight: 8h from Monday 14:00 = 4h on Monday + 4h on Tuesday.
        assert_eq!(
            w.add_working_time(at(2026, 11, 30, 14, 0), 8 * H),
            at(2026, 12, 1, 13, 0)
        );
        // Friday 16:00 + 4h skips the weekend.
        assert_eq!(
            w.add_working_time(at(2026, 12, 4, 16, 0), 4 * H),
            at(2026, 12, 7, 11, 0)
        );
        // From outside a window, counting starts at the next window.
        assert_eq!(
            w.add_working_time(at(2026, 12, 5, 23, 0), H),
            at(2026, 12, 7, 10, 0)
        );
        assert_eq!(
            w.next_working_moment(at(2026, 12, 4, 18, 0)),
            at(2026, 12, 7, 9, 0)
        );
        assert_eq!(w.next_working_moment(mon10), mon10);
    }

    #[test]
    fn reaching_a_windows_end_moves_to_the_next_start() {
        let w = berlin();
        // Monday 10:00 + 8h is exactly 18:00: the reminder comes Tuesday 09:00.
        assert_eq!(
            w.add_working_time(at(2026, 11, 30, 10, 0), 8 * H),
            at(2026, 12, 1, 9, 0)
        );
        assert_eq!(
            w.add_working_time(at(2026, 12, 4, 9, 0), 9 * H),
            at(2026, 12, 7, 9, 0)
        );
    }

    #[test]
    fn multi_day_amounts() {
        let w = berlin();
        // 24h of working time = 2 days and 6 hours of 9-hour days.
        let mon10 = at(2026, 11, 30, 10, 0);
        assert_eq!(w.add_working_time(mon10, 24 * H), at(2026, 12, 2, 16, 0));
        assert_eq!(
            w.working_time_between(mon10, at(2026, 12, 2, 16, 0)),
            24 * H
        );
        // 2d = 48h = 5 days and 3 hours: the next Monday 13:00.
        assert_eq!(
            w.add_working_time(mon10, parse_after("2d").unwrap()),
            at(2026, 12, 7, 13, 0)
        );
        assert_eq!(
            w.working_time_between(at(2026, 12, 4, 17, 0), at(2026, 12, 7, 10, 0)),
            2 * H
        );
    }

    #[test]
    fn daylight_saving_changes_count_real_time() {
        // A window over the change: 01:00-05:00 every day.
        let w = WorkingHours::new(
            60,
            5 * 60,
            parse_days("mon-sun").unwrap(),
            parse_timezone("Europe/Berlin").unwrap(),
        )
        .unwrap();
        // Spring forward (2026-03-29, 02:00 → 03:00): that window is 3 real hours.
        let day = at(2026, 3, 29, 1, 0);
        assert_eq!(w.working_time_between(day, at(2026, 3, 29, 6, 0)), 3 * H);
        assert_eq!(w.add_working_time(day, 2 * H), at(2026, 3, 29, 4, 0));
        assert_eq!(w.add_working_time(day, 3 * H), at(2026, 3, 30, 1, 0));
        // Fall back (2026-10-25, 03:00 → 02:00): 5 real hours.
        let day = at(2026, 10, 25, 1, 0);
        assert_eq!(w.working_time_between(day, at(2026, 10, 25, 6, 0)), 5 * H);
        assert_eq!(w.add_working_time(day, 4 * H), at(2026, 10, 25, 4, 0));
        // An ordinary 09:00-18:00 window keeps 9 hours on both change days, in local time.
        let w = WorkingHours::new(
            9 * 60,
            18 * 60,
            parse_days("mon-sun").unwrap(),
            parse_timezone("Europe/Berlin").unwrap(),
        )
        .unwrap();
        assert_eq!(
            w.add_working_time(at(2026, 3, 28, 17, 0), 2 * H),
            at(2026, 3, 29, 10, 0)
        );
        assert_eq!(
            w.add_working_time(at(2026, 10, 24, 17, 0), 2 * H),
            at(2026, 10, 25, 10, 0)
        );
    }

    #[test]
    fn arguments_are_parsed_and_checked() {
        assert_eq!(parse_after("30m"), Ok(30 * MINUTE_MS));
        assert_eq!(parse_after("4h"), Ok(4 * H));
        assert_eq!(parse_after("1h30m"), Ok(90 * MINUTE_MS));
        assert_eq!(parse_after("2d"), Ok(48 * H));
        for bad in [
            "", "h", "30", "1m1h", "1h1h", "-1h", "1.5h", "0m", "366d", "1w",
        ] {
            assert!(parse_after(bad).is_err(), "{bad}");
        }
        assert_eq!(format_working_time(90 * MINUTE_MS), "1h30m");
        assert_eq!(format_working_time(48 * H), "48h");
        assert_eq!(format_working_time(45 * MINUTE_MS), "45m");

        assert_eq!(parse_working_hours("09:00-18:00"), Ok((540, 1080)));
        assert_eq!(parse_working_hours("8:30-24:00"), Ok((510, 1440)));
        let err = parse_working_hours("22:00-06:00").unwrap_err();
        assert!(err.contains("across midnight"), "{err}");
        assert!(parse_working_hours("09:00-09:00").is_err());
        assert!(parse_working_hours("9-18").is_err());
        assert!(parse_working_hours("09:60-18:00").is_err());
        assert!(WorkingHours::new(600, 540, [true; 7], TimeZone::UTC).is_err());

        let mon_fri = parse_days("mon-fri").unwrap();
        assert_eq!(mon_fri, [true, true, true, true, true, false, false]);
        assert_eq!(format_days(mon_fri), "mon-fri");
        assert_eq!(
            format_days(parse_days("mon,wed,fri").unwrap()),
            "mon,wed,fri"
        );
        assert_eq!(format_days(parse_days("sat,sun").unwrap()), "sat,sun");
        assert_eq!(format_days(parse_days("mon-sun").unwrap()), "mon-sun");
        assert!(parse_days("fri-mon").is_err());
        assert!(parse_days("funday").unwrap_err().contains("funday"));

        assert!(parse_timezone("Europe/Berlin").is_ok());
        let err = parse_timezone("Mars/Olympus").unwrap_err();
        assert!(err.contains("Mars/Olympus"), "{err}");

        let w = berlin();
        assert_eq!(w.describe(), "09:00-18:00 mon-fri Europe/Berlin");
        let back = WorkingHours::from_stored(540, 1080, w.days_mask(), "Europe/Berlin").unwrap();
        assert_eq!(back.days, w.days);
        assert_eq!(w.days_mask(), 0b1_1111);
    }

    #[test]
    fn reminder_keys_round_trip() {
        let key = ReminderKey {
            forge: Forge::GitLab,
            repo: "group/sub/app".into(),
            number: 7,
            team_id: "T0001".into(),
            channel_id: "C0001".into(),
        };
        assert_eq!(key.encode(), "gitlab:group/sub/app#7@T0001/C0001");
        assert_eq!(ReminderKey::decode(&key.encode()), Some(key.clone()));
        assert_eq!(key.order_key(), "gitlab:group/sub/app#7");
        assert_eq!(ReminderKey::decode("nonsense"), None);
    }
}
