//! The `inspections`, `incidents` and `alerts` read models on both backends, fed by the engine from a
//! real log of two parks in 2025-2026 (an authority succession in July 2025, a coordination agreement
//! amended and superseded, inspections with a late delivery, an overlong and a second extension,
//! repeated inspections of one tenant, incidents notified on time and late, alerts followed and not),
//! and checked against answers computed by hand in the comments.
//!
//! The events are built from the domain's own event structs and appended to the log by the test kit,
//! so their payloads are the bytes the server stores; some are recorded out of business order (a
//! response action before its incident's report, a jurisdiction recorded after the incident it
//! governs). The one payload no server writes today, an agreement of schema version 1, is the
//! version-2 struct's JSON without the field version 2 added.
//!
//! PostgreSQL needs `KCN_TEST_DATABASE_URL` (a server URL whose user may create databases, for
//! example `postgres://postgres@127.0.0.1:5432/postgres`); without it the PostgreSQL tests fail,
//! unless `KCN_TEST_SKIP_POSTGRES=1`, which skips them with a printed note.

mod common;

use chrono::{DateTime, NaiveDate, Utc};
use kcn_domain::agreement::{
    AgreementAmended, AgreementEvent, AgreementSigned, AgreementSuperseded, ServiceLevels,
};
use kcn_domain::authority::{
    AuthorityEstablished, AuthorityEvent, AuthorityKind, AuthoritySucceeded,
};
use kcn_domain::incident::{
    IncidentClassified, IncidentContained, IncidentEvent, IncidentKind, IncidentLevel,
    IncidentNotificationSent, IncidentReported, IncidentResolved, IncidentReviewed,
    NotificationChannel, ResponseActionTaken,
};
use kcn_domain::information_exchange::{OrganisationKind, OrganisationRef};
use kcn_domain::inspection::{
    FindingRecorded, FindingSeverity, InspectionConcluded, InspectionConductor,
    InspectionDecisionDelivered, InspectionDecisionIssued, InspectionEvent, InspectionExtended,
    InspectionKind, InspectionPlanned, InspectionStarted, ReferredForSanction, RemediationRequired,
    RemediationVerified,
};
use kcn_domain::monitoring::{
    AlertResolved, ExceedanceReceived, MonitoringEvent, MonitoringParameter,
    TransmissionInterrupted,
};
use kcn_domain::park::{InfrastructureCompanyAssigned, JurisdictionAssigned, ParkEvent};
use kcn_domain::values::{Decimal, Sha256Hex, Text};
use kcn_domain::{AggregateKind, EventBody as _, LegalRules};
use kcn_projections::models::alerts::{self, UnfollowedQuery};
use kcn_projections::models::incidents::{self, HoursSource, MilestoneKind};
use kcn_projections::models::inspections::{
    RemediationStatus, RepeatedQuery, TenantInspection, TenantRecordQuery,
};
use kcn_projections::{Engine, ReadSide, models};
use kcn_testkit::{Fixtures, TestDatabase};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Identities: readable UUIDs, ordered as their numbers.
// ---------------------------------------------------------------------------------------------

fn uid(n: u64) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0000 | u128::from(n))
}

/// The id as the read models answer it: `00000000-0000-7000-8000-000000000a01`.
fn id(n: u64) -> String {
    uid(n).to_string()
}

