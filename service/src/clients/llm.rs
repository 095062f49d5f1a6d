//! Client for an OpenAI-compatible chat-completions endpoint (`POST {LLM_API_URL}/chat/completions`),
//! used by the optional AI summary, and that API's wire format ([`request_body`],
//! [`parse_answer`]). Any server speaking that API works — OpenAI, or a model
//! served in-house (Ollama, vLLM, llama.cpp's server, LocalAI) so code never leaves the
//! network.
//!
//! Why it does not use [`super::send`]: a failed summary must never turn into a queue retry.
//! Failures here are an [`LlmError`] with a short label for logs and metrics, never a
//! [`crate::outcome::HandleError`], and the request and answer bodies (the diff, the summary)
//! appear in no error, log line or metric.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use crate::secret::Secret;
use crate::sync::summary::{MAX_SUMMARY_CHARS, Prompt};

/// The most bytes of an answer read: a few bullet points are a few kilobytes.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Pause before the one quick retry after a 5xx or a transport error.
pub const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// A retry is made only when at least this much of the deadline is left.
pub const MIN_RETRY_TIME: Duration = Duration::from_millis(500);

/// `max_tokens` asked of the model: a few bullet points.
pub const MAX_TOKENS: u32 = 400;
/// `temperature` asked of the model: low, for a factual summary.
pub const TEMPERATURE: f64 = 0.2;

/// The OpenAI chat-completions request body.
pub fn request_body(model: &str, prompt: &Prompt) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
        "stream": false,
    })
}

/// Why the model's answer gave no summary. Labels are metric values and log fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerError {
    /// Content filter, a `refusal`, or empty content.
    Refusal,
    /// Not the chat-completions shape.
    Invalid,
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Message>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<Value>,
    refusal: Option<Value>,
}

/// Strips a leading `<think>...</think>` block (reasoning models served locally emit one).
fn strip_thinking(s: &str) -> &str {
    let t = s.trim_start();
    if let Some(rest) = t.strip_prefix("<think>") {
        return match rest.find("</think>") {
            Some(end) => &rest[end + "</think>".len()..],
            None => "",
        };
    }
    t
}

/// Reads `choices[0].message.content` from a chat-completions answer, trimmed and capped at
/// [`MAX_SUMMARY_CHARS`]. A content filter stop, a non-empty `refusal` or empty content is a
/// refusal.
pub fn parse_answer(body: &[u8]) -> Result<String, AnswerError> {
    let c: Completion = serde_json::from_slice(body).map_err(|_| AnswerError::Invalid)?;
    let choice = c.choices.into_iter().next().ok_or(AnswerError::Invalid)?;
    if choice.finish_reason.as_deref() == Some("content_filter") {
        return Err(AnswerError::Refusal);
    }
    let message = choice.message.ok_or(AnswerError::Invalid)?;
    let refused = match &message.refusal {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    if refused {
        return Err(AnswerError::Refusal);
    }
    let content = match message.content {
        Some(Value::String(s)) => s,
        // Some servers answer with content parts: [{"type": "text", "text": "..."}].
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        Some(Value::Null) | None => String::new(),
        Some(_) => return Err(AnswerError::Invalid),
    };
    let text = strip_thinking(&content).trim();
    if text.is_empty() {
        return Err(AnswerError::Refusal);
    }
    if text.chars().count() <= MAX_SUMMARY_CHARS {
        return Ok(text.to_string());
    }
    let mut capped: String = text.chars().take(MAX_SUMMARY_CHARS).collect();
    capped.push('…');
    Ok(capped)
}

/// Why no summary came back. Carries status codes at most, never bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The deadline passed.
    #[error("LLM request timed out")]
    Timeout,
    /// Could not connect, or the connection broke.
    #[error("LLM request failed in transport")]
    Transport,
    /// A non-success status.
    #[error("LLM answered {0}")]
    Status(u16),
    /// The model refused (content filter, `refusal`, or nothing said).
    #[error("LLM refused or answered nothing")]
    Refusal,
    /// The answer was not a chat completion.
    #[error("LLM answered an unexpected body")]
    Invalid,
}

