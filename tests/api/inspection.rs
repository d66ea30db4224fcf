//! Inspections through the real server: an unannounced post-check after an overflow, from plan to
//! closing, and the rules that refuse a step or name the legal limit it breaches.

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::inspection_service_client::InspectionServiceClient;

use crate::harness::{Province, TestServer, header, precondition_types, seed, violated_fields};
use crate::incident::overflow_story;

pub fn inspections(server: &TestServer) -> InspectionServiceClient<Channel> {
    InspectionServiceClient::new(server.channel.clone())
}

pub fn plan(p: &Province, kind: proto::InspectionKind, when: &str) -> proto::PlanInspectionRequest {
    proto::PlanInspectionRequest {
        header: header(when),
        park_id: p.park.clone(),
        tenant_ids: vec![p.tenant.clone()],
        conducted_by: proto::InspectionConductor::Joint as i32,
        kind: kind as i32,
        planned_for: "2025-05-12".into(),
        scope:
            "Wastewater connection to the central plant; stormwater drains; hazardous-waste store"
                .into(),
        incident_id: String::new(),
    }
}

pub fn issue(id: &str, when: &str, grounds: &str) -> proto::IssueInspectionDecisionRequest {
    proto::IssueInspectionDecisionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        decision_no: "112/QĐ-BQL".into(),
        issued_on: String::new(),
        grounds: grounds.to_owned(),
    }
}

pub fn deliver(id: &str, when: &str) -> proto::DeliverInspectionDecisionRequest {
    proto::DeliverInspectionDecisionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        tenant_ids: vec![],
        delivered_on: String::new(),
        recipient: "Director, Công ty TNHH Gỗ Minh Phát".into(),
    }
}

pub fn start(id: &str, when: &str) -> proto::StartInspectionRequest {
    proto::StartInspectionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        started_on: String::new(),
    }
}

fn finding(id: &str, p: &Province, finding_id: &str, when: &str) -> proto::RecordFindingRequest {
    proto::RecordFindingRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        finding_id: finding_id.to_owned(),
        tenant_id: p.tenant.clone(),
        requirement: "Connect all process wastewater to the park's central treatment plant".into(),
        severity: proto::FindingSeverity::Major as i32,
        description: "Process water from the planing line discharged through a secondary pipe \
                      into the stormwater drain"
            .into(),
        commitment_id: String::new(),
    }
}

fn conclude(id: &str, when: &str) -> proto::ConcludeInspectionRequest {
    proto::ConcludeInspectionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        conclusion_no: "58/KL-BQL".into(),
        summary: "One major finding: process wastewater bypassing the central plant".into(),
        concluded_on: String::new(),
    }
}

fn require(id: &str, when: &str) -> proto::RequireRemediationRequest {
    proto::RequireRemediationRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        finding_id: "F-1".into(),
        due_on: "2025-07-31".into(),
        action: "Remove the secondary pipe and re-route the line to the CETP connection".into(),
    }
}

fn close(id: &str, when: &str) -> proto::CloseInspectionRequest {
    proto::CloseInspectionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        note: String::new(),
    }
}

fn breaches(outcome: &proto::CommandOutcome) -> Vec<&str> {
    outcome.breaches.iter().map(|b| b.limit.as_str()).collect()
}

