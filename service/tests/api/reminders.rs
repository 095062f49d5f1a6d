//! Reminders (`link reminders`) end to end: the real sync service with the live review state
//! on, against the fake Slack and the fake GitHub of the live-review tests, driven by a
//! manual clock (no sleeping for a reminder). A pending pull request gets one reply in its
//! thread per threshold of working time, never at night or on a weekend, never after it was
//! approved, closed or made a draft, never naming someone away; and two replicas, one killed
//! in the middle of posting, post each reminder exactly once.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use codereview_sync::clock::{Clock, ManualClock};
use codereview_sync::domain::Forge;
use codereview_sync::store::{PrRef, PrThread, ReminderSettings, SlackRef, Store, UserMapping};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::live_review::{approval, mount_gitlab_mr, mount_world, world};
use crate::sync_fakes::*;

/// Monday 2026-11-23 10:00 in Berlin (09:00 UTC). In the past on purpose: the service reads
/// every time it stamps or compares from the injected clock, never from the machine's.
const MONDAY_10: i64 = 1_795_424_400_000;
const H: i64 = 3_600_000;
const M: i64 = 60_000;
const DAY: i64 = 24 * H;
/// The reminder timer of PR #2's thread in the GitHub channel.
const KEY: &str = "github:codertocat/hello-world#2@T0001/C0001";

/// The service with live review on, a manual clock at `start`, and reminders for the GitHub
/// link after `after` of working time, 09:00-18:00 Monday to Friday in Berlin.
async fn spawn_reminding(db: TestDb, start: i64, after: i64) -> (SyncApp, Arc<ManualClock>) {
    let (app, clock) = spawn_at(db, start, true).await;
    app.store()
        .put_reminder_settings(&ReminderSettings {
            forge: Some(Forge::GitHub),
            repo: REPO.into(),
            team_id: TEAM.into(),
            channel_id: CHANNEL.into(),
            after_ms: after,
            day_start_min: 9 * 60,
            day_end_min: 18 * 60,
            days: 0b1_1111,
            timezone: "Europe/Berlin".into(),
        })
        .await
        .unwrap();
    (app, clock)
}

/// The fake GitHub answers for PR #2: `world` for the evaluation, `pull` overrides for REST.
async fn mount_pr(app: &SyncApp, world: Value, pull: Value) {
    app.github.reset().await;
    mount_world(app, world, &[2], None).await;
    mount_pull_and_status(app, pull, "pending", "1 scope pending").await;
}

fn thread() -> PrThread {
    PrThread {
        pr: PrRef {
            forge: Forge::GitHub,
            repo: REPO.into(),
            number: 2,
        },
        thread: SlackRef {
            team_id: TEAM.into(),
            channel_id: CHANNEL.into(),
            ts: FakeSlack::ts(1),
        },
    }
}

fn advance_to(clock: &ManualClock, at: i64) {
    let by = at - clock.now_ms();
    assert!(by >= 0, "the clock only moves forward");
    clock.advance(Duration::from_millis(u64::try_from(by).unwrap()));
}

/// Reminder replies posted so far: (idempotency key, thread ts, text).
async fn reminders(app: &SyncApp) -> Vec<(String, String, String)> {
    app.slack
        .writes()
        .await
        .into_iter()
        .filter(|c| c.path == "/api/chat.postMessage")
        .filter_map(|c| {
            let key = c.body["metadata"]["event_payload"]["key"]
                .as_str()?
                .to_string();
            key.contains(":reminder:").then(|| {
                (
                    key,
                    c.body["thread_ts"].as_str().unwrap_or_default().to_string(),
                    c.text().to_string(),
                )
            })
        })
        .collect()
}

fn post_key(due: i64) -> String {
    format!("github:{REPO}#2:reminder:{due}")
}

/// The opening webhook again, at another `updated_at`: the parent is updated from the forge.
fn update(n: u32) -> Value {
    let mut again = fixture("pull_request.opened.payload.json");
    again["pull_request"]["updated_at"] = json!(format!("2019-05-15T16:{n:02}:00Z"));
    again
}

