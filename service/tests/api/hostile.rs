//! Hostile input from the outside (issue 12 §2–§4): forge text that tries to ping Slack, slow
//! and hostile HTTP clients, and `/metrics` moved off the public address. Raw TCP where a
//! well-behaved client library would not misbehave on purpose.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codereview_sync::config::HttpSettings;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::sync_fakes::*;

fn limits(read_timeout: Duration, max_connections: usize) -> HttpSettings {
    HttpSettings {
        read_timeout,
        max_connections,
        ..HttpSettings::default()
    }
}

/// Reads until the peer closes (or `within` passes: `None`), returning what arrived.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()?;
    Some(got)
}

#[tokio::test]
async fn half_sent_headers_are_cut_off_after_the_read_timeout() {
    let app = spawn_app_with(
        sqlite_db().await,
        AppOptions {
            http: limits(Duration::from_secs(1), 64),
            ..AppOptions::default()
        },
    )
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"POST /github/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
        .await
        .unwrap();
    let started = Instant::now();
    let got = read_to_close(&mut stream, Duration::from_secs(15))
        .await
        .expect("the server closes a connection whose headers never end");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed too early: {waited:?}"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // An idle connection (no byte at all) is cut off the same way.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        read_to_close(&mut idle, Duration::from_secs(15))
            .await
            .is_some()
    );
    assert_eq!(app.stored().await, 0);
}

#[tokio::test]
async fn an_unfinished_body_gets_408_and_the_connection_is_closed() {
    let app = spawn_app_with(
        sqlite_db().await,
        AppOptions {
            http: limits(Duration::from_secs(1), 64),
            ..AppOptions::default()
        },
    )
    .await;
    let body = github_fixture("pull_request.opened.payload.json");
    let mut head = format!(
        "POST /github/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in github_headers("pull_request", "slow-body", &body) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    let started = Instant::now();
    let got = read_to_close(&mut stream, Duration::from_secs(15))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body not received in time"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(app.stored().await, 0, "nothing stored");
    // The same delivery sent whole is accepted: the refusal left nothing behind.
    let (status, _) = app.github("pull_request", "slow-body", body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let app = spawn_app(sqlite_db().await).await;
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    assert_eq!(raw_request(app.addr, &head, &[]).await, 431);
    assert_eq!(app.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_unaccepted_until_a_slot_frees() {
    let app = spawn_app_with(
        sqlite_db().await,
        AppOptions {
            http: limits(Duration::from_secs(60), 2),
            ..AppOptions::default()
        },
    )
    .await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let _second = TcpStream::connect(app.addr).await.unwrap();
    // The kernel completes the handshake (backlog), but the service does not take it up.
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "a third connection is not served while two are open"
    );
    drop(first);
    let got = read_to_close(&mut third, Duration::from_secs(10))
        .await
        .expect("served once a slot frees");
    let text = format!("{}{}", byte[0] as char, String::from_utf8_lossy(&got));
    assert!(
        text.contains("200 OK") && text.ends_with("ok\n"),
        "{text:?}"
    );
}

#[tokio::test]
async fn listen_metrics_moves_metrics_off_the_main_address() {
    let app = spawn_app_with(
        sqlite_db().await,
        AppOptions {
            http: HttpSettings {
                listen_metrics: Some("127.0.0.1:0".parse().unwrap()),
                ..HttpSettings::default()
            },
            ..AppOptions::default()
        },
    )
    .await;
    let metrics = app.metrics_addr.expect("bound");
    assert_ne!(metrics, app.addr);
    let (status, _) = app.get("/metrics").await;
    assert_eq!(status, 404, "not on the public address");
    assert_eq!(app.get("/healthz").await.0, 200);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("codereview_sync_http_requests_total"),
        "{text}"
    );
    assert!(text.contains("endpoint=\"/healthz\""), "{text}");
    for other in ["/healthz", "/github/webhook", "/"] {
        let res = http
            .get(format!("http://{metrics}{other}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{other} is not served on LISTEN_METRICS");
    }
    // Without the setting, `/metrics` stays where it was.
    let plain = spawn_app(sqlite_db().await).await;
    assert_eq!(plain.metrics_addr, None);
    assert_eq!(plain.get("/metrics").await.0, 200);
}

matrix! {
    async fn forge_text_cannot_ping_a_slack_channel(db) {
        let app = spawn_sync_app(db).await;
        app.github("pull_request", "d-open", &fixture("pull_request.opened.payload.json")).await;
        let mut comment = pr_comment("issue_comment.created.payload.json");
        comment["comment"]["body"] = json!(
            "[see](!channel) [boss](@U0ADMIN) <!here> <@U123> <!subteam^S1|@ops> [team](#C0001) \
             [docs](https://x.io/a?b=1&c=2) @bob"
        );
        app.github("issue_comment", "d-inject", &comment).await;
        let w = app.slack.writes().await;
        let reply = w.last().unwrap();
        assert_eq!(reply.path, "/api/chat.postMessage");
        assert_eq!(
            reply.text(),
            "💬 *Codertocat* <https://github.com/Codertocat/Hello-World/pull/2#issuecomment-492700400|commented>:\n\
             [see](!channel) [boss](@U0ADMIN) &lt;!here&gt; &lt;@U123&gt; &lt;!subteam^S1|@ops&gt; [team](#C0001) \
             <https://x.io/a?b=1&amp;c=2|docs> <@U0BOB>"
        );
        // The payload's URLs are trusted no more than its text.
        let mut sneaky = pr_comment("issue_comment.created.payload.json");
        sneaky["comment"]["id"] = json!(492700401);
        sneaky["comment"]["html_url"] = json!("!everyone");
        sneaky["comment"]["body"] = json!("hi");
        app.github("issue_comment", "d-inject-url", &sneaky).await;
        let w = app.slack.writes().await;
        assert_eq!(w.last().unwrap().text(), "💬 *Codertocat* commented:\nhi");
    }
}

/// The kernel's view of a process's resident memory, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// Opens a connection that sends an unsigned `POST` declaring 1 MiB and all but its last byte,
/// then holds it open; the task ends (closing it) when aborted.
fn hold_unfinished_body(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            return;
        };
        let head = "POST /github/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Content-Length: 1048576\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&vec![b' '; 1024 * 1024 - 1]).await;
        std::future::pending::<()>().await;
    })
}

