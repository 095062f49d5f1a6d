//! `POST /slack/commands`: the `/codereview` slash command.
//!
//! Slack posts `application/x-www-form-urlencoded` fields (`team_id`, `user_id`, `text`, ...)
//! signed exactly like events, so the request goes through the same first steps as a webhook:
//! body size and read time, then the `v0` signature with its 5-minute window
//! ([`super::slack::verify`]) → 401 and nothing read or written. Then it is answered at once,
//! synchronously, with an ephemeral message (`{"response_type":"ephemeral","text":...}`):
//! Slack gives a command 3 seconds. The answer comes from the database only (`review_waits`,
//! the user map, `digest_subscriptions`), never from a forge; the one Slack call is `users.info`
//! for the caller's time zone on `digest on`, cut off after [`TZ_LOOKUP_TIMEOUT`] (UTC then).
//! Only the calling workspace's rows are read or written; a workspace that is not registered
//! gets a polite "not installed".
//!
//! Slack sends no `thread_ts` with a slash command, so the command cannot tell that it was
//! typed in a pull request's thread: `status` about one pull request needs its reference.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures::Stream;
use http::{HeaderMap, StatusCode};
use serde_json::json;
use warp::reply::Response;

use super::{AppState, Refusal, json_response, read_body, slack};
use crate::domain::parse_slack_id;
use crate::store::{DigestSubscription, StoreError, now_ms};
use crate::sync::command::{self, SlashCommand};
use crate::sync::digest;

/// The longest the `users.info` lookup on `digest on` may take before UTC is used instead.
pub const TZ_LOOKUP_TIMEOUT: Duration = Duration::from_millis(1500);

/// The endpoint label in metrics and logs.
const ENDPOINT: &str = "/slack/commands";

/// True for `application/x-www-form-urlencoded`, with or without parameters.
fn is_form(headers: &HeaderMap) -> bool {
    super::has_media_type(headers, "application/x-www-form-urlencoded")
}

/// The fields of a verified command request that the answer needs.
struct Request {
    team_id: String,
    user_id: String,
    text: String,
}

fn parse_form(body: &Bytes) -> Result<Request, Refusal> {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let team_id = parse_slack_id("team", &['T', 'E'], field("team_id"))
        .map_err(|_| Refusal::BadRequest("team_id missing or malformed"))?;
    let user_id = parse_slack_id("user", &['U', 'W'], field("user_id"))
        .map_err(|_| Refusal::BadRequest("user_id missing or malformed"))?;
    Ok(Request {
        team_id,
        user_id,
        text: field("text").to_string(),
    })
}

fn ephemeral(text: &str) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "response_type": "ephemeral", "text": text }),
    )
}

/// Serves one `/codereview` request.
pub async fn command<S, B>(state: Arc<AppState>, headers: HeaderMap, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let started = Instant::now();
    let response = match accept(&state, &headers, body).await {
        Ok(text) => ephemeral(&text),
        Err(refusal) => {
            tracing::warn!(endpoint = ENDPOINT, status = refusal.status().as_u16(), reason = %refusal, "slash command refused");
            refusal.into_response()
        }
    };
    state
        .metrics
        .http_request(ENDPOINT, response.status().as_u16(), started.elapsed());
    response
}

async fn accept<S, B>(state: &AppState, headers: &HeaderMap, body: S) -> Result<String, Refusal>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let read = read_body(headers, body, &state.body_budget);
    let (body, _reservation) = tokio::time::timeout(state.limits.read_timeout, read)
        .await
        .map_err(|_| Refusal::Timeout)??;
    slack::verify(state.slack.as_ref(), headers, &body, now_ms() / 1000)?;
    if !is_form(headers) {
        return Err(Refusal::NotForm);
    }
    let request = parse_form(&body)?;
    match answer(state, &request).await {
        Ok(text) => Ok(text),
        Err(e) => {
            tracing::error!(endpoint = ENDPOINT, team = %request.team_id, error = %e, "slash command failed");
            Ok(command::TRY_AGAIN.to_string())
        }
    }
}

