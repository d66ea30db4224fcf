//! The read models of audit questions 4, 6, 8, 9 and 10 on both backends: a realistic history of the
//! Bình Dương parks (three parks, three companies, the July 2025 succession of the province's Board by
//! the city's, agreements with their own answer days and an amendment, consultations, information
//! requests, annual reports and dossiers) is applied to each model through sqlx's `Any` driver, on a
//! SQLite file and on a fresh PostgreSQL database, and every answer is checked against values
//! computed by hand (the arithmetic is in the comments).
//!
//! The events are built as the server stores them (payloads are the proto3 JSON of `events.proto`),
//! and some are deliberately in an order the log allows but business time does not follow: rules and
//! agreements recorded after the facts they govern.
//!
//! PostgreSQL needs `KCN_TEST_DATABASE_URL` (a server URL whose user may create databases, for
//! example `postgres://postgres@127.0.0.1:5432/postgres`); without it the PostgreSQL tests fail,
//! unless `KCN_TEST_SKIP_POSTGRES=1`, which skips them with a printed note.

use std::collections::HashMap;
use std::io::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use kcn_domain::consultation::Suitability;
use kcn_domain::values::VsicCode;
use kcn_eventstore::StoredEvent;
use kcn_projections::models::annual_reports::{
    AnnualReportCursor, AnnualReportFilter, AnnualReportsModel, Filer, LateAnnualReport,
    ReportDueDays, ReportLateness, late_annual_reports,
};
use kcn_projections::models::consultations::{
    ConsultationCursor, ConsultationFilter, ConsultationsModel, list_consultations,
};
use kcn_projections::models::exchanges::{
    ExchangesModel, LateRequestCursor, LateRequestFilter, Lateness, late_requests,
};
use kcn_projections::models::procedures::{ProceduresModel, processing_times};
use kcn_projections::models::responsibility::{ResponsibilityModel, park_responsibility};
use kcn_projections::models::{Generation, ReadModel};
use serde_json::{Value, json};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe, Connection as _};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Databases.
// ---------------------------------------------------------------------------------------------

fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "note: {message}");
}

/// A fresh database of one test, reached through the `Any` driver; a PostgreSQL one is dropped with it.
struct TestDb {
    pool: AnyPool,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    async fn sqlite() -> Self {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("read.db").display());
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        Self {
            pool,
            _dir: Some(dir),
            postgres: None,
        }
    }

    async fn postgres(test: &str) -> Option<Self> {
        sqlx::any::install_default_drivers();
        let server_url = match std::env::var("KCN_TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var("KCN_TEST_SKIP_POSTGRES").as_deref() == Ok("1") => {
                note(&format!(
                    "skipping {test}: KCN_TEST_DATABASE_URL is unset and KCN_TEST_SKIP_POSTGRES=1"
                ));
                return None;
            }
            _ => panic!(
                "KCN_TEST_DATABASE_URL is not set: the PostgreSQL read-model tests need a server URL \
                 whose user may create databases (for example \
                 postgres://postgres@127.0.0.1:5432/postgres); set KCN_TEST_SKIP_POSTGRES=1 to skip \
                 them deliberately"
            ),
        };
        let name = format!("kcn_test_{}", Uuid::now_v7().simple());
        let mut admin = sqlx::AnyConnection::connect(&server_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to KCN_TEST_DATABASE_URL: {e}"));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .connect(&database_url(&server_url, &name))
            .await
            .unwrap();
        Some(Self {
            pool,
            _dir: None,
            postgres: Some((server_url, name)),
        })
    }
}

/// The URL of database `name` on the server of `server_url`.
fn database_url(server_url: &str, name: &str) -> String {
    let (scheme, rest) = server_url.split_once("://").expect("a postgres:// URL");
    let (main, query) = match rest.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (rest, None),
    };
    let authority = main.split_once('/').map_or(main, |(a, _)| a);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// Drops a PostgreSQL test database even when its test panicked, on a thread of its own with its own
/// connection (never the pool's: its connections belong to the test's runtime, which this thread
/// blocks); `WITH (FORCE)` ends the pool's sessions.
impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server_url, name)) = self.postgres.take() else {
            return;
        };
        let db_name = name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = sqlx::AnyConnection::connect(&server_url).await?;
                let dropped = sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map(|_| ());
                let _ = admin.close().await;
                dropped
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            note(&format!("could not drop the test database {name}"));
        }
    }
}

