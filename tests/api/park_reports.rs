//! What the infrastructure company reports for its park through the real server: the annual
//! environmental report (due by 20 January), the wastewater plant and monitoring connection, the
//! occupancy rate, and the eco-industrial park evidence and certificate.

use kcn_services::proto;

use crate::harness::{Province, TestServer, at, header, precondition_types, seed, violated_fields};

pub fn annual_report(
    p: &Province,
    when: &str,
) -> proto::SubmitParkAnnualEnvironmentalReportRequest {
    proto::SubmitParkAnnualEnvironmentalReportRequest {
        header: header(when),
        park_id: p.park.clone(),
        year: 2025,
        company_id: p.company.clone(),
        submitted_on: String::new(),
        document_sha256: "4d".repeat(32),
    }
}

#[tokio::test]
async fn a_park_report_after_the_twentieth_of_january_is_accepted_and_named() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    server.clock.set(at("2026-02-01T00:00:00Z"));
    // 2026-01-20T17:30Z is 21 January in Vietnam: one day late.
    let outcome = server
        .registry()
        .submit_park_annual_environmental_report(annual_report(&p, "2026-01-20T17:30:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(outcome.breaches.len(), 1);
    assert_eq!(outcome.breaches[0].limit, "park_annual_report_late");
    crate::breaches::assert_registered(&server, &outcome).await;
    let park = server
        .registry()
        .get_park(proto::GetParkRequest {
            park_id: p.park.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(park.annual_reports[0].submitted_on, "2026-01-21");
    assert_eq!(park.annual_reports[0].company_id, p.company);
}

#[tokio::test]
async fn a_park_report_on_the_twentieth_breaches_nothing() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    server.clock.set(at("2026-02-01T00:00:00Z"));
    let outcome = server
        .registry()
        .submit_park_annual_environmental_report(annual_report(&p, "2026-01-20T16:59:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(outcome.breaches.is_empty());
}

#[tokio::test]
async fn only_the_company_running_the_park_reports_for_it() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    server.clock.set(at("2026-02-01T00:00:00Z"));
    let other = server
        .registry()
        .register_company(proto::RegisterCompanyRequest {
            header: header("2025-04-01T03:00:00Z"),
            enterprise_code: "3700145020".into(),
            name: "Tổng Công ty Becamex IDC".into(),
            address: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let before = server.read_log().await.len();
    let status = server
        .registry()
        .submit_park_annual_environmental_report(
            proto::SubmitParkAnnualEnvironmentalReportRequest {
                company_id: other,
                ..annual_report(&p, "2026-01-10T02:00:00Z")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        precondition_types(&status),
        vec!["COMPANY_NOT_RUNNING_PARK"]
    );
    let status = server
        .registry()
        .submit_park_annual_environmental_report(
            proto::SubmitParkAnnualEnvironmentalReportRequest {
                submitted_on: "2026-01-09".into(),
                ..annual_report(&p, "2026-01-10T02:00:00Z")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["submitted_on"]);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn infrastructure_occupancy_and_the_eco_park_certificate_are_reported_and_read_back() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut reg = server.registry();
    reg.report_environmental_infrastructure(proto::ReportEnvironmentalInfrastructureRequest {
        header: header("2025-05-05T02:00:00Z"),
        park_id: p.park.clone(),
        company_id: p.company.clone(),
        wastewater_capacity_m3_per_day: 5_000,
        wastewater_load_m3_per_day: Some(3_100),
        monitoring_connected: true,
        as_of: "2025-04-30".into(),
    })
    .await
    .unwrap();
    // The province's 2024 occupancy, 93.77%, as a decimal string.
    reg.report_occupancy(proto::ReportOccupancyRequest {
        header: header("2025-05-05T02:10:00Z"),
        park_id: p.park.clone(),
        company_id: p.company.clone(),
        rate_percent: "93.77".into(),
        as_of: "2024-12-31".into(),
    })
    .await
    .unwrap();
    let status = reg
        .report_occupancy(proto::ReportOccupancyRequest {
            header: header("2025-05-05T02:20:00Z"),
            park_id: p.park.clone(),
            company_id: p.company.clone(),
            rate_percent: "101".into(),
            as_of: "2024-12-31".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["rate_percent"]);

    let certify = |when: &str| proto::CertifyEcoParkRequest {
        header: header(when),
        park_id: p.park.clone(),
        certificate_no: "KCNST-01/2025".into(),
        valid_to: "2030-06-01".into(),
    };
    let status = reg
        .certify_eco_park(certify("2025-06-01T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(
        precondition_types(&status),
        vec!["ECO_PARK_EVIDENCE_MISSING"]
    );
    reg.record_eco_park_evidence(proto::RecordEcoParkEvidenceRequest {
        header: header("2025-06-01T02:00:00Z"),
        park_id: p.park.clone(),
        criterion: "Nghị định 35/2022, Điều 39: xử lý nước thải tập trung".into(),
        value: "100% tenants connected; effluent meets QCVN 40:2011 column A".into(),
        document_sha256: "5e".repeat(32),
    })
    .await
    .unwrap();
    reg.certify_eco_park(certify("2025-06-02T02:00:00Z"))
        .await
        .unwrap();
    let park = reg
        .get_park(proto::GetParkRequest {
            park_id: p.park.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        park.infrastructure.unwrap().wastewater_capacity_m3_per_day,
        5_000
    );
    assert_eq!(park.occupancy.unwrap().rate_percent, "93.77");
    assert_eq!(park.eco_park_certificate.unwrap().valid_to, "2030-06-01");

    reg.revoke_eco_park_certification(proto::RevokeEcoParkCertificationRequest {
        header: header("2025-11-02T02:00:00Z"),
        park_id: p.park.clone(),
        certificate_no: "KCNST-01/2025".into(),
        reason: "effluent exceeded column A for three months".into(),
    })
    .await
    .unwrap();
    let status = reg
        .revoke_eco_park_certification(proto::RevokeEcoParkCertificationRequest {
            header: header("2025-11-03T02:00:00Z"),
            park_id: p.park.clone(),
            certificate_no: "KCNST-01/2025".into(),
            reason: "again".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["ECO_PARK_NOT_CERTIFIED"]);
    let park = reg
        .get_park(proto::GetParkRequest { park_id: p.park })
        .await
        .unwrap()
        .into_inner();
    assert!(park.eco_park_certificate.is_none());
}