/// The release of memory is the kernel's business; what we bound is what the service holds.
/// Before the fix, 200 such connections took the service above 200 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_bodies_do_not_grow_memory_and_signed_events_still_pass() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sync.db").display());
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .envs([
            ("DATABASE_URL", url.as_str()),
            ("CODEREVIEW_SYNC_KEY", key_b64(1).as_str()),
            ("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
            ("LISTEN", "127.0.0.1:0"),
            ("HTTP_READ_TIMEOUT_SECS", "60"),
            ("RUST_LOG", "info"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line
                .split("listening on ")
                .nth(1)
                .and_then(|a| a.split(|c: char| c.is_whitespace() || c == '"').next())
                .and_then(|a| a.parse().ok())
            {
                let _ = addr_tx.send(addr);
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(
        http.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let before = rss_mib(child.id());

    let attackers: Vec<_> = (0..200).map(|_| hold_unfinished_body(addr)).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut during = 0f64;
    for _ in 0..5 {
        during = during.max(rss_mib(child.id()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let started = Instant::now();
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    let health_took = started.elapsed();
    let body = github_fixture("pull_request.opened.payload.json");
    let mut req = http
        .post(format!("http://{addr}/github/webhook"))
        .body(body.clone());
    for (k, v) in github_headers("pull_request", "under-attack", &body) {
        req = req.header(k, v);
    }
    let started = Instant::now();
    let signed = req.send().await.unwrap();
    let signed_took = started.elapsed();
    eprintln!(
        "RSS before {before:.1} MiB, with 200 unfinished 1 MiB bodies {during:.1} MiB; \
         /healthz {health_took:?}, signed event {signed_took:?}"
    );
    for a in &attackers {
        a.abort();
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(health.status(), 200);
    assert_eq!(signed.status(), 200);
    assert!(
        during - before < 60.0,
        "memory grew from {before:.1} to {during:.1} MiB"
    );
    // Generous bounds (a shared CI machine); the load example measures the real figures.
    assert!(health_took < Duration::from_secs(2), "{health_took:?}");
    assert!(signed_took < Duration::from_secs(2), "{signed_took:?}");
}
