//! The `codereview-sync` binary itself: start-up errors, `serve` on an embedded SQLite file,
//! logs that never carry secrets, and the admin commands (on SQLite and PostgreSQL).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use codereview_sync::domain::Forge;
use codereview_sync::store::CredentialKind;
use codereview_sync::vault::Vault;

use crate::helpers::*;

/// Runs the binary with exactly `env` (nothing inherited) and `stdin`.
fn run(args: &[&str], env: &[(&str, &str)], stdin: &str, cwd: &Path) -> Output {
    run_binary(args, env, stdin, Some(cwd))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running `serve` process whose stdout lines arrive on a channel.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(env: &[(&str, &str)], cwd: &Path) -> Self {
        let mut child = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `needle`.
    fn expect_line(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| {
                    panic!("no line with {needle:?}; got:\n{}", self.seen.join("\n"))
                });
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn addr(&mut self) -> SocketAddr {
        let line = self.expect_line("listening on");
        let after = line.split("listening on ").nth(1).unwrap();
        after
            .split(|c: char| c.is_whitespace() || c == '"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Sends SIGTERM and returns the exit status plus every remaining stdout line.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.seen.extend(self.lines.try_iter());
        (status, self.seen)
    }
}

#[test]
fn start_up_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = key_b64(1);
    for (env, needle) in [
        (vec![], "CODEREVIEW_SYNC_KEY is not set"),
        (
            vec![("CODEREVIEW_SYNC_KEY", "dG9vIHNob3J0")],
            "CODEREVIEW_SYNC_KEY is not a valid key",
        ),
        (
            vec![
                ("CODEREVIEW_SYNC_KEY", good.as_str()),
                ("SLACK_SIGNING_SECRET", ""),
            ],
            "SLACK_SIGNING_SECRET is set but empty",
        ),
        (
            vec![
                ("CODEREVIEW_SYNC_KEY", good.as_str()),
                ("GITHUB_WEBHOOK_SECRET", "s3cret\n"),
            ],
            "GITHUB_WEBHOOK_SECRET has leading or trailing whitespace",
        ),
        (
            vec![
                ("CODEREVIEW_SYNC_KEY", good.as_str()),
                ("GITLAB_WEBHOOK_TOKEN", " "),
            ],
            "GITLAB_WEBHOOK_TOKEN is set but empty",
        ),
    ] {
        let out = run(&["serve"], &env, "", dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{needle}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with("codereview-sync: ") && err.contains(needle),
            "{err}"
        );
        assert!(stdout(&out).is_empty());
    }
    assert!(
        !dir.path().join("codereview-sync.db").exists(),
        "refused before touching the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_only_the_key_runs_on_an_embedded_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_b64(1);
    // LISTEN only moves the port off 8000, which other processes on a shared machine may use.
    let mut server = Server::start(
        &[("CODEREVIEW_SYNC_KEY", &key), ("LISTEN", "127.0.0.1:0")],
        dir.path(),
    );
    let addr = server.addr();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // No signing secrets: every webhook endpoint answers 401.
    let resp = client
        .post(format!("http://{addr}/slack/events"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        dir.path().join("codereview-sync.db").exists(),
        "SQLite file created in the working directory"
    );
    let (status, lines) = server.terminate();
    assert!(status.success(), "{status:?}\n{}", lines.join("\n"));
    let all = lines.join("\n");
    for needle in [
        "SLACK_SIGNING_SECRET is not set: POST /slack/events answers 401 to everything",
        "migrations applied",
        "shutdown signal received",
        "worker stopped",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_never_contain_secrets_or_message_text() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_b64(7);
    let env = [
        ("CODEREVIEW_SYNC_KEY", key.as_str()),
        ("LISTEN", "127.0.0.1:0"),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
        ("SLACK_SIGNING_SECRET", SLACK_SECRET),
        ("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
        ("GITLAB_WEBHOOK_TOKEN", GITLAB_TOKEN),
    ];
    let mut server = Server::start(&env, dir.path());
    let addr = server.addr();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = slack_message("EvLog1", "top secret message text");
    let mut req = client
        .post(format!("http://{addr}/slack/events"))
        .body(body.clone());
    let headers = slack_headers(&body, now_secs());
    let signature = headers[2].1.clone();
    for (k, v) in &headers {
        req = req.header(*k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    // A refused request with a wrong token, and a GitLab delivery.
    let resp = client
        .post(format!("http://{addr}/gitlab/webhook"))
        .header("x-gitlab-token", "glpat-wrong-guess")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    server.expect_line("event processed");
    let (status, lines) = server.terminate();
    assert!(status.success());
    assert!(lines.len() > 5);
    for line in &lines {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            json.get("level").is_some() && json.get("timestamp").is_some(),
            "{line}"
        );
        for secret in [
            key.as_str(),
            SLACK_SECRET,
            GITHUB_SECRET,
            GITLAB_TOKEN,
            "glpat-wrong-guess",
            signature.as_str(),
            "top secret message text",
        ] {
            assert!(!line.contains(secret), "log line leaks {secret:?}: {line}");
        }
    }
    assert!(
        lines.iter().any(|l| l.contains("EvLog1")),
        "identifiers are logged"
    );
}

matrix! {
    async fn queue_status_shows_outages_and_retry_failed_replays(db) {
        use codereview_sync::domain::Source;
        use codereview_sync::store::{GiveUpCause, NewEvent, now_ms};
        let dir = tempfile::tempdir().unwrap();
        let k1 = key_b64(1);
        let env = [("DATABASE_URL", db.url.as_str()), ("CODEREVIEW_SYNC_KEY", k1.as_str())];
        let run_ok = |args: &[&str], env: &[(&str, &str)]| {
            let out = run(args, env, "", dir.path());
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            stdout(&out)
        };
        let v1 = Vault::new(key(1), &[]);
        let now = now_ms();
        for key in ["Ev-wait", "Ev-dead"] {
            let body = slack_message(key, "kept sealed while it waits");
            db.store.enqueue(&v1, &NewEvent { source: Source::Slack, dedupe_key: key, kind: "message", payload: &body }, now).await.unwrap();
        }
        let rows = db.store.claim_due("w", now, 60_000, 10).await.unwrap();
        assert!(db.store.park(rows[0].id, "w", "slack:slack.com", now + 1000, "slack chat.postMessage answered 503").await.unwrap());
        db.store.trip_provider("slack:slack.com", "w", now, now + 10_000, "slack chat.postMessage answered 503").await.unwrap();
        assert!(db.store.give_up(&rows[1], "w", GiveUpCause::Permanent, "slack chat.postMessage answered error channel_not_found", now).await.unwrap());
        assert!(db.store.start_reconciliation("github_app_deliveries", now, 1000).await.unwrap());
        db.store.finish_reconciliation("github_app_deliveries", now, 12, 3, None).await.unwrap();

        let status = run_ok(&["queue", "status"], &env);
        let lines: Vec<&str> = status.lines().collect();
        assert_eq!(lines[0], "queued events: 1");
        assert!(lines[1].starts_with("provider slack:slack.com\tbacking off until "), "{status}");
        assert!(lines[1].contains("1 failure(s): slack chat.postMessage answered 503)\twaiting 1, oldest "), "{status}");
        assert!(lines[2].starts_with("reconciliation github_app_deliveries\tlast run "), "{status}");
        assert!(lines[2].ends_with("listed 12, redelivery requested 3"), "{status}");
        assert!(lines[3].starts_with("failed "), "{status}");
        assert!(lines[3].contains("\tslack\tmessage\tEv-dead\tattempts 1\tslack chat.postMessage answered error channel_not_found\tid "), "{status}");
        assert!(lines[3].ends_with(" (permanent, replayable)"), "{status}");
        assert_eq!(lines.len(), 4);

        // Key rotation re-seals the kept payload too, and the replay opens it.
        let k2 = key_b64(2);
        let env2 = [("DATABASE_URL", db.url.as_str()), ("CODEREVIEW_SYNC_KEY", k2.as_str()), ("CODEREVIEW_SYNC_OLD_KEYS", k1.as_str())];
        let k2_id = Vault::from_base64(&k2, None).unwrap().current_key_id().to_string();
        assert_eq!(run_ok(&["rotate-key"], &env2), format!("re-encrypted 0 credential(s) and 2 queued event(s) under key {k2_id}\n"));
        let env2_only = [env2[0], env2[1]];
        let out = run(&["queue", "retry-failed", "--id", "999999"], &env2_only, "", dir.path());
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("no replayable given-up event has those ids"));
        assert_eq!(run_ok(&["queue", "retry-failed"], &env2_only), "requeued 1 given-up event(s)\n");
        assert!(run_ok(&["queue", "status"], &env2_only).starts_with("queued events: 2\n"));
        let v2 = Vault::new(key(2), &[]);
        let replayed = db.store.claim_due("w2", now_ms(), 60_000, 10).await.unwrap();
        let dead = replayed.iter().find(|r| r.dedupe_key == "Ev-dead").expect("replayed and claimable");
        assert_eq!(v2.open(&dead.aad(), &dead.sealed).unwrap(), slack_message("Ev-dead", "kept sealed while it waits"));
    }
}

matrix! {
    async fn admin_commands_round_trip(db) {
        let dir = tempfile::tempdir().unwrap();
        let k1 = key_b64(1);
        let env1 = [("DATABASE_URL", db.url.as_str()), ("CODEREVIEW_SYNC_KEY", k1.as_str())];
        let ok = |args: &[&str], env: &[(&str, &str)], stdin: &str| {
            let out = run(args, env, stdin, dir.path());
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            stdout(&out)
        };
        let fails = |args: &[&str], env: &[(&str, &str)], stdin: &str| {
            let out = run(args, env, stdin, dir.path());
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
            stderr(&out)
        };

        let generated = ok(&["keygen"], &[], "");
        assert_eq!(generated.trim().len(), 44);
        assert!(Vault::from_base64(generated.trim(), None).is_ok());
        assert_ne!(generated, ok(&["keygen"], &[], ""));
        assert_eq!(ok(&["migrate"], &env1[..1], ""), "migrations applied\n");

        assert_eq!(ok(&["workspace", "add", "--team", "T0001"], &env1, "xoxb-cli-token\n"), "workspace T0001 registered\n");
        assert_eq!(ok(&["workspace", "list"], &env1, ""), "T0001\n");
        assert!(fails(&["workspace", "add", "--team", "T0002"], &env1, "").contains("no Slack bot token on stdin"));
        assert!(fails(&["workspace", "add", "--team", "T0002"], &env1, "two tokens\n").contains("whitespace"));
        assert!(fails(&["workspace", "add", "--team", "general"], &env1, "xoxb").contains("not a Slack team id"));
        // Tokens are never accepted on the command line.
        let out = run(&["workspace", "add", "--team", "T0002", "--token", "xoxb-argv"], &env1, "", dir.path());
        assert_eq!(out.status.code(), Some(2));
        assert!(fails(&["workspace", "add", "--team", "T0002"], &env1[..1], "xoxb").contains("CODEREVIEW_SYNC_KEY is not set"));

        ok(&["credential", "add", "--forge", "github", "--owner", "Acme"], &env1, "ghp_cli_token");
        let listed = ok(&["credential", "list"], &env1, "");
        let k1_id = Vault::from_base64(&k1, None).unwrap().current_key_id().to_string();
        assert!(listed.contains(&format!("github\tacme\tkey {k1_id}\tupdated ")), "{listed}");
        assert!(listed.contains(&format!("slack\tT0001\tkey {k1_id}")), "{listed}");
        assert!(!listed.contains("xoxb-cli-token") && !listed.contains("ghp_cli_token"));

        // Only GitHub is configured (a GitHub token): `link add` without --forge says it chose it.
        assert_eq!(
            ok(&["link", "add", "--repo", "Acme/Web", "--team", "T0001", "--channel", "C0001"], &env1, ""),
            "linked acme/web to T0001/C0001 (GitHub repository: GitLab is not configured; pass --forge to choose)\n"
        );
        ok(&["link", "add", "--repo", "group/sub/app", "--team", "T0001", "--channel", "C0002", "--forge", "gitlab"], &env1, "");
        assert_eq!(ok(&["link", "list"], &env1, ""), "github\tacme/web\tT0001\tC0001\ngitlab\tgroup/sub/app\tT0001\tC0002\n");
        // Now both forges are in use: the forge must be named.
        assert!(fails(&["link", "add", "--repo", "acme/api", "--team", "T0001", "--channel", "C0001"], &env1, "").contains("pass --forge github or --forge gitlab"));
        assert!(fails(&["link", "add", "--repo", "acme", "--team", "T0001", "--channel", "C0001"], &env1, "").contains("not a repository path"));
        assert!(fails(&["link", "add", "--repo", "acme/web", "--team", "T0001", "--channel", "#general"], &env1, "").contains("not a Slack channel id"));

        ok(&["user", "map", "--slack", "U0001", "--forge", "github", "--login", "octocat"], &env1, "");
        assert_eq!(ok(&["user", "list"], &env1, ""), "U0001\tgithub\toctocat\n");

        // The library reads what the binary wrote.
        let v1 = Vault::new(key(1), &[]);
        assert_eq!(db.store.slack_bot_token(&v1, "T0001").await.unwrap().unwrap().expose(), "xoxb-cli-token");

        // Rotate: new key current, old key readable, every row re-sealed.
        let k2 = key_b64(2);
        let env2 = [("DATABASE_URL", db.url.as_str()), ("CODEREVIEW_SYNC_KEY", k2.as_str()), ("CODEREVIEW_SYNC_OLD_KEYS", k1.as_str())];
        let k2_id = Vault::from_base64(&k2, None).unwrap().current_key_id().to_string();
        assert_eq!(ok(&["rotate-key"], &env2, ""), format!("re-encrypted 2 credential(s) and 0 queued event(s) under key {k2_id}\n"));
        assert!(!ok(&["credential", "list"], &env2, "").contains(&k1_id));
        let v2 = Vault::new(key(2), &[]);
        assert_eq!(
            db.store.credential(&v2, CredentialKind::Forge(Forge::GitHub), "acme").await.unwrap().unwrap().expose(),
            "ghp_cli_token"
        );
        let env2_only = [env2[0], env2[1]];
        assert_eq!(ok(&["rotate-key"], &env2_only, ""), format!("re-encrypted 0 credential(s) and 0 queued event(s) under key {k2_id}\n"));

        assert_eq!(ok(&["queue", "status"], &env2_only, ""), "queued events: 0\n");
        ok(&["link", "remove", "--repo", "acme/web", "--team", "T0001", "--channel", "C0001"], &env2_only, "");
        fails(&["link", "remove", "--repo", "acme/web", "--team", "T0001", "--channel", "C0001"], &env2_only, "");
        ok(&["user", "remove", "--slack", "U0001", "--forge", "github"], &env2_only, "");
        assert_eq!(ok(&["user", "list"], &env2_only, ""), "");
        ok(&["credential", "remove", "--forge", "github", "--owner", "acme"], &env2_only, "");
        fails(&["credential", "remove", "--forge", "github", "--owner", "acme"], &env2_only, "");
        ok(&["workspace", "remove", "--team", "T0001"], &env2_only, "");
        assert_eq!(ok(&["workspace", "list"], &env2_only, ""), "");
        assert_eq!(ok(&["link", "list"], &env2_only, ""), "", "links go with the workspace");
    }
}

matrix! {
    async fn link_add_never_binds_both_forges_silently(db) {
        let dir = tempfile::tempdir().unwrap();
        let k = key_b64(1);
        let base = [("DATABASE_URL", db.url.as_str()), ("CODEREVIEW_SYNC_KEY", k.as_str())];
        let with_gitlab = [base[0], base[1], ("GITLAB_URL", "https://gitlab.example.com")];
        let link = |repo: &str, forge: Option<&str>| {
            let mut args = vec!["link", "add", "--repo", repo, "--team", "T0001", "--channel", "C0001"];
            if let Some(f) = forge {
                args.extend(["--forge", f]);
            }
            args.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let run_link = |args: &[String], env: &[(&str, &str)]| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(&args, env, "", dir.path())
        };
        assert!(run(&["workspace", "add", "--team", "T0001"], &base, "xoxb-t", dir.path()).status.success());

        // GitLab alone: its project, and said so.
        let out = run_link(&link("group/app", None), &with_gitlab);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("(GitLab project: GitHub is not configured"), "{}", stdout(&out));
        // GitHub in use too (a token): refused without --forge, nothing stored.
        assert!(run(&["credential", "add", "--forge", "github", "--owner", "acme"], &base, "ghp_x", dir.path()).status.success());
        let out = run_link(&link("acme/web", None), &with_gitlab);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("GitHub and GitLab are both configured: pass --forge github or --forge gitlab"), "{}", stderr(&out));
        assert!(run_link(&link("acme/web", Some("github")), &with_gitlab).status.success());
        assert!(run_link(&link("acme/web", Some("gitlab")), &with_gitlab).status.success());
        let listed = stdout(&run(&["link", "list"], &base, "", dir.path()));
        assert_eq!(listed, "github\tacme/web\tT0001\tC0001\ngitlab\tacme/web\tT0001\tC0001\ngitlab\tgroup/app\tT0001\tC0001\n");
        assert!(!listed.contains("any"), "no link binds both forges");
        // Removing without --forge: refused while ambiguous, fine when one link matches.
        let out = run(&["link", "remove", "--repo", "acme/web", "--team", "T0001", "--channel", "C0001"], &base, "", dir.path());
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("both forges"), "{}", stderr(&out));
        assert!(run(&["link", "remove", "--repo", "group/app", "--team", "T0001", "--channel", "C0001"], &base, "", dir.path()).status.success());
    }
}

matrix! {
    async fn link_reminders_are_set_listed_rescheduled_and_turned_off(db) {
        use codereview_sync::store::{PrRef, PrThread, SlackRef};
        let dir = tempfile::tempdir().unwrap();
        let k = key_b64(1);
        let env = [("DATABASE_URL", db.url.as_str()), ("CODEREVIEW_SYNC_KEY", k.as_str())];
        let ok = |args: &[&str]| {
            let out = run(args, &env, "", dir.path());
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            stdout(&out)
        };
        let fails = |args: &[&str], code: i32| {
            let out = run(args, &env, "", dir.path());
            assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
            stderr(&out)
        };
        let link = ["--repo", "acme/web", "--team", "T0001", "--channel", "C0001"];
        let with = |extra: &[&'static str]| {
            let mut args = vec!["link", "reminders"];
            args.extend_from_slice(&link);
            args.extend_from_slice(extra);
            args
        };
        ok(&["link", "add", "--repo", "acme/web", "--team", "T0001", "--channel", "C0001", "--forge", "github"]);
        // A pull request of that link already waits, since Monday 2026-11-30 10:00 in Berlin.
        let monday_10_berlin = 1_796_029_200_000_i64;
        let thread = PrThread {
            pr: PrRef { forge: Forge::GitHub, repo: "acme/web".into(), number: 7 },
            thread: SlackRef { team_id: "T0001".into(), channel_id: "C0001".into(), ts: "1700000001.000100".into() },
        };
        db.store.upsert_review_wait(&thread, "https://github.com/acme/web/pull/7", &["li".into()], monday_10_berlin).await.unwrap();

        // Bad arguments: one clear line, exit 2, nothing stored.
        for (extra, needle) in [
            (&["--timezone", "Mars/Olympus"][..], "unknown time zone `Mars/Olympus`"),
            (&["--working-hours", "22:00-06:00"][..], "windows across midnight are not supported"),
            (&["--working-hours", "9-18"][..], "is not HH:MM-HH:MM"),
            (&["--after", "1w"][..], "--after `1w` is not a duration"),
            (&["--after", "0m"][..], "too short"),
            (&["--days", "fri-mon"][..], "runs backwards"),
            (&["--days", "funday"][..], "`funday` is not a day"),
        ] {
            let err = fails(&with(extra), 2);
            assert!(err.contains(needle), "{extra:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        fails(&with(&["--off", "--after", "4h"]), 2);
        // No such link: exit 1.
        let err = fails(&["link", "reminders", "--repo", "acme/api", "--team", "T0001", "--channel", "C0001"], 1);
        assert!(err.contains("acme/api is not linked to T0001/C0001"), "{err}");
        assert!(ok(&["link", "list"]).ends_with("C0001\n"), "no reminders yet");

        assert_eq!(
            ok(&with(&["--after", "4h", "--working-hours", "09:00-18:00", "--timezone", "Europe/Berlin", "--days", "mon-fri"])),
            "reminders on for acme/web in T0001/C0001: after 4h of working time, 09:00-18:00 mon-fri Europe/Berlin\n\
             1 waiting pull request(s) rescheduled with these settings\n"
        );
        let key = "github:acme/web#7@T0001/C0001";
        // Due 4 working hours after it started waiting: Monday 14:00 in Berlin.
        assert_eq!(db.store.timer_due_at("reminder", key).await.unwrap(), Some(monday_10_berlin + 4 * 3_600_000));
        assert_eq!(
            ok(&["link", "list"]),
            "github\tacme/web\tT0001\tC0001\treminders after 4h of working time, 09:00-18:00 mon-fri Europe/Berlin\n"
        );
        // Changed settings move the pending reminder: 1h30m → Monday 11:30.
        ok(&with(&["--after", "1h30m", "--timezone", "Europe/Berlin"]));
        assert_eq!(db.store.timer_due_at("reminder", key).await.unwrap(), Some(monday_10_berlin + 90 * 60_000));
        // Defaults: 24h, 09:00-18:00, mon-fri, UTC (Monday 09:00 UTC + 24 working hours
        // = Wednesday 15:00 UTC).
        assert_eq!(
            ok(&with(&[])).lines().next().unwrap(),
            "reminders on for acme/web in T0001/C0001: after 24h of working time, 09:00-18:00 mon-fri UTC"
        );
        assert_eq!(
            db.store.timer_due_at("reminder", key).await.unwrap(),
            Some(monday_10_berlin + (2 * 24 + 6) * 3_600_000)
        );

        assert_eq!(ok(&with(&["--off"])), "reminders off for acme/web in T0001/C0001\n");
        assert_eq!(db.store.timer_due_at("reminder", key).await.unwrap(), None, "cancelled");
        assert_eq!(ok(&["link", "list"]), "github\tacme/web\tT0001\tC0001\n");
        assert_eq!(ok(&with(&["--off"])), "reminders were not on for acme/web in T0001/C0001\n");
        // The wait itself stays (digests and status read it).
        assert!(db.store.review_wait(&thread).await.unwrap().is_some());

        // Set where the live review state is off: said, since reminders then never come.
        let off = [env[0], env[1], ("CODEREVIEW_SYNC_LIVE_REVIEW", "off")];
        let out = run(&with(&["--after", "4h"]), &off, "", dir.path());
        assert!(out.status.success());
        assert!(stderr(&out).contains("CODEREVIEW_SYNC_LIVE_REVIEW is off here"), "{}", stderr(&out));
        assert!(!stderr(&run(&with(&["--after", "4h"]), &env, "", dir.path())).contains("warning"));

        // Removing the link removes its settings and its threads' waits: added again, it
        // starts afresh, and no digest lists its pull requests meanwhile.
        ok(&with(&["--after", "4h"]));
        assert!(db.store.reminder_settings_for(Forge::GitHub, "acme/web", "T0001", "C0001").await.unwrap().is_some());
        ok(&["link", "remove", "--repo", "acme/web", "--team", "T0001", "--channel", "C0001"]);
        assert_eq!(db.store.reminder_settings_for(Forge::GitHub, "acme/web", "T0001", "C0001").await.unwrap(), None);
        assert_eq!(db.store.review_wait(&thread).await.unwrap(), None);
        ok(&["link", "add", "--repo", "acme/web", "--team", "T0001", "--channel", "C0001", "--forge", "github"]);
        assert_eq!(count(&db.store, "reminder_settings").await, 0);
        // Removing the workspace removes what its cockpit kept.
        ok(&with(&["--after", "4h"]));
        db.store.upsert_review_wait(&thread, "https://github.com/acme/web/pull/7", &["ana".into()], 0).await.unwrap();
        db.store
            .add_workspace(&vault(1), "T0001", &codereview_sync::secret::Secret::new("xoxb-1".into()))
            .await
            .unwrap();
        ok(&["user", "digest", "--slack", "U0BOB", "--at", "09:30"]);
        assert_eq!(count(&db.store, "digest_subscriptions").await, 1);
        ok(&["workspace", "remove", "--team", "T0001"]);
        assert_eq!(count(&db.store, "reminder_settings").await, 0);
        assert_eq!(count(&db.store, "review_waits").await, 0);
        assert_eq!(count(&db.store, "digest_subscriptions").await, 0);
    }
}