const A1: u64 = 0xa01; // Ban quản lý các KCN Bình Dương, succeeded on 2025-07-28
const A2: u64 = 0xa02; // the city's Export-Processing and Industrial Zones Board, its successor
const C1: u64 = 0xc01; // runs P1
const C2: u64 = 0xc02; // runs P2 until 2025-11-30
const C3: u64 = 0xc03; // runs P2 from 2025-12-01
const P1: u64 = 0xb01; // KCN Đồng An
const P2: u64 = 0xb02; // KCN Mỹ Phước
const T1: u64 = 0xd01; // in P1
const T2: u64 = 0xd02; // in P1
const T3: u64 = 0xd03; // in P2
const INS1: u64 = 0xe01;
const INS2: u64 = 0xe02;
const INS3: u64 = 0xe03;
const INS4: u64 = 0xe04;
const INS5: u64 = 0xe05;
const INS6: u64 = 0xe06;
const INS7: u64 = 0xe07;
const I1: u64 = 0xf01;
const I2: u64 = 0xf02;
const I3: u64 = 0xf03;
const I4: u64 = 0xf04;
const I5: u64 = 0xf05;
const AL1: u64 = 0x1a01;
const AL2: u64 = 0x1a02;
const AL3: u64 = 0x1a03;
const AL4: u64 = 0x1a04;
const AL5: u64 = 0x1a05;
const AL6: u64 = 0x1a06;
const AG1: u64 = 0x1b01;
const AG2: u64 = 0x1b02;

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn text(s: &str) -> Text {
    Text::body(s).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The events, built from the domain's structs.
// ---------------------------------------------------------------------------------------------

fn jurisdiction(authority: u64, from: &str) -> ParkEvent {
    JurisdictionAssigned {
        authority_id: uid(authority),
        effective_from: date(from),
    }
    .into()
}

fn company(company: u64, from: &str) -> ParkEvent {
    InfrastructureCompanyAssigned {
        company_id: uid(company),
        effective_from: date(from),
    }
    .into()
}

fn levels(hours: u32) -> ServiceLevels {
    ServiceLevels {
        incident_notification_hours: hours,
        information_answer_days: 7,
        infrastructure_information_days: None,
        consultation_answer_days: None,
        quarterly_report_due_day: None,
    }
}

fn planned(
    park: u64,
    tenants: &[u64],
    kind: InspectionKind,
    planned_for: &str,
) -> InspectionPlanned {
    InspectionPlanned {
        park_id: uid(park),
        tenant_ids: tenants.iter().map(|t| uid(*t)).collect(),
        conducted_by: InspectionConductor::Joint,
        kind,
        planned_for: date(planned_for),
        scope: text("Wastewater connection to the central plant; stormwater drains"),
        incident_id: None,
    }
}

fn issued(on: &str, grounds: Option<&str>) -> InspectionEvent {
    InspectionDecisionIssued {
        decision_no: text("112/QĐ-BQL"),
        issued_on: date(on),
        grounds: grounds.map(text),
    }
    .into()
}

fn delivered(on: &str) -> InspectionEvent {
    InspectionDecisionDelivered {
        tenant_ids: vec![],
        delivered_on: date(on),
        recipient: None,
    }
    .into()
}

fn started(on: &str) -> InspectionEvent {
    InspectionStarted {
        started_on: date(on),
    }
    .into()
}

fn extended(days: u32, reason: &str, decision_no: Option<&str>) -> InspectionEvent {
    InspectionExtended {
        days,
        reason: text(reason),
        decision_no: decision_no.map(text),
    }
    .into()
}

fn finding(finding_id: &str, tenant: u64) -> InspectionEvent {
    FindingRecorded {
        finding_id: text(finding_id),
        tenant_id: uid(tenant),
        requirement: text("Connect all process wastewater to the park's central treatment plant"),
        severity: FindingSeverity::Major,
        description: text(
            "Process water discharged through a secondary pipe into the stormwater drain",
        ),
        commitment_id: None,
    }
    .into()
}

fn concluded(no: &str, summary: &str, on: &str) -> InspectionEvent {
    InspectionConcluded {
        conclusion_no: text(no),
        summary: text(summary),
        concluded_on: date(on),
    }
    .into()
}

fn remediation(finding_id: &str, due: &str) -> InspectionEvent {
    RemediationRequired {
        finding_id: text(finding_id),
        due_on: date(due),
        action: text("Remove the bypass pipe"),
    }
    .into()
}

fn verified(finding_id: &str) -> InspectionEvent {
    RemediationVerified {
        finding_id: text(finding_id),
        note: None,
    }
    .into()
}

fn reported(park: u64, tenant: Option<u64>, detected_at: &str, by: u64) -> IncidentEvent {
    IncidentReported {
        park_id: uid(park),
        tenant_id: tenant.map(uid),
        kind: IncidentKind::Overflow,
        detected_at: at(detected_at),
        location: text("Stormwater drains, roads 5 and 6"),
        description: text("Brown-black, oily wastewater in the stormwater drains on a dry day"),
        reported_by: OrganisationRef {
            kind: OrganisationKind::InfrastructureCompany,
            id: uid(by),
        },
    }
    .into()
}

fn notified(sent_at: &str) -> IncidentEvent {
    IncidentNotificationSent {
        sender: None,
        recipient_authority_id: None,
        recipient: Some(text("Phòng Quản lý môi trường")),
        channel: NotificationChannel::Phone,
        sent_at: at(sent_at),
        message: None,
    }
    .into()
}

fn exceedance(park: u64, station: &str, tenant: Option<u64>, measured_at: &str) -> MonitoringEvent {
    ExceedanceReceived {
        park_id: uid(park),
        station_id: text(station),
        tenant_id: tenant.map(uid),
        parameter: MonitoringParameter::Cod,
        value: Decimal::parse("182.5", 4).unwrap(),
        unit: text("mg/L"),
        limit: Decimal::parse("150", 4).unwrap(),
        standard_ref: text("QCVN 40:2011/BTNMT, column B"),
        measured_at: at(measured_at),
    }
    .into()
}

/// Adds `signed` as a server before schema version 2 stored it: the current struct's JSON without
/// `effective_from`, which version 2 added (the upcaster reads it as `signed_on`).
fn signed_at_schema_version_1(
    log: &mut Fixtures,
    agreement: u64,
    at: DateTime<Utc>,
    signed: AgreementSigned,
) {
    let mut v1 = serde_json::to_value(&signed).unwrap();
    v1.as_object_mut().unwrap().remove("effective_from");
    log.raw_payload(
        AggregateKind::CoordinationAgreement,
        uid(agreement),
        AgreementEvent::from(signed).event_type(),
        1,
        at,
        serde_json::to_vec(&v1).unwrap(),
    );
}

/// The story, in log order. Dates in comments are local (UTC+7) where they matter.
fn story() -> Fixtures {
    let mut log = Fixtures::new();
    // A1 and A2: the read side's registry knows both, so A1's succession (28 July) is visible.
    for (a, name, kind) in [
        (
            A1,
            "Ban quản lý các KCN Bình Dương",
            AuthorityKind::IndustrialParksBoard,
        ),
        (
            A2,
            "Ban quản lý các KCX và CN Thành phố Hồ Chí Minh",
            AuthorityKind::ExportProcessingAndIndustrialZonesBoard,
        ),
    ] {
        log.event(
            uid(a),
            at("2025-04-01T01:00:00Z"),
            AuthorityEvent::from(AuthorityEstablished {
                name: text(name),
                kind,
                jurisdiction: text("tỉnh"),
                decision_no: text("QĐ/1996"),
                effective_from: date("1996-01-01"),
            }),
        );
    }
    log.event(
        uid(P1),
        at("2025-04-01T02:30:00Z"),
        jurisdiction(A1, "2006-01-01"),
    )
    .event(
        uid(P1),
        at("2025-04-01T02:40:00Z"),
        company(C1, "1996-11-14"),
    )
    .event(
        uid(P2),
        at("2025-04-01T02:50:00Z"),
        jurisdiction(A1, "2006-01-01"),
    )
    .event(
        uid(P2),
        at("2025-04-01T03:00:00Z"),
        company(C2, "2010-01-01"),
    );
    // AG1, stored at schema version 1 (no effective_from): it takes effect on signing, 2025-04-11.
    signed_at_schema_version_1(
        &mut log,
        AG1,
        at("2025-04-11T02:00:00Z"),
        AgreementSigned {
            authority_id: uid(A1),
            company_ids: vec![uid(C1), uid(C2)],
            version: text("2025"),
            title: text("Quy chế phối hợp bảo vệ môi trường tại các khu công nghiệp"),
            document_no: None,
            signed_on: date("2025-04-11"),
            effective_from: date("2025-04-11"),
            document_sha256: Sha256Hex::parse(&"1f".repeat(32)).unwrap(),
            service_levels: levels(2),
        },
    );

    // INS1: T1, planned; decision issued 2 May, delivered 8 May, started 9 May; extended by 10 then
    // by 3 days; two findings; concluded 26 May.
    let ins1 = uid(INS1);
    log.event(
        ins1,
        at("2025-05-01T02:00:00Z"),
        InspectionEvent::from(planned(P1, &[T1], InspectionKind::Planned, "2025-05-12")),
    )
    .event(ins1, at("2025-05-02T02:00:00Z"), issued("2025-05-02", None))
    .event(ins1, at("2025-05-08T02:00:00Z"), delivered("2025-05-08"))
    .event(ins1, at("2025-05-09T01:00:00Z"), started("2025-05-09"))
    .event(
        ins1,
        at("2025-05-14T02:00:00Z"),
        extended(10, "Laboratory results pending", Some("118/QĐ-BQL")),
    )
    .event(ins1, at("2025-05-15T02:00:00Z"), finding("F-1", T1))
    .event(ins1, at("2025-05-16T02:00:00Z"), finding("F-2", T1))
    .event(
        ins1,
        at("2025-05-20T02:00:00Z"),
        extended(3, "Second round of sampling", None),
    )
    .event(
        ins1,
        at("2025-05-26T09:00:00Z"),
        concluded("58/KL-BQL", "Two major findings", "2025-05-26"),
    )
    .event(
        ins1,
        at("2025-05-27T02:00:00Z"),
        remediation("F-1", "2025-06-30"),
    )
    .event(
        ins1,
        at("2025-05-27T03:00:00Z"),
        remediation("F-2", "2025-06-15"),
    );

    // AL2: an exceedance at P2's plant on 1 June.
    log.event(
        uid(AL2),
        at("2025-06-01T03:05:00Z"),
        exceedance(P2, "MYPHUOC-CETP-OUT", None, "2025-06-01T03:00:00Z"),
    );
    // AL1 at P1 (measured 05:55 local on 11 June), then I1, the overflow it led to; its first response
    // action (23:45) is recorded after its report (00:10), out of business order.
    log.event(
        uid(AL1),
        at("2025-06-10T23:00:00Z"),
        exceedance(P1, "DONGAN-1-CETP-OUT", None, "2025-06-10T22:55:00Z"),
    );
    let i1 = uid(I1);
    log.event(
        i1,
        at("2025-06-11T00:10:00Z"),
        reported(P1, Some(T1), "2025-06-10T23:30:00Z", C1),
    )
    .event(
        i1,
        at("2025-06-10T23:45:00Z"),
        IncidentEvent::from(ResponseActionTaken {
            action: text("Closed the outfall valve"),
            by: text("CETP operator"),
        }),
    )
    .event(
        i1,
        at("2025-06-11T01:00:00Z"),
        IncidentEvent::from(IncidentClassified {
            level: IncidentLevel::Facility,
            scheme_version: text("LBVMT-2020"),
            rationale: None,
        }),
    )
    .event(
        i1,
        at("2025-06-11T01:30:00Z"),
        notified("2025-06-11T01:30:00Z"),
    )
    .event(
        i1,
        at("2025-06-11T04:00:00Z"),
        IncidentEvent::from(IncidentContained {
            note: Some(text("Bypass plugged")),
        }),
    )
    .event(
        i1,
        at("2025-06-12T08:00:00Z"),
        IncidentEvent::from(IncidentResolved {
            summary: text("Drains flushed and sampled"),
        }),
    );
    // AG1 amended: 4 hours to notify from 15 June.
    log.event(
        uid(AG1),
        at("2025-06-12T02:00:00Z"),
        AgreementEvent::from(AgreementAmended {
            amendment_no: Some(text("01/2025/SĐ")),
            service_levels: levels(4),
            effective_from: date("2025-06-15"),
            document_sha256: None,
            reason: None,
        }),
    );
    log.event(
        i1,
        at("2025-06-20T08:00:00Z"),
        IncidentEvent::from(IncidentReviewed {
            lessons: text("Walk the drains weekly"),
        }),
    );
    // I2 at P2 (no tenant), then AL6 at P2 the same day, after the report.
    log.event(
        uid(I2),
        at("2025-06-20T01:30:00Z"),
        reported(P2, None, "2025-06-20T01:00:00Z", C2),
    )
    .event(
        uid(AL6),
        at("2025-06-20T05:01:00Z"),
        exceedance(P2, "MYPHUOC-CETP-OUT", None, "2025-06-20T05:00:00Z"),
    )
    .event(
        uid(I2),
        at("2025-06-20T06:00:00Z"),
        notified("2025-06-20T06:00:00Z"),
    );

    // INS2: T1, unannounced, with grounds; within every limit.
    let ins2 = uid(INS2);
    log.event(
        ins2,
        at("2025-06-21T01:00:00Z"),
        InspectionEvent::from(InspectionPlanned {
            incident_id: Some(uid(I1)),
            ..planned(P1, &[T1], InspectionKind::Unannounced, "2025-06-24")
        }),
    )
    .event(
        ins2,
        at("2025-06-23T02:00:00Z"),
        issued(
            "2025-06-23",
            Some("Overflow of 11 June 2025 traced to the tenant's process area"),
        ),
    )
    .event(ins2, at("2025-06-24T01:30:00Z"), started("2025-06-24"))
    .event(ins2, at("2025-06-24T01:35:00Z"), delivered("2025-06-24"))
    .event(ins2, at("2025-06-24T04:00:00Z"), finding("F-1", T1))
    .event(
        ins2,
        at("2025-06-26T09:00:00Z"),
        concluded("71/KL-BQL", "One major finding", "2025-06-26"),
    )
    .event(
        ins2,
        at("2025-06-26T09:30:00Z"),
        remediation("F-1", "2025-07-31"),
    )
    .event(ins1, at("2025-07-03T03:00:00Z"), verified("F-1"));
    // INS1's F-2 was never remedied: referred for sanction on 10 July.
    log.event(
        ins1,
        at("2025-07-10T02:00:00Z"),
        InspectionEvent::from(ReferredForSanction {
            finding_id: text("F-2"),
            authority_id: uid(A1),
            reason: text("Discharge continued after the due date"),
        }),
    )
    .event(ins2, at("2025-07-25T03:00:00Z"), verified("F-1"));

    // 28 July: A2 succeeds A1.
    log.event(
        uid(A1),
        at("2025-07-28T03:00:00Z"),
        AuthorityEvent::from(AuthoritySucceeded {
            predecessors: vec![uid(A1)],
            successor: uid(A2),
            effective_date: date("2025-07-28"),
            legal_basis: text("Quyết định hợp nhất các Ban quản lý"),
        }),
    );
    // I3 at P1 on 5 August; the parks' new jurisdiction (from 28 July) is recorded only afterwards.
    log.event(
        uid(I3),
        at("2025-08-05T02:10:00Z"),
        reported(P1, None, "2025-08-05T02:00:00Z", C1),
    )
    .event(
        uid(I3),
        at("2025-08-05T12:00:00Z"),
        notified("2025-08-05T12:00:00Z"),
    )
    .event(
        uid(P1),
        at("2025-08-06T03:00:00Z"),
        jurisdiction(A2, "2025-07-28"),
    )
    .event(
        uid(P2),
        at("2025-08-06T03:10:00Z"),
        jurisdiction(A2, "2025-07-28"),
    );

    // AL3: P1's station stops sending; resolved for a power cut, with no inspection or incident.
    log.event(
        uid(AL3),
        at("2025-08-20T05:00:00Z"),
        MonitoringEvent::from(TransmissionInterrupted {
            park_id: uid(P1),
            station_id: text("DONGAN-1-CETP-OUT"),
            last_data_at: None,
            reason: None,
        }),
    )
    .event(
        uid(AL3),
        at("2025-08-20T09:00:00Z"),
        MonitoringEvent::from(AlertResolved {
            inspection_id: None,
            incident_id: None,
            reason: Some(text(
                "Power cut at the station; data back-filled from the logger",
            )),
        }),
    );

    // AG2: the city's regulation with C1, 6 hours, from 1 September; it supersedes AG1.
    log.event(
        uid(AG2),
        at("2025-09-01T02:00:00Z"),
        AgreementEvent::from(AgreementSigned {
            authority_id: uid(A2),
            company_ids: vec![uid(C1)],
            version: text("2025-HCM"),
            title: text("Quy chế phối hợp của Ban quản lý các KCX-KCN Thành phố"),
            document_no: None,
            signed_on: date("2025-09-01"),
            effective_from: date("2025-09-01"),
            document_sha256: Sha256Hex::parse(&"2e".repeat(32)).unwrap(),
            service_levels: levels(6),
        }),
    )
    .event(
        uid(AG1),
        at("2025-09-01T03:00:00Z"),
        AgreementEvent::from(AgreementSuperseded {
            by: uid(AG2),
            effective_from: date("2025-09-01"),
        }),
    )
    .event(
        uid(I4),
        at("2025-09-10T00:20:00Z"),
        reported(P1, None, "2025-09-10T00:00:00Z", C1),
    )
    .event(
        uid(I4),
        at("2025-09-10T07:00:00Z"),
        notified("2025-09-10T07:00:00Z"),
    )
    .event(
        uid(I5),
        at("2025-10-01T00:30:00Z"),
        reported(P1, None, "2025-10-01T00:00:00Z", C1),
    );

    // INS3: T1 and T2 together, started 20 November, still under way at the end of the year.
    let ins3 = uid(INS3);
    log.event(
        ins3,
        at("2025-10-01T02:00:00Z"),
        InspectionEvent::from(planned(
            P1,
            &[T1, T2],
            InspectionKind::Planned,
            "2025-11-20",
        )),
    );
    // AL4 at P1, resolved by naming INS3 (planned before it).
    log.event(
        uid(AL4),
        at("2025-10-20T02:05:00Z"),
        exceedance(P1, "DONGAN-1-CETP-OUT", None, "2025-10-20T02:00:00Z"),
    )
    .event(
        uid(AL4),
        at("2025-10-21T02:00:00Z"),
        MonitoringEvent::from(AlertResolved {
            inspection_id: Some(ins3),
            incident_id: None,
            reason: None,
        }),
    );
    log.event(ins3, at("2025-11-03T02:00:00Z"), issued("2025-11-03", None))
        .event(ins3, at("2025-11-05T02:00:00Z"), delivered("2025-11-05"))
        .event(ins3, at("2025-11-20T01:00:00Z"), started("2025-11-20"));

    // P2 changes company on 1 December.
    log.event(
        uid(P2),
        at("2025-11-25T02:00:00Z"),
        company(C3, "2025-12-01"),
    );
    // INS4: T3, planned for 29 December, started on 5 January 2026: a 2026 inspection.
    let ins4 = uid(INS4);
    log.event(
        ins4,
        at("2025-12-01T02:00:00Z"),
        InspectionEvent::from(planned(P2, &[T3], InspectionKind::Planned, "2025-12-29")),
    )
    .event(ins4, at("2025-12-02T02:00:00Z"), issued("2025-12-02", None));
    // AL5 at T3's outlet in P2.
    log.event(
        uid(AL5),
        at("2025-12-25T02:05:00Z"),
        exceedance(P2, "MYPHUOC-T3-OUT", Some(T3), "2025-12-25T02:00:00Z"),
    );
    log.event(ins4, at("2026-01-02T02:00:00Z"), delivered("2026-01-02"))
        .event(ins4, at("2026-01-05T01:00:00Z"), started("2026-01-05"));
    // INS6: T2, decided on 10 January and never delivered.
    log.event(
        uid(INS6),
        at("2026-01-08T02:00:00Z"),
        InspectionEvent::from(planned(P1, &[T2], InspectionKind::Planned, "2026-02-01")),
    )
    .event(
        uid(INS6),
        at("2026-01-10T02:00:00Z"),
        issued("2026-01-10", None),
    );
    // INS5: a post-check of T3; INS7: an unannounced inspection of T2 whose decision is not issued.
    log.event(
        uid(INS5),
        at("2026-01-15T02:00:00Z"),
        InspectionEvent::from(planned(P2, &[T3], InspectionKind::PostCheck, "2026-03-10")),
    )
    .event(
        uid(INS7),
        at("2026-03-20T02:00:00Z"),
        InspectionEvent::from(planned(
            P1,
            &[T2],
            InspectionKind::Unannounced,
            "2026-04-01",
        )),
    );
    log
}

// ---------------------------------------------------------------------------------------------
// The log and the engine.
// ---------------------------------------------------------------------------------------------

/// The read side over the story, and the log's head.
struct Loaded {
    read: ReadSide,
    head: u64,
}

/// Appends the story to a fresh log `chunk` events at a time, the engine catching every read model up
/// after each chunk (so that each chunk is one of its steps); checks that every model reached the head
/// and applied each event once.
async fn load(db: &TestDatabase, chunk: usize) -> Loaded {
    let (log, read_db) = common::open(db).await;
    let engine = Engine::open(&read_db, log.clone(), models::all())
        .await
        .unwrap();
    let story = story();
    for part in story.as_slice().chunks(chunk) {
        kcn_testkit::log::append(log.as_ref(), part).await.unwrap();
        let reached = engine.catch_up().await.unwrap();
        let head = log.head().await.unwrap();
        assert!(
            reached.values().all(|p| *p == head),
            "at {head}: {reached:?}"
        );
    }
    let head = log.head().await.unwrap();
    assert_eq!(head, story.len() as u64);
    for status in engine.status().await.unwrap() {
        assert_eq!(
            (status.position, &status.error),
            (head, &None),
            "{status:?}"
        );
        assert_eq!(engine.checkpoint(&status.name).await.unwrap(), (head, head));
    }
    Loaded {
        read: ReadSide::over(engine),
        head,
    }
}

/// Runs a check against the story loaded on a SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($check:ident) => {
        mod $check {
            #[tokio::test]
            async fn on_sqlite() {
                let db = kcn_testkit::TestDatabase::sqlite();
                let loaded = super::load(&db, 7).await;
                super::$check(&loaded).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let Some(db) = kcn_testkit::TestDatabase::postgres(stringify!($check)).await else {
                    return;
                };
                let loaded = super::load(&db, 500).await;
                super::$check(&loaded).await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Question 2: a tenant's inspection record.
// ---------------------------------------------------------------------------------------------

fn record_query(tenant: u64, as_of: &str) -> TenantRecordQuery {
    TenantRecordQuery {
        tenant_id: id(tenant),
        from: None,
        to: None,
        kind: None,
        conducted_by: None,
        as_of: date(as_of),
        after: None,
        limit: 100,
    }
}

async fn record(l: &Loaded, q: &TenantRecordQuery) -> Vec<TenantInspection> {
    l.read
        .inspections()
        .tenant_record(l.head, &LegalRules::default(), q)
        .await
        .unwrap()
        .items
}

fn limits(i: &TenantInspection) -> Vec<&str> {
    i.breaches.iter().map(|b| b.limit.as_str()).collect()
}

async fn a_tenants_record_measures_every_inspection_against_the_limits(l: &Loaded) {
    let all = record(l, &record_query(T1, "2025-07-01")).await;
    let ids: Vec<String> = all.iter().map(|i| i.inspection_id.clone()).collect();
    // T1's inspections by date: INS1 (started 9 May), INS2 (24 June), INS3 (planned for 20 Nov).
    assert_eq!(ids, [id(INS1), id(INS2), id(INS3)]);

    let ins1 = &all[0];
    assert_eq!(ins1.inspection_date, date("2025-05-09"));
    // Delivery: issued 2 May, delivered 8 May: 8 - 2 = 6 days > 5.
    assert_eq!(ins1.delivery_lag_days, Some(6));
    assert!(ins1.delivery_judged);
    // Duration: 9 to 26 May counted inclusively: 26 - 9 + 1 = 18 days.
    assert_eq!(ins1.duration_days, Some(18));
    assert!(!ins1.under_way);
    // Extensions: 10 days (counts for 7, the one-entity cap) then 3 (a second one counts for 0):
    // requested 10 + 3 = 13, counted 7; limit 7 + 7 = 14 < 18.
    assert_eq!(ins1.extensions.len(), 2);
    assert_eq!(
        (ins1.extension_days_requested, ins1.extension_days_counted),
        (13, 7)
    );
    assert_eq!(
        ins1.extensions
            .iter()
            .map(|x| (x.days, x.days_counted))
            .collect::<Vec<_>>(),
        [(10, 7), (3, 0)]
    );
    assert_eq!((ins1.base_limit_days, ins1.limit_days), (7, 14));
    assert_eq!(
        limits(ins1),
        [
            "inspection_extension_too_long",
            "second_extension",
            "inspection_decision_delivered_late",
            "inspection_too_long"
        ]
    );
    // Findings as of 1 July: F-1 due 30 June, verified only on 3 July: overdue by 1 day;
    // F-2 due 15 June, never verified: overdue by 1 July - 15 June = 16 days.
    let f: Vec<_> = ins1
        .findings
        .iter()
        .map(|f| (f.finding_id.as_str(), f.status, f.days_overdue))
        .collect();
    assert_eq!(
        f,
        [
            ("F-1", RemediationStatus::Overdue, 1),
            ("F-2", RemediationStatus::Overdue, 16)
        ]
    );
    assert_eq!(ins1.findings[0].due_on, Some(date("2025-06-30")));
    assert_eq!(ins1.findings[0].required_on, Some(date("2025-05-27")));

    // INS2: unannounced, grounds recorded; delivered the day after issuance (1 day) but not judged;
    // 24 to 26 June is 3 days of 7: no breach.
    let ins2 = &all[1];
    assert_eq!(ins2.kind, "INSPECTION_KIND_UNANNOUNCED");
    assert!(ins2.grounds_recorded());
    assert_eq!(ins2.delivery_lag_days, Some(1));
    assert!(!ins2.delivery_judged);
    assert_eq!((ins2.duration_days, ins2.limit_days), (Some(3), 7));
    assert!(ins2.breaches.is_empty(), "{:?}", ins2.breaches);
    // Its finding is due 31 July: as of 1 July still just required.
    assert_eq!(ins2.findings[0].status, RemediationStatus::Required);

    // INS3 covers two tenants (limit 30), planned for 20 Nov: on 1 July not started, nothing to judge.
    let ins3 = &all[2];
    assert_eq!((ins3.entity_count, ins3.base_limit_days), (2, 30));
    assert_eq!(ins3.duration_days, None);
    assert!(ins3.breaches.is_empty());

    // As of 10 June both INS1 remediations were merely required (due 30 and 15 June).
    let early = record(l, &record_query(T1, "2025-06-10")).await;
    let f: Vec<_> = early[0].findings.iter().map(|f| f.status).collect();
    assert_eq!(
        f,
        [RemediationStatus::Required, RemediationStatus::Required]
    );
    // As of 3 July F-1 is verified, 3 days after its due date (late); F-2 is 18 days overdue.
    let later = record(l, &record_query(T1, "2025-07-03")).await;
    let f1 = &later[0].findings[0];
    assert_eq!(
        (f1.status, f1.verified_on, f1.verified_late),
        (RemediationStatus::Verified, Some(date("2025-07-03")), true)
    );
    assert_eq!(
        (
            later[0].findings[1].status,
            later[0].findings[1].days_overdue
        ),
        (RemediationStatus::Overdue, 18)
    );
    // As of 15 July F-2 is referred (on 10 July, to A1).
    let referred = record(l, &record_query(T1, "2025-07-15")).await;
    let f2 = &referred[0].findings[1];
    assert_eq!(
        (
            f2.status,
            f2.referred_on,
            f2.referred_to.clone(),
            f2.days_overdue
        ),
        (
            RemediationStatus::Referred,
            Some(date("2025-07-10")),
            Some(id(A1)),
            0
        )
    );
    // As of 1 August INS2's F-1 is verified on 25 July, before its due date.
    let august = record(l, &record_query(T1, "2025-08-01")).await;
    let f = &august[1].findings[0];
    assert_eq!(
        (f.status, f.verified_late),
        (RemediationStatus::Verified, false)
    );

    // On 31 December INS3 is under way since 20 November: 11 days of November + 31 of December =
    // 42 > 30.
    let year_end = record(l, &record_query(T1, "2025-12-31")).await;
    let ins3 = &year_end[2];
    assert_eq!((ins3.duration_days, ins3.under_way), (Some(42), true));
    assert_eq!(limits(ins3), ["inspection_overrunning"]);
    assert_eq!(ins3.delivery_lag_days, Some(2));
}

async fn a_tenants_record_is_filtered_and_paged(l: &Loaded) {
    // Unannounced only: INS2.
    let mut q = record_query(T1, "2025-12-31");
    q.kind = Some("INSPECTION_KIND_UNANNOUNCED".into());
    let ids: Vec<String> = record(l, &q)
        .await
        .into_iter()
        .map(|i| i.inspection_id)
        .collect();
    assert_eq!(ids, [id(INS2)]);
    // Every inspection of T1 is conducted jointly: none by the Board alone.
    let mut q = record_query(T1, "2025-12-31");
    q.conducted_by = Some("INSPECTION_CONDUCTOR_JOINT".into());
    assert_eq!(record(l, &q).await.len(), 3);
    q.conducted_by = Some("INSPECTION_CONDUCTOR_BOARD".into());
    assert!(record(l, &q).await.is_empty());
    // From 1 June: INS2 (24 June) and INS3 (20 Nov).
    let mut q = record_query(T1, "2025-12-31");
    q.from = Some(date("2025-06-01"));
    let ids: Vec<String> = record(l, &q)
        .await
        .into_iter()
        .map(|i| i.inspection_id)
        .collect();
    assert_eq!(ids, [id(INS2), id(INS3)]);
    // Two per page: INS1, INS2, then INS3 and no further page.
    let mut q = record_query(T1, "2025-12-31");
    q.limit = 2;
    let first = l
        .read
        .inspections()
        .tenant_record(l.head, &LegalRules::default(), &q)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.next, Some((date("2025-06-24"), id(INS2))));
    q.after = first.next;
    let second = l
        .read
        .inspections()
        .tenant_record(l.head, &LegalRules::default(), &q)
        .await
        .unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|i| i.inspection_id.clone())
            .collect::<Vec<_>>(),
        [id(INS3)]
    );
    assert_eq!(second.next, None);

    // T2 as of 20 January 2026: INS3 (since 20 Nov: 11 + 31 + 20 = 62 days > 30), INS6 (issued
    // 10 January, not delivered: 20 - 10 = 10 days > 5) and INS7 (nothing decided yet).
    let t2 = record(l, &record_query(T2, "2026-01-20")).await;
    assert_eq!(
        t2.iter()
            .map(|i| i.inspection_id.clone())
            .collect::<Vec<_>>(),
        [id(INS3), id(INS6), id(INS7)]
    );
    assert_eq!(
        (t2[0].duration_days, limits(&t2[0])),
        (Some(62), vec!["inspection_overrunning"])
    );
    assert_eq!(limits(&t2[1]), ["inspection_decision_delivery_overdue"]);
    assert!(t2[2].breaches.is_empty() && !t2[2].grounds_recorded());
    // On 14 January INS6's decision was 4 days old: not yet overdue.
    let t2 = record(l, &record_query(T2, "2026-01-14")).await;
    assert!(t2[1].breaches.is_empty(), "{:?}", t2[1].breaches);

    // T3: INS4 planned for 29 December but started 5 January, so dated 2026-01-05; its decision of
    // 2 December reached T3 on 2 January: 31 days. On 20 January it has run 5 to 20 January,
    // 20 - 5 + 1 = 16 days of its 7; on 11 January, 7 days: not yet over.
    let t3 = record(l, &record_query(T3, "2026-01-20")).await;
    assert_eq!(t3[0].inspection_date, date("2026-01-05"));
    assert_eq!(t3[0].delivery_lag_days, Some(31));
    assert_eq!(t3[0].duration_days, Some(16));
    assert_eq!(
        limits(&t3[0]),
        [
            "inspection_decision_delivered_late",
            "inspection_overrunning"
        ]
    );
    let t3 = record(l, &record_query(T3, "2026-01-11")).await;
    assert_eq!(t3[0].duration_days, Some(7));
    assert_eq!(limits(&t3[0]), ["inspection_decision_delivered_late"]);
}

