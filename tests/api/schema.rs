//! The stored payload is readable with the public contract, and old shapes stay readable.
//!
//! 1. Every event type's stored payload, produced by driving the services through the real server,
//!    parses with a standard proto3 JSON parser (prost-reflect, unknown fields denied) into its
//!    message in `events.proto`, and every event of the catalogue in `domain.md` is covered.
//! 2. An `AgreementSigned` stored in its schema-version-1 shape (appended under the log with its
//!    tree hashes, as an older server wrote it) is read as the current shape, by queries and by the
//!    command path, while its stored bytes stay as they were (docs/adr/0004-schema-evolution.md).

use std::collections::BTreeSet;

use kcn_eventstore::{Actor, Metadata, SqliteBackend, SqliteDurability, StoredEvent};
use kcn_integrity::leaf::format_timestamp;
use kcn_services::proto;
use prost_reflect::{DescriptorPool, DynamicMessage};

use crate::agreement::{self, agreements};
use crate::annual_plan;
use crate::consultation::{self, consultations, determining};
use crate::dissemination::{self, disseminations};
use crate::harness::{Province, TestServer, at, header, seed};
use crate::park_reports;
use crate::procedure::{self, procedures};
use crate::succession;

/// The events of the catalogue in `domain.md`, copied here: tests never read outside the repository.
const CATALOGUE: &[&str] = &[
    "AuthorityEstablished",
    "AuthoritySucceeded",
    "CompanyRegistered",
    "CompanyDetailsChanged",
    "ParkRegistered",
    "JurisdictionAssigned",
    "InfrastructureCompanyAssigned",
    "ParkIndustryRulesSet",
    "ParkAnnualEnvironmentalReportSubmitted",
    "EnvironmentalInfrastructureReported",
    "OccupancyReported",
    "EcoParkEvidenceRecorded",
    "EcoParkCertified",
    "EcoParkCertificationRevoked",
    "TenantRegistered",
    "EnvironmentalPermitRecorded",
    "EnvironmentalCommitmentRecorded",
    "AnnualEnvironmentalReportSubmitted",
    "AgreementSigned",
    "AgreementAmended",
    "AgreementSuperseded",
    "AnnualTasksIssued",
    "TaskProgressReported",
    "TaskCompleted",
    "InformationRequested",
    "InformationProvided",
    "ClarificationRequested",
    "ExchangeClosed",
    "ExchangeWithdrawn",
    "ConsultationOpened",
    "CompanyOpinionSubmitted",
    "SuitabilityDetermined",
    "ConsultationWithdrawn",
    "ConsultationLinkedToTenant",
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
    "LegalTrainingHeld",
    "GuidanceIssued",
    "DossierReceived",
    "DossierDecided",
];

