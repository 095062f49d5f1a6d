//! The Slack OAuth v2 install pair: `GET /slack/install` redirects to Slack's authorize page
//! with a signed `state`; `GET /slack/oauth/callback` checks the state, exchanges the code at
//! `oauth.v2.access` and stores the bot token sealed, exactly as `workspace add` does.
//!
//! The `state` is `base64url(timestamp ‖ 16 random bytes ‖ HMAC-SHA256(timestamp ‖ nonce))`
//! under a key derived from `CODEREVIEW_SYNC_KEY`. It is valid for [`STATE_TTL_SECS`] and
//! verified in constant time. It is also bound to the browser that started the install: the
//! nonce goes into an `HttpOnly; Secure; SameSite=Lax` cookie ([`STATE_COOKIE`]) set with the
//! redirect, and the callback must bring the same nonce back, so a state lured out of one
//! browser cannot finish an install in another (login CSRF). And it is single-use: the nonce is
//! recorded when the callback is accepted, so a replayed callback URL is refused. A bad,
//! expired, foreign or replayed state answers 400 and stores nothing. The service has no user
//! accounts, so whoever can reach `/slack/install` can install the app into a workspace they
//! administer — which is what the endpoint is for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use http::{StatusCode, header};
use sha2::Sha256;
use url::Url;
use warp::Reply as _;
use warp::reply::Response;

use super::AppState;
use crate::clients::slack::SlackApi;
use crate::config::SlackInstallSettings;
use crate::domain::parse_slack_id;
use crate::secret::Secret;
use crate::store::now_ms;

/// Bot scopes requested at install; `slack-app-manifest.yml` lists exactly these (a test
/// checks). Why each: `chat:write` posts, updates and deletes our messages;
/// `channels:history` / `groups:history` deliver thread replies in public / private channels
/// and let a retry find a message an earlier attempt posted; `users:read` gives the name for
/// "**Jane Doe** (via Slack)"; `users:read.email` matches people to forge accounts by email;
/// `commands` adds the `/codereview` slash command; `im:write` opens the direct message the
/// daily digest is sent in (`conversations.open`) and `im:history` lets a retried digest find
/// the message an earlier attempt posted there.
pub const BOT_SCOPES: &[&str] = &[
    "channels:history",
    "chat:write",
    "commands",
    "groups:history",
    "im:history",
    "im:write",
    "users:read",
    "users:read.email",
];

/// How long an install link stays valid.
pub const STATE_TTL_SECS: i64 = 10 * 60;

/// The cookie that binds a state to the browser that started the install (its nonce,
/// base64url), sent back only to the callback.
pub const STATE_COOKIE: &str = "codereview_slack_install";

const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 32;

/// The configured install flow.
pub struct SlackInstall {
    client_id: String,
    client_secret: Secret<String>,
    redirect_uri: String,
    authorize_url: Url,
    state_key: Secret<[u8; 32]>,
    slack: Arc<dyn SlackApi>,
}

impl std::fmt::Debug for SlackInstall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackInstall")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Why a `state` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// Not ours: malformed or the signature does not match.
    Invalid,
    /// Older than [`STATE_TTL_SECS`] (or from the future).
    Expired,
}

/// A state that verified: its nonce (what the cookie must match) and when it was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedState {
    /// The random nonce inside the state.
    pub nonce: [u8; NONCE_LEN],
    /// When `/slack/install` issued it (Unix seconds).
    pub issued: i64,
}

impl SlackInstall {
    /// Builds the flow. The authorize page lives on Slack's web host: `SLACK_API_URL`
    /// (`https://slack.com/api`) without its `/api` suffix, so a test's fake Slack serves it too.
    pub fn new(
        settings: &SlackInstallSettings,
        slack_api_url: &Url,
        slack: Arc<dyn SlackApi>,
    ) -> Self {
        let mut authorize_url = slack_api_url.clone();
        let path = authorize_url.path().trim_end_matches('/');
        let path = path.strip_suffix("/api").unwrap_or(path).to_string();
        authorize_url.set_path(&format!("{path}/oauth/v2/authorize"));
        let redirect_uri = format!(
            "{}/slack/oauth/callback",
            settings.public_url.as_str().trim_end_matches('/')
        );
        Self {
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            redirect_uri,
            authorize_url,
            state_key: settings.state_key.clone(),
            slack,
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.state_key.expose()).expect("HMAC takes any key")
    }