on_both_backends!(a_tenants_record_measures_every_inspection_against_the_limits);
on_both_backends!(a_tenants_record_is_filtered_and_paged);

// ---------------------------------------------------------------------------------------------
// Question 3: entities inspected more than once in a calendar year.
// ---------------------------------------------------------------------------------------------

fn repeated_query(from_year: i32, to_year: i32) -> RepeatedQuery {
    RepeatedQuery {
        from_year,
        to_year,
        park_id: None,
        company_id: None,
        tenant_id: None,
        kind: None,
        after: None,
        limit: 100,
    }
}

async fn repeated(l: &Loaded, q: &RepeatedQuery) -> Vec<(String, i32, u32)> {
    l.read
        .inspections()
        .repeated(l.head, q)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| (e.tenant_id, e.year, e.inspection_count))
        .collect()
}

async fn tenants_inspected_more_than_once_a_year_are_listed_with_their_grounds(l: &Loaded) {
    // 2025: T1 had INS1, INS2 and INS3 (3); T2 only INS3 (1); T3's INS4 started in 2026 (0).
    let page = l
        .read
        .inspections()
        .repeated(l.head, &repeated_query(2025, 2025))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let t1 = &page.items[0];
    assert_eq!(
        (
            t1.tenant_id.as_str(),
            t1.park_id.as_str(),
            t1.year,
            t1.inspection_count
        ),
        (id(T1).as_str(), id(P1).as_str(), 2025, 3)
    );
    // One unannounced (INS2), and it recorded its grounds.
    assert_eq!(
        (t1.unannounced_count, t1.unannounced_without_grounds),
        (1, 0)
    );
    let occasions: Vec<_> = t1
        .inspections
        .iter()
        .map(|o| {
            (
                o.inspection_id.clone(),
                o.inspection_date,
                o.grounds.is_some(),
            )
        })
        .collect();
    assert_eq!(
        occasions,
        [
            (id(INS1), date("2025-05-09"), false),
            (id(INS2), date("2025-06-24"), true),
            (id(INS3), date("2025-11-20"), false),
        ]
    );

    // 2026: T2 had INS6 (1 Feb) and INS7 (1 Apr, unannounced, no decision yet: no grounds);
    // T3 had INS4 (started 5 Jan) and INS5 (10 Mar).
    let page = l
        .read
        .inspections()
        .repeated(l.head, &repeated_query(2026, 2026))
        .await
        .unwrap();
    let got: Vec<_> = page
        .items
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
    assert_eq!(got, [(id(T2), 2, 1, 1), (id(T3), 2, 0, 0)]);
    let ins7 = &page.items[0].inspections[1];
    assert_eq!((ins7.decision_issued, ins7.started), (false, false));

    // Two years, one per page: T1/2025, T2/2026, T3/2026.
    let mut q = repeated_query(2025, 2026);
    q.limit = 1;
    let mut seen = Vec::new();
    loop {
        let page = l.read.inspections().repeated(l.head, &q).await.unwrap();
        seen.extend(page.items.iter().map(|e| (e.tenant_id.clone(), e.year)));
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, [(id(T1), 2025), (id(T2), 2026), (id(T3), 2026)]);
}

