//! GitHub webhooks: `X-Hub-Signature-256` and the delivery headers.
//!
//! GitHub sends `sha256={hex}` of HMAC-SHA256 over the raw body, keyed by the webhook secret
//! (which one: see [`super::tenant`]). The event name (`X-GitHub-Event`) is the event kind.
//!
//! Dedupe rule: a delivery is identified by the SHA-256 of its verified body (`sha256:{hex}`),
//! not by `X-GitHub-Delivery`. A redelivery has the same body, and so has a replay of a
//! captured signed body under a fresh delivery id: both are processed once (within the
//! dedupe retention, 7 days). The body names the repository, so the identity is per
//! repository; GitHub's payloads carry the object's ids and timestamps, so two real events do
//! not share a body. The same event delivered by two hooks (an organisation hook and a
//! repository hook during a migration) is also processed once.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};
use warp::Reply as _;

use super::{Delivery, Refusal, delivery_id, event_name, header_str};
use crate::secret::Secret;

/// Verifies GitHub signatures with the configured webhook secret.
pub struct GitHubVerifier {
    secret: Secret<String>,
}

impl GitHubVerifier {
    /// Wraps the webhook secret.
    pub fn new(secret: &Secret<String>) -> Self {
        Self {
            secret: secret.clone(),
        }
    }

    /// Checks the raw `X-Hub-Signature-256` value against the body, in constant time.
    pub fn verify(&self, signature: Option<&str>, body: &[u8]) -> Result<(), Refusal> {
        let signature = signature.ok_or(Refusal::Unauthorized("missing X-Hub-Signature-256"))?;
        let tag = signature
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(Refusal::Unauthorized("malformed X-Hub-Signature-256"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .map_err(|_| Refusal::Unauthorized("webhook secret unusable"))?;
        mac.update(body);
        mac.verify_slice(&tag)
            .map_err(|_| Refusal::Unauthorized("X-Hub-Signature-256 does not match"))
    }
}

/// Reads a verified GitHub delivery: the body must be a JSON object; `ping` is answered.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Delivery, Refusal> {
    let kind = header_str(headers, "x-github-event")
        .ok_or(Refusal::BadRequest("missing X-GitHub-Event"))?;
    let delivery = header_str(headers, "x-github-delivery")
        .ok_or(Refusal::BadRequest("missing X-GitHub-Delivery"))?;
    delivery_id(delivery)?;
    serde_json::from_slice::<HashMap<String, IgnoredAny>>(body)
        .map_err(|_| Refusal::BadRequest("body is not a JSON object"))?;
    if kind == "ping" {
        return Ok(Delivery::Answer(
            warp::reply::json(&serde_json::json!({ "ok": true, "pong": true })).into_response(),
        ));
    }
    Ok(Delivery::Queue {
        dedupe_key: content_key(body),
        kind: event_name(kind)?,
    })
}

/// The dedupe key of a verified body: `sha256:{hex}` (see the module docs).
pub fn content_key(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// Computes the `X-Hub-Signature-256` value for a body, as GitHub does (tests, benchmarks).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's documented example:
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn published_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
        GitHubVerifier::new(&Secret::new(SECRET.to_string()))
            .verify(Some(SIGNATURE), BODY)
            .unwrap();
    }

    #[test]
    fn published_vector_rejects_every_alteration() {
        let v = GitHubVerifier::new(&Secret::new(SECRET.to_string()));
        let wrong = GitHubVerifier::new(&Secret::new("It's a Secret to Nobody".to_string()));
        let sha1 = SIGNATURE.replace("sha256=", "sha1=");
        for (name, result) in [
            ("tampered body", v.verify(Some(SIGNATURE), b"Hello, World?")),
            ("wrong secret", wrong.verify(Some(SIGNATURE), BODY)),
            ("missing", v.verify(None, BODY)),
            ("sha1 prefix", v.verify(Some(&sha1), BODY)),
            ("no prefix", v.verify(Some(&SIGNATURE[7..]), BODY)),
            ("truncated", v.verify(Some(&SIGNATURE[..30]), BODY)),
            ("not hex", v.verify(Some("sha256=xyz"), BODY)),
            (
                "upper-case prefix",
                v.verify(Some(&SIGNATURE.replace("sha256", "SHA256")), BODY),
            ),
        ] {
            assert!(matches!(result, Err(Refusal::Unauthorized(_))), "{name}");
        }
    }

    #[test]
    fn deliveries_need_headers_and_an_object() {
        let mut h = HeaderMap::new();
        assert!(parse(&h, b"{}").is_err());
        h.insert("x-github-event", "pull_request".parse().unwrap());
        assert!(parse(&h, b"{}").is_err());
        h.insert("x-github-delivery", "d-1".parse().unwrap());
        match parse(&h, b"{}") {
            Ok(Delivery::Queue { dedupe_key, .. }) => assert_eq!(dedupe_key, content_key(b"{}")),
            other => panic!("should queue: {other:?}"),
        }
        h.insert("x-github-delivery", "d-2".parse().unwrap());
        match parse(&h, b"{}") {
            Ok(Delivery::Queue { dedupe_key, .. }) => assert_eq!(dedupe_key, content_key(b"{}")),
            other => panic!("a new delivery id does not make a new event: {other:?}"),
        }
        assert!(matches!(parse(&h, b"[]"), Err(Refusal::BadRequest(_))));
        assert!(matches!(parse(&h, b"{"), Err(Refusal::BadRequest(_))));
        h.insert("x-github-event", "ping".parse().unwrap());
        assert!(matches!(parse(&h, b"{}"), Ok(Delivery::Answer(_))));
    }
}
