//! `POST /slack/commands` (`/codereview`) against the real service: signed like events, answered
//! at once from the database, only ever about the calling workspace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codereview_sync::clock::{Clock, ManualClock};
use codereview_sync::domain::Forge;
use codereview_sync::http::slack;
use codereview_sync::store::{DigestSubscription, PrRef, PrThread, SlackRef, Store};
use codereview_sync::sync::digest::{next_due, parse_zone};
use serde_json::Value;

use crate::helpers::*;
use crate::sync_fakes::*;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// 2026-01-15 07:00 UTC.
fn start() -> i64 {
    "2026-01-15T07:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

fn form(team: &str, user: &str, text: &str) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "deprecated-verification-token")
        .append_pair("team_id", team)
        .append_pair("team_domain", "acme")
        .append_pair("channel_id", CHANNEL)
        .append_pair("channel_name", "reviews")
        .append_pair("user_id", user)
        .append_pair("user_name", "someone")
        .append_pair("command", "/codereview")
        .append_pair("text", text)
        .append_pair("api_app_id", "A0001")
        .append_pair(
            "response_url",
            "https://hooks.slack.com/commands/T0001/1/abc",
        )
        .append_pair("trigger_id", "1.2.3")
        .finish()
        .into_bytes()
}

fn signed(body: &[u8], timestamp: i64) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/x-www-form-urlencoded".into()),
        ("x-slack-request-timestamp", timestamp.to_string()),
        (
            "x-slack-signature",
            slack::sign(SLACK_SECRET, timestamp, body),
        ),
    ]
}

/// Runs `/codereview text` as `user` of `team`: the ephemeral answer's text, and how long the
/// answer took.
async fn command(app: &SyncApp, team: &str, user: &str, text: &str) -> (String, Duration) {
    let body = form(team, user, text);
    let headers = signed(&body, now_secs());
    let started = Instant::now();
    let (status, answer) = app.app.post("/slack/commands", &headers, body).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["response_type"], "ephemeral", "{v}");
    (v["text"].as_str().unwrap().to_string(), took)
}

async fn wait(store: &Store, team: &str, channel: &str, number: i64, since: i64, on: &[&str]) {
    let thread = PrThread {
        pr: PrRef {
            forge: Forge::GitHub,
            repo: REPO.into(),
            number,
        },
        thread: SlackRef {
            team_id: team.into(),
            channel_id: channel.into(),
            ts: format!("1699999{number:03}.000100"),
        },
    };
    let on: Vec<String> = on.iter().map(|s| s.to_string()).collect();
    let url = format!("https://github.com/{REPO}/pull/{number}");
    store
        .upsert_review_wait(&thread, &url, &on, since)
        .await
        .unwrap();
}

/// The service on a manual clock at [`start`]; bob (U0BOB, github `bob`) has #2 (and #5, in
/// two channels) waiting in this workspace and #9 in [`OTHER_TEAM`]; #3 waits on alice only.
async fn command_app(db: TestDb) -> (SyncApp, Arc<ManualClock>) {
    let (app, clock) = spawn_at(db, start(), false).await;
    let s = app.store();
    add_other_team(s).await;
    let now = start();
    wait(
        s,
        TEAM,
        CHANNEL,
        2,
        now - (DAY + 2 * HOUR),
        &["alice", "bob"],
    )
    .await;
    wait(s, TEAM, CHANNEL, 5, now - 3 * HOUR, &["bob"]).await;
    wait(s, TEAM, "C0009", 5, now - 2 * HOUR, &["bob", "carol"]).await;
    wait(s, TEAM, CHANNEL, 3, now - 9 * DAY, &["alice"]).await;
    wait(s, OTHER_TEAM, "C0777", 9, now - 30 * DAY, &["bob"]).await;
    (app, clock)
}

async fn count(store: &Store, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match store.pool() {
        codereview_sync::store::Pool::Sqlite(pool) => {
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
                .unwrap();
            n
        }
        codereview_sync::store::Pool::Postgres(pool) => {
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
                .unwrap();
            n
        }
    }
}

