//! End to end, GitLab ↔ Slack: merge request lifecycle, notes, diff-note discussions both
//! ways, deleted notes reconciled at the next event, and approvals restarting the MR pipeline.

use std::sync::{Arc, Mutex};

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::*;
use crate::sync_fakes::*;

const MR: &str = "/api/v4/projects/group%2Fapp/merge_requests/1";
const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

fn token() -> Option<String> {
    Some(GITLAB_API_TOKEN.to_string())
}

matrix! {
    async fn merge_request_story(db) {
        let app = spawn_sync_app(db).await;
        let existing_notes = Arc::new(Mutex::new(Vec::<i64>::new()));
        let notes = existing_notes.clone();
        Mock::given(method("GET"))
            .and(path(format!("{MR}/notes")))
            .and(query_param("per_page", "100"))
            .and(query_param("page", "1"))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(move |_: &Request| {
                let ids: Vec<_> = notes.lock().unwrap().iter().map(|id| json!({"id": id, "body": "(not read)"})).collect();
                ResponseTemplate::new(200).set_body_json(ids).insert_header("x-next-page", "")
            })
            .mount(&app.gitlab)
            .await;
        Mock::given(method("GET"))
            .and(path(MR))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": 99, "iid": 1, "title": "Add a response cache", "author": {"username": "ada"},
                "web_url": "https://gitlab.example.com/group/app/-/merge_requests/1",
                "source_branch": "cache", "target_branch": "main", "state": "merged",
                "draft": false, "sha": SHA, "changes_count": "3"
            })))
            .mount(&app.gitlab)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/api/v4/projects/group%2Fapp/repository/commits/{SHA}/statuses")))
            .and(query_param("name", "codereview"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"name": "codereview", "status": "success", "description": "2 scopes approved, 1 pending"}
            ])))
            .mount(&app.gitlab)
            .await;

        // Open → parent in the GitLab project's channel, from the payload alone.
        app.gitlab("Merge Request Hook", "k-open", &gitlab_mr("open", "opened")).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].body["channel"], GL_CHANNEL);
        assert_eq!(
            w[0].text(),
            "*<https://gitlab.example.com/group/app/-/merge_requests/1|!1 Add a response cache>*\n\
             by *ada* · `main` ← `cache`\n🟢 Open · ⏳ review not evaluated yet"
        );
        let parent = FakeSlack::ts(1);
        assert_eq!(thread_rows(app.store()).await, vec![("gitlab".into(), GL_REPO.into(), 1, GL_CHANNEL.into(), parent.clone())]);
        assert!(calls(&app.gitlab).await.is_empty());

        // A note → a reply; its edit → chat.update (after checking no mirrored note vanished).
        app.gitlab("Note Hook", "k-n1", &gitlab_note(301, "GitLab note about the cache eviction policy", "create", None, "dA")).await;
        existing_notes.lock().unwrap().push(301);
        let w = app.slack.writes().await;
        assert_eq!((w[1].body["channel"].as_str(), w[1].body["thread_ts"].as_str()), (Some(GL_CHANNEL), Some(parent.as_str())));
        assert_eq!(
            w[1].text(),
            "💬 *bo* <https://gitlab.example.com/group/app/-/merge_requests/1#note_301|commented>:\n\
             GitLab note about the cache eviction policy"
        );
        let note_ts = FakeSlack::ts(2);
        app.gitlab("Note Hook", "k-n1-edit", &gitlab_note(301, "GitLab note about the cache eviction policy, revised", "update", None, "dA")).await;
        let w = app.slack.writes().await;
        assert_eq!((w[2].path.as_str(), w[2].body["ts"].as_str()), ("/api/chat.update", Some(note_ts.as_str())));
        let gl = calls(&app.gitlab).await;
        assert_eq!((gl[0].method.as_str(), gl[0].path.as_str(), gl[0].private_token.clone()), ("GET", format!("{MR}/notes").as_str(), token()));

        // A diff note → a reply with file:line, in discussion d-diff.
        app.gitlab("Note Hook", "k-n2", &gitlab_note(302, "GitLab diff note on the retry loop", "create", Some("DiffNote"), "d-diff")).await;
        existing_notes.lock().unwrap().push(302);
        let w = app.slack.writes().await;
        assert_eq!(
            w[3].text(),
            "📝 *bo* on <https://gitlab.example.com/group/app/-/merge_requests/1#note_302|src/retry.rs:42>:\n\
             GitLab diff note on the retry loop"
        );
        // A person answers in Slack under it → a note in that discussion.
        Mock::given(method("POST"))
            .and(path(format!("{MR}/discussions/d-diff/notes")))
            .and(header("private-token", GITLAB_API_TOKEN))
            .and(body_json(json!({"body": "**Jane Doe** (via Slack): Slack answer to the retry loop question"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 303, "type": "DiffNote"})))
            .expect(1)
            .mount(&app.gitlab)
            .await;
        app.slack("Ev-gl", slack_reply(GL_CHANNEL, JANE, "Slack answer to the retry loop question", "1700000004.500000", &parent)).await;
        existing_notes.lock().unwrap().push(303);
        let rows = comment_rows(app.store()).await;
        assert_eq!(
            rows,
            vec![
                ("note".into(), "301".into(), GL_CHANNEL.into(), note_ts.clone(), "forge".into(), None),
                ("note".into(), "302".into(), GL_CHANNEL.into(), FakeSlack::ts(3), "forge".into(), Some("d-diff".into())),
                ("note".into(), "303".into(), GL_CHANNEL.into(), "1700000004.500000".into(), "slack".into(), Some("d-diff".into())),
            ]
        );
        // GitLab echoes our note back: ledger hit, nothing posted.
        let writes = app.slack.writes().await.len();
        app.gitlab("Note Hook", "k-n3", &gitlab_note(303, "**Jane Doe** (via Slack): Slack answer to the retry loop question", "create", Some("DiffNote"), "d-diff")).await;
        assert_eq!(app.slack.writes().await.len(), writes);

        // Note 301 is deleted on GitLab (no webhook). The next event for the MR reconciles:
        // its Slack reply is deleted; then the merge updates the parent in place.
        existing_notes.lock().unwrap().retain(|id| *id != 301);
        app.gitlab("Merge Request Hook", "k-merge", &gitlab_mr("merge", "merged")).await;
        let w = app.slack.writes().await;
        let tail: Vec<(String, Option<String>)> = w[writes..].iter().map(|c| (c.path.clone(), c.body["ts"].as_str().map(str::to_string))).collect();
        assert_eq!(
            tail,
            vec![
                ("/api/chat.delete".to_string(), Some(note_ts.clone())),
                ("/api/chat.update".to_string(), Some(parent.clone())),
            ]
        );
        assert!(w.last().unwrap().text().ends_with("🟣 Merged · ✅ success: 2 scopes approved, 1 pending"), "{}", w.last().unwrap().text());
        assert_eq!(comment_rows(app.store()).await.len(), 2, "the deleted note's link is gone");

        // Approved → a new merge-request pipeline so `codereview` re-evaluates.
        Mock::given(method("POST"))
            .and(path(format!("{MR}/pipelines")))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 77, "status": "created"})))
            .expect(2)
            .mount(&app.gitlab)
            .await;
        app.gitlab("Merge Request Hook", "k-approved", &gitlab_mr("approved", "opened")).await;
        app.gitlab("Merge Request Hook", "k-unapproved", &gitlab_mr("unapproved", "opened")).await;
        let pipelines: Vec<_> = calls(&app.gitlab).await.into_iter().filter(|c| c.path.ends_with("/pipelines")).collect();
        assert_eq!(pipelines.len(), 2);
        assert!(pipelines.iter().all(|c| c.method == "POST" && c.private_token == token()));

        // The pipeline finishes → the parent shows the new status.
        let writes = app.slack.writes().await.len();
        app.gitlab("Pipeline Hook", "k-pipe", &json!({
            "object_kind": "pipeline",
            "object_attributes": {"id": 77, "status": "success", "source": "merge_request_event", "sha": SHA},
            "merge_request": {"id": 99, "iid": 1, "title": "Add a response cache"},
            "project": {"id": 15, "path_with_namespace": "group/app"}
        })).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), writes + 1);
        assert_eq!((w[writes].path.as_str(), w[writes].body["ts"].as_str()), ("/api/chat.update", Some(parent.as_str())));

        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn approvals_restart_the_pipeline_even_without_a_channel(db) {
        let app = spawn_sync_app(db).await;
        app.store().remove_link(&codereview_sync::store::RepoLink {
            forge: Some(codereview_sync::domain::Forge::GitLab),
            repo: GL_REPO.into(),
            team_id: TEAM.into(),
            channel_id: GL_CHANNEL.into(),
        }).await.unwrap();
        Mock::given(method("POST"))
            .and(path(format!("{MR}/pipelines")))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 78})))
            .expect(1)
            .mount(&app.gitlab)
            .await;
        app.gitlab("Merge Request Hook", "k-approval", &gitlab_mr("approval", "opened")).await;
        app.gitlab("Merge Request Hook", "k-open", &gitlab_mr("open", "opened")).await;
        assert!(app.slack.calls().await.is_empty(), "no channel: nothing in Slack");
        assert_eq!(calls(&app.gitlab).await.len(), 1);
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn a_retried_slack_reply_adopts_the_discussion_note_it_already_posted(db) {
        let app = spawn_sync_app(db).await;
        Mock::given(method("GET"))
            .and(path(format!("{MR}/notes")))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 302, "body": "(not read)"}])).insert_header("x-next-page", ""))
            .mount(&app.gitlab)
            .await;
        app.gitlab("Merge Request Hook", "k-open", &gitlab_mr("open", "opened")).await;
        let parent = FakeSlack::ts(1);
        app.gitlab("Note Hook", "k-n2", &gitlab_note(302, "GitLab diff note on the retry loop", "create", Some("DiffNote"), "d-diff")).await;
        let body = "**Jane Doe** (via Slack): answered once";
        Mock::given(method("POST"))
            .and(path(format!("{MR}/discussions/d-diff/notes")))
            .and(header("private-token", GITLAB_API_TOKEN))
            .and(body_json(json!({ "body": body })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 303, "type": "DiffNote"})))
            .mount(&app.gitlab)
            .await;
        let reply = slack_reply(GL_CHANNEL, JANE, "answered once", "1700000004.500000", &parent);
        app.slack("Ev-gl", reply.clone()).await;
        // The crash between posting and recording loses the link and the ledger entry.
        exec(app.store(), "DELETE FROM comment_messages WHERE comment_id = '303'").await;
        exec(app.store(), "DELETE FROM ledger WHERE object_id = '303'").await;

        Mock::given(method("GET"))
            .and(path(format!("{MR}/discussions/d-diff")))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "d-diff", "notes": [
                {"id": 302, "body": "GitLab diff note on the retry loop", "system": false},
                {"id": 303, "body": body, "system": false},
            ]})))
            .expect(1)
            .mount(&app.gitlab)
            .await;
        let (status, _) = app.app.slack(slack_envelope("Ev-gl-retried", reply)).await;
        assert_eq!(status, 200);
        exec(app.store(), "UPDATE event_queue SET attempts = 1").await;
        app.app.drain().await;

        let writes: Vec<(String, String)> = calls(&app.gitlab).await.into_iter().filter(|c| c.method != "GET" || c.path.contains("/discussions/")).map(|c| (c.method, c.path)).collect();
        assert_eq!(
            writes,
            vec![
                ("POST".to_string(), format!("{MR}/discussions/d-diff/notes")),
                ("GET".to_string(), format!("{MR}/discussions/d-diff")),
            ],
            "one note posted; the retry looked in its discussion and adopted it"
        );
        assert_eq!(
            comment_rows(app.store()).await,
            vec![
                ("note".into(), "302".into(), GL_CHANNEL.into(), FakeSlack::ts(2), "forge".into(), Some("d-diff".into())),
                ("note".into(), "303".into(), GL_CHANNEL.into(), "1700000004.500000".into(), "slack".into(), Some("d-diff".into())),
            ]
        );
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn the_parent_shows_the_newest_codereview_status_not_the_first(db) {
        newest_status_story(db, true).await;
    }

    async fn the_newest_status_is_found_on_a_gitlab_that_lists_oldest_first(db) {
        newest_status_story(db, false).await;
    }
}

