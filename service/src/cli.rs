//! The command line (DESIGN §4): clap definitions and one function per command. Secrets are
//! read from stdin, never from argv, so they stay out of shell history and `ps`.

use std::io::{IsTerminal as _, Read, Write};

use clap::{Parser, Subcommand};

use crate::config::{self, ConfigError, Lookup, Settings};
use crate::domain::{Forge, parse_owner, parse_repo_path, parse_slack_id};
use crate::secret::Secret;
use crate::startup::{Application, shutdown_signal};
use crate::store::{CredentialKind, RepoLink, Store, UserMapping};
use crate::{telemetry, vault};

/// `codereview-sync`: keeps Slack threads and pull/merge request conversations in step.
#[derive(Debug, Parser)]
#[command(name = "codereview-sync", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve webhooks and process the event queue (runs migrations first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print a fresh random key for CODEREVIEW_SYNC_KEY.
    Keygen,
    /// Re-encrypt every stored token and queued payload under CODEREVIEW_SYNC_KEY
    /// (older keys must be listed in CODEREVIEW_SYNC_OLD_KEYS).
    RotateKey,
    /// Slack workspaces (bot token read from stdin).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// GitHub and GitLab API tokens (token read from stdin).
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Repository ↔ Slack channel links.
    #[command(subcommand)]
    Link(LinkCommand),
    /// Explicit Slack user ↔ forge login mapping.
    #[command(subcommand)]
    User(UserCommand),
    /// Queue depth and recent permanent failures.
    #[command(subcommand)]
    Queue(QueueCommand),
}

/// `workspace ...`
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Register a workspace; reads its bot token (xoxb-...) from stdin.
    Add {
        /// Slack team id, e.g. T0001.
        #[arg(long)]
        team: String,
    },
    /// List registered workspaces.
    List,
    /// Remove a workspace, its token and its channel links.
    Remove {
        /// Slack team id.
        #[arg(long)]
        team: String,
    },
}

/// `credential ...`
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Store an API token for an organisation or group; reads the token from stdin.
    Add {
        /// github or gitlab.
        #[arg(long, value_enum)]
        forge: Forge,
        /// Organisation, user or (sub)group that owns the repositories.
        #[arg(long)]
        owner: String,
    },
    /// List stored tokens (never their values).
    List,
    /// Delete a token.
    Remove {
        /// github or gitlab.
        #[arg(long, value_enum)]
        forge: Forge,
        /// Organisation, user or group.
        #[arg(long)]
        owner: String,
    },
}

/// Arguments naming one link.
#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    /// OWNER/NAME, or group/sub/project on GitLab.
    #[arg(long)]
    repo: String,
    /// Slack team id, e.g. T0001.
    #[arg(long)]
    team: String,
    /// Slack channel id, e.g. C0001.
    #[arg(long)]
    channel: String,
    /// Restrict the link to one forge (default: that path on any forge).
    #[arg(long, value_enum)]
    forge: Option<Forge>,
}

/// `link ...`
#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// Post a repository's pull requests in a channel.
    Add(LinkArgs),
    /// List links.
    List,
    /// Remove a link.
    Remove(LinkArgs),
}

/// `user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Map a Slack user to a forge login.
    Map {
        /// Slack user id, e.g. U0001.
        #[arg(long)]
        slack: String,
        /// github or gitlab.
        #[arg(long, value_enum)]
        forge: Forge,
        /// Forge username.
        #[arg(long)]
        login: String,
    },
    /// List mappings.
    List,
    /// Remove a mapping.
    Remove {
        /// Slack user id.
        #[arg(long)]
        slack: String,
        /// github or gitlab.
        #[arg(long, value_enum)]
        forge: Forge,
    },
}

/// `queue ...`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Show queue depth and the most recent permanent failures.
    Status {
        /// How many failures to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// A command failure and its exit code: 2 for configuration or usage (fix the environment or
/// the arguments), 1 when the operation itself failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Environment misconfigured.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Bad arguments or input.
    #[error("{0}")]
    Usage(String),
    /// The operation failed.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        CliError::Failed(e.into())
    }
}

