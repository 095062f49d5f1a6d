//! Slack Web API client: the handful of methods the sync uses, behind [`SlackApi`].
//!
//! Slack answers most errors with HTTP 200 and `{"ok": false, "error": "..."}`, so every call
//! checks `ok` too: rate limits (HTTP 429 + `Retry-After`, or `ratelimited`) and Slack-side
//! outages are retried, everything else is permanent. Reasons carry Slack's error code (an
//! identifier), never message text.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::{Answer, http_client, send};
use crate::outcome::HandleError;
use crate::secret::Secret;
use crate::sync::render::SlackText;

/// The `metadata.event_type` on every message we post; its payload carries our idempotency
/// key (identifiers only) so a retry can find a message an earlier attempt already posted.
pub const METADATA_EVENT_TYPE: &str = "codereview_sync";

/// Our bot's identity in a workspace (`auth.test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackIdentity {
    /// Bot user id.
    pub user_id: String,
    /// Bot id.
    pub bot_id: Option<String>,
}

/// What `users.info` says about a person (held in memory only, never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackUser {
    /// Display name, else real name, else handle.
    pub name: String,
    /// Email, when the token has `users:read.email` and the profile shows it.
    pub email: Option<String>,
    /// Their Slack status says they are away: an away emoji (`:palm_tree:`,
    /// `:face_with_thermometer:`, `:spiral_calendar_pad:`) or words such as "out of office",
    /// "vacation" or "sick", and it has not expired.
    pub away: bool,
    /// Their IANA time zone (`tz`), for `/codereview digest on`.
    pub tz: Option<String>,
}

/// Status emoji that mean "not here".
pub const AWAY_EMOJI: &[&str] = &[
    ":palm_tree:",
    ":face_with_thermometer:",
    ":spiral_calendar_pad:",
];

/// Words in a status text that mean "not here".
pub const AWAY_WORDS: &[&str] = &[
    "out of office",
    "ooo",
    "vacation",
    "holiday",
    "on leave",
    "parental leave",
    "sick",
];

/// Whether a Slack profile's status says its owner is away at `now` (Unix seconds).
pub fn status_says_away(emoji: &str, text: &str, expiration: i64, now: i64) -> bool {
    if expiration > 0 && expiration <= now {
        return false;
    }
    let text = text.to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let says = |phrase: &str| {
        let phrase: Vec<&str> = phrase.split(' ').collect();
        words.windows(phrase.len()).any(|w| w == phrase.as_slice())
    };
    AWAY_EMOJI.contains(&emoji) || AWAY_WORDS.iter().any(|p| says(p))
}

/// The result of a successful OAuth v2 exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    /// Workspace id.
    pub team_id: String,
    /// Workspace name (shown once on the success page, not stored).
    pub team_name: String,
    /// The bot token (`xoxb-...`).
    pub bot_token: Secret<String>,
}

impl std::fmt::Debug for OAuthGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthGrant")
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

/// A message to post.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage<'a> {
    /// Channel id.
    pub channel: &'a str,
    /// Parent ts for a thread reply.
    pub thread_ts: Option<&'a str>,
    /// Content.
    pub content: &'a SlackText,
    /// Idempotency key stored in the message metadata.
    pub key: &'a str,
}

