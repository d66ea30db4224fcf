//! Audit questions 2, 3, 5 and 7 end to end: a history of two parks in 2025-2026 driven through the
//! real server (the Bình Dương Board succeeded by the city's on 28 July 2025, a coordination
//! agreement amended and superseded, inspections with a late delivery, an overlong and a second
//! extension, an unannounced one with its grounds, repeated inspections of one tenant in a year,
//! incidents notified on time and late under the agreement's own hours, alerts followed and not),
//! then asked through `AuditQueryService` and checked against answers computed by hand.
//!
//! The same story runs on SQLite and on PostgreSQL (where the elected process runs the projectors).

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::audit_query_service_client::AuditQueryServiceClient;
use kcn_services::proto::monitoring_service_client::MonitoringServiceClient;
use tonic::Code;

use crate::agreement::{agreements, levels, signing};
use crate::harness::{Province, TestServer, at, header, seed, ts, violated_fields};
use crate::incident::{incidents, overflow, overflow_story};
use crate::inspection::{inspections, post_check_story};
use crate::succession::{establish_boards, merge_and_reassign};

/// Unwraps a command's outcome.
macro_rules! done {
    ($call:expr) => {
        $call.await.unwrap().into_inner().outcome.unwrap()
    };
}

fn queries(server: &TestServer) -> AuditQueryServiceClient<Channel> {
    AuditQueryServiceClient::new(server.channel.clone())
}

fn monitoring(server: &TestServer) -> MonitoringServiceClient<Channel> {
    MonitoringServiceClient::new(server.channel.clone())
}

fn limits(outcome: &proto::CommandOutcome) -> Vec<&str> {
    outcome.breaches.iter().map(|b| b.limit.as_str()).collect()
}

/// Everything the story created, by role.
pub(crate) struct World {
    p: Province,
    /// The city's board, the Bình Dương Board's successor.
    city: String,
    p2: String,
    c2: String,
    c3: String,
    t2: String,
    t3: String,
    ag1: String,
    ag2: String,
    ins: [String; 7],
    incidents: [String; 5],
    /// AL1 to AL6.
    alerts: [String; 6],
    last_position: u64,
}

fn plan(
    park: &str,
    tenants: &[&str],
    kind: proto::InspectionKind,
    planned_for: &str,
    when: &str,
) -> proto::PlanInspectionRequest {
    proto::PlanInspectionRequest {
        header: header(when),
        park_id: park.to_owned(),
        tenant_ids: tenants.iter().map(|t| (*t).to_owned()).collect(),
        conducted_by: proto::InspectionConductor::Joint as i32,
        kind: kind as i32,
        planned_for: planned_for.into(),
        scope: "Wastewater connection to the central plant; stormwater drains".into(),
        incident_id: String::new(),
    }
}

fn issue(id: &str, when: &str) -> proto::IssueInspectionDecisionRequest {
    proto::IssueInspectionDecisionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        decision_no: "112/QĐ-BQL".into(),
        issued_on: String::new(),
        grounds: String::new(),
    }
}

fn deliver(id: &str, when: &str) -> proto::DeliverInspectionDecisionRequest {
    proto::DeliverInspectionDecisionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        tenant_ids: vec![],
        delivered_on: String::new(),
        recipient: "Director of the tenant".into(),
    }
}

fn start(id: &str, when: &str) -> proto::StartInspectionRequest {
    proto::StartInspectionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        started_on: String::new(),
    }
}

fn extend(id: &str, days: u32, when: &str) -> proto::ExtendInspectionRequest {
    proto::ExtendInspectionRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        days,
        reason: "Laboratory results of the drain samples are pending".into(),
        decision_no: String::new(),
    }
}

fn finding(id: &str, tenant: &str, finding_id: &str, when: &str) -> proto::RecordFindingRequest {
    proto::RecordFindingRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        finding_id: finding_id.to_owned(),
        tenant_id: tenant.to_owned(),
        requirement: "Connect all process wastewater to the park's central treatment plant".into(),
        severity: proto::FindingSeverity::Major as i32,
        description: "Process water discharged through a secondary pipe into the stormwater drain"
            .into(),
        commitment_id: String::new(),
    }
}

fn remediation(
    id: &str,
    finding_id: &str,
    due_on: &str,
    when: &str,
) -> proto::RequireRemediationRequest {
    proto::RequireRemediationRequest {
        header: header(when),
        inspection_id: id.to_owned(),
        finding_id: finding_id.to_owned(),
        due_on: due_on.into(),
        action: "Remove the secondary pipe".into(),
    }
}

fn incident_at(
    park: &str,
    company: &str,
    detected_at: &str,
    when: &str,
) -> proto::ReportIncidentRequest {
    proto::ReportIncidentRequest {
        header: header(when),
        park_id: park.to_owned(),
        tenant_id: String::new(),
        kind: proto::IncidentKind::Overflow as i32,
        detected_at: Some(ts(detected_at)),
        location: "Stormwater drains at the park's outfall".into(),
        description: "Brown-black, oily wastewater in the stormwater drains on a dry day".into(),
        reported_by: Some(proto::OrganisationRef {
            kind: proto::OrganisationKind::InfrastructureCompany as i32,
            id: company.to_owned(),
        }),
    }
}

fn notify(
    id: &str,
    when: &str,
    p: &crate::harness::Province,
) -> proto::SendIncidentNotificationRequest {
    proto::SendIncidentNotificationRequest {
        header: header(when),
        incident_id: id.to_owned(),
        recipient: "Phòng Quản lý môi trường".into(),
        channel: proto::NotificationChannel::Phone as i32,
        sent_at: None,
        message: "Overflow at the outfall".into(),
        ..crate::incident::notify(id, when, p)
    }
}

