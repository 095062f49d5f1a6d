//! The command line (DESIGN §4): clap definitions and one function per command. Secrets are
//! read from stdin, never from argv, so they stay out of shell history and `ps`.

mod digest;
mod reminders;
mod tenancy;

use std::io::{IsTerminal as _, Read, Write};

use clap::{ArgGroup, Parser, Subcommand};

use crate::config::{self, ConfigError, Lookup, Settings};
use crate::domain::{Forge, parse_owner, parse_repo_path, parse_slack_id};
use crate::secret::Secret;
use crate::startup::{Application, shutdown_signal};
use crate::store::{AiSummaryRepo, CredentialKind, RepoLink, Store, UserMapping};
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
    /// Queue depth, provider outages, given-up events and their replay.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// AI pull-request summaries: the LLM API key (read from stdin) and status.
    #[command(subcommand)]
    Llm(LlmCommand),
    /// Per-repository webhook secrets (secret read from stdin).
    #[command(subcommand)]
    WebhookSecret(tenancy::WebhookSecretCommand),
    /// GitHub App authentication: the App's private key (read from stdin).
    #[command(subcommand)]
    GithubApp(tenancy::GithubAppCommand),
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
    /// github or gitlab. Required by `link add` when both forges are configured; otherwise
    /// the configured one is chosen and named.
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
    /// Turn the AI pull-request summary on or off for a linked repository (off by default;
    /// also needs LLM_API_URL, LLM_MODEL and `llm key set`).
    AiSummary(AiSummaryArgs),
    /// Remind the reviewers of a pull request in its thread when it has waited for review
    /// longer than an amount of working time (or `--off`).
    Reminders(ReminderArgs),
}

/// Arguments of `link reminders` (defaults: 24h of working time, 09:00-18:00, mon-fri, UTC).
#[derive(Debug, clap::Args)]
pub struct ReminderArgs {
    /// The link.
    #[command(flatten)]
    link: LinkArgs,
    /// Working time a pull request waits before a reminder, and between reminders: 30m, 4h,
    /// 1h30m, 2d (a d is 24 hours of working time). Default 24h.
    #[arg(long, conflicts_with = "off")]
    after: Option<String>,
    /// Working hours, HH:MM-HH:MM within one day. Default 09:00-18:00.
    #[arg(long, conflicts_with = "off")]
    working_hours: Option<String>,
    /// IANA time zone of the working hours, e.g. Europe/Berlin. Default UTC.
    #[arg(long, conflicts_with = "off")]
    timezone: Option<String>,
    /// Working days: mon-fri, mon,wed,fri, sat,sun, mon-sun. Default mon-fri.
    #[arg(long, conflicts_with = "off")]
    days: Option<String>,
    /// Turn reminders off for the link (pending reminders are cancelled).
    #[arg(long)]
    off: bool,
}

/// Arguments of `link ai-summary`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("switch").required(true).args(["on", "off"])))]
pub struct AiSummaryArgs {
    /// OWNER/NAME, or group/sub/project on GitLab.
    #[arg(long)]
    repo: String,
    /// Restrict the setting to one forge (default: that path on any forge).
    #[arg(long, value_enum)]
    forge: Option<Forge>,
    /// Summarise new pull requests of this repository.
    #[arg(long)]
    on: bool,
    /// Stop summarising them.
    #[arg(long)]
    off: bool,
    /// With --on: also post the summary as a PR comment, not only in the Slack thread.
    #[arg(long, requires = "on")]
    pr_comment: bool,
}

/// `llm ...`
#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// The API key of the OpenAI-compatible endpoint, stored sealed like every token.
    #[command(subcommand)]
    Key(LlmKeyCommand),
    /// Show whether AI summaries are configured and which repositories opted in.
    Status,
}

/// `llm key ...`
#[derive(Debug, Subcommand)]
pub enum LlmKeyCommand {
    /// Store the key; reads it from stdin (or, if set, from LLM_API_KEY).
    Set,
    /// Delete the stored key (turns AI summaries off everywhere).
    Remove,
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
    /// A daily direct message listing the pull requests waiting on this person (`--at HH:MM`),
    /// or none (`--off`).
    Digest(digest::DigestArgs),
}