impl LlmError {
    /// The `reason` label of `codereview_sync_ai_summary_failures_total`.
    pub fn reason(self) -> &'static str {
        match self {
            LlmError::Timeout => "timeout",
            LlmError::Transport => "transport",
            LlmError::Status(429) => "rate_limited",
            LlmError::Status(s) if s >= 500 => "server_error",
            LlmError::Status(_) => "client_error",
            LlmError::Refusal => "refusal",
            LlmError::Invalid => "invalid_response",
        }
    }

    /// Worth one quick retry: the server hiccuped (5xx) or the connection failed.
    pub fn transient(self) -> bool {
        matches!(self, LlmError::Transport) || matches!(self, LlmError::Status(s) if s >= 500)
    }
}

impl From<AnswerError> for LlmError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Refusal => LlmError::Refusal,
            AnswerError::Invalid => LlmError::Invalid,
        }
    }
}

/// One chat-completions call. A trait so the handler can be tested with anything that answers.
#[async_trait]
pub trait LlmApi: Send + Sync {
    /// POSTs `body` (a chat-completions request) with `Authorization: Bearer {key}` and returns
    /// `choices[0].message.content`, within `timeout`.
    async fn complete(
        &self,
        key: &Secret<String>,
        body: &Value,
        timeout: Duration,
    ) -> Result<String, LlmError>;
}

/// [`LlmApi`] over HTTP(S).
#[derive(Debug, Clone)]
pub struct LlmClient {
    url: String,
    http: reqwest::Client,
}

/// `{base}/chat/completions`, whatever the base's trailing slash.
pub fn completions_url(base: &Url) -> String {
    format!("{}/chat/completions", base.as_str().trim_end_matches('/'))
}

impl LlmClient {
    /// A client for the API at `base` (`LLM_API_URL`, e.g. `http://localhost:11434/v1`).
    pub fn new(base: &Url) -> Self {
        Self {
            url: completions_url(base),
            http: reqwest::Client::builder()
                .user_agent(concat!("codereview-sync/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .expect("a TLS backend is compiled in"),
        }
    }
}

fn transport(e: &reqwest::Error) -> LlmError {
    if e.is_timeout() {
        LlmError::Timeout
    } else {
        LlmError::Transport
    }
}

#[async_trait]
impl LlmApi for LlmClient {
    async fn complete(
        &self,
        key: &Secret<String>,
        body: &Value,
        timeout: Duration,
    ) -> Result<String, LlmError> {
        let call = async {
            let mut response = self
                .http
                .post(&self.url)
                .bearer_auth(key.expose())
                .json(body)
                .send()
                .await
                .map_err(|e| transport(&e))?;
            let status = response.status();
            if !status.is_success() {
                return Err(LlmError::Status(status.as_u16()));
            }
            let mut answer = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
                if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(LlmError::Invalid);
                }
                answer.extend_from_slice(&chunk);
            }
            Ok(parse_answer(&answer)?)
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(LlmError::Timeout))
    }
}

