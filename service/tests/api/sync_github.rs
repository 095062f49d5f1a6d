//! End to end, GitHub ↔ Slack: the real service on a random port, signed real payloads, a fake
//! Slack and a fake GitHub that record every call. Each test asserts the exact calls (method,
//! path, token, channel, thread_ts, ts, comment ids) and the rows, then scans the database for
//! any text the test sent.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::sync_fakes::*;

fn bearer_slack() -> Option<String> {
    Some(format!("Bearer {SLACK_TOKEN}"))
}

matrix! {
    async fn pull_request_thread_lifecycle(db) {
        let app = spawn_sync_app(db).await;

        // Opened → one parent message in the linked channel.
        let opened = fixture("pull_request.opened.payload.json");
        app.github("pull_request", "d-open", &opened).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].method.as_str(), w[0].path.as_str()), ("POST", "/api/chat.postMessage"));
        assert_eq!(w[0].auth, bearer_slack());
        assert_eq!(w[0].body["channel"], CHANNEL);
        assert!(w[0].body.get("thread_ts").is_none());
        assert_eq!(
            w[0].text(),
            "*<https://github.com/Codertocat/Hello-World/pull/2|#2 Update the README with new information.>*\n\
             by *Codertocat* · `master` ← `changes` · +1 −1, 1 file\n\
             🟢 Open · ⏳ review not evaluated yet"
        );
        assert_eq!(w[0].body["blocks"][0]["type"], "section");
        assert_eq!(w[0].body["metadata"]["event_payload"]["key"], "github:codertocat/hello-world#2:parent");
        let parent = FakeSlack::ts(1);
        assert_eq!(thread_rows(app.store()).await, vec![("github".into(), REPO.into(), 2, CHANNEL.into(), parent.clone())]);
        assert_eq!(
            ledger_rows(app.store()).await,
            vec![("slack".into(), format!("{TEAM}/{CHANNEL}"), "message".into(), parent.clone())]
        );

        // The same delivery again: deduplicated by the queue, nothing happens.
        app.github("pull_request", "d-open", &opened).await;
        assert_eq!(app.slack.writes().await.len(), 1, "no second parent");
        assert!(calls(&app.github).await.is_empty(), "a new thread is posted from the payload alone");
        // The same body under a new delivery id is a replay: deduplicated by its content.
        app.github("pull_request", "d-open-replayed", &opened).await;
        assert_eq!(app.slack.writes().await.len(), 1, "a replay changes nothing");
        // The PR opened again (a new event, so a new body): the thread exists, so it is
        // updated in place.
        mount_pull_and_status(&app, json!({}), "pending", "2 scopes approved, 1 pending").await;
        let mut again = opened.clone();
        again["pull_request"]["updated_at"] = json!("2019-05-15T15:30:00Z");
        app.github("pull_request", "d-open-again", &again).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 2, "no second parent");
        assert_eq!((w[1].path.as_str(), w[1].body["ts"].as_str()), ("/api/chat.update", Some(parent.as_str())));
        app.github.reset().await;

        // A PR conversation comment → a reply in the thread.
        let comment = pr_comment("issue_comment.created.payload.json");
        app.github("issue_comment", "d-c1", &comment).await;
        let w = app.slack.writes().await;
        let reply = w.last().unwrap();
        assert_eq!(reply.path, "/api/chat.postMessage");
        assert_eq!((reply.body["channel"].as_str(), reply.body["thread_ts"].as_str()), (Some(CHANNEL), Some(parent.as_str())));
        assert_eq!(
            reply.text(),
            "💬 *Codertocat* <https://github.com/Codertocat/Hello-World/pull/2#issuecomment-492700400|commented>:\n\
             You are totally right! I'll get this fixed right away."
        );
        let reply_ts = FakeSlack::ts(2);
        assert_eq!(reply.body["metadata"]["event_payload"]["key"], "github:codertocat/hello-world#2:issue_comment:492700400");
        assert_eq!(
            comment_rows(app.store()).await,
            vec![("issue_comment".into(), "492700400".into(), CHANNEL.into(), reply_ts.clone(), "forge".into(), None)]
        );
        // Duplicate delivery of the comment: nothing new.
        app.github("issue_comment", "d-c1-redelivered", &comment).await;
        assert_eq!(app.slack.writes().await.len(), w.len());

        // Edited → chat.update of that reply.
        app.github("issue_comment", "d-c1-edit", &pr_comment("issue_comment.edited.payload.json")).await;
        let update = app.slack.writes().await.last().unwrap().clone();
        assert_eq!(update.path, "/api/chat.update");
        assert_eq!((update.body["channel"].as_str(), update.body["ts"].as_str()), (Some(CHANNEL), Some(reply_ts.as_str())));
        assert_eq!(update.auth, bearer_slack());

        // Deleted → chat.delete, link gone.
        app.github("issue_comment", "d-c1-del", &pr_comment("issue_comment.deleted.payload.json")).await;
        let delete = app.slack.writes().await.last().unwrap().clone();
        assert_eq!(delete.path, "/api/chat.delete");
        assert_eq!((delete.body["channel"].as_str(), delete.body["ts"].as_str()), (Some(CHANNEL), Some(reply_ts.as_str())));
        assert!(comment_rows(app.store()).await.is_empty());

        // A comment-only review without a summary: nothing (its comments come on their own).
        let writes_before = app.slack.writes().await.len();
        app.github("pull_request_review", "d-r0", &fixture("pull_request_review.submitted.payload.json")).await;
        assert_eq!(app.slack.writes().await.len(), writes_before);
        // An approval with a body → a reply.
        let mut approved = fixture("pull_request_review.submitted.payload.json");
        approved["review"]["id"] = json!(237895672);
        approved["review"]["state"] = json!("approved");
        approved["review"]["body"] = json!("Ship it, the emoji count is now acceptable");
        app.github("pull_request_review", "d-r1", &approved).await;
        let review = app.slack.writes().await.last().unwrap().clone();
        assert_eq!(review.body["thread_ts"].as_str(), Some(parent.as_str()));
        assert_eq!(
            review.text(),
            "✅ *Codertocat* <https://github.com/Codertocat/Hello-World/pull/2#pullrequestreview-237895671|approved>:\n\
             Ship it, the emoji count is now acceptable"
        );
        assert!(comment_rows(app.store()).await.iter().any(|r| r.0 == "review" && r.1 == "237895672"));

        // Closed (merged) → the parent is updated in place from live facts.
        mount_pull_and_status(&app, json!({"state": "closed", "merged": true, "merged_at": "2019-05-15T15:21:00Z"}), "success", "2 scopes approved, 1 pending").await;
        app.github("pull_request", "d-close", &fixture("pull_request.closed.payload.json")).await;
        let update = app.slack.writes().await.last().unwrap().clone();
        assert_eq!(update.path, "/api/chat.update");
        assert_eq!((update.body["channel"].as_str(), update.body["ts"].as_str()), (Some(CHANNEL), Some(parent.as_str())));
        assert!(update.text().ends_with("🟣 Merged · ✅ success: 2 scopes approved, 1 pending"), "{}", update.text());
        let gh: Vec<(String, String, Option<String>)> =
            calls(&app.github).await.into_iter().map(|c| (c.method, c.path, c.auth)).collect();
        assert_eq!(
            gh,
            vec![
                ("GET".to_string(), format!("/repos/{REPO}/pulls/2"), Some(format!("Bearer {GITHUB_TOKEN}"))),
                ("GET".to_string(), format!("/repos/{REPO}/commits/{HEAD_SHA}/status"), Some(format!("Bearer {GITHUB_TOKEN}"))),
            ]
        );

        // A `codereview` status → the parent shows its state; other contexts are ignored.
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/commits/{HEAD_SHA}/pulls")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"number": 2}])))
            .mount(&app.github)
            .await;
        let status = |context: &str, state: &str| json!({
            "id": 6805126730u64, "sha": HEAD_SHA, "name": "Codertocat/Hello-World",
            "target_url": null, "context": context, "description": "backend needs 1 more (alice)",
            "state": state, "branches": [], "repository": opened["repository"].clone(),
            "sender": opened["sender"].clone()
        });
        let writes_before = app.slack.writes().await.len();
        app.github("status", "d-s0", &status("ci/build", "failure")).await;
        assert_eq!(app.slack.writes().await.len(), writes_before);
        app.github("status", "d-s1", &status("codereview", "failure")).await;
        let update = app.slack.writes().await.last().unwrap().clone();
        assert_eq!((update.path.as_str(), update.body["ts"].as_str()), ("/api/chat.update", Some(parent.as_str())));
        assert!(update.text().ends_with("❌ failure: backend needs 1 more (alice)"), "{}", update.text());
        assert_eq!(thread_rows(app.store()).await.len(), 1);

        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn review_comment_threads_both_ways(db) {
        let app = spawn_sync_app(db).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let parent = FakeSlack::ts(1);

        // A review comment → a reply with file:line.
        let root = fixture("pull_request_review_comment.created.payload.json");
        app.github("pull_request_review_comment", "d-rc1", &root).await;
        let w = app.slack.writes().await;
        assert_eq!(w[1].body["thread_ts"].as_str(), Some(parent.as_str()));
        assert_eq!(
            w[1].text(),
            "📝 *Codertocat* on <https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312630|README.md:265>:\n\
             Maybe you should use more emoji on this line."
        );
        // A reply to it (GitHub `in_reply_to_id`) → a reply in the same Slack thread, pointing at the root.
        let mut answer = root.clone();
        answer["comment"]["id"] = json!(284312631);
        answer["comment"]["in_reply_to_id"] = json!(284312630);
        answer["comment"]["body"] = json!("Agreed on emoji, adding a rocket here");
        answer["comment"]["html_url"] = json!("https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312631");
        app.github("pull_request_review_comment", "d-rc2", &answer).await;
        let w = app.slack.writes().await;
        assert_eq!(w[2].body["thread_ts"].as_str(), Some(parent.as_str()));
        assert_eq!(
            w[2].text(),
            "↳ reply to <https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312630|comment on README.md:265>\n\
             *Codertocat* <https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312631|replied>: Agreed on emoji, adding a rocket here"
        );
        let rows = comment_rows(app.store()).await;
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.0 == "review_comment" && r.5.as_deref() == Some("284312630")), "{rows:?}");

        // A person answers in Slack under the mirrored review comment → a reply in that review thread.
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/pulls/2/comments/284312630/replies")))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .and(body_json(json!({"body": "**Jane Doe** (via Slack): Replying under the review comment from Slack"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 284312700, "in_reply_to_id": 284312630})))
            .expect(1)
            .mount(&app.github)
            .await;
        // (Slack timestamps: the fake hands out 1700000NNN.000100 to posts; people reply after them.)
        app.slack("Ev-rc", slack_reply(CHANNEL, JANE, "Replying under the review comment from Slack", "1700000003.500000", &parent)).await;
        let rows = comment_rows(app.store()).await;
        assert_eq!(
            rows.last().unwrap(),
            &("review_comment".into(), "284312700".into(), CHANNEL.into(), "1700000003.500000".into(), "slack".into(), Some("284312630".into()))
        );
        assert!(ledger_rows(app.store()).await.contains(&("github".into(), REPO.into(), "review_comment".into(), "284312700".into())));

        // After a PR conversation comment, the next Slack reply goes to the conversation.
        app.github("issue_comment", "d-c1", &pr_comment("issue_comment.created.payload.json")).await;
        let conversation_ts = FakeSlack::ts(4);
        assert_eq!(app.slack.writes().await.last().unwrap().body["thread_ts"].as_str(), Some(parent.as_str()));
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/issues/2/comments")))
            .and(body_json(json!({"body": "**Jane Doe** (via Slack): Slack says the parser needs another look"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5002})))
            .expect(1)
            .mount(&app.github)
            .await;
        assert!(conversation_ts.as_str() < "1700000004.500000");
        app.slack("Ev-conv", slack_reply(CHANNEL, JANE, "Slack says the parser needs another look", "1700000004.500000", &parent)).await;
        assert_eq!(comment_rows(app.store()).await.last().unwrap().1, "5002");

        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn slack_replies_edits_deletes_and_no_echo(db) {
        let app = spawn_sync_app(db).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let parent = FakeSlack::ts(1);

        // A person replies in the thread, with Slack markup and a mapped mention.
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/issues/2/comments")))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .and(body_json(json!({"body":
                "**Jane Doe** (via Slack): **Slack says** the parser needs another look, @bob see [the spec](https://example.com/spec?a=1&b=2)"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5001})))
            .expect(1)
            .mount(&app.github)
            .await;
        let text = "*Slack says* the parser needs another look, <@U0BOB> see <https://example.com/spec?a=1&amp;b=2|the spec>";
        let reply_ts = "1700000100.000200";
        app.slack("Ev1", slack_reply(CHANNEL, JANE, text, reply_ts, &parent)).await;
        assert_eq!(
            comment_rows(app.store()).await,
            vec![("issue_comment".into(), "5001".into(), CHANNEL.into(), reply_ts.into(), "slack".into(), None)]
        );
        // Slack retries the delivery (same event_id): processed once.
        app.slack("Ev1", slack_reply(CHANNEL, JANE, text, reply_ts, &parent)).await;

        // GitHub tells us about the comment we just created: ledger hit, nothing posted.
        let mut echo = pr_comment("issue_comment.created.payload.json");
        echo["comment"]["id"] = json!(5001);
        echo["comment"]["body"] = json!("**Jane Doe** (via Slack): Echo of our own words must not come back");
        let slack_writes = app.slack.writes().await.len();
        app.github("issue_comment", "d-echo", &echo).await;
        // The same words from our GitHub App under another id (a racing replica): also ours.
        echo["comment"]["id"] = json!(5999);
        echo["comment"]["performed_via_github_app"] = json!({"id": 4242, "slug": "codereview-sync"});
        app.github("issue_comment", "d-echo-app", &echo).await;
        assert_eq!(app.slack.writes().await.len(), slack_writes, "our own comments are not mirrored back");

        // message_changed with the same text (an unfurl) → nothing; with new text → PATCH.
        let changed = |new: &str, old: &str| json!({
            "type": "message", "subtype": "message_changed", "channel": CHANNEL, "hidden": true,
            "ts": "1700000101.000300",
            "message": {"type": "message", "user": JANE, "text": new, "ts": reply_ts, "thread_ts": parent,
                        "edited": {"user": JANE, "ts": "1700000101.000000"}},
            "previous_message": {"type": "message", "user": JANE, "text": old, "ts": reply_ts, "thread_ts": parent},
        });
        app.slack("Ev2", changed(text, text)).await;
        Mock::given(method("PATCH"))
            .and(path(format!("/repos/{REPO}/issues/comments/5001")))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .and(body_json(json!({"body": "**Jane Doe** (via Slack): Slack says the parser needs two more looks"})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 5001})))
            .expect(1)
            .mount(&app.github)
            .await;
        app.slack("Ev3", changed("Slack says the parser needs two more looks", text)).await;

        // message_deleted → DELETE, link gone.
        Mock::given(method("DELETE"))
            .and(path(format!("/repos/{REPO}/issues/comments/5001")))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&app.github)
            .await;
        app.slack("Ev4", json!({
            "type": "message", "subtype": "message_deleted", "channel": CHANNEL, "hidden": true,
            "ts": "1700000102.000400", "deleted_ts": reply_ts,
            "previous_message": {"type": "message", "user": JANE, "text": "Slack says the parser needs two more looks", "ts": reply_ts, "thread_ts": parent},
        })).await;
        assert!(comment_rows(app.store()).await.is_empty());
        // GitHub's `deleted` event for that comment: ledger hit, nothing to do.
        let mut gone = pr_comment("issue_comment.deleted.payload.json");
        gone["comment"]["id"] = json!(5001);
        app.github("issue_comment", "d-gone", &gone).await;

        // Our own Slack post echoed back (bot_id), and a message from our bot user: nothing.
        app.slack("Ev5", json!({"type": "message", "subtype": "bot_message", "channel": CHANNEL, "bot_id": BOT_ID,
            "text": "Echo of our own words must not come back", "ts": FakeSlack::ts(1), "thread_ts": parent})).await;
        app.slack("Ev6", json!({"type": "message", "channel": CHANNEL, "bot_id": BOT_ID, "user": BOT_USER,
            "text": "Echo of our own words must not come back", "ts": "1700000103.000100", "thread_ts": parent})).await;
        app.slack("Ev7", slack_reply(CHANNEL, BOT_USER, "Echo of our own words must not come back", "1700000104.000100", &parent)).await;
        // A top-level channel message is not a reply: nothing.
        app.slack("Ev8", json!({"type": "message", "channel": CHANNEL, "user": JANE,
            "text": "Echo of our own words must not come back", "ts": "1700000105.000100"})).await;

        let gh: Vec<(String, String)> = calls(&app.github).await.into_iter().map(|c| (c.method, c.path)).collect();
        assert_eq!(
            gh,
            vec![
                ("POST".to_string(), format!("/repos/{REPO}/issues/2/comments")),
                ("PATCH".to_string(), format!("/repos/{REPO}/issues/comments/5001")),
                ("DELETE".to_string(), format!("/repos/{REPO}/issues/comments/5001")),
            ],
            "exactly one comment created, edited once, deleted once"
        );
        assert_eq!(app.slack.writes().await.len(), 1, "only the parent was posted to Slack");
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn slack_429_is_retried_after_retry_after_and_posted_once(db) {
        let app = spawn_sync_app(db).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let parent = FakeSlack::ts(1);
        app.slack.rate_limit_next_post(1);
        let mut comment = pr_comment("issue_comment.created.payload.json");
        comment["comment"]["body"] = json!("Rate limited comment should still arrive once");
        let (status, _) = app.app.github("issue_comment", "d-429", serde_json::to_vec(&comment).unwrap()).await;
        assert_eq!(status, 200);
        let first = app.app.worker.run_once().await.unwrap();
        assert_eq!((first.claimed, first.waiting), (1, 1), "429 → waits for Slack");
        assert_eq!(texts(app.store(), "event_queue", "last_error").await, ["slack chat.postMessage answered 429"]);
        assert_eq!(app.app.worker.run_once().await.unwrap().claimed, 0, "not due before Retry-After");
        assert!(
            wait_for(Duration::from_secs(5), || async { app.app.worker.run_once().await.unwrap().done == 1 }).await,
            "delivered after the wait"
        );
        let attempts = app.slack.post_attempts();
        assert_eq!(attempts.len(), 3, "parent, the 429, the retry");
        assert!(attempts[2] - attempts[1] >= Duration::from_secs(1), "waited {:?}", attempts[2] - attempts[1]);
        let posts: Vec<_> = app.slack.writes().await.into_iter().filter(|c| c.path == "/api/chat.postMessage").collect();
        assert_eq!(posts.len(), 3);
        assert_eq!(posts[2].body["thread_ts"].as_str(), Some(parent.as_str()));
        // The retry first looked for a message the failed attempt might have posted.
        assert!(app.slack.calls().await.iter().any(|c| c.path == "/api/conversations.replies"
            && c.query.get("ts") == Some(&parent) && c.query.get("include_all_metadata").map(String::as_str) == Some("true")));
        assert_eq!(comment_rows(app.store()).await, vec![("issue_comment".into(), "492700400".into(), CHANNEL.into(), FakeSlack::ts(2), "forge".into(), None)]);
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn a_retried_event_finds_the_message_it_already_posted(db) {
        // The post succeeded but the attempt failed before finishing (here: the reply's
        // parent exists, the reply is posted, then the event is retried as if the worker died
        // before recording). The retry must adopt the posted message, not post a second one.
        let app = spawn_sync_app(db).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let comment = pr_comment("issue_comment.created.payload.json");
        app.github("issue_comment", "d-c1", &comment).await;
        let posted = FakeSlack::ts(2);
        // Forget the link as a crash between post and record would have left it.
        exec(app.store(), "DELETE FROM comment_messages").await;
        // Redeliver with attempts > 1 by failing the first attempt on GitHub's side is not
        // possible here; instead enqueue the same comment under a new delivery and force its
        // attempt count up, as the worker would after an expired lease. (The body must differ:
        // the same body under a new delivery id is a replay and deduplicated.)
        let mut retried = comment.clone();
        retried["sender"]["site_admin"] = json!(true);
        let (status, _) = app.app.github("issue_comment", "d-c1-crashed", serde_json::to_vec(&retried).unwrap()).await;
        assert_eq!(status, 200);
        exec(app.store(), "UPDATE event_queue SET attempts = 1").await;
        app.app.drain().await;
        let posts = app.slack.writes().await.into_iter().filter(|c| c.path == "/api/chat.postMessage").count();
        assert_eq!(posts, 2, "parent and one reply: the retry adopted the posted reply");
        assert_eq!(comment_rows(app.store()).await, vec![("issue_comment".into(), "492700400".into(), CHANNEL.into(), posted, "forge".into(), None)]);
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn a_retried_slack_reply_adopts_the_comment_it_already_posted(db) {
        // The comment was created on GitHub but the worker died before recording it: the
        // retry finds it (same body, linked to nothing) and records it instead of posting again.
        let app = spawn_sync_app(db).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let parent = FakeSlack::ts(1);
        let body = "**Jane Doe** (via Slack): ship it once";
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/issues/2/comments")))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .and(body_json(json!({ "body": body })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5001})))
            .mount(&app.github)
            .await;
        let reply = slack_reply(CHANNEL, JANE, "ship it once", "1700000100.000200", &parent);
        app.slack("Ev1", reply.clone()).await;
        // Forget what the crash would have lost (link and ledger entry are one commit).
        exec(app.store(), "DELETE FROM comment_messages").await;
        exec(app.store(), "DELETE FROM ledger WHERE object_id = '5001'").await;

        // GitHub lists the PR's comments: someone's identical words already linked to another
        // Slack message would not be adopted; ours (5001) is.
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/issues/2/comments")))
            .and(wiremock::matchers::query_param("per_page", "100"))
            .and(wiremock::matchers::query_param("page", "1"))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"id": 4001, "body": "unrelated", "in_reply_to_id": null},
                {"id": 5001, "body": body},
            ])))
            .expect(1)
            .mount(&app.github)
            .await;
        let (status, _) = app.app.slack(slack_envelope("Ev1-retried", reply)).await;
        assert_eq!(status, 200);
        exec(app.store(), "UPDATE event_queue SET attempts = 1").await;
        app.app.drain().await;

        let gh: Vec<(String, String)> = calls(&app.github).await.into_iter().map(|c| (c.method, c.path)).collect();
        assert_eq!(
            gh,
            vec![
                ("POST".to_string(), format!("/repos/{REPO}/issues/2/comments")),
                ("GET".to_string(), format!("/repos/{REPO}/issues/2/comments")),
            ],
            "one comment posted; the retry looked and adopted it"
        );
        assert_eq!(
            comment_rows(app.store()).await,
            vec![("issue_comment".into(), "5001".into(), CHANNEL.into(), "1700000100.000200".into(), "slack".into(), None)]
        );
        // And the echo of 5001 is recognised as ours again.
        let mut echo = pr_comment("issue_comment.created.payload.json");
        echo["comment"]["id"] = json!(5001);
        echo["comment"]["body"] = json!(body);
        let slack_writes = app.slack.writes().await.len();
        app.github("issue_comment", "d-echo", &echo).await;
        assert_eq!(app.slack.writes().await.len(), slack_writes);
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn activity_on_a_pr_without_thread_starts_one(db) {
        let app = spawn_sync_app(db).await;
        mount_pull_and_status(&app, json!({}), "pending", "2 scopes approved, 1 pending").await;
        app.github("issue_comment", "d-c1", &pr_comment("issue_comment.created.payload.json")).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 2);
        assert!(w[0].body.get("thread_ts").is_none());
        assert!(w[0].text().ends_with("🟢 Open · ⏳ pending: 2 scopes approved, 1 pending"), "{}", w[0].text());
        assert_eq!(w[1].body["thread_ts"].as_str(), Some(FakeSlack::ts(1).as_str()));
        assert_eq!(thread_rows(app.store()).await.len(), 1);
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn unlinked_repository_is_left_alone(db) {
        let app = spawn_sync_app(db).await;
        let mut opened = fixture("pull_request.opened.payload.json");
        opened["repository"]["full_name"] = json!("Codertocat/Not-Linked");
        app.github("pull_request", "d-open", &opened).await;
        let mut comment = pr_comment("issue_comment.created.payload.json");
        comment["repository"]["full_name"] = json!("Codertocat/Not-Linked");
        app.github("issue_comment", "d-c1", &comment).await;
        assert!(app.slack.calls().await.is_empty());
        assert!(calls(&app.github).await.is_empty());
        assert!(thread_rows(app.store()).await.is_empty());
        assert!(comment_rows(app.store()).await.is_empty());
        assert!(ledger_rows(app.store()).await.is_empty());
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn the_parent_finds_codereview_on_a_later_page_of_the_combined_status(db) {
        // The combined status pages over contexts (30 by default, 100 at most): a commit with
        // 130 checks has `codereview` on the second page of 100.
        let app = spawn_sync_app(db).await;
        let opened = fixture("pull_request.opened.payload.json");
        app.github("pull_request", "d-open", &opened).await;
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/pulls/2")))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(pull(json!({}))))
            .mount(&app.github)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/commits/{HEAD_SHA}/status")))
            .and(header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str()))
            .respond_with(|r: &wiremock::Request| {
                let query: std::collections::HashMap<String, String> = r.url.query_pairs().into_owned().collect();
                let per_page: usize = query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30).min(100);
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let contexts: Vec<serde_json::Value> = (1..=130)
                    .map(|i| if i == 125 {
                        json!({"context": "codereview", "state": "success", "description": "3 scopes approved"})
                    } else {
                        json!({"context": format!("ci/job-{i}"), "state": "success", "description": "ok"})
                    })
                    .collect();
                let chunk: Vec<_> = contexts.iter().skip((page - 1) * per_page).take(per_page).cloned().collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "state": "success", "sha": HEAD_SHA, "total_count": 130, "statuses": chunk
                }))
            })
            .mount(&app.github)
            .await;
        let mut again = opened.clone();
        again["pull_request"]["updated_at"] = json!("2019-05-15T15:30:00Z");
        app.github("pull_request", "d-open-again", &again).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].path, "/api/chat.update");
        assert!(w[1].text().ends_with("✅ success: 3 scopes approved"), "{}", w[1].text());
        let pages: Vec<Option<String>> = calls(&app.github)
            .await
            .into_iter()
            .filter(|c| c.path.ends_with("/status"))
            .map(|c| c.query.get("page").cloned())
            .collect();
        assert_eq!(pages, vec![Some("1".to_string()), Some("2".to_string())]);
        app.assert_clean().await;
    }
}
