//! Outbound API clients (Slack, GitHub, GitLab) live here, each behind a trait so sync logic
//! can be tested against fakes and wiremock.
//!
//! What every client shares is how a failed call becomes a queue decision, so that rate
//! limits and outages are retried and everything else is recorded once:
//! [`classify_response`] maps a status and headers to `Ok`, a retry (honouring
//! `Retry-After` and GitHub's rate-limit reset) or a permanent failure.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use crate::queue::HandleError;

/// Delay requested by `Retry-After` (seconds or an HTTP date), relative to `now`.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Delay until GitHub's primary rate limit resets, when a 403/429 says it is exhausted.
fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let remaining = headers.get("x-ratelimit-remaining")?.to_str().ok()?;
    if remaining.trim() != "0" {
        return None;
    }
    let reset: u64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Turns an API response into a queue decision. `api` names the call for the reason
/// (e.g. `"slack chat.postMessage"`); reasons carry the status only, never response bodies.
pub fn classify_response(
    api: &str,
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<(), HandleError> {
    if status.is_success() {
        return Ok(());
    }
    let reason = format!("{api} answered {}", status.as_u16());
    let limited = rate_limit_reset(headers, now);
    if status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || (status == StatusCode::FORBIDDEN
            && (limited.is_some() || headers.contains_key(http::header::RETRY_AFTER)))
    {
        return Err(HandleError::Retry {
            after: retry_after(headers, now).or(limited),
            reason,
        });
    }
    Err(HandleError::Permanent(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784111777);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "30")]), now),
            Some(Duration::from_secs(30))
        );
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT")]),
                now
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn statuses_map_to_queue_decisions() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let ok = classify_response("x", StatusCode::OK, &HeaderMap::new(), now);
        assert!(ok.is_ok());
        assert_eq!(
            classify_response(
                "slack chat.postMessage",
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "7")]),
                now
            ),
            Err(HandleError::Retry {
                after: Some(Duration::from_secs(7)),
                reason: "slack chat.postMessage answered 429".into()
            })
        );
        assert!(matches!(
            classify_response("x", StatusCode::BAD_GATEWAY, &HeaderMap::new(), now),
            Err(HandleError::Retry { after: None, .. })
        ));
        assert_eq!(
            classify_response(
                "github",
                StatusCode::FORBIDDEN,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1090")
                ]),
                now
            ),
            Err(HandleError::Retry {
                after: Some(Duration::from_secs(90)),
                reason: "github answered 403".into()
            })
        );
        assert!(matches!(
            classify_response("github", StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            Err(HandleError::Permanent(_))
        ));
        assert!(matches!(
            classify_response("github", StatusCode::NOT_FOUND, &HeaderMap::new(), now),
            Err(HandleError::Permanent(_))
        ));
    }
}