/// GitLab lists a commit's statuses oldest first by default (one per pipeline); from 17.9 it
/// sorts newest first on request. The fake holds 101 `codereview` statuses on the head commit
/// (pipelines 1..100 failed, the newest one succeeded), in pages; after the pipeline hook the
/// parent must show the newest verdict.
async fn newest_status_story(db: TestDb, honours_sort: bool) {
    let app = spawn_sync_app(db).await;
    mount_gitlab_statuses(&app, honours_sort).await;
    Mock::given(method("GET"))
        .and(path(MR))
        .and(header("private-token", GITLAB_API_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 99, "iid": 1, "title": "Add a response cache", "author": {"username": "ada"},
            "web_url": "https://gitlab.example.com/group/app/-/merge_requests/1",
            "source_branch": "cache", "target_branch": "main", "state": "opened",
            "draft": false, "sha": SHA, "changes_count": "3"
        })))
        .mount(&app.gitlab)
        .await;
    app.gitlab("Merge Request Hook", "k-open", &gitlab_mr("open", "opened"))
        .await;
    app.gitlab("Pipeline Hook", "k-pipe", &json!({
        "object_kind": "pipeline",
        "object_attributes": {"id": 101, "status": "success", "source": "merge_request_event", "sha": SHA},
        "merge_request": {"id": 99, "iid": 1, "title": "Add a response cache"},
        "project": {"id": 15, "path_with_namespace": "group/app"}
    })).await;
    let w = app.slack.writes().await;
    assert_eq!(w.len(), 2, "parent, then its update");
    assert_eq!(w[1].path, "/api/chat.update");
    assert!(
        w[1].text()
            .ends_with("🟢 Open · ✅ success: 1 scope approved"),
        "{}",
        w[1].text()
    );
    let pages: Vec<Option<String>> = calls(&app.gitlab)
        .await
        .into_iter()
        .filter(|c| c.path.ends_with("/statuses"))
        .map(|c| c.query.get("page").cloned())
        .collect();
    let expected = if honours_sort {
        vec![Some("1".to_string())]
    } else {
        vec![Some("1".into()), Some("2".into())]
    };
    assert_eq!(
        pages, expected,
        "newest first: one page; oldest first: read to the end"
    );
    app.assert_clean().await;
}

