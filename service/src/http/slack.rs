//! Slack Events API: `v0` request signatures and the event envelope.
//!
//! Slack signs `v0:{X-Slack-Request-Timestamp}:{raw body}` with HMAC-SHA256 keyed by the app's
//! signing secret and sends `v0={hex}` in `X-Slack-Signature`. A timestamp more than five
//! minutes from our clock (either way) is refused, so a captured request cannot be replayed
//! later; a replay inside the window carries the same `event_id` and is deduplicated.

use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use sha2::Sha256;
use warp::Reply as _;

use super::{Delivery, Refusal, delivery_id, event_name, header_str};
use crate::secret::Secret;

/// Largest accepted difference between Slack's timestamp and our clock.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Verifies Slack signatures with the configured signing secret.
pub struct SlackVerifier {
    secret: Secret<String>,
}

impl SlackVerifier {
    /// Wraps the signing secret.
    pub fn new(secret: &Secret<String>) -> Self {
        Self {
            secret: secret.clone(),
        }
    }

    /// Checks one request: `timestamp` and `signature` are the raw header values, `now` is
    /// our clock in Unix seconds. Constant-time comparison through `hmac`'s `verify_slice`.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), Refusal> {
        let timestamp =
            timestamp.ok_or(Refusal::Unauthorized("missing X-Slack-Request-Timestamp"))?;
        let signature = signature.ok_or(Refusal::Unauthorized("missing X-Slack-Signature"))?;
        let ts: i64 = timestamp
            .parse()
            .map_err(|_| Refusal::Unauthorized("malformed X-Slack-Request-Timestamp"))?;
        if (now - ts).abs() > MAX_SKEW_SECS {
            return Err(Refusal::Unauthorized(
                "X-Slack-Request-Timestamp is more than 5 minutes from our clock",
            ));
        }
        let tag = signature
            .strip_prefix("v0=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(Refusal::Unauthorized("malformed X-Slack-Signature"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .map_err(|_| Refusal::Unauthorized("signing secret unusable"))?;
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac.verify_slice(&tag)
            .map_err(|_| Refusal::Unauthorized("X-Slack-Signature does not match"))
    }
}

/// Verifies a request to `/slack/events`; a missing verifier means the endpoint is disabled.
pub fn verify(
    verifier: Option<&SlackVerifier>,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), Refusal> {
    let verifier = verifier.ok_or(Refusal::Unauthorized(
        "SLACK_SIGNING_SECRET is not configured",
    ))?;
    verifier.verify(
        header_str(headers, "x-slack-request-timestamp"),
        header_str(headers, "x-slack-signature"),
        body,
        now,
    )
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    event_id: Option<String>,
    event: Option<InnerEvent>,
}

#[derive(Deserialize)]
struct InnerEvent {
    #[serde(rename = "type")]
    kind: String,
}

/// Reads a verified Slack envelope: answers `url_verification`, queues `event_callback` by
/// `event_id` (so Slack's retries, marked `X-Slack-Retry-Num`, are deduplicated) and
/// acknowledges anything else without queueing it.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Delivery, Refusal> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| {
        Refusal::BadRequest("body is not a Slack event envelope (JSON object with a type)")
    })?;
    match envelope.kind.as_str() {
        "url_verification" => {
            let challenge = envelope
                .challenge
                .ok_or(Refusal::BadRequest("url_verification without a challenge"))?;
            Ok(Delivery::Answer(
                warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({ "challenge": challenge })),
                    StatusCode::OK,
                )
                .into_response(),
            ))
        }
        "event_callback" => {
            let event_id = envelope
                .event_id
                .ok_or(Refusal::BadRequest("event_callback without event_id"))?;
            let kind = envelope
                .event
                .ok_or(Refusal::BadRequest("event_callback without event"))?
                .kind;
            if let Some(retry) = header_str(headers, "x-slack-retry-num") {
                tracing::info!(event_id = %event_id, retry, "Slack retry received");
            }
            Ok(Delivery::Queue {
                dedupe_key: delivery_id(&event_id)?,
                kind: event_name(&kind)?,
            })
        }
        other => {
            tracing::info!(kind = other, "Slack envelope acknowledged, not queued");
            Ok(Delivery::Answer(
                warp::reply::json(&serde_json::json!({ "ok": true })).into_response(),
            ))
        }
    }
}

