//! End-to-end: a pull request cannot hide changed lines from `code` scopes (issue 11 §1), and
//! commit ids from an event or an API never reach `git` as options (§4).
//!
//! Each case builds a real repository in a temp dir and runs the real binary: `codereview match
//! --base main` offline, and `codereview status` against a fake GitHub (wiremock) that checks
//! the method, path and `Authorization` header of every call it answers.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

mod ci_support;

use ci_support::{Repo, pull_request_repo, run, run_status, stderr, stdout};
use serde_json::{Value, json};
use std::process::Output;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `danger` owns added lines calling `eval(`/`exec(` in JavaScript files.
const CONFIG: &str = r#"
[large_scale_change]
reviewers = ["alice"]

[[scopes]]
name = "default"
paths = ["**/*"]
reviewers = ["alice"]
require = 1

[[scopes]]
name = "danger"
paths = ["**/*.js"]
code = ['^\+.*eval\(', '^\+(.*)(?<!y)exec\(']
reviewers = ["sec"]
require = 1
"#;

/// The base branch: the rules and an innocent `app.js`.
fn base_files() -> Vec<(&'static str, &'static str)> {
    vec![("CODEREVIEW.toml", CONFIG), ("app.js", "let x = 1;\n")]
}

/// `codereview match --base main --by-scope` in the repository.
fn match_base(repo: &Repo) -> Output {
    let dir = repo.path().display().to_string();
    run(&["-C", &dir, "match", "--base", "main", "--by-scope"], &[])
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

/// The `danger` section of `match --by-scope`: the PR's `eval(` on line 2 is seen.
const DANGER_LINE_2: &str = "\ndanger\napp.js → danger(also: → default)\n  line 2 → danger\n";

#[test]
fn a_nul_byte_does_not_turn_the_file_into_an_unread_binary() {
    let (repo, _, _) = pull_request_repo(&base_files(), &[("app.js", "let x = 1;\0\neval(y);\n")]);
    let out = match_base(&repo);
    assert_ok(&out);
    assert!(stdout(&out).contains(DANGER_LINE_2), "{}", stdout(&out));
}

#[test]
fn a_gitattributes_minus_diff_added_by_the_pull_request_is_ignored() {
    let (repo, _, _) = pull_request_repo(
        &base_files(),
        &[
            (".gitattributes", "*.js -diff\n"),
            ("app.js", "let x = 1;\neval(y);\n"),
        ],
    );
    let out = match_base(&repo);
    assert_ok(&out);
    assert!(stdout(&out).contains(DANGER_LINE_2), "{}", stdout(&out));
}

#[test]
fn a_gitattributes_binary_added_by_the_pull_request_is_ignored() {
    let (repo, _, _) = pull_request_repo(
        &base_files(),
        &[
            (".gitattributes", "*.js binary\n"),
            ("app.js", "let x = 1;\neval(y);\n"),
        ],
    );
    let out = match_base(&repo);
    assert_ok(&out);
    assert!(stdout(&out).contains(DANGER_LINE_2), "{}", stdout(&out));
}

#[test]
fn a_textconv_driver_cannot_rewrite_the_lines() {
    let (repo, _, _) = pull_request_repo(
        &base_files(),
        &[
            (".gitattributes", "*.js diff=innocent\n"),
            ("app.js", "let x = 1;\neval(y);\n"),
        ],
    );
    // A driver on the runner (or a laptop) that shows every file as harmless text.
    repo.git(&["config", "diff.innocent.textconv", "sed s/eval/safe/"]);
    let out = match_base(&repo);
    assert_ok(&out);
    assert!(stdout(&out).contains(DANGER_LINE_2), "{}", stdout(&out));
}

#[test]
fn a_600_kb_line_does_not_hide_the_next_line_and_the_regex_limit_fails_closed() {
    // 600 KB of near-misses (`exec(` right after `y`): the backtracker tries each of them.
    let changed = format!("let x = 1;\n{}\nexec(y);\n", "yexec(".repeat(100 * 1024));
    let (repo, _, _) = pull_request_repo(&base_files(), &[("app.js", &changed)]);
    let out = match_base(&repo);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains(
            "\ndanger\napp.js → danger(also: → default)\n  line 3 → danger\n  could not read line changes: regex limit → danger\n"
        ),
        "{text}"
    );
}

#[test]
fn match_base_refuses_a_revision_that_git_would_read_as_an_option() {
    let (repo, _, _) = pull_request_repo(&base_files(), &[("app.js", "eval(y);\n")]);
    let dir = repo.path().display().to_string();
    let marker = repo.path().join("written-by-git");
    let option = format!("--base=--output={}", marker.display());
    let out = run(&["-C", &dir, "match", &option], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("starts with '-'"), "{}", stderr(&out));
    assert!(!marker.exists());
}

// --- `codereview status` against a fake GitHub -------------------------------------------

const TOKEN: &str = "ghs_hidden_changes";
const REPO: &str = "octo/repo";

/// The GraphQL answer for pull request 7.
fn facts(base: &str, head: &str) -> Value {
    json!({ "data": { "repository": { "pullRequest": {
        "number": 7,
        "isDraft": false,
        "headRefOid": head,
        "baseRefOid": base,
        "baseRefName": "main",
        "author": { "__typename": "User", "login": "mallory" },
        "labels": { "nodes": [] },
        "reviewRequests": { "nodes": [] },
        "reviews": { "nodes": [
            { "state": "APPROVED", "submittedAt": "2026-01-01T00:00:00Z",
              "author": { "__typename": "User", "login": "alice" }, "commit": { "oid": head } }
        ] },
        "commits": { "nodes": [ { "commit": { "checkSuites": { "nodes": [] } } } ] }
    } } } })
}