impl From<crate::domain::ParseError> for CliError {
    fn from(e: crate::domain::ParseError) -> Self {
        CliError::Usage(e.0)
    }
}

/// Reads a token from stdin: trimmed, non-empty, no inner whitespace. Prompts on stderr when
/// stdin is a terminal.
fn read_token(
    what: &str,
    stdin: &mut dyn Read,
    interactive: bool,
) -> Result<Secret<String>, CliError> {
    if interactive {
        eprintln!("Paste the {what} and press Enter (then Ctrl-D if needed):");
    }
    let mut raw = String::new();
    stdin
        .take(64 * 1024)
        .read_to_string(&mut raw)
        .map_err(|_| CliError::Usage(format!("could not read the {what} from stdin as text")))?;
    let token = raw.trim();
    if token.is_empty() {
        return Err(CliError::Usage(format!(
            "no {what} on stdin: pipe it in, e.g. `printf %s \"$TOKEN\" | codereview-sync ...`"
        )));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::Usage(format!(
            "the {what} on stdin contains whitespace: pass exactly one token"
        )));
    }
    Ok(Secret::new(token.to_string()))
}

async fn open_store(env: &impl Lookup) -> Result<Store, CliError> {
    let url = config::database_url(env)?;
    let store = Store::connect_with(&url, 2)
        .await
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot open DATABASE_URL: {e}")))?;
    store.migrate().await?;
    Ok(store)
}

fn team(value: &str) -> Result<String, CliError> {
    Ok(parse_slack_id("team", &['T', 'E'], value)?)
}

fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn parse_link(args: LinkArgs) -> Result<RepoLink, CliError> {
    Ok(RepoLink {
        forge: args.forge,
        repo: parse_repo_path(&args.repo)?,
        team_id: team(&args.team)?,
        channel_id: parse_slack_id("channel", &['C', 'G'], &args.channel)?,
    })
}

