//! Recorded answers: every audit question, asked in many forms of the two realistic stories the audit
//! tests build (`audit_registry::story`, `audit_inspections::build`), answered exactly as recorded in
//! `tests/fixtures/golden/`. The answers were recorded from the read side before it was reshaped into
//! one engine, so the reshaped read side is held to answer exactly as the old one did.
//!
//! Ids and page tokens differ from run to run; everything else is deterministic (the test clock is
//! fixed, commands run one at a time). The dump replaces each UUID by `<uN>`, numbered in order of
//! first appearance; page tokens are followed, not recorded, and a refusal is recorded by its code only. To record a new answer after a
//! deliberate change, run with `KCN_BLESS=1` and review the diff of the fixture.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::audit_query_service_client::AuditQueryServiceClient;

use crate::harness::{TestServer, ts};

/// Asks every question a page at a time, following page tokens, and writes each page.
macro_rules! pages {
    ($out:expr, $head:expr, $label:expr, $client:expr, $method:ident, $req:expr, $items:ident) => {{
        let mut req = $req;
        req.page_size = 2;
        req.min_position = $head;
        loop {
            let answer = $client.$method(req.clone()).await;
            match answer {
                Ok(r) => {
                    let r = r.into_inner();
                    writeln!($out, "{} => {:#?}", $label, r.$items).unwrap();
                    if r.next_page_token.is_empty() {
                        break;
                    }
                    req.page_token = r.next_page_token.clone();
                }
                Err(status) => {
                    writeln!(
                        $out,
                        "{} => {:?} {}",
                        $label,
                        status.code(),
                        status.message()
                    )
                    .unwrap();
                    break;
                }
            }
        }
    }};
}

/// The aggregates of the log, by type, in log order.
async fn aggregates(server: &TestServer) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for e in server.read_log().await {
        if seen.insert((e.aggregate_type.clone(), e.aggregate_id.clone())) {
            out.push((e.aggregate_type, e.aggregate_id));
        }
    }
    out
}

fn of_type<'a>(all: &'a [(String, String)], t: &'a str) -> impl Iterator<Item = &'a String> + 'a {
    all.iter().filter(move |(k, _)| k == t).map(|(_, id)| id)
}

