//! GitLab webhooks: `X-Gitlab-Token` (which token: see [`super::tenant`]) and the delivery
//! headers.
//!
//! GitLab does not sign bodies; it sends the configured secret token verbatim. We compare it
//! in constant time without leaking its length: both the expected and the presented token are
//! MACed under a per-process random key and the tags compared with `hmac`'s `verify_slice`.
//! The dedupe key is `Idempotency-Key` (kept across GitLab's retries), else
//! `X-Gitlab-Event-UUID`, else a SHA-256 of the body for old GitLab versions.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};

use super::{Delivery, Refusal, delivery_id, event_name, header_str};
use crate::secret::Secret;

/// Verifies `X-Gitlab-Token` against the configured token.
pub struct GitLabVerifier {
    key: [u8; 32],
    expected: Vec<u8>,
}

fn tag(key: &[u8; 32], token: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(token);
    mac
}

impl GitLabVerifier {
    /// Prepares the comparison tag for the configured token.
    pub fn new(token: &Secret<String>) -> Self {
        let key: [u8; 32] = rand::random();
        let expected = tag(&key, token.expose().as_bytes())
            .finalize()
            .into_bytes()
            .to_vec();
        Self { key, expected }
    }

    /// Checks the raw header value.
    pub fn verify(&self, presented: Option<&str>) -> Result<(), Refusal> {
        let presented = presented.ok_or(Refusal::Unauthorized("missing X-Gitlab-Token"))?;
        tag(&self.key, presented.as_bytes())
            .verify_slice(&self.expected)
            .map_err(|_| Refusal::Unauthorized("X-Gitlab-Token does not match"))
    }
}

/// Reads a verified GitLab delivery: event name from `X-Gitlab-Event`, body a JSON object.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Delivery, Refusal> {
    let kind = header_str(headers, "x-gitlab-event")
        .ok_or(Refusal::BadRequest("missing X-Gitlab-Event"))?;
    serde_json::from_slice::<HashMap<String, IgnoredAny>>(body)
        .map_err(|_| Refusal::BadRequest("body is not a JSON object"))?;
    let dedupe_key = match header_str(headers, "idempotency-key")
        .or_else(|| header_str(headers, "x-gitlab-event-uuid"))
    {
        Some(key) => delivery_id(key)?,
        None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
    };
    Ok(Delivery::Queue {
        dedupe_key,
        kind: event_name(kind)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compare() {
        let v = GitLabVerifier::new(&Secret::new("glt-secret".to_string()));
        v.verify(Some("glt-secret")).unwrap();
        for bad in [
            None,
            Some(""),
            Some("glt-secre"),
            Some("glt-secret "),
            Some("GLT-SECRET"),
        ] {
            assert!(
                matches!(v.verify(bad), Err(Refusal::Unauthorized(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn dedupe_key_prefers_idempotency_key() {
        let mut h = HeaderMap::new();
        h.insert("x-gitlab-event", "Note Hook".parse().unwrap());
        let key = |h: &HeaderMap| match parse(h, b"{}").unwrap() {
            Delivery::Queue { dedupe_key, .. } => dedupe_key,
            Delivery::Answer(_) => panic!("should queue"),
        };
        assert!(key(&h).starts_with("sha256:"));
        h.insert("x-gitlab-event-uuid", "uuid-1".parse().unwrap());
        assert_eq!(key(&h), "uuid-1");
        h.insert("idempotency-key", "idem-1".parse().unwrap());
        assert_eq!(key(&h), "idem-1");
        assert!(parse(&h, b"[]").is_err());
    }
}