/// Runs one command. `env` supplies configuration, `stdin` secrets, `out` the command's output.
pub async fn run(
    cli: Cli,
    env: &impl Lookup,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let interactive = std::io::stdin().is_terminal();
    let write = |out: &mut dyn Write, line: String| -> Result<(), CliError> {
        writeln!(out, "{line}").map_err(|e| CliError::Failed(e.into()))
    };
    match cli.command {
        Command::Serve => {
            let settings = Settings::load(env)?;
            telemetry::init(settings.log_format);
            tracing::info!(
                version = env!("CARGO_PKG_VERSION"),
                key_id = settings.vault.current_key_id(),
                "codereview-sync starting"
            );
            let app = Application::build_sync(settings).await?;
            app.run(shutdown_signal()).await;
        }
        Command::Migrate => {
            open_store(env).await?;
            write(out, "migrations applied".into())?;
        }
        Command::Keygen => write(out, vault::generate_key_base64())?,
        Command::RotateKey => {
            let vault = config::vault(env)?;
            let store = open_store(env).await?;
            let report = store.rotate_key(&vault).await?;
            write(
                out,
                format!(
                    "re-encrypted {} credential(s) and {} queued event(s) under key {}",
                    report.credentials,
                    report.events,
                    vault.current_key_id()
                ),
            )?;
            if !report.unreadable.is_empty() {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "{} row(s) could not be read: {}",
                    report.unreadable.len(),
                    report.unreadable.join("; ")
                )));
            }
        }
        Command::Workspace(cmd) => match cmd {
            WorkspaceCommand::Add { team: t } => {
                let team_id = team(&t)?;
                let vault = config::vault(env)?;
                let token = read_token("Slack bot token", stdin, interactive)?;
                let store = open_store(env).await?;
                store.add_workspace(&vault, &team_id, &token).await?;
                write(out, format!("workspace {team_id} registered"))?;
            }
            WorkspaceCommand::List => {
                for team_id in open_store(env).await?.list_workspaces().await? {
                    write(out, team_id)?;
                }
            }
            WorkspaceCommand::Remove { team: t } => {
                let team_id = team(&t)?;
                if !open_store(env).await?.remove_workspace(&team_id).await? {
                    return Err(CliError::Usage(format!("no workspace {team_id}")));
                }
                write(
                    out,
                    format!("workspace {team_id} removed with its token and links"),
                )?;
            }
        },
        Command::Credential(cmd) => match cmd {
            CredentialCommand::Add { forge, owner } => {
                let owner = parse_owner(&owner)?;
                let vault = config::vault(env)?;
                let token = read_token(&format!("{forge} token"), stdin, interactive)?;
                let store = open_store(env).await?;
                store
                    .put_credential(&vault, CredentialKind::Forge(forge), &owner, &token)
                    .await?;
                write(out, format!("{forge} token for {owner} stored"))?;
            }
            CredentialCommand::List => {
                for c in open_store(env).await?.list_credentials().await? {
                    write(
                        out,
                        format!(
                            "{}\t{}\tkey {}\tupdated {}",
                            c.kind.as_str(),
                            c.owner,
                            c.key_id,
                            format_time(c.updated_at)
                        ),
                    )?;
                }
            }
            CredentialCommand::Remove { forge, owner } => {
                let owner = parse_owner(&owner)?;
                let store = open_store(env).await?;
                if !store
                    .remove_credential(CredentialKind::Forge(forge), &owner)
                    .await?
                {
                    return Err(CliError::Usage(format!("no {forge} token for {owner}")));
                }
                write(out, format!("{forge} token for {owner} removed"))?;
            }
        },
        Command::Link(cmd) => match cmd {
            LinkCommand::Add(args) => {
                let link = parse_link(args)?;
                open_store(env).await?.add_link(&link).await?;
                write(
                    out,
                    format!(
                        "linked {} to {}/{}",
                        link.repo, link.team_id, link.channel_id
                    ),
                )?;
            }
            LinkCommand::List => {
                for l in open_store(env).await?.list_links().await? {
                    let forge = l.forge.map_or("any", Forge::as_str);
                    write(
                        out,
                        format!("{forge}\t{}\t{}\t{}", l.repo, l.team_id, l.channel_id),
                    )?;
                }
            }
            LinkCommand::Remove(args) => {
                let link = parse_link(args)?;
                if !open_store(env).await?.remove_link(&link).await? {
                    return Err(CliError::Usage("no such link (see `link list`)".into()));
                }
                write(
                    out,
                    format!(
                        "unlinked {} from {}/{}",
                        link.repo, link.team_id, link.channel_id
                    ),
                )?;
            }
        },
        Command::User(cmd) => match cmd {
            UserCommand::Map {
                slack,
                forge,
                login,
            } => {
                let mapping = UserMapping {
                    slack_user_id: parse_slack_id("user", &['U', 'W'], &slack)?,
                    forge,
                    login: parse_owner(&login)?,
                };
                open_store(env).await?.map_user(&mapping).await?;
                write(
                    out,
                    format!(
                        "{} is {forge} user {}",
                        mapping.slack_user_id, mapping.login
                    ),
                )?;
            }
            UserCommand::List => {
                for m in open_store(env).await?.list_user_mappings().await? {
                    write(
                        out,
                        format!("{}\t{}\t{}", m.slack_user_id, m.forge, m.login),
                    )?;
                }
            }
            UserCommand::Remove { slack, forge } => {
                let slack = parse_slack_id("user", &['U', 'W'], &slack)?;
                if !open_store(env).await?.unmap_user(&slack, forge).await? {
                    return Err(CliError::Usage(format!("{slack} has no {forge} mapping")));
                }
                write(out, format!("{slack} unmapped from {forge}"))?;
            }
        },
        Command::Queue(QueueCommand::Status { limit }) => {
            let store = open_store(env).await?;
            write(
                out,
                format!("queued events: {}", store.queue_depth().await?),
            )?;
            for f in store.failures(limit).await? {
                write(
                    out,
                    format!(
                        "failed {}\t{}\t{}\t{}\tattempts {}\t{}",
                        format_time(f.failed_at),
                        f.source,
                        f.kind,
                        f.dedupe_key,
                        f.attempts,
                        f.reason
                    ),
                )?;
            }
        }
    }
    Ok(())
}
