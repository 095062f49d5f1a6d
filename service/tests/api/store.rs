//! Storage behaviour on SQLite and PostgreSQL: sealing, row binding, rotation, links, dedupe.

use codereview_sync::domain::{Forge, Source};
use codereview_sync::ingest::Ingestor;
use codereview_sync::queue::{EventHandler, Worker};
use codereview_sync::secret::Secret;
use codereview_sync::store::{
    CommentMessage, CredentialKind, Enqueued, LedgerEntry, Mirror, NewEvent, Origin, PrRef,
    PrThread, RepoLink, SlackRef, StoreError, UserMapping, now_ms,
};
use codereview_sync::vault::{Vault, VaultError};
use std::sync::Arc;

use crate::helpers::*;

const SLACK_TOKEN: &str = "xoxb-1111-2222-plaintext-bot-token";
const GITHUB_TOKEN: &str = "ghp_plaintextGitHubToken0123456789";

fn secret(s: &str) -> Secret<String> {
    Secret::new(s.to_string())
}

matrix! {
    async fn migrations_are_idempotent(db) {
        db.store.migrate().await.unwrap();
        db.store.migrate().await.unwrap();
        for table in [
            "workspaces", "credentials", "repo_links", "user_map", "pr_threads",
            "comment_messages", "ledger", "event_deliveries", "event_queue", "event_failures",
        ] {
            assert_eq!(count(&db.store, table).await, 0, "{table}");
        }
    }

    async fn workspace_lifecycle(db) {
        let vault = vault(1);
        let store = &db.store;
        store.add_workspace(&vault, "T0001", &secret(SLACK_TOKEN)).await.unwrap();
        store.add_workspace(&vault, "T0002", &secret("xoxb-other")).await.unwrap();
        assert_eq!(store.list_workspaces().await.unwrap(), ["T0001", "T0002"]);
        let token = store.slack_bot_token(&vault, "T0001").await.unwrap().unwrap();
        assert_eq!(token.expose(), SLACK_TOKEN);
        // Re-adding replaces the token, keeps one row.
        store.add_workspace(&vault, "T0001", &secret("xoxb-new")).await.unwrap();
        assert_eq!(store.slack_bot_token(&vault, "T0001").await.unwrap().unwrap().expose(), "xoxb-new");
        assert_eq!(count(store, "credentials").await, 2);
        store.add_link(&RepoLink { forge: None, repo: "acme/web".into(), team_id: "T0001".into(), channel_id: "C0001".into() }).await.unwrap();
        assert!(store.remove_workspace("T0001").await.unwrap());
        assert!(!store.remove_workspace("T0001").await.unwrap());
        assert!(store.slack_bot_token(&vault, "T0001").await.unwrap().is_none());
        assert!(store.list_links().await.unwrap().is_empty(), "links go with the workspace");
        assert_eq!(store.list_workspaces().await.unwrap(), ["T0002"]);
    }

    async fn ciphertext_never_contains_the_plaintext_token(db) {
        let vault = vault(1);
        let store = &db.store;
        store.add_workspace(&vault, "T0001", &secret(SLACK_TOKEN)).await.unwrap();
        store.put_credential(&vault, CredentialKind::Forge(Forge::GitHub), "acme", &secret(GITHUB_TOKEN)).await.unwrap();
        store.put_credential(&vault, CredentialKind::Forge(Forge::GitLab), "acme", &secret(GITHUB_TOKEN)).await.unwrap();
        let ciphertexts = blobs(store, "credentials", "ciphertext").await;
        let nonces = blobs(store, "credentials", "nonce").await;
        assert_eq!(ciphertexts.len(), 3);
        for (c, n) in ciphertexts.iter().zip(&nonces) {
            assert_eq!(n.len(), 12, "96-bit nonce");
            for token in [SLACK_TOKEN, GITHUB_TOKEN] {
                assert!(!contains(c, token.as_bytes()), "plaintext in ciphertext");
                assert!(!contains(c, &token.as_bytes()[..12]), "plaintext prefix in ciphertext");
            }
        }
        // Same token for two owners: different nonces, different ciphertexts.
        assert_ne!(nonces[0], nonces[1]);
        assert_ne!(ciphertexts[1], ciphertexts[2]);
        for column in ["kind", "owner", "key_id"] {
            for v in texts(store, "credentials", column).await {
                assert!(!v.contains(SLACK_TOKEN) && !v.contains(GITHUB_TOKEN));
            }
        }
        // On SQLite, scan the database files byte for byte.
        if let Some(path) = db.sqlite_path() {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
            assert!(!bytes.is_empty());
            for token in [SLACK_TOKEN, GITHUB_TOKEN] {
                assert!(!contains(&bytes, token.as_bytes()), "plaintext token in the SQLite file");
            }
            assert!(contains(&bytes, b"acme"), "the scan does see identifiers");
        }
    }

    async fn ciphertext_moved_to_another_row_fails(db) {
        let vault = vault(1);
        let store = &db.store;
        store.add_workspace(&vault, "T0001", &secret(SLACK_TOKEN)).await.unwrap();
        store.add_workspace(&vault, "T0002", &secret("xoxb-victim")).await.unwrap();
        // An attacker with write access copies T0001's sealed token onto T0002's row.
        let copied = exec(store, "UPDATE credentials SET
                key_id = (SELECT key_id FROM credentials WHERE owner = 'T0001'),
                nonce = (SELECT nonce FROM credentials WHERE owner = 'T0001'),
                ciphertext = (SELECT ciphertext FROM credentials WHERE owner = 'T0001')
            WHERE owner = 'T0002'").await;
        assert_eq!(copied, 1);
        let err = store.slack_bot_token(&vault, "T0002").await.unwrap_err();
        assert!(matches!(err, StoreError::Vault(VaultError::Decrypt { .. })), "{err}");
        // The original row still opens.
        assert_eq!(store.slack_bot_token(&vault, "T0001").await.unwrap().unwrap().expose(), SLACK_TOKEN);
        // Moving a credential to another kind fails as well.
        exec(store, "UPDATE credentials SET kind = 'github' WHERE owner = 'T0001'").await;
        assert!(store.credential(&vault, CredentialKind::Forge(Forge::GitHub), "T0001").await.is_err());
    }

    async fn queued_payload_moved_to_another_row_fails(db) {
        let vault = vault(1);
        let store = &db.store;
        for (id, text) in [("Ev1", "first secret message"), ("Ev2", "second secret message")] {
            let body = slack_message(id, text);
            let event = NewEvent { source: Source::Slack, dedupe_key: id, kind: "message", payload: &body };
            store.enqueue(&vault, &event, now_ms()).await.unwrap();
        }
        for c in blobs(store, "event_queue", "ciphertext").await {
            assert!(!contains(&c, b"secret message"), "payload text at rest in clear");
        }
        exec(store, "UPDATE event_queue SET
                nonce = (SELECT nonce FROM event_queue WHERE dedupe_key = 'Ev1'),
                ciphertext = (SELECT ciphertext FROM event_queue WHERE dedupe_key = 'Ev1')
            WHERE dedupe_key = 'Ev2'").await;
        let recorder = Arc::new(Recorder::default());
        let worker = Worker::new(store.clone(), vault.clone(), recorder.clone() as Arc<dyn EventHandler>, Default::default(), fast_worker());
        let report = worker.run_once().await.unwrap();
        assert_eq!((report.done, report.failed), (1, 1));
        let seen = recorder.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].dedupe_key, "Ev1");
        let failures = store.failures(10).await.unwrap();
        assert_eq!(failures[0].dedupe_key, "Ev2");
        assert!(failures[0].reason.contains("does not decrypt"), "{}", failures[0].reason);
        assert_eq!(count(store, "event_queue").await, 0);
    }

    async fn rotate_key_round_trip(db) {
        let store = &db.store;
        let old = Vault::new(key(1), &[]);
        store.add_workspace(&old, "T0001", &secret(SLACK_TOKEN)).await.unwrap();
        store.put_credential(&old, CredentialKind::Forge(Forge::GitHub), "acme", &secret(GITHUB_TOKEN)).await.unwrap();
        let body = slack_message("Ev1", "hello");
        store.enqueue(&old, &NewEvent { source: Source::Slack, dedupe_key: "Ev1", kind: "message", payload: &body }, now_ms()).await.unwrap();

        // New key current, old key still accepted for reading.
        let rotating = Vault::new(key(2), &[key(1)]);
        assert_eq!(store.slack_bot_token(&rotating, "T0001").await.unwrap().unwrap().expose(), SLACK_TOKEN);
        let report = store.rotate_key(&rotating).await.unwrap();
        assert_eq!((report.credentials, report.events), (2, 1));
        assert!(report.unreadable.is_empty());
        for table in ["credentials", "event_queue"] {
            for id in texts(store, table, "key_id").await {
                assert_eq!(id, rotating.current_key_id(), "{table}");
            }
        }
        // Idempotent: nothing left to do.
        let again = store.rotate_key(&rotating).await.unwrap();
        assert_eq!((again.credentials, again.events), (0, 0));

        // The old key can be retired: the new key alone reads everything...
        let new_only = Arc::new(Vault::new(key(2), &[]));
        assert_eq!(store.slack_bot_token(&new_only, "T0001").await.unwrap().unwrap().expose(), SLACK_TOKEN);
        assert_eq!(
            store.credential(&new_only, CredentialKind::Forge(Forge::GitHub), "acme").await.unwrap().unwrap().expose(),
            GITHUB_TOKEN
        );
        let recorder = Arc::new(Recorder::default());
        let worker = Worker::new(store.clone(), new_only, recorder.clone() as Arc<dyn EventHandler>, Default::default(), fast_worker());
        assert_eq!(worker.run_once().await.unwrap().done, 1);
        assert_eq!(recorder.seen()[0].payload, body);
        // ...and the old key alone reads nothing.
        let err = store.slack_bot_token(&old, "T0001").await.unwrap_err();
        assert!(matches!(err, StoreError::Vault(VaultError::UnknownKey { .. })), "{err}");
    }

    async fn rotate_key_reports_unreadable_rows(db) {
        let store = &db.store;
        let lost = Vault::new(key(9), &[]);
        let known = Vault::new(key(1), &[]);
        store.add_workspace(&lost, "T0001", &secret("xoxb-lost")).await.unwrap();
        store.add_workspace(&known, "T0002", &secret("xoxb-known")).await.unwrap();
        let rotating = Vault::new(key(2), &[key(1)]);
        let report = store.rotate_key(&rotating).await.unwrap();
        assert_eq!(report.credentials, 1);
        assert_eq!(report.unreadable.len(), 1);
        assert!(report.unreadable[0].contains("slack/T0001"), "{:?}", report.unreadable);
        assert!(!report.unreadable[0].contains("xoxb"));
    }

    async fn forge_tokens_resolve_to_the_closest_owner(db) {
        let vault = vault(1);
        let store = &db.store;
        let gl = CredentialKind::Forge(Forge::GitLab);
        store.put_credential(&vault, gl, "group", &secret("glpat-group")).await.unwrap();
        store.put_credential(&vault, gl, "group/sub", &secret("glpat-sub")).await.unwrap();
        let token = |repo: &'static str| {
            let store = store.clone();
            let vault = vault.clone();
            async move { store.forge_token_for_repo(&vault, Forge::GitLab, repo).await.unwrap().map(|s| s.expose().clone()) }
        };
        assert_eq!(token("group/sub/project").await.as_deref(), Some("glpat-sub"));
        assert_eq!(token("group/other").await.as_deref(), Some("glpat-group"));
        assert_eq!(token("elsewhere/project").await, None);
        assert!(store.forge_token_for_repo(&vault, Forge::GitHub, "group/sub/project").await.unwrap().is_none());
        let listed = store.list_credentials().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|c| c.key_id == vault.current_key_id()));
        assert!(store.remove_credential(gl, "group/sub").await.unwrap());
        assert!(!store.remove_credential(gl, "group/sub").await.unwrap());
        assert_eq!(token("group/sub/project").await.as_deref(), Some("glpat-group"));
    }

    async fn links_and_user_mapping(db) {
        let store = &db.store;
        let any = RepoLink { forge: None, repo: "acme/web".into(), team_id: "T0001".into(), channel_id: "C0001".into() };
        let gh = RepoLink { forge: Some(Forge::GitHub), repo: "acme/api".into(), team_id: "T0001".into(), channel_id: "C0002".into() };
        store.add_link(&any).await.unwrap();
        store.add_link(&any).await.unwrap();
        store.add_link(&gh).await.unwrap();
        assert_eq!(store.list_links().await.unwrap().len(), 2);
        assert_eq!(store.links_for_repo(Forge::GitLab, "Acme/Web").await.unwrap(), std::slice::from_ref(&any));
        assert_eq!(store.links_for_repo(Forge::GitHub, "acme/api").await.unwrap(), std::slice::from_ref(&gh));
        assert!(store.links_for_repo(Forge::GitLab, "acme/api").await.unwrap().is_empty());
        assert_eq!(store.links_for_channel("T0001", "C0002").await.unwrap(), std::slice::from_ref(&gh));
        assert!(store.remove_link(&gh).await.unwrap());
        assert!(!store.remove_link(&gh).await.unwrap());

        let m = UserMapping { slack_user_id: "U0001".into(), forge: Forge::GitHub, login: "octocat".into() };
        store.map_user(&m).await.unwrap();
        store.map_user(&UserMapping { login: "hubot".into(), ..m.clone() }).await.unwrap();
        assert_eq!(store.login_for_slack_user("U0001", Forge::GitHub).await.unwrap().as_deref(), Some("hubot"));
        assert_eq!(store.slack_user_for_login(Forge::GitHub, "hubot").await.unwrap().as_deref(), Some("U0001"));
        assert_eq!(store.slack_user_for_login(Forge::GitHub, "octocat").await.unwrap(), None);
        assert_eq!(store.list_user_mappings().await.unwrap().len(), 1);
        assert!(store.unmap_user("U0001", Forge::GitHub).await.unwrap());
        assert_eq!(store.login_for_slack_user("U0001", Forge::GitHub).await.unwrap(), None);
    }

    async fn thread_comment_and_ledger_links(db) {
        let store = &db.store;
        let pr = PrRef { forge: Forge::GitHub, repo: "acme/web".into(), number: 42 };
        let thread = PrThread { pr: pr.clone(), thread: SlackRef { team_id: "T0001".into(), channel_id: "C0001".into(), ts: "1700000000.000100".into() } };
        let parent = LedgerEntry { platform: Source::Slack, container: "T0001/C0001".into(), object_kind: "message".into(), object_id: "1700000000.000100".into() };
        assert!(store.record_thread(&thread, &parent).await.unwrap());
        assert!(store.created_by_us(&parent).await.unwrap(), "the thread and its ledger entry are written together");
        // First writer wins: a racing second thread for the same PR and channel is refused,
        // but the racer's own message is still in the ledger until it deletes it.
        let racing = PrThread { thread: SlackRef { ts: "1700000000.999999".into(), ..thread.thread.clone() }, ..thread.clone() };
        let racing_parent = LedgerEntry { object_id: "1700000000.999999".into(), ..parent.clone() };
        assert!(!store.record_thread(&racing, &racing_parent).await.unwrap());
        assert!(store.created_by_us(&racing_parent).await.unwrap());
        assert_eq!(store.pr_threads(&pr).await.unwrap(), std::slice::from_ref(&thread));
        assert_eq!(store.pr_thread_by_ts("T0001", "C0001", "1700000000.000100").await.unwrap(), Some(thread.clone()));
        assert_eq!(store.pr_thread_by_ts("T0001", "C0001", "1700000000.999999").await.unwrap(), None);

        let link = CommentMessage {
            pr: pr.clone(),
            comment_kind: "issue_comment".into(),
            comment_id: "1001".into(),
            message: SlackRef { team_id: "T0001".into(), channel_id: "C0001".into(), ts: "1700000001.000100".into() },
            origin: Origin::Forge,
        };
        let mirror = Mirror { link: link.clone(), thread_root: Some("999".into()) };
        let reply = LedgerEntry { object_id: "1700000001.000100".into(), ..parent.clone() };
        assert!(store.record_mirror(&mirror, &reply).await.unwrap());
        assert!(!store.record_mirror(&mirror, &reply).await.unwrap());
        assert_eq!(store.mirrors_of_comment(Forge::GitHub, "acme/web", "issue_comment", "1001").await.unwrap(), std::slice::from_ref(&mirror));
        assert!(store.mirrors_of_comment(Forge::GitHub, "acme/web", "review_comment", "1001").await.unwrap().is_empty());
        assert_eq!(store.mirror_of_message(&link.message).await.unwrap(), Some(mirror.clone()));
        assert!(store.remove_comment_message(&link.message).await.unwrap());
        assert_eq!(store.mirror_of_message(&link.message).await.unwrap(), None);

        let ours = LedgerEntry { platform: Source::Slack, container: "T0001/C0001".into(), object_kind: "message".into(), object_id: "1700000002.000100".into() };
        assert!(!store.created_by_us(&ours).await.unwrap());
        store.record_created(&ours).await.unwrap();
        store.record_created(&ours).await.unwrap();
        assert!(store.created_by_us(&ours).await.unwrap());
        let other = LedgerEntry { platform: Source::GitHub, container: "acme/web".into(), ..ours.clone() };
        assert!(!store.created_by_us(&other).await.unwrap());
    }

    async fn enqueue_deduplicates_until_retention_ends(db) {
        let vault = vault(1);
        let store = &db.store;
        let body = slack_message("Ev1", "hi");
        let ev = NewEvent { source: Source::Slack, dedupe_key: "Ev1", kind: "message", payload: &body };
        let t0 = now_ms();
        assert_eq!(store.enqueue(&vault, &ev, t0).await.unwrap(), Enqueued::Queued);
        assert_eq!(store.enqueue(&vault, &ev, t0).await.unwrap(), Enqueued::Duplicate);
        // The same id from another source is another delivery.
        let gh = NewEvent { source: Source::GitHub, ..ev };
        assert_eq!(store.enqueue(&vault, &gh, t0).await.unwrap(), Enqueued::Queued);
        assert_eq!(count(store, "event_queue").await, 2);
        // Processed (row deleted): a late redelivery is still a duplicate.
        let worker = Worker::new(store.clone(), vault.clone(), Arc::new(Recorder::default()), Default::default(), fast_worker());
        assert_eq!(worker.run_once().await.unwrap().done, 2);
        assert_eq!(count(store, "event_queue").await, 0);
        assert_eq!(store.enqueue(&vault, &ev, t0 + 1000).await.unwrap(), Enqueued::Duplicate);
        // Pruning keeps ids still queued and recent ones, forgets older ones.
        assert_eq!(store.prune_deliveries(t0).await.unwrap(), 0);
        assert_eq!(store.prune_deliveries(t0 + 1).await.unwrap(), 2);
        assert_eq!(store.enqueue(&vault, &ev, t0 + 2000).await.unwrap(), Enqueued::Queued);
        assert_eq!(store.prune_deliveries(t0 + 10_000).await.unwrap(), 0, "queued ids are kept");
    }

    async fn batch_enqueue_deduplicates_within_and_across_batches(db) {
        let vault = vault(1);
        let store = &db.store;
        let body = b"{}".to_vec();
        let sealed = |source, key: &str| NewEvent { source, dedupe_key: key, kind: "k", payload: &body }.seal(&vault);
        let first = [
            sealed(Source::Slack, "Ev1"),
            sealed(Source::Slack, "Ev2"),
            sealed(Source::Slack, "Ev1"),
            sealed(Source::GitHub, "Ev1"),
        ];
        assert_eq!(
            store.enqueue_batch(&first, now_ms()).await.unwrap(),
            [Enqueued::Queued, Enqueued::Queued, Enqueued::Duplicate, Enqueued::Queued]
        );
        let second = [sealed(Source::Slack, "Ev2"), sealed(Source::Slack, "Ev3")];
        assert_eq!(
            store.enqueue_batch(&second, now_ms()).await.unwrap(),
            [Enqueued::Duplicate, Enqueued::Queued]
        );
        assert!(store.enqueue_batch(&[], now_ms()).await.unwrap().is_empty());
        assert_eq!(count(store, "event_queue").await, 4);
        assert_eq!(count(store, "event_deliveries").await, 4);
        // Every queued row opens under its own identity.
        let recorder = Arc::new(Recorder::default());
        let worker = Worker::new(store.clone(), vault.clone(), recorder.clone() as Arc<dyn EventHandler>, Default::default(), fast_worker());
        assert_eq!(worker.run_once().await.unwrap().done, 4);
        let mut keys: Vec<String> = recorder.seen().iter().map(|e| format!("{}/{}", e.source, e.dedupe_key)).collect();
        keys.sort();
        assert_eq!(keys, ["github/Ev1", "slack/Ev1", "slack/Ev2", "slack/Ev3"]);
    }

    async fn concurrent_ingestion_commits_each_delivery_once(db) {
        let vault = vault(1);
        let ingestor = Ingestor::start(db.store.clone());
        let mut tasks = Vec::new();
        for i in 0..300 {
            let ingestor = ingestor.clone();
            let vault = vault.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("Ev{}", i % 60);
                let body = slack_message(&key, "text");
                let event = NewEvent { source: Source::Slack, dedupe_key: &key, kind: "message", payload: &body };
                ingestor.submit(event.seal(&vault)).await.unwrap()
            }));
        }
        let mut queued = 0;
        for t in tasks {
            if t.await.unwrap() == Enqueued::Queued {
                queued += 1;
            }
        }
        assert_eq!(queued, 60, "one Queued per delivery id, every other submit a duplicate");
        assert_eq!(count(&db.store, "event_queue").await, 60);
        assert_eq!(count(&db.store, "event_deliveries").await, 60);
    }
}

