//! End-to-end: the real `codereview status` binary, run as GitHub Actions runs it (env vars, an
//! event file from real webhook fixtures, a real git checkout), against a fake GitHub
//! (wiremock) that checks the method, path, `Authorization` header and body of every call.

mod ci_support;

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

    fn json(&self) -> Value {
        let suites: Vec<Value> = self
            .checks
            .iter()
            .map(|(app, name, status, conclusion)| {
                json!({ "app": { "slug": app }, "checkRuns": { "nodes": [ { "name": name, "status": status, "conclusion": conclusion } ] } })
            })
            .collect();
        json!({ "data": { "repository": { "pullRequest": {
            "number": NUMBER,
            "isDraft": self.draft,
            "headRefOid": self.head,
            "baseRefOid": self.base,
            "baseRefName": "main",
            "author": { "__typename": "User", "login": self.author },
            "labels": { "nodes": self.labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>() },
            "reviewRequests": { "nodes": self.requested.iter().map(|r| json!({ "requestedReviewer": { "__typename": "User", "login": r } })).collect::<Vec<_>>() },
            "reviews": { "nodes": self.reviews },
            "commits": { "nodes": [ { "commit": { "checkSuites": { "nodes": suites } } } ] }
        } } } })
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
        Run {
            repo,
            head: head.to_string(),
            server: MockServer::start().await,
            files: tempfile::tempdir().unwrap(),
        }
    }

    fn auth() -> wiremock::matchers::HeaderExactMatcher {
        header("authorization", format!("Bearer {TOKEN}").as_str())
    }

    async fn graphql_facts(&self, facts: &Facts) {
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(Self::auth())
            .and(body_string_contains("pullRequest(number: $number)"))
            .and(body_string_contains(r#""number":7"#))
            .respond_with(ResponseTemplate::new(200).set_body_json(facts.json()))
            .expect(1)
            .mount(&self.server)
            .await;
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
    run.expect_reviewers(&["alice"]).await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(run.outputs().contains("pending-scopes=backend\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn change_request_rejects() {
    let (run, mut facts) = backend_pr().await;
    facts.labels = vec!["backend"];
    facts.reviews = vec![
        review("alice", "APPROVED", "2026-01-01T00:00:00Z"),
        review("bob", "CHANGES_REQUESTED", "2026-01-02T00:00:00Z"),
    ];
    run.graphql_facts(&facts).await;
    run.expect_status(
        "failure",
        "1 scope rejected: backend has changes requested by bob",
    )
    .await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(run.outputs().starts_with("state=failure\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn successful_check_waives_the_scope() {
    let (repo, base, head) = pull_request_repo(
        &[(
            "CODEREVIEW.toml",
            "[[scopes]]\nname = \"deps\"\npaths = [\"Cargo.lock\"]\nreviewers = [\"alice\"]\nrequire = 1\nunless = [\"renovate-checks/safe-update\"]\n",
        )],
        &[("Cargo.lock", "v2\n")],
    );
    let run = Run::new(repo, &head).await;
    let mut facts = Facts::new(&base, &head);
    facts.checks = vec![
        ("renovate-checks", "safe-update", "COMPLETED", "SUCCESS"),
        ("other", "lint", "COMPLETED", "FAILURE"),
    ];
    run.graphql_facts(&facts).await;
    run.expect_status("success", "1 scope waived").await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_check_does_not_waive() {
    let (repo, base, head) = pull_request_repo(
        &[(
            "CODEREVIEW.toml",
            "[[scopes]]\nname = \"deps\"\npaths = [\"Cargo.lock\"]\nreviewers = [\"alice\"]\nrequire = 1\nunless = [\"renovate-checks/safe-update\"]\n",
        )],
        &[("Cargo.lock", "v2\n")],
    );
    let run = Run::new(repo, &head).await;
    let mut facts = Facts::new(&base, &head);
    facts.checks = vec![("renovate-checks", "safe-update", "COMPLETED", "FAILURE")];
    run.graphql_facts(&facts).await;
    run.expect_status("pending", "1 scope pending: deps needs 1 more (alice)")
        .await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
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
async fn large_scale_change_is_one_scope() {
    let config = "[large_scale_change]\nreviewers = [\"lead\"]\n\n[[scopes]]\nname = \"all\"\npaths = [\"**\"]\nreviewers = [\"alice\"]\nrequire = 1\n";
    let changes: Vec<(String, String)> = (0..301)
        .map(|i| (format!("f/{i}.txt"), "x\n".into()))
        .collect();
    let changes: Vec<(&str, &str)> = changes
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (repo, base, head) = pull_request_repo(&[("CODEREVIEW.toml", config)], &changes);
    let run = Run::new(repo, &head).await;
    run.graphql_facts(&Facts::new(&base, &head)).await;
    run.expect_status(
        "pending",
        "Large-scale change: 1 scope pending: Large-scale change needs 1 more (lead)",
    )
    .await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
    assert!(run.summary().contains("large-scale change"));
}

#[tokio::test(flavor = "multi_thread")]
async fn large_scale_change_without_reviewers_is_a_clear_failure() {
    let changes: Vec<(String, String)> = (0..5)
        .map(|i| (format!("f/{i}.txt"), "x\n".into()))
        .collect();
    let changes: Vec<(&str, &str)> = changes
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (repo, base, head) = pull_request_repo(&[("CODEREVIEW.toml", CONFIG)], &changes);
    let run = Run::new(repo, &head).await;
    run.graphql_facts(&Facts::new(&base, &head)).await;
    run.expect_status(
        "failure",
        "Large-scale change: configuration required (no reviewers defined)",
    )
    .await;
    let out = run.status(&["--large-scale-files", "3"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_cannot_loosen_its_own_rules() {
    let loosened =
        "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"*\"]\nrequire = 0\n";
    let (repo, base, head) = pull_request_repo(
        &[("CODEREVIEW.toml", CONFIG), ("src/a.rs", "a\n")],
        &[("CODEREVIEW.toml", loosened), ("src/a.rs", "b\n")],
    );
    let run = Run::new(repo, &head).await;
    run.graphql_facts(&Facts::new(&base, &head)).await;
    // The base branch's rules apply: backend still needs alice or bob. The PR's CODEREVIEW.toml
    // is owned by no scope of the base rules, so it does not block on its own.
    run.expect_status(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob)",
    )
    .await;
    run.expect_labels(&["backend"]).await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
    assert!(run.summary().contains("base branch's"), "{}", run.summary());
}

#[tokio::test(flavor = "multi_thread")]
async fn summary_says_how_many_changed_lines_are_mechanical() {
    let (repo, base, head) = pull_request_repo(
        &[
            ("CODEREVIEW.toml", CONFIG),
            ("src/a.rs", "fn a() {}\n"),
            ("Cargo.lock", "a = 1\n"),
        ],
        &[
            ("src/a.rs", "fn a() { b() }\n"),
            ("Cargo.lock", "a = 1\nb = 2\nc = 3\n"),
        ],
    );
    let run = Run::new(repo, &head).await;
    run.graphql_facts(&Facts::new(&base, &head)).await;
    run.expect_status(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob)",
    )
    .await;
    run.expect_labels(&["backend"]).await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
    // The lockfile's 2 added lines are mechanical; src/a.rs's 2 changed lines are not.
    assert!(
        run.summary()
            .contains("2 of 4 changed lines are mechanical"),
        "{}",
        run.summary()
    );
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
async fn invalid_config_posts_a_failure_naming_file_and_line() {
    let bad = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"$missing\"]\n";
    let (repo, base, head) = pull_request_repo(&[("CODEREVIEW.toml", bad)], &[("src/a.rs", "x\n")]);
    let run = Run::new(repo, &head).await;
    run.graphql_facts(&Facts::new(&base, &head)).await;
    run.expect_status(
        "failure",
        "Invalid config: CODEREVIEW.toml:4:14: scope 'backend': Unknown alias: $missing",
    )
    .await;
    let out = run.status(&[], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("CODEREVIEW.toml:4:14"));
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
async fn dry_run_writes_nothing() {
    let (run, facts) = backend_pr().await;
    run.graphql_facts(&facts).await;
    let out = run.status(&["--dry-run"], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert_eq!(run.request_count().await, 1, "only the read");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("pending: 1 scope pending: backend needs 1 more (alice, bob)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| backend | ⏳ pending | 0/1 |"),
        "{stdout}"
    );
    assert!(run.summary().is_empty() && run.outputs().is_empty());
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

#[tokio::test(flavor = "multi_thread")]
async fn a_shallow_checkout_is_deepened_from_origin() {
    // The "GitHub" side: the full history, base on main and the PR on feature.
    let (origin, base, head) = pull_request_repo(
        &[
            ("CODEREVIEW.toml", CONFIG),
            ("src/a.rs", "a\n"),
            ("docs/x.md", "x\n"),
        ],
        &[("src/a.rs", "b\n")],
    );
    origin.git(&["config", "uploadpack.allowAnySHA1InWant", "true"]);
    // The runner's side: actions/checkout's default, one commit of the base branch.
    let checkout = Repo::new();
    let url = format!("file://{}", origin.path().display());
    checkout.git(&["fetch", "-q", "--depth=1", &url, "main"]);
    checkout.git(&["reset", "-q", "--hard", "FETCH_HEAD"]);
    checkout.git(&["remote", "add", "origin", &url]);
    assert_eq!(
        checkout.git(&["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    assert!(
        std::process::Command::new("git")
            .current_dir(checkout.path())
            .args(["cat-file", "-e", &head])
            .status()
            .is_ok_and(|s| !s.success()),
        "the head commit is not in the shallow checkout yet"
    );
    let run = Run::new(checkout, &head).await;
    let mut facts = Facts::new(&base, &head);
    facts.labels = vec!["backend"];
    facts.reviews = vec![review("alice", "APPROVED", "2026-01-01T00:00:00Z")];
    run.graphql_facts(&facts).await;
    run.expect_status("success", "1 scope approved").await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;
    // The diff came from git, not from the API: one read, one status.
    assert_eq!(run.request_count().await, 2);
    assert!(
        run.summary().contains("1 file changed"),
        "{}",
        run.summary()
    );
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
async fn instructions_comment_is_edited_when_stale_and_left_alone_when_current() {
    let stale =
        "<!-- codereview:instructions -->\n\n#### Review instructions: docs\n\nPreview the site.\n";
    let run = instructed_pr(
        json!([{ "id": 11, "body": stale, "user": { "login": "github-actions[bot]" } }]),
    )
    .await;
    expect_instructions_write(&run, "PATCH", format!("/repos/{REPO}/issues/comments/11")).await;
    assert_ok(&run.status(&[], &[]).await);
    run.server.verify().await;

    let run = instructed_pr(json!([{ "id": 11, "body": INSTRUCTIONS_BODY, "user": { "login": "github-actions[bot]" } }])).await;
    let out = run.status(&[], &[]).await;
    assert_ok(&out);
    run.server.verify().await;
    let writes: Vec<_> = run
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.method.as_str() != "GET"
                && !r.url.path().ends_with("/graphql")
                && !r.url.path().contains("/statuses/")
        })
        .collect();
    assert!(
        writes.is_empty(),
        "an up-to-date comment is not rewritten: {writes:?}"
    );
}
