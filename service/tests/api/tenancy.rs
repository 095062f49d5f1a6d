//! One repository's admin cannot speak for another repository (issue 12 §1): per-repository
//! webhook secrets stored with the binary, verified by the running service; replays; the
//! forged GitLab `approved` attack; fork approvals; GitHub App installation tokens checked by
//! a fake GitHub that verifies the JWT.

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use codereview_sync::config::WebhookSecrets;
use codereview_sync::domain::Forge;
use codereview_sync::http::github::sign;
use codereview_sync::secret::Secret;
use codereview_sync::store::{CredentialKind, HookScope};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;
use crate::sync_fakes::*;

const SECRET_A: &str = "repo-a-webhook-secret-0123456789";
const SECRET_B: &str = "repo-b-webhook-secret-9876543210";
const OWNER_SECRET: &str = "owner-level-webhook-secret-000000";
const APP_KEY: &str = include_str!("keys/github-app-test.pem");
const APP_PUBLIC: &str = include_str!("keys/github-app-test.pub.pem");
const APP_ID: i64 = 4242;
const INSTALLATION_TOKEN: &str = "ghs_installation_token_for_777";

/// Runs the binary against `db` with the test vault key; stdin piped in.
fn cli(db: &TestDb, args: &[&str], stdin: &str, extra: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let key = key_b64(1);
    let mut env = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("CODEREVIEW_SYNC_KEY", key.as_str()),
    ];
    env.extend_from_slice(extra);
    run_binary(args, &env, stdin, Some(dir.path()))
}

fn cli_ok(db: &TestDb, args: &[&str], stdin: &str, extra: &[(&str, &str)]) -> String {
    let out = cli(db, args, stdin, extra);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn cli_fails(db: &TestDb, args: &[&str], stdin: &str, extra: &[(&str, &str)]) -> String {
    let out = cli(db, args, stdin, extra);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Only Slack has an operator-level secret: GitHub and GitLab rely on per-repository ones.
fn per_repo_only() -> WebhookSecrets {
    WebhookSecrets {
        github_webhook_secret: None,
        gitlab_webhook_token: None,
        ..all_secrets()
    }
}

/// A GitHub `pull_request` payload naming `full_name`.
fn gh_body(full_name: &str) -> Vec<u8> {
    let mut v: Value =
        serde_json::from_slice(&github_fixture("pull_request.opened.payload.json")).unwrap();
    v["repository"]["full_name"] = json!(full_name);
    serde_json::to_vec(&v).unwrap()
}

/// A GitLab Merge Request Hook naming `project`.
fn gl_body(project: &str, action: &str) -> Vec<u8> {
    let mut v = gitlab_mr(action, "opened");
    v["project"]["path_with_namespace"] = json!(project);
    serde_json::to_vec(&v).unwrap()
}

async fn gh_post(app: &TestApp, delivery: &str, body: &[u8], secret: &str) -> (u16, String) {
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("x-github-event", "pull_request".into()),
        ("x-github-delivery", delivery.into()),
        ("x-hub-signature-256", sign(secret, body)),
    ];
    app.post("/github/webhook", &headers, body.to_vec()).await
}

async fn gl_post(app: &TestApp, key: &str, body: &[u8], token: &str) -> (u16, String) {
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("x-gitlab-event", "Merge Request Hook".into()),
        ("x-gitlab-token", token.into()),
        ("idempotency-key", key.into()),
    ];
    app.post("/gitlab/webhook", &headers, body.to_vec()).await
}

/// Rows the webhook path or the worker could have written.
async fn traces(store: &codereview_sync::store::Store) -> i64 {
    let mut n = 0;
    for table in [
        "event_queue",
        "event_deliveries",
        "event_failures",
        "pr_threads",
        "comment_messages",
        "ledger",
    ] {
        n += count(store, table).await;
    }
    n
}

