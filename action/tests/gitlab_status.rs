//! End-to-end: the real `codereview status` binary, run as GitLab CI runs it in a merge request
//! pipeline (the runner's variables, a real git checkout), against a fake GitLab (wiremock) that
//! checks the method, path, query, `PRIVATE-TOKEN` header and body of every call. A catch-all
//! mock answers anything else with 418 and must never be hit, so no unexpected call slips by.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

mod ci_support;

use ci_support::{Repo, pull_request_repo, run_status, stderr, stdout};
use serde_json::{Value, json};
use std::process::Output;
use wiremock::matchers::{any, body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "glpat-test-token-123";
const PROJECT: u64 = 42;
const IID: u64 = 7;
const PIPELINE: u64 = 1001;
const JOB_URL: &str = "https://gitlab.example.com/acme/app/-/jobs/555";

const CONFIG: &str = r#"
[[scopes]]
name = "backend"
paths = ["src/**"]
reviewers = ["alice", "bob"]
require = 1
labels = ["backend"]
"#;

/// What the fake GitLab says about the merge request.
struct Mr {
    author: &'static str,
    head: String,
    base: String,
    draft: bool,
    labels: Vec<&'static str>,
    /// (id, username) of the current reviewers.
    reviewers: Vec<(u64, &'static str)>,
    /// (id, username) of the approvers.
    approved_by: Vec<(u64, &'static str)>,
    /// (id, username, state) from `GET .../reviewers` (GitLab 17 review states).
    reviewer_states: Vec<(u64, &'static str, &'static str)>,
    /// (stage, name, status, commit) of the head pipeline's jobs.
    jobs: Vec<(&'static str, &'static str, &'static str, String)>,
    head_pipeline: Option<u64>,
    /// The merge commit when the head pipeline is a merged results pipeline.
    merge_commit: Option<String>,
}

fn user(id: u64, name: &str) -> Value {
    json!({ "id": id, "username": name, "name": name, "state": "active", "web_url": format!("https://gitlab.example.com/{name}") })
}

impl Mr {
    fn new(base: &str, head: &str) -> Self {
        Mr {
            author: "dana",
            head: head.to_string(),
            base: base.to_string(),
            draft: false,
            labels: vec![],
            reviewers: vec![],
            approved_by: vec![],
            reviewer_states: vec![],
            jobs: vec![],
            head_pipeline: Some(PIPELINE),
            merge_commit: None,
        }
    }

    fn json(&self) -> Value {
        json!({
            "id": 90007, "iid": IID, "project_id": PROJECT, "state": "opened",
            "title": "Change", "sha": self.head,
            "draft": self.draft, "work_in_progress": self.draft,
            "author": user(1, self.author),
            "source_branch": "feature", "target_branch": "main",
            "references": { "short": format!("!{IID}"), "full": format!("acme/app!{IID}") },
            "labels": self.labels,
            "reviewers": self.reviewers.iter().map(|(id, n)| user(*id, n)).collect::<Vec<_>>(),
            "diff_refs": { "base_sha": self.base, "head_sha": self.head, "start_sha": self.base },
            "head_pipeline": self.head_pipeline.map(|id| match &self.merge_commit {
                None => json!({ "id": id, "sha": self.head, "ref": "feature", "status": "running" }),
                Some(merge) => json!({ "id": id, "sha": merge, "ref": format!("refs/merge-requests/{IID}/merge"), "status": "running" }),
            }),
        })
    }
}

/// A prepared run: checkout, fake GitLab.
struct Run {
    repo: Repo,
    head: String,
    server: MockServer,
    /// Where the API lives on the fake server (`/api/v4`, or under a relative URL root).
    prefix: String,
}

impl Run {
    async fn new(repo: Repo, head: &str) -> Self {
        Self::with_prefix(repo, head, "/api/v4").await
    }

    async fn with_prefix(repo: Repo, head: &str, prefix: &str) -> Self {
        let run = Run {
            repo,
            head: head.to_string(),
            server: MockServer::start().await,
            prefix: prefix.to_string(),
        };
        // Anything not asserted below is a failure.
        Mock::given(any())
            .respond_with(ResponseTemplate::new(418).set_body_string("unexpected call"))
            .with_priority(u8::MAX)
            .expect(0)
            .named("unexpected call")
            .mount(&run.server)
            .await;
        run
    }

    fn api(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn token() -> wiremock::matchers::HeaderExactMatcher {
        header("PRIVATE-TOKEN", TOKEN)
    }

    /// The crate's token check when the client is built.
    async fn current_user(&self) {
        Mock::given(method("GET"))
            .and(path(self.api("/user")))
            .and(Self::token())
            .respond_with(ResponseTemplate::new(200).set_body_json(user(99, "project_42_bot_4f2a")))
            .expect(1)
            .named("GET /user")
            .mount(&self.server)
            .await;
    }

    /// The token check and the reads of a whole evaluation.
    async fn facts(&self, mr: &Mr) {
        self.current_user().await;
        Mock::given(method("GET"))
            .and(path(
                self.api(&format!("/projects/{PROJECT}/merge_requests/{IID}")),
            ))
            .and(Self::token())
            .respond_with(ResponseTemplate::new(200).set_body_json(mr.json()))
            .expect(1)
            .named("GET merge request")
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(self.api(&format!(
                "/projects/{PROJECT}/merge_requests/{IID}/approvals"
            ))))
            .and(Self::token())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": 90007, "iid": IID, "approvals_required": 0, "approvals_left": 0,
                "approved_by": mr.approved_by.iter().map(|(id, n)| json!({ "user": user(*id, n) })).collect::<Vec<_>>(),
            })))
            .expect(1)
            .named("GET approvals")
            .mount(&self.server)
            .await;
        let reviewers = mr
            .reviewer_states
            .iter()
            .map(|(id, n, s)| json!({ "user": user(*id, n), "state": s, "created_at": "2026-01-01T00:00:00Z" }))
            .collect();
        self.pages(
            &format!("/projects/{PROJECT}/merge_requests/{IID}/reviewers"),
            &[],
            reviewers,
        )
        .await;
        // Without a head pipeline the jobs come from the job's own pipeline (CI_PIPELINE_ID),
        // which runs on the head commit in these tests.
        {
            let pipeline = mr.head_pipeline.unwrap_or(PIPELINE);
            let jobs: Vec<Value> = mr
                .jobs
                .iter()
                .enumerate()
                .map(|(i, (stage, name, status, sha))| {
                    json!({ "id": 500 + i, "stage": stage, "name": name, "status": status,
                            "commit": { "id": sha }, "pipeline": { "id": pipeline, "sha": sha } })
                })
                .collect();
            self.pages(
                &format!("/projects/{PROJECT}/pipelines/{pipeline}/jobs"),
                &[],
                jobs,
            )
            .await;
        }
    }

    /// A list GitLab pages, served as GitLab serves it: `per_page=100` pages with the `x-page`,
    /// `x-next-page`, `x-total`... headers and a `Link` header; each page read exactly once
    /// (a full last page is followed by an empty one, as a client that counts must ask).
    async fn pages(&self, api_path: &str, query: &[(&str, &str)], items: Vec<Value>) {
        let total = items.len();
        let pages =
            total.div_ceil(100).max(1) + usize::from(total > 0 && total.is_multiple_of(100));
        let url = format!("{}{}", self.server.uri(), self.api(api_path));
        for page in 1..=pages {
            let body: Vec<Value> = items
                .iter()
                .skip((page - 1) * 100)
                .take(100)
                .cloned()
                .collect();
            let last = total.div_ceil(100).max(1);
            let next = if page < last {
                (page + 1).to_string()
            } else {
                String::new()
            };
            let link =
                |p: usize, rel: &str| format!("<{url}?page={p}&per_page=100>; rel=\"{rel}\"");
            let mut links = vec![link(1, "first"), link(last, "last")];
            if page < last {
                links.insert(0, link(page + 1, "next"));
            }
            if page > 1 {
                links.insert(0, link(page - 1, "prev"));
            }
            let mut mock = Mock::given(method("GET"))
                .and(path(self.api(api_path)))
                .and(query_param("per_page", "100"))
                .and(query_param("page", page.to_string()))
                .and(Self::token());
            for (k, v) in query {
                mock = mock.and(query_param(*k, *v));
            }
            mock.respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-page", page.to_string())
                    .insert_header("x-per-page", "100")
                    .insert_header("x-next-page", next)
                    .insert_header(
                        "x-prev-page",
                        if page > 1 {
                            (page - 1).to_string()
                        } else {
                            String::new()
                        },
                    )
                    .insert_header("x-total", total.to_string())
                    .insert_header("x-total-pages", last.to_string())
                    .insert_header("link", links.join(", "))
                    .set_body_json(body),
            )
            .expect(1)
            .named(format!("GET {api_path} page {page}"))
            .mount(&self.server)
            .await;
        }
    }

    /// The form body GitLab gets for the commit status (the crate's field order).
    fn status_body(state: &str, description: &str, pipeline: bool) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("state", state)
            .append_pair("name", "codereview")
            .append_pair("target_url", JOB_URL)
            .append_pair("description", description);
        if pipeline {
            form.append_pair("pipeline_id", &PIPELINE.to_string());
        }
        form.finish()
    }

    async fn expect_status(&self, state: &str, description: &str) {
        self.expect_status_answer(
            state,
            description,
            ResponseTemplate::new(201).set_body_json(json!({ "id": 1, "status": state })),
        )
        .await;
    }

    async fn expect_status_answer(&self, state: &str, description: &str, answer: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(
                self.api(&format!("/projects/{PROJECT}/statuses/{}", self.head)),
            ))
            .and(Self::token())
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string(Self::status_body(state, description, true)))
            .respond_with(answer)
            .expect(1)
            .named("POST status")
            .mount(&self.server)
            .await;
    }

    async fn expect_edit(&self, body: &str) {
        Mock::given(method("PUT"))
            .and(path(
                self.api(&format!("/projects/{PROJECT}/merge_requests/{IID}")),
            ))
            .and(Self::token())
            .and(body_string(body))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "iid": IID })))
            .expect(1)
            .named(format!("PUT merge request {body}"))
            .mount(&self.server)
            .await;
    }

    /// GitLab's GraphQL endpoint (`/api/graphql` at the instance root), asked once for the
    /// availability (and, when `load` is given, the open review requests in `acme/app`) of
    /// the people a `request` could pick. The answer is built from the usernames the query
    /// names, so a wrong variable shows as a wrong pick.
    async fn expect_availability(
        &self,
        busy: &[&'static str],
        load: Option<Vec<(&'static str, u64)>>,
    ) {
        let root = self.prefix.trim_end_matches("/api/v4").to_string();
        let busy: Vec<String> = busy.iter().map(|b| b.to_string()).collect();
        let with_load = load.is_some();
        let mut matcher = Mock::given(method("POST"))
            .and(path(format!("{root}/api/graphql")))
            .and(Self::token())
            .and(header("content-type", "application/json"))
            .and(body_string_contains_all(&[
                "users(usernames: $usernames",
                "status { availability }",
            ]));
        if with_load {
            matcher = matcher.and(body_string_contains_all(&[
                r#"reviewRequestedMergeRequests(projectPath: \"acme/app\", state: opened) { count }"#,
            ]));
        }
        matcher
            .respond_with(move |request: &wiremock::Request| {
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let nodes: Vec<Value> = body["variables"]["usernames"]
                    .as_array()
                    .expect("usernames is a list")
                    .iter()
                    .map(|u| {
                        let name = u.as_str().expect("a username").to_string();
                        let availability = if busy.contains(&name) {
                            "BUSY"
                        } else {
                            "NOT_SET"
                        };
                        let mut node =
                            json!({ "username": name, "status": { "availability": availability } });
                        if let Some(load) = &load {
                            let count =
                                load.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c);
                            node["reviewRequestedMergeRequests"] = json!({ "count": count });
                        }
                        node
                    })
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "data": { "users": { "nodes": nodes } } }))
            })
            .expect(1)
            .named("POST /api/graphql (availability)")
            .mount(&self.server)
            .await;
    }

    async fn expect_user_lookup(&self, username: &str, id: u64) {
        Mock::given(method("GET"))
            .and(path(self.api("/users")))
            .and(query_param("username", username))
            .and(Self::token())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([user(id, username)])))
            .expect(1)
            .named(format!("GET /users?username={username}"))
            .mount(&self.server)
            .await;
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITLAB_CI", "true".into()),
            (
                "CI_API_V4_URL",
                format!("{}{}", self.server.uri(), self.prefix),
            ),
            ("CI_PROJECT_ID", PROJECT.to_string()),
            ("CI_MERGE_REQUEST_IID", IID.to_string()),
            ("CI_COMMIT_SHA", self.head.clone()),
            ("CI_PIPELINE_ID", PIPELINE.to_string()),
            ("CI_JOB_URL", JOB_URL.into()),
            ("CI_PROJECT_DIR", self.repo.path().display().to_string()),
            ("CODEREVIEW_GITLAB_TOKEN", TOKEN.into()),
        ]
    }

    async fn status(&self, extra_args: &[&str]) -> Output {
        self.exec(extra_args, self.vars()).await
    }

    async fn exec(&self, extra_args: &[&str], vars: Vec<(&'static str, String)>) -> Output {
        run_status(extra_args, vars).await
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(self.repo.path().join("codereview-summary.md")).unwrap_or_default()
    }

    fn dotenv(&self) -> String {
        std::fs::read_to_string(self.repo.path().join("codereview.env")).unwrap_or_default()
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
        stdout(o),
        stderr(o)
    );
}