/// Asks every audit question in every form this test knows, and returns the answers as text.
async fn dump(server: &TestServer) -> String {
    let all = aggregates(server).await;
    let head = server.read_log().await.len() as u64;
    let q = || AuditQueryServiceClient::<Channel>::new(server.channel.clone());
    let audit = || server.audit();
    let mut out = String::new();
    let parks: Vec<&String> = of_type(&all, "Park").collect();
    let companies: Vec<&String> = of_type(&all, "InfrastructureCompany").collect();
    let tenants: Vec<&String> = of_type(&all, "Tenant").collect();

    // Question 1: every subject's whole timeline, and one filtered by time and kind.
    for (subject, ids) in [
        (proto::SubjectType::Park, &parks),
        (proto::SubjectType::Company, &companies),
        (proto::SubjectType::Tenant, &tenants),
    ] {
        for id in ids {
            for (from, types) in [
                (None, vec![]),
                (
                    Some(ts("2025-06-01T00:00:00Z")),
                    vec![
                        "FindingRecorded".to_owned(),
                        "InformationRequested".to_owned(),
                    ],
                ),
            ] {
                let req = proto::GetTimelineRequest {
                    subject_type: subject as i32,
                    subject_id: (*id).clone(),
                    from_time: from,
                    event_types: types,
                    ..Default::default()
                };
                pages!(
                    out,
                    head,
                    format!("Q1 {subject:?} {id}"),
                    audit(),
                    get_timeline,
                    req,
                    entries
                );
            }
        }
    }
    // Question 2.
    for id in &tenants {
        for as_of in ["", "2025-07-01", "2026-01-01"] {
            let req = proto::GetTenantInspectionRecordRequest {
                tenant_id: (*id).clone(),
                as_of_date: as_of.to_owned(),
                ..Default::default()
            };
            pages!(
                out,
                head,
                format!("Q2 {id} {as_of}"),
                q(),
                get_tenant_inspection_record,
                req,
                inspections
            );
        }
    }
    // Question 3.
    let mut filters = vec![(String::new(), String::new(), String::new())];
    filters.extend(
        parks
            .iter()
            .map(|p| ((*p).clone(), String::new(), String::new())),
    );
    filters.extend(
        companies
            .iter()
            .map(|c| (String::new(), (*c).clone(), String::new())),
    );
    filters.extend(
        tenants
            .iter()
            .map(|t| (String::new(), String::new(), (*t).clone())),
    );
    for (park, company, tenant) in &filters {
        for (from_year, to_year) in [(2024, 2026), (2025, 2025)] {
            let req = proto::ListRepeatedInspectionsRequest {
                from_year,
                to_year,
                park_id: park.clone(),
                company_id: company.clone(),
                tenant_id: tenant.clone(),
                ..Default::default()
            };
            pages!(
                out,
                head,
                format!("Q3 {from_year}-{to_year} {park}/{company}/{tenant}"),
                q(),
                list_repeated_inspections,
                req,
                entities
            );
        }
    }
    // Question 4.
    let mut consultation_filters: Vec<(String, bool)> = vec![(String::new(), false)];
    consultation_filters.push((String::new(), true));
    consultation_filters.extend(parks.iter().map(|p| ((*p).clone(), false)));
    for (park, only_flagged) in &consultation_filters {
        let req = proto::ListConsultationsRequest {
            park_id: park.clone(),
            only_flagged: *only_flagged,
            ..Default::default()
        };
        pages!(
            out,
            head,
            format!("Q4 {park} {only_flagged}"),
            q(),
            list_consultations,
            req,
            consultations
        );
    }
    for code in ["20", "2011", "10"] {
        let req = proto::ListConsultationsRequest {
            vsic_code: Some(proto::VsicCode {
                code: code.to_owned(),
                version: "2018".to_owned(),
            }),
            ..Default::default()
        };
        pages!(
            out,
            head,
            format!("Q4 vsic {code}"),
            q(),
            list_consultations,
            req,
            consultations
        );
    }
    // Question 5.
    for id in of_type(&all, "Incident") {
        for as_of in [None, Some(ts("2025-06-03T00:00:00Z"))] {
            let answer = q()
                .get_incident_timeline(proto::GetIncidentTimelineRequest {
                    incident_id: id.clone(),
                    as_of_time: as_of,
                    min_position: head,
                })
                .await;
            match answer {
                Ok(r) => writeln!(out, "Q5 {id} => {:#?}", r.into_inner()).unwrap(),
                Err(s) => writeln!(out, "Q5 {id} => {:?}", s.code()).unwrap(),
            }
        }
    }
    // Question 6.
    let mut exchange_filters = vec![(String::new(), 0, String::new())];
    exchange_filters.extend(companies.iter().map(|c| ((*c).clone(), 0, String::new())));
    exchange_filters.extend(
        companies
            .iter()
            .map(|c| ((*c).clone(), 2025, String::new())),
    );
    exchange_filters.extend(parks.iter().map(|p| (String::new(), 0, (*p).clone())));
    exchange_filters.push((String::new(), 2024, String::new()));
    for (company, year, park) in &exchange_filters {
        for as_of in ["2025-10-01T00:00:00Z", "2026-01-01T00:00:00Z"] {
            let req = proto::ListLateInformationRequestsRequest {
                company_id: company.clone(),
                year: *year,
                park_id: park.clone(),
                as_of: Some(ts(as_of)),
                ..Default::default()
            };
            pages!(
                out,
                head,
                format!("Q6 {company} {year} {park} {as_of}"),
                q(),
                list_late_information_requests,
                req,
                requests
            );
        }
    }
    // Question 7.
    let mut alert_filters = vec![String::new()];
    alert_filters.extend(parks.iter().map(|p| (*p).clone()));
    for park in &alert_filters {
        for within in [None, Some(1), Some(7), Some(30)] {
            for as_of in ["", "2026-01-01"] {
                let req = proto::ListUnfollowedAlertsRequest {
                    park_id: park.clone(),
                    within_days: within,
                    as_of_date: as_of.to_owned(),
                    ..Default::default()
                };
                pages!(
                    out,
                    head,
                    format!("Q7 {park} {within:?} {as_of}"),
                    q(),
                    list_unfollowed_alerts,
                    req,
                    alerts
                );
            }
        }
    }
    // Question 8.
    for park in &parks {
        for date in [
            "2006-01-01",
            "2025-04-15",
            "2025-06-30",
            "2025-07-01",
            "2025-07-28",
            "2025-12-31",
        ] {
            let answer = q()
                .get_park_responsibility(proto::GetParkResponsibilityRequest {
                    park_id: (*park).clone(),
                    date: date.to_owned(),
                    min_position: head,
                })
                .await;
            match answer {
                Ok(r) => writeln!(out, "Q8 {park} {date} => {:#?}", r.into_inner()).unwrap(),
                Err(s) => writeln!(out, "Q8 {park} {date} => {:?}", s.code()).unwrap(),
            }
        }
    }
    // Question 9.
    for year in [2023, 2024, 2025] {
        for filer in [
            proto::AnnualReportFiler::Unspecified,
            proto::AnnualReportFiler::Tenant,
            proto::AnnualReportFiler::Park,
        ] {
            for as_of in ["", "2025-03-01", "2026-02-01"] {
                let req = proto::ListLateAnnualReportsRequest {
                    year,
                    filer: filer as i32,
                    as_of_date: as_of.to_owned(),
                    ..Default::default()
                };
                pages!(
                    out,
                    head,
                    format!("Q9 {year} {filer:?} {as_of}"),
                    q(),
                    list_late_annual_reports,
                    req,
                    reports
                );
            }
        }
    }
    // Question 10.
    for split in ["2025-01-01", "2025-07-01", "2026-01-01"] {
        let req = proto::GetProcedureProcessingTimesRequest {
            split_date: split.to_owned(),
            ..Default::default()
        };
        pages!(
            out,
            head,
            format!("Q10 {split}"),
            q(),
            get_procedure_processing_times,
            req,
            procedures
        );
    }
    // Question 11: every aggregate as known now and at the middle of the log.
    for (kind, id) in &all {
        for at in [None, Some(head / 2)] {
            let answer = q()
                .get_aggregate_history(proto::GetAggregateHistoryRequest {
                    aggregate_type: kind.clone(),
                    aggregate_id: id.clone(),
                    known: at.map(proto::get_aggregate_history_request::Known::AtPosition),
                })
                .await;
            match answer {
                Ok(r) => writeln!(out, "Q11 {kind} {id} {at:?} => {:#?}", r.into_inner()).unwrap(),
                Err(s) => writeln!(out, "Q11 {kind} {id} {at:?} => {:?}", s.code()).unwrap(),
            }
        }
    }
    normalise(&out)
}

