//! The live review state on a thread's parent (`CODEREVIEW_SYNC_LIVE_REVIEW=on`): the real
//! service reads the repository's rules at the base commit, the pull request's facts and its
//! changes from a fake GitHub (GraphQL validated against GitHub's schema, REST checked for
//! method, path and token), evaluates them with the engine, and shows one line per matched
//! scope under the parent. Nothing of it is stored.

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::github_graphql::{FakeGraphql, InvalidGraphql, RefuseInvalid};

const GL_PROJECT: &str = "/api/v4/projects/group%2Fapp";
const GL_HEAD: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const GL_BASE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
use crate::helpers::*;
use crate::sync_fakes::*;

pub(crate) const BASE_SHA: &str = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";

pub(crate) const RULES: &str = "[[scopes]]\nname = \"docs\"\npaths = [\"README.md\"]\nreviewers = [\"ana\", \"bob\"]\nrequire = 1\n\n\
                     [[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"mo\"]\nrequire = 1\n";

pub(crate) fn auth() -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Bearer {GITHUB_TOKEN}").as_str())
}

/// The fake GitHub's world: pull request #2 (with these reviews, and a `codereview` status
/// that says whether someone approved) and the rules at its base.
pub(crate) fn world(reviews: Vec<Value>) -> Value {
    let (state, description) = if reviews.is_empty() {
        ("PENDING", "1 scope pending")
    } else {
        ("SUCCESS", "1 scope approved")
    };
    let status = json!({ "__typename": "Status", "contexts": [
        { "__typename": "StatusContext", "context": "ci/build", "state": "SUCCESS", "description": "built" },
        { "__typename": "StatusContext", "context": "codereview", "state": state, "description": description }
    ] });
    json!({
        "repository": { REPO: {
            "pullRequest": { "2": {
                "__typename": "PullRequest",
                "number": 2,
                "isDraft": false,
                "headRefOid": HEAD_SHA,
                "baseRefOid": BASE_SHA,
                "baseRefName": "master",
                "title": "Update the README with new information.",
                "url": "https://github.com/Codertocat/Hello-World/pull/2",
                "state": "OPEN",
                "headRefName": "changes",
                "additions": 1, "deletions": 1, "changedFiles": 1,
                "author": { "__typename": "User", "login": "Codertocat" },
                "labels": [],
                "reviewRequests": [],
                "reviews": reviews,
                "commits": [ { "commit": { "__typename": "Commit", "id": "C_head", "oid": HEAD_SHA, "status": status, "checkSuites": [] } } ]
            } },
            "object": { format!("{BASE_SHA}:CODEREVIEW.toml"): { "__typename": "Blob", "text": RULES, "isBinary": false } }
        } }
    })
}

/// What an evaluation reads from the forge.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// First evaluation at these commits: the pull request, the rules (tree and text) and the
    /// changed files.
    All,
    /// A later event at the same commits: only the pull request; the rules and the changes
    /// are kept in memory.
    PullRequestOnly,
}

/// Every read the evaluation of pull request #2 makes, each expected as `reads` says.
async fn mount_forge(app: &SyncApp, reviews: Vec<Value>, reads: Reads) {
    mount_world(app, world(reviews), &[2], Some(reads)).await;
}