async fn open(app: &SyncApp) {
    mount_pr(app, world(vec![]), json!({})).await;
    app.github(
        "pull_request",
        "d-open",
        &fixture("pull_request.opened.payload.json"),
    )
    .await;
}

matrix! {
    async fn a_reminder_comes_once_per_threshold_of_working_time(db) {
        let (app, clock) = spawn_reminding(db, MONDAY_10, 2 * H).await;
        open(&app).await;
        let posted = app.slack.posted();
        assert_eq!(posted.len(), 2, "the parent and the first mention: {posted:?}");
        let wait = app.store().review_wait(&thread()).await.unwrap().expect("it waits");
        assert_eq!(wait.pending_since, MONDAY_10);
        assert_eq!(wait.waiting_on, ["ana", "bob"]);
        assert_eq!(wait.url, "https://github.com/Codertocat/Hello-World/pull/2");
        assert_eq!(app.store().timer_due_at("reminder", KEY).await.unwrap(), Some(MONDAY_10 + 2 * H));

        // A second before the threshold: nothing.
        advance_to(&clock, MONDAY_10 + 2 * H - 1000);
        app.app.drain().await;
        assert!(reminders(&app).await.is_empty());

        // At the threshold: one reply in the thread, naming who can still approve (ana is not
        // in the user map: her name; bob is: a mention).
        advance_to(&clock, MONDAY_10 + 2 * H);
        app.app.drain().await;
        let r = reminders(&app).await;
        assert_eq!(
            r,
            [(
                post_key(MONDAY_10 + 2 * H),
                FakeSlack::ts(1),
                "⏰ Still waiting for review after 2h of working time · docs needs 1 more: ana or <@U0BOB>".to_string()
            )]
        );
        assert_eq!(app.store().timer_due_at("reminder", KEY).await.unwrap(), Some(MONDAY_10 + 4 * H));
        app.app.drain().await;
        assert_eq!(reminders(&app).await.len(), 1, "one per threshold");

        advance_to(&clock, MONDAY_10 + 4 * H - 1000);
        app.app.drain().await;
        assert_eq!(reminders(&app).await.len(), 1);
        advance_to(&clock, MONDAY_10 + 4 * H);
        app.app.drain().await;
        let r = reminders(&app).await;
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].0, post_key(MONDAY_10 + 4 * H));
        assert_eq!(
            r[1].2,
            "⏰ Still waiting for review after 4h of working time · docs needs 1 more: ana or <@U0BOB>"
        );
        app.app.drain().await;
        assert_eq!(reminders(&app).await.len(), 2);
        // Counted for operators: one mention, two reminders.
        let (status, metrics) = app.app.get("/metrics").await;
        assert_eq!(status, 200);
        assert!(metrics.contains("codereview_sync_cockpit_messages_total{kind=\"mention\"} 1"), "{metrics}");
        assert!(metrics.contains("codereview_sync_cockpit_messages_total{kind=\"reminder\"} 2"), "{metrics}");
        assert!(metrics.contains("codereview_sync_cockpit_messages_total{kind=\"digest\"} 0"), "{metrics}");
        app.assert_clean().await;
        app.assert_no_text().await;
    }

    async fn no_reminder_at_night_or_on_the_weekend(db) {
        // Opened Friday 14:00: 4 working hours end exactly at Friday 18:00, so the reminder
        // is due Monday 09:00.
        let friday_14 = MONDAY_10 + 4 * DAY + 4 * H;
        let monday_9 = MONDAY_10 + 7 * DAY - H;
        let (app, clock) = spawn_reminding(db, friday_14, 4 * H).await;
        open(&app).await;
        assert_eq!(app.store().timer_due_at("reminder", KEY).await.unwrap(), Some(monday_9));
        for at in [friday_14 + 4 * H, friday_14 + 10 * H, friday_14 + DAY, monday_9 - 1000] {
            advance_to(&clock, at);
            app.app.drain().await;
            assert!(reminders(&app).await.is_empty(), "nothing posted at {at}");
        }
        // The service was down all Monday; it catches up at 19:00: too late for today, the
        // reminder moves to Tuesday 09:00.
        let monday_19 = monday_9 + 10 * H;
        advance_to(&clock, monday_19);
        app.app.drain().await;
        assert!(reminders(&app).await.is_empty(), "not at night");
        let tuesday_9 = monday_9 + DAY;
        assert_eq!(app.store().timer_due_at("reminder", KEY).await.unwrap(), Some(tuesday_9));
        advance_to(&clock, tuesday_9);
        app.app.drain().await;
        // Friday 14:00-18:00 and all of Monday: 13 hours of working time.
        assert_eq!(
            reminders(&app).await,
            [(
                post_key(tuesday_9),
                FakeSlack::ts(1),
                "⏰ Still waiting for review after 13h of working time · docs needs 1 more: ana or <@U0BOB>".to_string()
            )]
        );
        app.assert_clean().await;
    }

    async fn reminders_stop_when_approved_closed_or_a_draft(db) {
        let (app, clock) = spawn_reminding(db, MONDAY_10, 2 * H).await;
        open(&app).await;
        let waits = || async { app.store().review_wait(&thread()).await.unwrap() };
        let timer = || async { app.store().timer_due_at("reminder", KEY).await.unwrap() };
        assert!(waits().await.is_some());

        // bob approves: the parent update sees it; the wait and its reminder are gone.
        mount_pr(&app, world(vec![approval("bob")]), json!({})).await;
        app.github("pull_request", "d-1", &update(1)).await;
        assert_eq!(waits().await, None);
        assert_eq!(timer().await, None);
        advance_to(&clock, MONDAY_10 + 3 * H);
        app.app.drain().await;
        assert!(reminders(&app).await.is_empty());

        // Pending again (the approval was dismissed): waiting since now, reminder in 2h.
        let since = clock.now_ms();
        mount_pr(&app, world(vec![]), json!({})).await;
        app.github("pull_request", "d-2", &update(2)).await;
        assert_eq!(waits().await.unwrap().pending_since, since);
        assert_eq!(timer().await, Some(since + 2 * H));

        // Made a draft: no wait.
        let mut draft = world(vec![]);
        draft["repository"][REPO]["pullRequest"]["2"]["isDraft"] = json!(true);
        mount_pr(&app, draft, json!({"draft": true})).await;
        app.github("pull_request", "d-3", &update(3)).await;
        assert_eq!(waits().await, None);
        assert_eq!(timer().await, None);

        // Ready again, then closed: no wait.
        mount_pr(&app, world(vec![]), json!({})).await;
        app.github("pull_request", "d-4", &update(4)).await;
        assert!(waits().await.is_some());
        let mut closed = world(vec![]);
        closed["repository"][REPO]["pullRequest"]["2"]["state"] = json!("CLOSED");
        mount_pr(&app, closed, json!({"state": "closed"})).await;
        app.github("pull_request", "d-5", &update(5)).await;
        assert_eq!(waits().await, None);
        assert_eq!(timer().await, None);

        // Open and pending again; approved on GitHub without a webhook reaching us: the
        // reminder re-reads the pull request when it fires, and says nothing.
        mount_pr(&app, world(vec![]), json!({})).await;
        app.github("pull_request", "d-6", &update(6)).await;
        let due = timer().await.expect("a reminder is set");
        mount_pr(&app, world(vec![approval("ana")]), json!({})).await;
        advance_to(&clock, due);
        app.app.drain().await;
        assert!(reminders(&app).await.is_empty(), "never after approval");
        assert_eq!(waits().await, None);
        assert_eq!(timer().await, None);
        advance_to(&clock, due + DAY);
        app.app.drain().await;
        assert!(reminders(&app).await.is_empty());
        app.assert_clean().await;
    }

    async fn gitlab_merge_requests_get_reminders_too(db) {
        let (app, clock) = spawn_reminding(db, MONDAY_10, 2 * H).await;
        app.store()
            .put_reminder_settings(&ReminderSettings {
                forge: Some(Forge::GitLab),
                repo: GL_REPO.into(),
                team_id: TEAM.into(),
                channel_id: GL_CHANNEL.into(),
                after_ms: 2 * H,
                day_start_min: 9 * 60,
                day_end_min: 18 * 60,
                days: 0b1_1111,
                timezone: "Europe/Berlin".into(),
            })
            .await
            .unwrap();
        // ana approved docs; backend still needs mo.
        mount_gitlab_mr(&app, &["ana"], None).await;
        app.gitlab("Merge Request Hook", "k-open", &gitlab_mr("open", "opened")).await;
        let thread = PrThread {
            pr: PrRef { forge: Forge::GitLab, repo: GL_REPO.into(), number: 1 },
            thread: SlackRef { team_id: TEAM.into(), channel_id: GL_CHANNEL.into(), ts: FakeSlack::ts(1) },
        };
        let wait = app.store().review_wait(&thread).await.unwrap().expect("it waits");
        assert_eq!(wait.waiting_on, ["mo"]);
        assert_eq!(wait.url, "https://gitlab.example.com/group/app/-/merge_requests/1");

        advance_to(&clock, MONDAY_10 + 2 * H - M);
        app.app.drain().await;
        assert!(reminders(&app).await.is_empty(), "not before two working hours");
        advance_to(&clock, MONDAY_10 + 2 * H);
        app.app.drain().await;
        let r = reminders(&app).await;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, format!("gitlab:{GL_REPO}#1:reminder:{}", MONDAY_10 + 2 * H));
        assert_eq!(r[0].1, FakeSlack::ts(1), "in the merge request's thread");
        assert_eq!(r[0].2, "⏰ Still waiting for review after 2h of working time · backend needs 1 more: mo");
        app.assert_clean().await;
    }

    async fn reviewers_who_are_away_are_not_reminded(db) {
        let (app, clock) = spawn_reminding(db, MONDAY_10, 2 * H).await;
        // ana's Slack status says she is on holiday.
        app.store()
            .map_user(&UserMapping {
                slack_user_id: AWAY_USER.into(),
                forge: Forge::GitHub,
                login: "ana".into(),
            })
            .await
            .unwrap();
        open(&app).await;
        advance_to(&clock, MONDAY_10 + 2 * H);
        app.app.drain().await;
        let r = reminders(&app).await;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].2, "⏰ Still waiting for review after 2h of working time · docs needs 1 more: <@U0BOB>");
        assert!(!r[0].2.contains(AWAY_USER));

        // The base branch moves on with rules that ask only ana, who is away: nobody to
        // remind, no reply; the reminder stays scheduled for when she is back.
        const NEW_BASE: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
        let mut only_ana = world(vec![]);
        let pr = &mut only_ana["repository"][REPO]["pullRequest"]["2"];
        pr["baseRefOid"] = json!(NEW_BASE);
        only_ana["repository"][REPO]["object"] = json!({ format!("{NEW_BASE}:CODEREVIEW.toml"): {
            "__typename": "Blob", "isBinary": false,
            "text": "[[scopes]]\nname = \"docs\"\npaths = [\"README.md\"]\nreviewers = [\"ana\"]\nrequire = 1\n"
        } });
        mount_pr(&app, only_ana, json!({})).await;
        advance_to(&clock, MONDAY_10 + 4 * H);
        app.app.drain().await;
        assert_eq!(reminders(&app).await.len(), 1, "no reminder naming nobody");
        assert_eq!(
            app.store().timer_due_at("reminder", KEY).await.unwrap(),
            Some(MONDAY_10 + 6 * H)
        );
        app.assert_clean().await;
    }

    async fn due_timers_are_queued_once_by_concurrent_firers(db) {
        // Two connections fire the same due timers at once, round after round: every timer
        // becomes exactly one queued event. On PostgreSQL a second pool, as another replica
        // has; SQLite serves one process, so there both callers share its pool.
        let other = match db.store.pool() {
            codereview_sync::store::Pool::Postgres(_) => Store::connect_with(&db.url, 2).await.unwrap(),
            codereview_sync::store::Pool::Sqlite(_) => db.store.clone(),
        };
        let v = vault(1);
        let now = MONDAY_10;
        let mut queued = 0;
        for round in 0..5 {
            for i in 0..20 {
                db.store
                    .set_timer("reminder", &format!("k{round}-{i}"), now - i, Some("github:a/b#1"))
                    .await
                    .unwrap();
            }
            let (a, b) = tokio::join!(
                db.store.fire_due_timers(&v, now, 100),
                other.fire_due_timers(&v, now, 100)
            );
            queued += a.unwrap() + b.unwrap();
        }
        assert_eq!(queued, 100);
        assert_eq!(count(&db.store, "event_queue").await, 100);
        assert_eq!(count(&db.store, "timers").await, 0);
        let distinct = count(&db.store, "(SELECT DISTINCT dedupe_key FROM event_queue) d").await;
        assert_eq!(distinct, 100);
    }
}