/// The Slack methods the sync handler and the install flow use.
#[async_trait]
pub trait SlackApi: Send + Sync {
    /// `chat.postMessage`; returns the new message's ts.
    async fn post_message(
        &self,
        token: &Secret<String>,
        message: &NewMessage<'_>,
    ) -> Result<String, HandleError>;
    /// `chat.update`; false when the message no longer exists.
    async fn update_message(
        &self,
        token: &Secret<String>,
        channel: &str,
        ts: &str,
        content: &SlackText,
    ) -> Result<bool, HandleError>;
    /// `chat.delete`; false when the message was already gone.
    async fn delete_message(
        &self,
        token: &Secret<String>,
        channel: &str,
        ts: &str,
    ) -> Result<bool, HandleError>;
    /// `auth.test`: who our token is.
    async fn auth_test(&self, token: &Secret<String>) -> Result<SlackIdentity, HandleError>;
    /// `users.info`.
    async fn user_info(&self, token: &Secret<String>, user: &str)
    -> Result<SlackUser, HandleError>;
    /// `users.getPresence`: whether Slack shows the person as away right now (no client
    /// connected, or idle). Needs `users:read`.
    async fn presence_away(&self, token: &Secret<String>, user: &str) -> Result<bool, HandleError>;
    /// `conversations.open` with one user: the id of our direct-message channel with them
    /// (`D...`), for the daily digest. Needs the `im:write` scope.
    async fn open_dm(&self, token: &Secret<String>, user: &str) -> Result<String, HandleError>;
    /// `users.lookupByEmail`; `None` when nobody has that email.
    async fn user_by_email(
        &self,
        token: &Secret<String>,
        email: &str,
    ) -> Result<Option<String>, HandleError>;
    /// Finds a message we posted with idempotency `key` (in a thread when `thread_ts` is set,
    /// else among the channel's recent messages): `conversations.replies` /
    /// `conversations.history` with `include_all_metadata`.
    async fn find_posted(
        &self,
        token: &Secret<String>,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
    ) -> Result<Option<String>, HandleError>;
    /// `oauth.v2.access`: exchanges an install code for a bot token.
    async fn oauth_access(
        &self,
        client_id: &str,
        client_secret: &Secret<String>,
        code: &str,
        redirect_uri: &str,
    ) -> Result<OAuthGrant, HandleError>;
}

/// [`SlackApi`] over HTTPS at `SLACK_API_URL`.
#[derive(Debug, Clone)]
pub struct SlackClient {
    base: String,
    provider: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    error: Option<String>,
}

/// Slack error codes that mean "try again later".
const TRANSIENT: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

