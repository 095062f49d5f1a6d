//! The daily digest end to end: the real service and worker against the fake Slack, a manual
//! clock instead of sleeping, review waits seeded through the store (as the live review state
//! writes them) in this workspace and in another one that must never show up.

use std::sync::Arc;
use std::time::Duration;

use codereview_sync::clock::{Clock, ManualClock};
use codereview_sync::domain::Forge;
use codereview_sync::store::{DigestSubscription, PrRef, PrThread, SlackRef, Store, UserMapping};
use codereview_sync::sync::digest::{next_due, parse_zone};

use crate::helpers::*;
use crate::sync_fakes::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const CAROL: &str = "U0CAROL";

/// 2026-01-15 07:00 UTC: 08:00 in Berlin, before a 09:30 digest.
fn start() -> i64 {
    "2026-01-15T07:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

fn gh_url(repo: &str, n: i64) -> String {
    format!("https://github.com/{repo}/pull/{n}")
}

async fn wait(
    store: &Store,
    team: &str,
    channel: &str,
    (forge, repo, number): (Forge, &str, i64),
    url: &str,
    since: i64,
    on: &[&str],
) {
    let thread = PrThread {
        pr: PrRef {
            forge,
            repo: repo.into(),
            number,
        },
        thread: SlackRef {
            team_id: team.into(),
            channel_id: channel.into(),
            ts: format!("1699999{number:03}.000100"),
        },
    };
    let on: Vec<String> = on.iter().map(|s| s.to_string()).collect();
    store
        .upsert_review_wait(&thread, url, &on, since)
        .await
        .unwrap();
}

async fn map(store: &Store, user: &str, forge: Forge, login: &str) {
    store
        .map_user(&UserMapping {
            slack_user_id: user.into(),
            forge,
            login: login.into(),
        })
        .await
        .unwrap();
}

async fn subscribe(store: &Store, user: &str, at_min: i32, zone: &str, now: i64) -> i64 {
    let due = next_due(now, at_min as u16, &parse_zone(zone).unwrap()).unwrap();
    store
        .subscribe_digest(
            &DigestSubscription {
                team_id: TEAM.into(),
                slack_user: user.into(),
                at_min,
                timezone: zone.into(),
            },
            due,
        )
        .await
        .unwrap();
    due
}

/// The service on a manual clock standing at [`start`], with waits for bob (github `bob`,
/// gitlab `bobby`) in this workspace and in [`OTHER_TEAM`].
async fn digest_app(db: TestDb) -> (SyncApp, Arc<ManualClock>) {
    let (app, clock) = spawn_at(db, start(), false).await;
    let s = app.store();
    add_other_team(s).await;
    map(s, "U0BOB", Forge::GitLab, "Bobby").await;
    map(s, AWAY_USER, Forge::GitHub, "away-person").await;
    map(s, CAROL, Forge::GitHub, "carol").await;
    let now = start();
    let pr2 = (Forge::GitHub, REPO, 2);
    // The oldest: #2, shown in two channels (one line), pending 2d 3h.
    wait(
        s,
        TEAM,
        CHANNEL,
        pr2,
        &gh_url(REPO, 2),
        now - (2 * DAY + 3 * HOUR),
        &["alice", "bob"],
    )
    .await;
    wait(
        s,
        TEAM,
        "C0009",
        pr2,
        &gh_url(REPO, 2),
        now - HOUR,
        &["bob"],
    )
    .await;
    // GitLab, through bob's GitLab login, pending 5 h.
    let mr = "https://gitlab.example.com/group/app/-/merge_requests/7";
    wait(
        s,
        TEAM,
        GL_CHANNEL,
        (Forge::GitLab, GL_REPO, 7),
        mr,
        now - 5 * HOUR,
        &["bobby"],
    )
    .await;
    // Not bob's.
    wait(
        s,
        TEAM,
        CHANNEL,
        (Forge::GitHub, REPO, 3),
        &gh_url(REPO, 3),
        now - 9 * DAY,
        &["alice"],
    )
    .await;
    // The away person's.
    wait(
        s,
        TEAM,
        CHANNEL,
        (Forge::GitHub, REPO, 4),
        &gh_url(REPO, 4),
        now - HOUR,
        &["away-person"],
    )
    .await;
    // Another workspace's wait on bob, older than all: never in this workspace's digest.
    let other = (Forge::GitHub, "codertocat/secret", 9);
    wait(
        s,
        OTHER_TEAM,
        "C0777",
        other,
        &gh_url("codertocat/secret", 9),
        now - 30 * DAY,
        &["bob"],
    )
    .await;
    (app, clock)
}

async fn slack_calls(app: &SyncApp, method: &str) -> Vec<Call> {
    app.slack
        .calls()
        .await
        .into_iter()
        .filter(|c| c.path == format!("/api/{method}"))
        .collect()
}

matrix! {
    async fn the_digest_lists_this_workspaces_waits_on_the_person_oldest_first(db) {
        let (app, clock) = digest_app(db).await;
        let s = app.store();
        // 09:30 in Berlin = 08:30 UTC, 90 minutes after the start.
        let due = subscribe(s, "U0BOB", 570, "Europe/Berlin", start()).await;
        assert_eq!(due, start() + 90 * MIN);

        // Not before `at`: a minute early, nothing is fired or sent.
        clock.advance(Duration::from_secs(89 * 60));
        app.app.drain().await;
        assert!(app.slack.calls().await.is_empty(), "no Slack call before 09:30");
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), Some(due));

        clock.advance(Duration::from_secs(60));
        app.app.drain().await;
        app.assert_clean().await;
        let (_, metrics) = app.app.get("/metrics").await;
        assert!(metrics.contains("codereview_sync_cockpit_messages_total{kind=\"digest\"} 1"), "{metrics}");
        let opened = slack_calls(&app, "conversations.open").await;
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].body, serde_json::json!({"users": "U0BOB"}));
        let posts = slack_calls(&app, "chat.postMessage").await;
        assert_eq!(posts.len(), 1, "one direct message");
        assert_eq!(posts[0].body["channel"], dm_channel("U0BOB"));
        assert!(posts[0].body.get("thread_ts").is_none());
        assert_eq!(
            posts[0].text(),
            "*2 pull requests are waiting for your review* (oldest first)\n\
             • <https://github.com/codertocat/hello-world/pull/2|codertocat/hello-world#2> · waiting 2d 4h\n\
             • <https://gitlab.example.com/group/app/-/merge_requests/7|group/app!7> · waiting 6h 30m"
        );
        assert_eq!(
            posts[0].body["metadata"]["event_payload"]["key"],
            format!("digest:T0001/U0BOB@{due}")
        );
        assert!(!posts[0].text().contains("secret"), "another workspace's wait never shows");

        // The next day's digest is scheduled, and comes: #2 was approved meanwhile.
        let tomorrow = due + DAY;
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), Some(tomorrow));
        s.remove_review_wait(&PrThread {
            pr: PrRef { forge: Forge::GitHub, repo: REPO.into(), number: 2 },
            thread: SlackRef { team_id: TEAM.into(), channel_id: CHANNEL.into(), ts: String::new() },
        })
        .await
        .unwrap();
        clock.advance(Duration::from_secs(24 * 3600 - 60));
        app.app.drain().await;
        assert_eq!(slack_calls(&app, "chat.postMessage").await.len(), 1, "not before the next day's 09:30");
        clock.advance(Duration::from_secs(60));
        app.app.drain().await;
        let posts = slack_calls(&app, "chat.postMessage").await;
        assert_eq!(posts.len(), 2);
        assert_eq!(
            posts[1].text(),
            "*2 pull requests are waiting for your review* (oldest first)\n\
             • <https://gitlab.example.com/group/app/-/merge_requests/7|group/app!7> · waiting 1d 6h\n\
             • <https://github.com/codertocat/hello-world/pull/2|codertocat/hello-world#2> · waiting 1d 2h",
            "#2 still waits in its other channel, since an hour before the start: now the newer"
        );
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), Some(tomorrow + DAY));
        app.assert_clean().await;
    }

    async fn away_people_and_people_with_nothing_waiting_get_no_digest(db) {
        let (app, clock) = digest_app(db).await;
        let s = app.store();
        let away_due = subscribe(s, AWAY_USER, 570, "UTC", start()).await;
        let carol_due = subscribe(s, CAROL, 570, "UTC", start()).await;
        // Subscribed, with no forge login mapped.
        let jane_due = subscribe(s, JANE, 570, "UTC", start()).await;
        clock.advance(Duration::from_secs(3 * 3600));
        app.app.drain().await;
        app.assert_clean().await;
        let calls: Vec<String> = app.slack.calls().await.into_iter().map(|c| c.path).collect();
        assert_eq!(
            calls,
            vec!["/api/users.info".to_string()],
            "only the away person's status is looked up (carol has nothing waiting, Jane no login)"
        );
        assert!(app.slack.writes().await.is_empty(), "no direct message");
        for (user, due) in [(AWAY_USER, away_due), (CAROL, carol_due), (JANE, jane_due)] {
            assert_eq!(
                s.timer_due_at("digest", &format!("T0001/{user}")).await.unwrap(),
                Some(due + DAY),
                "{user}: tomorrow's digest is still scheduled"
            );
        }
    }

    async fn a_retried_digest_does_not_post_twice(db) {
        let (app, clock) = digest_app(db).await;
        let s = app.store();
        let due = subscribe(s, "U0BOB", 570, "Europe/Berlin", start()).await;
        clock.advance(Duration::from_secs(2 * 3600));
        app.app.drain().await;
        assert_eq!(slack_calls(&app, "chat.postMessage").await.len(), 1);

        // The worker died after the post, before the event was done: the same timer event
        // (same dedupe key) comes back with attempts > 1.
        exec(s, "DELETE FROM event_deliveries WHERE dedupe_key LIKE 'digest:%'").await;
        s.set_timer("digest", "T0001/U0BOB", due, None).await.unwrap();
        assert_eq!(s.fire_due_timers(&vault(1), clock.now_ms(), 10).await.unwrap(), 1);
        exec(s, "UPDATE event_queue SET attempts = 1").await;
        app.app.drain().await;
        app.assert_clean().await;
        assert_eq!(slack_calls(&app, "chat.postMessage").await.len(), 1, "the retry found the DM");
        let history = slack_calls(&app, "conversations.history").await;
        assert_eq!(history.len(), 1, "the retry looked for its post");
        assert_eq!(history[0].query["channel"], dm_channel("U0BOB"));
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), Some(due + DAY));
    }

    async fn an_unsubscribed_digest_sends_nothing_and_stops(db) {
        let (app, clock) = digest_app(db).await;
        let s = app.store();
        subscribe(s, "U0BOB", 570, "UTC", start()).await;
        assert!(s.unsubscribe_digest(TEAM, "U0BOB").await.unwrap());
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), None, "--off cancels the timer");
        assert!(!s.unsubscribe_digest(TEAM, "U0BOB").await.unwrap());
        // A timer that fires after its subscription is gone (turned off while queued).
        s.set_timer("digest", "T0001/U0BOB", start() + MIN, None).await.unwrap();
        clock.advance(Duration::from_secs(3 * 3600));
        app.app.drain().await;
        app.assert_clean().await;
        assert!(app.slack.calls().await.is_empty());
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), None, "no next one");
        assert!(s.list_digest_subscriptions().await.unwrap().is_empty());

        // A removed workspace's digests end with it.
        let due = next_due(clock.now_ms(), 570, &parse_zone("UTC").unwrap()).unwrap();
        s.subscribe_digest(
            &DigestSubscription { team_id: OTHER_TEAM.into(), slack_user: "U0BOB".into(), at_min: 570, timezone: "UTC".into() },
            due,
        )
        .await
        .unwrap();
        assert!(s.remove_workspace(OTHER_TEAM).await.unwrap());
        clock.advance(Duration::from_secs(24 * 3600));
        app.app.drain().await;
        app.assert_clean().await;
        assert!(app.slack.calls().await.is_empty());
        assert!(s.digest_subscription(OTHER_TEAM, "U0BOB").await.unwrap().is_none());
        assert_eq!(s.timer_due_at("digest", "T0002/U0BOB").await.unwrap(), None);
    }
}