matrix! {
    async fn a_repository_secret_cannot_sign_for_another_repository(db) {
        // Stored with the binary, as an operator would.
        let out = cli_ok(&db, &["webhook-secret", "add", "--forge", "github", "--repo", "Acme/A"], SECRET_A, &[("PUBLIC_URL", "https://sync.example.com/")]);
        assert!(out.contains("github webhook secret for repo acme/a stored"), "{out}");
        for needle in [
            "https://github.com/acme/a/settings/hooks/new",
            "Payload URL:       https://sync.example.com/github/webhook",
            "Content type:      application/json",
            "Pull request reviews",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in {out}");
        }
        assert!(!out.contains(SECRET_A));
        cli_ok(&db, &["webhook-secret", "add", "--forge", "github", "--repo", "acme/b"], SECRET_B, &[]);
        let recorder = Arc::new(Recorder::default());
        let app = spawn_app_with(db, AppOptions { secrets: per_repo_only(), handler: recorder.clone(), ..AppOptions::default() }).await;

        // A's admin signs a payload naming B: refused, nothing stored.
        let naming_b = gh_body("Acme/B");
        assert_eq!(gh_post(&app, "d-forged", &naming_b, SECRET_A).await.0, 401);
        // The old shared secret is no longer configured and means nothing.
        assert_eq!(gh_post(&app, "d-shared", &naming_b, GITHUB_SECRET).await.0, 401);
        // A payload naming no repository (an installation event) needs the operator secret.
        let unnamed = br#"{"action":"created","installation":{"id":1}}"#.to_vec();
        assert_eq!(gh_post(&app, "d-unnamed", &unnamed, SECRET_A).await.0, 401);
        // Two repository names: neither is trusted.
        let two = br#"{"repository":{"full_name":"acme/a"},"repository":{"full_name":"acme/b"}}"#.to_vec();
        assert_eq!(gh_post(&app, "d-two", &two, SECRET_A).await.0, 401);
        assert_eq!(traces(&app.db.store).await, 0, "a refused delivery leaves nothing");

        // Each repository's own secret works.
        let (status, text) = gh_post(&app, "d-b", &naming_b, SECRET_B).await;
        assert_eq!((status, text.as_str()), (200, r#"{"duplicate":false,"ok":true}"#));
        assert_eq!(gh_post(&app, "d-a", &gh_body("acme/a"), SECRET_A).await.0, 200);
        assert_eq!(app.queued().await, 2);
        app.drain().await;
        let mut repos: Vec<String> = recorder.seen().iter()
            .map(|e| serde_json::from_slice::<Value>(&e.payload).unwrap()["repository"]["full_name"].as_str().unwrap().to_string())
            .collect();
        repos.sort();
        assert_eq!(repos, ["Acme/B", "acme/a"]);

        // list never prints a secret; remove works and is refused twice.
        let db = &app.db;
        let listed = cli_ok(db, &["webhook-secret", "list"], "", &[]);
        assert!(listed.starts_with("github\trepo\tacme/a\tkey "), "{listed}");
        assert_eq!(listed.lines().count(), 2);
        assert!(!listed.contains(SECRET_A) && !listed.contains(SECRET_B));
        assert!(!contains(&blobs(&db.store, "webhook_secrets", "ciphertext").await.concat(), SECRET_A.as_bytes()), "sealed at rest");
        assert_eq!(cli_ok(db, &["webhook-secret", "remove", "--forge", "github", "--repo", "acme/b"], "", &[]), "github webhook secret for repo acme/b removed\n");
        assert!(cli_fails(db, &["webhook-secret", "remove", "--forge", "github", "--repo", "acme/b"], "", &[]).contains("no github webhook secret for repo acme/b"));
        assert!(cli_fails(db, &["webhook-secret", "add", "--forge", "github", "--repo", "acme/c"], "short", &[]).contains("shorter than 16"));
        assert!(cli_fails(db, &["webhook-secret", "add", "--forge", "github", "--repo", "acme/c", "--owner", "acme"], SECRET_A, &[]).contains("cannot be used with"));
        assert!(cli_fails(db, &["webhook-secret", "add", "--forge", "github"], SECRET_A, &[]).contains("--repo"));
    }

    async fn a_project_token_cannot_speak_for_another_gitlab_project(db) {
        let out = cli_ok(&db, &["webhook-secret", "add", "--forge", "gitlab", "--repo", "group/a"], SECRET_A, &[("GITLAB_URL", "https://gitlab.example.com")]);
        assert!(out.contains("https://gitlab.example.com/group/a/-/hooks"), "{out}");
        assert!(out.contains("Merge request events"), "{out}");
        cli_ok(&db, &["webhook-secret", "add", "--forge", "gitlab", "--repo", "group/b"], SECRET_B, &[]);
        let app = spawn_app_with(db, AppOptions { secrets: per_repo_only(), ..AppOptions::default() }).await;
        assert_eq!(gl_post(&app, "k-forged", &gl_body("group/b", "approved"), SECRET_A).await.0, 401);
        assert_eq!(gl_post(&app, "k-shared", &gl_body("group/b", "approved"), GITLAB_TOKEN).await.0, 401);
        let mut headers = vec![("content-type", "application/json".to_string()), ("x-gitlab-event", "Merge Request Hook".into())];
        assert_eq!(app.post("/gitlab/webhook", &headers, gl_body("group/b", "open")).await.0, 401, "no token at all");
        headers.push(("x-gitlab-token", SECRET_B.to_uppercase()));
        assert_eq!(app.post("/gitlab/webhook", &headers, gl_body("group/b", "open")).await.0, 401);
        assert_eq!(traces(&app.db.store).await, 0);
        assert_eq!(gl_post(&app, "k-b", &gl_body("group/b", "approved"), SECRET_B).await.0, 200);
        assert_eq!(gl_post(&app, "k-a", &gl_body("Group/A", "open"), SECRET_A).await.0, 200);
        assert_eq!(app.queued().await, 2);
    }

    async fn owner_secrets_cover_their_repositories_closest_first(db) {
        let vault = vault(1);
        let s = &db.store;
        let secret = |v: &str| Secret::new(v.to_string());
        s.put_webhook_secret(&vault, Forge::GitHub, HookScope::Owner, "acme", &secret(OWNER_SECRET)).await.unwrap();
        s.put_webhook_secret(&vault, Forge::GitHub, HookScope::Repo, "acme/own", &secret(SECRET_A)).await.unwrap();
        s.put_webhook_secret(&vault, Forge::GitLab, HookScope::Owner, "group", &secret(OWNER_SECRET)).await.unwrap();
        s.put_webhook_secret(&vault, Forge::GitLab, HookScope::Owner, "group/sub", &secret(SECRET_B)).await.unwrap();
        // A GitLab *project* named like a group does not cover that group's projects.
        s.put_webhook_secret(&vault, Forge::GitLab, HookScope::Repo, "group/other", &secret(SECRET_A)).await.unwrap();
        let app = spawn_app_with(db, AppOptions { secrets: per_repo_only(), ..AppOptions::default() }).await;

        assert_eq!(gh_post(&app, "d-1", &gh_body("acme/any"), OWNER_SECRET).await.0, 200, "owner covers its repositories");
        assert_eq!(gh_post(&app, "d-2", &gh_body("acme/own"), OWNER_SECRET).await.0, 401, "a repository with its own secret needs it");
        assert_eq!(gh_post(&app, "d-3", &gh_body("acme/own"), SECRET_A).await.0, 200);
        assert_eq!(gh_post(&app, "d-4", &gh_body("other/any"), OWNER_SECRET).await.0, 401, "another owner");
        assert_eq!(gl_post(&app, "k-1", &gl_body("group/x/app", "open"), OWNER_SECRET).await.0, 200, "group covers subgroups");
        assert_eq!(gl_post(&app, "k-2", &gl_body("group/sub/app", "open"), OWNER_SECRET).await.0, 401, "the subgroup's secret is closer");
        assert_eq!(gl_post(&app, "k-3", &gl_body("group/sub/deep/app", "open"), SECRET_B).await.0, 200);
        assert_eq!(gl_post(&app, "k-4", &gl_body("group/other/app", "open"), SECRET_A).await.0, 401);
        assert_eq!(gl_post(&app, "k-5", &gl_body("group/other/app", "open"), OWNER_SECRET).await.0, 200);
        assert_eq!(app.queued().await, 5);
        assert_eq!(count(&app.db.store, "event_deliveries").await, 5, "refused deliveries left no dedupe row");
        // An organisation hook's ping names only the organisation: its owner secret answers it.
        let ping = br#"{"zen":"Design for failure.","hook_id":1,"organization":{"login":"Acme"}}"#.to_vec();
        let mut headers = vec![("content-type", "application/json".to_string()), ("x-github-event", "ping".into()), ("x-github-delivery", "d-ping".into())];
        headers.push(("x-hub-signature-256", sign(SECRET_A, &ping)));
        assert_eq!(app.post("/github/webhook", &headers, ping.clone()).await.0, 401, "a repository secret does not speak for its organisation");
        headers.pop();
        headers.push(("x-hub-signature-256", sign(OWNER_SECRET, &ping)));
        assert_eq!(app.post("/github/webhook", &headers, ping).await, (200, r#"{"ok":true,"pong":true}"#.to_string()));
    }

    async fn the_operator_secret_keeps_working_beside_repository_secrets(db) {
        let vault = vault(1);
        db.store.put_webhook_secret(&vault, Forge::GitHub, HookScope::Repo, "acme/b", &Secret::new(SECRET_B.into())).await.unwrap();
        db.store.put_webhook_secret(&vault, Forge::GitHub, HookScope::Repo, "acme/a", &Secret::new(SECRET_A.into())).await.unwrap();
        let app = spawn_app(db).await;
        assert_eq!(gh_post(&app, "d-op", &gh_body("acme/b"), GITHUB_SECRET).await.0, 200);
        assert_eq!(gh_post(&app, "d-a", &gh_body("acme/b"), SECRET_A).await.0, 401);
        assert_eq!(gh_post(&app, "d-b", &gh_body("Acme/B"), SECRET_B).await.0, 200, "both kinds coexist during a migration");
        assert_eq!(gl_post(&app, "k-op", &gl_body("group/app", "open"), GITLAB_TOKEN).await.0, 200);
        assert_eq!(app.queued().await, 3);
    }

    async fn a_replayed_github_body_is_processed_once(db) {
        db.store.put_webhook_secret(&vault(1), Forge::GitHub, HookScope::Repo, "acme/a", &Secret::new(SECRET_A.into())).await.unwrap();
        let recorder = Arc::new(Recorder::default());
        let app = spawn_app_with(db, AppOptions { secrets: per_repo_only(), handler: recorder.clone(), ..AppOptions::default() }).await;
        let body = gh_body("acme/a");
        let (_, first) = gh_post(&app, "d-original", &body, SECRET_A).await;
        assert_eq!(first, r#"{"duplicate":false,"ok":true}"#);
        for n in 0..3 {
            let (status, text) = gh_post(&app, &format!("d-replay-{n}"), &body, SECRET_A).await;
            assert_eq!((status, text.as_str()), (200, r#"{"duplicate":true,"ok":true}"#), "replay {n}");
        }
        assert_eq!(app.queued().await, 1);
        app.drain().await;
        assert_eq!(recorder.seen().len(), 1);
        // After processing, a replay is still a duplicate (the dedupe row outlives the event).
        assert!(gh_post(&app, "d-late", &body, SECRET_A).await.1.contains(r#""duplicate":true"#));
        assert_eq!(app.queued().await, 0);
        // A different body is a different event.
        assert!(gh_post(&app, "d-other", &gh_body("Acme/A"), SECRET_A).await.1.contains(r#""duplicate":false"#));
    }

    async fn a_forged_gitlab_approval_starts_no_pipeline(db) {
        let app = spawn_sync_app_full(db, |_, _| None, None, SyncOptions { secrets: Some(per_repo_only()), ..SyncOptions::default() }).await;
        let vault = vault(1);
        app.store().put_webhook_secret(&vault, Forge::GitLab, HookScope::Repo, GL_REPO, &Secret::new(SECRET_B.into())).await.unwrap();
        app.store().put_webhook_secret(&vault, Forge::GitLab, HookScope::Repo, "group/evil", &Secret::new(SECRET_A.into())).await.unwrap();
        Mock::given(method("POST"))
            .and(path("/api/v4/projects/group%2Fapp/merge_requests/1/pipelines"))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
            .expect(1)
            .mount(&app.gitlab)
            .await;
        // group/evil's admin names group/app with their own token.
        let forged = serde_json::to_vec(&gitlab_mr("approved", "opened")).unwrap();
        assert_eq!(gl_post(&app.app, "k-forged", &forged, SECRET_A).await.0, 401);
        app.app.drain().await;
        assert!(calls(&app.gitlab).await.is_empty(), "no pipeline started with group/app's token");
        assert_eq!(traces(app.store()).await, 0);
        // group/app's own hook.
        assert_eq!(gl_post(&app.app, "k-real", &forged, SECRET_B).await.0, 200);
        app.app.drain().await;
        assert_eq!(calls(&app.gitlab).await.len(), 1);
        app.assert_clean().await;
    }

    async fn an_approval_on_a_fork_merge_request_never_starts_a_pipeline(db) {
        let app = spawn_sync_app(db).await;
        Mock::given(method("POST"))
            .and(path("/api/v4/projects/group%2Fapp/merge_requests/1/pipelines"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
            .expect(1)
            .mount(&app.gitlab)
            .await;
        app.gitlab("Merge Request Hook", "k-open", &gitlab_mr("open", "opened")).await;
        let parent = FakeSlack::ts(1);
        let fork = |action: &str| {
            let mut v = gitlab_mr(action, "opened");
            v["object_attributes"]["source_project_id"] = json!(16);
            v["object_attributes"]["target_project_id"] = json!(15);
            v
        };
        app.gitlab("Merge Request Hook", "k-fork-approved", &fork("approved")).await;
        app.gitlab("Merge Request Hook", "k-fork-unapproved", &fork("unapproved")).await;
        assert!(calls(&app.gitlab).await.is_empty(), "no pipeline for a fork");
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 3, "parent + one notice per approval change");
        for notice in &w[1..] {
            assert_eq!((notice.path.as_str(), notice.body["thread_ts"].as_str()), ("/api/chat.postMessage", Some(parent.as_str())));
            assert!(notice.text().contains("comes from a fork, so no pipeline was started"), "{}", notice.text());
        }
        // Same project on both sides: the pipeline starts as before.
        let mut same = gitlab_mr("approved", "opened");
        same["object_attributes"]["source_project_id"] = json!(15);
        same["object_attributes"]["target_project_id"] = json!(15);
        app.gitlab("Merge Request Hook", "k-approved", &same).await;
        assert_eq!(calls(&app.gitlab).await.len(), 1);
        app.assert_clean().await;
    }
}

/// Checks the App JWT GitHub would check: RS256 with the stored key's public half, `iss`,
/// `iat` backdated about a minute, `exp` at most 10 minutes ahead. Answers 401 otherwise.
struct AppJwt {
    answer: Value,
    status: u16,
    seen: Arc<Mutex<u32>>,
}

impl Respond for AppJwt {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(jwt) = auth.strip_prefix("Bearer ") else {
            return ResponseTemplate::new(401);
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[APP_ID.to_string()]);
        validation.set_required_spec_claims(&["iss", "iat", "exp"]);
        validation.leeway = 0;
        let Ok(data) = jsonwebtoken::decode::<Value>(
            jwt,
            &DecodingKey::from_rsa_pem(APP_PUBLIC.as_bytes()).unwrap(),
            &validation,
        ) else {
            return ResponseTemplate::new(401);
        };
        let now = now_secs();
        let (iat, exp) = (
            data.claims["iat"].as_i64().unwrap(),
            data.claims["exp"].as_i64().unwrap(),
        );
        if !(now - 70..=now - 50).contains(&iat) || exp > now + 600 || exp <= now {
            return ResponseTemplate::new(401);
        }
        *self.seen.lock().unwrap() += 1;
        ResponseTemplate::new(self.status).set_body_json(self.answer.clone())
    }
}

fn rfc3339_in(secs: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

matrix! {
    async fn github_app_installation_tokens_replace_the_stored_token(db) {
        let app = spawn_sync_app_full(db, |_, _| None, None, SyncOptions { github_app_id: Some(APP_ID), ..SyncOptions::default() }).await;
        // The key as an operator stores it, through the binary; refused without GITHUB_APP_ID
        // and when it is not a private key.
        let id = APP_ID.to_string();
        let with_id = [("GITHUB_APP_ID", id.as_str())];
        assert!(cli_fails(&app.app.db, &["github-app", "key", "set"], APP_KEY, &[]).contains("GITHUB_APP_ID is not set"));
        assert!(cli_fails(&app.app.db, &["github-app", "key", "set"], APP_PUBLIC, &with_id).contains("not an RSA private key"));
        let out = cli_ok(&app.app.db, &["github-app", "key", "set"], APP_KEY, &with_id);
        assert!(out.starts_with("GitHub App 4242 private key stored"), "{out}");
        assert!(!contains(&blobs(app.store(), "credentials", "ciphertext").await.concat(), b"PRIVATE KEY"), "sealed at rest");

        let installation_lookups = Arc::new(Mutex::new(0));
        let mints = Arc::new(Mutex::new(0));
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/installation")))
            .respond_with(AppJwt { answer: json!({"id": 777, "account": {"login": "Codertocat"}}), status: 200, seen: installation_lookups.clone() })
            .mount(&app.github)
            .await;
        Mock::given(method("POST"))
            .and(path("/app/installations/777/access_tokens"))
            .respond_with(AppJwt { answer: json!({"token": INSTALLATION_TOKEN, "expires_at": rfc3339_in(3600)}), status: 201, seen: mints.clone() })
            .mount(&app.github)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/issues/2/comments")))
            .and(header("authorization", format!("Bearer {INSTALLATION_TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5001})))
            .expect(2)
            .mount(&app.github)
            .await;

        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let parent = FakeSlack::ts(1);
        app.slack("Ev1", slack_reply(CHANNEL, JANE, "First reply from Slack", "1700000100.000200", &parent)).await;
        app.slack("Ev2", slack_reply(CHANNEL, JANE, "Second reply from Slack", "1700000101.000200", &parent)).await;
        app.assert_clean().await;
        assert_eq!(*mints.lock().unwrap(), 1, "the installation token is cached");
        assert_eq!(*installation_lookups.lock().unwrap(), 1, "the installation is remembered");
        let github_calls = calls(&app.github).await;
        assert!(github_calls.iter().all(|c| c.auth.as_deref() != Some(&format!("Bearer {GITHUB_TOKEN}"))), "the stored personal token is not used");
        assert_eq!(github_calls.iter().filter(|c| c.path.ends_with("/comments")).count(), 2);
    }

    async fn a_repository_outside_the_app_installation_uses_the_stored_token(db) {
        let app = spawn_sync_app_full(db, |_, _| None, None, SyncOptions { github_app_id: Some(APP_ID), ..SyncOptions::default() }).await;
        app.store().put_credential(&vault(1), CredentialKind::GitHubApp, &APP_ID.to_string(), &Secret::new(APP_KEY.into())).await.unwrap();
        let lookups = Arc::new(Mutex::new(0));
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/installation")))
            .respond_with(AppJwt { answer: json!({"message": "Not Found"}), status: 404, seen: lookups.clone() })
            .mount(&app.github)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/issues/2/comments")))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5001})))
            .expect(1)
            .mount(&app.github)
            .await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        app.slack("Ev1", slack_reply(CHANNEL, JANE, "Reply from Slack", "1700000100.000200", &FakeSlack::ts(1))).await;
        app.assert_clean().await;
        assert_eq!(*lookups.lock().unwrap(), 1, "asked as the App (valid JWT), found no installation");
        assert!(calls(&app.github).await.iter().all(|c| !c.path.contains("access_tokens")));
    }
}

matrix! {
    async fn a_secret_moved_to_another_row_is_refused_not_bypassed(db) {
        let vault = vault(1);
        let s = &db.store;
        s.put_webhook_secret(&vault, Forge::GitHub, HookScope::Owner, "acme", &Secret::new(OWNER_SECRET.into())).await.unwrap();
        s.put_webhook_secret(&vault, Forge::GitHub, HookScope::Repo, "acme/a", &Secret::new(SECRET_A.into())).await.unwrap();
        s.put_webhook_secret(&vault, Forge::GitHub, HookScope::Repo, "acme/b", &Secret::new(SECRET_B.into())).await.unwrap();
        // B's sealed secret copied onto A's row: it does not open there (row identity is the
        // associated data), and A's deliveries are refused instead of falling back to the owner.
        exec(s, "UPDATE webhook_secrets SET nonce = (SELECT nonce FROM webhook_secrets WHERE path = 'acme/b'),
                 ciphertext = (SELECT ciphertext FROM webhook_secrets WHERE path = 'acme/b') WHERE path = 'acme/a'").await;
        let app = spawn_app_with(db, AppOptions { secrets: per_repo_only(), ..AppOptions::default() }).await;
        for secret in [SECRET_A, SECRET_B, OWNER_SECRET] {
            assert_eq!(gh_post(&app, secret, &gh_body("acme/a"), secret).await.0, 401, "{secret}");
        }
        assert_eq!(gh_post(&app, "d-b", &gh_body("acme/b"), SECRET_B).await.0, 200, "other rows unaffected");
        assert_eq!(app.queued().await, 1);

        // rotate-key re-seals webhook secrets and reports the unreadable row by identity.
        let k2 = key_b64(2);
        let k1 = key_b64(1);
        let out = cli(&app.db, &["rotate-key"], "", &[("CODEREVIEW_SYNC_KEY", k2.as_str()), ("CODEREVIEW_SYNC_OLD_KEYS", k1.as_str())]);
        assert_eq!(out.status.code(), Some(1));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains("re-encrypted 2 webhook secret(s)"), "{stdout}");
        assert!(String::from_utf8(out.stderr).unwrap().contains("webhook secret github/repo/acme/a"));
        let rows = app.db.store.load_webhook_secrets(&codereview_sync::vault::Vault::new(key(2), &[])).await.unwrap();
        let opened: Vec<_> = rows.iter().filter_map(|r| r.secret.as_ref().ok().map(|s| (r.path.as_str(), s.expose().as_str()))).collect();
        assert_eq!(opened.len(), 2);
        assert!(opened.contains(&("acme/b", SECRET_B)) && opened.contains(&("acme", OWNER_SECRET)));
    }
}

/// `serve` with `GITHUB_APP_ID` and the key stored by `github-app key set` redelivers the App's
/// failed webhook deliveries at start, authenticated with a JWT the fake checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_redelivers_failed_app_deliveries_with_the_stored_key() {
    let db = sqlite_db().await;
    let id = APP_ID.to_string();
    cli_ok(
        &db,
        &["github-app", "key", "set"],
        APP_KEY,
        &[("GITHUB_APP_ID", id.as_str())],
    );
    let github = wiremock::MockServer::start().await;
    let listed = Arc::new(Mutex::new(0));
    let redelivered = Arc::new(Mutex::new(0));
    Mock::given(method("GET"))
        .and(path("/app/hook/deliveries"))
        .respond_with(AppJwt {
            answer: json!([{
                "id": 9001, "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
                "delivered_at": rfc3339_in(-60), "redelivery": false, "status_code": 502,
                "status": "Bad Gateway", "event": "pull_request", "action": "opened"
            }]),
            status: 200,
            seen: listed.clone(),
        })
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path("/app/hook/deliveries/9001/attempts"))
        .respond_with(AppJwt {
            answer: json!({}),
            status: 202,
            seen: redelivered.clone(),
        })
        .mount(&github)
        .await;
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .envs([
            ("DATABASE_URL", db.url.as_str()),
            ("CODEREVIEW_SYNC_KEY", key_b64(1).as_str()),
            ("GITHUB_APP_ID", id.as_str()),
            ("GITHUB_API_URL", github.uri().as_str()),
            ("LISTEN", "127.0.0.1:0"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while *redelivered.lock().unwrap() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        *listed.lock().unwrap(),
        1,
        "deliveries listed with a valid App JWT"
    );
    assert_eq!(
        *redelivered.lock().unwrap(),
        1,
        "the failed delivery is redelivered once"
    );
}