/// On SQLite the acknowledged write is fsynced and the worker's bookkeeping is not
/// (`SqliteSync`): check the level each operation leaves on the single connection.
#[tokio::test]
async fn sqlite_fsyncs_ingestion_but_not_worker_bookkeeping() {
    let db = sqlite_db().await;
    let level = || async {
        let (n,): (i64,) = match db.store.pool() {
            codereview_sync::store::Pool::Sqlite(pool) => sqlx::query_as("PRAGMA synchronous")
                .fetch_one(pool)
                .await
                .unwrap(),
            codereview_sync::store::Pool::Postgres(_) => unreachable!(),
        };
        n
    };
    const NORMAL: i64 = 1;
    const FULL: i64 = 2;
    assert_eq!(level().await, FULL, "connections open at FULL");
    let body = slack_message("Ev1", "x");
    let ev = NewEvent {
        source: Source::Slack,
        dedupe_key: "Ev1",
        kind: "message",
        payload: &body,
    };
    db.store.claim_due("w", now_ms(), 1000, 10).await.unwrap();
    assert_eq!(level().await, NORMAL);
    db.store.enqueue(&vault(1), &ev, now_ms()).await.unwrap();
    assert_eq!(
        level().await,
        FULL,
        "ingestion commits at FULL even after worker bookkeeping"
    );
    let claimed = db.store.claim_due("w", now_ms(), 1000, 10).await.unwrap();
    db.store.complete_many(&[claimed[0].id], "w").await.unwrap();
    assert_eq!(level().await, NORMAL);
}