/// Creates a model's tables in generation `g` and applies the log to them in batches of `batch`
/// events, each in its own transaction, as a projector would.
async fn project(
    pool: &AnyPool,
    model: &dyn ReadModel,
    g: &Generation,
    log: &[StoredEvent],
    batch: usize,
) {
    for ddl in model.create(g) {
        sqlx::query(AssertSqlSafe(ddl)).execute(pool).await.unwrap();
    }
    for chunk in log.chunks(batch) {
        let mut tx = pool.begin().await.unwrap();
        model.apply(&mut tx, g, chunk).await.unwrap();
        tx.commit().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The history.
// ---------------------------------------------------------------------------------------------

fn id(n: u128) -> String {
    Uuid::from_u128(n).to_string()
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

/// The log under construction: positions and stream versions assigned in order.
#[derive(Default)]
struct Log {
    events: Vec<StoredEvent>,
    versions: HashMap<String, u64>,
}

fn canonical(t: &str) -> String {
    let t: DateTime<Utc> = t.parse().unwrap();
    kcn_integrity::leaf::format_timestamp(t)
}

impl Log {
    fn push(
        &mut self,
        aggregate_type: &str,
        aggregate: u128,
        event_type: &str,
        occurred_at: &str,
        payload: Value,
    ) {
        self.push_v(
            aggregate_type,
            aggregate,
            event_type,
            1,
            occurred_at,
            payload,
        );
    }

    fn push_v(
        &mut self,
        aggregate_type: &str,
        aggregate: u128,
        event_type: &str,
        schema_version: u32,
        occurred_at: &str,
        payload: Value,
    ) {
        let aggregate_id = id(aggregate);
        let version = self.versions.entry(aggregate_id.clone()).or_default();
        *version += 1;
        let position = self.events.len() as u64 + 1;
        self.events.push(StoredEvent {
            position,
            event_id: Uuid::now_v7(),
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id,
            aggregate_version: *version,
            event_type: event_type.to_owned(),
            schema_version,
            occurred_at: canonical(occurred_at),
            recorded_at: canonical("2025-10-01T00:00:00Z"),
            payload: serde_json::to_vec(&payload).unwrap(),
            metadata: b"{}".to_vec(),
        });
    }
}

fn levels(answer_days: u32) -> Value {
    json!({
        "incident_notification_hours": 2,
        "information_answer_days": answer_days,
        "infrastructure_information_days": 10,
        "consultation_answer_days": 15,
        "quarterly_report_due_day": 10
    })
}

fn authority(n: u128) -> Value {
    json!({"kind": "ORGANISATION_KIND_AUTHORITY", "id": id(n)})
}

fn company(n: u128) -> Value {
    json!({"kind": "ORGANISATION_KIND_INFRASTRUCTURE_COMPANY", "id": id(n)})
}

fn vsic(code: &str) -> Value {
    json!({"code": code, "version": "2018"})
}

/// The registry: boards, companies, parks with their jurisdictions and companies, agreements, the
/// succession.
fn registry(log: &mut Log) {
    for (n, name, kind, decision, from) in [
        (
            A_BD,
            "Ban quản lý các khu công nghiệp Bình Dương",
            "AUTHORITY_KIND_INDUSTRIAL_PARKS_BOARD",
            "QĐ-01/2006",
            "2006-01-01",
        ),
        (
            A_HCM,
            "Ban quản lý các khu chế xuất và công nghiệp Thành phố Hồ Chí Minh",
            "AUTHORITY_KIND_EXPORT_PROCESSING_AND_INDUSTRIAL_ZONES_BOARD",
            "QĐ-732/1992",
            "1992-01-01",
        ),
        (
            A_VT,
            "Ban quản lý các khu công nghiệp Bà Rịa - Vũng Tàu",
            "AUTHORITY_KIND_INDUSTRIAL_PARKS_BOARD",
            "QĐ-BRVT/1996",
            "1996-01-01",
        ),
    ] {
        log.push("Authority", n, "AuthorityEstablished", "2025-04-01T01:00:00Z", json!({
            "name": name, "kind": kind, "jurisdiction": "province", "decision_no": decision, "effective_from": from
        }));
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
        log.push(
            "InfrastructureCompany",
            n,
            "CompanyRegistered",
            "2025-04-01T01:10:00Z",
            json!({
                "enterprise_code": code, "name": name
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
        log.push(
            "Park",
            n,
            "ParkRegistered",
            "2025-04-01T01:20:00Z",
            json!({
                "code": code, "name": name, "area_ha": area, "location": place
            }),
        );
        log.push(
            "Park",
            n,
            "JurisdictionAssigned",
            "2025-04-01T01:30:00Z",
            json!({
                "authority_id": id(A_BD), "effective_from": "2006-01-01"
            }),
        );
        log.push(
            "Park",
            n,
            "InfrastructureCompanyAssigned",
            "2025-04-01T01:40:00Z",
            json!({
                "company_id": id(c), "effective_from": company_from
            }),
        );
    }
    // AG1: 7 days to answer from 11 April 2025; the amendment makes it 5 from 1 June.
    log.push_v("CoordinationAgreement", AG1, "AgreementSigned", 2, "2025-04-11T02:00:00Z", json!({
        "authority_id": id(A_BD), "company_ids": [id(C_HT), id(C_VSIP)], "version": "2025",
        "title": "Quy chế phối hợp bảo vệ môi trường tại các khu công nghiệp", "document_no": "01/QCPH-BQL",
        "signed_on": "2025-04-11", "effective_from": "2025-04-11", "document_sha256": "1f".repeat(32),
        "service_levels": levels(7)
    }));
    log.push("CoordinationAgreement", AG1, "AgreementAmended", "2025-05-20T02:00:00Z", json!({
        "amendment_no": "01/2025/SĐ", "service_levels": levels(5), "effective_from": "2025-06-01",
        "reason": "faster answers"
    }));
}

/// AG2 with Becamex, 10 days to answer: stored as schema version 1 (no `effective_from`, which the
/// upcaster reads as `signed_on`, 15 April 2025), and recorded after a request it governs.
fn becamex_agreement(log: &mut Log) {
    log.push_v(
        "CoordinationAgreement",
        AG2,
        "AgreementSigned",
        1,
        "2025-04-15T02:00:00Z",
        json!({
            "authority_id": id(A_BD), "company_ids": [id(C_BCM)], "version": "2025-BCM",
            "title": "Quy chế phối hợp với Becamex IDC", "signed_on": "2025-04-15",
            "document_sha256": "2e".repeat(32), "service_levels": levels(10)
        }),
    );
}

/// The merger: the Bình Dương and Vũng Tàu Boards are succeeded by the city's on 28 July 2025; Đồng An
/// and VSIP I move to the city's Board, Mỹ Phước 3 is (in this history) never re-assigned. The city
/// signs its own regulation (3 days to answer) effective 1 September, which replaces AG1.
fn merger(log: &mut Log) {
    for n in [A_BD, A_VT] {
        log.push(
            "Authority",
            n,
            "AuthoritySucceeded",
            "2025-07-28T03:00:00Z",
            json!({
                "predecessors": [id(A_BD), id(A_VT)], "successor": id(A_HCM),
                "effective_date": "2025-07-28", "legal_basis": "Nghị quyết 1685/NQ-UBTVQH15"
            }),
        );
    }
    for p in [P_DA, P_VSIP] {
        log.push(
            "Park",
            p,
            "JurisdictionAssigned",
            "2025-07-28T04:00:00Z",
            json!({
                "authority_id": id(A_HCM), "effective_from": "2025-07-28"
            }),
        );
    }
    log.push_v("CoordinationAgreement", AG3, "AgreementSigned", 2, "2025-08-20T02:00:00Z", json!({
        "authority_id": id(A_HCM), "company_ids": [id(C_HT), id(C_VSIP)], "version": "2025-HCM",
        "title": "Quy chế phối hợp của Thành phố Hồ Chí Minh", "signed_on": "2025-08-20",
        "effective_from": "2025-09-01", "document_sha256": "3d".repeat(32), "service_levels": levels(3)
    }));
    log.push(
        "CoordinationAgreement",
        AG1,
        "AgreementSuperseded",
        "2025-08-20T03:00:00Z",
        json!({
            "by": id(AG3), "effective_from": "2025-09-01"
        }),
    );
}

fn request(
    log: &mut Log,
    n: u128,
    at: &str,
    from: Value,
    to: Value,
    park: Option<u128>,
    due_at: Option<&str>,
) {
    let mut p = json!({"from": from, "to": to, "subject": format!("request {n:#x}"), "body": "Please report."});
    if let Some(park) = park {
        p["park_id"] = json!(id(park));
    }
    if let Some(due) = due_at {
        p["due_at"] = json!(due);
    }
    log.push("InformationExchange", n, "InformationRequested", at, p);
}

fn answer(log: &mut Log, n: u128, at: &str) {
    log.push(
        "InformationExchange",
        n,
        "InformationProvided",
        at,
        json!({"body": "Answered."}),
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

fn exchanges(log: &mut Log) {
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
    log.push(
        "InformationExchange",
        E2,
        "ClarificationRequested",
        "2025-05-12T02:00:00Z",
        json!({"question": "Which month?"}),
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
    log.push(
        "InformationExchange",
        E6,
        "ExchangeWithdrawn",
        "2025-06-25T02:00:00Z",
        json!({"reason": "no longer needed"}),
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

/// Consultations at Đồng An and VSIP I.
fn consultations(log: &mut Log) {
    // Đồng An's rules from 1 January 2025: wood, metal, electronics; not chemicals (20); up to level II.
    log.push(
        "Park",
        P_DA,
        "ParkIndustryRulesSet",
        "2025-04-20T02:00:00Z",
        json!({
            "allowed_vsic_codes": [vsic("16"), vsic("25"), vsic("26")],
            "excluded_vsic_codes": [vsic("20")],
            "highest_pollution_level": "POLLUTION_LEVEL_II",
            "effective_from": "2025-01-01",
            "legal_basis": "QĐ 1234/QĐ-UBND quy hoạch KCN Đồng An"
        }),
    );
    let open = |log: &mut Log, n: u128, park: u128, c: u128, code: &str, level: &str, at: &str| {
        log.push("IndustryConsultation", n, "ConsultationOpened", at, json!({
            "park_id": id(park), "company_id": id(c), "prospective_investor": format!("Investor {n:#x}"),
            "vsic_code": vsic(code), "pollution_level": level,
            "capacity": {"value": "12000", "unit": "tonnes/year"}
        }));
    };
    let determine = |log: &mut Log, n: u128, d: &str, at: &str, on: &str| {
        let conditions: Vec<&str> = if d == "SUITABILITY_CONDITIONAL" {
            vec!["pre-treat to column B"]
        } else {
            vec![]
        };
        log.push("IndustryConsultation", n, "SuitabilityDetermined", at, json!({
            "determination": d, "conditions": conditions, "rationale": "See the file.",
            "legal_basis": "Nghị định 35/2022/NĐ-CP", "decided_on": on, "document_no": format!("{n}/BQL-MT")
        }));
    };
    // K6 at VSIP, 1 May, withdrawn 3 May.
    open(
        log,
        K6,
        P_VSIP,
        C_VSIP,
        "1079",
        "POLLUTION_LEVEL_III",
        "2025-05-01T02:00:00Z",
    );
    log.push(
        "IndustryConsultation",
        K6,
        "ConsultationWithdrawn",
        "2025-05-03T02:00:00Z",
        json!({"reason": "investor left"}),
    );
    // K1: sawmill (1610, level II) opened 2 May, conditional on 12 May: 10 days, within the rules.
    open(
        log,
        K1,
        P_DA,
        C_HT,
        "1610",
        "POLLUTION_LEVEL_II",
        "2025-05-02T02:00:00Z",
    );
    determine(
        log,
        K1,
        "SUITABILITY_CONDITIONAL",
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
        "POLLUTION_LEVEL_II",
        "2025-05-05T09:00:00Z",
    );
    determine(
        log,
        K2,
        "SUITABILITY_SUITABLE",
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
        "POLLUTION_LEVEL_I",
        "2025-06-02T02:00:00Z",
    );
    determine(
        log,
        K3,
        "SUITABILITY_UNSUITABLE",
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
        "POLLUTION_LEVEL_I",
        "2025-06-03T02:00:00Z",
    );
    determine(
        log,
        K4,
        "SUITABILITY_CONDITIONAL",
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
        "POLLUTION_LEVEL_III",
        "2025-06-05T02:00:00Z",
    );
    determine(
        log,
        K5,
        "SUITABILITY_SUITABLE",
        "2025-06-15T02:00:00Z",
        "2025-06-15",
    );
    log.push(
        "Park",
        P_VSIP,
        "ParkIndustryRulesSet",
        "2025-07-01T02:00:00Z",
        json!({
            "excluded_vsic_codes": [vsic("10")],
            "highest_pollution_level": "POLLUTION_LEVEL_II",
            "effective_from": "2025-06-01"
        }),
    );
}

const K1: u128 = 0x51;
const K2: u128 = 0x52;
const K3: u128 = 0x53;
const K4: u128 = 0x54;
const K5: u128 = 0x55;
const K6: u128 = 0x56;

/// Tenants and annual reports.
fn reports(log: &mut Log) {
    for (n, park, at, name) in [
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
        log.push("Tenant", n, "TenantRegistered", at, json!({
            "park_id": id(park), "enterprise_code": "3702345678", "name": name,
            "investment_registration_no": "9876543210", "vsic_codes": [vsic("1610")], "foreign_invested": true
        }));
    }
    let tenant = |log: &mut Log, n: u128, year: u32, at: &str, on: &str| {
        log.push(
            "Tenant",
            n,
            "AnnualEnvironmentalReportSubmitted",
            at,
            json!({"year": year, "submitted_on": on}),
        );
    };
    let park = |log: &mut Log, n: u128, c: u128, year: u32, at: &str, on: &str| {
        log.push(
            "Park",
            n,
            "ParkAnnualEnvironmentalReportSubmitted",
            at,
            json!({
                "year": year, "company_id": id(c), "submitted_on": on
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
fn dossiers(log: &mut Log) {
    let mut n = 0x60;
    let mut dossier = |log: &mut Log,
                       code: &str,
                       received_at: &str,
                       received_on: &str,
                       decided: Option<(&str, &str)>| {
        n += 1;
        log.push("AdministrativeProcedure", n, "DossierReceived", received_at, json!({
            "procedure_code": code, "authority_id": id(A_BD), "tenant_id": id(T1), "park_id": id(P_DA),
            "received_on": received_on, "promised_days": 15
        }));
        if let Some((at, on)) = decided {
            log.push(
                "AdministrativeProcedure",
                n,
                "DossierDecided",
                at,
                json!({
                    "outcome": "DOSSIER_OUTCOME_APPROVED", "decided_on": on
                }),
            );
        }
    };
    // 1.004227, before 1 July: 7, 5, 12 days.
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
    // After: received 30 June 18:00Z = 1 July local, decided 5 July: 4 days, on the "after" side.
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
    // 2.000584, before: 15 and 10 days.
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

fn history() -> Vec<StoredEvent> {
    let mut log = Log::default();
    registry(&mut log);
    exchanges(&mut log);
    consultations(&mut log);
    reports(&mut log);
    dossiers(&mut log);
    log.events
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The checks, one per question, each run on both backends.
// ---------------------------------------------------------------------------------------------

const G1: Generation = Generation(1);

async fn question_8_responsibility(db: TestDb) {
    let pool = &db.pool;
    project(pool, &ResponsibilityModel, &G1, &history(), 7).await;
    let ask = |park: u128, d: &str| {
        let park = id(park);
        let d = date(d);
        async move { park_responsibility(pool, &G1, &park, d).await.unwrap() }
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

async fn question_6_exchanges(db: TestDb) {
    let pool = &db.pool;
    project(pool, &ExchangesModel, &G1, &history(), 5).await;
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
            late_requests(pool, &G1, &filter, after.as_ref(), n)
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

async fn question_4_consultations(db: TestDb) {
    let pool = &db.pool;
    project(pool, &ConsultationsModel, &G1, &history(), 3).await;
    let list = |filter: ConsultationFilter, after: Option<ConsultationCursor>, n: u32| async move {
        list_consultations(pool, &G1, &filter, after.as_ref(), n)
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

async fn question_9_annual_reports(db: TestDb) {
    let pool = &db.pool;
    let model = AnnualReportsModel::default();
    project(pool, &model, &G1, &history(), 4).await;
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
            late_annual_reports(pool, &G1, &due, &filter, after.as_ref(), n)
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

async fn question_10_procedures(db: TestDb) {
    let pool = &db.pool;
    project(pool, &ProceduresModel, &G1, &history(), 6).await;
    let split = date("2025-07-01");
    let all = processing_times(pool, &G1, split, None, None, 50)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let a = &all[0];
    assert_eq!(a.procedure_code, "1.004227");
    // Before: 5, 7, 12 → median 7.
    assert_eq!(
        (
            a.before.decided,
            a.before.median_days.as_deref(),
            a.before.min_days,
            a.before.max_days
        ),
        (3, Some("7"), Some(5), Some(12))
    );
    // After (received on or after 1 July local, the 30 June 18:00Z one included): 3, 4, 4, 6 → (4 + 4) / 2
    // = 4. The undecided dossier counts nowhere.
    assert_eq!(
        (
            a.after.decided,
            a.after.median_days.as_deref(),
            a.after.min_days,
            a.after.max_days
        ),
        (4, Some("4"), Some(3), Some(6))
    );
    let b = &all[1];
    assert_eq!(b.procedure_code, "2.000584");
    // 10 and 15 → 12.5; nothing after.
    assert_eq!(
        (b.before.decided, b.before.median_days.as_deref()),
        (2, Some("12.5"))
    );
    assert_eq!((b.after.decided, b.after.median_days.as_deref()), (0, None));

    // Split on 1 April instead: before, only the 3 March dossier (7); after 5, 12, 4, 3, 6, 4, that is
    // 3 4 4 5 6 12 → (4 + 5) / 2 = 4.5.
    let a = &processing_times(pool, &G1, date("2025-04-01"), Some("1.004227"), None, 50)
        .await
        .unwrap()[0];
    assert_eq!(
        (a.before.decided, a.before.median_days.as_deref()),
        (1, Some("7"))
    );
    assert_eq!(
        (a.after.decided, a.after.median_days.as_deref()),
        (6, Some("4.5"))
    );

    // Pages of one code.
    let first = processing_times(pool, &G1, split, None, None, 1)
        .await
        .unwrap();
    assert_eq!(first[0].procedure_code, "1.004227");
    let second = processing_times(pool, &G1, split, None, Some("1.004227"), 1)
        .await
        .unwrap();
    assert_eq!(second[0].procedure_code, "2.000584");
    assert!(
        processing_times(pool, &G1, split, None, Some("2.000584"), 1)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A rebuild into a new generation, in other batch sizes, gives the same answers as the first.
async fn a_rebuild_gives_the_same_answers(db: TestDb) {
    let pool = &db.pool;
    let log = history();
    let g2 = Generation(2);
    project(pool, &ConsultationsModel, &G1, &log, 2).await;
    project(pool, &ConsultationsModel, &g2, &log, 500).await;
    let f = ConsultationFilter::default();
    assert_eq!(
        list_consultations(pool, &G1, &f, None, 100).await.unwrap(),
        list_consultations(pool, &g2, &f, None, 100).await.unwrap()
    );
    project(pool, &ExchangesModel, &G1, &log, 1).await;
    project(pool, &ExchangesModel, &g2, &log, 500).await;
    let f = LateRequestFilter {
        company_id: None,
        year: None,
        park_id: None,
        as_of: at("2025-10-01T00:00:00Z"),
    };
    let one = late_requests(pool, &G1, &f, None, 100).await.unwrap();
    assert_eq!(one.len(), 6);
    assert_eq!(one, late_requests(pool, &g2, &f, None, 100).await.unwrap());
}

macro_rules! on_both_backends {
    ($($check:ident => $sqlite:ident, $postgres:ident;)+) => {$(
        #[tokio::test]
        async fn $sqlite() {
            $check(TestDb::sqlite().await).await;
        }

        #[tokio::test]
        async fn $postgres() {
            if let Some(db) = TestDb::postgres(stringify!($postgres)).await {
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