/// Drives every service this test knows through a small but complete story, so that the log holds
/// at least one event of every type those services write.
pub async fn drive_everything(server: &TestServer) -> Province {
    let p = seed(server).await;
    let mut reg = server.registry();

    // Registry: company details, tenant permit, commitment and annual report.
    reg.change_company_details(proto::ChangeCompanyDetailsRequest {
        header: header("2025-04-03T02:00:00Z"),
        company_id: p.company.clone(),
        name: None,
        address: Some("Phường Bình Hòa, Thuận An".into()),
    })
    .await
    .unwrap();
    reg.record_environmental_permit(proto::RecordEnvironmentalPermitRequest {
        header: header("2025-04-03T03:00:00Z"),
        tenant_id: p.tenant.clone(),
        permit_no: "GPMT-118/2024".into(),
        issuer: "UBND tỉnh Bình Dương".into(),
        valid_from: "2024-06-01".into(),
        valid_to: "2031-06-01".into(),
    })
    .await
    .unwrap();
    reg.record_environmental_commitment(proto::RecordEnvironmentalCommitmentRequest {
        header: header("2025-04-03T04:00:00Z"),
        tenant_id: p.tenant.clone(),
        commitment_id: "C-1".into(),
        requirement: "Pre-treat wastewater to the park's intake standard".into(),
    })
    .await
    .unwrap();

    // Information exchange: one closed, one withdrawn.
    let mut x = server.exchanges();
    let request = |when: &str| proto::RequestInformationRequest {
        header: header(when),
        from: Some(proto::OrganisationRef {
            kind: proto::OrganisationKind::Authority as i32,
            id: p.board.clone(),
        }),
        to: Some(proto::OrganisationRef {
            kind: proto::OrganisationKind::InfrastructureCompany as i32,
            id: p.company.clone(),
        }),
        park_id: p.park.clone(),
        subject: "Central wastewater plant capacity".into(),
        body: "Please report capacity and load.".into(),
        due_at: None,
    };
    let answered = x
        .request_information(request("2025-05-01T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    for (i, when) in ["2025-05-05T02:00:00Z", "2025-05-07T02:00:00Z"]
        .iter()
        .enumerate()
    {
        x.provide_information(proto::ProvideInformationRequest {
            header: header(when),
            exchange_id: answered.clone(),
            body: format!("answer {i}"),
            attachments: vec![proto::Attachment {
                name: "wwtp.pdf".into(),
                sha256: "ab".repeat(32),
            }],
        })
        .await
        .unwrap();
        if i == 0 {
            x.request_clarification(proto::RequestClarificationRequest {
                header: header("2025-05-06T02:00:00Z"),
                exchange_id: answered.clone(),
                question: "Which month?".into(),
            })
            .await
            .unwrap();
        }
    }
    x.close_exchange(proto::CloseExchangeRequest {
        header: header("2025-05-08T02:00:00Z"),
        exchange_id: answered,
        note: "thank you".into(),
    })
    .await
    .unwrap();
    let withdrawn = x
        .request_information(request("2025-05-01T03:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    x.withdraw_exchange(proto::WithdrawExchangeRequest {
        header: header("2025-05-02T02:00:00Z"),
        exchange_id: withdrawn,
        reason: "duplicate".into(),
    })
    .await
    .unwrap();

    // Agreement: signed, amended, superseded.
    let mut a = agreements(server);
    let first = agreement::sign(server, &p).await;
    let next = agreement::sign(server, &p).await;
    a.amend_agreement(proto::AmendAgreementRequest {
        header: header("2025-05-20T02:00:00Z"),
        agreement_id: first.clone(),
        amendment_no: "01".into(),
        service_levels: Some(agreement::levels(1, 5)),
        effective_from: "2025-06-01".into(),
        document_sha256: "6f".repeat(32),
        reason: "faster notification".into(),
    })
    .await
    .unwrap();
    a.supersede_agreement(proto::SupersedeAgreementRequest {
        header: header("2025-08-20T02:00:00Z"),
        agreement_id: first,
        by: next,
        effective_from: "2025-09-01".into(),
    })
    .await
    .unwrap();

    // Annual plan: issued, progressed, completed.
    let plan = annual_plan::issue(server, &p).await;
    let mut plans = annual_plan::plans(server);
    plans
        .report_task_progress(proto::ReportTaskProgressRequest {
            header: header("2025-03-31T02:00:00Z"),
            plan_id: plan.clone(),
            task_id: "T-01".into(),
            percent: 40,
            note: "analysers recalibrated".into(),
            quarter: 1,
        })
        .await
        .unwrap();
    plans
        .complete_task(proto::CompleteTaskRequest {
            header: header("2025-06-30T02:00:00Z"),
            plan_id: plan,
            task_id: "T-01".into(),
            completed_on: String::new(),
            note: String::new(),
        })
        .await
        .unwrap();

    // Park: rules, reports, eco-park certificate granted and revoked.
    reg.set_park_industry_rules(proto::SetParkIndustryRulesRequest {
        header: header("2025-04-20T02:00:00Z"),
        park_id: p.park.clone(),
        allowed_vsic_codes: vec![proto::VsicCode {
            code: "16".into(),
            version: "2018".into(),
        }],
        excluded_vsic_codes: vec![proto::VsicCode {
            code: "20".into(),
            version: "2018".into(),
        }],
        highest_pollution_level: proto::PollutionLevel::Ii as i32,
        effective_from: "2025-05-01".into(),
        legal_basis: String::new(),
    })
    .await
    .unwrap();
    reg.report_environmental_infrastructure(proto::ReportEnvironmentalInfrastructureRequest {
        header: header("2025-05-05T02:00:00Z"),
        park_id: p.park.clone(),
        company_id: p.company.clone(),
        wastewater_capacity_m3_per_day: 5_000,
        wastewater_load_m3_per_day: None,
        monitoring_connected: true,
        as_of: "2025-04-30".into(),
    })
    .await
    .unwrap();
    reg.report_occupancy(proto::ReportOccupancyRequest {
        header: header("2025-05-05T03:00:00Z"),
        park_id: p.park.clone(),
        company_id: p.company.clone(),
        rate_percent: "93.77".into(),
        as_of: "2024-12-31".into(),
    })
    .await
    .unwrap();
    reg.record_eco_park_evidence(proto::RecordEcoParkEvidenceRequest {
        header: header("2025-06-01T02:00:00Z"),
        park_id: p.park.clone(),
        criterion: "shared wastewater treatment".into(),
        value: "100% connected".into(),
        document_sha256: "5e".repeat(32),
    })
    .await
    .unwrap();
    reg.certify_eco_park(proto::CertifyEcoParkRequest {
        header: header("2025-06-02T02:00:00Z"),
        park_id: p.park.clone(),
        certificate_no: "KCNST-01/2025".into(),
        valid_to: "2030-06-01".into(),
    })
    .await
    .unwrap();
    reg.revoke_eco_park_certification(proto::RevokeEcoParkCertificationRequest {
        header: header("2025-07-02T02:00:00Z"),
        park_id: p.park.clone(),
        certificate_no: "KCNST-01/2025".into(),
        reason: "criterion no longer met".into(),
    })
    .await
    .unwrap();

    // Consultations: one determined and linked, one withdrawn.
    let mut c = consultations(server);
    let linked = consultation::open(server, &p, "2025-05-02T02:00:00Z").await;
    c.submit_company_opinion(proto::SubmitCompanyOpinionRequest {
        header: header("2025-05-03T02:00:00Z"),
        consultation_id: linked.clone(),
        opinion: "supported".into(),
        attachments: vec![],
    })
    .await
    .unwrap();
    c.determine_suitability(determining(
        &linked,
        proto::Suitability::Conditional,
        &["connect to the central plant"],
        "2025-05-12T03:00:00Z",
    ))
    .await
    .unwrap();
    c.link_consultation_to_tenant(proto::LinkConsultationToTenantRequest {
        header: header("2025-06-01T03:00:00Z"),
        consultation_id: linked,
        tenant_id: p.tenant.clone(),
    })
    .await
    .unwrap();
    let dropped = consultation::open(server, &p, "2025-05-02T03:00:00Z").await;
    c.withdraw_consultation(proto::WithdrawConsultationRequest {
        header: header("2025-05-04T02:00:00Z"),
        consultation_id: dropped,
        reason: "investor withdrew".into(),
    })
    .await
    .unwrap();

    // Dissemination and procedures.
    let mut d = disseminations(server);
    d.record_legal_training(dissemination::training(&p, "2025-06-05T01:30:00Z"))
        .await
        .unwrap();
    d.issue_guidance(dissemination::guidance(&p, "2025-12-01T03:00:00Z"))
        .await
        .unwrap();
    let dossier = procedure::receive(server, &p, "2025-03-03T02:00:00Z").await;
    procedures(server)
        .decide_dossier(procedure::deciding(&dossier, "2025-03-10T02:00:00Z"))
        .await
        .unwrap();

    // The succession, and the park's and tenant's reports for 2025, filed in January 2026.
    let boards = succession::establish_boards(server).await;
    succession::merge_and_reassign(server, &p, &boards).await;
    reg.submit_park_annual_environmental_report(park_reports::annual_report(
        &p,
        "2026-01-10T02:00:00Z",
    ))
    .await
    .unwrap();
    reg.submit_annual_environmental_report(proto::SubmitAnnualEnvironmentalReportRequest {
        header: header("2026-01-10T03:00:00Z"),
        tenant_id: p.tenant.clone(),
        year: 2025,
        submitted_on: String::new(),
    })
    .await
    .unwrap();

    // Inspections, incidents and monitoring alerts, as their own stories drive them.
    crate::inspection::drive_inspections_incidents_and_monitoring(server, &p).await;
    p
}

#[tokio::test]
async fn every_stored_payload_parses_as_its_message_in_events_proto() {
    let server = TestServer::start().await;
    server.clock.set(at("2026-02-01T00:00:00Z"));
    drive_everything(&server).await;

    let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut covered = BTreeSet::new();
    for e in server.read_log().await {
        let name = format!("kcn.ledger.v1.{}", e.event_type);
        let message = pool
            .get_message_by_name(&name)
            .unwrap_or_else(|| panic!("{name} is not a message of the contract"));
        let mut json = serde_json::Deserializer::from_slice(&e.payload);
        let parsed = DynamicMessage::deserialize(message, &mut json).unwrap_or_else(|err| {
            panic!(
                "{} at position {}: {err}\n{}",
                e.event_type,
                e.position,
                String::from_utf8_lossy(&e.payload)
            )
        });
        json.end().unwrap();
        // Every field of the payload was a field of the message (unknown fields are denied), and
        // the message says something.
        assert!(
            parsed.fields().next().is_some() || e.payload == b"{}",
            "{}",
            e.event_type
        );
        covered.insert(e.event_type);
    }

    let catalogue: BTreeSet<String> = CATALOGUE.iter().map(|s| (*s).to_owned()).collect();
    for name in &catalogue {
        assert!(
            pool.get_message_by_name(&format!("kcn.ledger.v1.{name}"))
                .is_some(),
            "{name} has no message in events.proto"
        );
    }
    let missing: Vec<&String> = catalogue.difference(&covered).collect();
    assert!(missing.is_empty(), "event types not covered: {missing:?}");
}

/// The shape `AgreementSigned` had at schema version 1: no `effective_from`.
fn v1_agreement_signed(p: &Province) -> Vec<u8> {
    format!(
        concat!(
            r#"{{"authority_id":"{}","company_ids":["{}"],"version":"2025","#,
            r#""title":"Quy chế phối hợp bảo vệ môi trường các KCN","signed_on":"2025-04-11","#,
            r#""document_sha256":"{}","#,
            r#""service_levels":{{"incident_notification_hours":2,"information_answer_days":7}}}}"#
        ),
        p.board,
        p.company,
        "1f".repeat(32)
    )
    .into_bytes()
}

/// Appends one event under the log the way an older server's writer did: positioned after the
/// head, with its leaf and the tree's stored hashes in the same transaction.
pub async fn append_raw(backend: &SqliteBackend, event: StoredEvent) -> StoredEvent {
    let mut stored = kcn_testkit::log::append_stored(backend, vec![event])
        .await
        .unwrap();
    stored.remove(0)
}

#[tokio::test]
async fn an_agreement_stored_in_its_version_one_shape_is_read_as_the_current_one() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let dir = server.stop().await;

    let backend = SqliteBackend::open(
        &dir.path().join("kcn-ledger.sqlite"),
        SqliteDurability::Full,
    )
    .await
    .unwrap();
    let agreement_id = uuid::Uuid::now_v7();
    let v1 = v1_agreement_signed(&p);
    let recorded_at = format_timestamp(at("2025-04-11T02:00:05Z"));
    let stored = append_raw(
        &backend,
        StoredEvent {
            position: 0,
            event_id: uuid::Uuid::now_v7(),
            aggregate_type: "CoordinationAgreement".into(),
            aggregate_id: agreement_id.to_string(),
            aggregate_version: 1,
            event_type: "AgreementSigned".into(),
            schema_version: 1,
            occurred_at: format_timestamp(at("2025-04-11T02:00:00Z")),
            recorded_at,
            payload: v1.clone(),
            metadata: serde_json::to_vec(&Metadata {
                actor: Actor {
                    principal: "local-operator".into(),
                    organisation: None,
                    role: None,
                    authentication: "local_principal".into(),
                },
                acting_authority_id: None,
                correlation_id: None,
                causation_id: None,
                request_id: Some("v1-import".into()),
                source: None,
            })
            .unwrap(),
        },
    )
    .await;
    drop(backend);

    let server = TestServer::start_in(dir).await;
    let mut a = agreements(&server);
    let got = a
        .get_agreement(proto::GetAgreementRequest {
            agreement_id: agreement_id.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    let signed = got.signed.unwrap();
    assert_eq!(signed.signed_on, "2025-04-11");
    assert_eq!(
        signed.effective_from, "2025-04-11",
        "a version 1 regulation took effect on signing"
    );
    assert_eq!(
        signed
            .service_levels
            .unwrap()
            .infrastructure_information_days,
        None
    );

    // The command path folds the old shape too: an amendment after it is judged on it.
    let amended = a
        .amend_agreement(proto::AmendAgreementRequest {
            header: header("2025-05-20T02:00:00Z"),
            agreement_id: agreement_id.to_string(),
            amendment_no: String::new(),
            service_levels: Some(agreement::levels(1, 5)),
            effective_from: "2025-04-01".into(),
            document_sha256: String::new(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        crate::harness::precondition_types(&amended),
        vec!["AMENDMENT_NOT_AFTER_LATEST"],
        "the upcast effective_from (2025-04-11) is what the amendment is compared with"
    );

    // The stored bytes did not change: the log still holds version 1, byte for byte.
    let log = server.read_log().await;
    let old = log.iter().find(|e| e.position == stored.position).unwrap();
    assert_eq!(old.schema_version, 1);
    assert_eq!(old.payload, v1);
    assert_eq!(old.event_id, stored.event_id.to_string());
    // And the old shape is valid proto3 JSON of today's message: the change was additive.
    let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
    let message = pool
        .get_message_by_name("kcn.ledger.v1.AgreementSigned")
        .unwrap();
    DynamicMessage::deserialize(message, &mut serde_json::Deserializer::from_slice(&v1)).unwrap();
}