fn exceedance(
    park: &str,
    station: &str,
    tenant: &str,
    measured_at: &str,
    when: &str,
) -> proto::ReceiveExceedanceRequest {
    proto::ReceiveExceedanceRequest {
        header: header(when),
        alert_id: String::new(),
        park_id: park.to_owned(),
        station_id: station.into(),
        tenant_id: tenant.to_owned(),
        parameter: proto::MonitoringParameter::Cod as i32,
        value: "182.5".into(),
        unit: "mg/L".into(),
        limit: "150".into(),
        standard_ref: "QCVN 40:2011/BTNMT, column B".into(),
        measured_at: Some(ts(measured_at)),
    }
}

fn resolve_alert(
    alert: &str,
    inspection: &str,
    reason: &str,
    when: &str,
) -> proto::ResolveAlertRequest {
    proto::ResolveAlertRequest {
        header: header(when),
        alert_id: alert.to_owned(),
        inspection_id: inspection.to_owned(),
        incident_id: String::new(),
        reason: reason.to_owned(),
    }
}

/// Drives the story; the same one as the read-model tests of `projections/tests/audit_inspections.rs`,
/// with the ids the server assigns.
pub(crate) async fn build(server: &TestServer) -> World {
    // Business time runs to March 2026: the server's clock must be past it.
    server.clock.set(at("2026-06-01T00:00:00Z"));
    let p = seed(server).await;
    let mut reg = server.registry();
    let boards = establish_boards(server).await;
    let company = |code: &str, name: &str| proto::RegisterCompanyRequest {
        header: header("2025-04-01T02:15:00Z"),
        enterprise_code: code.into(),
        name: name.into(),
        address: String::new(),
    };
    let c2 =
        done!(reg.register_company(company("3700229411", "Tổng Công ty Becamex IDC"))).aggregate_id;
    let c3 = done!(reg.register_company(company("3701234567", "CTCP Phát triển hạ tầng Mỹ Phước")))
        .aggregate_id;
    let p2 = done!(reg.register_park(proto::RegisterParkRequest {
        header: header("2025-04-01T03:00:00Z"),
        code: "MYPHUOC-2".into(),
        name: "KCN Mỹ Phước 2".into(),
        area_ha: "477.4".into(),
        location: "Bến Cát, Bình Dương".into(),
    }))
    .aggregate_id;
    done!(reg.assign_jurisdiction(proto::AssignJurisdictionRequest {
        header: header("2025-04-01T03:10:00Z"),
        park_id: p2.clone(),
        authority_id: p.board.clone(),
        effective_from: "2006-01-01".into(),
    }));
    done!(
        reg.assign_infrastructure_company(proto::AssignInfrastructureCompanyRequest {
            header: header("2025-04-01T03:20:00Z"),
            park_id: p2.clone(),
            company_id: c2.clone(),
            effective_from: "2010-01-01".into(),
        })
    );
    let tenant = |park: &str, code: &str, name: &str| proto::RegisterTenantRequest {
        header: header("2025-04-02T04:00:00Z"),
        park_id: park.to_owned(),
        enterprise_code: code.into(),
        name: name.into(),
        investment_registration_no: "5432109876".into(),
        vsic_codes: vec![proto::VsicCode {
            code: "2220".into(),
            version: "2018".into(),
        }],
        foreign_invested: false,
    };
    let t2 = done!(reg.register_tenant(tenant(&p.park, "3702000002", "Công ty TNHH Nhựa Đồng An")))
        .aggregate_id;
    let t3 = done!(reg.register_tenant(tenant(&p2, "3702000003", "Công ty TNHH Dệt Mỹ Phước")))
        .aggregate_id;

    // AG1: the Board with both companies, 2 hours to notify an incident.
    let mut sign = signing(&p, "2025-04-11T02:00:00Z");
    sign.company_ids = vec![p.company.clone(), c2.clone()];
    let ag1 = done!(agreements(server).sign_agreement(sign)).aggregate_id;

    // INS1: T1, the late delivery, the overlong and the second extension, the overlong inspection.
    let mut c = inspections(server);
    let ins1 = done!(c.plan_inspection(plan(
        &p.park,
        &[&p.tenant],
        proto::InspectionKind::Planned,
        "2025-05-12",
        "2025-05-01T02:00:00Z"
    )))
    .aggregate_id;
    done!(c.issue_inspection_decision(issue(&ins1, "2025-05-02T02:00:00Z")));
    // Issued 2 May, delivered 8 May: 6 days > 5.
    let o = done!(c.deliver_inspection_decision(deliver(&ins1, "2025-05-08T02:00:00Z")));
    assert_eq!(limits(&o), ["inspection_decision_delivered_late"]);
    crate::breaches::assert_registered(server, &o).await;
    done!(c.start_inspection(start(&ins1, "2025-05-09T01:00:00Z")));
    let o = done!(c.extend_inspection(extend(&ins1, 10, "2025-05-14T02:00:00Z")));
    assert_eq!(limits(&o), ["inspection_extension_too_long"]);
    done!(c.record_finding(finding(&ins1, &p.tenant, "F-1", "2025-05-15T02:00:00Z")));
    done!(c.record_finding(finding(&ins1, &p.tenant, "F-2", "2025-05-16T02:00:00Z")));
    let o = done!(c.extend_inspection(extend(&ins1, 3, "2025-05-20T02:00:00Z")));
    assert_eq!(limits(&o), ["second_extension"]);
    let o = done!(c.conclude_inspection(proto::ConcludeInspectionRequest {
        header: header("2025-05-26T09:00:00Z"),
        inspection_id: ins1.clone(),
        conclusion_no: "58/KL-BQL".into(),
        summary: "Two major findings".into(),
        concluded_on: String::new(),
    }));
    // 9 to 26 May: 18 days > 7 + 7.
    assert_eq!(limits(&o), ["inspection_too_long"]);
    done!(c.require_remediation(remediation(
        &ins1,
        "F-1",
        "2025-06-30",
        "2025-05-27T02:00:00Z"
    )));
    done!(c.require_remediation(remediation(
        &ins1,
        "F-2",
        "2025-06-15",
        "2025-05-27T03:00:00Z"
    )));

    // AL2 at P2 on 1 June; AL1 at P1 and I1, the overflow, on 11 June (local).
    let mut m = monitoring(server);
    let al2 = done!(m.receive_exceedance(exceedance(
        &p2,
        "MYPHUOC-CETP-OUT",
        "",
        "2025-06-01T03:00:00Z",
        "2025-06-01T03:05:00Z"
    )))
    .aggregate_id;
    let al1 = done!(m.receive_exceedance(exceedance(
        &p.park,
        "DONGAN-1-CETP-OUT",
        "",
        "2025-06-10T22:55:00Z",
        "2025-06-10T23:00:00Z"
    )))
    .aggregate_id;
    let i1 = overflow_story(server, &p).await;
    // AG1 amended: 4 hours from 15 June.
    done!(
        agreements(server).amend_agreement(proto::AmendAgreementRequest {
            header: header("2025-06-12T02:00:00Z"),
            agreement_id: ag1.clone(),
            amendment_no: "01/2025/SĐ".into(),
            service_levels: Some(levels(4, 7)),
            effective_from: "2025-06-15".into(),
            document_sha256: String::new(),
            reason: "faster notification after the Đồng An overflow".into(),
        })
    );
    // I2 at P2, notified 5 hours after detection: AG1's amended 4 hours are breached (the command
    // names it too).
    let mut inc = incidents(server);
    let i2 = done!(inc.report_incident(incident_at(
        &p2,
        &c2,
        "2025-06-20T01:00:00Z",
        "2025-06-20T01:30:00Z"
    )))
    .aggregate_id;
    let al6 = done!(m.receive_exceedance(exceedance(
        &p2,
        "MYPHUOC-CETP-OUT",
        "",
        "2025-06-20T05:00:00Z",
        "2025-06-20T05:01:00Z"
    )))
    .aggregate_id;
    let o = done!(inc.send_incident_notification(notify(&i2, "2025-06-20T06:00:00Z", &p)));
    assert_eq!(limits(&o), ["incident_notification_late"]);
    crate::breaches::assert_registered(server, &o).await;

    // INS2: the unannounced post-check of T1 after I1, with its grounds.
    let ins2 = post_check_story(server, &p, &i1).await;
    done!(c.verify_remediation(proto::VerifyRemediationRequest {
        header: header("2025-07-03T03:00:00Z"),
        inspection_id: ins1.clone(),
        finding_id: "F-1".into(),
        note: String::new(),
    }));

    // F-2 was never remedied: referred for sanction on 10 July.
    done!(c.refer_for_sanction(proto::ReferForSanctionRequest {
        header: header("2025-07-10T02:00:00Z"),
        inspection_id: ins1.clone(),
        finding_id: "F-2".into(),
        authority_id: p.board.clone(),
        reason: "Discharge continued after the due date".into(),
    }));

    // 28 July: the city's board succeeds the Bình Dương Board and takes both parks.
    merge_and_reassign(server, &p, &boards).await;
    done!(reg.assign_jurisdiction(proto::AssignJurisdictionRequest {
        header: header("2025-07-28T04:10:00Z"),
        park_id: p2.clone(),
        authority_id: boards.city.clone(),
        effective_from: "2025-07-28".into(),
    }));

    let i3 = done!(inc.report_incident(incident_at(
        &p.park,
        &p.company,
        "2025-08-05T02:00:00Z",
        "2025-08-05T02:10:00Z"
    )))
    .aggregate_id;
    // The city's board succeeded the Bình Dương Board on 28 July and takes over its obligations:
    // AG1 (4 hours since 15 June) governs, inherited; 10 hours is late, at command time too.
    let o = done!(inc.send_incident_notification(notify(&i3, "2025-08-05T12:00:00Z", &p)));
    assert_eq!(limits(&o), ["incident_notification_late"]);
    assert!(
        o.breaches[0].detail.contains(&ag1),
        "{:?}",
        o.breaches[0].detail
    );

    // AL3: P1's station stops sending; resolved for a power cut.
    let al3 = done!(m.report_transmission_interrupted(
        proto::ReportTransmissionInterruptedRequest {
            header: header("2025-08-20T05:00:00Z"),
            alert_id: String::new(),
            park_id: p.park.clone(),
            station_id: "DONGAN-1-CETP-OUT".into(),
            last_data_at: None,
            reason: String::new(),
        }
    ))
    .aggregate_id;
    done!(m.resolve_alert(resolve_alert(
        &al3,
        "",
        "Power cut at the station; data back-filled from the logger",
        "2025-08-20T09:00:00Z"
    )));

    // AG2: the city's board with C1, 6 hours, from 1 September; it supersedes AG1.
    let mut sign = signing(&p, "2025-09-01T02:00:00Z");
    sign.authority_id = boards.city.clone();
    sign.version = "2025-HCM".into();
    sign.service_levels = Some(levels(6, 7));
    let ag2 = done!(agreements(server).sign_agreement(sign)).aggregate_id;
    done!(
        agreements(server).supersede_agreement(proto::SupersedeAgreementRequest {
            header: header("2025-09-01T03:00:00Z"),
            agreement_id: ag1.clone(),
            by: ag2.clone(),
            effective_from: "2025-09-01".into(),
        })
    );
    let i4 = done!(inc.report_incident(incident_at(
        &p.park,
        &p.company,
        "2025-09-10T00:00:00Z",
        "2025-09-10T00:20:00Z"
    )))
    .aggregate_id;
    done!(inc.send_incident_notification(notify(&i4, "2025-09-10T07:00:00Z", &p)));
    let i5 = done!(inc.report_incident(incident_at(
        &p.park,
        &p.company,
        "2025-10-01T00:00:00Z",
        "2025-10-01T00:30:00Z"
    )))
    .aggregate_id;

    // INS3: T1 and T2 together, under way from 20 November.
    let ins3 = done!(c.plan_inspection(plan(
        &p.park,
        &[&p.tenant, &t2],
        proto::InspectionKind::Planned,
        "2025-11-20",
        "2025-10-01T02:00:00Z"
    )))
    .aggregate_id;
    let al4 = done!(m.receive_exceedance(exceedance(
        &p.park,
        "DONGAN-1-CETP-OUT",
        "",
        "2025-10-20T02:00:00Z",
        "2025-10-20T02:05:00Z"
    )))
    .aggregate_id;
    done!(m.resolve_alert(resolve_alert(&al4, &ins3, "", "2025-10-21T02:00:00Z")));
    done!(c.issue_inspection_decision(issue(&ins3, "2025-11-03T02:00:00Z")));
    done!(c.deliver_inspection_decision(deliver(&ins3, "2025-11-05T02:00:00Z")));
    done!(c.start_inspection(start(&ins3, "2025-11-20T01:00:00Z")));

    // P2 changes company on 1 December; INS4 of T3 planned for 29 December starts on 5 January.
    done!(
        reg.assign_infrastructure_company(proto::AssignInfrastructureCompanyRequest {
            header: header("2025-11-25T02:00:00Z"),
            park_id: p2.clone(),
            company_id: c3.clone(),
            effective_from: "2025-12-01".into(),
        })
    );
    let ins4 = done!(c.plan_inspection(plan(
        &p2,
        &[&t3],
        proto::InspectionKind::Planned,
        "2025-12-29",
        "2025-12-01T02:00:00Z"
    )))
    .aggregate_id;
    done!(c.issue_inspection_decision(issue(&ins4, "2025-12-02T02:00:00Z")));
    let al5 = done!(m.receive_exceedance(exceedance(
        &p2,
        "MYPHUOC-T3-OUT",
        &t3,
        "2025-12-25T02:00:00Z",
        "2025-12-25T02:05:00Z"
    )))
    .aggregate_id;
    done!(c.deliver_inspection_decision(deliver(&ins4, "2026-01-02T02:00:00Z")));
    done!(c.start_inspection(start(&ins4, "2026-01-05T01:00:00Z")));
    let ins6 = done!(c.plan_inspection(plan(
        &p.park,
        &[&t2],
        proto::InspectionKind::Planned,
        "2026-02-01",
        "2026-01-08T02:00:00Z"
    )))
    .aggregate_id;
    done!(c.issue_inspection_decision(issue(&ins6, "2026-01-10T02:00:00Z")));
    let ins5 = done!(c.plan_inspection(plan(
        &p2,
        &[&t3],
        proto::InspectionKind::PostCheck,
        "2026-03-10",
        "2026-01-15T02:00:00Z"
    )))
    .aggregate_id;
    let last = done!(c.plan_inspection(plan(
        &p.park,
        &[&t2],
        proto::InspectionKind::Unannounced,
        "2026-04-01",
        "2026-03-20T02:00:00Z"
    )));
    World {
        p,
        city: boards.city,
        p2,
        c2,
        c3,
        t2,
        t3,
        ag1,
        ag2,
        ins: [
            ins1,
            ins2,
            ins3,
            ins4,
            ins5,
            ins6,
            last.aggregate_id.clone(),
        ],
        incidents: [i1, i2, i3, i4, i5],
        alerts: [al1, al2, al3, al4, al5, al6],
        last_position: last.last_position,
    }
}