/// The answer's text, from the database (and `users.info` for `digest on`).
async fn answer(state: &AppState, request: &Request) -> Result<String, StoreError> {
    let team = request.team_id.as_str();
    let user = request.user_id.as_str();
    let Some(token) = state.store.slack_bot_token(&state.vault, team).await? else {
        return Ok(command::NOT_INSTALLED.to_string());
    };
    let now = state.clock.now_ms();
    let parsed = command::parse(&request.text);
    tracing::debug!(endpoint = ENDPOINT, %team, %user, "slash command");
    Ok(match parsed {
        SlashCommand::Help(unknown) => command::help_text(unknown.as_deref()),
        SlashCommand::BadPr(raw) => command::bad_pr_text(&raw),
        SlashCommand::BadTime(raw) => command::bad_time_text(&raw),
        SlashCommand::Status => {
            let logins = state.store.logins_of_slack_user(user).await?;
            if logins.is_empty() {
                command::unmapped_text(user)
            } else {
                let waits = state.store.review_waits_in_team(team).await?;
                command::status_text(&digest::waiting_for(&waits, Some(&logins)), now)
            }
        }
        SlashCommand::StatusOf(query) => {
            let waits: Vec<_> = state
                .store
                .review_waits_in_team(team)
                .await?
                .into_iter()
                .filter(|w| query.matches(w.thread.pr.forge, &w.thread.pr.repo, w.thread.pr.number))
                .collect();
            let found = digest::waiting_for(&waits, None);
            command::pr_status_text(&query, found.first(), now)
        }
        SlashCommand::DigestShow => {
            let sub = state.store.digest_subscription(team, user).await?;
            let setting = sub.as_ref().and_then(|s| {
                u16::try_from(s.at_min)
                    .ok()
                    .map(|m| (m, s.timezone.as_str()))
            });
            command::digest_show_text(setting)
        }
        SlashCommand::DigestOff => {
            command::digest_off_text(state.store.unsubscribe_digest(team, user).await?)
        }
        SlashCommand::DigestOn(at) => {
            let at_min = at.unwrap_or(digest::DEFAULT_AT_MIN);
            let looked_up = match &state.slack_api {
                Some(api) => tokio::time::timeout(TZ_LOOKUP_TIMEOUT, api.user_info(&token, user))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .and_then(|u| u.tz)
                    .and_then(|tz| digest::parse_zone(&tz).ok().map(|zone| (tz, zone))),
                None => None,
            };
            let guessed = looked_up.is_none();
            let (zone_name, zone) =
                looked_up.unwrap_or_else(|| ("UTC".to_string(), jiff::tz::TimeZone::UTC));
            let Some(due) = digest::next_due(now, at_min, &zone) else {
                return Ok(command::TRY_AGAIN.to_string());
            };
            state
                .store
                .subscribe_digest(
                    &DigestSubscription {
                        team_id: team.to_string(),
                        slack_user: user.to_string(),
                        at_min: i32::from(at_min),
                        timezone: zone_name.clone(),
                    },
                    due,
                )
                .await?;
            command::digest_on_text(at_min, &zone_name, due, guessed)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    #[test]
    fn only_form_bodies_are_read() {
        let mut h = HeaderMap::new();
        assert!(!is_form(&h));
        for (value, ok) in [
            ("application/x-www-form-urlencoded", true),
            ("application/x-www-form-urlencoded; charset=utf-8", true),
            ("application/json", false),
        ] {
            h.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_form(&h), ok, "{value}");
        }
    }

    #[test]
    fn forms_need_a_team_and_a_user() {
        let r = parse_form(&Bytes::from_static(
            b"team_id=T0001&user_id=U0BOB&command=%2Fcodereview&text=status+o%2Fr%2312",
        ))
        .unwrap();
        assert_eq!((r.team_id.as_str(), r.user_id.as_str()), ("T0001", "U0BOB"));
        assert_eq!(r.text, "status o/r#12");
        assert!(parse_form(&Bytes::from_static(b"user_id=U0BOB")).is_err());
        assert!(parse_form(&Bytes::from_static(b"team_id=T1&user_id=bob")).is_err());
    }
}
