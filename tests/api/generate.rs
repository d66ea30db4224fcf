//! The generated province (`kcn_ledger::generate`) through a real server: every command it sends
//! is accepted with the role that performs it, the read models apply the whole log, every audit
//! question has answers over it (late answers, unfollowed alerts, breaches of several limits,
//! the park's responsibility before and after the merger), and the same seed generates the same
//! history.

use std::collections::BTreeMap;

use kcn_ledger::generate::{self, Generated, Options};
use kcn_services::proto;
use proto::audit_query_service_client::AuditQueryServiceClient;

use crate::harness::{TestServer, at, read_models_at_head};

const ADMIN: &str = "kcn_generate-test-first-administrator-token-000000";

async fn generated(events: u64, seed: u64) -> (TestServer, Generated) {
    let server = TestServer::with_first_administrator(ADMIN, |_| {}).await;
    let url = format!("http://{}", server.running.as_ref().unwrap().addr);
    let options = Options {
        seed,
        events,
        callers: 8,
        tenants: 3_190,
        show_progress: false,
        now: Some(at("2026-01-01T00:00:00Z")),
    };
    let generated = generate::run(&url, ADMIN, &options).await.unwrap();
    (server, generated)
}

/// How many events of each type the log holds.
async fn census(server: &TestServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for event in server.read_log().await {
        *counts.entry(event.event_type).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_province_answers_every_audit_question() {
    let (server, g) = generated(6_000, 7).await;
    assert_eq!(g.parks.len(), 34, "the province's parks");
    assert!(g.companies.len() >= 15, "{}", g.companies.len());
    assert!(
        g.head >= 4_000 && g.head <= 12_000,
        "about the events asked for: {}",
        g.head
    );
    for (what, ids) in [
        ("tenants", &g.tenants),
        ("inspections", &g.inspections),
        ("exchanges", &g.exchanges),
        ("dossiers", &g.dossiers),
        ("alerts", &g.alerts),
        ("consultations", &g.consultations),
    ] {
        assert!(!ids.is_empty(), "the province has {what}");
    }
    assert_eq!(
        g.agreements.len(),
        2,
        "the Board's agreement and the city's"
    );
    read_models_at_head(&server).await;

    let counts = census(&server).await;
    for event in [
        "AuthoritySucceeded",
        "AgreementSuperseded",
        "InspectionDecisionDelivered",
        "FindingRecorded",
        "RemediationVerified",
        "InformationProvided",
        "ExceedanceReceived",
        "SuitabilityDetermined",
        "DossierDecided",
        "TaskProgressReported",
        "AnnualEnvironmentalReportSubmitted",
    ] {
        assert!(counts.contains_key(event), "no {event} in {counts:?}");
    }

    let mut queries = AuditQueryServiceClient::new(server.channel.clone());
    let park = g.parks[1].clone();
    let before = queries
        .get_park_responsibility(proto::GetParkResponsibilityRequest {
            park_id: park.clone(),
            date: "2025-06-01".into(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let after = queries
        .get_park_responsibility(proto::GetParkResponsibilityRequest {
            park_id: park,
            date: "2025-09-01".into(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.responsible_authority.unwrap().authority_id, g.board);
    assert_eq!(
        after.responsible_authority.unwrap().authority_id,
        g.successor
    );
    assert!(
        before.agreement.is_some(),
        "the April 2025 agreement applied"
    );

    let breaches = queries
        .list_breaches(proto::ListBreachesRequest {
            from_date: "2023-01-01".into(),
            to_date: "2025-12-31".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .breaches;
    let limits: std::collections::BTreeSet<String> = breaches
        .iter()
        .filter_map(|b| b.breach.as_ref().map(|b| b.limit.clone()))
        .collect();
    assert!(limits.len() >= 5, "breaches of several limits: {limits:?}");
    let late = queries
        .list_late_information_requests(proto::ListLateInformationRequestsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert!(!late.is_empty(), "some requests are answered late");
    let unfollowed = queries
        .list_unfollowed_alerts(proto::ListUnfollowedAlertsRequest {
            within_days: Some(7),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert!(!unfollowed.is_empty(), "some alerts are never followed up");
    assert!(
        unfollowed.len() < g.alerts.len(),
        "and others are: {} of {}",
        unfollowed.len(),
        g.alerts.len()
    );

    // The same seed, the same history (only the parks' interleaving in the log differs).
    let (again, g2) = generated(6_000, 7).await;
    assert_eq!(g2.commands, g.commands);
    assert_eq!(census(&again).await, counts);
}
