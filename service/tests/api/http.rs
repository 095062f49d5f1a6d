//! The real server on a random port, real HTTP, real signatures, on SQLite and PostgreSQL.

use std::sync::Arc;

use codereview_sync::config::WebhookSecrets;
use codereview_sync::domain::Source;
use codereview_sync::http::{MAX_BODY_BYTES, github, slack};

use crate::helpers::*;

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
}

fn without(mut headers: Vec<(&'static str, String)>, name: &str) -> Vec<(&'static str, String)> {
    headers.retain(|(k, _)| *k != name);
    headers
}

fn with(
    headers: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    let mut headers = without(headers, name);
    headers.push((name, value.to_string()));
    headers
}

fn bad_inputs() -> Vec<Case> {
    let now = now_secs();
    let body = slack_message("EvBad", "secret message text");
    let sh = slack_headers(&body, now);
    let signed = |b: &[u8], ts: i64| slack_headers(b, ts);
    let gh_body = github_fixture("pull_request.opened.payload.json");
    let gh = github_headers("pull_request", "bad-delivery", &gh_body);
    let gl_body =
        br#"{"object_kind":"note","project":{"path_with_namespace":"group/app"}}"#.to_vec();
    let gl = gitlab_headers("Note Hook", "bad-idem");
    let form = b"payload=%7B%22action%22%3A%22opened%22%7D".to_vec();
    let mut tampered = body.clone();
    let at = tampered.len() - 10;
    tampered[at] ^= 0x01;
    let no_event_id = br#"{"type":"event_callback","event":{"type":"message"}}"#.to_vec();
    let ct = |v: &str| ("content-type", v.to_string());
    let post = |name, path, headers, body: &[u8], status| Case {
        name,
        method: "POST",
        path,
        headers,
        body: body.to_vec(),
        status,
    };
    vec![
        // Slack: authentication first.
        post(
            "slack: no signature headers",
            "/slack/events",
            vec![ct("application/json")],
            &body,
            401,
        ),
        post(
            "slack: missing timestamp",
            "/slack/events",
            without(sh.clone(), "x-slack-request-timestamp"),
            &body,
            401,
        ),
        post(
            "slack: missing signature",
            "/slack/events",
            without(sh.clone(), "x-slack-signature"),
            &body,
            401,
        ),
        post(
            "slack: wrong signature",
            "/slack/events",
            with(
                sh.clone(),
                "x-slack-signature",
                &format!("v0={}", "0".repeat(64)),
            ),
            &body,
            401,
        ),
        post(
            "slack: wrong secret",
            "/slack/events",
            with(
                sh.clone(),
                "x-slack-signature",
                &slack::sign("not-the-secret", now, &body),
            ),
            &body,
            401,
        ),
        post(
            "slack: tampered body",
            "/slack/events",
            sh.clone(),
            &tampered,
            401,
        ),
        post(
            "slack: stale timestamp",
            "/slack/events",
            signed(&body, now - 360),
            &body,
            401,
        ),
        post(
            "slack: future timestamp",
            "/slack/events",
            signed(&body, now + 360),
            &body,
            401,
        ),
        post(
            "slack: malformed timestamp",
            "/slack/events",
            with(sh.clone(), "x-slack-request-timestamp", "yesterday"),
            &body,
            401,
        ),
        post(
            "slack: signature without v0=",
            "/slack/events",
            with(
                sh.clone(),
                "x-slack-signature",
                &slack::sign(SLACK_SECRET, now, &body)[3..],
            ),
            &body,
            401,
        ),
        // Slack: signed, but not something we accept.
        post(
            "slack: form content type",
            "/slack/events",
            with(
                signed(&form, now),
                "content-type",
                "application/x-www-form-urlencoded",
            ),
            &form,
            415,
        ),
        post(
            "slack: no content type",
            "/slack/events",
            without(sh.clone(), "content-type"),
            &body,
            415,
        ),
        post(
            "slack: non-JSON",
            "/slack/events",
            signed(b"not json", now),
            b"not json",
            400,
        ),
        post(
            "slack: truncated JSON",
            "/slack/events",
            signed(&body[..body.len() - 1], now),
            &body[..body.len() - 1],
            400,
        ),
        post(
            "slack: JSON array",
            "/slack/events",
            signed(b"[]", now),
            b"[]",
            400,
        ),
        post(
            "slack: empty body",
            "/slack/events",
            signed(b"", now),
            b"",
            400,
        ),
        post(
            "slack: event_callback without event_id",
            "/slack/events",
            signed(&no_event_id, now),
            &no_event_id,
            400,
        ),
        // GitHub.
        post(
            "github: missing signature",
            "/github/webhook",
            without(gh.clone(), "x-hub-signature-256"),
            &gh_body,
            401,
        ),
        post(
            "github: wrong secret",
            "/github/webhook",
            with(
                gh.clone(),
                "x-hub-signature-256",
                &github::sign("It's a Secret to Nobody", &gh_body),
            ),
            &gh_body,
            401,
        ),
        post(
            "github: tampered body",
            "/github/webhook",
            gh.clone(),
            &gh_body[1..],
            401,
        ),
        post(
            "github: sha1 signature only",
            "/github/webhook",
            with(
                without(gh.clone(), "x-hub-signature-256"),
                "x-hub-signature",
                "sha1=0123456789abcdef0123456789abcdef01234567",
            ),
            &gh_body,
            401,
        ),
        post(
            "github: form content type",
            "/github/webhook",
            with(
                github_headers("pull_request", "d1", &form),
                "content-type",
                "application/x-www-form-urlencoded",
            ),
            &form,
            415,
        ),
        post(
            "github: missing X-GitHub-Event",
            "/github/webhook",
            without(gh.clone(), "x-github-event"),
            &gh_body,
            400,
        ),
        post(
            "github: missing X-GitHub-Delivery",
            "/github/webhook",
            without(gh.clone(), "x-github-delivery"),
            &gh_body,
            400,
        ),
        post(
            "github: non-JSON",
            "/github/webhook",
            github_headers("pull_request", "d2", b"<xml/>"),
            b"<xml/>",
            400,
        ),
        // GitLab.
        post(
            "gitlab: missing token",
            "/gitlab/webhook",
            without(gl.clone(), "x-gitlab-token"),
            &gl_body,
            401,
        ),
        post(
            "gitlab: wrong token",
            "/gitlab/webhook",
            with(gl.clone(), "x-gitlab-token", "glpat-guess"),
            &gl_body,
            401,
        ),
        post(
            "gitlab: token with a suffix",
            "/gitlab/webhook",
            with(gl.clone(), "x-gitlab-token", &format!("{GITLAB_TOKEN}x")),
            &gl_body,
            401,
        ),
        post(
            "gitlab: text/plain",
            "/gitlab/webhook",
            with(gl.clone(), "content-type", "text/plain"),
            &gl_body,
            415,
        ),
        post(
            "gitlab: missing X-Gitlab-Event",
            "/gitlab/webhook",
            without(gl.clone(), "x-gitlab-event"),
            &gl_body,
            400,
        ),
        post(
            "gitlab: non-JSON",
            "/gitlab/webhook",
            gl.clone(),
            b"{{",
            400,
        ),
        // Routing.
        Case {
            name: "GET on a webhook",
            method: "GET",
            path: "/slack/events",
            headers: vec![],
            body: vec![],
            status: 405,
        },
        Case {
            name: "PUT on a webhook",
            method: "PUT",
            path: "/github/webhook",
            headers: gh.clone(),
            body: gh_body.clone(),
            status: 405,
        },
        post("unknown path", "/slack/unknown", sh.clone(), &body, 404),
        // The slash command is signed like events, but a form: signed JSON is refused.
        post(
            "slack command: JSON",
            "/slack/commands",
            sh.clone(),
            &body,
            415,
        ),
    ]
}

matrix! {
    async fn bad_input_matrix_answers_and_stores_nothing(db) {
        let app = spawn_app(db).await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let cases = bad_inputs();
        let mut failures = Vec::new();
        for case in &cases {
            let mut req = client.request(case.method.parse().unwrap(), app.url(case.path)).body(case.body.clone());
            for (k, v) in &case.headers {
                req = req.header(*k, v);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            if status != case.status {
                failures.push(format!("{}: expected {}, got {status} {text}", case.name, case.status));
            }
            assert!(!text.contains("secret message text"), "{}: body echoed", case.name);
            let stored = app.stored().await;
            assert_eq!(stored, 0, "{}: stored {stored} rows", case.name);
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let metrics = app.get("/metrics").await.1;
        let slack_401 = cases.iter().filter(|c| c.path == "/slack/events" && c.method == "POST" && c.status == 401).count();
        assert!(metrics.contains(&format!("codereview_sync_http_requests_total{{endpoint=\"/slack/events\",status=\"401\"}} {slack_401}")), "{metrics}");
        assert!(metrics.contains("codereview_sync_http_requests_total{endpoint=\"unmatched\",status=\"405\"} 2"), "{metrics}");
        assert!(!metrics.contains("codereview_sync_events_received_total"), "nothing counted as received");
    }

    async fn oversize_bodies_are_refused_before_reading(db) {
        let app = spawn_app(db).await;
        let ts = now_secs();
        // Declared too large: refused from the headers alone (nothing sent after them).
        for path in ["/slack/events", "/github/webhook", "/gitlab/webhook"] {
            let head = format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-slack-request-timestamp: {ts}\r\ncontent-length: {}\r\n\r\n",
                MAX_BODY_BYTES + 1
            );
            assert_eq!(raw_request(app.addr, &head, &[]).await, 413, "{path}");
        }
        // Chunked, no length declared: refused once the bytes read pass 1 MiB.
        let chunk = vec![b' '; 64 * 1024];
        let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk, b"\r\n".to_vec()].concat();
        let parts: Vec<&[u8]> = std::iter::repeat_n(framed.as_slice(), 17).chain([&b"0\r\n\r\n"[..]]).collect();
        let head = "POST /gitlab/webhook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        assert_eq!(raw_request(app.addr, head, &parts).await, 413);
        assert_eq!(app.stored().await, 0);
        // Exactly 1 MiB, signed: accepted.
        let mut body = slack_message("EvBig", "x");
        body.truncate(body.len() - 1);
        let pad = MAX_BODY_BYTES - body.len() - br#","pad":""}"#.len();
        body.extend_from_slice(format!(r#","pad":"{}"}}"#, "a".repeat(pad)).as_bytes());
        assert_eq!(body.len(), MAX_BODY_BYTES);
        let (status, text) = app.slack(body.clone()).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(app.queued().await, 1);
        // One byte more, signed and sent by a normal client: 413, nothing more stored. The
        // server answers from the headers and closes without reading the body, so a client
        // still sending may see the connection reset before the 413 (TCP drops unread data):
        // a refusal either way.
        body.insert(1, b' ');
        let headers = slack_headers(&body, now_secs());
        match app.try_post("/slack/events", &headers, body).await {
            Ok((status, _)) => assert_eq!(status, 413),
            Err(e) => assert!(!e.is_timeout() && !e.is_status(), "{e}"),
        }
        assert_eq!(app.queued().await, 1);
    }

    async fn disabled_endpoints_refuse_everything(db) {
        let app = spawn_app_with(db, AppOptions { secrets: WebhookSecrets::default(), ..AppOptions::default() }).await;
        let body = slack_message("Ev1", "hi");
        assert_eq!(app.slack(body).await.0, 401);
        let gh = github_fixture("pull_request.opened.payload.json");
        assert_eq!(app.github("pull_request", "d-1", gh).await.0, 401);
        assert_eq!(app.gitlab("Note Hook", "k-1", b"{}".to_vec()).await.0, 401);
        assert_eq!(app.stored().await, 0);
    }

    async fn slack_url_verification_is_answered(db) {
        let app = spawn_app(db).await;
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#.to_vec();
        let (status, text) = app.slack(body).await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
        assert_eq!(app.stored().await, 0);
    }

    async fn slack_event_is_queued_sealed_and_processed(db) {
        let recorder = Arc::new(Recorder::default());
        let app = spawn_app_with(db, AppOptions { handler: recorder.clone(), ..AppOptions::default() }).await;
        let body = slack_message("Ev0001", "a very private message");
        let (status, text) = app.slack(body.clone()).await;
        assert_eq!((status, text.as_str()), (200, r#"{"duplicate":false,"ok":true}"#));
        assert_eq!(app.queued().await, 1);
        for c in blobs(&app.db.store, "event_queue", "ciphertext").await {
            assert!(!contains(&c, b"very private"), "payload stored in clear");
        }
        assert_eq!(texts(&app.db.store, "event_queue", "kind").await, ["message"]);
        assert_eq!(app.drain().await, 1);
        let seen = recorder.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].source, seen[0].kind.as_str(), seen[0].dedupe_key.as_str()), (Source::Slack, "message", "Ev0001"));
        assert_eq!(seen[0].payload, body);
        assert_eq!(app.queued().await, 0, "row deleted once processed");
        assert_eq!(count(&app.db.store, "event_deliveries").await, 1, "delivery id kept for dedupe");
    }

    async fn replayed_event_id_is_processed_once(db) {
        let recorder = Arc::new(Recorder::default());
        let app = spawn_app_with(db, AppOptions { handler: recorder.clone(), ..AppOptions::default() }).await;
        let body = slack_message("Ev0002", "hello");
        assert_eq!(app.slack(body.clone()).await.1, r#"{"duplicate":false,"ok":true}"#);
        // Slack's retry: new timestamp and signature, same event_id, X-Slack-Retry-Num set.
        let mut headers = slack_headers(&body, now_secs() - 30);
        headers.push(("x-slack-retry-num", "1".into()));
        headers.push(("x-slack-retry-reason", "http_timeout".into()));
        let (status, text) = app.post("/slack/events", &headers, body.clone()).await;
        assert_eq!((status, text.as_str()), (200, r#"{"duplicate":true,"ok":true}"#));
        assert_eq!(app.queued().await, 1);
        app.drain().await;
        // A replay after processing (inside the 5-minute window) is still recognised.
        assert_eq!(app.post("/slack/events", &headers, body).await.1, r#"{"duplicate":true,"ok":true}"#);
        assert_eq!(app.queued().await, 0);
        assert_eq!(recorder.seen().len(), 1);
        let metrics = app.get("/metrics").await.1;
        assert!(metrics.contains("codereview_sync_events_received_total{outcome=\"duplicate\",source=\"slack\"} 2"), "{metrics}");
    }

    async fn github_fixtures_are_queued_by_body_hash(db) {
        let recorder = Arc::new(Recorder::default());
        let app = spawn_app_with(db, AppOptions { handler: recorder.clone(), ..AppOptions::default() }).await;
        let mut files: Vec<_> = std::fs::read_dir(fixtures_dir()).unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
        files.sort();
        assert!(files.len() >= 20, "fixtures present");
        let mut expected = Vec::new();
        for (i, name) in files.iter().enumerate() {
            let event = name.split('.').next().unwrap();
            let delivery = format!("72d3162e-cc78-11e3-81ab-{i:012}");
            let (status, text) = app.github(event, &delivery, github_fixture(name)).await;
            assert_eq!(status, 200, "{name}: {text}");
            if event == "ping" {
                assert!(text.contains("pong"));
            } else {
                expected.push((github::content_key(&github_fixture(name)), event.to_string(), github_fixture(name)));
                // GitHub redelivery of the same delivery id.
                let (_, again) = app.github(event, &delivery, github_fixture(name)).await;
                assert!(again.contains(r#""duplicate":true"#), "{name}");
                // The same body replayed under a new delivery id.
                let (_, replay) = app.github(event, &format!("{delivery}-replay"), github_fixture(name)).await;
                assert!(replay.contains(r#""duplicate":true"#), "{name}");
            }
        }
        assert_eq!(app.queued().await as usize, expected.len());
        assert_eq!(app.drain().await, expected.len());
        let mut seen: Vec<_> = recorder.seen().into_iter().map(|e| (e.dedupe_key, e.kind, e.payload)).collect();
        seen.sort();
        expected.sort();
        assert_eq!(seen, expected);
    }

    async fn gitlab_events_are_deduplicated(db) {
        let recorder = Arc::new(Recorder::default());
        let app = spawn_app_with(db, AppOptions { handler: recorder.clone(), ..AppOptions::default() }).await;
        let body = br#"{"object_kind":"merge_request","project":{"path_with_namespace":"group/sub/app"},"object_attributes":{"iid":7,"action":"open"}}"#.to_vec();
        assert_eq!(app.gitlab("Merge Request Hook", "idem-1", body.clone()).await.0, 200);
        let (_, text) = app.gitlab("Merge Request Hook", "idem-1", body.clone()).await;
        assert!(text.contains(r#""duplicate":true"#));
        // Without Idempotency-Key, the event UUID is the key.
        let mut headers = without(gitlab_headers("Note Hook", "unused"), "idempotency-key");
        headers.push(("x-gitlab-event-uuid", "b4b7a9c1-uuid".into()));
        assert_eq!(app.post("/gitlab/webhook", &headers, b"{\"object_kind\":\"note\"}".to_vec()).await.0, 200);
        assert!(app.post("/gitlab/webhook", &headers, b"{\"object_kind\":\"note\"}".to_vec()).await.1.contains(r#""duplicate":true"#));
        assert_eq!(app.queued().await, 2);
        app.drain().await;
        let mut kinds: Vec<_> = recorder.seen().into_iter().map(|e| (e.kind, e.dedupe_key)).collect();
        kinds.sort();
        assert_eq!(kinds, [("Merge Request Hook".to_string(), "idem-1".to_string()), ("Note Hook".into(), "b4b7a9c1-uuid".into())]);
    }

    async fn healthz_and_metrics(db) {
        let app = spawn_app(db).await;
        assert_eq!(app.get("/healthz").await, (200, "ok\n".to_string()));
        app.slack(slack_message("Ev1", "x")).await;
        let (status, text) = app.get("/metrics").await;
        assert_eq!(status, 200);
        for needle in [
            "codereview_sync_http_requests_total{endpoint=\"/healthz\",status=\"200\"} 1",
            "codereview_sync_http_requests_total{endpoint=\"/slack/events\",status=\"200\"} 1",
            "codereview_sync_queue_depth 1",
            "codereview_sync_http_request_duration_seconds_bucket",
            "codereview_sync_event_retries_total{source=\"gitlab\"} 0",
            "codereview_sync_event_failures_total{source=\"slack\"} 0",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
        app.drain().await;
        let text = app.get("/metrics").await.1;
        assert!(text.contains("codereview_sync_queue_depth 0"), "{text}");
        assert!(text.contains("codereview_sync_event_processing_seconds_count{outcome=\"done\",source=\"slack\"} 1"), "{text}");
    }
}
