//! The `codereview-sync serve` binary itself, configured only through its environment
//! (`SLACK_API_URL`, `GITHUB_API_URL`, ...), against the fakes: a PR becomes a thread, a Slack
//! reply becomes a PR comment, and nothing it logs contains message text or tokens.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codereview_sync::domain::Forge;
use codereview_sync::secret::Secret;
use codereview_sync::store::{CredentialKind, RepoLink, Store};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::sync_fakes::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_syncs_both_ways_and_logs_no_text() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sync.db").display());
    let store = Store::connect_with(&url, 1).await.unwrap();
    store.migrate().await.unwrap();
    let v = vault(1);
    store
        .add_workspace(&v, TEAM, &Secret::new(SLACK_TOKEN.into()))
        .await
        .unwrap();
    store
        .put_credential(
            &v,
            CredentialKind::Forge(Forge::GitHub),
            "codertocat",
            &Secret::new(GITHUB_TOKEN.into()),
        )
        .await
        .unwrap();
    store
        .add_link(&RepoLink {
            forge: None,
            repo: REPO.into(),
            team_id: TEAM.into(),
            channel_id: CHANNEL.into(),
        })
        .await
        .unwrap();
    store.close().await;

    let slack = FakeSlack::start().await;
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPO}/issues/2/comments")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7001})))
        .expect(1)
        .mount(&github)
        .await;

    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .envs([
            ("DATABASE_URL", url.as_str()),
            ("CODEREVIEW_SYNC_KEY", key_b64(1).as_str()),
            ("SLACK_SIGNING_SECRET", SLACK_SECRET),
            ("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
            ("SLACK_API_URL", slack.api_url().as_str()),
            ("GITHUB_API_URL", github.uri().as_str()),
            ("LISTEN", "127.0.0.1:0"),
            ("RUST_LOG", "debug"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = Arc::new(Mutex::new(String::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let logs = logs.clone();
        let addr_tx = addr_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(after) = line.split("listening on ").nth(1)
                    && let Some(addr) = after
                        .split(|c: char| c.is_whitespace() || c == '"')
                        .next()
                        .and_then(|a| a.parse().ok())
                {
                    let _ = addr_tx.send(addr);
                }
                logs.lock().unwrap().push_str(&line);
                logs.lock().unwrap().push('\n');
            }
        });
    }
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // A PR opens on GitHub → the parent appears in the channel.
    let body = github_fixture("pull_request.opened.payload.json");
    let mut req = http
        .post(format!("http://{addr}/github/webhook"))
        .body(body.clone());
    for (k, v) in github_headers("pull_request", "bin-open", &body) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    assert!(
        wait_for(Duration::from_secs(10), || async {
            !slack.writes().await.is_empty()
        })
        .await,
        "parent posted; logs:\n{}",
        logs.lock().unwrap()
    );
    let parent = slack.writes().await[0].clone();
    assert_eq!(parent.body["channel"], CHANNEL);
    let parent_ts = FakeSlack::ts(1);

    // Jane answers in the thread → a PR comment.
    let body = slack_envelope(
        "EvBin",
        slack_reply(
            CHANNEL,
            JANE,
            "Slack says the parser needs another look",
            "1700000001.500000",
            &parent_ts,
        ),
    );
    let mut req = http
        .post(format!("http://{addr}/slack/events"))
        .body(body.clone());
    for (k, v) in slack_headers(&body, now_secs()) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    // The live review state (on by default) also reads from the fake GitHub, which answers
    // those reads 404: the parent is posted without scope lines and the sync goes on.
    let comments_path = format!("/repos/{REPO}/issues/2/comments");
    let comment_posts = || async {
        calls(&github)
            .await
            .into_iter()
            .filter(|c| c.method == "POST" && c.path == comments_path)
            .collect::<Vec<_>>()
    };
    assert!(
        wait_for(Duration::from_secs(10), || async {
            !comment_posts().await.is_empty()
        })
        .await,
        "comment posted; logs:\n{}",
        logs.lock().unwrap()
    );
    let created = comment_posts().await;
    assert_eq!(
        created[0].body["body"],
        "**Jane Doe** (via Slack): Slack says the parser needs another look"
    );
    assert_eq!(
        created[0].auth.as_deref(),
        Some(format!("Bearer {GITHUB_TOKEN}").as_str())
    );

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "clean shutdown: {status:?}");
    std::thread::sleep(Duration::from_millis(100));
    let logs = logs.lock().unwrap().clone();
    assert!(
        logs.contains("sync action"),
        "the handler logged its actions:\n{logs}"
    );
    for text in TEXTS {
        assert!(!logs.contains(text), "logs contain {text:?}:\n{logs}");
    }
}
