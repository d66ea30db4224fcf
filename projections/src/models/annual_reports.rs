//! Audit question 9: annual environmental reports filed late, by year, and those not filed at all as
//! of a caller-given date.
//!
//! A report covers 1 January to 31 December of its year. A tenant files by 15 January of the next year
//! and an infrastructure company files its park's report by 20 January (verified; the days come from
//! [`LegalRules`], whose defaults are the statutory ones). Dates are local dates: a report submitted at
//! 2026-01-15T20:00Z was submitted on 16 January, one day late.
//!
//! Who must file for a year: a tenant registered (by the local date of its `TenantRegistered`) on or
//! before 31 December of that year; a park that had an infrastructure company assigned effective on
//! or before that day. A filed report is listed as late when its `submitted_on` is after the due date
//! and on or before `as_of`; a filer with no report submitted by `as_of` is listed as not filed once
//! `as_of` is past the due date.

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use kcn_domain::limits::{annual_report_due, days_late};
use kcn_domain::park::ParkEvent;
use kcn_domain::tenant::TenantEvent;
use kcn_domain::time::local_date;
use kcn_domain::{Event, LegalRules};
use sqlx::{AnyConnection, Row};

use super::registry::ParkCompanies;
use super::sql::{Args, limit, sql};
use super::stored::{corrupt, day, parse_day};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// Who files an annual report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filer {
    /// A tenant, for itself (due by the tenant day of January).
    Tenant,
    /// An infrastructure company, for its park (due by the park day of January).
    Park,
}

impl Filer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Park => "park",
        }
    }

    fn parse(s: &str) -> Result<Self, ProjectionError> {
        match s {
            "tenant" => Ok(Self::Tenant),
            "park" => Ok(Self::Park),
            other => Err(corrupt(format!("filer kind {other:?}"))),
        }
    }
}

/// The days of January reports are due by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportDueDays {
    pub tenant: u32,
    pub park: u32,
}

impl ReportDueDays {
    pub fn from_rules(rules: &LegalRules) -> Self {
        Self {
            tenant: rules.tenant_annual_report_due_day,
            park: rules.park_annual_report_due_day,
        }
    }

    /// The last on-time local date of a report for `year`.
    pub fn due_on(&self, filer: Filer, year: i32) -> Option<NaiveDate> {
        let day = match filer {
            Filer::Tenant => self.tenant,
            Filer::Park => self.park,
        };
        annual_report_due(u32::try_from(year).ok()?, day)
    }
}

impl Default for ReportDueDays {
    fn default() -> Self {
        Self::from_rules(&LegalRules::default())
    }
}

/// The read model of audit question 9.
#[derive(Debug, Default, Clone, Copy)]
pub struct AnnualReportsModel {
    pub due: ReportDueDays,
}

impl Named for AnnualReportsModel {
    const NAME: &'static str = "annual_reports";
}

const PARKS: ParkCompanies = ParkCompanies {
    table: "annual_report_park_companies",
};

const TABLES: &[&str] = &[
    "annual_report_filers",
    "annual_report_park_companies",
    "annual_reports",
];

fn t(g: &Generation, base: &str) -> String {
    g.table(base)
}

#[async_trait]
impl ReadModel for AnnualReportsModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    /// Indexes, one per filter path of [`late_annual_reports`] (keyset `(kind, subject_id)`): the
    /// filers' primary key (no filter, or a filer kind), `by_park` (a park); the reports' primary key
    /// `(kind, subject_id, year)` joins a filer to its report for the year.
    fn create(&self, g: &Generation) -> Vec<String> {
        let f = t(g, "annual_report_filers");
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {f} (kind TEXT NOT NULL, subject_id TEXT NOT NULL, \
                 park_id TEXT NOT NULL, name TEXT NOT NULL, first_year BIGINT, \
                 PRIMARY KEY (kind, subject_id))"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {f} (park_id, kind, subject_id)",
                t(g, "annual_report_filers_by_park")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (kind TEXT NOT NULL, subject_id TEXT NOT NULL, \
                 year BIGINT NOT NULL, company_id TEXT, submitted_on TEXT NOT NULL, \
                 due_on TEXT NOT NULL, days_late BIGINT NOT NULL, PRIMARY KEY (kind, subject_id, year))",
                t(g, "annual_reports")
            ),
        ]
        .into_iter()
        .chain(PARKS.create(g))
        .collect()
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        for e in events {
            self.apply_one(conn, g, e).await?;
        }
        Ok(())
    }
}

