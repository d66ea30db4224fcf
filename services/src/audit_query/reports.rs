//! Audit question 9 at the edge: annual environmental reports filed late, or not filed as of a date,
//! by year, from the `annual_reports` read model.

use chrono::NaiveDate;
use kcn_projections::models::annual_reports::{
    AnnualReportCursor, AnnualReportFilter, Filer, LateAnnualReport, ReportDueDays, ReportLateness,
};
use tonic::Status;

use super::params::{as_of_date, page_size, rules};
use crate::fields::{self, Fields};
use crate::page;
use crate::{Ledger, error, proto, take};

/// The page key: the as-of date of the first page (so that every page of a query judges at the same
/// date when the caller left it to the clock), then the last row's filer kind and id.
type Key = (NaiveDate, String, String);

fn filer(raw: i32, f: &mut Fields) -> Option<Option<Filer>> {
    match proto::AnnualReportFiler::try_from(raw) {
        Ok(proto::AnnualReportFiler::Unspecified) => Some(None),
        Ok(proto::AnnualReportFiler::Tenant) => Some(Some(Filer::Tenant)),
        Ok(proto::AnnualReportFiler::Park) => Some(Some(Filer::Park)),
        Err(_) => {
            f.violation("filer", format!("{raw} is not a known value"));
            None
        }
    }
}

fn row(r: LateAnnualReport) -> proto::LateAnnualReport {
    let filer = match r.filer {
        Filer::Tenant => proto::AnnualReportFiler::Tenant,
        Filer::Park => proto::AnnualReportFiler::Park,
    };
    let lateness = match r.lateness {
        ReportLateness::FiledLate => proto::AnnualReportLateness::FiledLate,
        ReportLateness::NotFiled => proto::AnnualReportLateness::NotFiled,
    };
    proto::LateAnnualReport {
        filer: filer.into(),
        subject_id: r.subject_id,
        park_id: r.park_id,
        name: r.name,
        year: u32::try_from(r.year).unwrap_or_default(),
        company_id: r.company_id.unwrap_or_default(),
        due_on: r.due_on.to_string(),
        submitted_on: r.submitted_on.map(|d| d.to_string()).unwrap_or_default(),
        lateness: lateness.into(),
        days_late: r.days_late,
    }
}

/// `ListLateAnnualReports`: audit question 9.
pub(super) async fn list(
    ledger: &Ledger,
    r: proto::ListLateAnnualReportsRequest,
) -> Result<proto::ListLateAnnualReportsResponse, Status> {
    let mut f = Fields::default();
    if !(1900..=9999).contains(&r.year) {
        f.violation(
            "year",
            "is required: the year the reports cover, 1900 to 9999",
        );
    }
    let kind = filer(r.filer, &mut f);
    let park_id = f.check("park_id", fields::optional_uuid(&r.park_id));
    let mut as_of = as_of_date(ledger, &mut f, &r.as_of_date);
    let size = page_size(&mut f, r.page_size);
    let query = page::query(&[
        "late_annual_reports",
        &r.year.to_string(),
        &r.filer.to_string(),
        r.park_id.trim(),
    ]);
    let from: Option<Key> = ledger.pages.open(&mut f, &r.page_token, &query);
    if let Some((first, _, _)) = &from {
        if r.as_of_date.trim().is_empty() {
            as_of = Some(*first);
        } else if as_of != Some(*first) {
            f.violation(
                "page_token",
                "belongs to a query judged at another as_of_date; keep the as_of_date of the first page",
            );
        }
    }
    let cursor = match from {
        Some((_, kind, subject_id)) => match kind.as_str() {
            "tenant" | "park" => Some(AnnualReportCursor {
                filer: if kind == "tenant" {
                    Filer::Tenant
                } else {
                    Filer::Park
                },
                subject_id,
            }),
            _ => {
                f.violation("page_token", "is not a token this server issued");
                None
            }
        },
        None => None,
    };
    f.finish()?;
    take!(kind, park_id, as_of);
    let filter = AnnualReportFilter {
        year: i32::try_from(r.year).unwrap_or_default(),
        filer: kind,
        park_id: park_id.map(|p| p.to_string()),
        as_of,
    };
    let rows = ledger
        .read
        .annual_reports()
        .late(
            r.min_position,
            &ReportDueDays::from_rules(rules(ledger)),
            &filter,
            cursor.as_ref(),
            size + 1,
        )
        .await
        .map_err(error::projection)?;
    let (rows, next) = page::split(rows, size, |last| {
        (
            as_of,
            last.filer.as_str().to_owned(),
            last.subject_id.clone(),
        )
    });
    Ok(proto::ListLateAnnualReportsResponse {
        next_page_token: ledger.pages.issue(&query, next.as_ref()),
        reports: rows.into_iter().map(row).collect(),
        as_of_date: as_of.to_string(),
    })
}