fn error_code(raw: Option<&str>) -> String {
    raw.unwrap_or("unknown_error")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

impl SlackClient {
    /// A client for the Web API at `base` (e.g. `https://slack.com/api`).
    pub fn new(base: &Url) -> Self {
        Self {
            base: base.as_str().trim_end_matches('/').to_string(),
            provider: crate::breaker::provider_for("slack", base),
            http: http_client(),
        }
    }

    fn url(&self, method: &str) -> String {
        format!("{}/{method}", self.base)
    }

    /// Checks `ok`; returns the decoded body, or `Err(code)` for the caller to map (some codes,
    /// like `message_not_found`, are not failures for it).
    fn check(method: &str, answer: &Answer) -> Result<Result<Value, String>, HandleError> {
        let api = format!("slack {method}");
        let envelope: Envelope = answer.json(&api)?;
        if envelope.ok {
            return Ok(Ok(answer.json(&api)?));
        }
        let code = error_code(envelope.error.as_deref());
        if TRANSIENT.contains(&code.as_str()) {
            return Err(HandleError::retry(format!("{api} answered error {code}")));
        }
        Ok(Err(code))
    }

    fn fail(method: &str, code: &str) -> HandleError {
        HandleError::permanent(format!("slack {method} answered error {code}"))
    }

    async fn post(
        &self,
        token: &Secret<String>,
        method: &str,
        body: &Value,
    ) -> Result<Result<Value, String>, HandleError> {
        let request = self
            .http
            .post(self.url(method))
            .bearer_auth(token.expose())
            .json(body);
        let answer = send(&format!("slack {method}"), request, false)
            .await?
            .expect("404 is not accepted here");
        // `ratelimited` and Slack-side outages under HTTP 200 are the provider's outage too.
        Self::check(method, &answer).map_err(|e| crate::breaker::transient(&self.provider, e))
    }

    async fn get(
        &self,
        token: &Secret<String>,
        method: &str,
        query: &[(&str, &str)],
    ) -> Result<Result<Value, String>, HandleError> {
        let request = self
            .http
            .get(self.url(method))
            .bearer_auth(token.expose())
            .query(query);
        let answer = send(&format!("slack {method}"), request, false)
            .await?
            .expect("404 is not accepted here");
        // `ratelimited` and Slack-side outages under HTTP 200 are the provider's outage too.
        Self::check(method, &answer).map_err(|e| crate::breaker::transient(&self.provider, e))
    }
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

#[async_trait]
impl SlackApi for SlackClient {
    async fn post_message(
        &self,
        token: &Secret<String>,
        message: &NewMessage<'_>,
    ) -> Result<String, HandleError> {
        let mut body = json!({
            "channel": message.channel,
            "text": message.content.text,
            "unfurl_links": false,
            "unfurl_media": false,
            "metadata": {
                "event_type": METADATA_EVENT_TYPE,
                "event_payload": {"key": message.key},
            },
        });
        if let Some(blocks) = &message.content.blocks {
            body["blocks"] = blocks.clone();
        }
        if let Some(thread_ts) = message.thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        let v = self
            .post(token, "chat.postMessage", &body)
            .await?
            .map_err(|code| Self::fail("chat.postMessage", &code))?;
        str_at(&v, &["ts"])
            .map(str::to_string)
            .ok_or_else(|| HandleError::permanent("slack chat.postMessage answered without a ts"))
    }

    async fn update_message(
        &self,
        token: &Secret<String>,
        channel: &str,
        ts: &str,
        content: &SlackText,
    ) -> Result<bool, HandleError> {
        let mut body = json!({"channel": channel, "ts": ts, "text": content.text});
        if let Some(blocks) = &content.blocks {
            body["blocks"] = blocks.clone();
        }
        match self.post(token, "chat.update", &body).await? {
            Ok(_) => Ok(true),
            Err(code) if code == "message_not_found" => Ok(false),
            Err(code) => Err(Self::fail("chat.update", &code)),
        }
    }

    async fn delete_message(
        &self,
        token: &Secret<String>,
        channel: &str,
        ts: &str,
    ) -> Result<bool, HandleError> {
        let body = json!({"channel": channel, "ts": ts});
        match self.post(token, "chat.delete", &body).await? {
            Ok(_) => Ok(true),
            Err(code) if code == "message_not_found" => Ok(false),
            Err(code) => Err(Self::fail("chat.delete", &code)),
        }
    }

    async fn auth_test(&self, token: &Secret<String>) -> Result<SlackIdentity, HandleError> {
        let v = self
            .post(token, "auth.test", &json!({}))
            .await?
            .map_err(|code| Self::fail("auth.test", &code))?;
        Ok(SlackIdentity {
            user_id: str_at(&v, &["user_id"])
                .ok_or_else(|| HandleError::permanent("slack auth.test answered without user_id"))?
                .to_string(),
            bot_id: str_at(&v, &["bot_id"]).map(str::to_string),
        })
    }

    async fn user_info(
        &self,
        token: &Secret<String>,
        user: &str,
    ) -> Result<SlackUser, HandleError> {
        let v = self
            .get(token, "users.info", &[("user", user)])
            .await?
            .map_err(|code| Self::fail("users.info", &code))?;
        let name = [
            &["user", "profile", "display_name"][..],
            &["user", "profile", "real_name"],
            &["user", "real_name"],
            &["user", "name"],
        ]
        .iter()
        .find_map(|path| str_at(&v, path).filter(|s| !s.trim().is_empty()))
        .unwrap_or(user)
        .to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let away = status_says_away(
            str_at(&v, &["user", "profile", "status_emoji"]).unwrap_or_default(),
            str_at(&v, &["user", "profile", "status_text"]).unwrap_or_default(),
            v.pointer("/user/profile/status_expiration")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            now,
        );
        Ok(SlackUser {
            name,
            email: str_at(&v, &["user", "profile", "email"]).map(str::to_string),
            away,
            tz: str_at(&v, &["user", "tz"]).map(str::to_string),
        })
    }

    async fn presence_away(&self, token: &Secret<String>, user: &str) -> Result<bool, HandleError> {
        // An optional lookup: its failure never trips Slack's breaker (see `send_lookup`).
        let request = self
            .http
            .get(self.url("users.getPresence"))
            .bearer_auth(token.expose())
            .query(&[("user", user)]);
        let answer = super::send_lookup("slack users.getPresence", request)
            .await?
            .ok_or_else(|| HandleError::permanent("users.getPresence: no answer"))?;
        let v = Self::check("users.getPresence", &answer)?
            .map_err(|code| Self::fail("users.getPresence", &code))?;
        Ok(str_at(&v, &["presence"]) == Some("away"))
    }

    async fn open_dm(&self, token: &Secret<String>, user: &str) -> Result<String, HandleError> {
        let v = self
            .post(token, "conversations.open", &json!({"users": user}))
            .await?
            .map_err(|code| Self::fail("conversations.open", &code))?;
        str_at(&v, &["channel", "id"])
            .map(str::to_string)
            .ok_or_else(|| {
                HandleError::permanent("slack conversations.open answered without a channel id")
            })
    }

    async fn user_by_email(
        &self,
        token: &Secret<String>,
        email: &str,
    ) -> Result<Option<String>, HandleError> {
        match self
            .get(token, "users.lookupByEmail", &[("email", email)])
            .await?
        {
            Ok(v) => Ok(str_at(&v, &["user", "id"]).map(str::to_string)),
            Err(code) if code == "users_not_found" => Ok(None),
            Err(code) => Err(Self::fail("users.lookupByEmail", &code)),
        }
    }

    async fn find_posted(
        &self,
        token: &Secret<String>,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
    ) -> Result<Option<String>, HandleError> {
        let result = match thread_ts {
            Some(ts) => {
                let query = [
                    ("channel", channel),
                    ("ts", ts),
                    ("include_all_metadata", "true"),
                    ("limit", "200"),
                ];
                self.get(token, "conversations.replies", &query).await?
            }
            None => {
                let query = [
                    ("channel", channel),
                    ("include_all_metadata", "true"),
                    ("limit", "100"),
                ];
                self.get(token, "conversations.history", &query).await?
            }
        };
        let method = if thread_ts.is_some() {
            "conversations.replies"
        } else {
            "conversations.history"
        };
        let v = result.map_err(|code| Self::fail(method, &code))?;
        let found = v
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|m| {
                str_at(m, &["metadata", "event_type"]) == Some(METADATA_EVENT_TYPE)
                    && str_at(m, &["metadata", "event_payload", "key"]) == Some(key)
            })
            .and_then(|m| str_at(m, &["ts"]))
            .map(str::to_string);
        Ok(found)
    }

    async fn oauth_access(
        &self,
        client_id: &str,
        client_secret: &Secret<String>,
        code: &str,
        redirect_uri: &str,
    ) -> Result<OAuthGrant, HandleError> {
        let request = self.http.post(self.url("oauth.v2.access")).form(&[
            ("code", code),
            ("client_id", client_id),
            ("client_secret", client_secret.expose().as_str()),
            ("redirect_uri", redirect_uri),
        ]);
        let answer = send("slack oauth.v2.access", request, false)
            .await?
            .expect("404 is not accepted here");
        let v = Self::check("oauth.v2.access", &answer)?
            .map_err(|code| Self::fail("oauth.v2.access", &code))?;
        if str_at(&v, &["token_type"]) != Some("bot") {
            return Err(HandleError::permanent(
                "slack oauth.v2.access did not grant a bot token",
            ));
        }
        let missing =
            || HandleError::permanent("slack oauth.v2.access answered without a team or token");
        Ok(OAuthGrant {
            team_id: str_at(&v, &["team", "id"]).ok_or_else(missing)?.to_string(),
            team_name: str_at(&v, &["team", "name"])
                .unwrap_or_default()
                .to_string(),
            bot_token: Secret::new(
                str_at(&v, &["access_token"])
                    .ok_or_else(missing)?
                    .to_string(),
            ),
        })
    }
}

#[cfg(test)]
mod away_tests {
    use super::status_says_away;

    #[test]
    fn away_statuses_are_recognised_until_they_expire() {
        assert!(status_says_away(":palm_tree:", "", 0, 100));
        assert!(status_says_away("", "Out of office until Monday", 0, 100));
        assert!(status_says_away(":x:", "sick today", 200, 100));
        assert!(!status_says_away(":palm_tree:", "", 50, 100), "expired");
        assert!(!status_says_away(":coffee:", "In a meeting", 0, 100));
        assert!(
            !status_says_away("", "looking at the zoom ooops", 0, 100),
            "whole words only"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_sanitised() {
        assert_eq!(error_code(Some("channel_not_found")), "channel_not_found");
        assert_eq!(error_code(Some("bad <text> here")), "badtexthere");
        assert_eq!(error_code(None), "unknown_error");
        assert_eq!(error_code(Some(&"a".repeat(100))).len(), 64);
    }
}
