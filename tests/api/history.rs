//! Audit question 11 through the real server: any aggregate's state as the ledger knew it at a past
//! position or recorded time, and who did what to it.

use kcn_services::proto;
use kcn_services::proto::audit_query_service_client::AuditQueryServiceClient;
use kcn_services::proto::get_aggregate_history_request::Known;
use tonic::Code;

use crate::harness::{TestServer, at, header, seed, ts, violated_fields};

async fn rename(server: &TestServer, company: &str, name: &str, when: &str) -> u64 {
    server
        .registry()
        .change_company_details(proto::ChangeCompanyDetailsRequest {
            header: header(when),
            company_id: company.to_owned(),
            name: Some(name.to_owned()),
            address: None,
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .last_position
}

fn history(company: &str, known: Option<Known>) -> proto::GetAggregateHistoryRequest {
    proto::GetAggregateHistoryRequest {
        aggregate_type: "InfrastructureCompany".into(),
        aggregate_id: company.to_owned(),
        known,
    }
}

#[tokio::test]
async fn a_company_reads_as_it_was_known_at_a_position_and_at_a_recorded_time() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    server.clock.set(at("2026-01-02T00:00:00Z"));
    let first = rename(
        &server,
        &p.company,
        "Hưng Thịnh JSC",
        "2025-06-01T00:00:00Z",
    )
    .await;
    server.clock.set(at("2026-01-03T00:00:00Z"));
    rename(
        &server,
        &p.company,
        "Hưng Thịnh Industrial Park JSC",
        "2025-07-01T00:00:00Z",
    )
    .await;

    let mut client = AuditQueryServiceClient::new(server.channel.clone());
    let now = client
        .get_aggregate_history(history(&p.company, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.version, 3);
    let state: serde_json::Value = serde_json::from_str(&now.state_json).unwrap();
    assert_eq!(
        state["registered"]["name"],
        "Hưng Thịnh Industrial Park JSC"
    );
    let who: Vec<(&str, &str)> = now
        .entries
        .iter()
        .map(|e| (e.event_type.as_str(), e.principal.as_str()))
        .collect();
    assert_eq!(
        who,
        [
            ("CompanyRegistered", "embedded"),
            ("CompanyDetailsChanged", "embedded"),
            ("CompanyDetailsChanged", "embedded")
        ]
    );
    assert_eq!(now.entries[1].occurred_at, Some(ts("2025-06-01T00:00:00Z")));

    let then = client
        .get_aggregate_history(history(&p.company, Some(Known::AtPosition(first))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(then.version, 2);
    let state: serde_json::Value = serde_json::from_str(&then.state_json).unwrap();
    assert_eq!(state["registered"]["name"], "Hưng Thịnh JSC");

    let recorded = client
        .get_aggregate_history(history(
            &p.company,
            Some(Known::RecordedBy(ts("2026-01-02T12:00:00Z"))),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        recorded.version, 2,
        "the second rename was recorded on 3 January"
    );

    let before = client
        .get_aggregate_history(history(&p.company, Some(Known::AtPosition(1))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        before.version, 0,
        "the company was registered at position 2"
    );
}

#[tokio::test]
async fn a_history_query_names_a_bad_type_and_an_unknown_aggregate() {
    let server = TestServer::start().await;
    let mut client = AuditQueryServiceClient::new(server.channel.clone());
    let status = client
        .get_aggregate_history(proto::GetAggregateHistoryRequest {
            aggregate_type: "Parks".into(),
            aggregate_id: "x".into(),
            known: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        vec!["aggregate_type", "aggregate_id"]
    );
    let status = client
        .get_aggregate_history(history(&uuid::Uuid::now_v7().to_string(), None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn every_aggregate_kind_has_a_history_including_incidents() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let incident = crate::incident::report_overflow(&server, &p).await;
    let h = AuditQueryServiceClient::new(server.channel.clone())
        .get_aggregate_history(proto::GetAggregateHistoryRequest {
            aggregate_type: "Incident".into(),
            aggregate_id: incident,
            known: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.version, 1);
    assert_eq!(h.entries[0].event_type, "IncidentReported");
    assert_eq!(h.entries[0].acting_authority_id, p.board);
    let state: serde_json::Value = serde_json::from_str(&h.state_json).unwrap();
    assert!(
        state.is_object() && state != serde_json::json!({}),
        "{state}"
    );
}

async fn a_company_reads_as_known_now_to_have_been_by_a_business_date(server: TestServer) {
    let p = seed(&server).await;
    // Renamed on 1 June (local date 1 June: 2025-05-31T17:00Z is its first instant) and on 1 July.
    rename(
        &server,
        &p.company,
        "Hưng Thịnh JSC",
        "2025-05-31T17:00:00Z",
    )
    .await;
    rename(
        &server,
        &p.company,
        "Hưng Thịnh Industrial Park JSC",
        "2025-07-01T00:00:00Z",
    )
    .await;
    let mut client = AuditQueryServiceClient::new(server.channel.clone());
    let by = |date: &str| history(&p.company, Some(Known::HappenedByDate(date.to_owned())));
    let may = client
        .get_aggregate_history(by("2025-05-31"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(may.version, 1, "registered, not yet renamed");
    let june = client
        .get_aggregate_history(by("2025-06-01"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        june.version, 2,
        "the first renaming happened on 1 June, local time"
    );
    let state: serde_json::Value = serde_json::from_str(&june.state_json).unwrap();
    assert_eq!(state["registered"]["name"], "Hưng Thịnh JSC");
    let before = client
        .get_aggregate_history(by("2000-01-01"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.version, 0, "nothing had happened yet");
    let bad = client
        .get_aggregate_history(by("2025-6-1"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["happened_by_date"]);
}

crate::harness::on_both_backends!(a_company_reads_as_known_now_to_have_been_by_a_business_date,);
