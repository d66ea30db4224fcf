//! Validation at the edge (issue 9): every number has a range, every list a maximum, dates a
//! four-digit year, and text refuses invisible and direction-changing characters; a refused command
//! names its fields and writes nothing.

use kcn_services::proto;
use kcn_services::proto::agreement_service_client::AgreementServiceClient;
use kcn_services::proto::dissemination_service_client::DisseminationServiceClient;
use kcn_services::proto::inspection_service_client::InspectionServiceClient;
use kcn_services::proto::procedure_service_client::ProcedureServiceClient;
use tonic::Code;

use crate::harness::{TestServer, header, seed, violated_fields};

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn levels(hours: u32, answer_days: u32) -> Option<proto::ServiceLevels> {
    Some(proto::ServiceLevels {
        incident_notification_hours: hours,
        information_answer_days: answer_days,
        infrastructure_information_days: Some(366),
        consultation_answer_days: Some(0),
        quarterly_report_due_day: Some(29),
    })
}

#[tokio::test]
async fn absurd_service_levels_are_refused_field_by_field_and_append_nothing() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut agreements = AgreementServiceClient::new(server.channel.clone());
    let sign = |hours, days| proto::SignAgreementRequest {
        header: header("2025-04-10T02:00:00Z"),
        authority_id: p.board.clone(),
        company_ids: vec![p.company.clone()],
        version: "2025".into(),
        title: "Quy chế phối hợp".into(),
        document_sha256: SHA.into(),
        service_levels: levels(hours, days),
        ..Default::default()
    };
    // The two values of issue 9: one stopped the exchanges projector, one panicked a request task.
    let status = agreements
        .sign_agreement(sign(u32::MAX - 1, 100_000_000))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        violated_fields(&status),
        [
            "service_levels.incident_notification_hours",
            "service_levels.information_answer_days",
            "service_levels.infrastructure_information_days",
            "service_levels.consultation_answer_days",
            "service_levels.quarterly_report_due_day",
        ]
    );
    assert!(status.message().contains("1 to 365 days"), "{status:?}");
    assert_eq!(server.read_log().await.len() as u64, p.last_position);

    // The ends of the ranges are accepted.
    let mut at_the_ends = sign(720, 365);
    at_the_ends.service_levels = Some(proto::ServiceLevels {
        incident_notification_hours: 720,
        information_answer_days: 365,
        infrastructure_information_days: Some(1),
        consultation_answer_days: Some(365),
        quarterly_report_due_day: Some(28),
    });
    agreements.sign_agreement(at_the_ends).await.unwrap();
}

#[tokio::test]
async fn dates_need_a_four_digit_year_and_two_digit_month_and_day() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut registry = server.registry();
    for bad in [
        "2025-6-2",
        "0000-01-01",
        "-001-01-01",
        "+99999-01-01",
        "1899-12-31",
    ] {
        let status = registry
            .assign_jurisdiction(proto::AssignJurisdictionRequest {
                header: header("2025-04-10T02:00:00Z"),
                park_id: p.park.clone(),
                authority_id: p.board.clone(),
                effective_from: bad.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}: {status:?}");
        assert_eq!(violated_fields(&status), ["effective_from"], "{bad}");
    }
    assert_eq!(server.read_log().await.len() as u64, p.last_position);
}

#[tokio::test]
async fn names_with_invisible_or_direction_changing_characters_are_refused() {
    let server = TestServer::start().await;
    let mut registry = server.registry();
    // A right-to-left override (U+202E) makes a name read differently from what is stored; the others
    // hide characters an auditor would not see.
    for hidden in [
        '\u{202E}', '\u{2067}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{00AD}',
    ] {
        let status = registry
            .register_park(proto::RegisterParkRequest {
                header: header("2025-04-01T02:20:00Z"),
                code: "DONGAN-1".into(),
                name: format!("KCN Đồng{hidden} An"),
                area_ha: "138.7".into(),
                location: format!("Thuận An{hidden}"),
            })
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{hidden:?}: {status:?}"
        );
        assert_eq!(violated_fields(&status), ["name", "location"], "{hidden:?}");
        assert!(status.message().contains("invisible"), "{status:?}");
    }
    assert!(server.read_log().await.is_empty());
}

