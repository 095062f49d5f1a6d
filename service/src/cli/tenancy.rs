//! `webhook-secret add|list|remove` and `github-app key set|remove`: the secrets that keep one
//! repository's admin out of another repository's threads (see `crate::http::tenant`).

use std::io::{Read, Write};

use clap::{ArgGroup, Subcommand};

use super::{CliError, format_time, open_store, read_token, write_line};
use crate::clients::github_app::check_private_key;
use crate::config::{self, Lookup};
use crate::domain::{Forge, parse_owner, parse_repo_path};
use crate::secret::Secret;
use crate::store::{CredentialKind, HookScope};

/// Shortest accepted webhook secret: a guessable one would let anyone sign deliveries.
pub const MIN_SECRET_LEN: usize = 16;

/// The place a webhook secret covers: `--repo` or `--owner`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("place").required(true).args(["repo", "owner"])))]
pub struct HookPlace {
    /// github or gitlab.
    #[arg(long, value_enum)]
    forge: Forge,
    /// One repository: OWNER/NAME, or group/sub/project on GitLab.
    #[arg(long)]
    repo: Option<String>,
    /// Every repository of an organisation or user (GitLab: a group and its subgroups) that
    /// has no secret of its own.
    #[arg(long)]
    owner: Option<String>,
}

impl HookPlace {
    fn parse(&self) -> Result<(Forge, HookScope, String), CliError> {
        match (&self.repo, &self.owner) {
            (Some(repo), None) => Ok((self.forge, HookScope::Repo, parse_repo_path(repo)?)),
            (None, Some(owner)) => Ok((self.forge, HookScope::Owner, parse_owner(owner)?)),
            _ => Err(CliError::Usage(
                "pass exactly one of --repo and --owner".into(),
            )),
        }
    }
}

/// `webhook-secret ...`
#[derive(Debug, Subcommand)]
pub enum WebhookSecretCommand {
    /// Store the webhook secret of a repository or owner; reads it from stdin and prints the
    /// webhook settings to enter on the forge.
    Add(HookPlace),
    /// List where secrets are stored (never the secrets).
    List,
    /// Delete a secret: that place's deliveries then need another secret that covers them.
    Remove(HookPlace),
}

/// `github-app ...`
#[derive(Debug, Subcommand)]
pub enum GithubAppCommand {
    /// The App's private key (needs GITHUB_APP_ID).
    #[command(subcommand)]
    Key(GithubAppKeyCommand),
}

/// `github-app key ...`
#[derive(Debug, Subcommand)]
pub enum GithubAppKeyCommand {
    /// Store the private key (the .pem GitHub lets you download), read from stdin.
    Set,
    /// Delete the stored key: stored personal tokens are used again.
    Remove,
}

fn app_id(env: &impl Lookup) -> Result<String, CliError> {
    let id = config::sync_config(env)?.github_app_id.ok_or_else(|| {
        CliError::Usage(
            "GITHUB_APP_ID is not set: export the App's numeric id (App settings, \"App ID\")"
                .into(),
        )
    })?;
    Ok(id.to_string())
}

/// Where the payload URL points: `PUBLIC_URL` when set.
fn public_url(env: &impl Lookup) -> String {
    env("PUBLIC_URL")
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "https://YOUR-SERVICE-HOST".into())
}

/// The forge's web address, from `GITHUB_API_URL` / `GITLAB_URL`.
fn web_url(env: &impl Lookup, forge: Forge) -> String {
    let (var, default) = match forge {
        Forge::GitHub => ("GITHUB_API_URL", "https://github.com"),
        Forge::GitLab => ("GITLAB_URL", "https://gitlab.com"),
    };
    let Some(url) = env(var).and_then(|v| url::Url::parse(v.trim()).ok()) else {
        return default.into();
    };
    match (forge, url.host_str()) {
        (Forge::GitHub, Some("api.github.com")) => default.into(),
        (Forge::GitHub, Some(host)) => format!("{}://{host}", url.scheme()),
        (Forge::GitLab, _) => url.as_str().trim_end_matches('/').to_string(),
        _ => default.into(),
    }
}