/// Runs `sql` on the test database.
async fn exec(store: &Store, sql: &'static str) {
    match store.pool() {
        codereview_sync::store::Pool::Sqlite(pool) => {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
        codereview_sync::store::Pool::Postgres(pool) => {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    }
}

/// Two `serve` processes on one PostgreSQL database with four due reminders; the first is
/// killed (SIGKILL) while Slack holds its reminder post, after Slack has taken it. The
/// survivor finishes: each reminder is posted exactly once, none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_and_a_kill_post_each_reminder_exactly_once() {
    let Some(db) = postgres_db(module_path!()).await else {
        eprintln!(
            "skipped: two replicas need PostgreSQL (set CODEREVIEW_TEST_POSTGRES to run this test)"
        );
        return;
    };
    let url = db.url.clone();
    let options = SyncOptions {
        live_review: true,
        ..SyncOptions::default()
    };
    let app = spawn_sync_app_full(db, |_, _| None, None, options).await;
    // Reminders after an hour, at any time of any day, so the real clock always works.
    app.store()
        .put_reminder_settings(&ReminderSettings {
            forge: Some(Forge::GitHub),
            repo: REPO.into(),
            team_id: TEAM.into(),
            channel_id: CHANNEL.into(),
            after_ms: H,
            day_start_min: 0,
            day_end_min: 24 * 60,
            days: 0b111_1111,
            timezone: "UTC".into(),
        })
        .await
        .unwrap();
    const PRS: [u64; 4] = [2, 3, 4, 5];
    let mut w = world(vec![]);
    let two = w["repository"][REPO]["pullRequest"]["2"].clone();
    for n in PRS {
        let mut pr = two.clone();
        pr["number"] = json!(n);
        w["repository"][REPO]["pullRequest"][n.to_string()] = pr;
    }
    mount_world(&app, w, &PRS, None).await;
    mount_pull_and_status(&app, json!({}), "pending", "1 scope pending").await;
    for n in &PRS[1..] {
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/pulls/{n}")))
            .and(header(
                "authorization",
                format!("Bearer {GITHUB_TOKEN}").as_str(),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(pull(json!({
                "number": n,
                "html_url": format!("https://github.com/Codertocat/Hello-World/pull/{n}"),
            }))))
            .mount(&app.github)
            .await;
    }
    for n in PRS {
        let mut opened = fixture("pull_request.opened.payload.json");
        opened["number"] = json!(n);
        opened["pull_request"]["number"] = json!(n);
        app.github("pull_request", &format!("d-open-{n}"), &opened)
            .await;
    }
    assert_eq!(count(app.store(), "review_waits").await, 4);
    assert_eq!(count(app.store(), "timers").await, 4);
    // They have waited two hours: every reminder is due now.
    exec(
        app.store(),
        "UPDATE review_waits SET pending_since = pending_since - 7200000",
    )
    .await;
    exec(app.store(), "UPDATE timers SET due_at = due_at - 7200000").await;
    let before = app.slack.posted().len();
    app.slack.delay_posts(Some(Duration::from_secs(3)));

    let slack_url = app.slack.api_url().to_string();
    let github_url = app.github.uri();
    let key = key_b64(1);
    let replica = || {
        Command::new(BIN)
            .arg("serve")
            .env_clear()
            .envs([
                ("DATABASE_URL", url.as_str()),
                ("CODEREVIEW_SYNC_KEY", key.as_str()),
                ("SLACK_API_URL", slack_url.as_str()),
                ("GITHUB_API_URL", github_url.as_str()),
                ("CODEREVIEW_SYNC_LIVE_REVIEW", "on"),
                ("LISTEN", "127.0.0.1:0"),
                ("CODEREVIEW_SYNC_LEASE_SECONDS", "5"),
                ("CODEREVIEW_SYNC_WORKER_CONCURRENCY", "1"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let reminder_posts = |posted: &[(String, Option<String>, String)]| -> Vec<String> {
        posted[before..]
            .iter()
            .map(|(k, _, _)| k.clone())
            .filter(|k| k.contains(":reminder:"))
            .collect()
    };

    let mut first = replica();
    let slack = &app.slack;
    let taken = wait_for(Duration::from_secs(30), || {
        let n = reminder_posts(&slack.posted()).len();
        async move { n >= 1 }
    })
    .await;
    assert!(taken, "the first replica posted no reminder");
    // Slack has the first reminder; the replica waits 3 s for the answer. Start the second,
    // then kill the first before it hears back.
    let mut second = replica();
    first.kill().unwrap();
    first.wait().unwrap();
    let at_kill = reminder_posts(&slack.posted());
    assert_eq!(at_kill.len(), 1, "killed mid-post: {at_kill:?}");

    let store = app.store().clone();
    let done = wait_for(Duration::from_secs(60), || {
        let store = store.clone();
        let posted = reminder_posts(&slack.posted()).len();
        async move {
            posted >= PRS.len()
                && count(&store, "event_queue").await == 0
                && count(&store, "timers").await == PRS.len() as i64
        }
    })
    .await;
    // A moment more: anything duplicated late would show now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    let posts = reminder_posts(&slack.posted());
    assert!(done, "reminders not all sent: {posts:?}");

    let mut per_pr = std::collections::BTreeMap::new();
    for k in &posts {
        let pr = k.split(":reminder:").next().unwrap().to_string();
        *per_pr.entry(pr).or_insert(0) += 1;
    }
    assert_eq!(per_pr.len(), PRS.len(), "none lost: {posts:?}");
    assert!(
        per_pr.values().all(|n| *n == 1),
        "each exactly once: {posts:?}"
    );
    // The survivor finished the killed replica's reminder: it looked for the post first.
    let lookups = slack
        .calls()
        .await
        .iter()
        .filter(|c| c.path == "/api/conversations.replies")
        .count();
    assert!(
        lookups >= 1,
        "the retry looked for the earlier attempt's post"
    );
    assert_eq!(count(&store, "event_failures").await, 0);
    // The next reminders are an hour of working time away.
    let next: Vec<(i64,)> = match store.pool() {
        codereview_sync::store::Pool::Postgres(pool) => sqlx::query_as("SELECT due_at FROM timers")
            .fetch_all(pool)
            .await
            .unwrap(),
        codereview_sync::store::Pool::Sqlite(_) => unreachable!(),
    };
    let now = codereview_sync::store::now_ms();
    assert!(next.iter().all(|(d,)| *d > now + 50 * M), "{next:?}");
    println!(
        "two replicas: {} reminders, first replica killed mid-post, each posted exactly once ({} lookup(s) by the survivor)",
        posts.len(),
        lookups
    );
}