async fn backend_mr() -> (Run, Mr) {
    let (repo, base, head) = pull_request_repo(
        &[("CODEREVIEW.toml", CONFIG), ("src/a.rs", "fn a() {}\n")],
        &[("src/a.rs", "fn a() { b() }\n")],
    );
    let run = Run::new(repo, &head).await;
    let mr = Mr::new(&base, &head);
    (run, mr)
}

#[tokio::test(flavor = "multi_thread")]
async fn approved_merge_request_gets_success() {
    let (run, mut mr) = backend_mr().await;
    mr.labels = vec!["triage"];
    mr.approved_by = vec![(2, "alice")];
    mr.reviewer_states = vec![(2, "alice", "approved")];
    run.facts(&mr).await;
    run.expect_status("success", "1 scope approved").await;
    run.expect_edit("add_labels=backend").await;
    let out = run.status(&[]).await;
    assert_ok(&out);
    run.server.verify().await;
    // user, merge request, approvals, reviewers, jobs, status, labels.
    assert_eq!(run.request_count().await, 7);
    let summary = run.summary();
    assert!(summary.contains("## codereview: ✅ success"), "{summary}");
    assert!(
        summary.contains("| backend | ✅ approved by alice | 1/1 | alice, bob | `src/a.rs` |"),
        "{summary}"
    );
    // The same Markdown is in the job log.
    assert!(stdout(&out).contains(summary.trim()), "{}", stdout(&out));
    assert_eq!(
        run.dotenv(),
        "CODEREVIEW_STATE=success\nCODEREVIEW_APPROVED_SCOPES=backend\nCODEREVIEW_PENDING_SCOPES=\nCODEREVIEW_REJECTED_SCOPES=\n"
    );
    assert!(!run.repo.path().join("codereview.outputs.tmp").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_merge_request_requests_a_reviewer_and_keeps_the_others() {
    let (repo, base, head) = pull_request_repo(
        &[(
            "CODEREVIEW.toml",
            "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"dana\"]\nalternates = [\"bob\"]\nrequire = 1\nrequest = 1\n",
        )],
        &[("src/a.rs", "x\n")],
    );
    let run = Run::new(repo, &head).await;
    let mut mr = Mr::new(&base, &head);
    // zed is already a reviewer but cannot approve this scope: alice must still be asked, and
    // zed must stay on the list (a PUT of reviewer_ids replaces it).
    mr.reviewers = vec![(3, "zed")];
    mr.reviewer_states = vec![(3, "zed", "unreviewed")];
    run.facts(&mr).await;
    run.expect_status(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob)",
    )
    .await;
    run.expect_availability(&[], None).await;
    run.expect_user_lookup("alice", 5).await;
    run.expect_edit("reviewer_ids%5B%5D=3&reviewer_ids%5B%5D=5")
        .await;
    let out = run.status(&[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(run.dotenv().contains("CODEREVIEW_PENDING_SCOPES=backend\n"));
    assert!(
        stdout(&out).contains("## codereview: ⏳ pending"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bot_approvals_never_count() {
    let (run, mut mr) = backend_mr().await;
    mr.labels = vec!["backend"];
    mr.approved_by = vec![(9, "project_42_bot_4f2a"), (10, "ghost")];
    run.facts(&mr).await;
    run.expect_status(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob)",
    )
    .await;
    assert_ok(&run.status(&[]).await);
    run.server.verify().await;
}

const UNLESS: &str = "[[scopes]]\nname = \"deps\"\npaths = [\"Cargo.lock\"]\nreviewers = [\"alice\"]\nrequire = 1\nunless = [\"test/safe-update\"]\n";

#[tokio::test(flavor = "multi_thread")]
async fn jobs_that_failed_or_ran_on_another_commit_do_not_waive() {
    let (repo, base, head) =
        pull_request_repo(&[("CODEREVIEW.toml", UNLESS)], &[("Cargo.lock", "v2\n")]);
    let run = Run::new(repo, &head).await;
    let mut mr = Mr::new(&base, &head);
    mr.jobs = vec![
        // Same job on an older commit, and a stage that does not match.
        ("test", "safe-update", "success", base.clone()),
        ("build", "safe-update", "success", head.clone()),
        ("test", "safe-update", "failed", head.clone()),
    ];
    run.facts(&mr).await;
    run.expect_status("pending", "1 scope pending: deps needs 1 more (alice)")
        .await;
    assert_ok(&run.status(&[]).await);
    run.server.verify().await;
}

const GROUP_CONFIG: &str = "[[scopes]]\nname = \"core\"\npaths = [\"**\"]\nreviewers = [\"@acme/platform\"]\nrequire = 2\nrequest = 2\n";

#[tokio::test(flavor = "multi_thread")]
async fn subgroups_are_expanded_through_the_api_across_pages() {
    let (repo, base, head) =
        pull_request_repo(&[("CODEREVIEW.toml", GROUP_CONFIG)], &[("x.txt", "x\n")]);
    let run = Run::new(repo, &head).await;
    let mut mr = Mr::new(&base, &head);
    mr.approved_by = vec![(7, "carol")];
    run.facts(&mr).await;
    // 100 members on the first page (one of them a project bot), carol on the second.
    let page1: Vec<Value> = (0..99)
        .map(|i| user(1000 + i, &format!("m{i:02}")))
        .chain(std::iter::once(user(9, "project_42_bot_4f2a")))
        .collect();
    let members_path = run.api("/groups/acme%2Fplatform/members");
    for (page, body) in [("1", json!(page1)), ("2", json!([user(7, "carol")]))] {
        Mock::given(method("GET"))
            .and(path(members_path.as_str()))
            .and(query_param("per_page", "100"))
            .and(query_param("page", page))
            .and(Run::token())
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .named(format!("GET group members page {page}"))
            .mount(&run.server)
            .await;
    }
    run.expect_status(
        "pending",
        "1 scope pending: core needs 1 more (m00, m01, m02 +96)",
    )
    .await;
    // carol approved, so one more is requested, picked deterministically (seeded by the merge
    // request's iid): m98. Its id comes from the member list, so there is no user lookup.
    run.expect_availability(&[], None).await;
    run.expect_edit("reviewer_ids%5B%5D=1098").await;
    let out = run.status(&[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(run.summary().contains("carol"), "{}", run.summary());
    // user, MR, approvals, reviewers, jobs, 2 member pages, availability, status, PUT.
    assert_eq!(run.request_count().await, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_group_fails_with_the_missing_permission() {
    let (repo, base, head) =
        pull_request_repo(&[("CODEREVIEW.toml", GROUP_CONFIG)], &[("x.txt", "x\n")]);
    let run = Run::new(repo, &head).await;
    run.facts(&Mr::new(&base, &head)).await;
    Mock::given(method("GET"))
        .and(path(run.api("/groups/acme%2Fplatform/members")))
        .and(Run::token())
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({ "message": "404 Group Not Found" })),
        )
        .expect(1)
        .mount(&run.server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            run.api(&format!("/projects/{PROJECT}/statuses/{head}")),
        ))
        .and(Run::token())
        .and(body_string_contains_all(&[
            "state=failed",
            "name=codereview",
            // The description starts by naming the group (cut to 140 characters).
            "description=cannot+read+the+members+of+GitLab+group+%40acme%2Fplatform",
        ]))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(1)
        .mount(&run.server)
        .await;
    let out = run.status(&[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("@acme/platform"), "{err}");
    assert!(err.contains("(404 Group Not Found)"), "{err}");
    assert!(err.contains("group access token"), "{err}");
    run.server.verify().await;
}

/// Matches a body containing every fragment.
fn body_string_contains_all(fragments: &[&str]) -> impl wiremock::Match + use<> {
    let fragments: Vec<String> = fragments.iter().map(|s| s.to_string()).collect();
    move |r: &wiremock::Request| {
        let body = String::from_utf8_lossy(&r.body);
        fragments.iter().all(|f| body.contains(f.as_str()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_token_and_missing_merge_request_are_one_line_and_exit_2() {
    let (run, _) = backend_mr().await;
    let without = |name: &str| -> Vec<(&'static str, String)> {
        run.vars().into_iter().filter(|(k, _)| *k != name).collect()
    };

    let out = run.exec(&[], without("CODEREVIEW_GITLAB_TOKEN")).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("no GitLab token"), "{err}");
    for needed in [
        "CI_JOB_TOKEN",
        "cannot post commit statuses or read approvals",
        "project access token",
        "Developer",
        "api",
        "masked CI/CD variable named CODEREVIEW_GITLAB_TOKEN",
    ] {
        assert!(err.contains(needed), "{needed}: {err}");
    }

    // A branch pipeline has no merge request.
    let out = run.exec(&[], without("CI_MERGE_REQUEST_IID")).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a merge request pipeline"), "{err}");
    assert!(err.contains("merge_request_event"), "{err}");

    assert_eq!(run.request_count().await, 0, "nothing reached GitLab");
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried() {
    let (run, mut mr) = backend_mr().await;
    mr.labels = vec!["backend"];
    mr.approved_by = vec![(4, "bob")];
    // The token check, a read and the status write each fail before they succeed.
    Mock::given(method("GET"))
        .and(path(run.api("/user")))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&run.server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            run.api(&format!("/projects/{PROJECT}/merge_requests/{IID}")),
        ))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({ "message": "500 Internal Server Error" })),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&run.server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            run.api(&format!("/projects/{PROJECT}/statuses/{}", run.head)),
        ))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&run.server)
        .await;
    run.facts(&mr).await;
    run.expect_status("success", "1 scope approved").await;
    let started = std::time::Instant::now();
    assert_ok(&run.status(&[]).await);
    run.server.verify().await;
    assert!(started.elapsed().as_secs() < 10, "backoff stays short");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_keeps_failing_gives_up_with_a_clear_error() {
    let (run, _) = backend_mr().await;
    Mock::given(method("GET"))
        .and(path(run.api("/user")))
        .and(Run::token())
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .expect(4)
        .mount(&run.server)
        .await;
    let out = run.status(&[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("answered 503 to GET /user: maintenance"),
        "{err}"
    );
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_token_is_a_clear_error() {
    let (run, _) = backend_mr().await;
    Mock::given(method("GET"))
        .and(path(run.api("/user")))
        .and(Run::token())
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "message": "401 Unauthorized" })),
        )
        .expect(1)
        .mount(&run.server)
        .await;
    let out = run.status(&[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("rejected CODEREVIEW_GITLAB_TOKEN (401 Unauthorized)"),
        "{err}"
    );
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_without_developer_role_cannot_post_the_status() {
    let (run, mut mr) = backend_mr().await;
    mr.labels = vec!["backend"];
    run.facts(&mr).await;
    run.expect_status_answer(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob)",
        ResponseTemplate::new(403).set_body_json(json!({ "message": "403 Forbidden" })),
    )
    .await;
    let out = run.status(&[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot post commit statuses"), "{err}");
    assert!(err.contains("Developer role"), "{err}");
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn posting_the_same_pending_state_again_is_not_an_error() {
    let (run, mut mr) = backend_mr().await;
    mr.labels = vec!["backend"];
    run.facts(&mr).await;
    run.expect_status_answer(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob)",
        ResponseTemplate::new(400).set_body_json(json!({
            "message": "Cannot transition status via :enqueue from :pending (Reason(s): Status cannot transition via \"enqueue\")"
        })),
    )
    .await;
    assert_ok(&run.status(&[]).await);
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_under_a_relative_url_root() {
    let (repo, base, head) = pull_request_repo(
        &[("CODEREVIEW.toml", CONFIG), ("src/a.rs", "a\n")],
        &[("src/a.rs", "b\n")],
    );
    let run = Run::with_prefix(repo, &head, "/gitlab/api/v4").await;
    let mut mr = Mr::new(&base, &head);
    mr.labels = vec!["backend"];
    mr.approved_by = vec![(2, "alice")];
    run.facts(&mr).await;
    run.expect_status("success", "1 scope approved").await;
    assert_ok(&run.status(&[]).await);
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing() {
    let (run, mr) = backend_mr().await;
    run.facts(&mr).await;
    let out = run.status(&["--dry-run"]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert_eq!(run.request_count().await, 5, "only the reads");
    let text = stdout(&out);
    assert!(
        text.contains("pending: 1 scope pending: backend needs 1 more (alice, bob)"),
        "{text}"
    );
    assert!(text.contains("| backend | ⏳ pending | 0/1 |"), "{text}");
    assert!(run.summary().is_empty() && run.dotenv().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_history_changed_files_come_from_the_api() {
    let repo = Repo::new();
    repo.write("CODEREVIEW.toml", CONFIG);
    let base = repo.commit("base");
    // The head commit is not in this checkout and there is no remote to fetch it from.
    let head = "0123456789abcdef0123456789abcdef01234567";
    let run = Run::new(repo, head).await;
    let mut mr = Mr::new(&base, head);
    mr.labels = vec!["backend"];
    mr.approved_by = vec![(2, "alice")];
    mr.head_pipeline = None;
    run.facts(&mr).await;
    Mock::given(method("GET"))
        .and(path(run.api(&format!("/projects/{PROJECT}/merge_requests/{IID}/diffs"))))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .and(Run::token())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "old_path": "src/new.rs", "new_path": "src/new.rs", "new_file": true, "renamed_file": false, "deleted_file": false, "diff": "@@ -0,0 +1 @@\n+fn x() {}\n" },
            { "old_path": "docs/old.md", "new_path": "docs/a.md", "new_file": false, "renamed_file": true, "deleted_file": false, "diff": "@@ -1 +1 @@\n-a\n+b\n" }
        ])))
        .expect(1)
        .mount(&run.server)
        .await;
    run.expect_status("success", "1 scope approved").await;
    let out = run.status(&[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(run.summary().contains("`docs/a.md`"), "{}", run.summary());
}

#[tokio::test(flavor = "multi_thread")]
async fn matched_scope_instructions_become_one_note_kept_current() {
    const INSTRUCTED: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\ninstructions = \"Run `make migrate` before approving.\"\n";
    const BODY: &str = "<!-- codereview:instructions -->\n\n#### Review instructions: backend\n\nRun `make migrate` before approving.\n";
    let notes_path = format!("/projects/{PROJECT}/merge_requests/{IID}/notes");
    let form = |body: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("body", body)
            .finish()
    };
    // No note of ours yet (only a human's) → one new note; a stale one of ours → edited.
    for existing in [
        json!([{ "id": 3, "body": "Looks fine", "system": false }]),
        json!([{ "id": 8, "body": "<!-- codereview:instructions -->\n\nold text\n", "system": false }]),
    ] {
        let (repo, base, head) = pull_request_repo(
            &[("CODEREVIEW.toml", INSTRUCTED), ("src/a.rs", "fn a() {}\n")],
            &[("src/a.rs", "fn a() { b() }\n")],
        );
        let mut mr = Mr::new(&base, &head);
        mr.approved_by = vec![(2, "alice")];
        mr.reviewer_states = vec![(2, "alice", "approved")];
        let run = Run::new(repo, &head).await;
        run.facts(&mr).await;
        run.expect_status("success", "1 scope approved").await;
        Mock::given(method("GET"))
            .and(path(run.api(&notes_path)))
            .and(query_param("sort", "asc"))
            .and(Run::token())
            .respond_with(ResponseTemplate::new(200).set_body_json(existing.clone()))
            .expect(1)
            .named("GET notes")
            .mount(&run.server)
            .await;
        let write = if existing[0]["id"] == 3 {
            Mock::given(method("POST")).and(path(run.api(&notes_path)))
        } else {
            Mock::given(method("PUT")).and(path(run.api(&format!("{notes_path}/8"))))
        };
        write
            .and(Run::token())
            .and(body_string(form(BODY)))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 8 })))
            .expect(1)
            .named("write note")
            .mount(&run.server)
            .await;
        let out = run.status(&[]).await;
        assert_ok(&out);
        run.server.verify().await;
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
}

// ---- Large groups and merge requests: GitLab pages are all read (issue 11 §2) ----

/// `m001` ... `m{n}` as GitLab users (ids 2001...).
fn members(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| user(2000 + i, &format!("m{i:03}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_130th_member_of_a_group_counts() {
    let config = "[[scopes]]\nname = \"core\"\npaths = [\"**\"]\nreviewers = [\"@acme/big\"]\nrequire = 1\nrequest = 1\n";
    let (repo, base, head) = pull_request_repo(&[("CODEREVIEW.toml", config)], &[("x.txt", "x\n")]);
    let run = Run::new(repo, &head).await;
    let mut mr = Mr::new(&base, &head);
    mr.approved_by = vec![(2130, "m130")];
    run.facts(&mr).await;
    run.pages("/groups/acme%2Fbig/members", &[], members(130))
        .await;
    run.expect_status("success", "1 scope approved").await;
    let out = run.status(&[]).await;
    assert_ok(&out);
    run.server.verify().await;
    // user, MR, approvals, reviewers, jobs, 2 member pages, status; nobody requested.
    assert_eq!(run.request_count().await, 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_requested_by_the_130th_reviewer_reject() {
    let (run, mut mr) = backend_mr().await;
    mr.approved_by = vec![(2, "alice")];
    // 129 reviewers who have not reviewed, then bob, who requested changes.
    mr.reviewer_states = (1..=129)
        .map(|i| (3000 + i, "m", "unreviewed"))
        .chain(std::iter::once((3, "bob", "requested_changes")))
        .collect();
    mr.labels = vec!["backend"];
    run.facts(&mr).await;
    run.expect_status(
        "failed",
        "1 scope rejected: backend has changes requested by bob",
    )
    .await;
    assert_ok(&run.status(&[]).await);
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiving_job_beyond_the_first_100_jobs_counts() {
    let (repo, base, head) =
        pull_request_repo(&[("CODEREVIEW.toml", UNLESS)], &[("Cargo.lock", "v2\n")]);
    let run = Run::new(repo, &head).await;
    let mut mr = Mr::new(&base, &head);
    let names: Vec<&'static str> = (1..=129)
        .map(|i| &*Box::leak(format!("job-{i}").into_boxed_str()))
        .collect();
    mr.jobs = names
        .into_iter()
        .map(|n| ("build", n, "success", head.clone()))
        .chain(std::iter::once((
            "test",
            "safe-update",
            "success",
            head.clone(),
        )))
        .collect();
    run.facts(&mr).await;
    run.expect_status("success", "1 scope waived").await;
    assert_ok(&run.status(&[]).await);
    run.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_instructions_note_is_found_beyond_the_first_100_notes() {
    const INSTRUCTED: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\ninstructions = \"Run `make migrate` before approving.\"\n";
    const BODY: &str = "<!-- codereview:instructions -->\n\n#### Review instructions: backend\n\nRun `make migrate` before approving.\n";
    let (repo, base, head) = pull_request_repo(
        &[("CODEREVIEW.toml", INSTRUCTED), ("src/a.rs", "fn a() {}\n")],
        &[("src/a.rs", "fn a() { b() }\n")],
    );
    let mut mr = Mr::new(&base, &head);
    mr.approved_by = vec![(2, "alice")];
    let run = Run::new(repo, &head).await;
    run.facts(&mr).await;
    run.expect_status("success", "1 scope approved").await;
    // 150 notes, ours (current) the 120th: nothing is posted again (the catch-all would see it).
    let notes: Vec<Value> = (1..=150)
        .map(|i| {
            let body = if i == 120 {
                BODY.to_string()
            } else {
                format!("comment {i}")
            };
            json!({ "id": i, "body": body, "system": false })
        })
        .collect();
    run.pages(
        &format!("/projects/{PROJECT}/merge_requests/{IID}/notes"),
        &[("sort", "asc")],
        notes,
    )
    .await;
    let out = run.status(&[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

// ---- Merged results pipelines (issue 11 §3) ----

#[tokio::test(flavor = "multi_thread")]
async fn in_a_merged_results_pipeline_the_status_lands_on_its_merge_commit() {
    let (repo, base, head) =
        pull_request_repo(&[("CODEREVIEW.toml", UNLESS)], &[("Cargo.lock", "v2\n")]);
    // GitLab's temporary merge commit of the source branch into main (refs/merge-requests/7/merge).
    let merge = "4b825dc642cb6eb9a060e54bf8d69288fbee4904".to_string();
    let run = Run::new(repo, &merge).await;
    let mut mr = Mr::new(&base, &head);
    mr.merge_commit = Some(merge.clone());
    // The merged results pipeline's jobs run on the merge commit: they waive for this head.
    mr.jobs = vec![("test", "safe-update", "success", merge.clone())];
    run.facts(&mr).await;
    // On the merge commit, in this pipeline: the merge request's head pipeline.
    run.expect_status("success", "1 scope waived").await;
    let mut vars = run.vars();
    for (k, v) in vars.iter_mut() {
        if *k == "CI_COMMIT_SHA" {
            *v = merge.clone();
        }
    }
    vars.push(("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result".into()));
    vars.push(("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", head.clone()));
    let out = run.exec(&[], vars).await;
    assert_ok(&out);
    run.server.verify().await;
}

// ---- Who gets asked, and approval checklists (issue 14 §1, §4) ----

const TWO_CANDIDATES: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\nrequest = 1\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_reviewer_is_not_requested() {
    let (repo, base, head) = pull_request_repo(
        &[
            ("CODEREVIEW.toml", TWO_CANDIDATES),
            ("src/a.rs", "fn a() {}\n"),
        ],
        &[("src/a.rs", "fn a() { b() }\n")],
    );
    let run = Run::new(repo, &head).await;
    run.facts(&Mr::new(&base, &head)).await;
    run.expect_status(
        "pending",
        "1 scope pending: backend needs 1 more (alice, bob)",
    )
    .await;
    run.expect_availability(&["alice"], None).await;
    run.expect_user_lookup("bob", 6).await;
    run.expect_edit("reviewer_ids%5B%5D=6").await;
    let out = run.status(&[]).await;
    assert_ok(&out);
    run.server.verify().await;
    assert!(
        run.summary().contains("Away (not requested): alice"),
        "{}",
        run.summary()
    );
    // user, MR, approvals, reviewers, jobs, availability, status, user lookup, PUT.
    assert_eq!(run.request_count().await, 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn balanced_requests_the_reviewer_with_fewer_open_review_requests() {
    for (load, picked, id) in [
        (vec![("alice", 4), ("bob", 1)], "bob", 6),
        (vec![("alice", 0), ("bob", 3)], "alice", 5),
    ] {
        let (repo, base, head) = pull_request_repo(
            &[
                ("CODEREVIEW.toml", TWO_CANDIDATES),
                ("src/a.rs", "fn a() {}\n"),
            ],
            &[("src/a.rs", "fn a() { b() }\n")],
        );
        let run = Run::new(repo, &head).await;
        run.facts(&Mr::new(&base, &head)).await;
        run.expect_status(
            "pending",
            "1 scope pending: backend needs 1 more (alice, bob)",
        )
        .await;
        run.expect_availability(&[], Some(load)).await;
        run.expect_user_lookup(picked, id).await;
        run.expect_edit(&format!("reviewer_ids%5B%5D={id}")).await;
        let mut vars = run.vars();
        vars.push(("CODEREVIEW_REQUEST_STRATEGY", "balanced".into()));
        let out = run.exec(&[], vars).await;
        assert_ok(&out);
        run.server.verify().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_counts_once_the_approvers_comment_completes_the_checklist() {
    const CHECKLISTED: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\n\
        checklist = { items = [{ label = \"Migrations reviewed\" }, { label = \"Rollback plan\", notes = \"required\" }] }\n";
    let notes_path = format!("/projects/{PROJECT}/merge_requests/{IID}/notes");
    let ours = "<!-- codereview:instructions -->\n\n### Approval checklists\n";
    for (answer, state, description) in [
        (
            "#### Checklist: backend\n- [x] Migrations reviewed\n- [x] Rollback plan — notes:",
            "pending",
            "1 scope pending: backend needs 1 more (alice, bob); alice approved backend without a note for 'Rollback plan'",
        ),
        (
            "#### Checklist: backend\n- [x] Migrations reviewed\n- [x] Rollback plan — notes: revert 4f2a",
            "success",
            "1 scope approved",
        ),
    ] {
        let (repo, base, head) = pull_request_repo(
            &[
                ("CODEREVIEW.toml", CHECKLISTED),
                ("src/a.rs", "fn a() {}\n"),
            ],
            &[("src/a.rs", "fn a() { b() }\n")],
        );
        let run = Run::new(repo, &head).await;
        let mut mr = Mr::new(&base, &head);
        mr.approved_by = vec![(2, "alice")];
        mr.reviewer_states = vec![(2, "alice", "approved")];
        run.facts(&mr).await;
        // The notes are read once for both the answer and the instructions note.
        run.pages(
            &notes_path,
            &[("sort", "asc")],
            vec![
                json!({ "id": 8, "body": format!("{ours}old"), "system": false, "author": user(99, "project_42_bot_4f2a") }),
                json!({ "id": 9, "body": "- [x] Migrations reviewed", "system": false, "author": user(3, "bob") }),
                json!({ "id": 10, "body": answer, "system": false, "author": user(2, "alice") }),
                json!({ "id": 11, "body": "approved this merge request", "system": true, "author": user(2, "alice") }),
            ],
        )
        .await;
        Mock::given(method("PUT"))
            .and(path(run.api(&format!("{notes_path}/8"))))
            .and(Run::token())
            .and(body_string_contains_all(&[
                "Checklist%3A+backend",
                "Migrations+reviewed",
            ]))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 8 })))
            .expect(1)
            .named("PUT instructions note")
            .mount(&run.server)
            .await;
        run.expect_status(state, description).await;
        let out = run.status(&[]).await;
        assert_ok(&out);
        run.server.verify().await;
    }
}