/// A fake of `GET /projects/:id/repository/commits/:sha/statuses` as GitLab documents it:
/// `name` filters, `order_by=id` and `sort` (`asc` by default; a GitLab older than 17.9 ignores
/// it when `honours_sort` is false), `page`/`per_page` (20 by default, at most 100) with
/// `x-next-page`. Statuses 1..=100 failed; status 101, the newest, succeeded.
async fn mount_gitlab_statuses(app: &SyncApp, honours_sort: bool) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v4/projects/group%2Fapp/repository/commits/{SHA}/statuses")))
        .and(header("private-token", GITLAB_API_TOKEN))
        .respond_with(move |r: &Request| {
            let query: std::collections::HashMap<String, String> = r.url.query_pairs().into_owned().collect();
            assert_eq!(query.get("name").map(String::as_str), Some("codereview"));
            let mut statuses: Vec<serde_json::Value> = (1..=101)
                .map(|id| {
                    let (status, description) = if id == 101 {
                        ("success", "1 scope approved")
                    } else {
                        ("failed", "backend needs 1 more")
                    };
                    json!({"id": id, "name": "codereview", "status": status, "description": description, "sha": SHA})
                })
                .collect();
            if honours_sort && query.get("sort").map(String::as_str) == Some("desc") {
                statuses.reverse();
            }
            let per_page: usize = query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(20).min(100);
            let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let chunk: Vec<_> = statuses.iter().skip((page - 1) * per_page).take(per_page).cloned().collect();
            let next = if page * per_page < statuses.len() { (page + 1).to_string() } else { String::new() };
            ResponseTemplate::new(200)
                .set_body_json(chunk)
                .insert_header("x-next-page", next.as_str())
                .insert_header("x-page", page.to_string().as_str())
        })
        .mount(&app.gitlab)
        .await;
}
