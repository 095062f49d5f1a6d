//! The Slack OAuth install pair against a fake Slack, and the manifests checked against what
//! the code requests and handles.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use codereview_sync::clients::SlackClient;
use codereview_sync::config::{SlackInstallSettings, derive_state_key};
use codereview_sync::http::slack_install::{
    BOT_SCOPES, STATE_COOKIE, STATE_TTL_SECS, SlackInstall,
};
use codereview_sync::secret::Secret;
use codereview_sync::sync;

use crate::helpers::*;
use crate::sync_fakes::*;

fn settings() -> SlackInstallSettings {
    SlackInstallSettings {
        client_id: "1234.5678".into(),
        client_secret: Secret::new("oauth-client-secret-0003".into()),
        public_url: url::Url::parse("https://sync.example.com").unwrap(),
        state_key: Secret::new(derive_state_key(&key_b64(1)).unwrap()),
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn workspaces(app: &TestApp) -> Vec<String> {
    app.db.store.list_workspaces().await.unwrap()
}

matrix! {
    async fn install_stores_the_bot_token_sealed(db) {
        let slack = FakeSlack::start().await;
        let api = slack.api_url();
        let flow = SlackInstall::new(&settings(), &api, Arc::new(SlackClient::new(&api)));
        let app = spawn_app_with(db, AppOptions { slack_install: Some(Arc::new(flow)), ..AppOptions::default() }).await;
        let client = no_redirects();

        let resp = client.get(app.url("/slack/install")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 302);
        let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(format!("{}", &location[..url::Position::AfterPath]), format!("{}/oauth/v2/authorize", slack.server.uri()));
        let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "1234.5678");
        assert_eq!(q["scope"], BOT_SCOPES.join(","));
        assert_eq!(q["redirect_uri"], "https://sync.example.com/slack/oauth/callback");
        let state = q["state"].clone();
        // The state is bound to this browser by an HttpOnly cookie sent back to the callback only.
        let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            set_cookie.starts_with(&format!("{STATE_COOKIE}="))
                && set_cookie.contains("; Path=/slack/oauth/callback;")
                && set_cookie.ends_with("; HttpOnly; Secure; SameSite=Lax"),
            "{set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let other_browser = client.get(app.url("/slack/install")).send().await.unwrap();
        let other_cookie = other_browser.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        assert_ne!(cookie, other_cookie);

        // Forged, expired, missing or cancelled: 400 and nothing stored, Slack not called.
        let mut forged = state.clone().into_bytes();
        forged[2] = if forged[2] == b'A' { b'B' } else { b'A' };
        let flow_for_signing = SlackInstall::new(&settings(), &api, Arc::new(SlackClient::new(&api)));
        let expired = flow_for_signing.sign_state(now_secs() - STATE_TTL_SECS - 5, [9; 16]);
        for query in [
            format!("code=c1&state={}", String::from_utf8(forged).unwrap()),
            format!("code=c1&state={expired}"),
            "code=c1".to_string(),
            format!("error=access_denied&state={state}"),
        ] {
            let resp = client.get(app.url(&format!("/slack/oauth/callback?{query}"))).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 400, "{query}");
        }
        // A valid state without its browser's cookie (a lured victim, a leaked link): refused.
        let callback = app.url(&format!("/slack/oauth/callback?code=code-123&state={state}"));
        for cookie in [None, Some(other_cookie.as_str()), Some("codereview_slack_install=AAAA")] {
            let mut req = client.get(&callback);
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 400, "{cookie:?}");
            assert!(resp.text().await.unwrap().contains("another browser"), "{cookie:?}");
        }
        assert!(slack.calls().await.is_empty());
        assert!(workspaces(&app).await.is_empty());

        // The real callback: code exchanged, token stored sealed for the team.
        let resp = client
            .get(&callback)
            .header("cookie", format!("theme=dark; {cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(
            resp.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"),
            "the cookie is cleared once used"
        );
        let page = resp.text().await.unwrap();
        assert!(page.contains("Acme &amp; Co") && page.contains("T0INST"), "{page}");
        assert!(!page.contains("xoxb-"), "the token is never shown");
        let exchange = slack.calls().await;
        assert_eq!(exchange.len(), 1);
        assert_eq!((exchange[0].method.as_str(), exchange[0].path.as_str()), ("POST", "/api/oauth.v2.access"));
        assert_eq!(exchange[0].body, serde_json::json!({
            "code": "code-123",
            "client_id": "1234.5678",
            "client_secret": "oauth-client-secret-0003",
            "redirect_uri": "https://sync.example.com/slack/oauth/callback",
        }));
        assert_eq!(workspaces(&app).await, vec!["T0INST".to_string()]);
        // Single use: the same callback again (replayed URL and cookie) is refused.
        let resp = client.get(&callback).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        assert!(resp.text().await.unwrap().contains("already used"));
        assert_eq!(slack.calls().await.len(), 1, "no second code exchange");
        let token = app.db.store.slack_bot_token(&vault(1), "T0INST").await.unwrap().unwrap();
        assert_eq!(token.expose(), "xoxb-installed-through-oauth-0002");
        for sealed in blobs(&app.db.store, "credentials", "ciphertext").await {
            assert!(!contains(&sealed, b"xoxb-installed"));
        }
        let metrics = app.get("/metrics").await.1;
        assert!(metrics.contains("endpoint=\"/slack/oauth/callback\",status=\"200\""), "{metrics}");
        assert_no_text(&app.db).await;
    }

    async fn install_is_off_without_settings(db) {
        let app = spawn_app(db).await;
        let resp = no_redirects().get(app.url("/slack/install")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        assert!(resp.text().await.unwrap().contains("SLACK_CLIENT_ID"));
        assert_eq!(app.get("/slack/oauth/callback?code=x&state=y").await.0, 404);
        assert!(workspaces(&app).await.is_empty());
    }
}

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(name),
    )
    .unwrap()
}