matrix! {
    async fn unsigned_or_badly_signed_commands_are_refused_and_change_nothing(db) {
        let (app, _clock) = command_app(db).await;
        let body = form(TEAM, "U0BOB", "digest on 08:00");
        let now = now_secs();
        let mut tampered = signed(&body, now);
        tampered[2].1 = slack::sign("another secret", now, &body);
        let stale = signed(&body, now - 6 * 60);
        let unsigned = vec![("content-type", "application/x-www-form-urlencoded".to_string())];
        for (what, headers) in [("unsigned", unsigned), ("wrong secret", tampered), ("stale", stale)] {
            let (status, answer) = app.app.post("/slack/commands", &headers, body.clone()).await;
            assert_eq!(status, 401, "{what}: {answer}");
        }
        // Signed, but another body than the one signed.
        let other = form(TEAM, "U0BOB", "digest on 07:00");
        let (status, _) = app.app.post("/slack/commands", &signed(&body, now), other).await;
        assert_eq!(status, 401);
        // Signed JSON is not a slash command.
        let (status, _) = app.app.post("/slack/commands", &slack_headers(&body, now), body.clone()).await;
        assert_eq!(status, 415);
        // Larger than the webhooks' limit.
        let huge = vec![b'a'; 1024 * 1024 + 1];
        let (status, _) = app.app.post("/slack/commands", &signed(&huge, now), huge.clone()).await;
        assert_eq!(status, 413);
        assert_eq!(count(app.store(), "digest_subscriptions").await, 0);
        assert_eq!(count(app.store(), "timers").await, 0);
        assert_eq!(count(app.store(), "event_queue").await, 0);
        assert!(app.slack.calls().await.is_empty());
    }

    async fn help_lists_the_commands(db) {
        let (app, _clock) = command_app(db).await;
        for text in ["", "help", "frobnicate"] {
            let (answer, _) = command(&app, TEAM, "U0BOB", text).await;
            for needle in ["`/codereview status`", "`/codereview digest on [HH:MM]`", "`/codereview digest off`"] {
                assert!(answer.contains(needle), "{text:?}: {answer}");
            }
        }
        let (answer, _) = command(&app, TEAM, "U0BOB", "frobnicate").await;
        assert!(answer.starts_with("I don't know `frobnicate`."), "{answer}");
        // A workspace that is not registered is told so, politely, and nothing is written.
        let (answer, _) = command(&app, "T0404", "U0BOB", "digest on").await;
        assert!(answer.starts_with("codereview is not installed in this workspace"), "{answer}");
        assert_eq!(count(app.store(), "digest_subscriptions").await, 0);
        assert!(app.slack.calls().await.is_empty(), "no Slack call for help or status");
    }

    async fn status_lists_only_the_callers_waits_in_this_workspace(db) {
        let (app, _clock) = command_app(db).await;
        let (answer, _) = command(&app, TEAM, "U0BOB", "status").await;
        assert_eq!(
            answer,
            "*2 pull requests are waiting for your review* (oldest first)\n\
             • <https://github.com/codertocat/hello-world/pull/2|codertocat/hello-world#2> · waiting 1d 2h\n\
             • <https://github.com/codertocat/hello-world/pull/5|codertocat/hello-world#5> · waiting 3h 0m"
        );
        // The other workspace sees its own wait on bob, and only that.
        let (answer, _) = command(&app, OTHER_TEAM, "U0BOB", "status").await;
        assert_eq!(
            answer,
            "*1 pull request is waiting for your review*\n\
             • <https://github.com/codertocat/hello-world/pull/9|codertocat/hello-world#9> · waiting 30d 0h"
        );
        // Someone without a mapped login is told how to get one.
        let (answer, _) = command(&app, TEAM, JANE, "status").await;
        assert!(answer.contains("`codereview-sync user map --slack U0JANE --forge github --login YOUR_LOGIN`"), "{answer}");

        // One pull request: merged over its channels.
        let (answer, _) = command(&app, TEAM, JANE, "status codertocat/hello-world#5").await;
        assert_eq!(
            answer,
            "<https://github.com/codertocat/hello-world/pull/5|codertocat/hello-world#5> is waiting for review since 2026-01-15 04:00 UTC (3h 0m) on @bob, @carol"
        );
        let (answer, _) = command(&app, TEAM, JANE, "status https://github.com/Codertocat/Hello-World/pull/2/files").await;
        assert!(answer.contains("since 2026-01-14 05:00 UTC (1d 2h) on @alice, @bob"), "{answer}");
        // #9 waits only in the other workspace.
        let (answer, _) = command(&app, TEAM, "U0BOB", "status codertocat/hello-world#9").await;
        assert_eq!(
            answer,
            "`codertocat/hello-world#9` is not waiting for review in this workspace (approved, closed, a draft, or not tracked here)."
        );
        let (answer, _) = command(&app, TEAM, "U0BOB", "status nonsense").await;
        assert!(answer.starts_with("`nonsense` is not a pull request"), "{answer}");
        assert!(app.slack.calls().await.is_empty(), "status reads the database only");
    }

    async fn digest_on_and_off_write_and_remove_the_subscription_and_timer(db) {
        let (app, clock) = command_app(db).await;
        let s = app.store();
        // Jane's Slack profile says Europe/Berlin: 08:15 there is 07:15 UTC, 15 minutes away.
        let (answer, _) = command(&app, TEAM, JANE, "digest on 08:15").await;
        assert_eq!(
            answer,
            "Daily digest on: every day at 08:15 (Europe/Berlin), the next on Thu 2026-01-15 08:15. \
             It comes as a direct message, only when something waits for your review and you are not away."
        );
        let info = app.slack.calls().await;
        assert_eq!(info.len(), 1);
        assert_eq!((info[0].path.as_str(), info[0].query["user"].as_str()), ("/api/users.info", JANE));
        assert_eq!(
            s.digest_subscription(TEAM, JANE).await.unwrap(),
            Some(DigestSubscription { team_id: TEAM.into(), slack_user: JANE.into(), at_min: 495, timezone: "Europe/Berlin".into() })
        );
        assert_eq!(s.timer_due_at("digest", "T0001/U0JANE").await.unwrap(), Some(start() + 15 * 60_000));
        assert!(s.digest_subscription(OTHER_TEAM, JANE).await.unwrap().is_none(), "only the calling workspace");

        // Bob's profile has no time zone: the default time, in UTC, and he is told so.
        let (answer, _) = command(&app, TEAM, "U0BOB", "digest on").await;
        assert!(answer.starts_with("Daily digest on: every day at 09:30 (UTC), the next on Thu 2026-01-15 09:30."), "{answer}");
        assert!(answer.ends_with("so UTC is used.)"), "{answer}");
        let utc = parse_zone("UTC").unwrap();
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), next_due(clock.now_ms(), 570, &utc));
        let (answer, _) = command(&app, TEAM, "U0BOB", "digest").await;
        assert_eq!(answer, "Your daily digest is on at 09:30 (UTC). `/codereview digest off` stops it.");
        let (answer, _) = command(&app, TEAM, "U0BOB", "digest on 9").await;
        assert!(answer.starts_with("`9` is not a time of day"), "{answer}");

        let (answer, _) = command(&app, TEAM, "U0BOB", "digest off").await;
        assert_eq!(answer, "Daily digest off.");
        assert!(s.digest_subscription(TEAM, "U0BOB").await.unwrap().is_none());
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), None);
        let (answer, _) = command(&app, TEAM, "U0BOB", "digest off").await;
        assert_eq!(answer, "You had no daily digest; nothing changed.");
        assert_eq!(s.timer_due_at("digest", "T0001/U0JANE").await.unwrap(), Some(start() + 15 * 60_000), "Jane's stays");

        // Jane's digest then comes from the worker at 08:15 Berlin: nothing waits on her
        // (no login), so no DM, and tomorrow's is set.
        clock.advance(Duration::from_secs(20 * 60));
        app.app.drain().await;
        app.assert_clean().await;
        assert!(app.slack.writes().await.is_empty());
        assert_eq!(s.timer_due_at("digest", "T0001/U0JANE").await.unwrap(), Some(start() + 15 * 60_000 + DAY));
    }

    async fn answers_come_well_within_three_seconds(db) {
        let (app, _clock) = command_app(db).await;
        let mut took = Vec::new();
        for i in 0..50 {
            let text = match i % 3 {
                0 => "status",
                1 => "status codertocat/hello-world#5",
                _ => "digest on 08:00",
            };
            let (_, t) = command(&app, TEAM, if i % 2 == 0 { "U0BOB" } else { JANE }, text).await;
            took.push(t);
        }
        took.sort();
        let (p50, p95, max) = (took[24], took[47], took[49]);
        eprintln!("/codereview answer time over 50 requests: p50 {p50:?}, p95 {p95:?}, max {max:?}");
        assert!(max < Duration::from_secs(3), "max {max:?}");
    }
}