/// The settings page and the values to enter, for `webhook-secret add`.
pub fn webhook_settings(
    forge: Forge,
    scope: HookScope,
    path: &str,
    public_url: &str,
    web: &str,
) -> Vec<String> {
    let mut lines = Vec::new();
    match (forge, scope) {
        (Forge::GitHub, HookScope::Repo) => {
            lines.push(format!(
                "Add the webhook at {web}/{path}/settings/hooks/new with:"
            ));
        }
        (Forge::GitHub, HookScope::Owner) => {
            lines.push(format!(
                "Add an organisation webhook at {web}/organizations/{path}/settings/hooks/new (for a user account: the same webhook on each repository) with:"
            ));
        }
        (Forge::GitLab, HookScope::Repo) => {
            lines.push(format!(
                "Add the webhook at {web}/{path}/-/hooks (Settings > Webhooks) with:"
            ));
        }
        (Forge::GitLab, HookScope::Owner) => {
            lines.push(format!(
                "Add a group webhook at {web}/groups/{path}/-/hooks (Settings > Webhooks; or the same webhook on each project) with:"
            ));
        }
    }
    match forge {
        Forge::GitHub => {
            lines.push(format!("  Payload URL:       {public_url}/github/webhook"));
            lines.push("  Content type:      application/json".into());
            lines.push("  Secret:            the secret you just stored".into());
            lines.push("  SSL verification:  enabled".into());
            lines.push(
                "  Events:            Let me select individual events: Check runs, Check suites, Issue comments, Pull requests, Pull request reviews, Pull request review comments, Statuses"
                    .into(),
            );
        }
        Forge::GitLab => {
            lines.push(format!("  URL:               {public_url}/gitlab/webhook"));
            lines.push("  Secret token:      the secret you just stored".into());
            lines.push(
                "  Trigger:           Comments, Merge request events, Pipeline events".into(),
            );
            lines.push("  SSL verification:  enabled".into());
        }
    }
    lines
}

/// `webhook-secret add|list|remove`.
pub async fn webhook_secret(
    cmd: WebhookSecretCommand,
    env: &impl Lookup,
    stdin: &mut dyn Read,
    interactive: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match cmd {
        WebhookSecretCommand::Add(place) => {
            let (forge, scope, path) = place.parse()?;
            let vault = config::vault(env)?;
            let secret = read_token(&format!("{forge} webhook secret"), stdin, interactive)?;
            if secret.expose().chars().count() < MIN_SECRET_LEN {
                return Err(CliError::Usage(format!(
                    "the webhook secret is shorter than {MIN_SECRET_LEN} characters: use a random one, e.g. `openssl rand -hex 32`"
                )));
            }
            let store = open_store(env).await?;
            store
                .put_webhook_secret(&vault, forge, scope, &path, &secret)
                .await?;
            write_line(
                out,
                format!(
                    "{forge} webhook secret for {} {path} stored (sealed with key {})",
                    scope.as_str(),
                    vault.current_key_id()
                ),
            )?;
            for line in
                webhook_settings(forge, scope, &path, &public_url(env), &web_url(env, forge))
            {
                write_line(out, line)?;
            }
            Ok(())
        }
        WebhookSecretCommand::List => {
            for s in open_store(env).await?.list_webhook_secrets().await? {
                write_line(
                    out,
                    format!(
                        "{}\t{}\t{}\tkey {}\tupdated {}",
                        s.forge,
                        s.scope.as_str(),
                        s.path,
                        s.key_id,
                        format_time(s.updated_at)
                    ),
                )?;
            }
            Ok(())
        }
        WebhookSecretCommand::Remove(place) => {
            let (forge, scope, path) = place.parse()?;
            let store = open_store(env).await?;
            if !store.remove_webhook_secret(forge, scope, &path).await? {
                return Err(CliError::Usage(format!(
                    "no {forge} webhook secret for {} {path} (see `webhook-secret list`)",
                    scope.as_str()
                )));
            }
            write_line(
                out,
                format!(
                    "{forge} webhook secret for {} {path} removed",
                    scope.as_str()
                ),
            )
        }
    }
}

/// Reads a PEM private key from stdin (several lines, unlike a token).
fn read_pem(stdin: &mut dyn Read, interactive: bool) -> Result<Secret<String>, CliError> {
    if interactive {
        eprintln!("Paste the App's private key (PEM), then Ctrl-D:");
    }
    let mut raw = String::new();
    stdin
        .take(64 * 1024)
        .read_to_string(&mut raw)
        .map_err(|_| CliError::Usage("could not read the private key from stdin as text".into()))?;
    let pem = raw.trim().to_string();
    if pem.is_empty() {
        return Err(CliError::Usage(
            "no private key on stdin: `codereview-sync github-app key set < app.private-key.pem`"
                .into(),
        ));
    }
    check_private_key(&pem).map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(Secret::new(pem))
}

/// `github-app key set|remove`.
pub async fn github_app(
    cmd: GithubAppCommand,
    env: &impl Lookup,
    stdin: &mut dyn Read,
    interactive: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let GithubAppCommand::Key(cmd) = cmd;
    let app = app_id(env)?;
    match cmd {
        GithubAppKeyCommand::Set => {
            let vault = config::vault(env)?;
            let pem = read_pem(stdin, interactive)?;
            let store = open_store(env).await?;
            store
                .put_credential(&vault, CredentialKind::GitHubApp, &app, &pem)
                .await?;
            write_line(
                out,
                format!(
                    "GitHub App {app} private key stored (sealed with key {}): installation tokens replace stored GitHub tokens for the repositories the App is installed on",
                    vault.current_key_id()
                ),
            )
        }
        GithubAppKeyCommand::Remove => {
            let store = open_store(env).await?;
            if !store
                .remove_credential(CredentialKind::GitHubApp, &app)
                .await?
            {
                return Err(CliError::Usage(format!(
                    "no private key is stored for GitHub App {app}"
                )));
            }
            write_line(out, format!("GitHub App {app} private key removed"))
        }
    }
}