/// Calls the model once, and once more after [`RETRY_PAUSE`] if the first attempt failed
/// transiently and at least [`MIN_RETRY_TIME`] of the `deadline` is left. Both attempts share
/// the deadline, so the whole exchange is bounded. Returns the outcome and the attempts made.
pub async fn complete_once_or_twice(
    api: &dyn LlmApi,
    key: &Secret<String>,
    body: &Value,
    deadline: Instant,
) -> (Result<String, LlmError>, u32) {
    let left = deadline.saturating_duration_since(Instant::now());
    let first = api.complete(key, body, left).await;
    match first {
        Err(e) if e.transient() => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < RETRY_PAUSE + MIN_RETRY_TIME {
                return (Err(e), 1);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
            let left = deadline.saturating_duration_since(Instant::now());
            (api.complete(key, body, left).await, 2)
        }
        other => (other, 1),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Scripted(Mutex<Vec<Result<String, LlmError>>>);

    #[async_trait]
    impl LlmApi for Scripted {
        async fn complete(
            &self,
            _: &Secret<String>,
            _: &Value,
            _: Duration,
        ) -> Result<String, LlmError> {
            self.0.lock().unwrap().remove(0)
        }
    }

    fn key() -> Secret<String> {
        Secret::new("k".into())
    }

    #[test]
    fn urls_and_labels() {
        for base in ["http://localhost:11434/v1", "http://localhost:11434/v1/"] {
            assert_eq!(
                completions_url(&Url::parse(base).unwrap()),
                "http://localhost:11434/v1/chat/completions"
            );
        }
        assert_eq!(LlmError::Status(503).reason(), "server_error");
        assert_eq!(LlmError::Status(429).reason(), "rate_limited");
        assert_eq!(LlmError::Status(401).reason(), "client_error");
        assert!(LlmError::Status(502).transient() && LlmError::Transport.transient());
        assert!(!LlmError::Timeout.transient() && !LlmError::Refusal.transient());
        assert!(
            !LlmError::Status(429).transient(),
            "rate limits are not hammered"
        );
        assert_eq!(LlmError::Status(500).to_string(), "LLM answered 500");
    }

    #[tokio::test]
    async fn one_quick_retry_on_transient_failures_only() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let body = Value::Null;
        let api = Scripted(Mutex::new(vec![
            Err(LlmError::Status(502)),
            Ok("- fine".into()),
        ]));
        assert_eq!(
            complete_once_or_twice(&api, &key(), &body, deadline).await,
            (Ok("- fine".into()), 2)
        );
        let api = Scripted(Mutex::new(vec![
            Err(LlmError::Transport),
            Err(LlmError::Status(503)),
        ]));
        assert_eq!(
            complete_once_or_twice(&api, &key(), &body, deadline).await,
            (Err(LlmError::Status(503)), 2)
        );
        for e in [LlmError::Refusal, LlmError::Timeout, LlmError::Status(400)] {
            let api = Scripted(Mutex::new(vec![Err(e)]));
            assert_eq!(
                complete_once_or_twice(&api, &key(), &body, deadline).await,
                (Err(e), 1)
            );
        }
        // No time left for a retry.
        let api = Scripted(Mutex::new(vec![Err(LlmError::Status(500))]));
        let soon = Instant::now() + Duration::from_millis(100);
        assert_eq!(
            complete_once_or_twice(&api, &key(), &body, soon).await,
            (Err(LlmError::Status(500)), 1)
        );
    }

    #[test]
    fn request_bodies() {
        let prompt = Prompt {
            system: "be brief".into(),
            user: "the diff".into(),
        };
        let body = request_body("llama3.1:8b", &prompt);
        assert_eq!(body["model"], "llama3.1:8b");
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][0]["content"], "be brief");
        assert_eq!(body["messages"][1]["role"], "user");
        assert_eq!(body["messages"][1]["content"], "the diff");
        assert_eq!(body["temperature"], 0.2);
        assert_eq!(body["max_tokens"], 400);
        assert_eq!(body["stream"], false);
    }

    #[test]
    fn answers() {
        let ok = br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"  - Adds a cache\n"},"finish_reason":"stop"}]}"#;
        assert_eq!(parse_answer(ok).unwrap(), "- Adds a cache");
        let length = br#"{"choices":[{"message":{"content":"- cut"},"finish_reason":"length"}]}"#;
        assert_eq!(parse_answer(length).unwrap(), "- cut");
        let parts = br#"{"choices":[{"message":{"content":[{"type":"text","text":"- a"},{"type":"text","text":" b"}]}}]}"#;
        assert_eq!(parse_answer(parts).unwrap(), "- a b");
        let think =
            br#"{"choices":[{"message":{"content":"<think>hmm, let me see</think>\n- Adds X"}}]}"#;
        assert_eq!(parse_answer(think).unwrap(), "- Adds X");
        for refusal in [
            &br#"{"choices":[{"message":{"content":"- x"},"finish_reason":"content_filter"}]}"#[..],
            br#"{"choices":[{"message":{"content":null,"refusal":"I can't help with that."}}]}"#,
            br#"{"choices":[{"message":{"content":"   "}}]}"#,
            br#"{"choices":[{"message":{"content":null}}]}"#,
            br#"{"choices":[{"message":{"content":"<think>only thinking"}}]}"#,
        ] {
            assert_eq!(
                parse_answer(refusal),
                Err(AnswerError::Refusal),
                "{}",
                String::from_utf8_lossy(refusal)
            );
        }
        for invalid in [
            &b"not json"[..],
            br#"{"choices":[]}"#,
            br#"{"error":{"message":"bad"}}"#,
            br#"{"choices":[{"finish_reason":"stop"}]}"#,
            br#"{"choices":[{"message":{"content":42}}]}"#,
        ] {
            assert_eq!(parse_answer(invalid), Err(AnswerError::Invalid));
        }
        let long = format!(
            r#"{{"choices":[{{"message":{{"content":"{}"}}}}]}}"#,
            "é".repeat(3000)
        );
        let capped = parse_answer(long.as_bytes()).unwrap();
        assert_eq!(capped.chars().count(), MAX_SUMMARY_CHARS + 1);
        assert!(capped.ends_with('…'));
    }
}