fn auth() -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Bearer {TOKEN}").as_str())
}

/// A fake GitHub answering the facts, recording statuses; returns (server, runner files).
async fn fake_github(facts: Value) -> (MockServer, tempfile::TempDir) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(facts))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPO}/pulls/7/requested_reviewers")))
        .and(auth())
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .mount(&server)
        .await;
    (server, tempfile::tempdir().unwrap())
}

/// Run `codereview status` as a GitHub `pull_request` run for pull request 7 in `repo`.
async fn status(
    repo: &Repo,
    server: &MockServer,
    files: &tempfile::TempDir,
    extra: &[(&'static str, String)],
) -> Output {
    let event = files.path().join("event.json");
    std::fs::write(
        &event,
        json!({ "action": "synchronize", "number": 7, "pull_request": { "number": 7 } })
            .to_string(),
    )
    .unwrap();
    let mut vars = vec![
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_TOKEN", TOKEN.to_string()),
        ("GITHUB_REPOSITORY", REPO.to_string()),
        ("GITHUB_EVENT_NAME", "pull_request".to_string()),
        ("GITHUB_EVENT_PATH", event.display().to_string()),
        ("GITHUB_API_URL", server.uri()),
        ("GITHUB_WORKSPACE", repo.path().display().to_string()),
        (
            "GITHUB_STEP_SUMMARY",
            files.path().join("summary.md").display().to_string(),
        ),
    ];
    vars.extend(extra.iter().cloned());
    run_status(&[], vars).await
}

/// The statuses posted, as (sha, body).
async fn posted_statuses(server: &MockServer) -> Vec<(String, Value)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().contains("/statuses/"))
        .map(|r| {
            let sha = r.url.path().rsplit('/').next().unwrap().to_string();
            (sha, serde_json::from_slice(&r.body).unwrap())
        })
        .collect()
}

async fn mount_status(server: &MockServer, head: &str) {
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPO}/statuses/{head}")))
        .and(auth())
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_sees_the_lines_of_a_file_git_calls_binary() {
    let (repo, base, head) = pull_request_repo(
        &base_files(),
        &[
            (".gitattributes", "*.js binary\n"),
            ("app.js", "let x = 1;\0\neval(y);\n"),
        ],
    );
    let (server, files) = fake_github(facts(&base, &head)).await;
    mount_status(&server, &head).await;
    let out = status(&repo, &server, &files, &[]).await;
    assert_ok(&out);
    server.verify().await;
    let statuses = posted_statuses(&server).await;
    assert_eq!(statuses[0].1["state"], "pending", "{statuses:?}");
    let description = statuses[0].1["description"].as_str().unwrap();
    assert!(description.contains("danger needs 1 more"), "{description}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binary_change_still_counts_toward_the_large_scale_threshold() {
    let lines: String = (0..10).map(|i| format!("line {i}\0\n")).collect();
    let (repo, base, head) = pull_request_repo(&base_files(), &[("app.js", &lines)]);
    let (server, files) = fake_github(facts(&base, &head)).await;
    mount_status(&server, &head).await;
    let out = status(
        &repo,
        &server,
        &files,
        &[("CODEREVIEW_LARGE_SCALE_LINES", "5".into())],
    )
    .await;
    assert_ok(&out);
    let statuses = posted_statuses(&server).await;
    let description = statuses[0].1["description"].as_str().unwrap();
    assert!(
        description.starts_with("Large-scale change"),
        "{description}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_the_api_gives_no_patch_for_fails_closed() {
    // The head commit is not in the checkout (and there is no remote to fetch it from), so the
    // changed files come from the API, which leaves `patch` out for binary and huge files.
    let repo = Repo::new();
    for (p, c) in base_files() {
        repo.write(p, c);
    }
    let base = repo.commit("base");
    let head = "c0ffee".repeat(6) + "c0ff";
    let (server, files) = fake_github(facts(&base, &head)).await;
    mount_status(&server, &head).await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/7/files")))
        .and(query_param("page", "1"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "filename": "app.js", "status": "modified", "additions": 0, "deletions": 0, "changes": 0 },
            { "filename": "moved.js", "previous_filename": "old.js", "status": "renamed", "additions": 0, "deletions": 0, "changes": 0 }
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let out = status(&repo, &server, &files, &[]).await;
    assert_ok(&out);
    server.verify().await;
    let statuses = posted_statuses(&server).await;
    let description = statuses[0].1["description"].as_str().unwrap();
    assert!(description.contains("danger needs 1 more"), "{description}");
    let summary = std::fs::read_to_string(files.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("- `app.js`: could not read line changes: no patch from the API → danger"),
        "{summary}"
    );
    assert!(!summary.contains("`moved.js`: could not"), "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_base_sha_that_is_an_option_never_reaches_git() {
    let (repo, _, head) = pull_request_repo(&base_files(), &[("app.js", "eval(y);\n")]);
    // An origin to fetch from: `git fetch origin <base>` with this "sha" would run the command.
    let origin = Repo::new();
    origin.commit("origin");
    repo.git(&[
        "remote",
        "add",
        "origin",
        &origin.path().display().to_string(),
    ]);
    let marker = repo.path().join("pwned");
    let evil = format!("--upload-pack=touch {};git-upload-pack", marker.display());
    let (server, files) = fake_github(facts(&evil, &head)).await;
    let out = status(&repo, &server, &files, &[]).await;
    assert!(!marker.exists(), "git ran the attacker's command");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a full hexadecimal SHA"),
        "{}",
        stderr(&out)
    );
    assert!(posted_statuses(&server).await.is_empty());
}
