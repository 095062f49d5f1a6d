//! `user digest --slack U… --at HH:MM [--timezone Z] [--team T…]` and `user digest --slack U…
//! --off`: a person's daily digest direct message (see `crate::sync::digest`).

use std::io::Write;

use clap::ArgGroup;

use super::{CliError, open_store, team, write_line};
use crate::config::Lookup;
use crate::domain::parse_slack_id;
use crate::store::{DigestSubscription, Store};
use crate::sync::digest::{format_at, next_due, parse_at, parse_zone};

/// Arguments of `user digest`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("switch").required(true).args(["at", "off"])))]
pub struct DigestArgs {
    /// Slack user id, e.g. U0001.
    #[arg(long)]
    slack: String,
    /// Send the digest every day at this time (HH:MM, 24-hour clock).
    #[arg(long)]
    at: Option<String>,
    /// IANA time zone the time is read in, e.g. Europe/Berlin (default UTC).
    #[arg(long, conflicts_with = "off")]
    timezone: Option<String>,
    /// Stop the digest.
    #[arg(long)]
    off: bool,
    /// Slack team id; may be omitted when exactly one workspace is registered.
    #[arg(long)]
    team: Option<String>,
}

/// The workspace a command is about: `--team`, or the only registered one.
async fn resolve_team(store: &Store, given: Option<&str>) -> Result<String, CliError> {
    if let Some(t) = given {
        return team(t);
    }
    let teams = store.list_workspaces().await?;
    match teams.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(CliError::Usage(
            "no workspace is registered: run `workspace add` first, or pass --team".into(),
        )),
        _ => Err(CliError::Usage(format!(
            "{} workspaces are registered: pass --team (one of {})",
            teams.len(),
            teams.join(", ")
        ))),
    }
}

/// Runs `user digest`.
pub(super) async fn user_digest(
    args: DigestArgs,
    env: &impl Lookup,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let user = parse_slack_id("user", &['U', 'W'], &args.slack)?;
    // Check everything the arguments say before touching the database.
    let setting = match (&args.at, args.off) {
        (Some(at), false) => {
            let at_min = parse_at(at).map_err(CliError::Usage)?;
            let zone_name = args.timezone.as_deref().unwrap_or("UTC").trim().to_string();
            let zone =
                parse_zone(&zone_name).map_err(|e| CliError::Usage(format!("--timezone: {e}")))?;
            Some((at_min, zone_name, zone))
        }
        _ => None,
    };
    if let Some(t) = &args.team {
        team(t)?;
    }
    let store = open_store(env).await?;
    let team_id = resolve_team(&store, args.team.as_deref()).await?;
    match setting {
        Some((at_min, zone_name, zone)) => {
            let now = crate::store::now_ms();
            let due = next_due(now, at_min, &zone).ok_or_else(|| {
                CliError::Failed(anyhow::anyhow!(
                    "cannot compute the next {} in {zone_name}",
                    format_at(at_min)
                ))
            })?;
            store
                .subscribe_digest(
                    &DigestSubscription {
                        team_id: team_id.clone(),
                        slack_user: user.clone(),
                        at_min: i32::from(at_min),
                        timezone: zone_name.clone(),
                    },
                    due,
                )
                .await?;
            write_line(
                out,
                format!(
                    "daily digest for {user} in {team_id} at {} {zone_name}; next {}",
                    format_at(at_min),
                    super::format_time(due)
                ),
            )
        }
        None => {
            if !store.unsubscribe_digest(&team_id, &user).await? {
                return Err(CliError::Usage(format!(
                    "{user} has no daily digest in {team_id}"
                )));
            }
            write_line(out, format!("daily digest for {user} in {team_id} off"))
        }
    }
}