async fn repeated_inspections_are_filtered_by_kind_park_company_and_tenant(l: &Loaded) {
    // Counting planned inspections only, T1 had two in 2025 (INS1, INS3).
    let mut q = repeated_query(2025, 2025);
    q.kind = Some("INSPECTION_KIND_PLANNED".into());
    assert_eq!(repeated(l, &q).await, [(id(T1), 2025, 2)]);
    // Nobody had two unannounced ones.
    let mut q = repeated_query(2025, 2026);
    q.kind = Some("INSPECTION_KIND_UNANNOUNCED".into());
    assert_eq!(repeated(l, &q).await, []);
    // Park P2: T3 in 2026.
    let mut q = repeated_query(2025, 2026);
    q.park_id = Some(id(P2));
    assert_eq!(repeated(l, &q).await, [(id(T3), 2026, 2)]);
    // C3 runs P2 from 1 December 2025: T3 in 2026. C2 ran P2 only until 30 November 2025: nothing
    // in 2026, but over 2025-2026 its park P2 is in.
    let mut q = repeated_query(2026, 2026);
    q.company_id = Some(id(C3));
    assert_eq!(repeated(l, &q).await, [(id(T3), 2026, 2)]);
    q.company_id = Some(id(C2));
    assert_eq!(repeated(l, &q).await, []);
    let mut q = repeated_query(2025, 2026);
    q.company_id = Some(id(C2));
    assert_eq!(repeated(l, &q).await, [(id(T3), 2026, 2)]);
    let mut q = repeated_query(2025, 2025);
    q.company_id = Some(id(C1));
    assert_eq!(repeated(l, &q).await, [(id(T1), 2025, 3)]);
    // T3 alone: not in 2025 (INS4 moved to 2026 when it started), in 2026.
    let mut q = repeated_query(2025, 2025);
    q.tenant_id = Some(id(T3));
    assert_eq!(repeated(l, &q).await, []);
    q.to_year = 2026;
    assert_eq!(repeated(l, &q).await, [(id(T3), 2026, 2)]);
}

