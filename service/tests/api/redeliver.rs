//! GitHub App redelivery of webhooks that failed while the service was down, against a fake
//! GitHub that checks the App JWT, pages the delivery list through the `Link` header and
//! counts every redelivery request.

use std::sync::Arc;
use std::time::Duration;

use codereview_sync::clock::{Clock as _, ManualClock};
use codereview_sync::domain::Source;
use codereview_sync::redeliver::{Redeliverer, RedeliverySettings, jwt_from};
use codereview_sync::store::{NewEvent, now_ms};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const JWT: &str = "eyJ.test-app-jwt.sig";

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

matrix! {
    async fn failed_app_deliveries_are_redelivered_once(db) {
        let vault = vault(1);
        let clock = Arc::new(ManualClock::new(now_ms()));
        let now = clock.now_ms();
        let ago = |mins: i64| rfc3339(now - mins * 60_000);
        // The queue already has "seen-1" (it arrived, or an earlier redelivery did).
        let body = br#"{"zen":"x"}"#;
        db.store.enqueue(&vault, &NewEvent { source: Source::GitHub, dedupe_key: "seen-1", kind: "ping", payload: body }, now).await.unwrap();

        let github = MockServer::start().await;
        let page2 = format!("{}/app/hook/deliveries?per_page=100&cursor=v1_p2", github.uri());
        Mock::given(method("GET"))
            .and(path("/app/hook/deliveries"))
            .and(query_param("cursor", "v1_p2"))
            .and(header("authorization", format!("Bearer {JWT}").as_str()))
            .and(header("accept", "application/vnd.github+json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"id": 21, "guid": "down-2", "delivered_at": ago(50), "redelivery": false, "status_code": 0, "status": "timed out", "event": "issue_comment"},
                {"id": 22, "guid": "old-1", "delivered_at": ago(60 * 30), "redelivery": false, "status_code": 502, "status": "bad gateway", "event": "issue_comment"},
            ])))
            .expect(1)
            .mount(&github)
            .await;
        Mock::given(method("GET"))
            .and(path("/app/hook/deliveries"))
            .and(query_param("per_page", "100"))
            .and(header("authorization", format!("Bearer {JWT}").as_str()))
            .respond_with(ResponseTemplate::new(200)
                .insert_header("link", format!("<{page2}>; rel=\"next\"").as_str())
                .set_body_json(json!([
                    {"id": 11, "guid": "down-1", "delivered_at": ago(5), "redelivery": false, "status_code": 502, "status": "bad gateway", "event": "pull_request"},
                    {"id": 12, "guid": "ok-1", "delivered_at": ago(6), "redelivery": false, "status_code": 200, "status": "OK", "event": "pull_request"},
                    {"id": 13, "guid": "seen-1", "delivered_at": ago(7), "redelivery": false, "status_code": 503, "status": "unavailable", "event": "ping"},
                    {"id": 14, "guid": "asked-1", "delivered_at": ago(8), "redelivery": true, "status_code": 502, "status": "bad gateway", "event": "pull_request"},
                    {"id": 15, "guid": "asked-1", "delivered_at": ago(9), "redelivery": false, "status_code": 502, "status": "bad gateway", "event": "pull_request"},
                ])))
            .expect(1)
            .mount(&github)
            .await;
        for id in [11, 21] {
            Mock::given(method("POST"))
                .and(path(format!("/app/hook/deliveries/{id}/attempts")))
                .and(header("authorization", format!("Bearer {JWT}").as_str()))
                .respond_with(ResponseTemplate::new(202).set_body_json(json!({})))
                .expect(1)
                .mount(&github)
                .await;
        }
        // Any other redelivery request is a bug.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&github)
            .await;

        let settings = RedeliverySettings { window: Duration::from_secs(24 * 3600), ..RedeliverySettings::default() };
        let job = Redeliverer::new(db.store.clone(), url::Url::parse(&github.uri()).unwrap(), jwt_from(|| Ok(JWT.to_string())), settings)
            .with_clock(clock.clone());
        let report = job.run_once().await.unwrap().expect("first run is ours");
        assert_eq!((report.listed, report.requested), (6, 2), "the 30 h old delivery is outside the window");
        // Within the interval (another replica, or a restart) nothing runs again.
        assert_eq!(job.run_once().await.unwrap(), None);
        let runs = db.store.reconciliations().await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].name.as_str(), runs[0].listed, runs[0].requested, runs[0].error.as_deref()), ("github_app_deliveries", 6, 2, None));
        github.verify().await;
    }

    async fn a_failed_reconciliation_is_recorded(db) {
        let github = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&github)
            .await;
        let job = Redeliverer::new(db.store.clone(), url::Url::parse(&github.uri()).unwrap(), jwt_from(|| Ok(JWT.to_string())), RedeliverySettings::default());
        let err = job.run_once().await.unwrap_err();
        assert_eq!(err, "GET /app/hook/deliveries answered 401");
        let runs = db.store.reconciliations().await.unwrap();
        assert_eq!(runs[0].error.as_deref(), Some("GET /app/hook/deliveries answered 401"));
        // No key: said so, nothing sent.
        let db2 = jwt_from(|| Err("no GitHub App key stored: run `github-app key set`".into()));
        exec(&db.store, "DELETE FROM reconciliations").await;
        let job = Redeliverer::new(db.store.clone(), url::Url::parse(&github.uri()).unwrap(), db2, RedeliverySettings::default());
        assert!(job.run_once().await.unwrap_err().contains("github-app key set"));
    }
}