fn record_request(w: &World, tenant: &str, as_of: &str) -> proto::GetTenantInspectionRecordRequest {
    proto::GetTenantInspectionRecordRequest {
        tenant_id: tenant.to_owned(),
        as_of_date: as_of.into(),
        min_position: w.last_position,
        ..Default::default()
    }
}

fn breach_limits(i: &proto::TenantInspection) -> Vec<&str> {
    i.breaches.iter().map(|b| b.limit.as_str()).collect()
}

async fn tenant_record(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let ins = w.ins.each_ref().map(String::as_str);
    let r = q
        .get_tenant_inspection_record(record_request(w, &w.p.tenant, "2025-07-01"))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = r
        .inspections
        .iter()
        .map(|i| i.inspection_id.as_str())
        .collect();
    // T1's inspections by date: INS1 (started 9 May), INS2 (24 June), INS3 (planned for 20 Nov).
    assert_eq!(ids, [ins[0], ins[1], ins[2]]);
    assert_eq!(r.as_of_date, "2025-07-01");
    let ins1 = &r.inspections[0];
    // Issued 2 May, delivered 8 May: 8 - 2 = 6 days, judged against 5.
    assert_eq!(
        (
            ins1.delivery_lag_days,
            ins1.delivery_limit_days,
            ins1.delivery_judged
        ),
        (Some(6), 5, true)
    );
    // 9 to 26 May inclusive: 26 - 9 + 1 = 18 days.
    assert_eq!(ins1.duration_days, Some(18));
    // Extensions 10 + 3 = 13 requested; the first counts for the cap of 7, the second for 0:
    // limit 7 + 7 = 14.
    assert_eq!(
        (
            ins1.extension_count,
            ins1.extension_days_requested,
            ins1.extension_days_counted,
            ins1.base_limit_days,
            ins1.limit_days
        ),
        (2, 13, 7, 7, 14)
    );
    assert_eq!(
        breach_limits(ins1),
        [
            "inspection_extension_too_long",
            "second_extension",
            "inspection_decision_delivered_late",
            "inspection_too_long"
        ]
    );
    // As of 1 July: F-1 (due 30 June, verified 3 July) 1 day overdue; F-2 (due 15 June) 16 days.
    let f: Vec<_> = ins1
        .findings
        .iter()
        .map(|f| (f.finding_id.as_str(), f.status(), f.days_overdue))
        .collect();
    assert_eq!(
        f,
        [
            ("F-1", proto::RemediationStatus::Overdue, 1),
            ("F-2", proto::RemediationStatus::Overdue, 16)
        ]
    );
    assert_eq!(
        (
            ins1.findings[0].remediation_due_on.as_str(),
            ins1.findings[0].verified_on.as_str(),
            ins1.findings[0].verified_late
        ),
        ("2025-06-30", "2025-07-03", true)
    );
    // INS2: unannounced with grounds; delivered 1 day after issuance, not judged; 3 of 7 days.
    let ins2 = &r.inspections[1];
    assert_eq!(ins2.kind(), proto::InspectionKind::Unannounced);
    assert!(ins2.grounds_recorded && !ins2.delivery_judged);
    assert_eq!(
        (ins2.delivery_lag_days, ins2.duration_days, ins2.limit_days),
        (Some(1), Some(3), 7)
    );
    assert!(ins2.breaches.is_empty(), "{:?}", ins2.breaches);
    assert_eq!(ins2.closed_on, "2025-07-28");
    assert_eq!(
        ins2.findings[0].status(),
        proto::RemediationStatus::Required
    );
    // INS3: two tenants, base 30; on 31 December under way 11 + 31 = 42 days.
    let r = q
        .get_tenant_inspection_record(record_request(w, &w.p.tenant, "2025-12-31"))
        .await
        .unwrap()
        .into_inner();
    let ins3 = &r.inspections[2];
    assert_eq!(
        (
            ins3.entity_count,
            ins3.base_limit_days,
            ins3.duration_days,
            ins3.under_way
        ),
        (2, 30, Some(42), true)
    );
    assert_eq!(breach_limits(ins3), ["inspection_overrunning"]);
    // On 3 July F-1 is verified (late) and F-2 is 18 days overdue.
    let r = q
        .get_tenant_inspection_record(record_request(w, &w.p.tenant, "2025-07-03"))
        .await
        .unwrap()
        .into_inner();
    let f: Vec<_> = r.inspections[0]
        .findings
        .iter()
        .map(|f| (f.status(), f.days_overdue))
        .collect();
    assert_eq!(
        f,
        [
            (proto::RemediationStatus::Verified, 0),
            (proto::RemediationStatus::Overdue, 18)
        ]
    );

    // On 15 July F-2 is referred for sanction (on 10 July, to the Board).
    let r = q
        .get_tenant_inspection_record(record_request(w, &w.p.tenant, "2025-07-15"))
        .await
        .unwrap()
        .into_inner();
    let f2 = &r.inspections[0].findings[1];
    assert_eq!(
        (
            f2.status(),
            f2.referred_on.as_str(),
            f2.referred_to_authority_id.as_str()
        ),
        (
            proto::RemediationStatus::Referred,
            "2025-07-10",
            w.p.board.as_str()
        )
    );

    // Two per page, then the last one.
    let mut req = record_request(w, &w.p.tenant, "2025-12-31");
    req.page_size = 2;
    let first = q
        .get_tenant_inspection_record(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.inspections.len(), 2);
    assert!(!first.next_page_token.is_empty());
    req.page_token = first.next_page_token.clone();
    let second = q
        .get_tenant_inspection_record(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second
            .inspections
            .iter()
            .map(|i| i.inspection_id.as_str())
            .collect::<Vec<_>>(),
        [ins[2]]
    );
    assert!(second.next_page_token.is_empty());
    // The token belongs to its query.
    req.kind = proto::InspectionKind::Unannounced as i32;
    let refused = q.get_tenant_inspection_record(req).await.unwrap_err();
    assert_eq!(violated_fields(&refused), ["page_token"]);

    // Unannounced only.
    let mut req = record_request(w, &w.p.tenant, "2025-12-31");
    req.kind = proto::InspectionKind::Unannounced as i32;
    let r = q
        .get_tenant_inspection_record(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.inspections
            .iter()
            .map(|i| i.inspection_id.as_str())
            .collect::<Vec<_>>(),
        [ins[1]]
    );

    // T2 on 20 January 2026: INS6 issued 10 January and not delivered: 10 days > 5.
    let r = q
        .get_tenant_inspection_record(record_request(w, &w.t2, "2026-01-20"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.inspections
            .iter()
            .map(|i| i.inspection_id.as_str())
            .collect::<Vec<_>>(),
        [ins[2], ins[5], ins[6]]
    );
    assert_eq!(
        breach_limits(&r.inspections[1]),
        ["inspection_decision_delivery_overdue"]
    );
    // T3: INS4, planned for 29 December, dated by its start on 5 January; delivered 31 days after
    // its decision of 2 December.
    let r = q
        .get_tenant_inspection_record(record_request(w, &w.t3, "2026-01-11"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            r.inspections[0].inspection_date.as_str(),
            r.inspections[0].delivery_lag_days
        ),
        ("2026-01-05", Some(31))
    );
    assert_eq!(
        breach_limits(&r.inspections[0]),
        ["inspection_decision_delivered_late"]
    );

    // Malformed requests name every field.
    let refused = q
        .get_tenant_inspection_record(proto::GetTenantInspectionRecordRequest {
            tenant_id: "T1".into(),
            from_date: "2025-12-01".into(),
            to_date: "2025-01-01".into(),
            kind: 42,
            as_of_date: "1 July".into(),
            page_size: 5_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let mut fields = violated_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        ["as_of_date", "kind", "page_size", "tenant_id", "to_date"]
    );
}

async fn repeated_inspections(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let ask = |from_year, to_year| proto::ListRepeatedInspectionsRequest {
        from_year,
        to_year,
        min_position: w.last_position,
        ..Default::default()
    };
    // 2025: T1 had INS1, INS2 and INS3; T2 one; T3's INS4 started in 2026.
    let r = q
        .list_repeated_inspections(ask(2025, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.entities.len(), 1);
    let t1 = &r.entities[0];
    assert_eq!(
        (
            t1.tenant_id.as_str(),
            t1.park_id.as_str(),
            t1.year,
            t1.inspection_count
        ),
        (w.p.tenant.as_str(), w.p.park.as_str(), 2025, 3)
    );
    // Its one unannounced inspection (INS2) recorded grounds.
    assert_eq!(
        (t1.unannounced_count, t1.unannounced_without_grounds),
        (1, 0)
    );
    let grounds: Vec<_> = t1
        .inspections
        .iter()
        .map(|o| (o.inspection_id.as_str(), o.grounds_recorded))
        .collect();
    assert_eq!(
        grounds,
        [
            (w.ins[0].as_str(), false),
            (w.ins[1].as_str(), true),
            (w.ins[2].as_str(), false)
        ]
    );
    // 2026: T2 (INS6, and INS7, unannounced, not yet decided: no grounds) and T3 (INS4, INS5).
    let r = q
        .list_repeated_inspections(ask(2026, 2026))
        .await
        .unwrap()
        .into_inner();
    let mut expected = vec![(w.t2.clone(), 2, 1, 1), (w.t3.clone(), 2, 0, 0)];
    expected.sort();
    let got: Vec<_> = r
        .entities
        .iter()
        .map(|e| {
            (
                e.tenant_id.clone(),
                e.inspection_count,
                e.unannounced_count,
                e.unannounced_without_grounds,
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Counting planned inspections only: T1 had two in 2025.
    let mut req = ask(2025, 2025);
    req.kind = proto::InspectionKind::Planned as i32;
    let r = q.list_repeated_inspections(req).await.unwrap().into_inner();
    assert_eq!(
        r.entities
            .iter()
            .map(|e| (e.tenant_id.as_str(), e.inspection_count))
            .collect::<Vec<_>>(),
        [(w.p.tenant.as_str(), 2)]
    );
    // C3 runs P2 from 1 December 2025: T3 in 2026; C2 ran it only until then.
    let mut req = ask(2026, 2026);
    req.company_id = w.c3.clone();
    let r = q
        .list_repeated_inspections(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.entities
            .iter()
            .map(|e| e.tenant_id.as_str())
            .collect::<Vec<_>>(),
        [w.t3.as_str()]
    );
    req.company_id = w.c2.clone();
    assert!(
        q.list_repeated_inspections(req)
            .await
            .unwrap()
            .into_inner()
            .entities
            .is_empty()
    );
    let mut req = ask(2025, 2026);
    req.park_id = w.p2.clone();
    let r = q.list_repeated_inspections(req).await.unwrap().into_inner();
    assert_eq!(
        r.entities
            .iter()
            .map(|e| (e.tenant_id.as_str(), e.year))
            .collect::<Vec<_>>(),
        [(w.t3.as_str(), 2026)]
    );
    // One per page over both years: three entities, three pages.
    let mut req = ask(2025, 2026);
    req.page_size = 1;
    let mut seen = Vec::new();
    loop {
        let r = q
            .list_repeated_inspections(req.clone())
            .await
            .unwrap()
            .into_inner();
        seen.extend(r.entities.iter().map(|e| e.year));
        if r.next_page_token.is_empty() {
            break;
        }
        req.page_token = r.next_page_token;
    }
    assert_eq!(seen, [2025, 2026, 2026]);
    let refused = q.list_repeated_inspections(ask(0, 2024)).await.unwrap_err();
    assert_eq!(violated_fields(&refused), ["from_year"]);
}

async fn incident_timelines(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let ask = |i: usize, as_of: &str| proto::GetIncidentTimelineRequest {
        incident_id: w.incidents[i].clone(),
        as_of_time: Some(ts(as_of)),
        min_position: w.last_position,
    };
    let t = q
        .get_incident_timeline(ask(0, "2025-07-01T00:00:00Z"))
        .await
        .unwrap()
        .into_inner();
    // Detected 23:30Z on 10 June: report 00:10 (2,400 s), classification 01:00 (5,400 s; 3,000 s
    // after the report), first notification 01:30 (7,200; 1,800), containment 04:00 (16,200;
    // 9,000), resolution 12 June 08:00 (117,000; 100,800), review 20 June 08:00 (808,200; 691,200).
    use proto::IncidentMilestoneKind as K;
    let got: Vec<_> = t
        .milestones
        .iter()
        .map(|m| {
            (
                m.kind(),
                m.seconds_since_detection,
                m.seconds_since_previous,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (K::Detection, 0, 0),
            (K::Report, 2_400, 2_400),
            (K::Classification, 5_400, 3_000),
            (K::FirstNotification, 7_200, 1_800),
            (K::Containment, 16_200, 9_000),
            (K::Resolution, 117_000, 100_800),
            (K::Review, 808_200, 691_200),
        ]
    );
    assert_eq!(
        (t.level(), t.notification_count, t.response_action_count),
        (proto::IncidentLevel::Facility, 1, 1)
    );
    // On 11 June (local) P1 was the Bình Dương Board's and C1's, under AG1's 2 hours: 2 h, on time.
    let n = t.notification.unwrap();
    assert_eq!(
        (
            n.detected_on.as_str(),
            n.authority_id.as_str(),
            n.company_id.as_str()
        ),
        ("2025-06-11", w.p.board.as_str(), w.p.company.as_str())
    );
    assert_eq!(
        (n.source(), n.agreement_id.as_str(), n.allowed_hours),
        (proto::ServiceLevelSource::Agreement, w.ag1.as_str(), 2)
    );
    assert_eq!((n.lag_seconds, n.late), (Some(7_200), false));
    // I2 at P2 on 20 June: AG1's amendment allows 4 hours from 15 June; 5 h = 18,000 s: late.
    let n = q
        .get_incident_timeline(ask(1, "2025-07-01T00:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .notification
        .unwrap();
    assert_eq!(
        (n.allowed_hours, n.lag_seconds, n.late),
        (4, Some(18_000), true)
    );
    // I3 at P1 on 5 August: the city's board has had P1 since 28 July; it succeeded the Bình Dương
    // Board that day and inherits AG1 (4 hours since 15 June) until AG2 supersedes it on 1 September.
    // 12:00 - 02:00 = 10 h = 36,000 s > 4 h: late; due by 06:00Z.
    let n = q
        .get_incident_timeline(ask(2, "2025-09-01T00:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .notification
        .unwrap();
    assert_eq!(
        (
            n.authority_id.as_str(),
            n.source(),
            n.agreement_id.as_str(),
            n.agreement_inherited,
            n.allowed_hours
        ),
        (
            w.city.as_str(),
            proto::ServiceLevelSource::Agreement,
            w.ag1.as_str(),
            true,
            4
        )
    );
    assert_eq!((n.lag_seconds, n.late), (Some(36_000), true));
    assert_eq!(n.deadline, Some(ts("2025-08-05T06:00:00Z")));
    // I4 on 10 September under AG2's 6 hours: 7 h = 25,200 s: late.
    let n = q
        .get_incident_timeline(ask(3, "2025-10-01T00:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .notification
        .unwrap();
    assert_eq!(
        (
            n.agreement_id.as_str(),
            n.agreement_version.as_str(),
            n.allowed_hours
        ),
        (w.ag2.as_str(), "2025-HCM", 6)
    );
    assert_eq!((n.lag_seconds, n.late), (Some(25_200), true));
    // I5, never notified: 6 hours after 00:00Z it is overdue, at 05:00Z not yet.
    let n = q
        .get_incident_timeline(ask(4, "2025-10-01T07:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .notification
        .unwrap();
    assert_eq!((n.notified, n.overdue, n.lag_seconds), (false, true, None));
    assert_eq!(n.deadline, Some(ts("2025-10-01T06:00:00Z")));
    let n = q
        .get_incident_timeline(ask(4, "2025-10-01T05:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .notification
        .unwrap();
    assert!(!n.overdue);

    // An incident the ledger does not know.
    let missing = q
        .get_incident_timeline(proto::GetIncidentTimelineRequest {
            incident_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

async fn unfollowed_alerts(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let ask = |n: u32, as_of: &str| proto::ListUnfollowedAlertsRequest {
        within_days: Some(n),
        as_of_date: as_of.into(),
        min_position: w.last_position,
        ..Default::default()
    };
    let ids = |r: proto::ListUnfollowedAlertsResponse| {
        r.alerts.into_iter().map(|a| a.alert_id).collect::<Vec<_>>()
    };
    let [al1, al2, al3, al4, al5, al6] = w.alerts.each_ref().map(String::as_str);
    // A follow-up concerns the alert's tenant, or, for an alert with no tenant (the park's own
    // station), names no tenant. N = 7 on 2 January 2026: AL4 resolved by naming INS3; AL2 (1 June,
    // P2's plant): I2 only 19 days later; AL1 (11 June, P1's plant): I1 was reported the same day
    // but names tenant T1, not the station, so it no longer counts; AL6 (20 June 05:00Z, P2): I2
    // reported that day but before it; AL3 (20 August, P1, power cut): I4 21 days later; AL5
    // (25 December, T3 at P2): its 7 days ended on 1 January and INS5 (of T3) comes on 15 January.
    let r = q
        .list_unfollowed_alerts(ask(7, "2026-01-02"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.within_days, r.as_of_date.as_str()), (7, "2026-01-02"));
    let al = &r.alerts[3];
    assert_eq!(
        (al.kind(), al.resolved, al.resolution_reason.as_str()),
        (
            proto::MonitoringAlertKind::TransmissionInterrupted,
            true,
            "Power cut at the station; data back-filled from the logger"
        )
    );
    let al = &r.alerts[4];
    assert_eq!(
        (
            al.raised_on.as_str(),
            al.window_ends_on.as_str(),
            al.tenant_id.as_str()
        ),
        ("2025-12-25", "2026-01-01", w.t3.as_str())
    );
    assert_eq!(ids(r), [al2, al1, al6, al3, al5]);
    assert!(
        !ids(q
            .list_unfollowed_alerts(ask(7, "2026-01-02"))
            .await
            .unwrap()
            .into_inner())
        .iter()
        .any(|a| a == al4)
    );
    // On 1 January AL5's window is still open.
    assert_eq!(
        ids(q
            .list_unfollowed_alerts(ask(7, "2026-01-01"))
            .await
            .unwrap()
            .into_inner()),
        [al2, al1, al6, al3]
    );
    // N = 30 on 1 February: I2 follows AL2 (19 days), I4 AL3 (21), INS5 AL5 (21); AL1's first
    // no-tenant follow-up is I3 (5 August, 55 days); AL6 has none.
    assert_eq!(
        ids(q
            .list_unfollowed_alerts(ask(30, "2026-02-01"))
            .await
            .unwrap()
            .into_inner()),
        [al1, al6]
    );
    // N = 200 on 1 February: I3 follows AL1; INS4 (T3's, 1 December, in P2 and in AL6's window)
    // does not follow AL6, which has no tenant.
    assert_eq!(
        ids(q
            .list_unfollowed_alerts(ask(200, "2026-02-01"))
            .await
            .unwrap()
            .into_inner()),
        [al6]
    );
    // By company on the alert's date: C2 ran P2 in June, C3 in December.
    let mut req = ask(7, "2026-01-02");
    req.company_id = w.c2.clone();
    assert_eq!(
        ids(q
            .list_unfollowed_alerts(req.clone())
            .await
            .unwrap()
            .into_inner()),
        [al2, al6]
    );
    req.company_id = w.c3.clone();
    assert_eq!(
        ids(q.list_unfollowed_alerts(req).await.unwrap().into_inner()),
        [al5]
    );
    let mut req = ask(7, "2026-01-02");
    req.kind = proto::MonitoringAlertKind::TransmissionInterrupted as i32;
    assert_eq!(
        ids(q.list_unfollowed_alerts(req).await.unwrap().into_inner()),
        [al3]
    );
    let mut req = ask(7, "2026-01-02");
    req.park_id = w.p.park.clone();
    req.from_date = "2025-06-15".into();
    req.to_date = "2025-08-31".into();
    assert_eq!(
        ids(q.list_unfollowed_alerts(req).await.unwrap().into_inner()),
        [al3]
    );
    // Two per page, of AL2, AL1, AL6, AL3, AL5.
    let mut req = ask(7, "2026-01-02");
    req.page_size = 2;
    let mut pages = Vec::new();
    loop {
        let page = q
            .list_unfollowed_alerts(req.clone())
            .await
            .unwrap()
            .into_inner();
        req.page_token = page.next_page_token.clone();
        pages.push(ids(page));
        if req.page_token.is_empty() {
            break;
        }
    }
    assert_eq!(
        pages,
        [vec![al2, al1], vec![al6, al3], vec![al5]]
            .map(|p| p.into_iter().map(str::to_owned).collect::<Vec<_>>())
    );
    // N is required.
    let refused = q
        .list_unfollowed_alerts(proto::ListUnfollowedAlertsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), ["within_days"]);
}

async fn the_four_questions(server: &TestServer) {
    let w = build(server).await;
    tenant_record(server, &w).await;
    repeated_inspections(server, &w).await;
    incident_timelines(server, &w).await;
    unfollowed_alerts(server, &w).await;
}

#[tokio::test]
async fn inspections_incidents_and_alerts_answer_the_audit_questions_on_sqlite() {
    let server = TestServer::start().await;
    the_four_questions(&server).await;
}

#[tokio::test]
async fn inspections_incidents_and_alerts_answer_the_audit_questions_on_postgres() {
    let Some(server) = TestServer::start_postgres("audit inspections, incidents and alerts").await
    else {
        return;
    };
    the_four_questions(&server).await;
}

#[tokio::test]
async fn a_fresh_command_is_read_back_at_once_with_min_position() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let o = done!(incidents(&server).report_incident(overflow(&p)));
    let t = queries(&server)
        .get_incident_timeline(proto::GetIncidentTimelineRequest {
            incident_id: o.aggregate_id.clone(),
            as_of_time: Some(ts("2025-06-11T00:10:00Z")),
            min_position: o.last_position,
        })
        .await
        .unwrap()
        .into_inner();
    // Detected 23:30Z, reported 00:10Z: 40 minutes; no agreement and no Board policy: not judged.
    assert_eq!(
        t.milestones
            .iter()
            .map(|m| m.seconds_since_detection)
            .collect::<Vec<_>>(),
        [0, 2_400]
    );
    let n = t.notification.unwrap();
    assert_eq!(
        (n.source(), n.allowed_hours, n.overdue),
        (proto::ServiceLevelSource::NotJudged, 0, false)
    );
}
