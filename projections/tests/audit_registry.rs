//! The read models of audit questions 4, 6, 8, 9 and 10 on both backends: a realistic history of the
//! Bình Dương parks (three parks, three companies, the July 2025 succession of the province's Board by
//! the city's, agreements with their own answer days and an amendment, consultations, information
//! requests, annual reports and dossiers) is appended to a real log, fed to every read model by the
//! engine, on a SQLite file and on a fresh PostgreSQL database, and every answer is checked against
//! values computed by hand (the arithmetic is in the comments).
//!
//! The events are built from the domain's own event structs (the test kit stores their JSON, as the
//! server does), and some are deliberately in an order the log allows but business time does not
//! follow: rules and agreements recorded after the facts they govern. The one payload no server
//! writes today, an agreement of schema version 1, is the version-2 struct's JSON without the field
//! version 2 added.
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
use kcn_domain::company::{CompanyEvent, CompanyRegistered};
use kcn_domain::consultation::{
    Capacity, ConsultationEvent, ConsultationOpened, ConsultationWithdrawn, PollutionLevel,
    Suitability, SuitabilityDetermined,
};
use kcn_domain::information_exchange::{
    ClarificationRequested, ExchangeEvent, ExchangeWithdrawn, InformationProvided,
    InformationRequested, OrganisationKind, OrganisationRef,
};
use kcn_domain::park::{
    InfrastructureCompanyAssigned, JurisdictionAssigned, ParkAnnualEnvironmentalReportSubmitted,
    ParkEvent, ParkIndustryRulesSet, ParkRegistered,
};
use kcn_domain::procedure::{DossierDecided, DossierOutcome, DossierReceived, ProcedureEvent};
use kcn_domain::tenant::{AnnualEnvironmentalReportSubmitted, TenantEvent, TenantRegistered};
use kcn_domain::values::{Decimal, EnterpriseCode, ParkCode, Sha256Hex, Text, VsicCode};
use kcn_domain::{AggregateKind, EventBody as _};
use kcn_projections::models::Generation;
use kcn_projections::models::annual_reports::{
    AnnualReportCursor, AnnualReportFilter, Filer, LateAnnualReport, ReportDueDays, ReportLateness,
};
use kcn_projections::models::consultations::{
    ConsultationCursor, ConsultationFilter, ConsultationsModel,
};
use kcn_projections::models::exchanges::{
    ExchangesModel, LateRequestCursor, LateRequestFilter, Lateness,
};
use kcn_projections::{Engine, Named, ReadSide, models};
use kcn_testkit::{Fixtures, TestDatabase};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The history.
// ---------------------------------------------------------------------------------------------

fn uid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// The id as the read models answer it.
fn id(n: u128) -> String {
    uid(n).to_string()
}

// Authorities: the Bình Dương Board, the city's Board, Bà Rịa - Vũng Tàu's Board.
const A_BD: u128 = 0x01;
const A_HCM: u128 = 0x02;
const A_VT: u128 = 0x03;
// Infrastructure companies: Hưng Thịnh (Đồng An), the VSIP joint venture, Becamex IDC (Mỹ Phước 3).
const C_HT: u128 = 0x04;
const C_VSIP: u128 = 0x05;
const C_BCM: u128 = 0x06;
// Parks (ids in this order, so that pages by id are predictable): Đồng An, VSIP I, Mỹ Phước 3.
const P_DA: u128 = 0x10;
const P_VSIP: u128 = 0x11;
const P_MP3: u128 = 0x12;
// Agreements: the April 2025 regulation with Đồng An and VSIP, the one with Becamex (stored as
// schema version 1), and the city's regulation that replaces the first from 1 September 2025.
const AG1: u128 = 0x20;
const AG2: u128 = 0x21;
const AG3: u128 = 0x22;
// Tenants.
const T1: u128 = 0x30;
const T2: u128 = 0x31;
const T3: u128 = 0x32;

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn text(s: &str) -> Text {
    Text::body(s).unwrap()
}

fn levels(answer_days: u32) -> ServiceLevels {
    ServiceLevels {
        incident_notification_hours: 2,
        information_answer_days: answer_days,
        infrastructure_information_days: Some(10),
        consultation_answer_days: Some(15),
        quarterly_report_due_day: Some(10),
    }
}

fn authority(n: u128) -> OrganisationRef {
    OrganisationRef {
        kind: OrganisationKind::Authority,
        id: uid(n),
    }
}

fn company(n: u128) -> OrganisationRef {
    OrganisationRef {
        kind: OrganisationKind::InfrastructureCompany,
        id: uid(n),
    }
}

fn vsic(code: &str) -> VsicCode {
    VsicCode::parse(code, "2018").unwrap()
}