/// `queue ...`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Show queue depth, each provider's state (ok / backing off until ...) with the events
    /// waiting for it, the last reconciliation, and the most recent given-up events.
    Status {
        /// How many failures to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Put given-up events back in the queue (all that kept their payload, or `--id` ones).
    RetryFailed {
        /// A failure id from `queue status` (repeatable); all when omitted.
        #[arg(long = "id")]
        ids: Vec<i64>,
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

/// `provider slack:slack.com  backing off until T (since T, N failures: reason)  waiting N, oldest Ns`
fn provider_line(p: &crate::store::ProviderOverview, now: i64) -> String {
    let state = match &p.backoff {
        None => "ok".to_string(),
        Some(b) => format!(
            "backing off until {} (since {}, {} failure(s): {})",
            format_time(b.retry_at),
            format_time(b.since),
            b.failures,
            b.last_error
        ),
    };
    let oldest = p.oldest_received_at.map_or(String::new(), |at| {
        format!(", oldest {} s", (now - at).max(0) / 1000)
    });
    format!(
        "provider {}\t{state}\twaiting {}{oldest}",
        p.provider, p.waiting
    )
}

/// `reconciliation NAME  last run T  listed N, redelivery requested N  (error)`
fn reconciliation_line(r: &crate::store::ReconciliationRun) -> String {
    let ended = match (r.finished_at, &r.error) {
        (None, _) => "running or interrupted".to_string(),
        (Some(at), None) => format!("finished {}", format_time(at)),
        (Some(at), Some(e)) => format!("failed {}: {e}", format_time(at)),
    };
    format!(
        "reconciliation {}\tlast run {}\t{ended}\tlisted {}, redelivery requested {}",
        r.name,
        format_time(r.started_at),
        r.listed,
        r.requested
    )
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

/// Which forges this installation uses: `(github, gitlab)`. A forge counts when its API URL or
/// App is configured, or a token or link for it is stored.
async fn configured_forges(env: &impl Lookup, store: &Store) -> Result<(bool, bool), CliError> {
    let credentials = store.list_credentials().await?;
    let links = store.list_links().await?;
    let uses = |forge: Forge| {
        credentials
            .iter()
            .any(|c| c.kind == CredentialKind::Forge(forge))
            || links.iter().any(|l| l.forge == Some(forge))
    };
    let github =
        uses(Forge::GitHub) || env("GITHUB_API_URL").is_some() || env("GITHUB_APP_ID").is_some();
    let gitlab = uses(Forge::GitLab) || env("GITLAB_URL").is_some();
    Ok((github, gitlab))
}

/// The forge of a `link add` without `--forge`: never both at once (a GitLab project and a
/// GitHub repository with the same path are different things), and always said.
fn choose_forge((github, gitlab): (bool, bool)) -> Result<(Forge, &'static str), CliError> {
    match (github, gitlab) {
        (true, true) => Err(CliError::Usage(
            "GitHub and GitLab are both configured: pass --forge github or --forge gitlab".into(),
        )),
        (false, true) => Ok((
            Forge::GitLab,
            "(GitLab project: GitHub is not configured; pass --forge to choose)",
        )),
        _ => Ok((
            Forge::GitHub,
            "(GitHub repository: GitLab is not configured; pass --forge to choose)",
        )),
    }
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
            if env("LLM_API_KEY").is_some() {
                tracing::warn!(
                    "LLM_API_KEY is not read by serve: store the key sealed with `llm key set`, then remove it from the service's environment"
                );
            }
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
            if report.webhook_secrets > 0 {
                write(
                    out,
                    format!("re-encrypted {} webhook secret(s)", report.webhook_secrets),
                )?;
            }
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
                let mut link = parse_link(args)?;
                let store = open_store(env).await?;
                let note = match link.forge {
                    Some(_) => String::new(),
                    None => {
                        let (forge, note) = choose_forge(configured_forges(env, &store).await?)?;
                        link.forge = Some(forge);
                        format!(" {note}")
                    }
                };
                store.add_link(&link).await?;
                write(
                    out,
                    format!(
                        "linked {} to {}/{}{note}",
                        link.repo, link.team_id, link.channel_id
                    ),
                )?;
            }
            LinkCommand::List => {
                let store = open_store(env).await?;
                let reminders = store.list_reminder_settings().await?;
                for l in store.list_links().await? {
                    let forge = l.forge.map_or("any", Forge::as_str);
                    let extra = reminders::label(&reminders, &l);
                    write(
                        out,
                        format!(
                            "{forge}\t{}\t{}\t{}{extra}",
                            l.repo, l.team_id, l.channel_id
                        ),
                    )?;
                }
            }
            LinkCommand::AiSummary(args) => ai_summary_switch(args, env, out).await?,
            LinkCommand::Reminders(args) => reminders::reminders(args, env, out).await?,
            LinkCommand::Remove(args) => {
                let mut link = parse_link(args)?;
                let store = open_store(env).await?;
                if link.forge.is_none() {
                    // The one link with that repository, team and channel, whatever its forge.
                    let same = |l: &RepoLink| {
                        (&l.repo, &l.team_id, &l.channel_id)
                            == (&link.repo, &link.team_id, &link.channel_id)
                    };
                    let found: Vec<RepoLink> =
                        store.list_links().await?.into_iter().filter(same).collect();
                    if found.len() > 1 {
                        return Err(CliError::Usage(format!(
                            "{} is linked there on both forges: pass --forge github or --forge gitlab",
                            link.repo
                        )));
                    }
                    link.forge = found.first().and_then(|l| l.forge);
                }
                if !store.remove_link(&link).await? {
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
            UserCommand::Digest(args) => digest::user_digest(args, env, out).await?,
        },
        Command::Llm(cmd) => llm_command(cmd, env, stdin, interactive, out).await?,
        Command::WebhookSecret(cmd) => {
            tenancy::webhook_secret(cmd, env, stdin, interactive, out).await?
        }
        Command::GithubApp(cmd) => tenancy::github_app(cmd, env, stdin, interactive, out).await?,
        Command::Queue(QueueCommand::Status { limit }) => {
            let store = open_store(env).await?;
            write(
                out,
                format!("queued events: {}", store.queue_depth().await?),
            )?;
            let now = crate::store::now_ms();
            for p in store.provider_overview().await? {
                write(out, provider_line(&p, now))?;
            }
            for r in store.reconciliations().await? {
                write(out, reconciliation_line(&r))?;
            }
            for f in store.failures(limit).await? {
                write(
                    out,
                    format!(
                        "failed {}\t{}\t{}\t{}\tattempts {}\t{}\tid {} ({}{})",
                        format_time(f.failed_at),
                        f.source,
                        f.kind,
                        f.dedupe_key,
                        f.attempts,
                        f.reason,
                        f.id,
                        f.cause,
                        if f.replayable {
                            ", replayable"
                        } else {
                            ", no payload kept"
                        }
                    ),
                )?;
            }
        }
        Command::Queue(QueueCommand::RetryFailed { ids }) => {
            let store = open_store(env).await?;
            let n = store.requeue_failures(&ids, crate::store::now_ms()).await?;
            if n == 0 && !ids.is_empty() {
                return Err(CliError::Usage(
                    "no replayable given-up event has those ids (see `queue status`)".into(),
                ));
            }
            write(out, format!("requeued {n} given-up event(s)"))?;
        }
    }
    Ok(())
}

fn write_line(out: &mut dyn Write, line: String) -> Result<(), CliError> {
    writeln!(out, "{line}").map_err(|e| CliError::Failed(e.into()))
}

fn ai_summary_label(s: &AiSummaryRepo) -> String {
    let forge = s.forge.map_or("any", Forge::as_str);
    let places = if s.pr_comment {
        "Slack thread and PR comment"
    } else {
        "Slack thread"
    };
    format!("{forge}\t{}\t{places}", s.repo)
}

/// `link ai-summary --repo R (--on [--pr-comment] | --off)`.
async fn ai_summary_switch(
    args: AiSummaryArgs,
    env: &impl Lookup,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let repo = parse_repo_path(&args.repo)?;
    let store = open_store(env).await?;
    if args.off {
        if !store.disable_ai_summary(args.forge, &repo).await? {
            return Err(CliError::Usage(format!(
                "the AI summary is not on for {repo} (see `llm status`)"
            )));
        }
        return write_line(out, format!("AI summary off for {repo}"));
    }
    let linked = store.list_links().await?.into_iter().any(|l| {
        l.repo == repo && (args.forge.is_none() || l.forge.is_none() || l.forge == args.forge)
    });
    if !linked {
        return Err(CliError::Usage(format!(
            "{repo} is not linked to a channel: run `link add --repo {repo} --team T... --channel C...` first"
        )));
    }
    let setting = AiSummaryRepo {
        forge: args.forge,
        repo,
        pr_comment: args.pr_comment,
    };
    store.enable_ai_summary(&setting).await?;
    let places = if setting.pr_comment {
        "in the Slack thread and as a PR comment"
    } else {
        "in the Slack thread"
    };
    write_line(
        out,
        format!(
            "AI summary on for {}: new pull requests are summarised {places}",
            setting.repo
        ),
    )?;
    if env("LLM_API_URL").is_none() || env("LLM_MODEL").is_none() {
        write_line(
            out,
            "note: `serve` also needs LLM_API_URL and LLM_MODEL (see docs/ai-summary.md)".into(),
        )?;
    }
    if store
        .list_credentials()
        .await?
        .iter()
        .all(|c| c.kind != CredentialKind::Llm)
    {
        write_line(
            out,
            "note: no LLM API key is stored yet: `printf %s \"$KEY\" | codereview-sync llm key set`"
                .into(),
        )?;
    }
    Ok(())
}

/// `llm key set|remove`, `llm status`.
async fn llm_command(
    cmd: LlmCommand,
    env: &impl Lookup,
    stdin: &mut dyn Read,
    interactive: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match cmd {
        LlmCommand::Key(LlmKeyCommand::Set) => {
            let vault = config::vault(env)?;
            let key = match env("LLM_API_KEY") {
                Some(from_env) if from_env.trim().is_empty() => {
                    return Err(CliError::Usage(
                        "LLM_API_KEY is set but empty: set it to the key, or unset it and pipe the key in".into(),
                    ));
                }
                Some(from_env) => read_token("LLM API key", &mut from_env.as_bytes(), false)
                    .map_err(|_| {
                        CliError::Usage(
                            "LLM_API_KEY contains whitespace: pass exactly one key".into(),
                        )
                    })?,
                None => read_token("LLM API key", stdin, interactive)?,
            };
            let store = open_store(env).await?;
            store.put_llm_key(&vault, &key).await?;
            write_line(
                out,
                format!(
                    "LLM API key stored (sealed with key {})",
                    vault.current_key_id()
                ),
            )
        }
        LlmCommand::Key(LlmKeyCommand::Remove) => {
            if !open_store(env).await?.remove_llm_key().await? {
                return Err(CliError::Usage("no LLM API key is stored".into()));
            }
            write_line(out, "LLM API key removed: AI summaries are off".into())
        }
        LlmCommand::Status => {
            let llm = config::llm_settings(env, &config::worker_settings(env)?)?;
            let store = open_store(env).await?;
            let key = store
                .list_credentials()
                .await?
                .into_iter()
                .find(|c| c.kind == CredentialKind::Llm);
            let repos = store.list_ai_summary_repos().await?;
            let on = llm.is_some() && key.is_some() && !repos.is_empty();
            write_line(
                out,
                format!("AI summaries: {}", if on { "on" } else { "off" }),
            )?;
            match &llm {
                Some(l) => {
                    write_line(out, format!("LLM_API_URL\t{}", l.api_url))?;
                    write_line(out, format!("LLM_MODEL\t{}", l.model))?;
                    write_line(out, format!("LLM_DIFF_BUDGET\t{}", l.diff_budget))?;
                    write_line(out, format!("LLM_TIMEOUT_SECS\t{}", l.timeout.as_secs()))?;
                }
                None => write_line(out, "LLM_API_URL\tnot set (AI summaries off)".into())?,
            }
            match key {
                Some(k) => write_line(
                    out,
                    format!(
                        "API key\tstored, key {}, updated {}",
                        k.key_id,
                        format_time(k.updated_at)
                    ),
                )?,
                None => write_line(out, "API key\tnot stored (`llm key set`)".into())?,
            }
            if repos.is_empty() {
                write_line(
                    out,
                    "repositories\tnone (`link ai-summary --repo R --on`)".into(),
                )?;
            }
            for r in repos {
                write_line(out, ai_summary_label(&r))?;
            }
            Ok(())
        }
    }
}