/// Upgrading a SQLite database with queued events across the migration that rebuilds
/// `event_queue` (dropping its redundant dedupe index) keeps every row, its id and the id
/// sequence, and dedupe still holds afterwards.
#[tokio::test]
async fn sqlite_queue_rebuild_keeps_queued_events() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("upgrade.db").display());
    let store = codereview_sync::store::Store::connect(&url).await.unwrap();
    let codereview_sync::store::Pool::Sqlite(pool) = store.pool() else {
        unreachable!()
    };
    let migrator = sqlx::migrate!("../migrations/sqlite");
    migrator.run_to(20260701000000, pool).await.unwrap();

    let vault = vault(1);
    let event = |key: &'static str| NewEvent {
        source: Source::Slack,
        dedupe_key: key,
        kind: "event_callback",
        payload: br#"{"type":"event_callback"}"#,
    };
    for key in ["Ev1", "Ev2", "Ev3"] {
        assert_eq!(
            store.enqueue(&vault, &event(key), 1000).await.unwrap(),
            Enqueued::Queued
        );
    }
    exec(&store, "DELETE FROM event_queue WHERE dedupe_key = 'Ev3'").await;
    let queued = || {
        texts(
            &store,
            "event_queue",
            "CAST(id AS TEXT) || ':' || dedupe_key",
        )
    };
    let before = queued().await;
    assert_eq!(before, ["1:Ev1", "2:Ev2"]);

    store.migrate().await.unwrap();
    assert_eq!(queued().await, before);
    let indexes = texts(&store, "sqlite_master", "name").await;
    assert!(
        indexes.contains(&"event_queue_due".to_string()),
        "{indexes:?}"
    );
    assert!(
        !indexes
            .iter()
            .any(|n| n.starts_with("sqlite_autoindex_event_queue")),
        "{indexes:?}"
    );
    assert_eq!(
        store.enqueue(&vault, &event("Ev2"), 2000).await.unwrap(),
        Enqueued::Duplicate
    );
    assert_eq!(
        store.enqueue(&vault, &event("Ev4"), 2000).await.unwrap(),
        Enqueued::Queued
    );
    assert_eq!(
        queued().await,
        ["1:Ev1", "2:Ev2", "4:Ev4"],
        "ids are not reused"
    );
    let claimed = store.claim_due("w", 3000, 1000, 10).await.unwrap();
    let payload = vault.open(&claimed[0].aad(), &claimed[0].sealed).unwrap();
    assert_eq!(payload, br#"{"type":"event_callback"}"#);
}

/// The SQLite file holds sealed tokens and the link map: readable by the service's user only,
/// and so are the `-wal` and `-shm` files SQLite creates next to it, whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_created_private_and_loose_ones_tightened() {
    use codereview_sync::store::Store;
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
        .add_workspace(&vault(1), "T0001", &secret(SLACK_TOKEN))
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert!(file.exists(), "{}", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    store.close().await;

    // A database file an older version (or a loose umask) left world-readable is tightened.
    let old = dir.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::connect(&format!("sqlite://{}", old.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(mode(&old), 0o600);
    store.close().await;
}