matrix! {
    async fn user_digest_sets_and_removes_a_subscription_from_the_command_line(db) {
        let dir = tempfile::tempdir().unwrap();
        let k = key_b64(1);
        let env = [("DATABASE_URL", db.url.as_str()), ("CODEREVIEW_SYNC_KEY", k.as_str())];
        let run = |args: &[&str], stdin: &str| run_binary(args, &env, stdin, Some(dir.path()));
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let usage = |args: &[&str]| {
            let out = run(args, "");
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
            text(&out.stderr)
        };
        assert!(usage(&["user", "digest", "--slack", "U0BOB", "--at", "09:30"]).contains("no workspace is registered"));
        assert!(run(&["workspace", "add", "--team", "T0001"], "xoxb-cli-one").status.success());
        let s = &db.store;

        let before = codereview_sync::store::now_ms();
        let out = run(&["user", "digest", "--slack", "U0BOB", "--at", "09:30", "--timezone", "Europe/Berlin"], "");
        let after = codereview_sync::store::now_ms();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("daily digest for U0BOB in T0001 at 09:30 Europe/Berlin; next "), "{}", text(&out.stdout));
        assert_eq!(
            s.digest_subscription(TEAM, "U0BOB").await.unwrap(),
            Some(DigestSubscription { team_id: TEAM.into(), slack_user: "U0BOB".into(), at_min: 570, timezone: "Europe/Berlin".into() })
        );
        let berlin = parse_zone("Europe/Berlin").unwrap();
        let due = s.timer_due_at("digest", "T0001/U0BOB").await.unwrap().unwrap();
        assert!([next_due(before, 570, &berlin), next_due(after, 570, &berlin)].contains(&Some(due)), "{due}");
        // Moving it: the same row and timer, UTC by default.
        assert!(run(&["user", "digest", "--slack", "U0BOB", "--at", "7:05", "--team", "T0001"], "").status.success());
        let sub = s.digest_subscription(TEAM, "U0BOB").await.unwrap().unwrap();
        assert_eq!((sub.at_min, sub.timezone.as_str()), (425, "UTC"));
        assert_eq!(s.list_digest_subscriptions().await.unwrap().len(), 1);

        // Refused, nothing changed: a bad zone (named), a bad time, both or neither switch.
        assert!(usage(&["user", "digest", "--slack", "U0BOB", "--at", "09:30", "--timezone", "Mars/Olympus"]).contains("Mars/Olympus"));
        assert!(usage(&["user", "digest", "--slack", "U0BOB", "--at", "25:00"]).contains("25:00"));
        usage(&["user", "digest", "--slack", "U0BOB", "--at", "09:30", "--off"]);
        usage(&["user", "digest", "--slack", "U0BOB"]);
        usage(&["user", "digest", "--slack", "U0BOB", "--off", "--timezone", "UTC"]);
        assert!(usage(&["user", "digest", "--slack", "bob", "--off"]).contains("not a Slack user id"));
        assert_eq!(s.digest_subscription(TEAM, "U0BOB").await.unwrap().unwrap().at_min, 425);

        // Two workspaces: --team is needed.
        assert!(run(&["workspace", "add", "--team", "T0002"], "xoxb-cli-two").status.success());
        assert!(usage(&["user", "digest", "--slack", "U0BOB", "--off"]).contains("--team"));
        assert!(usage(&["user", "digest", "--slack", "U0BOB", "--off", "--team", "T0002"]).contains("U0BOB has no daily digest in T0002"));
        let out = run(&["user", "digest", "--slack", "U0BOB", "--off", "--team", "T0001"], "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "daily digest for U0BOB in T0001 off\n");
        assert!(s.digest_subscription(TEAM, "U0BOB").await.unwrap().is_none());
        assert_eq!(s.timer_due_at("digest", "T0001/U0BOB").await.unwrap(), None);
    }
}