    /// A signed state for an install started at `now` (Unix seconds).
    pub fn sign_state(&self, now: i64, nonce: [u8; NONCE_LEN]) -> String {
        let mut payload = Vec::with_capacity(8 + NONCE_LEN + TAG_LEN);
        payload.extend_from_slice(&now.to_be_bytes());
        payload.extend_from_slice(&nonce);
        let mut mac = self.mac();
        mac.update(&payload);
        payload.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(payload)
    }

    /// Checks a state at `now` (Unix seconds): signature first (constant time), then age.
    pub fn verify_state(&self, state: &str, now: i64) -> Result<VerifiedState, StateError> {
        let raw = URL_SAFE_NO_PAD
            .decode(state)
            .map_err(|_| StateError::Invalid)?;
        if raw.len() != 8 + NONCE_LEN + TAG_LEN {
            return Err(StateError::Invalid);
        }
        let (payload, tag) = raw.split_at(8 + NONCE_LEN);
        let mut mac = self.mac();
        mac.update(payload);
        mac.verify_slice(tag).map_err(|_| StateError::Invalid)?;
        let issued = i64::from_be_bytes(payload[..8].try_into().expect("8 bytes"));
        if now < issued - 60 || now - issued > STATE_TTL_SECS {
            return Err(StateError::Expired);
        }
        Ok(VerifiedState {
            nonce: payload[8..].try_into().expect("NONCE_LEN bytes"),
            issued,
        })
    }

    /// Slack's authorize URL with our client id, scopes, redirect URI and a state for `nonce`.
    pub fn authorize_url(&self, now: i64, nonce: [u8; NONCE_LEN]) -> Url {
        let mut url = self.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &BOT_SCOPES.join(","))
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("state", &self.sign_state(now, nonce));
        url
    }

    /// The `Set-Cookie` value that binds `nonce` to this browser, for the callback only.
    pub fn state_cookie(&self, nonce: &[u8; NONCE_LEN]) -> String {
        format!(
            "{STATE_COOKIE}={}; Path={}; Max-Age={STATE_TTL_SECS}; HttpOnly; Secure; SameSite=Lax",
            URL_SAFE_NO_PAD.encode(nonce),
            self.callback_path()
        )
    }

    /// The `Set-Cookie` value that removes the cookie once the callback has used it.
    fn clear_cookie(&self) -> String {
        format!(
            "{STATE_COOKIE}=; Path={}; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
            self.callback_path()
        )
    }

    fn callback_path(&self) -> String {
        Url::parse(&self.redirect_uri)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| "/slack/oauth/callback".into())
    }
}

/// True when the cookie carries the state's nonce (constant time).
fn cookie_matches(cookie: Option<&str>, nonce: &[u8; NONCE_LEN]) -> bool {
    let Some(raw) = cookie.and_then(|c| URL_SAFE_NO_PAD.decode(c.trim()).ok()) else {
        return false;
    };
    raw.len() == NONCE_LEN && raw.iter().zip(nonce).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\">\
         <h1>{t}</h1>{body}</body></html>",
        t = html_escape(title)
    );
    let reply = warp::reply::with_header(html, header::CONTENT_TYPE, "text/html; charset=utf-8");
    warp::reply::with_status(reply, status).into_response()
}

fn not_configured() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Slack install is not configured",
        "<p>Set <code>SLACK_CLIENT_ID</code>, <code>SLACK_CLIENT_SECRET</code> and \
         <code>PUBLIC_URL</code>, or register the workspace with \
         <code>codereview-sync workspace add</code>.</p>",
    )
}

