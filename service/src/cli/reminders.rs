//! `link reminders --repo R --team T --channel C [--after 24h] [--working-hours 09:00-18:00]
//! [--timezone UTC] [--days mon-fri]` and `... --off`: a link's reminder settings. Setting
//! them re-schedules the reminders of the link's waiting pull requests with the new settings;
//! `--off` cancels them.

use std::io::Write;

use super::{CliError, ReminderArgs, open_store, parse_link, write_line};
use crate::config::Lookup;
use crate::store::{ReminderSettings, RepoLink, Store};
use crate::sync::schedule::{
    REMINDER_TIMER, ReminderKey, WorkingHours, format_working_time, parse_after, parse_days,
    parse_timezone, parse_working_hours,
};

/// `\treminders after 24h, 09:00-18:00 mon-fri Europe/Berlin` for `link list` (empty when the
/// link has none).
pub(super) fn label(all: &[ReminderSettings], link: &RepoLink) -> String {
    all.iter()
        .find(|s| {
            (s.forge, &s.repo, &s.team_id, &s.channel_id)
                == (link.forge, &link.repo, &link.team_id, &link.channel_id)
        })
        .map_or(String::new(), |s| format!("\treminders {}", describe(s)))
}

fn describe(s: &ReminderSettings) -> String {
    let hours = WorkingHours::of(s).map_or_else(|e| format!("(unusable: {e})"), |h| h.describe());
    format!(
        "after {} of working time, {hours}",
        format_working_time(s.after_ms)
    )
}

/// The settings the arguments ask for (defaults filled in), checked before anything is
/// opened: every mistake is a one-line usage error.
fn wanted(args: &ReminderArgs) -> Result<(i64, WorkingHours), CliError> {
    let usage = CliError::Usage;
    let after = parse_after(args.after.as_deref().unwrap_or("24h")).map_err(usage)?;
    let (start, end) = parse_working_hours(args.working_hours.as_deref().unwrap_or("09:00-18:00"))
        .map_err(usage)?;
    let days = parse_days(args.days.as_deref().unwrap_or("mon-fri")).map_err(usage)?;
    let tz = parse_timezone(args.timezone.as_deref().unwrap_or("UTC")).map_err(usage)?;
    let hours = WorkingHours::new(start, end, days, tz).map_err(usage)?;
    Ok((after, hours))
}

/// The stored link the arguments name: `--forge` picks that forge's link (or the any-forge
/// one); without it the one link of that repository in that channel.
async fn find_link(store: &Store, wanted: &RepoLink) -> Result<RepoLink, CliError> {
    let candidates: Vec<RepoLink> = store
        .list_links()
        .await?
        .into_iter()
        .filter(|l| {
            (&l.repo, &l.team_id, &l.channel_id)
                == (&wanted.repo, &wanted.team_id, &wanted.channel_id)
        })
        .filter(|l| wanted.forge.is_none() || l.forge.is_none() || l.forge == wanted.forge)
        .collect();
    let exact = candidates
        .iter()
        .find(|l| l.forge.is_some() && l.forge == wanted.forge);
    match (exact, candidates.as_slice()) {
        (Some(l), _) | (None, [l]) => Ok(l.clone()),
        (None, []) => Err(CliError::Failed(anyhow::anyhow!(
            "{} is not linked to {}/{} (see `link list`)",
            wanted.repo,
            wanted.team_id,
            wanted.channel_id
        ))),
        (None, _) => Err(CliError::Usage(format!(
            "{} is linked there on both forges: pass --forge github or --forge gitlab",
            wanted.repo
        ))),
    }
}

/// `link reminders ...`.
pub(super) async fn reminders(
    args: ReminderArgs,
    env: &impl Lookup,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let settings = if args.off { None } else { Some(wanted(&args)?) };
    let link = parse_link(args.link)?;
    let store = open_store(env).await?;
    let link = find_link(&store, &link).await?;
    let waits = store
        .link_waits(link.forge, &link.repo, &link.team_id, &link.channel_id)
        .await?;
    let key = |w: &crate::store::ReviewWait| ReminderKey {
        forge: w.thread.pr.forge,
        repo: w.thread.pr.repo.clone(),
        number: w.thread.pr.number,
        team_id: w.thread.thread.team_id.clone(),
        channel_id: w.thread.thread.channel_id.clone(),
    };
    let place = format!("{} in {}/{}", link.repo, link.team_id, link.channel_id);
    let Some((after_ms, hours)) = settings else {
        let had = store
            .remove_reminder_settings(link.forge, &link.repo, &link.team_id, &link.channel_id)
            .await?;
        for (wait, _) in &waits {
            store
                .cancel_timer(REMINDER_TIMER, &key(wait).encode())
                .await?;
        }
        let line = if had {
            format!("reminders off for {place}")
        } else {
            format!("reminders were not on for {place}")
        };
        return write_line(out, line);
    };
    let timezone = hours.tz.iana_name().unwrap_or("UTC").to_string();
    let setting = ReminderSettings {
        forge: link.forge,
        repo: link.repo.clone(),
        team_id: link.team_id.clone(),
        channel_id: link.channel_id.clone(),
        after_ms,
        day_start_min: i32::from(hours.start_min),
        day_end_min: i32::from(hours.end_min),
        days: i32::try_from(hours.days_mask()).unwrap_or_default(),
        timezone,
    };
    store.put_reminder_settings(&setting).await?;
    // The waiting pull requests follow the new settings at once.
    for (wait, progress) in &waits {
        let key = key(wait);
        let due = hours.add_working_time(progress.base(), after_ms);
        store
            .set_timer(REMINDER_TIMER, &key.encode(), due, Some(&key.order_key()))
            .await?;
    }
    write_line(
        out,
        format!("reminders on for {place}: {}", describe(&setting)),
    )?;
    if !waits.is_empty() {
        write_line(
            out,
            format!(
                "{} waiting pull request(s) rescheduled with these settings",
                waits.len()
            ),
        )?;
    }
    if !crate::config::live_review_on(env).unwrap_or(true) {
        eprintln!(
            "warning: CODEREVIEW_SYNC_LIVE_REVIEW is off here: reminders come only from a service with the live review state on (the default)"
        );
    }
    Ok(())
}
