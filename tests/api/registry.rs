//! The registry through the real server: parks, companies, tenants, their validation and rules.

use kcn_services::proto;
use tonic::Code;

use crate::harness::{TestServer, header, precondition_types, seed, violated_fields};

#[tokio::test]
async fn registering_a_province_returns_positions_and_the_state_reads_back() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    assert_eq!(
        p.last_position, 6,
        "six commands, one event each, positions 1..6"
    );

    let park = server
        .registry()
        .get_park(proto::GetParkRequest {
            park_id: p.park.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(park.version, 3);
    assert_eq!(park.registration.unwrap().area_ha, "138.7");
    assert_eq!(park.jurisdictions[0].id, p.board);
    assert_eq!(park.jurisdictions[0].effective_from, "2006-01-01");
    assert_eq!(park.infrastructure_companies[0].id, p.company);

    let tenant = server
        .registry()
        .get_tenant(proto::GetTenantRequest {
            tenant_id: p.tenant.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let reg = tenant.registration.unwrap();
    assert_eq!(reg.park_id, p.park);
    assert_eq!(reg.vsic_codes[0].code, "1610");
}

#[tokio::test]
async fn invalid_fields_are_all_named_and_nothing_is_appended() {
    let server = TestServer::start().await;
    let status = server
        .registry()
        .register_tenant(proto::RegisterTenantRequest {
            header: header("2025-04-02T03:00:00Z"),
            park_id: "not-a-uuid".into(),
            enterprise_code: "12345".into(),
            name: "  ".into(),
            investment_registration_no: "IRC-1".into(),
            vsic_codes: vec![proto::VsicCode {
                code: "25a".into(),
                version: "2018".into(),
            }],
            foreign_invested: false,
        })
        .await
        .unwrap_err();
    let fields = violated_fields(&status);
    for f in ["park_id", "enterprise_code", "name", "vsic_codes[0]"] {
        assert!(
            fields.contains(&f.to_owned()),
            "{f} missing from {fields:?}"
        );
    }
    assert!(server.read_log().await.is_empty());
}

#[tokio::test]
async fn a_command_without_header_or_business_time_is_invalid() {
    let server = TestServer::start().await;
    let mut reg = server.registry();
    let request = |header| proto::RegisterCompanyRequest {
        header,
        enterprise_code: "3700146225".into(),
        name: "Becamex IDC".into(),
        address: String::new(),
    };
    let status = reg.register_company(request(None)).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["header"]);

    let mut h = header("2025-04-01T00:00:00Z");
    h.as_mut().unwrap().occurred_at = None;
    h.as_mut().unwrap().request_id = "has space".into();
    let status = reg.register_company(request(h)).await.unwrap_err();
    assert_eq!(
        violated_fields(&status),
        vec!["header.request_id", "header.occurred_at"]
    );
}

#[tokio::test]
async fn an_occurred_at_in_the_future_is_refused() {
    let server = TestServer::start().await;
    // The test clock says 2026-01-01T00:00Z; the default skew is five minutes.
    let status = server
        .registry()
        .register_company(proto::RegisterCompanyRequest {
            header: header("2026-01-01T00:06:00Z"),
            enterprise_code: "3700146225".into(),
            name: "Becamex IDC".into(),
            address: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["header.occurred_at"]);
    server
        .registry()
        .register_company(proto::RegisterCompanyRequest {
            header: header("2026-01-01T00:04:00Z"),
            enterprise_code: "3700146225".into(),
            name: "Becamex IDC".into(),
            address: String::new(),
        })
        .await
        .expect("within the allowed skew");
}

#[tokio::test]
async fn a_tenant_in_an_unknown_park_is_a_failed_precondition() {
    let server = TestServer::start().await;
    let status = server
        .registry()
        .register_tenant(proto::RegisterTenantRequest {
            header: header("2025-04-02T03:00:00Z"),
            park_id: uuid::Uuid::now_v7().to_string(),
            enterprise_code: "3702345678".into(),
            name: "Gỗ Minh Phát".into(),
            investment_registration_no: "9876543210".into(),
            vsic_codes: vec![proto::VsicCode {
                code: "1610".into(),
                version: "2018".into(),
            }],
            foreign_invested: false,
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["UNKNOWN_REFERENCE"]);
    assert!(
        server.read_log().await.is_empty(),
        "a rejected command leaves no trace"
    );
}

#[tokio::test]
async fn a_command_or_query_on_an_aggregate_that_does_not_exist_is_not_found() {
    let server = TestServer::start().await;
    let missing = uuid::Uuid::now_v7().to_string();
    let status = server
        .registry()
        .get_park(proto::GetParkRequest {
            park_id: missing.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = server
        .registry()
        .assign_jurisdiction(proto::AssignJurisdictionRequest {
            header: header("2025-04-01T00:00:00Z"),
            park_id: missing,
            authority_id: uuid::Uuid::now_v7().to_string(),
            effective_from: "2025-01-01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

/// A jurisdiction effective before the latest one is a true fact entered late, and is recorded
/// where its date falls (the park's responsibility on a date follows it); a second jurisdiction on
/// a date that has one, or the authority already in force the day before, is refused and leaves
/// nothing.
async fn a_backdated_jurisdiction_is_recorded_in_date_order(server: TestServer) {
    let p = seed(&server).await;
    let assign = |authority: &str, from: &str| proto::AssignJurisdictionRequest {
        header: header("2025-08-01T02:00:00Z"),
        park_id: p.park.clone(),
        authority_id: authority.to_owned(),
        effective_from: from.into(),
    };
    let province = server
        .registry()
        .establish_authority(proto::EstablishAuthorityRequest {
            header: header("2025-08-01T01:00:00Z"),
            name: "Sở Tài nguyên và Môi trường tỉnh Bình Dương".into(),
            kind: proto::AuthorityKind::EnvironmentDepartment as i32,
            jurisdiction: "Tỉnh Bình Dương".into(),
            decision_no: "QĐ-12/1997".into(),
            effective_from: "1997-01-01".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    // The seed put the park under the Board from 2006-01-01; the department had it from 1997.
    let outcome = server
        .registry()
        .assign_jurisdiction(assign(&province, "1997-01-01"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let before = server.read_log().await.len();
    for (authority, from, rule) in [
        (&p.board, "2006-01-01", "JURISDICTION_ALREADY_ASSIGNED_ON"),
        (&province, "2000-01-01", "JURISDICTION_UNCHANGED"),
    ] {
        let status = server
            .registry()
            .assign_jurisdiction(assign(authority, from))
            .await
            .unwrap_err();
        assert_eq!(precondition_types(&status), vec![rule]);
    }
    assert_eq!(server.read_log().await.len(), before);
    for (on, authority) in [("2005-12-31", &province), ("2006-01-01", &p.board)] {
        let answer = kcn_services::proto::audit_query_service_client::AuditQueryServiceClient::new(
            server.channel.clone(),
        )
        .get_park_responsibility(proto::GetParkResponsibilityRequest {
            park_id: p.park.clone(),
            date: on.into(),
            min_position: outcome.last_position,
        })
        .await
        .unwrap()
        .into_inner();
        assert_eq!(
            &answer.assigned_authority.unwrap().authority_id,
            authority,
            "on {on}"
        );
    }
}

crate::harness::on_both_backends!(a_backdated_jurisdiction_is_recorded_in_date_order);

#[tokio::test]
async fn a_late_annual_report_is_accepted_and_its_breach_is_named() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    server.clock.set(crate::harness::at("2026-02-01T00:00:00Z"));
    // 2026-01-15T20:00Z is 16 January in Vietnam: one day late for the 2025 report.
    let outcome = server
        .registry()
        .submit_annual_environmental_report(proto::SubmitAnnualEnvironmentalReportRequest {
            header: header("2026-01-15T20:00:00Z"),
            tenant_id: p.tenant.clone(),
            year: 2025,
            submitted_on: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(outcome.breaches.len(), 1);
    assert_eq!(outcome.breaches[0].limit, "tenant_annual_report_late");
    crate::breaches::assert_registered(&server, &outcome).await;
    let tenant = server
        .registry()
        .get_tenant(proto::GetTenantRequest {
            tenant_id: p.tenant,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tenant.annual_reports[0].submitted_on, "2026-01-16");
}

#[tokio::test]
async fn a_tenant_event_records_the_authority_with_jurisdiction_over_its_park() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let log = server.read_log().await;
    let tenant_registered = log
        .iter()
        .find(|e| e.event_type == "TenantRegistered")
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&tenant_registered.metadata).unwrap();
    assert_eq!(metadata["acting_authority_id"], p.board.as_str());
    assert_eq!(metadata["actor"]["principal"], "embedded");
    assert_eq!(metadata["actor"]["authentication"], "embedded");
    // The company's registration is not tied to a park: no acting authority, and no null either.
    let company = log
        .iter()
        .find(|e| e.event_type == "CompanyRegistered")
        .unwrap();
    let text = String::from_utf8(company.metadata.clone()).unwrap();
    assert!(
        !text.contains("acting_authority_id") && !text.contains("null"),
        "{text}"
    );
}