/// `GET /slack/install`: 302 to Slack's authorize page.
pub async fn install(state: Arc<AppState>) -> Response {
    let started = Instant::now();
    let response = match &state.slack_install {
        None => not_configured(),
        Some(flow) => {
            let nonce: [u8; NONCE_LEN] = rand::random();
            let url = flow.authorize_url(now_ms() / 1000, nonce);
            let reply = warp::reply::with_header("", header::LOCATION, url.as_str());
            let reply =
                warp::reply::with_header(reply, header::SET_COOKIE, flow.state_cookie(&nonce));
            let reply = warp::reply::with_header(reply, header::CACHE_CONTROL, "no-store");
            warp::reply::with_status(reply, StatusCode::FOUND).into_response()
        }
    };
    state.metrics.http_request(
        "/slack/install",
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `GET /slack/oauth/callback?code=...&state=...`, with the [`STATE_COOKIE`] the install set.
pub async fn callback(
    state: Arc<AppState>,
    query: HashMap<String, String>,
    cookie: Option<String>,
) -> Response {
    let started = Instant::now();
    let mut response = finish(&state, &query, cookie.as_deref()).await;
    if let Some(flow) = &state.slack_install
        && let Ok(clear) = http::HeaderValue::from_str(&flow.clear_cookie())
    {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    state.metrics.http_request(
        "/slack/oauth/callback",
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn finish(
    state: &AppState,
    query: &HashMap<String, String>,
    cookie: Option<&str>,
) -> Response {
    let Some(flow) = &state.slack_install else {
        return not_configured();
    };
    let bad = |why: &str| {
        tracing::warn!(reason = why, "Slack install callback refused");
        page(
            StatusCode::BAD_REQUEST,
            "Installation failed",
            &format!(
                "<p>{}</p><p><a href=\"/slack/install\">Start again</a>.</p>",
                html_escape(why)
            ),
        )
    };
    let verified = match query
        .get("state")
        .map(|s| flow.verify_state(s, now_ms() / 1000))
    {
        None => return bad("The link has no state."),
        Some(Err(StateError::Invalid)) => return bad("The link's state is not valid."),
        Some(Err(StateError::Expired)) => return bad("The install link expired (10 minutes)."),
        Some(Ok(verified)) => verified,
    };
    if !cookie_matches(cookie, &verified.nonce) {
        return bad("This install was started in another browser (or cookies are blocked).");
    }
    if query.contains_key("error") {
        return bad("The installation was cancelled in Slack.");
    }
    let expires_at = (verified.issued + STATE_TTL_SECS + 60) * 1000;
    match state
        .store
        .consume_install_state(&hex::encode(verified.nonce), expires_at)
        .await
    {
        Ok(true) => {}
        Ok(false) => return bad("This install link was already used."),
        Err(e) => {
            tracing::error!(error = %e, "Slack install: could not record the state");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Installation failed",
                "<p>The install could not be recorded. Check the service logs.</p>",
            );
        }
    }
    let Some(code) = query
        .get("code")
        .filter(|c| !c.is_empty() && c.len() <= 512)
    else {
        return bad("Slack did not send a code.");
    };
    let grant = match flow
        .slack
        .oauth_access(
            &flow.client_id,
            &flow.client_secret,
            code,
            &flow.redirect_uri,
        )
        .await
    {
        Ok(grant) => grant,
        Err(e) => {
            tracing::warn!(error = %e, "Slack install: oauth.v2.access failed");
            return page(
                StatusCode::BAD_GATEWAY,
                "Installation failed",
                "<p>Slack refused the code exchange. Start again from the install link.</p>",
            );
        }
    };
    let Ok(team_id) = parse_slack_id("team", &['T', 'E'], &grant.team_id) else {
        return page(
            StatusCode::BAD_GATEWAY,
            "Installation failed",
            "<p>Slack answered with an unexpected team id.</p>",
        );
    };
    if let Err(e) = state
        .store
        .add_workspace(&state.vault, &team_id, &grant.bot_token)
        .await
    {
        tracing::error!(error = %e, "Slack install: could not store the workspace");
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Installation failed",
            "<p>The token could not be stored. Check the service logs.</p>",
        );
    }
    tracing::info!(team_id = %team_id, "Slack workspace installed");
    page(
        StatusCode::OK,
        "codereview-sync is installed",
        &format!(
            "<p>Installed in <b>{}</b> ({}). Invite the bot to a channel, then link a repository:</p>\
             <pre>codereview-sync link add --repo OWNER/NAME --team {} --channel CHANNEL_ID</pre>",
            html_escape(&grant.team_name),
            html_escape(&team_id),
            html_escape(&team_id)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::SlackClient;

    fn flow(key: u8) -> SlackInstall {
        let settings = SlackInstallSettings {
            client_id: "123.456".into(),
            client_secret: Secret::new("shh".into()),
            public_url: Url::parse("https://sync.example.com/").unwrap(),
            state_key: Secret::new([key; 32]),
        };
        let api = Url::parse("https://slack.com/api").unwrap();
        SlackInstall::new(&settings, &api, Arc::new(SlackClient::new(&api)))
    }

    #[test]
    fn authorize_url_has_everything() {
        let url = flow(1).authorize_url(1_700_000_000, [5; NONCE_LEN]);
        assert_eq!(url.path(), "/oauth/v2/authorize");
        assert_eq!(url.host_str(), Some("slack.com"));
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "123.456");
        assert_eq!(q["scope"], BOT_SCOPES.join(","));
        assert_eq!(
            q["redirect_uri"],
            "https://sync.example.com/slack/oauth/callback"
        );
        let verified = flow(1).verify_state(&q["state"], 1_700_000_000).unwrap();
        assert_eq!(verified.nonce, [5; NONCE_LEN]);
        let cookie = flow(1).state_cookie(&verified.nonce);
        assert_eq!(
            cookie,
            format!(
                "{STATE_COOKIE}=BQUFBQUFBQUFBQUFBQUFBQ; Path=/slack/oauth/callback; Max-Age=600; HttpOnly; Secure; SameSite=Lax"
            )
        );
        assert!(cookie_matches(
            Some("BQUFBQUFBQUFBQUFBQUFBQ"),
            &verified.nonce
        ));
        for other in [
            None,
            Some(""),
            Some("BgUFBQUFBQUFBQUFBQUFBQ"),
            Some("BQUF"),
            Some("!!"),
        ] {
            assert!(!cookie_matches(other, &verified.nonce), "{other:?}");
        }
    }

    #[test]
    fn states_are_signed_and_expire() {
        let f = flow(1);
        let t = 1_700_000_000;
        let s = f.sign_state(t, [7; NONCE_LEN]);
        assert_eq!(
            f.verify_state(&s, t + STATE_TTL_SECS),
            Ok(VerifiedState {
                nonce: [7; NONCE_LEN],
                issued: t
            })
        );
        assert_eq!(
            f.verify_state(&s, t + STATE_TTL_SECS + 1),
            Err(StateError::Expired)
        );
        assert_eq!(f.verify_state(&s, t - 61), Err(StateError::Expired));
        assert_eq!(
            flow(2).verify_state(&s, t),
            Err(StateError::Invalid),
            "other key"
        );
        let mut raw = URL_SAFE_NO_PAD.decode(&s).unwrap();
        raw[3] ^= 1; // a forged timestamp
        assert_eq!(
            f.verify_state(&URL_SAFE_NO_PAD.encode(&raw), t),
            Err(StateError::Invalid)
        );
        for junk in ["", "!!!", "abc", &s[..s.len() - 2]] {
            assert_eq!(f.verify_state(junk, t), Err(StateError::Invalid), "{junk}");
        }
        assert_ne!(
            f.sign_state(t, [1; NONCE_LEN]),
            f.sign_state(t, [2; NONCE_LEN])
        );
    }
}
