//! End-to-end: the real `codereview status` binary, run as GitHub Actions runs it (env vars, an
//! event file from real webhook fixtures, a real git checkout), against a fake GitHub
//! (wiremock) that checks the method, path, `Authorization` header and body of every call.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

mod ci_support;

use ci_support::github_graphql::{FakeGraphql, InvalidGraphql, RefuseInvalid};
use ci_support::{Repo, fixture, pull_request_repo, run_status, stderr};
use serde_json::{Value, json};
use std::process::Output;
use wiremock::matchers::{body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghs_test_token_123";
const REPO: &str = "octo/repo";
const NUMBER: u64 = 7;

const CONFIG: &str = r#"
[[scopes]]
name = "backend"
paths = ["src/**"]
reviewers = ["alice", "bob"]
require = 1
labels = ["backend"]
"#;

/// A review as GraphQL returns it.
fn review(user: &str, state: &str, at: &str) -> Value {
    json!({ "state": state, "submittedAt": at, "author": { "__typename": "User", "login": user }, "commit": { "oid": "x" } })
}

/// The GraphQL answer for the pull request.
struct Facts {
    number: u64,
    author: &'static str,
    head: String,
    base: String,
    draft: bool,
    labels: Vec<&'static str>,
    requested: Vec<&'static str>,
    reviews: Vec<Value>,
    checks: Vec<(&'static str, &'static str, &'static str, &'static str)>,
}

impl Facts {
    fn new(base: &str, head: &str) -> Self {
        Facts {
            number: NUMBER,
            author: "dana",
            head: head.to_string(),
            base: base.to_string(),
            draft: false,
            labels: vec![],
            requested: vec![],
            reviews: vec![],
            checks: vec![],
        }
    }

    /// The pull request as the fake GitHub holds it: full lists, paged by the fake.
    fn pull_request(&self) -> Value {
        let suites: Vec<Value> = self
            .checks
            .iter()
            .enumerate()
            .map(|(i, (app, name, status, conclusion))| {
                json!({ "__typename": "CheckSuite", "id": format!("CS_{i}"), "app": { "slug": app }, "checkRuns": [ { "name": name, "status": status, "conclusion": conclusion } ] })
            })
            .collect();
        json!({
            "__typename": "PullRequest",
            "number": self.number,
            "isDraft": self.draft,
            "headRefOid": self.head,
            "baseRefOid": self.base,
            "baseRefName": "main",
            "author": { "__typename": "User", "login": self.author },
            "labels": self.labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
            "reviewRequests": self.requested.iter().map(|r| json!({ "requestedReviewer": { "__typename": "User", "login": r } })).collect::<Vec<_>>(),
            "reviews": self.reviews,
            "commits": [ { "commit": { "__typename": "Commit", "id": "C_head", "oid": self.head, "checkSuites": suites } } ]
        })
    }

    /// The fake GitHub's world with this pull request (and `organization`, when given).
    fn world(&self, organization: Value) -> Value {
        json!({
            "repository": { REPO: { "pullRequest": { NUMBER.to_string(): self.pull_request() } } },
            "organization": organization,
        })
    }
}

/// A prepared run: checkout, fake GitHub, runner files.
struct Run {
    repo: Repo,
    head: String,
    server: MockServer,
    files: tempfile::TempDir,
}

impl Run {
    async fn new(repo: Repo, head: &str) -> Self {
        let server = MockServer::start().await;
        // GitHub refuses a query its schema does not allow: so does this fake, and the test fails.
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(InvalidGraphql)
            .respond_with(RefuseInvalid)
            .with_priority(1)
            .expect(0)
            .named("a GraphQL query GitHub's schema refuses")
            .mount(&server)
            .await;
        Run {
            repo,
            head: head.to_string(),
            server,
            files: tempfile::tempdir().unwrap(),
        }
    }

    fn auth() -> wiremock::matchers::HeaderExactMatcher {
        header("authorization", format!("Bearer {TOKEN}").as_str())
    }

    /// The one read of the pull request, answered by executing the query on `facts`.
    async fn graphql_facts(&self, facts: &Facts) {
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(Self::auth())
            .and(body_string_contains("pullRequest(number: $number)"))
            .and(body_string_contains(r#""number":7"#))
            .respond_with(FakeGraphql::new(facts.world(json!({}))))
            .expect(1)
            .mount(&self.server)
            .await;
    }

    /// The one availability (and, for `load`, open review requests) query, answered by
    /// executing it on a world where `busy` people set a busy status and `load` counts the
    /// open pull requests requesting each person's review.
    async fn graphql_availability(&self, people: &[&str], busy: &[&str], load: &[(&str, u64)]) {
        let users: serde_json::Map<String, Value> = people
            .iter()
            .map(|p| {
                let limited = busy.contains(p);
                (
                    p.to_string(),
                    json!({ "status": { "indicatesLimitedAvailability": limited } }),
                )
            })
            .collect();
        let searches: serde_json::Map<String, Value> = load
            .iter()
            .map(|(p, n)| {
                (
                    format!("ISSUE/repo:{REPO} is:pr is:open review-requested:{p}"),
                    json!({ "issueCount": n }),
                )
            })
            .collect();
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(Self::auth())
            .and(body_string_contains("indicatesLimitedAvailability"))
            .respond_with(FakeGraphql::new(
                json!({ "user": users, "search": searches }),
            ))
            .expect(1)
            .named("availability query")
            .mount(&self.server)
            .await;
    }

    /// Every GraphQL query, answered from `world` (pages included).
    async fn graphql_world(&self, world: Value) {
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(Self::auth())
            .respond_with(FakeGraphql::new(world))
            .mount(&self.server)
            .await;
    }

    /// The GraphQL requests received, as (query, variables).
    async fn graphql_requests(&self) -> Vec<(String, Value)> {
        self.server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == "/graphql")
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                (
                    body["query"].as_str().unwrap().to_string(),
                    body["variables"].clone(),
                )
            })
            .collect()
    }

    async fn expect_status(&self, state: &str, description: &str) {
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/statuses/{}", self.head)))
            .and(Self::auth())
            .and(body_json(json!({
                "state": state,
                "description": description,
                "context": "codereview",
                "target_url": format!("https://github.com/{REPO}/actions/runs/42"),
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
            .expect(1)
            .mount(&self.server)
            .await;
    }

    async fn expect_reviewers(&self, reviewers: &[&str]) {
        Mock::given(method("POST"))
            .and(path(format!(
                "/repos/{REPO}/pulls/{NUMBER}/requested_reviewers"
            )))
            .and(Self::auth())
            .and(body_json(json!({ "reviewers": reviewers })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
            .expect(1)
            .mount(&self.server)
            .await;
    }

    async fn expect_labels(&self, labels: &[&str]) {
        Mock::given(method("PUT"))
            .and(path(format!("/repos/{REPO}/issues/{NUMBER}/labels")))
            .and(Self::auth())
            .and(body_json(json!({ "labels": labels })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(1)
            .mount(&self.server)
            .await;
    }

    fn event_file(&self, name: &str, payload: &Value) -> String {
        let p = self.files.path().join(format!("{name}.json"));
        std::fs::write(&p, payload.to_string()).unwrap();
        p.display().to_string()
    }

    fn vars(&self, event_name: &str, event_path: String) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_TOKEN", TOKEN.into()),
            ("GITHUB_REPOSITORY", REPO.into()),
            ("GITHUB_EVENT_NAME", event_name.into()),
            ("GITHUB_EVENT_PATH", event_path),
            ("GITHUB_API_URL", self.server.uri()),
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_RUN_ID", "42".into()),
            ("GITHUB_WORKSPACE", self.repo.path().display().to_string()),
            (
                "GITHUB_STEP_SUMMARY",
                self.files.path().join("summary.md").display().to_string(),
            ),
            (
                "GITHUB_OUTPUT",
                self.files.path().join("output.txt").display().to_string(),
            ),
        ]
    }

    /// Run `codereview status` for a `pull_request` event built from the real fixture.
    async fn status(&self, extra_args: &[&str], extra_vars: &[(&'static str, String)]) -> Output {
        let mut payload = fixture("pull_request.opened.payload.json");
        payload["pull_request"]["number"] = json!(NUMBER);
        payload["number"] = json!(NUMBER);
        let event = self.event_file("event", &payload);
        let mut vars = self.vars("pull_request", event);
        vars.extend(extra_vars.iter().cloned());
        self.exec(extra_args, vars).await
    }

    async fn exec(&self, extra_args: &[&str], vars: Vec<(&'static str, String)>) -> Output {
        run_status(extra_args, vars).await
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(self.files.path().join("summary.md")).unwrap_or_default()
    }

    fn outputs(&self) -> String {
        std::fs::read_to_string(self.files.path().join("output.txt")).unwrap_or_default()
    }

    async fn request_count(&self) -> usize {
        self.server.received_requests().await.unwrap().len()
    }
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
}

async fn backend_pr() -> (Run, Facts) {
    let (repo, base, head) = pull_request_repo(
        &[("CODEREVIEW.toml", CONFIG), ("src/a.rs", "fn a() {}\n")],
        &[("src/a.rs", "fn a() { b() }\n")],
    );
    let run = Run::new(repo, &head).await;
    let facts = Facts::new(&base, &head);
    (run, facts)
}

#[tokio::test(flavor = "multi_thread")]
async fn approved_pull_request_gets_success() {
    let (run, mut facts) = backend_pr().await;
    facts.labels = vec!["triage"];
    facts.reviews = vec![
        review("alice", "COMMENTED", "2026-01-01T00:00:00Z"),
        review("alice", "APPROVED", "2026-01-02T00:00:00Z"),
    ];
    run.graphql_facts(&facts).await;
    run.expect_status("success", "1 scope approved").await;
    run.expect_labels(&["triage", "backend"]).await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert_eq!(run.request_count().await, 3);
    let summary = run.summary();
    assert!(summary.contains("## codereview: ✅ success"), "{summary}");
    assert!(
        summary.contains("| backend | ✅ approved by alice | 1/1 | alice, bob | `src/a.rs` |"),
        "{summary}"
    );
    assert_eq!(
        run.outputs(),
        "state=success\napproved-scopes=backend\npending-scopes=\nrejected-scopes=\n"
    );
}

/// The one check of the reviewer request's endpoint and body (the evaluation branch is
/// `status::tests::pending_pull_request_requests_a_reviewer`).
#[tokio::test(flavor = "multi_thread")]
async fn pending_pull_request_requests_a_reviewer() {
    let (repo, base, head) = pull_request_repo(
        &[(
            "CODEREVIEW.toml",
            "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"dana\"]\nalternates = [\"bob\"]\nrequire = 1\nrequest = 1\n",
        )],
        &[("src/a.rs", "x\n")],
    );
    let run = Run::new(repo, &head).await;
    let facts = Facts::new(&base, &head);
    run.graphql_facts(&facts).await;
    // dana is the author and bob only an alternate: alice is the one to ask.
    run.expect_status(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob)",
    )
    .await;
    run.graphql_availability(&["alice"], &[], &[]).await;
    run.expect_reviewers(&["alice"]).await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(run.outputs().contains("pending-scopes=backend\n"));
}

const TEAM_CONFIG: &str =
    "[[scopes]]\nname = \"core\"\npaths = [\"**\"]\nreviewers = [\"@octo/core\"]\nrequire = 1\n";

#[tokio::test(flavor = "multi_thread")]
async fn teams_are_expanded_through_the_api() {
    let (repo, base, head) =
        pull_request_repo(&[("CODEREVIEW.toml", TEAM_CONFIG)], &[("x.txt", "x\n")]);
    let run = Run::new(repo, &head).await;
    let mut facts = Facts::new(&base, &head);
    facts.reviews = vec![review("carol", "APPROVED", "2026-01-01T00:00:00Z")];
    run.graphql_facts(&facts).await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(Run::auth())
        .and(body_string_contains(r#"t0: organization(login: \"octo\") { team(slug: \"core\")"#))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "t0": { "team": { "members": { "nodes": [ { "login": "carol" }, { "login": "erin" } ] } } } }
        })))
        .expect(1)
        .mount(&run.server)
        .await;
    run.expect_status("success", "1 scope approved").await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(run.summary().contains("carol, erin"), "{}", run.summary());
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_team_fails_with_the_missing_permission() {
    let (repo, base, head) =
        pull_request_repo(&[("CODEREVIEW.toml", TEAM_CONFIG)], &[("x.txt", "x\n")]);
    let run = Run::new(repo, &head).await;
    run.graphql_facts(&Facts::new(&base, &head)).await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("t0: organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "t0": { "team": null } },
            "errors": [ { "type": "FORBIDDEN", "message": "Resource not accessible by integration" } ]
        })))
        .expect(1)
        .mount(&run.server)
        .await;
    run.expect_status(
        "failure",
        "cannot read team @octo/core: the token needs the organization permission Members: read (GITHUB_TOKEN cannot; use a GitHub App token)",
    )
    .await;
    let out = run.status(&[], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("Members: read"), "{}", stderr(&out));
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_thousand_files_from_the_checkout_in_four_requests() {
    let config =
        "[[scopes]]\nname = \"all\"\npaths = [\"**\"]\nreviewers = [\"alice\"]\nrequire = 1\n";
    let changes: Vec<(String, String)> = (0..3001)
        .map(|i| (format!("d{}/{i}.txt", i % 50), "x\n".into()))
        .collect();
    let changes: Vec<(&str, &str)> = changes
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (repo, base, head) = pull_request_repo(&[("CODEREVIEW.toml", config)], &changes);
    let run = Run::new(repo, &head).await;
    let mut facts = Facts::new(&base, &head);
    facts.reviews = vec![review("alice", "APPROVED", "2026-01-01T00:00:00Z")];
    run.graphql_facts(&facts).await;
    run.expect_status("success", "1 scope approved").await;
    let out = run
        .status(
            &[
                "--large-scale-files",
                "10000",
                "--large-scale-lines",
                "100000",
            ],
            &[],
        )
        .await;
    assert_ok(&out);
    run.server.verify().await;
    assert_eq!(run.request_count().await, 2, "one read, one status");
    assert!(
        run.summary().contains("3001 files changed"),
        "{}",
        run.summary()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_file_pull_request_in_at_most_four_requests() {
    let config = "[[scopes]]\nname = \"all\"\npaths = [\"**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\nrequest = 1\nlabels = [\"reviewed\"]\n";
    let changes: Vec<(String, String)> = (0..100)
        .map(|i| (format!("src/{i}.rs"), "x\n".into()))
        .collect();
    let changes: Vec<(&str, &str)> = changes
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (repo, base, head) = pull_request_repo(&[("CODEREVIEW.toml", config)], &changes);
    let run = Run::new(repo, &head).await;
    let mut facts = Facts::new(&base, &head);
    facts.requested = vec!["bob"];
    run.graphql_facts(&facts).await;
    // bob is already requested, which satisfies request = 1: nobody new is asked.
    run.expect_status("pending", "1 scope pending: all needs 1 more (alice, bob)")
        .await;
    run.expect_labels(&["reviewed"]).await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
    assert_eq!(run.request_count().await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried() {
    let (run, mut facts) = backend_pr().await;
    facts.labels = vec!["backend"];
    facts.reviews = vec![review("bob", "APPROVED", "2026-01-01T00:00:00Z")];
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&run.server)
        .await;
    run.graphql_facts(&facts).await;
    run.expect_status("success", "1 scope approved").await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_token_is_a_clear_error() {
    let (run, _) = backend_pr().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "message": "Bad credentials" })),
        )
        .expect(1)
        .mount(&run.server)
        .await;
    let out = run.status(&[], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("401 Bad credentials"), "{err}");
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn draft_is_pending() {
    let (run, mut facts) = backend_pr().await;
    facts.draft = true;
    facts.labels = vec!["backend"];
    facts.reviews = vec![review("bob", "APPROVED", "2026-01-01T00:00:00Z")];
    run.graphql_facts(&facts).await;
    run.expect_status("pending", "Draft is not ready for review")
        .await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_history_changed_files_come_from_the_api() {
    let repo = Repo::new();
    repo.write("CODEREVIEW.toml", CONFIG);
    let base = repo.commit("base");
    // The head commit is not in this checkout and there is no remote to fetch it from.
    let head = "0123456789abcdef0123456789abcdef01234567";
    let run = Run::new(repo, head).await;
    let mut facts = Facts::new(&base, head);
    facts.labels = vec!["backend"];
    facts.reviews = vec![review("alice", "APPROVED", "2026-01-01T00:00:00Z")];
    run.graphql_facts(&facts).await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/{NUMBER}/files")))
        .and(Run::auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "filename": "src/new.rs", "status": "added", "additions": 1, "deletions": 0, "patch": "@@ -0,0 +1 @@\n+fn x() {}" },
            { "filename": "docs/a.md", "status": "modified", "additions": 1, "deletions": 1, "patch": "@@ -1 +1 @@\n-a\n+b" }
        ])))
        .expect(1)
        .mount(&run.server)
        .await;
    run.expect_status("success", "1 scope approved").await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(
        run.summary().contains("`docs/a.md`"),
        "unowned file listed: {}",
        run.summary()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_errors_are_one_line_and_exit_2() {
    let (run, _) = backend_pr().await;
    let mut payload = fixture("pull_request.opened.payload.json");
    payload["pull_request"]["number"] = json!(NUMBER);
    let event = run.event_file("event", &payload);

    // Missing token.
    let vars: Vec<_> = run
        .vars("pull_request", event.clone())
        .into_iter()
        .filter(|(k, _)| *k != "GITHUB_TOKEN")
        .collect();
    let out = run.exec(&[], vars).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("no GitHub token"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);

    // Not a pull request event.
    let push = run.event_file("push", &json!({ "ref": "refs/heads/main" }));
    let out = run.exec(&[], run.vars("push", push)).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`push` is not a pull request event"),
        "{}",
        stderr(&out)
    );

    // Unreadable event file.
    let out = run
        .exec(
            &[],
            run.vars("pull_request", "/nonexistent/event.json".into()),
        )
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the event file"),
        "{}",
        stderr(&out)
    );

    assert_eq!(run.request_count().await, 0, "nothing reached GitHub");
}

#[tokio::test(flavor = "multi_thread")]
async fn review_events_and_comment_events_find_the_pull_request() {
    let (run, mut facts) = backend_pr().await;
    facts.labels = vec!["backend"];
    facts.reviews = vec![review("alice", "APPROVED", "2026-01-01T00:00:00Z")];
    run.graphql_facts(&facts).await;
    run.expect_status("success", "1 scope approved").await;
    let mut payload = fixture("pull_request_review.submitted.payload.json");
    payload["pull_request"]["number"] = json!(NUMBER);
    let event = run.event_file("review", &payload);
    assert_ok(&run.exec(&[], run.vars("pull_request_review", event)).await);
    run.server.verify().await;

    // A comment on a plain issue is not an error, just nothing to do.
    let event = run.event_file("comment", &fixture("issue_comment.created.payload.json"));
    let out = run.exec(&[], run.vars("issue_comment", event)).await;
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to evaluate"));
}

const INSTRUCTED: &str = r#"
[[scopes]]
name = "backend"
paths = ["src/**"]
reviewers = ["alice"]
require = 1
instructions = """
Run `make migrate` before approving.
Check the query plans."""

[[scopes]]
name = "docs"
paths = ["docs/**"]
reviewers = ["bob"]
instructions = "Preview the site."
"#;

const INSTRUCTIONS_BODY: &str = "<!-- codereview:instructions -->\n\n#### Review instructions: backend\n\nRun `make migrate` before approving.\nCheck the query plans.\n";

/// A PR touching `src/` under rules with instructions; `comments` is what GitHub lists.
async fn instructed_pr(comments: Value) -> Run {
    let (repo, base, head) = pull_request_repo(
        &[("CODEREVIEW.toml", INSTRUCTED), ("src/a.rs", "fn a() {}\n")],
        &[("src/a.rs", "fn a() { b() }\n")],
    );
    let run = Run::new(repo, &head).await;
    let mut facts = Facts::new(&base, &head);
    facts.reviews = vec![review("alice", "APPROVED", "2026-01-02T00:00:00Z")];
    run.graphql_facts(&facts).await;
    run.expect_status("success", "1 scope approved").await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/issues/{NUMBER}/comments")))
        .and(wiremock::matchers::query_param("per_page", "100"))
        .and(wiremock::matchers::query_param("page", "1"))
        .and(Run::auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(comments))
        .expect(1)
        .mount(&run.server)
        .await;
    run
}

/// Exactly one write of the instructions comment with the expected body.
async fn expect_instructions_write(run: &Run, verb: &str, at: String) {
    Mock::given(method(verb))
        .and(path(at))
        .and(Run::auth())
        .and(body_json(json!({ "body": INSTRUCTIONS_BODY })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 11 })))
        .expect(1)
        .mount(&run.server)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn matched_scope_instructions_are_posted_once_as_a_comment() {
    let run = instructed_pr(
        json!([{ "id": 5, "body": "LGTM, but see the plan", "user": { "login": "carol" } }]),
    )
    .await;
    expect_instructions_write(
        &run,
        "POST",
        format!("/repos/{REPO}/issues/{NUMBER}/comments"),
    )
    .await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert!(
        run.summary()
            .contains("Instructions posted as a comment for: `backend`"),
        "{}",
        run.summary()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn instructions_comment_is_edited_when_stale() {
    let stale =
        "<!-- codereview:instructions -->\n\n#### Review instructions: docs\n\nPreview the site.\n";
    let run = instructed_pr(
        json!([{ "id": 11, "body": stale, "user": { "login": "github-actions[bot]" } }]),
    )
    .await;
    expect_instructions_write(&run, "PATCH", format!("/repos/{REPO}/issues/comments/11")).await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
    // An up-to-date comment is left alone: `status::tests::a_current_instructions_comment_is_left_alone`.
}

// ---- Large organisations: every connection is paged (issue 11 §2) ----

use ci_support::github_graphql::{cursor, validate};

/// `m001`, `m002`, ... `m{n}`.
fn people(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("m{i:03}")).collect()
}

/// `@octo/big` with these members, as the fake GitHub's `organization` world.
fn big_team(members: &[String]) -> Value {
    json!({ "octo": { "team": { "big": {
        "members": members.iter().map(|m| json!({ "login": m })).collect::<Vec<_>>()
    } } } })
}

const BIG_TEAM_CONFIG: &str = "[[scopes]]\nname = \"core\"\npaths = [\"src/**\"]\nreviewers = [\"@octo/big\"]\nrequire = 1\nrequest = 1\n";

/// A pull request under `config` touching `src/a.rs`.
async fn src_pr(config: &str) -> (Run, Facts) {
    let (repo, base, head) = pull_request_repo(
        &[("CODEREVIEW.toml", config), ("src/a.rs", "a\n")],
        &[("src/a.rs", "b\n")],
    );
    let run = Run::new(repo, &head).await;
    let facts = Facts::new(&base, &head);
    (run, facts)
}

/// Nobody may be asked to review (the run must see that enough people already were).
async fn expect_no_reviewer_request(run: &Run) {
    Mock::given(method("POST"))
        .and(path(format!(
            "/repos/{REPO}/pulls/{NUMBER}/requested_reviewers"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(0)
        .named("a reviewer request")
        .mount(&run.server)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_130th_member_of_a_team_counts() {
    let (run, mut facts) = src_pr(BIG_TEAM_CONFIG).await;
    let members = people(130);
    facts.reviews = vec![review("m130", "APPROVED", "2026-01-01T00:00:00Z")];
    run.graphql_world(facts.world(big_team(&members))).await;
    run.expect_status("success", "1 scope approved").await;
    expect_no_reviewer_request(&run).await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    // Read, team page 1, team page 2 (from the cursor of the 100th member), status.
    let graphql = run.graphql_requests().await;
    assert_eq!(graphql.len(), 3, "{graphql:#?}");
    assert!(
        graphql[2]
            .0
            .contains(&format!("after: {}", json!(cursor("members", 99)))),
        "{}",
        graphql[2].0
    );
    assert_eq!(run.request_count().await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_early_approval_followed_by_120_comment_reviews_still_counts() {
    // The 130-member team and 120 reviews together: the request count of a large organisation.
    let (run, mut facts) = src_pr(BIG_TEAM_CONFIG).await;
    let members = people(130);
    facts.requested = vec![];
    facts.reviews = vec![review("m130", "APPROVED", "2026-01-01T00:00:00Z")];
    for i in 0..120 {
        let who = if i % 2 == 0 { "m130" } else { "m007" };
        facts.reviews.push(review(
            who,
            "COMMENTED",
            &format!("2026-01-02T00:{:02}:{:02}Z", i / 60, i % 60),
        ));
    }
    run.graphql_world(facts.world(big_team(&members))).await;
    run.expect_status("success", "1 scope approved").await;
    // m130's approval is the latest review *with a state*: nobody is asked again.
    expect_no_reviewer_request(&run).await;
    let out = run
        .status(&[], &[("CODEREVIEW_DEBUG_REQUESTS", "1".into())])
        .await;
    assert_ok(&out);
    run.server.verify().await;
    // Read, reviews page 2, team pages 1 and 2, status: 5 requests.
    assert_eq!(run.graphql_requests().await.len(), 4);
    assert_eq!(run.request_count().await, 5);
    assert!(
        stderr(&out).contains("codereview: 5 GitHub API requests"),
        "{}",
        stderr(&out)
    );
    assert!(
        run.summary().contains("approved by m130"),
        "{}",
        run.summary()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_requested_reviewers_and_check_runs_are_read_to_the_end() {
    let config = r#"
[[scopes]]
name = "deps"
paths = ["src/**"]
reviewers = ["alice"]
require = 1
unless = ["renovate-checks/safe-update"]
labels = ["deps"]

[[scopes]]
name = "docs"
paths = ["src/**"]
ownership = "append"
reviewers = ["bob", "carol"]
require = 0
request = 1
"#;
    let (run, facts) = src_pr(config).await;
    let mut pr = facts.pull_request();
    // 150 labels: a label write must keep all of them.
    let labels: Vec<String> = (1..=150).map(|i| format!("label-{i:03}")).collect();
    pr["labels"] = json!(
        labels
            .iter()
            .map(|l| json!({ "name": l }))
            .collect::<Vec<_>>()
    );
    // 120 requested reviewers, bob the last: request = 1 is already satisfied.
    let mut requested: Vec<Value> = people(119)
        .iter()
        .map(|u| json!({ "requestedReviewer": { "__typename": "User", "login": u } }))
        .collect();
    requested.push(json!({ "requestedReviewer": { "__typename": "User", "login": "bob" } }));
    pr["reviewRequests"] = json!(requested);
    // 60 check suites of 130 runs each; the waiving run is the 130th of the 56th suite.
    let suites: Vec<Value> = (0..60)
        .map(|s| {
            let app = if s == 55 { "renovate-checks" } else { "ci" };
            let runs: Vec<Value> = (1..=130)
                .map(|r| {
                    let name = if s == 55 && r == 130 { "safe-update".to_string() } else { format!("job-{r}") };
                    json!({ "name": name, "status": "COMPLETED", "conclusion": "SUCCESS" })
                })
                .collect();
            json!({ "__typename": "CheckSuite", "id": format!("CS_{s}"), "app": { "slug": app }, "checkRuns": runs })
        })
        .collect();
    pr["commits"][0]["commit"]["checkSuites"] = json!(suites);
    run.graphql_world(
        json!({ "repository": { REPO: { "pullRequest": { NUMBER.to_string(): pr } } } }),
    )
    .await;
    run.expect_status("success", "1 scope approved, 1 waived")
        .await;
    let mut all = labels.iter().map(String::as_str).collect::<Vec<_>>();
    all.push("deps");
    run.expect_labels(&all).await;
    expect_no_reviewer_request(&run).await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    // Read; then labels, requests, suites 51-60 and the runs of every suite of the first page
    // in one query; then the runs of suites 51-60 in one more.
    let graphql = run.graphql_requests().await;
    assert_eq!(graphql.len(), 3, "{graphql:#?}");
    assert!(graphql[1].0.contains("labels(first: 100, after:"));
    assert!(graphql[1].0.contains("reviewRequests(first: 100, after:"));
    assert!(graphql[1].0.contains("checkSuites(first: 100, after:"));
    assert_eq!(
        graphql[1].0.matches("checkRuns(first: 100, after:").count(),
        50
    );
    assert_eq!(
        graphql[2].0.matches("checkRuns(first: 100, after:").count(),
        10
    );
}

#[test]
fn the_fake_holds_queries_to_githubs_schema() {
    let ok = "query($owner: String!, $name: String!, $number: Int!) { repository(owner: $owner, name: $name) { pullRequest(number: $number) { number } } }";
    let vars = json!({ "owner": "o", "name": "r", "number": 7 });
    assert!(validate(ok, &vars).is_ok());
    // A field GitHub does not have.
    let err = validate(&ok.replace("{ number }", "{ numbr }"), &vars).unwrap_err();
    assert!(err.contains("numbr"), "{err}");
    // A variable of the wrong type, or missing.
    assert!(validate(ok, &json!({ "owner": "o", "name": "r", "number": "7" })).is_err());
    assert!(validate(ok, &json!({ "owner": "o", "name": "r" })).is_err());
    // `reviews` needs no selection of a missing argument type; a wrong argument fails.
    let bad_arg = "query { repository(owner: \"o\", name: \"r\") { pullRequest(number: 7) { reviews(frist: 1) { nodes { state } } } } }";
    assert!(validate(bad_arg, &json!({})).is_err());
    // The fake pages like GitHub: more than 100 is an error, unknown cursors too.
    let fake = FakeGraphql::new(json!({ "organization": big_team(&people(3)) }));
    let q = |args: &str| {
        format!(
            "query {{ organization(login: \"octo\") {{ team(slug: \"big\") {{ members({args}) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ login }} }} }} }} }}"
        )
    };
    let page = fake.execute(&q("first: 2"), &json!({}));
    assert_eq!(
        page["data"]["organization"]["team"]["members"]["nodes"],
        json!([{ "login": "m001" }, { "login": "m002" }])
    );
    assert_eq!(
        page["data"]["organization"]["team"]["members"]["pageInfo"]["hasNextPage"],
        true
    );
    let next = fake.execute(
        &q(&format!("first: 2, after: {}", json!(cursor("members", 1)))),
        &json!({}),
    );
    assert_eq!(
        next["data"]["organization"]["team"]["members"]["nodes"],
        json!([{ "login": "m003" }])
    );
    assert!(fake.execute(&q("first: 101"), &json!({}))["errors"].is_array());
    assert!(fake.execute(&q("first: 2, after: \"forged\""), &json!({}))["errors"].is_array());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_before_120_comment_reviews_is_not_lost() {
    let (run, mut facts) = src_pr(
        "[[scopes]]\nname = \"core\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\nrequest = 1\n",
    )
    .await;
    facts.reviews = vec![review("alice", "APPROVED", "2026-01-01T00:00:00Z")];
    for i in 0..120 {
        facts.reviews.push(review(
            "alice",
            "COMMENTED",
            &format!("2026-01-02T00:{:02}:{:02}Z", i / 60, i % 60),
        ));
    }
    run.graphql_world(facts.world(json!({}))).await;
    run.expect_status("success", "1 scope approved").await;
    expect_no_reviewer_request(&run).await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
    // Read, reviews page 2, status.
    assert_eq!(run.request_count().await, 3);
}

// ---- Merge queues (issue 11 §3) ----

/// A merge queue: pull requests #7 (src/) and #9 (docs/) grouped on top of `main`, the checkout
/// at the group's head commit as actions/checkout leaves it on `merge_group`.
struct Queue {
    run: Run,
    base: String,
    heads: [String; 2],
    group_head: String,
}

async fn queue() -> Queue {
    let config = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\"]\nrequire = 1\n\n[[scopes]]\nname = \"docs\"\npaths = [\"docs/**\"]\nreviewers = [\"bob\"]\nrequire = 1\n";
    let repo = Repo::new();
    repo.write("CODEREVIEW.toml", config);
    repo.write("src/a.rs", "a\n");
    repo.write("docs/d.md", "d\n");
    let base = repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "pr7"]);
    repo.write("src/a.rs", "b\n");
    let head7 = repo.commit("pr 7");
    repo.git(&["checkout", "-q", "-b", "pr9", &base]);
    repo.write("docs/d.md", "e\n");
    let head9 = repo.commit("pr 9");
    let branch = format!("gh-readonly-queue/main/pr-9-{base}");
    repo.git(&["checkout", "-q", "-b", &branch, &head7]);
    repo.git(&["merge", "-q", "--no-edit", &head9]);
    let group_head = repo.git(&["rev-parse", "HEAD"]);
    let run = Run::new(repo, &group_head).await;
    Queue {
        run,
        base,
        heads: [head7, head9],
        group_head,
    }
}

impl Queue {
    /// The fake GitHub: both pull requests, and the queue with one more entry (another group).
    async fn github(&self, approvals: [Option<Value>; 2]) {
        let mut prs = serde_json::Map::new();
        for ((number, head), approval) in [7u64, 9].iter().zip(&self.heads).zip(approvals) {
            let mut facts = Facts::new(&self.base, head);
            facts.number = *number;
            facts.reviews = approval.into_iter().collect();
            prs.insert(number.to_string(), facts.pull_request());
        }
        let entry = |sha: &str, n: u64| json!({ "headCommit": { "oid": sha }, "pullRequest": { "number": n } });
        let world = json!({ "repository": { REPO: {
            "pullRequest": prs,
            "mergeQueue": { "main": { "entries": [
                entry(&self.group_head, 7),
                entry(&self.group_head, 9),
                entry("1111111111111111111111111111111111111111", 11),
            ] } },
        } } });
        self.run.graphql_world(world).await;
    }

    async fn status(&self) -> Output {
        let payload = json!({
            "action": "checks_requested",
            "merge_group": {
                "head_sha": self.group_head,
                "head_ref": format!("refs/heads/gh-readonly-queue/main/pr-9-{}", self.base),
                "base_sha": self.base,
                "base_ref": "refs/heads/main",
                "head_commit": { "id": self.group_head, "tree_id": self.base, "message": "Merge pull request #9" },
            },
            "repository": { "full_name": REPO },
        });
        let event = self.run.event_file("merge_group", &payload);
        self.run
            .exec(&[], self.run.vars("merge_group", event))
            .await
    }

    /// Every request but the GraphQL reads: only the group's status may be written.
    async fn writes(&self) -> Vec<String> {
        self.run
            .server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() != "/graphql")
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_group_passes_when_each_of_its_pull_requests_does() {
    let q = queue().await;
    q.github([
        Some(review("alice", "APPROVED", "2026-01-01T00:00:00Z")),
        Some(review("bob", "APPROVED", "2026-01-01T00:00:00Z")),
    ])
    .await;
    q.run
        .expect_status("success", "Merge group approved: #7, #9")
        .await;
    let out = q.status().await;
    assert_ok(&out);
    q.run.server.verify().await;
    assert_eq!(
        q.writes().await,
        vec![format!("POST /repos/{REPO}/statuses/{}", q.group_head)]
    );
    // The queue, then each pull request's read: #11 (another group) is not evaluated.
    let graphql = q.run.graphql_requests().await;
    assert_eq!(graphql.len(), 3, "{graphql:#?}");
    assert_eq!(graphql[0].1["branch"], "main");
    assert_eq!(graphql[1].1["number"], 7);
    assert_eq!(graphql[2].1["number"], 9);
    let summary = q.run.summary();
    assert!(summary.contains("### Pull request #7"), "{summary}");
    assert!(summary.contains("### Pull request #9"), "{summary}");
    assert_eq!(q.run.outputs(), "state=success\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_group_is_held_by_the_pull_request_that_blocks_and_names_it() {
    let q = queue().await;
    // #9 lost its approval after it was queued (e.g. the rules on main changed).
    q.github([
        Some(review("alice", "APPROVED", "2026-01-01T00:00:00Z")),
        None,
    ])
    .await;
    q.run
        .expect_status(
            "pending",
            "#9 pending: 1 scope pending: docs needs 1 more (bob)",
        )
        .await;
    let out = q.status().await;
    assert_ok(&out);
    q.run.server.verify().await;
    // Nothing is requested or labelled from the queue: the pull request's own runs do that.
    assert_eq!(
        q.writes().await,
        vec![format!("POST /repos/{REPO}/statuses/{}", q.group_head)]
    );
    assert!(
        stdout_of(&out).contains("#9: pending"),
        "{}",
        stdout_of(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_group_with_a_rejected_pull_request_fails() {
    let q = queue().await;
    q.github([
        Some(review("alice", "CHANGES_REQUESTED", "2026-01-01T00:00:00Z")),
        Some(review("bob", "APPROVED", "2026-01-01T00:00:00Z")),
    ])
    .await;
    q.run
        .expect_status(
            "failure",
            "#7 blocks: 1 scope rejected: backend has changes requested by alice",
        )
        .await;
    assert_ok(&q.status().await);
    q.run.server.verify().await;
}

fn stdout_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_queue_that_cannot_be_read_posts_nothing() {
    let q = queue().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("mergeQueue(branch: $branch)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": null,
            "errors": [ { "type": "FORBIDDEN", "message": "Resource not accessible by integration" } ]
        })))
        .expect(1)
        .mount(&q.run.server)
        .await;
    let out = q.status().await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read the merge queue of main: Resource not accessible"),
        "{}",
        stderr(&out)
    );
    q.run.server.verify().await;
    assert!(q.writes().await.is_empty(), "no status without a verdict");
}

// ---- Who gets asked, and approval checklists (issue 14 §1, §4) ----

const THREE_CANDIDATES: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\", \"carol\"]\nrequire = 1\nrequest = 1\n";

async fn three_candidates_pr() -> (Run, Facts) {
    let (repo, base, head) = pull_request_repo(
        &[("CODEREVIEW.toml", THREE_CANDIDATES), ("src/a.rs", "x\n")],
        &[("src/a.rs", "y\n")],
    );
    let run = Run::new(repo, &head).await;
    (run, Facts::new(&base, &head))
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_reviewers_are_skipped_in_one_extra_query() {
    let (run, facts) = three_candidates_pr().await;
    run.graphql_facts(&facts).await;
    run.expect_status(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob, carol)",
    )
    .await;
    run.graphql_availability(&["alice", "bob", "carol"], &["alice", "carol"], &[])
        .await;
    run.expect_reviewers(&["bob"]).await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    // read, availability, status, request.
    assert_eq!(run.request_count().await, 4);
    assert!(
        run.summary().contains("Away (not requested): alice, carol"),
        "{}",
        run.summary()
    );
    let queries = run.graphql_requests().await;
    assert!(
        !queries[1].0.contains("search("),
        "no load query unless balanced: {}",
        queries[1].0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn balanced_asks_whoever_has_the_fewest_open_review_requests() {
    // Two load tables with different winners: the pick follows the load, not the seed.
    for (load, picked) in [
        ([("alice", 7), ("bob", 3), ("carol", 1)], "carol"),
        ([("alice", 2), ("bob", 0), ("carol", 5)], "bob"),
    ] {
        let (run, facts) = three_candidates_pr().await;
        run.graphql_facts(&facts).await;
        run.expect_status(
            "pending",
            "1 scope pending: backend needs 1 more (alice, bob, carol)",
        )
        .await;
        run.graphql_availability(&["alice", "bob", "carol"], &[], &load)
            .await;
        run.expect_reviewers(&[picked]).await;
        let out = run.status(&["--request-strategy", "balanced"], &[]).await;
        assert_ok(&out);
        run.server.verify().await;
        assert_eq!(run.request_count().await, 4);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_counts_only_with_the_checklist_in_its_review_body() {
    const CHECKLISTED: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\n\
        checklist = { items = [{ label = \"Migrations reviewed\" }] }\n";
    for (body, state, description) in [
        (
            "LGTM",
            "pending",
            "1 scope pending: backend needs 1 more (alice, bob); alice approved backend without checking 'Migrations reviewed'",
        ),
        (
            "Checklist: backend\n- [x] Migrations reviewed",
            "success",
            "1 scope approved",
        ),
    ] {
        let (repo, base, head) = pull_request_repo(
            &[("CODEREVIEW.toml", CHECKLISTED), ("src/a.rs", "x\n")],
            &[("src/a.rs", "y\n")],
        );
        let run = Run::new(repo, &head).await;
        let mut facts = Facts::new(&base, &head);
        let mut approval = review("alice", "APPROVED", "2026-01-02T00:00:00Z");
        approval["body"] = json!(body);
        facts.reviews = vec![approval];
        run.graphql_facts(&facts).await;
        run.expect_status(state, description).await;
        // The instructions comment carries the checklist to copy.
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/issues/{NUMBER}/comments")))
            .and(Run::auth())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(1)
            .mount(&run.server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/repos/{REPO}/issues/{NUMBER}/comments")))
            .and(Run::auth())
            .and(body_string_contains("- [ ] Migrations reviewed"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
            .expect(1)
            .mount(&run.server)
            .await;
        let out = run.status(&[], &[]).await;
        assert_ok(&out);
        run.server.verify().await;
        // GitHub's review bodies come with the reviews: no extra request.
        assert_eq!(run.request_count().await, 4);
    }
}