#[test]
fn slack_manifest_lists_exactly_the_scopes_and_events_used() {
    let manifest: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&repo_file("slack-app-manifest.yml")).unwrap();
    let strings = |v: &serde_yaml_ng::Value| -> BTreeSet<String> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let scopes = strings(&manifest["oauth_config"]["scopes"]["bot"]);
    assert_eq!(scopes, BOT_SCOPES.iter().map(|s| s.to_string()).collect());
    let events = strings(&manifest["settings"]["event_subscriptions"]["bot_events"]);
    assert_eq!(
        events,
        sync::slack::HANDLED_EVENTS
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let redirect = strings(&manifest["oauth_config"]["redirect_urls"]);
    assert!(
        redirect
            .iter()
            .all(|u| u.ends_with("/slack/oauth/callback"))
    );
    assert!(
        manifest["settings"]["event_subscriptions"]["request_url"]
            .as_str()
            .unwrap()
            .ends_with("/slack/events")
    );
}

#[test]
fn github_app_manifest_lists_exactly_the_permissions_and_events_used() {
    let manifest: serde_json::Value =
        serde_json::from_str(&repo_file("github-app-manifest.json")).unwrap();
    let events: BTreeSet<String> = manifest["default_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events,
        sync::github::HANDLED_EVENTS
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let permissions: BTreeMap<String, String> =
        serde_json::from_value(manifest["default_permissions"].clone()).unwrap();
    let expected: BTreeMap<String, String> = [
        ("checks", "read"), // check runs the rules may name (live review state); check events
        ("contents", "read"), // the rules at the base commit (live review state)
        ("issues", "write"), // PR conversation comments: create, edit, delete; issue_comment events
        ("metadata", "read"), // mandatory for every App
        ("pull_requests", "write"), // review-comment replies, edits, deletes; PR facts; PR events
        ("statuses", "read"), // the `codereview` status on the parent; status events
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(permissions, expected);
    assert!(
        manifest["hook_attributes"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/github/webhook")
    );
}