/// Computes the `X-Slack-Signature` value for a body, as Slack does. Used by tests and the
/// load benchmark to produce real signatures.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example:
    // https://api.slack.com/authentication/verifying-requests-from-slack
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: i64 = 1531420618;
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

    fn verifier() -> SlackVerifier {
        SlackVerifier::new(&Secret::new(SECRET.to_string()))
    }

    #[test]
    fn published_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        let ts = TIMESTAMP.to_string();
        verifier()
            .verify(Some(&ts), Some(SIGNATURE), BODY.as_bytes(), TIMESTAMP + 10)
            .unwrap();
    }

    #[test]
    fn published_vector_rejects_every_alteration() {
        let ts = TIMESTAMP.to_string();
        let v = verifier();
        let body = BODY.as_bytes();
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        let wrong_secret = SlackVerifier::new(&Secret::new("another-secret".to_string()));
        let cases: Vec<(&str, Result<(), Refusal>)> = vec![
            (
                "tampered body",
                v.verify(Some(&ts), Some(SIGNATURE), &tampered, TIMESTAMP),
            ),
            (
                "wrong secret",
                wrong_secret.verify(Some(&ts), Some(SIGNATURE), body, TIMESTAMP),
            ),
            (
                "other timestamp",
                v.verify(Some("1531420619"), Some(SIGNATURE), body, TIMESTAMP),
            ),
            (
                "stale",
                v.verify(
                    Some(&ts),
                    Some(SIGNATURE),
                    body,
                    TIMESTAMP + MAX_SKEW_SECS + 1,
                ),
            ),
            (
                "future",
                v.verify(
                    Some(&ts),
                    Some(SIGNATURE),
                    body,
                    TIMESTAMP - MAX_SKEW_SECS - 1,
                ),
            ),
            (
                "no timestamp",
                v.verify(None, Some(SIGNATURE), body, TIMESTAMP),
            ),
            ("no signature", v.verify(Some(&ts), None, body, TIMESTAMP)),
            (
                "no prefix",
                v.verify(Some(&ts), Some(&SIGNATURE[3..]), body, TIMESTAMP),
            ),
            (
                "v1 prefix",
                v.verify(
                    Some(&ts),
                    Some(&SIGNATURE.replace("v0=", "v1=")),
                    body,
                    TIMESTAMP,
                ),
            ),
            (
                "not hex",
                v.verify(Some(&ts), Some("v0=zz"), body, TIMESTAMP),
            ),
            (
                "truncated",
                v.verify(Some(&ts), Some(&SIGNATURE[..40]), body, TIMESTAMP),
            ),
            (
                "bad timestamp",
                v.verify(Some("soon"), Some(SIGNATURE), body, TIMESTAMP),
            ),
        ];
        for (name, result) in cases {
            assert!(
                matches!(result, Err(Refusal::Unauthorized(_))),
                "{name}: {result:?}"
            );
        }
        // The window is inclusive at exactly five minutes.
        v.verify(Some(&ts), Some(SIGNATURE), body, TIMESTAMP + MAX_SKEW_SECS)
            .unwrap();
        v.verify(Some(&ts), Some(SIGNATURE), body, TIMESTAMP - MAX_SKEW_SECS)
            .unwrap();
    }

    #[test]
    fn envelopes_are_classified() {
        let h = HeaderMap::new();
        let d = parse(
            &h,
            br#"{"type":"url_verification","challenge":"abc","token":"x"}"#,
        )
        .unwrap();
        assert!(matches!(d, Delivery::Answer(_)));
        let d = parse(
            &h,
            br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"message","text":"hi"}}"#,
        )
        .unwrap();
        match d {
            Delivery::Queue { dedupe_key, kind } => {
                assert_eq!((dedupe_key.as_str(), kind.as_str()), ("Ev1", "message"));
            }
            Delivery::Answer(_) => panic!("should queue"),
        }
        assert!(matches!(
            parse(&h, br#"{"type":"app_rate_limited"}"#),
            Ok(Delivery::Answer(_))
        ));
        for bad in [
            &br#"{"type":"event_callback","event":{"type":"message"}}"#[..],
            br#"{"type":"event_callback","event_id":"Ev1"}"#,
            br#"{"type":"url_verification"}"#,
            br#"[1,2]"#,
            br#"{"type":"#,
        ] {
            assert!(matches!(parse(&h, bad), Err(Refusal::BadRequest(_))));
        }
    }
}