on_both_backends!(tenants_inspected_more_than_once_a_year_are_listed_with_their_grounds);
on_both_backends!(repeated_inspections_are_filtered_by_kind_park_company_and_tenant);

// ---------------------------------------------------------------------------------------------
// Question 5: an incident's timeline.
// ---------------------------------------------------------------------------------------------

async fn timeline(l: &Loaded, incident: u64, as_of: &str) -> incidents::IncidentTimeline {
    l.read
        .incidents()
        .timeline(l.head, &LegalRules::default(), &id(incident), at(as_of))
        .await
        .unwrap()
        .expect("the incident is known")
}

async fn an_incidents_timeline_has_its_gaps_and_is_judged_against_the_agreement_in_force(
    l: &Loaded,
) {
    let i1 = timeline(l, I1, "2025-07-01T00:00:00Z").await;
    // Detected 23:30Z on 10 June (06:30 on 11 June local); in time order, with seconds since the
    // detection and since the step before:
    //   report          00:10   40 min =   2,400 s            2,400
    //   classification  01:00   90 min =   5,400 s   50 min = 3,000
    //   notification    01:30  120 min =   7,200 s   30 min = 1,800
    //   containment     04:00  270 min =  16,200 s  150 min = 9,000
    //   resolution   12 Jun 08:00  32.5 h = 117,000 s   28 h = 100,800
    //   review       20 Jun 08:00  117,000 + 8 d (691,200) = 808,200 s  691,200
    let got: Vec<_> = i1
        .milestones
        .iter()
        .map(|m| {
            (
                m.kind,
                m.since_detection.num_seconds(),
                m.since_previous.num_seconds(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (MilestoneKind::Detection, 0, 0),
            (MilestoneKind::Report, 2_400, 2_400),
            (MilestoneKind::Classification, 5_400, 3_000),
            (MilestoneKind::FirstNotification, 7_200, 1_800),
            (MilestoneKind::Containment, 16_200, 9_000),
            (MilestoneKind::Resolution, 117_000, 100_800),
            (MilestoneKind::Review, 808_200, 691_200),
        ]
    );
    assert_eq!(
        (i1.level.as_deref(), i1.notifications, i1.actions),
        (Some("INCIDENT_LEVEL_FACILITY"), 1, 1)
    );
    // On 11 June P1 was A1's and C1's; AG1 (effective on signing, 11 April: a schema-1 payload)
    // allowed 2 hours until its amendment of 15 June. 01:30 - 23:30 = 2 h: on time, exactly.
    let n = &i1.notification;
    assert_eq!(n.detected_on, date("2025-06-11"));
    assert_eq!(
        (n.authority_id.clone(), n.company_id.clone()),
        (Some(id(A1)), Some(id(C1)))
    );
    assert_eq!(
        n.source,
        HoursSource::Agreement {
            agreement_id: id(AG1),
            version: "2025".into(),
            inherited: false,
        }
    );
    assert_eq!(
        (n.allowed_hours, n.lag.map(|l| l.num_seconds()), n.late),
        (2, Some(7_200), false)
    );
    assert_eq!(n.deadline, Some(at("2025-06-11T01:30:00Z")));

    // I2 at P2 (C2, also bound by AG1), detected 20 June: the amendment allows 4 hours from 15 June;
    // 06:00 - 01:00 = 5 h = 18,000 s > 4 h: late.
    let i2 = timeline(l, I2, "2025-07-01T00:00:00Z").await;
    assert_eq!(
        (
            i2.notification.allowed_hours,
            i2.notification.lag.map(|l| l.num_seconds()),
            i2.notification.late
        ),
        (4, Some(18_000), true)
    );

    // I3 at P1 on 5 August: since 28 July (recorded only on 6 August) P1 is A2's. A2 succeeded A1
    // on 28 July and takes over its obligations: AG1 (A1 with C1, amended to 4 hours from 15 June)
    // governs, inherited, until AG2 supersedes it on 1 September. 12:00 - 02:00 = 10 h = 36,000 s
    // > 4 h: late (the deadline 06:00Z).
    let i3 = timeline(l, I3, "2025-09-01T00:00:00Z").await;
    let n = &i3.notification;
    assert_eq!(n.authority_id, Some(id(A2)));
    assert_eq!(
        n.source,
        HoursSource::Agreement {
            agreement_id: id(AG1),
            version: "2025".into(),
            inherited: true,
        }
    );
    assert_eq!(
        (n.allowed_hours, n.lag.map(|l| l.num_seconds()), n.late),
        (4, Some(36_000), true)
    );
    assert_eq!(n.deadline, Some(at("2025-08-05T06:00:00Z")));

    // I4 on 10 September under AG2 (A2 and C1, 6 hours from 1 September): 7 h = 25,200 s: late.
    let i4 = timeline(l, I4, "2025-10-01T00:00:00Z").await;
    let n = &i4.notification;
    assert_eq!(
        n.source,
        HoursSource::Agreement {
            agreement_id: id(AG2),
            version: "2025-HCM".into(),
            inherited: false,
        }
    );
    assert_eq!(
        (n.allowed_hours, n.lag.map(|l| l.num_seconds()), n.late),
        (6, Some(25_200), true)
    );

    // I5, detected 00:00Z on 1 October and never notified: the deadline is 06:00Z; overdue at 07:00,
    // not yet at 05:00.
    let i5 = timeline(l, I5, "2025-10-01T07:00:00Z").await;
    assert_eq!(
        (i5.notification.first_notified_at, i5.notification.overdue),
        (None, true)
    );
    assert_eq!(i5.notification.deadline, Some(at("2025-10-01T06:00:00Z")));
    let i5 = timeline(l, I5, "2025-10-01T05:00:00Z").await;
    assert!(!i5.notification.overdue);
    // Only detection and report so far.
    assert_eq!(
        i5.milestones.iter().map(|m| m.kind).collect::<Vec<_>>(),
        [MilestoneKind::Detection, MilestoneKind::Report]
    );

    // An incident the model does not know.
    assert!(
        l.read
            .incidents()
            .timeline(
                l.head,
                &LegalRules::default(),
                &id(0xfff),
                at("2025-10-01T00:00:00Z")
            )
            .await
            .unwrap()
            .is_none()
    );
}

on_both_backends!(an_incidents_timeline_has_its_gaps_and_is_judged_against_the_agreement_in_force);

// ---------------------------------------------------------------------------------------------
// Question 7: alerts not followed within N days.
// ---------------------------------------------------------------------------------------------

fn unfollowed_query(within_days: u32, as_of: &str) -> UnfollowedQuery {
    UnfollowedQuery {
        park_id: None,
        company_id: None,
        tenant_id: None,
        from: None,
        to: None,
        kind: None,
        within_days,
        as_of: date(as_of),
        after: None,
        limit: 100,
    }
}

async fn unfollowed(l: &Loaded, q: &UnfollowedQuery) -> Vec<String> {
    l.read
        .alerts()
        .unfollowed(l.head, q)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.alert_id)
        .collect()
}

async fn alerts_no_inspection_or_incident_followed_within_n_days_are_listed(l: &Loaded) {
    // A follow-up concerns the alert's tenant, or (an alert with no tenant: the park's own station)
    // names no tenant. N = 7, as of 2 January 2026:
    //   AL2 (P2's plant outfall, 1 June): the next P2 follow-up naming no tenant is I2's report on
    //       20 June, 19 days later: not followed.
    //   AL1 (P1's plant outfall, 11 June local): I1 was reported that day but names tenant T1, not
    //       the station, and AL1's resolution names nothing: not followed (before, any event in the
    //       park counted).
    //   AL6 (P2, 20 June 05:00Z): I2 was reported that day but before it (01:30Z); INS4 and INS5
    //       are T3's: not followed.
    //   AL3 (P1, 20 August, resolved for a power cut): I4 reported 10 September, 21 days: not followed.
    //   AL4 (P1): resolved by naming INS3: followed.
    //   AL5 (T3's outfall at P2, 25 December): its 7 days end on 1 January, before 2 January; INS5,
    //       of T3, is planned on 15 January: not followed.
    let q = unfollowed_query(7, "2026-01-02");
    assert_eq!(
        unfollowed(l, &q).await,
        [id(AL2), id(AL1), id(AL6), id(AL3), id(AL5)]
    );
    let page = l.read.alerts().unfollowed(l.head, &q).await.unwrap();
    let al3 = &page.items[3];
    assert_eq!(al3.kind, alerts::INTERRUPTED);
    assert_eq!(
        al3.resolution_reason.as_deref(),
        Some("Power cut at the station; data back-filled from the logger")
    );
    assert_eq!((al3.exceedances, al3.interruptions), (0, 1));
    let al5 = &page.items[4];
    assert_eq!(
        (al5.raised_on, al5.window_ends_on),
        (date("2025-12-25"), date("2026-01-01"))
    );
    assert_eq!(
        (
            al5.parameter.as_deref(),
            al5.value.as_deref(),
            al5.limit.as_deref()
        ),
        (Some("MONITORING_PARAMETER_COD"), Some("182.5"), Some("150"))
    );
    // As of 1 January AL5's window has not run out: it is not listed yet.
    assert_eq!(
        unfollowed(l, &unfollowed_query(7, "2026-01-01")).await,
        [id(AL2), id(AL1), id(AL6), id(AL3)]
    );
    // N = 30, as of 1 February: AL2 is followed by I2 (19 days), AL3 by I4 (21), AL5 by INS5 of T3
    // (21); AL1's first no-tenant follow-up is I3 on 5 August (55 days); AL6 has none.
    assert_eq!(
        unfollowed(l, &unfollowed_query(30, "2026-02-01")).await,
        [id(AL1), id(AL6)]
    );
    // N = 200, as of 1 February (windows run out: AL2 18 Dec, AL1 28 Dec, AL6 6 Jan): AL1 is
    // followed by I3; AL6 is not, though INS4 (T3's, 1 December) is in its park and window.
    assert_eq!(
        unfollowed(l, &unfollowed_query(200, "2026-02-01")).await,
        [id(AL6)]
    );
    // N = 0: AL1 is not followed by I1 (another subject), even the same day.
    assert!(
        unfollowed(l, &unfollowed_query(0, "2026-02-01"))
            .await
            .contains(&id(AL1))
    );
}

async fn unfollowed_alerts_are_filtered_and_paged(l: &Loaded) {
    let base = unfollowed_query(7, "2026-01-02");
    // By company on the alert's date: C2 ran P2 on 1 and 20 June; C3 on 25 December.
    let mut q = base.clone();
    q.company_id = Some(id(C2));
    assert_eq!(unfollowed(l, &q).await, [id(AL2), id(AL6)]);
    q.company_id = Some(id(C3));
    assert_eq!(unfollowed(l, &q).await, [id(AL5)]);
    q.company_id = Some(id(C1));
    assert_eq!(unfollowed(l, &q).await, [id(AL1), id(AL3)]);
    // By park, tenant, kind and period.
    let mut q = base.clone();
    q.park_id = Some(id(P2));
    assert_eq!(unfollowed(l, &q).await, [id(AL2), id(AL6), id(AL5)]);
    let mut q = base.clone();
    q.tenant_id = Some(id(T3));
    assert_eq!(unfollowed(l, &q).await, [id(AL5)]);
    let mut q = base.clone();
    q.kind = Some(alerts::INTERRUPTED.into());
    assert_eq!(unfollowed(l, &q).await, [id(AL3)]);
    let mut q = base.clone();
    q.from = Some(date("2025-06-15"));
    q.to = Some(date("2025-08-31"));
    assert_eq!(unfollowed(l, &q).await, [id(AL6), id(AL3)]);
    // Two per page, of AL2, AL1, AL6, AL3, AL5.
    let mut q = base.clone();
    q.limit = 2;
    let ids = |p: &models::inspections::Page<alerts::UnfollowedAlert, (String, String)>| {
        p.items
            .iter()
            .map(|a| a.alert_id.clone())
            .collect::<Vec<_>>()
    };
    let first = l.read.alerts().unfollowed(l.head, &q).await.unwrap();
    assert_eq!(ids(&first), [id(AL2), id(AL1)]);
    assert_eq!(
        first.next,
        Some(("2025-06-10T22:55:00.000000Z".to_owned(), id(AL1)))
    );
    q.after = first.next;
    let second = l.read.alerts().unfollowed(l.head, &q).await.unwrap();
    assert_eq!(ids(&second), [id(AL6), id(AL3)]);
    q.after = second.next;
    let third = l.read.alerts().unfollowed(l.head, &q).await.unwrap();
    assert_eq!(ids(&third), [id(AL5)]);
    assert_eq!(third.next, None);
}

on_both_backends!(alerts_no_inspection_or_incident_followed_within_n_days_are_listed);
on_both_backends!(unfollowed_alerts_are_filtered_and_paged);