/// Every read the evaluation of pull requests `numbers` makes, answered from `world`; each
/// expected as `reads` says (the rules once for their base commit, the facts and the changed
/// files per pull request), or any number of times.
pub(crate) async fn mount_world(
    app: &SyncApp,
    world: Value,
    numbers: &[u64],
    reads: Option<Reads>,
) {
    let expect = |mock: Mock, first: u64, later: u64| match reads {
        Some(Reads::All) => mock.expect(first),
        Some(Reads::PullRequestOnly) => mock.expect(later),
        None => mock,
    };
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(InvalidGraphql)
        .respond_with(RefuseInvalid)
        .with_priority(1)
        .expect(0)
        .named("a GraphQL query GitHub's schema refuses")
        .mount(&app.github)
        .await;
    let per_pr = numbers.len() as u64;
    // The rules are read at the world's base commit (a test moves the base to change them).
    let base_sha = world["repository"][REPO]["pullRequest"][numbers[0].to_string()]["baseRefOid"]
        .as_str()
        .unwrap_or(BASE_SHA)
        .to_string();
    expect(
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(body_string_contains("pullRequest(number: $number)"))
            .and(auth())
            .respond_with(FakeGraphql::new(world.clone()))
            .with_priority(2)
            .named("the pull request's facts"),
        per_pr,
        per_pr,
    )
    .mount(&app.github)
    .await;
    expect(
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(body_string_contains("indicatesLimitedAvailability"))
            .and(auth())
            .respond_with(FakeGraphql::new(world.clone()))
            .with_priority(2)
            .named("who of those who could approve is busy"),
        1,
        0,
    )
    .mount(&app.github)
    .await;
    expect(
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(auth())
            .respond_with(FakeGraphql::new(world))
            .named("the rules' text"),
        1,
        0,
    )
    .mount(&app.github)
    .await;
    expect(
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/git/trees/{base_sha}")))
            .and(query_param("recursive", "1"))
            .and(auth())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "sha": base_sha, "truncated": false,
                "tree": [
                    { "path": "CODEREVIEW.toml", "type": "blob" },
                    { "path": "README.md", "type": "blob" },
                    { "path": "src", "type": "tree" }
                ]
            }))),
        1,
        0,
    )
    .mount(&app.github)
    .await;
    for n in numbers {
        expect(
            Mock::given(method("GET"))
                .and(path(format!("/repos/{REPO}/pulls/{n}/files")))
                .and(auth())
                .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                    { "filename": "README.md", "status": "modified", "additions": 1, "deletions": 1, "changes": 2,
                      "patch": "@@ -1 +1 @@\n-# Hello-World\n+# Hello World" }
                ]))),
            1,
            0,
        )
        .mount(&app.github)
        .await;
    }
}

/// The parent's facts and status come with the live review state's GraphQL read: the REST
/// reads of the pull request and its status must not happen.
async fn no_rest_reads(app: &SyncApp) {
    for p in [
        format!("/repos/{REPO}/pulls/2"),
        format!("/repos/{REPO}/commits/{HEAD_SHA}/status"),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .named("a second read of the pull request")
            .mount(&app.github)
            .await;
    }
}