impl AnnualReportsModel {
    async fn apply_one(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        e: &Envelope,
    ) -> Result<(), ProjectionError> {
        let f = t(g, "annual_report_filers");
        let id = e.aggregate_id();
        match &e.event {
            Event::Tenant(TenantEvent::TenantRegistered(p)) => {
                let year = local_date(e.occurred_at).year();
                sqlx::query(sql(format!(
                    "INSERT INTO {f} (kind, subject_id, park_id, name, first_year) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, subject_id) DO NOTHING"
                )))
                .bind(Filer::Tenant.as_str())
                .bind(id)
                .bind(p.park_id.to_string())
                .bind(p.name.as_str())
                .bind(i64::from(year))
                .execute(&mut *conn)
                .await?;
            }
            Event::Park(ParkEvent::ParkRegistered(p)) => {
                sqlx::query(sql(format!(
                    "INSERT INTO {f} (kind, subject_id, park_id, name) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (kind, subject_id) DO NOTHING"
                )))
                .bind(Filer::Park.as_str())
                .bind(id)
                .bind(id)
                .bind(p.name.as_str())
                .execute(&mut *conn)
                .await?;
            }
            Event::Park(ParkEvent::InfrastructureCompanyAssigned(p)) => {
                PARKS.record(conn, g, e, p).await?;
                // The park owes reports from the first year a company ran it.
                sqlx::query(sql(format!(
                    "UPDATE {f} SET first_year = CASE WHEN first_year IS NULL OR first_year > $3 \
                     THEN $3 ELSE first_year END WHERE kind = $1 AND subject_id = $2"
                )))
                .bind(Filer::Park.as_str())
                .bind(id)
                .bind(i64::from(p.effective_from.year()))
                .execute(&mut *conn)
                .await?;
            }
            Event::Tenant(TenantEvent::AnnualEnvironmentalReportSubmitted(p)) => {
                self.insert_report(conn, g, e, Filer::Tenant, p.year, None, p.submitted_on)
                    .await?;
            }
            Event::Park(ParkEvent::ParkAnnualEnvironmentalReportSubmitted(p)) => {
                self.insert_report(
                    conn,
                    g,
                    e,
                    Filer::Park,
                    p.year,
                    Some(p.company_id.to_string()),
                    p.submitted_on,
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_report(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        e: &Envelope,
        filer: Filer,
        year: u32,
        company_id: Option<String>,
        submitted_on: NaiveDate,
    ) -> Result<(), ProjectionError> {
        let due = i32::try_from(year)
            .ok()
            .and_then(|y| self.due.due_on(filer, y))
            .ok_or_else(|| e.error(format!("no due date for a report of year {year}")))?;
        sqlx::query(sql(format!(
            "INSERT INTO {} (kind, subject_id, year, company_id, submitted_on, due_on, days_late) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, subject_id, year) DO NOTHING",
            t(g, "annual_reports")
        )))
        .bind(filer.as_str())
        .bind(e.aggregate_id())
        .bind(i64::from(year))
        .bind(company_id)
        .bind(day(submitted_on))
        .bind(day(due))
        .bind(days_late(due, submitted_on).max(0))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Filters of [`late_annual_reports`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnualReportFilter {
    /// The year the reports cover.
    pub year: i32,
    pub filer: Option<Filer>,
    pub park_id: Option<String>,
    /// The local date "filed" and "not filed" are judged at.
    pub as_of: NaiveDate,
}

/// Where a page of [`late_annual_reports`] ended: the last row's `(kind, subject_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnualReportCursor {
    pub filer: Filer,
    pub subject_id: String,
}

/// How a report is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportLateness {
    /// Submitted after the due date (and by `as_of`).
    FiledLate,
    /// Not submitted by `as_of`, which is past the due date.
    NotFiled,
}

/// One late or missing annual report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateAnnualReport {
    pub filer: Filer,
    /// The tenant's id, or the park's.
    pub subject_id: String,
    pub park_id: String,
    pub name: String,
    pub year: i32,
    /// For a park: the company that filed, or (not filed) the one running the park on 31 December.
    pub company_id: Option<String>,
    pub due_on: NaiveDate,
    pub submitted_on: Option<NaiveDate>,
    pub lateness: ReportLateness,
    /// `submitted_on − due_on`, or `as_of − due_on` while not filed.
    pub days_late: i64,
}

impl Queries<'_, AnnualReportsModel> {
    /// Audit question 9: a page of the year's late and missing reports, by filer kind then id, with
    /// the due days `due`, once the model has applied `min_position`.
    pub async fn late(
        &self,
        min_position: u64,
        due: &ReportDueDays,
        filter: &AnnualReportFilter,
        after: Option<&AnnualReportCursor>,
        page_size: u32,
    ) -> Result<Vec<LateAnnualReport>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        late_annual_reports(&mut r.conn, &r.generation, due, filter, after, page_size).await
    }
}

/// Audit question 9: a page of the year's late and missing reports, by filer kind then id.
async fn late_annual_reports(
    conn: &mut AnyConnection,
    g: &Generation,
    due: &ReportDueDays,
    filter: &AnnualReportFilter,
    after: Option<&AnnualReportCursor>,
    page_size: u32,
) -> Result<Vec<LateAnnualReport>, ProjectionError> {
    let (Some(due_tenant), Some(due_park)) = (
        due.due_on(Filer::Tenant, filter.year),
        due.due_on(Filer::Park, filter.year),
    ) else {
        return Ok(Vec::new());
    };
    let mut args = Args::default();
    let year = args.int(i64::from(filter.year));
    let as_of = args.text(day(filter.as_of));
    let due_sql = format!(
        "(CASE f.kind WHEN 'tenant' THEN {} ELSE {} END)",
        args.text(day(due_tenant)),
        args.text(day(due_park))
    );
    let mut clauses = vec![format!(
        "((r.submitted_on IS NOT NULL AND r.submitted_on <= {as_of} AND r.submitted_on > {due_sql}) \
         OR (f.first_year IS NOT NULL AND f.first_year <= {year} \
         AND (r.submitted_on IS NULL OR r.submitted_on > {as_of}) AND {as_of} > {due_sql}))"
    )];
    if let Some(k) = filter.filer {
        clauses.push(format!("f.kind = {}", args.text(k.as_str())));
    }
    if let Some(p) = &filter.park_id {
        clauses.push(format!("f.park_id = {}", args.text(p.clone())));
    }
    if let Some(a) = after {
        let k = args.text(a.filer.as_str());
        let id = args.text(a.subject_id.clone());
        clauses.push(format!(
            "(f.kind > {k} OR (f.kind = {k} AND f.subject_id > {id}))"
        ));
    }
    let n = args.int(limit(page_size));
    let text = format!(
        "SELECT f.kind, f.subject_id, f.park_id, f.name, r.submitted_on, r.company_id \
         FROM {f} f LEFT JOIN {r} r ON r.kind = f.kind AND r.subject_id = f.subject_id AND r.year = {year} \
         WHERE {} ORDER BY f.kind, f.subject_id LIMIT {n}",
        clauses.join(" AND "),
        f = t(g, "annual_report_filers"),
        r = t(g, "annual_reports"),
    );
    let rows = args
        .bind(sqlx::query(sql(text)))
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let filer = Filer::parse(&r.try_get::<String, _>(0)?)?;
        let submitted: Option<String> = r.try_get(4)?;
        let submitted_on = submitted
            .as_deref()
            .map(parse_day)
            .transpose()?
            .filter(|s| *s <= filter.as_of);
        let due_on = match filer {
            Filer::Tenant => due_tenant,
            Filer::Park => due_park,
        };
        let park_id: String = r.try_get(2)?;
        let mut company_id: Option<String> = r.try_get(5)?;
        if filer == Filer::Park && submitted_on.is_none() {
            company_id = park_company_on(conn, g, &park_id, filter.year).await?;
        }
        let (lateness, days_late) = match submitted_on {
            Some(s) => (ReportLateness::FiledLate, days_late(due_on, s)),
            None => (ReportLateness::NotFiled, days_late(due_on, filter.as_of)),
        };
        out.push(LateAnnualReport {
            filer,
            subject_id: r.try_get(1)?,
            park_id,
            name: r.try_get(3)?,
            year: filter.year,
            company_id,
            due_on,
            submitted_on,
            lateness,
            days_late,
        });
    }
    Ok(out)
}

/// The company running a park on 31 December of `year`.
async fn park_company_on(
    conn: &mut AnyConnection,
    g: &Generation,
    park_id: &str,
    year: i32,
) -> Result<Option<String>, ProjectionError> {
    let Some(end) = NaiveDate::from_ymd_opt(year, 12, 31) else {
        return Ok(None);
    };
    let row = sqlx::query(sql(format!(
        "SELECT company_id FROM {} WHERE park_id = $1 AND effective_from <= $2 \
         ORDER BY effective_from DESC LIMIT 1",
        t(g, "annual_report_park_companies")
    )))
    .bind(park_id)
    .bind(day(end))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}