/// Replaces every UUID by `<uN>` in order of first appearance.
fn normalise(text: &str) -> String {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len()
            && let Ok(candidate) = std::str::from_utf8(&bytes[i..i + 36])
            && uuid::Uuid::try_parse(candidate).is_ok()
            && candidate.as_bytes()[8] == b'-'
        {
            let n = names.len() + 1;
            let n = *names.entry(candidate.to_owned()).or_insert(n);
            write!(out, "<u{n}>").unwrap();
            i += 36;
            continue;
        }
        let c = text[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(name)
}

/// Compares the answers with the recorded ones (or records them with `KCN_BLESS=1`).
fn check(name: &str, answers: &str) {
    let path = fixture(name);
    if std::env::var("KCN_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, answers).unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; record it with KCN_BLESS=1",
            path.display()
        )
    });
    if recorded != answers {
        let first = recorded
            .lines()
            .zip(answers.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| recorded.lines().count().min(answers.lines().count()));
        let around = |t: &str| -> String {
            t.lines()
                .skip(first.saturating_sub(5))
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{name}: the answers differ from the recorded ones from line {}:\n--- recorded\n{}\n--- now\n{}",
            first + 1,
            around(&recorded),
            around(answers)
        );
    }
}

#[tokio::test]
async fn the_registry_story_is_answered_exactly_as_recorded() {
    let server = TestServer::start().await;
    crate::audit_registry::story(&server).await;
    check("registry_story.txt", &dump(&server).await);
}

#[tokio::test]
async fn the_inspections_story_is_answered_exactly_as_recorded() {
    let server = TestServer::start().await;
    crate::audit_inspections::build(&server).await;
    check("inspections_story.txt", &dump(&server).await);
}