/// The fake GitLab's merge request !1 of `group/app`, approved by `approved_by`, with the
/// rules at its base: every read the evaluation makes, each expected once (`Some(1)`) or any
/// number of times (`None`).
pub(crate) async fn mount_gitlab_mr(app: &SyncApp, approved_by: &[&str], times: Option<u64>) {
    let token = || header("private-token", GITLAB_API_TOKEN);
    let user = |id: u64, name: &str| json!({ "id": id, "username": name, "name": name, "state": "active" });
    let page = |body: Value| {
        ResponseTemplate::new(200)
            .set_body_json(body)
            .insert_header("x-page", "1")
            .insert_header("x-per-page", "100")
            .insert_header("x-next-page", "")
            .insert_header("x-total", "1")
            .insert_header("x-total-pages", "1")
    };
    let get = |p: String, answer: ResponseTemplate, name: &'static str| {
        Mock::given(method("GET"))
            .and(path(p))
            .and(token())
            .respond_with(answer)
            .up_to(times)
            .named(name)
    };
    get(
        "/api/v4/user".into(),
        ResponseTemplate::new(200).set_body_json(user(99, "group_15_bot_x")),
        "token check",
    )
    .mount(&app.gitlab)
    .await;
    get(
            format!("{GL_PROJECT}/merge_requests/1"),
            ResponseTemplate::new(200).set_body_json(json!({
                "id": 99, "iid": 1, "project_id": 15, "state": "opened", "title": "Add a response cache",
                "web_url": "https://gitlab.example.com/group/app/-/merge_requests/1",
                "sha": GL_HEAD, "draft": false, "author": user(11, "ada"),
                "source_branch": "cache", "target_branch": "main", "labels": [], "reviewers": [],
                "references": { "full": "group/app!1" },
                "diff_refs": { "base_sha": GL_BASE, "head_sha": GL_HEAD, "start_sha": GL_BASE },
                "head_pipeline": null
            })),
            "merge request",
        )
        .mount(&app.gitlab).await;
    get(
        format!("{GL_PROJECT}/merge_requests/1/approvals"),
        ResponseTemplate::new(200).set_body_json(json!({ "approved_by": approved_by
                .iter()
                .enumerate()
                .map(|(i, login)| json!({ "user": user(12 + i as u64, login) }))
                .collect::<Vec<_>>() })),
        "approvals",
    )
    .mount(&app.gitlab)
    .await;
    get(
        format!("{GL_PROJECT}/merge_requests/1/reviewers"),
        page(json!([])),
        "reviewers",
    )
    .mount(&app.gitlab)
    .await;
    Mock::given(method("GET"))
        .and(path(format!("{GL_PROJECT}/repository/tree")))
        .and(query_param("ref", GL_BASE))
        .and(query_param("recursive", "true"))
        .and(token())
        .respond_with(page(json!([
            { "path": "CODEREVIEW.toml", "type": "blob" },
            { "path": "src", "type": "tree" },
            { "path": "src/cache.rs", "type": "blob" }
        ])))
        .up_to(times)
        .named("tree")
        .mount(&app.gitlab)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{GL_PROJECT}/repository/files/CODEREVIEW.toml/raw"
        )))
        .and(query_param("ref", GL_BASE))
        .and(token())
        .respond_with(ResponseTemplate::new(200).set_body_string(RULES))
        .up_to(times)
        .named("rules")
        .mount(&app.gitlab)
        .await;
    get(
            format!("{GL_PROJECT}/merge_requests/1/diffs"),
            page(json!([ { "old_path": "src/cache.rs", "new_path": "src/cache.rs", "new_file": false,
                           "renamed_file": false, "deleted_file": false, "diff": "@@ -1 +1 @@\n-a\n+b\n" },
                { "old_path": "README.md", "new_path": "README.md", "new_file": false,
                  "renamed_file": false, "deleted_file": false, "diff": "@@ -1 +1 @@\n-a\n+b\n" },
            ])),
            "diffs",
        )
        .mount(&app.gitlab).await;
}

/// `expect(n)` when `times` is `Some(n)`.
trait UpTo {
    fn up_to(self, times: Option<u64>) -> Self;
}

impl UpTo for Mock {
    fn up_to(self, times: Option<u64>) -> Self {
        match times {
            Some(n) => self.expect(n),
            None => self,
        }
    }
}

/// The service with the live review state on, against the fakes.
async fn spawn_live(db: TestDb) -> SyncApp {
    let options = SyncOptions {
        live_review: true,
        ..SyncOptions::default()
    };
    spawn_sync_app_full(db, |_, _| None, None, options).await
}

pub(crate) fn approval(user: &str) -> Value {
    json!({ "state": "APPROVED", "submittedAt": "2026-01-02T00:00:00Z", "body": "",
            "author": { "__typename": "User", "login": user }, "commit": { "oid": HEAD_SHA } })
}

