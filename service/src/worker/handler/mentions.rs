//! Mentions across the bridge: Slack user ids in a message become forge logins (by e-mail)
//! and forge logins become Slack mentions, through the user map and short-lived lookups.

use super::*;

/// Slack's presence says "away" this long without a break: away all day, as if the status
/// said so. (Presence alone flips to away whenever someone closes their laptop.)
pub const PRESENCE_AWAY_ALL_DAY: Duration = Duration::from_secs(8 * 60 * 60);

impl SyncHandler {
    /// Whether Slack says `user` is away: their status says so (holiday emoji or words), or
    /// their presence has been "away" at every look for [`PRESENCE_AWAY_ALL_DAY`] (presence is
    /// looked up at most every few minutes; when it was first seen away is kept in memory). A
    /// lookup that fails counts as present.
    pub(super) async fn slack_says_away(
        &self,
        token: &Secret<String>,
        team_id: &str,
        user: &str,
    ) -> bool {
        if self
            .slack_user(token, team_id, user)
            .await
            .is_ok_and(|u| u.away)
        {
            return true;
        }
        let key = (team_id.to_string(), user.to_string());
        let away_now = match self.presence.get(&key) {
            Some(away) => away,
            None => match self.slack.presence_away(token, user).await {
                Ok(away) => {
                    self.presence.put(key.clone(), away);
                    away
                }
                Err(_) => return false,
            },
        };
        let now = self.now();
        let Ok(mut since) = self.away_since.lock() else {
            return false;
        };
        if !away_now {
            since.remove(&key);
            return false;
        }
        if since.len() > 10_000 {
            since.clear();
        }
        let first_seen = *since.entry(key).or_insert(now);
        now.saturating_sub(first_seen) >= crate::store::duration_ms(PRESENCE_AWAY_ALL_DAY)
    }

    pub(super) async fn slack_user(
        &self,
        token: &Secret<String>,
        team_id: &str,
        user: &str,
    ) -> Result<SlackUser, HandleError> {
        let key = (team_id.to_string(), user.to_string());
        if let Some(u) = self.slack_users.get(&key) {
            return Ok(u);
        }
        let u = self.slack.user_info(token, user).await?;
        self.slack_users.put(key, u.clone());
        Ok(u)
    }

    /// Slack user ids in `text` → what they become on the forge: `@login` (explicit map, else
    /// email match), else `@Display Name`.
    pub(super) async fn slack_mentions(
        &self,
        token: &Secret<String>,
        team_id: &str,
        forge: Forge,
        repo: &str,
        text: &str,
    ) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for id in slack_user_ids(text) {
            if let Ok(Some(login)) = self.store.login_for_slack_user(&id, forge).await {
                out.insert(id, format!("@{login}"));
                continue;
            }
            let key = (forge, team_id.to_string(), id.clone());
            let cached = self.logins.get(&key);
            let info = self.slack_user(token, team_id, &id).await.ok();
            let login = match cached {
                Some(login) => login,
                None => {
                    let email = info.as_ref().and_then(|i| i.email.clone());
                    let found = match (email, self.optional_forge_token(forge, repo).await) {
                        (Some(email), Some(forge_token)) => match self.api(forge) {
                            Ok(api) => api
                                .login_for_email(&forge_token, &email)
                                .await
                                .ok()
                                .flatten(),
                            Err(_) => None,
                        },
                        _ => None,
                    };
                    self.logins.put(key, found.clone());
                    found
                }
            };
            let shown = match (login, info) {
                (Some(login), _) => format!("@{login}"),
                (None, Some(info)) => format!("@{}", info.name),
                (None, None) => format!("@{id}"),
            };
            out.insert(id, shown);
        }
        out
    }

    /// Forge logins in `markdown` → Slack user ids (explicit map, else email match).
    pub(super) async fn forge_mentions(
        &self,
        token: &Secret<String>,
        team_id: &str,
        pr: &PrRef,
        markdown: &str,
    ) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for login in markdown_logins(markdown) {
            if let Ok(Some(id)) = self.store.slack_user_for_login(pr.forge, &login).await {
                out.insert(login, id);
                continue;
            }
            let key = (pr.forge, team_id.to_string(), login.clone());
            let id = match self.slack_ids.get(&key) {
                Some(id) => id,
                None => {
                    let email = match (
                        self.optional_forge_token(pr.forge, &pr.repo).await,
                        self.api(pr.forge),
                    ) {
                        (Some(forge_token), Ok(api)) => api
                            .email_for_login(&forge_token, &login)
                            .await
                            .ok()
                            .flatten(),
                        _ => None,
                    };
                    let id = match email {
                        Some(email) => self.slack.user_by_email(token, &email).await.ok().flatten(),
                        None => None,
                    };
                    self.slack_ids.put(key, id.clone());
                    id
                }
            };
            if let Some(id) = id {
                out.insert(login, id);
            }
        }
        out
    }
}