/// Adds `signed` as a server before schema version 2 stored it: the current struct's JSON without
/// `effective_from`, which version 2 added (the upcaster reads it as `signed_on`).
fn signed_at_schema_version_1(
    log: &mut Fixtures,
    agreement: u128,
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

/// The registry: boards, companies, parks with their jurisdictions and companies, agreements, the
/// succession.
fn registry(log: &mut Fixtures) {
    for (n, name, kind, decision, from) in [
        (
            A_BD,
            "Ban quản lý các khu công nghiệp Bình Dương",
            AuthorityKind::IndustrialParksBoard,
            "QĐ-01/2006",
            "2006-01-01",
        ),
        (
            A_HCM,
            "Ban quản lý các khu chế xuất và công nghiệp Thành phố Hồ Chí Minh",
            AuthorityKind::ExportProcessingAndIndustrialZonesBoard,
            "QĐ-732/1992",
            "1992-01-01",
        ),
        (
            A_VT,
            "Ban quản lý các khu công nghiệp Bà Rịa - Vũng Tàu",
            AuthorityKind::IndustrialParksBoard,
            "QĐ-BRVT/1996",
            "1996-01-01",
        ),
    ] {
        log.event(
            uid(n),
            at("2025-04-01T01:00:00Z"),
            AuthorityEvent::from(AuthorityEstablished {
                name: text(name),
                kind,
                jurisdiction: text("province"),
                decision_no: text(decision),
                effective_from: date(from),
            }),
        );
    }
    for (n, code, name) in [
        (C_HT, "3700146225", "CTCP TM-SX Hưng Thịnh"),
        (
            C_VSIP,
            "3700229744",
            "Công ty TNHH Liên doanh KCN Việt Nam - Singapore",
        ),
        (
            C_BCM,
            "3700145020",
            "Tổng Công ty Đầu tư và Phát triển Công nghiệp Becamex IDC",
        ),
    ] {
        log.event(
            uid(n),
            at("2025-04-01T01:10:00Z"),
            CompanyEvent::from(CompanyRegistered {
                enterprise_code: EnterpriseCode::parse(code).unwrap(),
                name: text(name),
                address: None,
            }),
        );
    }
    for (n, code, name, area, place, company_from, c) in [
        (
            P_DA,
            "DONGAN-1",
            "KCN Đồng An",
            "138.7",
            "Thuận An",
            "1996-11-14",
            C_HT,
        ),
        (
            P_VSIP,
            "VSIP-1",
            "KCN Việt Nam - Singapore",
            "500",
            "Thuận An",
            "1996-05-14",
            C_VSIP,
        ),
        (
            P_MP3,
            "MYPHUOC-3",
            "KCN Mỹ Phước 3",
            "997.71",
            "Bến Cát",
            "2006-08-31",
            C_BCM,
        ),
    ] {
        log.event(
            uid(n),
            at("2025-04-01T01:20:00Z"),
            ParkEvent::from(ParkRegistered {
                code: ParkCode::parse(code).unwrap(),
                name: text(name),
                area_ha: Decimal::parse(area, 4).unwrap(),
                location: text(place),
            }),
        )
        .event(
            uid(n),
            at("2025-04-01T01:30:00Z"),
            ParkEvent::from(JurisdictionAssigned {
                authority_id: uid(A_BD),
                effective_from: date("2006-01-01"),
            }),
        )
        .event(
            uid(n),
            at("2025-04-01T01:40:00Z"),
            ParkEvent::from(InfrastructureCompanyAssigned {
                company_id: uid(c),
                effective_from: date(company_from),
            }),
        );
    }
    // AG1: 7 days to answer from 11 April 2025; the amendment makes it 5 from 1 June.
    log.event(
        uid(AG1),
        at("2025-04-11T02:00:00Z"),
        AgreementEvent::from(AgreementSigned {
            authority_id: uid(A_BD),
            company_ids: vec![uid(C_HT), uid(C_VSIP)],
            version: text("2025"),
            title: text("Quy chế phối hợp bảo vệ môi trường tại các khu công nghiệp"),
            document_no: Some(text("01/QCPH-BQL")),
            signed_on: date("2025-04-11"),
            effective_from: date("2025-04-11"),
            document_sha256: Sha256Hex::parse(&"1f".repeat(32)).unwrap(),
            service_levels: levels(7),
        }),
    )
    .event(
        uid(AG1),
        at("2025-05-20T02:00:00Z"),
        AgreementEvent::from(AgreementAmended {
            amendment_no: Some(text("01/2025/SĐ")),
            service_levels: levels(5),
            effective_from: date("2025-06-01"),
            document_sha256: None,
            reason: Some(text("faster answers")),
        }),
    );
}

/// AG2 with Becamex, 10 days to answer: stored as schema version 1 (no `effective_from`, which the
/// upcaster reads as `signed_on`, 15 April 2025), and recorded after a request it governs.
fn becamex_agreement(log: &mut Fixtures) {
    signed_at_schema_version_1(
        log,
        AG2,
        at("2025-04-15T02:00:00Z"),
        AgreementSigned {
            authority_id: uid(A_BD),
            company_ids: vec![uid(C_BCM)],
            version: text("2025-BCM"),
            title: text("Quy chế phối hợp với Becamex IDC"),
            document_no: None,
            signed_on: date("2025-04-15"),
            effective_from: date("2025-04-15"),
            document_sha256: Sha256Hex::parse(&"2e".repeat(32)).unwrap(),
            service_levels: levels(10),
        },
    );
}

/// The merger: the Bình Dương and Vũng Tàu Boards are succeeded by the city's on 28 July 2025; Đồng An
/// and VSIP I move to the city's Board, Mỹ Phước 3 is (in this history) never re-assigned. The city
/// signs its own regulation (3 days to answer) effective 1 September, which replaces AG1.
fn merger(log: &mut Fixtures) {
    for n in [A_BD, A_VT] {
        log.event(
            uid(n),
            at("2025-07-28T03:00:00Z"),
            AuthorityEvent::from(AuthoritySucceeded {
                predecessors: vec![uid(A_BD), uid(A_VT)],
                successor: uid(A_HCM),
                effective_date: date("2025-07-28"),
                legal_basis: text("Nghị quyết 1685/NQ-UBTVQH15"),
            }),
        );
    }
    for p in [P_DA, P_VSIP] {
        log.event(
            uid(p),
            at("2025-07-28T04:00:00Z"),
            ParkEvent::from(JurisdictionAssigned {
                authority_id: uid(A_HCM),
                effective_from: date("2025-07-28"),
            }),
        );
    }
    log.event(
        uid(AG3),
        at("2025-08-20T02:00:00Z"),
        AgreementEvent::from(AgreementSigned {
            authority_id: uid(A_HCM),
            company_ids: vec![uid(C_HT), uid(C_VSIP)],
            version: text("2025-HCM"),
            title: text("Quy chế phối hợp của Thành phố Hồ Chí Minh"),
            document_no: None,
            signed_on: date("2025-08-20"),
            effective_from: date("2025-09-01"),
            document_sha256: Sha256Hex::parse(&"3d".repeat(32)).unwrap(),
            service_levels: levels(3),
        }),
    )
    .event(
        uid(AG1),
        at("2025-08-20T03:00:00Z"),
        AgreementEvent::from(AgreementSuperseded {
            by: uid(AG3),
            effective_from: date("2025-09-01"),
        }),
    );
}

fn request(
    log: &mut Fixtures,
    n: u128,
    at_: &str,
    from: OrganisationRef,
    to: OrganisationRef,
    park: Option<u128>,
    due_at: Option<&str>,
) {
    log.event(
        uid(n),
        at(at_),
        ExchangeEvent::from(InformationRequested {
            from,
            to,
            park_id: park.map(uid),
            subject: text(&format!("request {n:#x}")),
            body: text("Please report."),
            due_at: due_at.map(at),
        }),
    );
}

fn answer(log: &mut Fixtures, n: u128, at_: &str) {
    log.event(
        uid(n),
        at(at_),
        ExchangeEvent::from(InformationProvided {
            body: text("Answered."),
            attachments: vec![],
        }),
    );
}

const E1: u128 = 0x41;
const E2: u128 = 0x42;
const E3: u128 = 0x43;
const E4: u128 = 0x44;
const E5: u128 = 0x45;
const E6: u128 = 0x46;
const E7: u128 = 0x47;
const E8: u128 = 0x48;
const E9: u128 = 0x49;

fn exchanges(log: &mut Fixtures) {
    // E7, 5 April: before any agreement and without due_at: it can never be late.
    request(
        log,
        E7,
        "2025-04-05T02:00:00Z",
        authority(A_BD),
        company(C_HT),
        Some(P_DA),
        None,
    );
    // E8, 20 April, to Becamex without due_at; recorded before AG2 (see becamex_agreement).
    request(
        log,
        E8,
        "2025-04-20T02:00:00Z",
        authority(A_BD),
        company(C_BCM),
        Some(P_MP3),
        None,
    );
    becamex_agreement(log);
    // E1: due 10 May 10:00Z, answered 12 May 03:00Z: late.
    request(
        log,
        E1,
        "2025-05-01T02:00:00Z",
        authority(A_BD),
        company(C_HT),
        Some(P_DA),
        Some("2025-05-10T10:00:00Z"),
    );
    // E2: AG1's 7 days from 2 May: due 9 May local; answered 9 May 16:30Z = 23:30 local: on time. A
    // clarification and a second answer afterwards change nothing.
    request(
        log,
        E2,
        "2025-05-02T01:00:00Z",
        authority(A_BD),
        company(C_HT),
        Some(P_DA),
        None,
    );
    answer(log, E1, "2025-05-12T03:00:00Z");
    answer(log, E2, "2025-05-09T16:30:00Z");
    log.event(
        uid(E2),
        at("2025-05-12T02:00:00Z"),
        ExchangeEvent::from(ClarificationRequested {
            question: text("Which month?"),
        }),
    );
    answer(log, E2, "2025-05-13T02:00:00Z");
    // E9: Board to Board about VSIP I: the company is the park's (VSIP). AG1 7 days from 20 May: due 27
    // May; answered 28 May 03:00Z (local 28 May): late.
    request(
        log,
        E9,
        "2025-05-20T02:00:00Z",
        authority(A_BD),
        authority(A_VT),
        Some(P_VSIP),
        None,
    );
    answer(log, E9, "2025-05-28T03:00:00Z");
    // E3: VSIP asks the Board on 3 June; AG1 as amended, 5 days: due 8 June; answered 9 June 01:00Z.
    request(
        log,
        E3,
        "2025-06-03T03:00:00Z",
        company(C_VSIP),
        authority(A_BD),
        Some(P_VSIP),
        None,
    );
    answer(log, E3, "2025-06-09T01:00:00Z");
    // E6: due 20 June 10:00Z, withdrawn 25 June unanswered.
    request(
        log,
        E6,
        "2025-06-10T02:00:00Z",
        authority(A_BD),
        company(C_VSIP),
        Some(P_VSIP),
        Some("2025-06-20T10:00:00Z"),
    );
    log.event(
        uid(E6),
        at("2025-06-25T02:00:00Z"),
        ExchangeEvent::from(ExchangeWithdrawn {
            reason: text("no longer needed"),
        }),
    );
    // E4: to Becamex on 1 July, AG2 10 days: due 11 July; never answered.
    request(
        log,
        E4,
        "2025-07-01T02:00:00Z",
        authority(A_BD),
        company(C_BCM),
        Some(P_MP3),
        None,
    );
    merger(log);
    // E5: the city's Board on 5 August; its own regulation starts 1 September, so AG1 (inherited from
    // the Bình Dương Board, 5 days) applies: due 10 August; answered 11 August 02:00Z.
    request(
        log,
        E5,
        "2025-08-05T02:00:00Z",
        authority(A_HCM),
        company(C_HT),
        Some(P_DA),
        None,
    );
    answer(log, E5, "2025-08-11T02:00:00Z");
}

const K1: u128 = 0x51;
const K2: u128 = 0x52;
const K3: u128 = 0x53;
const K4: u128 = 0x54;
const K5: u128 = 0x55;
const K6: u128 = 0x56;

fn open(
    log: &mut Fixtures,
    n: u128,
    park: u128,
    c: u128,
    code: &str,
    level: PollutionLevel,
    at_: &str,
) {
    log.event(
        uid(n),
        at(at_),
        ConsultationEvent::from(ConsultationOpened {
            park_id: uid(park),
            company_id: uid(c),
            prospective_investor: text(&format!("Investor {n:#x}")),
            project: None,
            vsic_code: vsic(code),
            pollution_level: level,
            capacity: Capacity {
                value: Decimal::parse("12000", 4).unwrap(),
                unit: text("tonnes/year"),
            },
        }),
    );
}

fn determine(log: &mut Fixtures, n: u128, determination: Suitability, at_: &str, on: &str) {
    let conditions = match determination {
        Suitability::Conditional => vec![text("pre-treat to column B")],
        _ => vec![],
    };
    log.event(
        uid(n),
        at(at_),
        ConsultationEvent::from(SuitabilityDetermined {
            determination,
            conditions,
            rationale: text("See the file."),
            legal_basis: text("Nghị định 35/2022/NĐ-CP"),
            decided_on: date(on),
            document_no: Some(text(&format!("{n}/BQL-MT"))),
        }),
    );
}

/// Consultations at Đồng An and VSIP I.
fn consultations(log: &mut Fixtures) {
    // Đồng An's rules from 1 January 2025: wood, metal, electronics; not chemicals (20); up to level II.
    log.event(
        uid(P_DA),
        at("2025-04-20T02:00:00Z"),
        ParkEvent::from(ParkIndustryRulesSet {
            allowed_vsic_codes: vec![vsic("16"), vsic("25"), vsic("26")],
            excluded_vsic_codes: vec![vsic("20")],
            highest_pollution_level: PollutionLevel::II,
            effective_from: date("2025-01-01"),
            legal_basis: Some(text("QĐ 1234/QĐ-UBND quy hoạch KCN Đồng An")),
        }),
    );
    // K6 at VSIP, 1 May, withdrawn 3 May.
    open(
        log,
        K6,
        P_VSIP,
        C_VSIP,
        "1079",
        PollutionLevel::III,
        "2025-05-01T02:00:00Z",
    );
    log.event(
        uid(K6),
        at("2025-05-03T02:00:00Z"),
        ConsultationEvent::from(ConsultationWithdrawn {
            reason: text("investor left"),
        }),
    );
    // K1: sawmill (1610, level II) opened 2 May, conditional on 12 May: 10 days, within the rules.
    open(
        log,
        K1,
        P_DA,
        C_HT,
        "1610",
        PollutionLevel::II,
        "2025-05-02T02:00:00Z",
    );
    determine(
        log,
        K1,
        Suitability::Conditional,
        "2025-05-12T03:00:00Z",
        "2025-05-12",
    );
    // K2: paints (2023) opened 5 May 09:00Z (16:00 local), suitable on 20 May 18:00Z = 21 May 01:00
    // local: 21 − 5 = 16 days; 20 covers 2023: flagged.
    open(
        log,
        K2,
        P_DA,
        C_HT,
        "2023",
        PollutionLevel::II,
        "2025-05-05T09:00:00Z",
    );
    determine(
        log,
        K2,
        Suitability::Suitable,
        "2025-05-20T18:00:00Z",
        "2025-05-21",
    );
    // K3: metal (2592) level I, unsuitable: exceeds II but the Board refused it: not flagged. 8 days.
    open(
        log,
        K3,
        P_DA,
        C_HT,
        "2592",
        PollutionLevel::I,
        "2025-06-02T02:00:00Z",
    );
    determine(
        log,
        K3,
        Suitability::Unsuitable,
        "2025-06-10T02:00:00Z",
        "2025-06-10",
    );
    // K4: electronics (2610) level I, conditional: exceeds II: flagged. 20 − 3 = 17 days.
    open(
        log,
        K4,
        P_DA,
        C_HT,
        "2610",
        PollutionLevel::I,
        "2025-06-03T02:00:00Z",
    );
    determine(
        log,
        K4,
        Suitability::Conditional,
        "2025-06-20T02:00:00Z",
        "2025-06-20",
    );
    // K5: food (1079) at VSIP, suitable on 15 June (10 days) while VSIP had no rules; rules recorded on
    // 1 July, effective 1 June, exclude food processing (10): K5 becomes flagged.
    open(
        log,
        K5,
        P_VSIP,
        C_VSIP,
        "1079",
        PollutionLevel::III,
        "2025-06-05T02:00:00Z",
    );
    determine(
        log,
        K5,
        Suitability::Suitable,
        "2025-06-15T02:00:00Z",
        "2025-06-15",
    );
    log.event(
        uid(P_VSIP),
        at("2025-07-01T02:00:00Z"),
        ParkEvent::from(ParkIndustryRulesSet {
            allowed_vsic_codes: vec![],
            excluded_vsic_codes: vec![vsic("10")],
            highest_pollution_level: PollutionLevel::II,
            effective_from: date("2025-06-01"),
            legal_basis: None,
        }),
    );
}

/// Tenants and annual reports.
fn reports(log: &mut Fixtures) {
    for (n, park, at_, name) in [
        (
            T1,
            P_DA,
            "2024-03-01T03:00:00Z",
            "Công ty TNHH Gỗ Minh Phát",
        ),
        (
            T2,
            P_VSIP,
            "2023-05-10T03:00:00Z",
            "Công ty TNHH Điện tử Sao Việt",
        ),
        (
            T3,
            P_MP3,
            "2025-02-01T03:00:00Z",
            "Công ty TNHH Bao bì Phú Mỹ",
        ),
    ] {
        log.event(
            uid(n),
            at(at_),
            TenantEvent::from(TenantRegistered {
                park_id: uid(park),
                enterprise_code: EnterpriseCode::parse("3702345678").unwrap(),
                name: text(name),
                investment_registration_no: text("9876543210"),
                vsic_codes: vec![vsic("1610")],
                foreign_invested: true,
            }),
        );
    }
    let tenant = |log: &mut Fixtures, n: u128, year: u32, at_: &str, on: &str| {
        log.event(
            uid(n),
            at(at_),
            TenantEvent::from(AnnualEnvironmentalReportSubmitted {
                year,
                submitted_on: date(on),
            }),
        );
    };
    let park = |log: &mut Fixtures, n: u128, c: u128, year: u32, at_: &str, on: &str| {
        log.event(
            uid(n),
            at(at_),
            ParkEvent::from(ParkAnnualEnvironmentalReportSubmitted {
                year,
                company_id: uid(c),
                submitted_on: date(on),
                document_sha256: None,
            }),
        );
    };
    // 2024: T1 on 14 January (on time); T2 at 15 January 20:00Z = 16 January local, one day late.
    tenant(log, T1, 2024, "2025-01-14T03:00:00Z", "2025-01-14");
    tenant(log, T2, 2024, "2025-01-15T20:00:00Z", "2025-01-16");
    // Đồng An on 20 January 09:00Z = 16:00 local: on time. VSIP on 3 February: 14 days late.
    park(log, P_DA, C_HT, 2024, "2025-01-20T09:00:00Z", "2025-01-20");
    park(
        log,
        P_VSIP,
        C_VSIP,
        2024,
        "2025-02-03T02:00:00Z",
        "2025-02-03",
    );
    // 2025: only T1, on 10 January 2026.
    tenant(log, T1, 2025, "2026-01-10T02:00:00Z", "2026-01-10");
}

/// Dossiers of two procedures.
fn dossiers(log: &mut Fixtures) {
    let mut n = 0x60;
    let mut dossier = |log: &mut Fixtures,
                       code: &str,
                       received_at: &str,
                       received_on: &str,
                       decided: Option<(&str, &str)>| {
        n += 1;
        log.event(
            uid(n),
            at(received_at),
            ProcedureEvent::from(DossierReceived {
                procedure_code: text(code),
                authority_id: uid(A_BD),
                tenant_id: uid(T1),
                park_id: uid(P_DA),
                dossier_no: None,
                received_on: date(received_on),
                promised_days: Some(15),
            }),
        );
        if let Some((at_, on)) = decided {
            log.event(
                uid(n),
                at(at_),
                ProcedureEvent::from(DossierDecided {
                    outcome: DossierOutcome::Approved,
                    decided_on: date(on),
                    decision_no: None,
                    note: None,
                }),
            );
        }
    };
    // 1.004227, before 1 July: 5, 3, 9 working days (7 April is Giỗ Tổ Hùng Vương, outside the
    // second's span; weekends never count).
    dossier(
        log,
        "1.004227",
        "2025-03-03T02:00:00Z",
        "2025-03-03",
        Some(("2025-03-10T02:00:00Z", "2025-03-10")),
    );
    dossier(
        log,
        "1.004227",
        "2025-04-01T02:00:00Z",
        "2025-04-01",
        Some(("2025-04-06T02:00:00Z", "2025-04-06")),
    );
    dossier(
        log,
        "1.004227",
        "2025-05-05T02:00:00Z",
        "2025-05-05",
        Some(("2025-05-17T02:00:00Z", "2025-05-17")),
    );
    // After: received 30 June 18:00Z = 1 July local, decided Saturday 5 July: 3 working days, on the
    // "after" side; then 3; 4 (2 September is Quốc khánh); 4.
    dossier(
        log,
        "1.004227",
        "2025-06-30T18:00:00Z",
        "2025-07-01",
        Some(("2025-07-05T02:00:00Z", "2025-07-05")),
    );
    dossier(
        log,
        "1.004227",
        "2025-08-04T02:00:00Z",
        "2025-08-04",
        Some(("2025-08-07T02:00:00Z", "2025-08-07")),
    );
    dossier(
        log,
        "1.004227",
        "2025-09-02T02:00:00Z",
        "2025-09-02",
        Some(("2025-09-08T02:00:00Z", "2025-09-08")),
    );
    dossier(
        log,
        "1.004227",
        "2025-09-15T02:00:00Z",
        "2025-09-15",
        Some(("2025-09-19T02:00:00Z", "2025-09-19")),
    );
    // Undecided: counts nowhere.
    dossier(log, "1.004227", "2025-09-20T02:00:00Z", "2025-09-20", None);
    // 2.000584, before: 12 working days (Saturday 15 February 2025 was a make-up working day) and 7.
    dossier(
        log,
        "2.000584",
        "2025-02-10T02:00:00Z",
        "2025-02-10",
        Some(("2025-02-25T02:00:00Z", "2025-02-25")),
    );
    dossier(
        log,
        "2.000584",
        "2025-03-01T02:00:00Z",
        "2025-03-01",
        Some(("2025-03-11T02:00:00Z", "2025-03-11")),
    );
}

fn history() -> Fixtures {
    let mut log = Fixtures::new();
    log.record_at(at("2025-10-01T00:00:00Z"));
    registry(&mut log);
    exchanges(&mut log);
    consultations(&mut log);
    reports(&mut log);
    dossiers(&mut log);
    log
}

// ---------------------------------------------------------------------------------------------
// The log and the engine.
// ---------------------------------------------------------------------------------------------

/// The read side over the history, and the log's head.
struct Loaded {
    read: ReadSide,
    head: u64,
}

/// Appends the history to a fresh log `chunk` events at a time, the engine catching every read model
/// up after each chunk (so that each chunk is one of its steps); checks that every model reached the
/// head and applied each event once.
async fn load(db: &TestDatabase, chunk: usize) -> Loaded {
    let (log, read_db) = common::open(db).await;
    let engine = Engine::open(&read_db, log.clone(), models::all())
        .await
        .unwrap();
    let history = history();
    for part in history.as_slice().chunks(chunk) {
        kcn_testkit::log::append(log.as_ref(), part).await.unwrap();
        let reached = engine.catch_up().await.unwrap();
        let head = log.head().await.unwrap();
        assert!(
            reached.values().all(|p| *p == head),
            "at {head}: {reached:?}"
        );
    }
    let head = log.head().await.unwrap();
    assert_eq!(head, history.len() as u64);
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

// ---------------------------------------------------------------------------------------------
// The checks, one per question, each run on both backends.
// ---------------------------------------------------------------------------------------------

async fn question_8_responsibility(db: TestDatabase) {
    let l = load(&db, 7).await;
    let (read, head) = (&l.read, l.head);
    let ask = |park: u128, d: &str| {
        let park = id(park);
        let d = date(d);
        async move { read.responsibility().park(head, &park, d).await.unwrap() }
    };

    // Đồng An on 15 May 2025: the Bình Dương Board (since 2006-01-01), Hưng Thịnh (since 1996-11-14),
    // AG1 with its signed levels (7 days, from 2025-04-11).
    let r = ask(P_DA, "2025-05-15").await.unwrap();
    assert_eq!(r.park.code, "DONGAN-1");
    let a = r.assigned.as_ref().unwrap();
    assert_eq!(
        (a.authority.authority_id.as_str(), a.assigned_from),
        (id(A_BD).as_str(), date("2006-01-01"))
    );
    assert!(r.successions.is_empty());
    assert_eq!(r.responsible.as_ref().unwrap().authority_id, id(A_BD));
    let c = r.company.as_ref().unwrap();
    assert_eq!(
        (c.company.company_id.as_str(), c.assigned_from),
        (id(C_HT).as_str(), date("1996-11-14"))
    );
    let ag = r.agreement.as_ref().unwrap();
    assert_eq!(ag.agreement.agreement_id, id(AG1));
    assert_eq!(ag.agreement.document_no.as_deref(), Some("01/QCPH-BQL"));
    assert!(!ag.inherited);
    let l = ag.levels.as_ref().unwrap();
    assert_eq!(
        (
            l.effective_from,
            l.information_answer_days,
            l.amendment_no.as_deref()
        ),
        (date("2025-04-11"), 7, None)
    );

    // On 15 June the amendment (5 days from 1 June) applies.
    let r = ask(P_DA, "2025-06-15").await.unwrap();
    let l = r.agreement.unwrap().levels.unwrap();
    assert_eq!(
        (
            l.effective_from,
            l.information_answer_days,
            l.amendment_no.as_deref()
        ),
        (date("2025-06-01"), 5, Some("01/2025/SĐ"))
    );

    // On 10 August the city's Board has the park (since 28 July); its own regulation starts 1 September,
    // so AG1 applies, inherited from the Bình Dương Board it succeeded.
    let r = ask(P_DA, "2025-08-10").await.unwrap();
    assert_eq!(
        r.assigned.as_ref().unwrap().authority.authority_id,
        id(A_HCM)
    );
    assert_eq!(
        r.assigned.as_ref().unwrap().assigned_from,
        date("2025-07-28")
    );
    assert!(r.successions.is_empty());
    let ag = r.agreement.unwrap();
    assert_eq!(
        (ag.agreement.agreement_id.as_str(), ag.inherited),
        (id(AG1).as_str(), true)
    );

    // On 15 September: AG3, the city's own (3 days), AG1 being superseded from 1 September.
    let r = ask(P_DA, "2025-09-15").await.unwrap();
    let ag = r.agreement.unwrap();
    assert_eq!(
        (ag.agreement.agreement_id.as_str(), ag.inherited),
        (id(AG3).as_str(), false)
    );
    assert_eq!(ag.levels.unwrap().information_answer_days, 3);
    // AG1 itself records its replacement.
    let r = ask(P_DA, "2025-08-31").await.unwrap();
    let ag = r.agreement.unwrap().agreement;
    assert_eq!(
        (ag.superseded_by, ag.superseded_from),
        (Some(id(AG3)), Some(date("2025-09-01")))
    );

    // Mỹ Phước 3 was never re-assigned: on 10 August its assigned Board had ceased (28 July) and the
    // city's Board is named as its successor; AG2 (schema v1, effective on its signing, 15 April)
    // still governs Becamex, inherited.
    let r = ask(P_MP3, "2025-08-10").await.unwrap();
    assert_eq!(
        r.assigned.as_ref().unwrap().authority.authority_id,
        id(A_BD)
    );
    assert_eq!(r.successions.len(), 1);
    let s = &r.successions[0];
    assert_eq!(s.authority_id, id(A_BD));
    assert_eq!(s.successor_id.as_deref(), Some(id(A_HCM).as_str()));
    assert_eq!(s.succeeded_on, Some(date("2025-07-28")));
    assert_eq!(
        s.succession_basis.as_deref(),
        Some("Nghị quyết 1685/NQ-UBTVQH15")
    );
    let resp = r.responsible.unwrap();
    assert_eq!(resp.authority_id, id(A_HCM));
    assert_eq!(
        resp.name,
        "Ban quản lý các khu chế xuất và công nghiệp Thành phố Hồ Chí Minh"
    );
    let ag = r.agreement.unwrap();
    assert_eq!(
        (ag.agreement.agreement_id.as_str(), ag.inherited),
        (id(AG2).as_str(), true)
    );
    assert_eq!(ag.agreement.effective_from, date("2025-04-15"));
    // The day before the succession, the Board was still in office.
    let r = ask(P_MP3, "2025-07-27").await.unwrap();
    assert!(r.successions.is_empty());
    assert_eq!(r.responsible.unwrap().authority_id, id(A_BD));
    assert!(!r.agreement.unwrap().inherited);

    // In 2005 the company ran Đồng An (since 1996) but no Board had it yet, and no agreement existed.
    let r = ask(P_DA, "2005-06-01").await.unwrap();
    assert!(r.assigned.is_none());
    assert_eq!(r.company.unwrap().company.company_id, id(C_HT));
    assert!(r.agreement.is_none());
    // An unknown park.
    assert!(ask(0x99, "2025-05-15").await.is_none());
}

async fn question_6_exchanges(db: TestDatabase) {
    let l = load(&db, 5).await;
    let (read, head) = (&l.read, l.head);
    let list = |company: Option<u128>,
                year: Option<i32>,
                as_of: &str,
                after: Option<LateRequestCursor>,
                n: u32| {
        let filter = LateRequestFilter {
            company_id: company.map(id),
            year,
            park_id: None,
            as_of: at(as_of),
        };
        async move {
            read.exchanges()
                .late_requests(head, &filter, after.as_ref(), n)
                .await
                .unwrap()
        }
    };
    let ids = |rows: &[kcn_projections::models::exchanges::LateRequest]| {
        rows.iter()
            .map(|r| r.exchange_id.clone())
            .collect::<Vec<_>>()
    };

    // Hưng Thịnh, 2025, as of 1 October: E1 (due_at passed) and E5 (inherited AG1, 5 days). E2 was
    // answered on its due day (23:30 local), E7 predates every agreement.
    let rows = list(Some(C_HT), Some(2025), "2025-10-01T00:00:00Z", None, 50).await;
    assert_eq!(ids(&rows), [id(E1), id(E5)]);
    let e1 = &rows[0];
    assert_eq!(
        (e1.lateness, e1.due_source.as_str()),
        (Lateness::AnsweredLate, "request")
    );
    // Due 10 May 10:00Z = 17:00 local on 10 May; answered on 12 May local: 2 days.
    assert_eq!((e1.due_on, e1.days_late), (Some(date("2025-05-10")), 2));
    assert_eq!(e1.late_from, "2025-05-10T10:00:00.000001Z");
    let e5 = &rows[1];
    // 5 August + 5 days = 10 August; late from 10 August 17:00Z; answered 11 August: 1 day.
    assert_eq!(
        (
            e5.due_source.as_str(),
            e5.agreement_id.as_deref(),
            e5.answer_days
        ),
        ("agreement", Some(id(AG1).as_str()), Some(5))
    );
    assert_eq!(
        (e5.due_on, e5.days_late, e5.lateness),
        (Some(date("2025-08-10")), 1, Lateness::AnsweredLate)
    );
    assert_eq!(e5.late_from, "2025-08-10T17:00:00.000000Z");
    assert_eq!(e5.authority_id.as_deref(), Some(id(A_HCM).as_str()));

    // VSIP: E9 (company from the park, AG1 7 days: due 27 May, answered 28 May, 1 day) then E3 (VSIP
    // asked the Board, AG1 amended to 5 days: 3 + 5 = 8 June, answered 9 June, 1 day). E6 was
    // withdrawn unanswered after its due time: not open as of October.
    let rows = list(Some(C_VSIP), None, "2025-10-01T00:00:00Z", None, 50).await;
    assert_eq!(ids(&rows), [id(E9), id(E3)]);
    assert_eq!(
        (rows[0].due_on, rows[0].days_late, rows[0].answer_days),
        (Some(date("2025-05-27")), 1, Some(7))
    );
    assert_eq!(
        (rows[1].due_on, rows[1].days_late, rows[1].answer_days),
        (Some(date("2025-06-08")), 1, Some(5))
    );
    // As of 22 June 00:00Z, E6 was open past its due time (20 June local): 22 − 20 = 2 days.
    let rows = list(Some(C_VSIP), Some(2025), "2025-06-22T00:00:00Z", None, 50).await;
    assert_eq!(ids(&rows), [id(E9), id(E3), id(E6)]);
    assert_eq!(
        (rows[2].lateness, rows[2].days_late),
        (Lateness::OpenPastDue, 2)
    );

    // Becamex: E8 was recorded before AG2, and judged again when AG2 arrived: 20 April + 10 = 30
    // April; open as of 1 October (local 1 October): 31 + 30 + 31 + 31 + 30 + 1 = 154 days. E4:
    // 1 July + 10 = 11 July; 20 + 31 + 31 + 20 = 82 days.
    let rows = list(Some(C_BCM), Some(2025), "2025-10-01T00:00:00Z", None, 50).await;
    assert_eq!(ids(&rows), [id(E8), id(E4)]);
    assert_eq!(
        (rows[0].lateness, rows[0].due_on, rows[0].days_late),
        (Lateness::OpenPastDue, Some(date("2025-04-30")), 154)
    );
    assert_eq!(
        (rows[1].due_on, rows[1].days_late),
        (Some(date("2025-07-11")), 82)
    );
    // E4 at 11 July 12:00Z (19:00 local) is not late yet; at 17:00Z (midnight local) it is, by 1 day.
    let rows = list(Some(C_BCM), Some(2025), "2025-07-11T12:00:00Z", None, 50).await;
    assert_eq!(ids(&rows), [id(E8)]);
    let rows = list(Some(C_BCM), Some(2025), "2025-07-11T17:00:00Z", None, 50).await;
    assert_eq!(ids(&rows), [id(E8), id(E4)]);
    assert_eq!(rows[1].days_late, 1);

    // Everything in 2025, in request order, two pages of 4 and 2.
    let page = list(None, Some(2025), "2025-10-01T00:00:00Z", None, 4).await;
    assert_eq!(ids(&page), [id(E8), id(E1), id(E9), id(E3)]);
    let last = page.last().unwrap();
    let cursor = LateRequestCursor {
        requested_at: last.requested_at.clone(),
        exchange_id: last.exchange_id.clone(),
    };
    let page = list(None, Some(2025), "2025-10-01T00:00:00Z", Some(cursor), 4).await;
    assert_eq!(ids(&page), [id(E4), id(E5)]);
    // Nothing in 2024.
    assert!(
        list(None, Some(2024), "2025-10-01T00:00:00Z", None, 50)
            .await
            .is_empty()
    );
}

async fn question_4_consultations(db: TestDatabase) {
    let l = load(&db, 3).await;
    let (read, head) = (&l.read, l.head);
    let list = |filter: ConsultationFilter, after: Option<ConsultationCursor>, n: u32| async move {
        read.consultations()
            .list(head, &filter, after.as_ref(), n)
            .await
            .unwrap()
    };
    let ids = |rows: &[kcn_projections::models::consultations::ConsultationRow]| {
        rows.iter()
            .map(|r| r.consultation_id.clone())
            .collect::<Vec<_>>()
    };
    let code = |c: &str| {
        Some(VsicCode {
            code: c.to_owned(),
            version: "2018".to_owned(),
        })
    };

    // Đồng An, in opening order.
    let rows = list(
        ConsultationFilter {
            park_id: Some(id(P_DA)),
            ..Default::default()
        },
        None,
        50,
    )
    .await;
    assert_eq!(ids(&rows), [id(K1), id(K2), id(K3), id(K4)]);
    let days: Vec<Option<i64>> = rows.iter().map(|r| r.days_to_decision).collect();
    // 12 − 2 = 10; 21 − 5 = 16 (determined 01:00 local on the 21st); 10 − 2 = 8; 20 − 3 = 17.
    assert_eq!(days, [Some(10), Some(16), Some(8), Some(17)]);
    let flags: Vec<(bool, bool, bool)> = rows
        .iter()
        .map(|r| (r.excluded_by.is_some(), r.pollution_exceeds, r.flagged))
        .collect();
    assert_eq!(
        flags,
        [
            (false, false, false),
            (true, false, true),
            (false, true, false),
            (false, true, true)
        ]
    );
    let k2 = &rows[1];
    assert_eq!(k2.excluded_by, code("20"));
    assert_eq!(k2.determination.as_deref(), Some("SUITABILITY_SUITABLE"));
    assert_eq!(k2.decided_on, Some(date("2025-05-21")));
    assert_eq!(k2.rules_effective_from, Some(date("2025-01-01")));
    // 2023 is outside the allowed 16, 25, 26 as well.
    assert!(k2.outside_allowed);
    assert!(!rows[0].outside_allowed);
    assert_eq!(
        rows[3].highest_allowed.as_deref(),
        Some("POLLUTION_LEVEL_II")
    );
    assert_eq!(rows[3].pollution_level, "POLLUTION_LEVEL_I");
    assert_eq!(rows[0].conditions, ["pre-treat to column B"]);

    // By code: 20 covers 2023 only; section C covers every manufacturing code here (10 to 33).
    let rows = list(
        ConsultationFilter {
            vsic_code: code("20"),
            ..Default::default()
        },
        None,
        50,
    )
    .await;
    assert_eq!(ids(&rows), [id(K2)]);
    let rows = list(
        ConsultationFilter {
            vsic_code: code("C"),
            ..Default::default()
        },
        None,
        50,
    )
    .await;
    assert_eq!(ids(&rows), [id(K6), id(K1), id(K2), id(K3), id(K4), id(K5)]);
    let rows = list(
        ConsultationFilter {
            vsic_code: code("1079"),
            park_id: Some(id(P_VSIP)),
            ..Default::default()
        },
        None,
        50,
    )
    .await;
    assert_eq!(ids(&rows), [id(K6), id(K5)]);
    assert_eq!(rows[0].withdrawn_on, Some(date("2025-05-03")));
    assert!(rows[0].determination.is_none());

    // Flagged: K2 (excluded), K4 (level I over II), and K5, judged again when VSIP's rules arrived.
    let rows = list(
        ConsultationFilter {
            only_flagged: true,
            ..Default::default()
        },
        None,
        50,
    )
    .await;
    assert_eq!(ids(&rows), [id(K2), id(K4), id(K5)]);
    assert_eq!(rows[2].excluded_by, code("10"));
    assert_eq!(rows[2].rules_effective_from, Some(date("2025-06-01")));

    // By determination, paged one at a time.
    let f = ConsultationFilter {
        determination: Some(Suitability::Suitable),
        ..Default::default()
    };
    let first = list(f.clone(), None, 1).await;
    assert_eq!(ids(&first), [id(K2)]);
    let cursor = ConsultationCursor {
        opened_at: first[0].opened_at.clone(),
        consultation_id: first[0].consultation_id.clone(),
    };
    let second = list(f.clone(), Some(cursor), 1).await;
    assert_eq!(ids(&second), [id(K5)]);
}

async fn question_9_annual_reports(db: TestDatabase) {
    let l = load(&db, 4).await;
    let (read, head) = (&l.read, l.head);
    let due = ReportDueDays::default();
    let list = |year: i32,
                filer: Option<Filer>,
                park: Option<u128>,
                as_of: &str,
                after: Option<AnnualReportCursor>,
                n: u32| {
        let filter = AnnualReportFilter {
            year,
            filer,
            park_id: park.map(id),
            as_of: date(as_of),
        };
        async move {
            read.annual_reports()
                .late(head, &due, &filter, after.as_ref(), n)
                .await
                .unwrap()
        }
    };
    let brief = |rows: &[LateAnnualReport]| {
        rows.iter()
            .map(|r| (r.filer, r.subject_id.clone(), r.lateness, r.days_late))
            .collect::<Vec<_>>()
    };

    // 2024 as of 1 March 2025: parks first (kind "park" < "tenant"), by id. VSIP filed on 3 February:
    // 3 Feb − 20 Jan = 14 days. Mỹ Phước 3 never filed: 1 March − 20 January = 11 + 28 + 1 = 40 days.
    // T2 filed on 16 January (15 January 20:00Z): 1 day. T3 registered in 2025 owes nothing for 2024.
    let rows = list(2024, None, None, "2025-03-01", None, 50).await;
    assert_eq!(
        brief(&rows),
        [
            (Filer::Park, id(P_VSIP), ReportLateness::FiledLate, 14),
            (Filer::Park, id(P_MP3), ReportLateness::NotFiled, 40),
            (Filer::Tenant, id(T2), ReportLateness::FiledLate, 1),
        ]
    );
    assert_eq!(rows[0].submitted_on, Some(date("2025-02-03")));
    assert_eq!(rows[0].due_on, date("2025-01-20"));
    assert_eq!(rows[0].company_id.as_deref(), Some(id(C_VSIP).as_str()));
    // The company that owed Mỹ Phước 3's report: the one running it on 31 December 2024.
    assert_eq!(rows[1].company_id.as_deref(), Some(id(C_BCM).as_str()));
    assert_eq!(rows[2].due_on, date("2025-01-15"));

    // As of 15 January nothing is late yet (T2's report came on the 16th; parks are due the 20th);
    // as of the 16th T2's is; as of the 18th still only T2's.
    assert!(
        list(2024, None, None, "2025-01-15", None, 50)
            .await
            .is_empty()
    );
    assert_eq!(
        brief(&list(2024, None, None, "2025-01-16", None, 50).await),
        [(Filer::Tenant, id(T2), ReportLateness::FiledLate, 1)]
    );
    assert_eq!(
        brief(&list(2024, None, None, "2025-01-18", None, 50).await),
        [(Filer::Tenant, id(T2), ReportLateness::FiledLate, 1)]
    );
    // As of 25 January VSIP had not filed yet: 25 − 20 = 5 days.
    let rows = list(2024, Some(Filer::Park), None, "2025-01-25", None, 50).await;
    assert_eq!(
        brief(&rows),
        [
            (Filer::Park, id(P_VSIP), ReportLateness::NotFiled, 5),
            (Filer::Park, id(P_MP3), ReportLateness::NotFiled, 5),
        ]
    );
    assert_eq!(rows[0].submitted_on, None);
    // Đồng An filed on time, and so did its tenant.
    assert!(
        list(2024, None, Some(P_DA), "2025-03-01", None, 50)
            .await
            .is_empty()
    );

    // 2025 as of 1 February 2026: only T1 has filed (on time); everyone else is missing, in pages of 3.
    let page = list(2025, None, None, "2026-02-01", None, 3).await;
    assert_eq!(
        brief(&page),
        [
            (Filer::Park, id(P_DA), ReportLateness::NotFiled, 12),
            (Filer::Park, id(P_VSIP), ReportLateness::NotFiled, 12),
            (Filer::Park, id(P_MP3), ReportLateness::NotFiled, 12),
        ]
    );
    let last = page.last().unwrap();
    let cursor = AnnualReportCursor {
        filer: last.filer,
        subject_id: last.subject_id.clone(),
    };
    let page = list(2025, None, None, "2026-02-01", Some(cursor), 3).await;
    // Tenants are due 15 January: 1 February − 15 January = 17 days.
    assert_eq!(
        brief(&page),
        [
            (Filer::Tenant, id(T2), ReportLateness::NotFiled, 17),
            (Filer::Tenant, id(T3), ReportLateness::NotFiled, 17),
        ]
    );
}

async fn question_10_procedures(db: TestDatabase) {
    let l = load(&db, 6).await;
    let (read, head) = (&l.read, l.head);
    let split = date("2025-07-01");
    let all = read
        .procedures()
        .processing_times(head, split, None, None, 50)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let a = &all[0];
    assert_eq!(a.procedure_code, "1.004227");
    // Before: 5, 3, 9 working days → median 5.
    assert_eq!(
        (
            a.before.decided,
            a.before.median_days.as_deref(),
            a.before.min_days,
            a.before.max_days
        ),
        (3, Some("5"), Some(3), Some(9))
    );
    // After (received on or after 1 July local, the 30 June 18:00Z one included): 3, 3, 4, 4 →
    // (3 + 4) / 2 = 3.5. The undecided dossier counts nowhere.
    assert_eq!(
        (
            a.after.decided,
            a.after.median_days.as_deref(),
            a.after.min_days,
            a.after.max_days
        ),
        (4, Some("3.5"), Some(3), Some(4))
    );
    let b = &all[1];
    assert_eq!(b.procedure_code, "2.000584");
    // 12 and 7 → 9.5; nothing after.
    assert_eq!(
        (b.before.decided, b.before.median_days.as_deref()),
        (2, Some("9.5"))
    );
    assert_eq!((b.after.decided, b.after.median_days.as_deref()), (0, None));

    // Split on 1 April instead: before, only the 3 March dossier (5); after 3, 9, 3, 3, 4, 4, that is
    // 3 3 3 4 4 9 → (3 + 4) / 2 = 3.5.
    let a = &read
        .procedures()
        .processing_times(head, date("2025-04-01"), Some("1.004227"), None, 50)
        .await
        .unwrap()[0];
    assert_eq!(
        (a.before.decided, a.before.median_days.as_deref()),
        (1, Some("5"))
    );
    assert_eq!(
        (a.after.decided, a.after.median_days.as_deref()),
        (6, Some("3.5"))
    );

    // Pages of one code.
    let first = read
        .procedures()
        .processing_times(head, split, None, None, 1)
        .await
        .unwrap();
    assert_eq!(first[0].procedure_code, "1.004227");
    let second = read
        .procedures()
        .processing_times(head, split, None, Some("1.004227"), 1)
        .await
        .unwrap();
    assert_eq!(second[0].procedure_code, "2.000584");
    assert!(
        read.procedures()
            .processing_times(head, split, None, Some("2.000584"), 1)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A rebuild replays the log in one pass into a new generation of the named models' tables, beside
/// the live ones (fed one event per step), and switches to it: the answers are the same, and the
/// other models keep their generation.
async fn a_rebuild_gives_the_same_answers(db: TestDatabase) {
    let l = load(&db, 1).await;
    let (read, head) = (&l.read, l.head);
    let f = ConsultationFilter::default();
    let consultations = read
        .consultations()
        .list(head, &f, None, 100)
        .await
        .unwrap();
    assert_eq!(consultations.len(), 6);
    let late = LateRequestFilter {
        company_id: None,
        year: None,
        park_id: None,
        as_of: at("2025-10-01T00:00:00Z"),
    };
    let requests = read
        .exchanges()
        .late_requests(head, &late, None, 100)
        .await
        .unwrap();
    assert_eq!(requests.len(), 6);

    let names = [ConsultationsModel::NAME, ExchangesModel::NAME];
    let rebuilt = read.engine().rebuild(&names, &|_, _| {}).await.unwrap();
    let switched: Vec<_> = rebuilt
        .iter()
        .map(|r| (r.name, r.previous.clone(), r.generation.clone(), r.position))
        .collect();
    assert_eq!(
        switched,
        [
            (names[0], Generation(1), Generation(2), head),
            (names[1], Generation(1), Generation(2), head),
        ]
    );
    for name in names {
        assert_eq!(read.engine().generation(name).await.unwrap(), Generation(2));
        assert_eq!(read.engine().checkpoint(name).await.unwrap(), (head, head));
    }
    assert_eq!(
        read.engine().generation("responsibility").await.unwrap(),
        Generation(1)
    );
    assert_eq!(
        read.consultations()
            .list(head, &f, None, 100)
            .await
            .unwrap(),
        consultations
    );
    assert_eq!(
        read.exchanges()
            .late_requests(head, &late, None, 100)
            .await
            .unwrap(),
        requests
    );
}

macro_rules! on_both_backends {
    ($($check:ident => $sqlite:ident, $postgres:ident;)+) => {$(
        #[tokio::test]
        async fn $sqlite() {
            $check(TestDatabase::sqlite()).await;
        }

        #[tokio::test]
        async fn $postgres() {
            if let Some(db) = TestDatabase::postgres(stringify!($postgres)).await {
                $check(db).await;
            }
        }
    )+};
}

on_both_backends! {
    question_8_responsibility =>
        responsibility_names_authority_company_agreement_and_successor_on_sqlite,
        responsibility_names_authority_company_agreement_and_successor_on_postgres;
    question_6_exchanges =>
        late_and_overdue_requests_are_found_by_company_and_year_on_sqlite,
        late_and_overdue_requests_are_found_by_company_and_year_on_postgres;
    question_4_consultations =>
        favourable_determinations_the_park_rules_exclude_are_flagged_on_sqlite,
        favourable_determinations_the_park_rules_exclude_are_flagged_on_postgres;
    question_9_annual_reports =>
        late_and_missing_annual_reports_are_listed_by_year_on_sqlite,
        late_and_missing_annual_reports_are_listed_by_year_on_postgres;
    question_10_procedures =>
        median_processing_days_split_by_received_date_on_sqlite,
        median_processing_days_split_by_received_date_on_postgres;
    a_rebuild_gives_the_same_answers =>
        a_rebuild_in_a_new_generation_gives_the_same_answers_on_sqlite,
        a_rebuild_in_a_new_generation_gives_the_same_answers_on_postgres;
}