/// Plans an announced inspection, issues its decision on 2 May, delivers it on the 5th and starts
/// it on 9 May 2025.
async fn under_way(server: &TestServer, p: &Province) -> String {
    let mut c = inspections(server);
    let id = c
        .plan_inspection(plan(
            p,
            proto::InspectionKind::Planned,
            "2025-05-01T02:00:00Z",
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    c.issue_inspection_decision(issue(&id, "2025-05-02T02:00:00Z", ""))
        .await
        .unwrap();
    c.deliver_inspection_decision(deliver(&id, "2025-05-05T02:00:00Z"))
        .await
        .unwrap();
    c.start_inspection(start(&id, "2025-05-09T01:00:00Z"))
        .await
        .unwrap();
    id
}

/// An unannounced post-check of the tenant after the overflow `incident`: grounds, a finding, a
/// remediation that is verified, closing. Every step is within the limits; returns the inspection id.
pub async fn post_check_story(server: &TestServer, p: &Province, incident: &str) -> String {
    let mut c = inspections(server);
    let mut request = plan(
        p,
        proto::InspectionKind::Unannounced,
        "2025-06-21T01:00:00Z",
    );
    request.planned_for = "2025-06-24".into();
    request.incident_id = incident.to_owned();
    let id = c
        .plan_inspection(request)
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let mut outcomes = vec![
        c.issue_inspection_decision(issue(
            &id,
            "2025-06-23T02:00:00Z",
            "Overflow of 11 June 2025 into the stormwater drains, traced to the tenant's process area",
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap(),
    ];
    // Unannounced: the team starts on arrival and hands the decision over there.
    outcomes.push(
        c.start_inspection(start(&id, "2025-06-24T01:30:00Z"))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap(),
    );
    outcomes.push(
        c.deliver_inspection_decision(deliver(&id, "2025-06-24T01:35:00Z"))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap(),
    );
    outcomes.push(
        c.record_finding(finding(&id, p, "F-1", "2025-06-24T04:00:00Z"))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap(),
    );
    outcomes.push(
        c.conclude_inspection(conclude(&id, "2025-06-26T09:00:00Z"))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap(),
    );
    outcomes.push(
        c.require_remediation(require(&id, "2025-06-26T09:30:00Z"))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap(),
    );
    outcomes.push(
        c.verify_remediation(proto::VerifyRemediationRequest {
            header: header("2025-07-25T03:00:00Z"),
            inspection_id: id.clone(),
            finding_id: "F-1".into(),
            note: "Pipe removed; sample at the connection point within QCVN 40:2011 column B"
                .into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap(),
    );
    outcomes.push(
        c.close_inspection(close(&id, "2025-07-28T03:00:00Z"))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap(),
    );
    for o in &outcomes {
        assert!(o.breaches.is_empty(), "{:?}", o.breaches);
    }
    assert_eq!(outcomes.last().unwrap().aggregate_version, 9);
    id
}

/// Drives the inspection, incident and monitoring services until the log holds at least one event of
/// every type they write (for contract tests such as the proto3 JSON check of every payload).
pub async fn drive_inspections_incidents_and_monitoring(server: &TestServer, p: &Province) {
    let incident = overflow_story(server, p).await;
    post_check_story(server, p, &incident).await;

    // A fire escalated to the Board.
    let mut request = crate::incident::overflow(p);
    request.kind = proto::IncidentKind::Fire as i32;
    request.description = "Fire in the tenant's wood-dust silo".into();
    let fire = crate::incident::incidents(server)
        .report_incident(request)
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    crate::incident::incidents(server)
        .escalate_incident(proto::EscalateIncidentRequest {
            header: header("2025-06-11T02:00:00Z"),
            incident_id: fire,
            authority_id: p.board.clone(),
            reason: "Beyond the facility's means; fire police called".into(),
        })
        .await
        .unwrap();

    // An announced inspection, extended, with a finding referred for sanction.
    let mut c = inspections(server);
    let id = under_way(server, p).await;
    c.extend_inspection(proto::ExtendInspectionRequest {
        header: header("2025-05-14T02:00:00Z"),
        inspection_id: id.clone(),
        days: 5,
        reason: "Laboratory results of the drain samples are pending".into(),
        decision_no: "118/QĐ-BQL".into(),
    })
    .await
    .unwrap();
    c.record_finding(finding(&id, p, "F-1", "2025-05-15T02:00:00Z"))
        .await
        .unwrap();
    c.refer_for_sanction(proto::ReferForSanctionRequest {
        header: header("2025-05-16T02:00:00Z"),
        inspection_id: id.clone(),
        finding_id: "F-1".into(),
        authority_id: p.board.clone(),
        reason: "Discharge above the permitted level".into(),
    })
    .await
    .unwrap();

    crate::monitoring::alert_story(server, p, &id).await;
}

#[tokio::test]
async fn an_overflow_is_followed_by_an_unannounced_post_check_whose_remediation_is_verified() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let incident = overflow_story(&server, &p).await;
    let id = post_check_story(&server, &p, &incident).await;
    let mut c = inspections(&server);

    let got = c
        .get_inspection(proto::GetInspectionRequest {
            inspection_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, proto::InspectionStatus::Closed as i32);
    let plan = got.plan.unwrap();
    assert_eq!(plan.kind, proto::InspectionKind::Unannounced as i32);
    assert_eq!(plan.incident_id.as_deref(), Some(incident.as_str()));
    assert!(got.decision.unwrap().grounds.is_some());
    assert_eq!(got.start.unwrap().started_on, "2025-06-24");
    let f = &got.findings[0];
    assert_eq!(f.found_on, "2025-06-24");
    assert_eq!(f.remediation.as_ref().unwrap().due_on, "2025-07-31");
    assert!(f.verified_at.is_some());

    let log: Vec<_> = server
        .read_log()
        .await
        .into_iter()
        .filter(|e| e.aggregate_type == "Inspection")
        .collect();
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "InspectionPlanned",
            "InspectionDecisionIssued",
            "InspectionStarted",
            "InspectionDecisionDelivered",
            "FindingRecorded",
            "InspectionConcluded",
            "RemediationRequired",
            "RemediationVerified",
            "InspectionClosed"
        ]
    );
    let planned: serde_json::Value = serde_json::from_slice(&log[0].payload).unwrap();
    assert_eq!(planned["kind"], "INSPECTION_KIND_UNANNOUNCED");
    assert_eq!(planned["conducted_by"], "INSPECTION_CONDUCTOR_JOINT");
    assert_eq!(planned["tenant_ids"], serde_json::json!([p.tenant]));
    assert_eq!(planned["planned_for"], "2025-06-24");
    let issued: serde_json::Value = serde_json::from_slice(&log[1].payload).unwrap();
    assert_eq!(issued["issued_on"], "2025-06-23");
    let found: serde_json::Value = serde_json::from_slice(&log[4].payload).unwrap();
    assert_eq!(found["severity"], "FINDING_SEVERITY_MAJOR");
}

#[tokio::test]
async fn the_three_services_write_every_event_type_of_their_catalogue() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    drive_inspections_incidents_and_monitoring(&server, &p).await;
    let written: std::collections::BTreeSet<String> = server
        .read_log()
        .await
        .into_iter()
        .filter(|e| {
            ["Inspection", "Incident", "MonitoringAlert"].contains(&e.aggregate_type.as_str())
        })
        .map(|e| e.event_type)
        .collect();
    let catalogue = [
        "InspectionPlanned",
        "InspectionDecisionIssued",
        "InspectionDecisionDelivered",
        "InspectionStarted",
        "InspectionExtended",
        "FindingRecorded",
        "InspectionConcluded",
        "RemediationRequired",
        "RemediationVerified",
        "ReferredForSanction",
        "InspectionClosed",
        "IncidentReported",
        "IncidentClassified",
        "IncidentNotificationSent",
        "ResponseActionTaken",
        "IncidentEscalated",
        "IncidentContained",
        "IncidentResolved",
        "IncidentReviewed",
        "ExceedanceReceived",
        "TransmissionInterrupted",
        "TransmissionRestored",
        "AlertResolved",
    ];
    let expected: std::collections::BTreeSet<String> =
        catalogue.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(written, expected);
}

#[tokio::test]
async fn a_decision_delivered_six_days_after_issuance_is_accepted_and_names_its_breach() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut c = inspections(&server);
    let id = c
        .plan_inspection(plan(
            &p,
            proto::InspectionKind::Planned,
            "2025-05-01T02:00:00Z",
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    c.issue_inspection_decision(issue(&id, "2025-05-02T02:00:00Z", ""))
        .await
        .unwrap();
    let before = server.read_log().await.len();
    let outcome = c
        .deliver_inspection_decision(deliver(&id, "2025-05-08T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(breaches(&outcome), ["inspection_decision_delivered_late"]);
    crate::breaches::assert_registered(&server, &outcome).await;
    assert!(outcome.breaches[0].detail.contains("6 days"));
    assert_eq!(server.read_log().await.len(), before + 1);
    let got = c
        .get_inspection(proto::GetInspectionRequest { inspection_id: id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.delivery.unwrap().delivered_on, "2025-05-08");
}

#[tokio::test]
async fn an_unannounced_inspection_without_grounds_is_refused_and_leaves_the_log_unchanged() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut c = inspections(&server);
    let id = c
        .plan_inspection(plan(
            &p,
            proto::InspectionKind::Unannounced,
            "2025-05-01T02:00:00Z",
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let before = server.read_log().await.len();
    let status = c
        .issue_inspection_decision(issue(&id, "2025-05-02T02:00:00Z", ""))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["UNANNOUNCED_WITHOUT_GROUNDS"]);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn a_finding_after_the_conclusion_is_refused() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut c = inspections(&server);
    let id = under_way(&server, &p).await;
    c.conclude_inspection(conclude(&id, "2025-05-12T09:00:00Z"))
        .await
        .unwrap();
    let before = server.read_log().await.len();
    let status = c
        .record_finding(finding(&id, &p, "F-1", "2025-05-13T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["INSPECTION_CONCLUDED"]);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn an_overlong_extension_a_second_one_and_an_overlong_inspection_are_recorded_with_their_breaches()
 {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut c = inspections(&server);
    let id = under_way(&server, &p).await;
    let extend = |days: u32, when: &str| proto::ExtendInspectionRequest {
        header: header(when),
        inspection_id: id.clone(),
        days,
        reason: "Laboratory results of the drain samples are pending".into(),
        decision_no: String::new(),
    };
    let first = c
        .extend_inspection(extend(10, "2025-05-14T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(breaches(&first), ["inspection_extension_too_long"]);
    crate::breaches::assert_registered(&server, &first).await;
    let second = c
        .extend_inspection(extend(3, "2025-05-20T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(breaches(&second), ["second_extension"]);
    crate::breaches::assert_registered(&server, &second).await;
    // Started on 9 May; 7 days plus 7 of the extension end on 22 May. Concluding on 23 May is late.
    let concluded = c
        .conclude_inspection(conclude(&id, "2025-05-23T03:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(breaches(&concluded), ["inspection_too_long"]);
    crate::breaches::assert_registered(&server, &concluded).await;
    let got = c
        .get_inspection(proto::GetInspectionRequest { inspection_id: id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.extensions.len(), 2);
}

#[tokio::test]
async fn closing_with_an_unverified_remediation_is_refused_until_the_finding_is_referred_for_sanction()
 {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut c = inspections(&server);
    let id = under_way(&server, &p).await;
    c.record_finding(finding(&id, &p, "F-1", "2025-05-10T04:00:00Z"))
        .await
        .unwrap();
    c.conclude_inspection(conclude(&id, "2025-05-12T09:00:00Z"))
        .await
        .unwrap();
    c.require_remediation(require(&id, "2025-05-12T09:30:00Z"))
        .await
        .unwrap();
    let before = server.read_log().await.len();
    let status = c
        .close_inspection(close(&id, "2025-08-05T03:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["REMEDIATION_UNVERIFIED"]);
    assert_eq!(server.read_log().await.len(), before);
    c.refer_for_sanction(proto::ReferForSanctionRequest {
        header: header("2025-08-04T03:00:00Z"),
        inspection_id: id.clone(),
        finding_id: "F-1".into(),
        authority_id: p.board.clone(),
        reason: "Not remedied by 31 July 2025".into(),
    })
    .await
    .unwrap();
    c.close_inspection(close(&id, "2025-08-05T03:00:00Z"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_plan_with_malformed_fields_names_every_one() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut request = plan(
        &p,
        proto::InspectionKind::Unspecified,
        "2025-05-01T02:00:00Z",
    );
    request.planned_for = "12/05/2025".into();
    request.tenant_ids = vec!["not-a-uuid".into()];
    let status = inspections(&server)
        .plan_inspection(request)
        .await
        .unwrap_err();
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, ["kind", "planned_for", "tenant_ids[0]"]);
}

#[tokio::test]
async fn an_inspection_of_an_unknown_tenant_is_an_unknown_reference() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut request = plan(&p, proto::InspectionKind::Planned, "2025-05-01T02:00:00Z");
    request.tenant_ids.push(uuid::Uuid::now_v7().to_string());
    let before = server.read_log().await.len();
    let status = inspections(&server)
        .plan_inspection(request)
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["UNKNOWN_REFERENCE"]);
    assert_eq!(server.read_log().await.len(), before);
}

/// A finding names the tenant's environmental commitment it breaches, so question 2 answers
/// "which commitments were violated"; a commitment the tenant does not have on record is refused
/// and leaves nothing.
async fn a_finding_names_the_commitment_it_breaches(server: TestServer) {
    let p = seed(&server).await;
    server
        .registry()
        .record_environmental_commitment(proto::RecordEnvironmentalCommitmentRequest {
            header: header("2025-04-20T02:00:00Z"),
            tenant_id: p.tenant.clone(),
            commitment_id: "CK-3".into(),
            requirement: "All process wastewater to the central treatment plant".into(),
        })
        .await
        .unwrap();
    let id = under_way(&server, &p).await;
    let mut c = inspections(&server);
    let before = server.read_log().await.len();
    let status = c
        .record_finding(proto::RecordFindingRequest {
            commitment_id: "CK-9".into(),
            ..finding(&id, &p, "F-1", "2025-05-10T02:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["UNKNOWN_COMMITMENT"]);
    assert!(status.message().contains("CK-9"), "{status:?}");
    assert_eq!(server.read_log().await.len(), before);
    let outcome = c
        .record_finding(proto::RecordFindingRequest {
            commitment_id: "CK-3".into(),
            ..finding(&id, &p, "F-1", "2025-05-10T02:00:00Z")
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    c.record_finding(finding(&id, &p, "F-2", "2025-05-10T03:00:00Z"))
        .await
        .unwrap();
    let record = kcn_services::proto::audit_query_service_client::AuditQueryServiceClient::new(
        server.channel.clone(),
    )
    .get_tenant_inspection_record(proto::GetTenantInspectionRecordRequest {
        tenant_id: p.tenant.clone(),
        min_position: outcome.last_position + 1,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    let violated: Vec<(&str, &str)> = record.inspections[0]
        .findings
        .iter()
        .map(|f| (f.finding_id.as_str(), f.commitment_id.as_str()))
        .collect();
    assert_eq!(violated, [("F-1", "CK-3"), ("F-2", "")]);
}

crate::harness::on_both_backends!(a_finding_names_the_commitment_it_breaches);

/// Each tenant of a several-entity inspection has its own delivery: the decision issued on 2 May
/// reaches Minh Phát on 5 May (3 days, on time) and the second tenant on 9 May (7 days, 2 past the
/// limit of 5); the inspection is "delivered" only once both are reached, question 2 gives each
/// tenant its own lag, and the register holds one obligation per tenant, only the second late.
async fn each_tenant_of_a_several_entity_inspection_has_its_own_delivery(server: TestServer) {
    let p = seed(&server).await;
    let second = server
        .registry()
        .register_tenant(proto::RegisterTenantRequest {
            header: header("2025-04-02T04:00:00Z"),
            park_id: p.park.clone(),
            enterprise_code: "3702999001".into(),
            name: "Công ty TNHH Dệt Nhuộm Phú An".into(),
            investment_registration_no: "9876500001".into(),
            vsic_codes: vec![proto::VsicCode {
                code: "1311".into(),
                version: "2018".into(),
            }],
            foreign_invested: false,
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let mut c = inspections(&server);
    let id = c
        .plan_inspection(proto::PlanInspectionRequest {
            tenant_ids: vec![p.tenant.clone(), second.clone()],
            ..plan(&p, proto::InspectionKind::Planned, "2025-05-01T02:00:00Z")
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    c.issue_inspection_decision(issue(&id, "2025-05-02T02:00:00Z", ""))
        .await
        .unwrap();
    let to = |tenant: &str, when: &str| proto::DeliverInspectionDecisionRequest {
        tenant_ids: vec![tenant.to_owned()],
        ..deliver(&id, when)
    };
    let first = c
        .deliver_inspection_decision(to(&p.tenant, "2025-05-05T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(first.breaches.is_empty(), "{first:?}");
    let half = c
        .get_inspection(proto::GetInspectionRequest {
            inspection_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(half.status, proto::InspectionStatus::DecisionIssued as i32);
    // The same tenant again is refused and leaves nothing.
    let before = server.read_log().await.len();
    let again = c
        .deliver_inspection_decision(to(&p.tenant, "2025-05-06T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&again), ["DECISION_ALREADY_DELIVERED"]);
    assert_eq!(server.read_log().await.len(), before);
    let late = c
        .deliver_inspection_decision(to(&second, "2025-05-09T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(breaches(&late), ["inspection_decision_delivered_late"]);
    assert!(late.breaches[0].detail.contains("7 days"), "{late:?}");
    crate::breaches::assert_registered(&server, &late).await;
    let whole = c
        .get_inspection(proto::GetInspectionRequest {
            inspection_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        whole.status,
        proto::InspectionStatus::DecisionDelivered as i32
    );
    let reached: Vec<(&str, &str)> = whole
        .deliveries
        .iter()
        .map(|d| (d.tenant_id.as_str(), d.delivered_on.as_str()))
        .collect();
    assert_eq!(
        reached,
        [
            (p.tenant.as_str(), "2025-05-05"),
            (second.as_str(), "2025-05-09")
        ]
    );

    // Question 2, for each tenant.
    let mut q = kcn_services::proto::audit_query_service_client::AuditQueryServiceClient::new(
        server.channel.clone(),
    );
    for (tenant, on, lag, breached) in [
        (&p.tenant, "2025-05-05", 3, vec![]),
        (
            &second,
            "2025-05-09",
            7,
            vec!["inspection_decision_delivered_late"],
        ),
    ] {
        let record = q
            .get_tenant_inspection_record(proto::GetTenantInspectionRecordRequest {
                tenant_id: tenant.clone(),
                min_position: late.last_position,
                as_of_date: "2025-05-10".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let i = &record.inspections[0];
        assert_eq!(
            (i.delivered_on.as_str(), i.delivery_lag_days),
            (on, Some(lag))
        );
        let limits: Vec<&str> = i.breaches.iter().map(|b| b.limit.as_str()).collect();
        assert_eq!(limits, breached, "{tenant}");
    }

    // The register: one delivery obligation per tenant, only the second's late.
    let rows = crate::breaches::register(
        &server,
        proto::ListBreachesRequest {
            from_date: "2025-01-01".into(),
            to_date: "2025-12-31".into(),
            min_position: late.last_position,
            as_of: Some(crate::harness::ts("2025-05-10T00:00:00Z")),
            ..Default::default()
        },
    )
    .await;
    let registered: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.tenant_id.as_str(),
                r.due_on.as_str(),
                r.breach.as_ref().unwrap().limit.as_str(),
            )
        })
        .collect();
    assert_eq!(
        registered,
        [(
            second.as_str(),
            "2025-05-07",
            "inspection_decision_delivered_late"
        )]
    );
}

crate::harness::on_both_backends!(each_tenant_of_a_several_entity_inspection_has_its_own_delivery);