matrix! {
    async fn the_parent_shows_each_matched_scope_and_who_can_still_approve(db) {
        let app = spawn_live(db).await;
        mount_forge(&app, vec![], Reads::All).await;
        // ana is mapped too, but her Slack status says she is on holiday.
        app.store()
            .map_user(&codereview_sync::store::UserMapping {
                slack_user_id: AWAY_USER.into(),
                forge: codereview_sync::domain::Forge::GitHub,
                login: "ana".into(),
            })
            .await
            .unwrap();
        let opened = fixture("pull_request.opened.payload.json");
        app.github("pull_request", "d-open", &opened).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 2, "the parent, then one mention");
        assert_eq!(
            w[0].text(),
            "*<https://github.com/Codertocat/Hello-World/pull/2|#2 Update the README with new information.>*\n\
             by *Codertocat* · `master` ← `changes` · +1 −1, 1 file\n\
             🟢 Open · ⏳ review not evaluated yet\n\
             ⏳ docs · needs 1 more: <@U0AWAY> (away) or <@U0BOB>"
        );
        assert_eq!(
            w[0].body["blocks"][2]["text"]["text"],
            "⏳ docs · needs 1 more: <@U0AWAY> (away) or <@U0BOB>"
        );
        // bob is in the user map, present and not requested yet: one reply in the thread
        // mentions him, and not ana.
        let parent = FakeSlack::ts(1);
        assert_eq!(
            (w[1].path.as_str(), w[1].body["thread_ts"].as_str()),
            ("/api/chat.postMessage", Some(parent.as_str()))
        );
        assert_eq!(w[1].text(), "👋 *docs* needs 1 more review: <@U0BOB>");
        app.github.verify().await;

        // Updated again at the same head, still pending: the parent changes, nobody is
        // mentioned twice.
        let update = |n: u32| {
            let mut again = opened.clone();
            again["pull_request"]["updated_at"] = json!(format!("2019-05-15T15:3{n}:00Z"));
            again
        };
        // One forge read for the live state: the rules and the changes at these commits are
        // kept in memory.
        app.github.reset().await;
        mount_forge(&app, vec![], Reads::PullRequestOnly).await;
        no_rest_reads(&app).await;
        let slack_before = app.slack.calls().await.len();
        app.github("pull_request", "d-again-1", &update(1)).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 3);
        assert_eq!(w[2].path, "/api/chat.update");
        app.github.verify().await;
        // The whole cost of this event: one forge read, one Slack write (the lookups of who
        // is away are remembered).
        assert_eq!(calls(&app.github).await.len(), 1, "one forge read");
        let slack: Vec<String> = app.slack.calls().await[slack_before..]
            .iter()
            .map(|c| c.path.clone())
            .collect();
        assert_eq!(slack, ["/api/chat.update"]);

        // ana approves: the next update of the parent says so.
        app.github.reset().await;
        mount_forge(&app, vec![approval("ana")], Reads::PullRequestOnly).await;
        no_rest_reads(&app).await;
        app.github("pull_request", "d-again-2", &update(2)).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 4);
        assert_eq!(w[3].path, "/api/chat.update");
        assert!(
            w[3].text().ends_with("✅ success: 1 scope approved\n✅ docs · approved by <@U0AWAY>"),
            "{}",
            w[3].text()
        );
        app.github.verify().await;
        app.assert_no_text().await;
    }

    async fn a_reviewer_busy_on_github_is_marked_away_and_not_mentioned(db) {
        let app = spawn_live(db).await;
        // ana set her GitHub status to busy; she is not in the user map, so only GitHub can
        // tell. The engine asks only about people it might request: the service asks once.
        let mut busy = world(vec![]);
        busy["user"] = json!({ "ana": { "__typename": "User",
            "status": { "__typename": "UserStatus", "indicatesLimitedAvailability": true } } });
        mount_world(&app, busy.clone(), &[2], Some(Reads::All)).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 2, "the parent, then one mention");
        assert!(w[0].text().ends_with("⏳ docs · needs 1 more: ana (away) or <@U0BOB>"), "{}", w[0].text());
        assert_eq!(w[1].text(), "👋 *docs* needs 1 more review: <@U0BOB>");
        app.github.verify().await;
        // The next event at the same commits: availability is remembered too.
        app.github.reset().await;
        mount_world(&app, busy, &[2], Some(Reads::PullRequestOnly)).await;
        no_rest_reads(&app).await;
        let mut again = fixture("pull_request.opened.payload.json");
        again["action"] = json!("synchronize");
        app.github("pull_request", "d-again", &again).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 3);
        assert!(w[2].text().ends_with("ana (away) or <@U0BOB>"), "{}", w[2].text());
        app.github.verify().await;
        app.assert_clean().await;
    }

    async fn a_pull_request_in_two_channels_is_read_once_per_event(db) {
        let app = spawn_live(db).await;
        app.store()
            .add_link(&codereview_sync::store::RepoLink {
                forge: Some(codereview_sync::domain::Forge::GitHub),
                repo: REPO.into(),
                team_id: TEAM.into(),
                channel_id: "C0003".into(),
            })
            .await
            .unwrap();
        // Reads::All expects the pull request's facts exactly once: both parents are judged
        // from that one read.
        mount_forge(&app, vec![], Reads::All).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let parents: Vec<String> = app
            .slack
            .writes()
            .await
            .iter()
            .filter(|c| c.body["thread_ts"].is_null())
            .map(|c| c.body["channel"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(parents, [CHANNEL, "C0003"]);
        app.github.verify().await;
        app.assert_clean().await;
    }

    async fn a_failing_presence_lookup_holds_nothing_up(db) {
        let app = spawn_live(db).await;
        // users.getPresence answers 503: bob counts as present, and the rest of the event's
        // Slack calls (the parent, the mention) go out at once, Slack not marked down.
        app.slack.fail_presence();
        mount_forge(&app, vec![], Reads::All).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 2, "the parent and the mention");
        assert_eq!(w[1].text(), "👋 *docs* needs 1 more review: <@U0BOB>");
        assert!(app.slack.calls().await.iter().any(|c| c.path == "/api/users.getPresence"));
        app.assert_clean().await;
    }

    async fn finished_checks_refresh_the_parent(db) {
        let app = spawn_live(db).await;
        mount_forge(&app, vec![], Reads::All).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        assert_eq!(app.slack.writes().await.len(), 2, "the parent and a mention");
        app.github.verify().await;
        // A check run finishes: the parent is judged again (rules may look at checks), with
        // one read of the pull request.
        app.github.reset().await;
        mount_forge(&app, vec![approval("ana")], Reads::PullRequestOnly).await;
        no_rest_reads(&app).await;
        app.github("check_run", "d-check", &fixture("check_run.completed.payload.json")).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 3);
        assert_eq!(w[2].path, "/api/chat.update");
        assert!(w[2].text().ends_with("✅ docs · approved by ana"), "{}", w[2].text());
        app.github.verify().await;
        // One that only started changes nothing and reads nothing.
        app.github.reset().await;
        app.github("check_run", "d-created", &fixture("check_run.created.payload.json")).await;
        assert_eq!(app.slack.writes().await.len(), 3);
        assert!(calls(&app.github).await.is_empty());
        app.assert_clean().await;
    }

    async fn slack_presence_away_all_day_counts_as_away(db) {
        let (app, clock) = spawn_at(db, now_secs() * 1000, true).await;
        // ana's Slack shows no status, but her presence is "away" (no client connected).
        app.store()
            .map_user(&codereview_sync::store::UserMapping {
                slack_user_id: IDLE_USER.into(),
                forge: codereview_sync::domain::Forge::GitHub,
                login: "ana".into(),
            })
            .await
            .unwrap();
        mount_world(&app, world(vec![]), &[2], None).await;
        let opened = fixture("pull_request.opened.payload.json");
        app.github("pull_request", "d-open", &opened).await;
        // Away for a moment is not away: she is shown and mentioned.
        let w = app.slack.writes().await;
        assert!(w[0].text().ends_with("⏳ docs · needs 1 more: <@U0IDLE> or <@U0BOB>"), "{}", w[0].text());
        assert_eq!(w[1].text(), "👋 *docs* needs 1 more review: <@U0IDLE> or <@U0BOB>");
        // Still away at every look nine hours later: away all day.
        clock.advance(std::time::Duration::from_secs(9 * 3600));
        let mut again = opened.clone();
        again["action"] = json!("synchronize");
        app.github("pull_request", "d-later", &again).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 3);
        assert!(w[2].text().ends_with("⏳ docs · needs 1 more: <@U0IDLE> (away) or <@U0BOB>"), "{}", w[2].text());
        let presence: Vec<_> = app
            .slack
            .calls()
            .await
            .into_iter()
            .filter(|c| c.path == "/api/users.getPresence")
            .collect();
        assert!(presence.iter().all(|c| c.auth.as_deref() == Some(&*format!("Bearer {SLACK_TOKEN}"))));
        assert!(presence.iter().any(|c| c.query.get("user").map(String::as_str) == Some(IDLE_USER)));
        app.assert_clean().await;
    }

    async fn without_rules_or_when_github_fails_the_parent_is_posted_without_scope_lines(db) {
        let app = spawn_live(db).await;
        // The pull request query fails: the parent is still posted, as before.
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(body_string_contains("pullRequest(number: $number)"))
            .respond_with(ResponseTemplate::new(502))
            .mount(&app.github)
            .await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 1);
        assert!(w[0].text().ends_with("🟢 Open · ⏳ review not evaluated yet"), "{}", w[0].text());
        assert_eq!(w[0].body["blocks"].as_array().unwrap().len(), 2);
    }

    async fn a_forge_that_does_not_answer_delays_the_parent_by_the_budget_only(db) {
        let app = spawn_live(db).await;
        // GitHub's GraphQL hangs: the parent still goes out, after the budget (2 s here, 10 s
        // by default), without scope lines, within the worker's lease.
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(60)))
            .mount(&app.github)
            .await;
        let started = std::time::Instant::now();
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let took = started.elapsed();
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 1, "the parent");
        assert!(w[0].text().ends_with("🟢 Open · ⏳ review not evaluated yet"), "{}", w[0].text());
        assert!(took < std::time::Duration::from_secs(4), "took {took:?}");
        app.assert_clean().await;
    }

    async fn gitlab_parents_show_the_scopes_from_the_projects_rules(db) {
        let app = spawn_live(db).await;
        mount_gitlab_mr(&app, &["ana"], Some(1)).await;

        app.gitlab("Merge Request Hook", "k-open", &gitlab_mr("open", "opened")).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 1);
        // docs (README.md) is approved by ana; backend (src/**) still needs mo.
        assert!(
            w[0].text().ends_with("⏳ review not evaluated yet\n✅ docs · approved by ana\n⏳ backend · needs 1 more: mo"),
            "{}",
            w[0].text()
        );
        app.gitlab.verify().await;

        // The merge request is updated at the same commits: no token check (the connection is
        // kept), no tree, rules or diffs (the memo); the facts and the parent's own reads.
        app.gitlab.reset().await;
        mount_gitlab_mr(&app, &["ana"], None).await;
        Mock::given(method("GET"))
            .and(path(format!("{GL_PROJECT}/repository/commits/{GL_HEAD}/statuses")))
            .and(header("private-token", GITLAB_API_TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&app.gitlab)
            .await;
        app.gitlab("Merge Request Hook", "k-update", &gitlab_mr("update", "opened")).await;
        let w = app.slack.writes().await;
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].path, "/api/chat.update");
        let paths: Vec<String> = calls(&app.gitlab).await.into_iter().map(|c| c.path).collect();
        for gone in ["/api/v4/user", "/repository/tree", "/raw", "/diffs"] {
            assert!(!paths.iter().any(|p| p.ends_with(gone)), "{gone} read again: {paths:?}");
        }
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn a_scope_is_mentioned_once_per_head_commit_whoever_claims_it(db) {
        let store = db.store.clone();
        let pr = codereview_sync::store::PrRef {
            forge: codereview_sync::domain::Forge::GitHub,
            repo: REPO.into(),
            number: 2,
        };
        // Eight workers race for the same mention: exactly one wins.
        let claims = futures::future::join_all(
            (0..8).map(|_| store.claim_scope_mention(&pr, "docs", HEAD_SHA)),
        )
        .await;
        let won = claims.into_iter().map(Result::unwrap).filter(|c| *c).count();
        assert_eq!(won, 1);
        // Another scope, or a new head commit, is a new mention; a released claim is free again.
        assert!(store.claim_scope_mention(&pr, "backend", HEAD_SHA).await.unwrap());
        assert!(store.claim_scope_mention(&pr, "docs", "0123abcd").await.unwrap());
        store.release_scope_mention(&pr, "docs", HEAD_SHA).await.unwrap();
        assert!(store.claim_scope_mention(&pr, "docs", HEAD_SHA).await.unwrap());
    }
}
