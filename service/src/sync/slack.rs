//! Slack Events API envelopes → [`SlackEvent`]. Pure: bytes in, typed model out.
//!
//! Only `message` events matter (subscribed as `message.channels` and `message.groups` in
//! `slack-app-manifest.yml`, checked by a test): new messages, `message_changed` and
//! `message_deleted`. Every other event or subtype parses to [`SlackEvent::Other`].

use serde::Deserialize;

use super::model::{Channel, SlackEvent};

pub use super::github::ParseError;

/// The bot event subscriptions the handler understands (as named in the app manifest).
pub const HANDLED_EVENTS: &[&str] = &["message.channels", "message.groups"];

#[derive(Deserialize, Default)]
struct Inner {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    channel: Option<String>,
    team: Option<String>,
    #[serde(flatten)]
    inner: Inner,
    message: Option<Inner>,
    previous_message: Option<Inner>,
    deleted_ts: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    team_id: Option<String>,
    event: Event,
}

/// Parses one queued `event_callback` body.
pub fn parse(payload: &[u8]) -> Result<SlackEvent, ParseError> {
    let env: Envelope = serde_json::from_slice(payload).map_err(|e| {
        ParseError(format!(
            "Slack event does not have the expected shape (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let ev = env.event;
    if ev.kind != "message" {
        return Ok(SlackEvent::Other(ev.kind));
    }
    let team_id = env
        .team_id
        .or(ev.team)
        .ok_or_else(|| ParseError("Slack event has no team_id".into()))?;
    let channel = Channel {
        team_id,
        channel_id: ev
            .channel
            .ok_or_else(|| ParseError("Slack message event has no channel".into()))?,
    };
    let no_ts = || ParseError("Slack message event has no ts".into());
    match ev.subtype.as_deref() {
        Some("message_changed") => {
            let message = ev
                .message
                .ok_or_else(|| ParseError("message_changed without message".into()))?;
            Ok(SlackEvent::Changed {
                channel,
                user: message.user,
                bot_id: message.bot_id,
                ts: message.ts.ok_or_else(no_ts)?,
                text: message.text.unwrap_or_default(),
                previous_text: ev.previous_message.and_then(|m| m.text),
            })
        }
        Some("message_deleted") => Ok(SlackEvent::Deleted {
            channel,
            ts: ev
                .deleted_ts
                .or(ev.previous_message.and_then(|m| m.ts))
                .ok_or_else(no_ts)?,
        }),
        subtype => Ok(SlackEvent::Message {
            channel,
            user: ev.inner.user,
            bot_id: ev.inner.bot_id,
            subtype: subtype.map(str::to_string),
            text: ev.inner.text.unwrap_or_default(),
            ts: ev.inner.ts.ok_or_else(no_ts)?,
            thread_ts: ev.inner.thread_ts,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(event: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"type": "event_callback", "team_id": "T1", "event_id": "Ev", "event": event}),
        )
        .unwrap()
    }

    #[test]
    fn message_kinds() {
        let ev = parse(&env(json!({"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "2.0", "thread_ts": "1.0"}))).unwrap();
        assert_eq!(
            ev,
            SlackEvent::Message {
                channel: Channel {
                    team_id: "T1".into(),
                    channel_id: "C1".into()
                },
                user: Some("U1".into()),
                bot_id: None,
                subtype: None,
                text: "hi".into(),
                ts: "2.0".into(),
                thread_ts: Some("1.0".into()),
            }
        );
        let ev = parse(&env(
            json!({"type": "message", "subtype": "message_changed", "channel": "C1",
            "message": {"user": "U1", "text": "new", "ts": "2.0"},
            "previous_message": {"user": "U1", "text": "old", "ts": "2.0"}}),
        ))
        .unwrap();
        assert!(
            matches!(ev, SlackEvent::Changed { ref ts, ref previous_text, .. } if ts == "2.0" && previous_text.as_deref() == Some("old"))
        );
        let ev = parse(&env(json!({"type": "message", "subtype": "message_deleted", "channel": "C1", "deleted_ts": "2.0"}))).unwrap();
        assert!(matches!(ev, SlackEvent::Deleted { ref ts, .. } if ts == "2.0"));
        assert_eq!(
            parse(&env(json!({"type": "reaction_added"}))).unwrap(),
            SlackEvent::Other("reaction_added".into())
        );
        assert!(parse(&env(json!({"type": "message", "text": "secret"}))).is_err());
    }
}