#[tokio::test]
async fn numbers_outside_their_range_are_refused_by_field() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut registry = server.registry();

    let park = registry
        .register_park(proto::RegisterParkRequest {
            header: header("2025-04-03T02:20:00Z"),
            code: "HUGE-1".into(),
            name: "KCN rất lớn".into(),
            area_ha: "100000.0001".into(),
            location: "Bình Dương".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&park), ["area_ha"]);

    let infrastructure = registry
        .report_environmental_infrastructure(proto::ReportEnvironmentalInfrastructureRequest {
            header: header("2025-04-03T02:20:00Z"),
            park_id: p.park.clone(),
            company_id: p.company.clone(),
            wastewater_capacity_m3_per_day: 10_000_001,
            wastewater_load_m3_per_day: Some(u32::MAX),
            monitoring_connected: true,
            as_of: "2025-04-01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&infrastructure),
        [
            "wastewater_capacity_m3_per_day",
            "wastewater_load_m3_per_day"
        ]
    );

    let occupancy = registry
        .report_occupancy(proto::ReportOccupancyRequest {
            header: header("2025-04-03T02:20:00Z"),
            park_id: p.park.clone(),
            company_id: p.company.clone(),
            rate_percent: "100.01".into(),
            as_of: "2025-04-01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&occupancy), ["rate_percent"]);

    let training = DisseminationServiceClient::new(server.channel.clone())
        .record_legal_training(proto::RecordLegalTrainingRequest {
            header: header("2025-04-03T02:20:00Z"),
            authority_id: p.board.clone(),
            topic: "Luật Bảo vệ môi trường 2020".into(),
            audience: "Doanh nghiệp".into(),
            attendee_count: 100_001,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&training), ["attendee_count"]);

    let dossier = ProcedureServiceClient::new(server.channel.clone())
        .receive_dossier(proto::ReceiveDossierRequest {
            header: header("2025-04-03T02:20:00Z"),
            procedure_code: "MT-01".into(),
            authority_id: p.board.clone(),
            tenant_id: p.tenant.clone(),
            park_id: p.park.clone(),
            promised_days: Some(366),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&dossier), ["promised_days"]);

    let report = registry
        .submit_annual_environmental_report(proto::SubmitAnnualEnvironmentalReportRequest {
            header: header("2025-04-03T02:20:00Z"),
            tenant_id: p.tenant.clone(),
            year: 9999,
            submitted_on: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&report), ["year"]);
    assert_eq!(server.read_log().await.len() as u64, p.last_position);
}

#[tokio::test]
async fn lists_past_their_maximum_are_refused_whole_and_violations_stay_few() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let code = |c: &str| proto::VsicCode {
        code: c.into(),
        version: "2018".into(),
    };
    // A thousand and one codes: refused as one violation, without reading them.
    let status = server
        .registry()
        .set_park_industry_rules(proto::SetParkIndustryRulesRequest {
            header: header("2025-04-10T02:00:00Z"),
            park_id: p.park.clone(),
            allowed_vsic_codes: vec![code("1610"); 1_001],
            excluded_vsic_codes: vec![code("1610"); 1_000],
            highest_pollution_level: proto::PollutionLevel::Ii as i32,
            effective_from: "2025-05-01".into(),
            legal_basis: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["allowed_vsic_codes"]);
    assert!(status.message().contains("at most 1000"), "{status:?}");

    // A thousand malformed codes within the maximum: the answer lists 20 and counts the rest.
    let status = server
        .registry()
        .set_park_industry_rules(proto::SetParkIndustryRulesRequest {
            header: header("2025-04-10T02:00:00Z"),
            park_id: p.park.clone(),
            allowed_vsic_codes: vec![code("16100000"); 1_000],
            highest_pollution_level: proto::PollutionLevel::Ii as i32,
            effective_from: "2025-05-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields = violated_fields(&status);
    assert_eq!(fields.len(), 21, "{fields:?}");
    assert_eq!(fields[19], "allowed_vsic_codes[19]");
    assert_eq!(fields[20], "");

    // 201 inspected tenants.
    let status = InspectionServiceClient::new(server.channel.clone())
        .plan_inspection(proto::PlanInspectionRequest {
            header: header("2025-04-10T02:00:00Z"),
            park_id: p.park.clone(),
            tenant_ids: vec![p.tenant.clone(); 201],
            conducted_by: proto::InspectionConductor::Board as i32,
            kind: proto::InspectionKind::Planned as i32,
            planned_for: "2025-05-01".into(),
            scope: "Nước thải".into(),
            incident_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["tenant_ids"]);
    assert_eq!(server.read_log().await.len() as u64, p.last_position);
}

#[tokio::test]
async fn queries_bound_their_filters_and_refuse_forged_page_tokens_and_positions() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut audit = server.audit();
    let timeline = |event_types: Vec<String>, page_token: String, min_position: u64| {
        proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Park as i32,
            subject_id: p.park.clone(),
            event_types,
            page_size: 1,
            page_token,
            min_position,
            ..Default::default()
        }
    };
    // 100,000 event types once answered INTERNAL ("too many SQL variables"); 50,000 still fit
    // in the largest message the server decodes.
    let many = vec!["ParkRegistered".to_owned(); 50_000];
    let status = audit
        .get_timeline(timeline(many, String::new(), 0))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["event_types"]);
    let status = audit
        .get_timeline(timeline(vec!["NoSuchEvent".into()], String::new(), 0))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["event_types[0]"]);

    // A real token opens; the same token with its position changed, or made up, does not.
    let first = audit
        .get_timeline(timeline(Vec::new(), String::new(), p.last_position))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !first.next_page_token.is_empty(),
        "the park has more than one entry"
    );
    audit
        .get_timeline(timeline(Vec::new(), first.next_page_token.clone(), 0))
        .await
        .unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(&first.next_page_token).unwrap();
    let body = String::from_utf8_lossy(&bytes[16..bytes.len() - 16]).into_owned();
    let forged_body = body.replace(
        &body[body.rfind(',').unwrap() + 1..body.len() - 1],
        &u64::MAX.to_string(),
    );
    assert_ne!(body, forged_body);
    let tag = bytes.split_off(bytes.len() - 16);
    bytes.truncate(16);
    bytes.extend(forged_body.as_bytes());
    bytes.extend(tag);
    for forged in [
        URL_SAFE_NO_PAD.encode(&bytes),
        URL_SAFE_NO_PAD.encode(br#"{"at":"2025-01-01","position":18446744073709551615}"#),
        "%%%".to_owned(),
        "A".repeat(5_000),
    ] {
        let status = audit
            .get_timeline(timeline(Vec::new(), forged, 0))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_token"]);
    }

    // A position the log has not reached, up to 2^64 - 1, is refused at once.
    for position in [p.last_position + 1, i64::MAX as u64 + 1, u64::MAX] {
        let status = audit
            .get_timeline(timeline(Vec::new(), String::new(), position))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["min_position"], "{position}");
    }
    assert_eq!(
        status_code_of_health(&server).await,
        1,
        "the server still serves"
    );
}

/// The overall health status number (1: SERVING).
async fn status_code_of_health(server: &TestServer) -> i32 {
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}
