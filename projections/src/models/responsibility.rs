//! Audit question 8: for park P on date D, the responsible authority, the infrastructure company and
//! the coordination agreement in force, with the succession that replaced a ceased authority.
//!
//! The facts are effective-dated, and the log may record them out of business order (a jurisdiction
//! recorded in 2025 that took effect in 2006), so this model stores each timeline as rows keyed by
//! their effective date and answers "on date D" at query time: the latest row effective on or before D.
//!
//! The same timelines (authorities and their successions, parks' jurisdictions and companies, the
//! agreements with their effective-dated service levels) are what the exchanges model judges
//! information requests against; [`Registry`] keeps them under a table prefix so that each model
//! owns its own copy and rebuilds independently.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use kcn_domain::EventPayload;
use kcn_domain::agreement::{AgreementAmended, AgreementSigned, AgreementSuperseded};
use kcn_domain::authority::{AuthorityEstablished, AuthoritySucceeded};
use kcn_domain::company::{CompanyDetailsChanged, CompanyRegistered};
use kcn_domain::park::{InfrastructureCompanyAssigned, JurisdictionAssigned, ParkRegistered};
use kcn_eventstore::{StoreError, StoredEvent};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::{Generation, ReadModel, sql};
use crate::error::ProjectionError;

// ---------------------------------------------------------------------------------------------
// Helpers shared by the read models of audit questions 4, 6, 8, 9 and 10.
// ---------------------------------------------------------------------------------------------

/// Reads an event's payload as its domain type, upcasting an older schema version (such as an
/// `AgreementSigned` of version 1, which has no `effective_from`).
pub(crate) fn decode<T: EventPayload>(e: &StoredEvent) -> Result<T, ProjectionError> {
    T::decode(&e.event_type, e.schema_version, &e.payload).map_err(|err| ProjectionError::Apply {
        position: e.position,
        reason: err.to_string(),
    })
}

/// An event's business time.
pub(crate) fn occurred(e: &StoredEvent) -> Result<DateTime<Utc>, ProjectionError> {
    kcn_integrity::leaf::parse_timestamp(&e.occurred_at).map_err(|err| ProjectionError::Apply {
        position: e.position,
        reason: format!("occurred_at: {err}"),
    })
}

/// A local date as stored: `YYYY-MM-DD`, which sorts as text.
pub(crate) fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An instant as stored: canonical RFC 3339 with six fractional digits, which sorts as text.
pub(crate) fn instant(t: DateTime<Utc>) -> String {
    kcn_integrity::leaf::format_timestamp(t)
}

/// A stored local date read back; a malformed one is a defect of this model, not of the caller.
pub(crate) fn parse_day(text: &str) -> Result<NaiveDate, ProjectionError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| corrupt(format!("date {text:?}: {e}")))
}

/// A stored instant read back.
pub(crate) fn parse_instant(text: &str) -> Result<DateTime<Utc>, ProjectionError> {
    kcn_integrity::leaf::parse_timestamp(text).map_err(|e| corrupt(e.to_string()))
}

/// A read model row that this code did not write the way it reads it.
pub(crate) fn corrupt(detail: String) -> ProjectionError {
    ProjectionError::Store(StoreError::Internal(format!("read model row: {detail}")))
}

/// A page size as bound into `LIMIT`.
pub(crate) fn limit(n: u32) -> i64 {
    i64::from(n)
}

/// A bound argument of a query whose SQL is assembled from optional filters.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// The arguments of an assembled query, numbered `$1`, `$2`… in the order they are added.
#[derive(Debug, Default)]
pub(crate) struct Args(Vec<Arg>);

impl Args {
    /// Adds a text argument and returns its placeholder.
    pub(crate) fn text(&mut self, v: impl Into<String>) -> String {
        self.0.push(Arg::Text(v.into()));
        format!("${}", self.0.len())
    }

    /// Adds an integer argument and returns its placeholder.
    pub(crate) fn int(&mut self, v: i64) -> String {
        self.0.push(Arg::Int(v));
        format!("${}", self.0.len())
    }

    /// Binds every argument, in order.
    pub(crate) fn bind<'q>(
        self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for a in self.0 {
            q = match a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
            };
        }
        q
    }
}

// ---------------------------------------------------------------------------------------------
// The registry: who is who, on which date.
// ---------------------------------------------------------------------------------------------

/// What a registry event changed, so that a model holding rows judged against the registry can judge
/// the affected rows again (a jurisdiction or an agreement recorded after the facts it governs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A park's jurisdiction or company from this local date on.
    Park { park_id: String, from: NaiveDate },
    /// Agreements or successions from this local date on, for any park.
    Everywhere { from: NaiveDate },
}

/// An authority as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityRow {
    pub authority_id: String,
    pub name: String,
    pub kind: String,
    pub decision_no: String,
    pub successor_id: Option<String>,
    pub succeeded_on: Option<NaiveDate>,
    pub succession_basis: Option<String>,
}

/// An infrastructure company as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyRow {
    pub company_id: String,
    pub name: String,
    pub enterprise_code: String,
}

/// A park as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkRow {
    pub park_id: String,
    pub code: String,
    pub name: String,
}

/// A coordination agreement, as signed and as later superseded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementRow {
    pub agreement_id: String,
    /// The authority that signed it.
    pub authority_id: String,
    pub version: String,
    pub title: String,
    pub document_no: Option<String>,
    pub signed_on: NaiveDate,
    pub effective_from: NaiveDate,
    pub document_sha256: String,
    pub superseded_by: Option<String>,
    pub superseded_from: Option<NaiveDate>,
}

/// The service levels of an agreement from one effective date (the signed ones, or an amendment's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelsRow {
    pub effective_from: NaiveDate,
    /// The amending document, when the levels come from an amendment.
    pub amendment_no: Option<String>,
    pub incident_notification_hours: u32,
    pub information_answer_days: u32,
    pub infrastructure_information_days: Option<u32>,
    pub consultation_answer_days: Option<u32>,
    pub quarterly_report_due_day: Option<u32>,
}

/// The effective-dated registry of one model, its tables named `{prefix}_…`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Registry {
    pub prefix: &'static str,
}

/// The event types a [`Registry`] applies.
pub(crate) const REGISTRY_EVENTS: &[&str] = &[
    "AuthorityEstablished",
    "AuthoritySucceeded",
    "CompanyRegistered",
    "CompanyDetailsChanged",
    "ParkRegistered",
    "JurisdictionAssigned",
    "InfrastructureCompanyAssigned",
    "AgreementSigned",
    "AgreementAmended",
    "AgreementSuperseded",
];

fn opt_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

fn req_u32(v: i64) -> Result<u32, ProjectionError> {
    u32::try_from(v).map_err(|_| corrupt(format!("{v} is not a day or hour count")))
}

fn opt_day(v: Option<String>) -> Result<Option<NaiveDate>, ProjectionError> {
    v.as_deref().map(parse_day).transpose()
}

impl Registry {
    fn t(&self, g: &Generation, base: &str) -> String {
        g.table(&format!("{}_{base}", self.prefix))
    }

    /// Portable DDL. Indexes: the primary keys serve every lookup "latest row of park P effective on
    /// or before D" (`(park_id, effective_from)`) and "agreements of company C"
    /// (`(company_id, agreement_id)`); `by_successor` serves "whom did authority A succeed".
    pub(crate) fn create(&self, g: &Generation) -> Vec<String> {
        let t = |b: &str| self.t(g, b);
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {} (authority_id TEXT PRIMARY KEY, name TEXT NOT NULL, \
                 kind TEXT NOT NULL, decision_no TEXT NOT NULL, effective_from TEXT NOT NULL, \
                 successor_id TEXT, succeeded_on TEXT, succession_basis TEXT)",
                t("authorities")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} (successor_id, succeeded_on)",
                t("authorities_by_successor"),
                t("authorities")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (company_id TEXT PRIMARY KEY, name TEXT NOT NULL, \
                 enterprise_code TEXT NOT NULL)",
                t("companies")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (park_id TEXT PRIMARY KEY, code TEXT NOT NULL, \
                 name TEXT NOT NULL)",
                t("parks")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (park_id TEXT NOT NULL, effective_from TEXT NOT NULL, \
                 authority_id TEXT NOT NULL, PRIMARY KEY (park_id, effective_from))",
                t("jurisdictions")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (park_id TEXT NOT NULL, effective_from TEXT NOT NULL, \
                 company_id TEXT NOT NULL, PRIMARY KEY (park_id, effective_from))",
                t("park_companies")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (agreement_id TEXT PRIMARY KEY, authority_id TEXT NOT NULL, \
                 version TEXT NOT NULL, title TEXT NOT NULL, document_no TEXT, signed_on TEXT NOT NULL, \
                 effective_from TEXT NOT NULL, document_sha256 TEXT NOT NULL, superseded_by TEXT, \
                 superseded_from TEXT)",
                t("agreements")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (company_id TEXT NOT NULL, agreement_id TEXT NOT NULL, \
                 PRIMARY KEY (company_id, agreement_id))",
                t("agreement_companies")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (agreement_id TEXT NOT NULL, effective_from TEXT NOT NULL, \
                 amendment_no TEXT, incident_notification_hours BIGINT NOT NULL, \
                 information_answer_days BIGINT NOT NULL, infrastructure_information_days BIGINT, \
                 consultation_answer_days BIGINT, quarterly_report_due_day BIGINT, \
                 PRIMARY KEY (agreement_id, effective_from))",
                t("agreement_levels")
            ),
        ]
    }

    /// Applies one registry event (others are ignored) and says what it changed.
    pub(crate) async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        e: &StoredEvent,
    ) -> Result<Option<Change>, ProjectionError> {
        let t = |b: &str| self.t(g, b);
        let id = e.aggregate_id.as_str();
        match e.event_type.as_str() {
            "AuthorityEstablished" => {
                let p: AuthorityEstablished = decode(e)?;
                sqlx::query(sql(format!(
                    "INSERT INTO {} (authority_id, name, kind, decision_no, effective_from) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (authority_id) DO NOTHING",
                    t("authorities")
                )))
                .bind(id)
                .bind(p.name.as_str())
                .bind(enum_name(&p.kind))
                .bind(p.decision_no.as_str())
                .bind(day(p.effective_from))
                .execute(&mut *conn)
                .await?;
                Ok(None)
            }
            "AuthoritySucceeded" => {
                // Recorded on each predecessor's own stream: the stream's authority is the one that
                // ceased.
                let p: AuthoritySucceeded = decode(e)?;
                sqlx::query(sql(format!(
                    "UPDATE {} SET successor_id = $2, succeeded_on = $3, succession_basis = $4 \
                     WHERE authority_id = $1",
                    t("authorities")
                )))
                .bind(id)
                .bind(p.successor.to_string())
                .bind(day(p.effective_date))
                .bind(p.legal_basis.as_str())
                .execute(&mut *conn)
                .await?;
                Ok(Some(Change::Everywhere {
                    from: p.effective_date,
                }))
            }
            "CompanyRegistered" => {
                let p: CompanyRegistered = decode(e)?;
                sqlx::query(sql(format!(
                    "INSERT INTO {} (company_id, name, enterprise_code) VALUES ($1, $2, $3) \
                     ON CONFLICT (company_id) DO NOTHING",
                    t("companies")
                )))
                .bind(id)
                .bind(p.name.as_str())
                .bind(p.enterprise_code.as_str())
                .execute(&mut *conn)
                .await?;
                Ok(None)
            }
            "CompanyDetailsChanged" => {
                let p: CompanyDetailsChanged = decode(e)?;
                if let Some(name) = p.name {
                    sqlx::query(sql(format!(
                        "UPDATE {} SET name = $2 WHERE company_id = $1",
                        t("companies")
                    )))
                    .bind(id)
                    .bind(name.as_str())
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(None)
            }
            "ParkRegistered" => {
                let p: ParkRegistered = decode(e)?;
                sqlx::query(sql(format!(
                    "INSERT INTO {} (park_id, code, name) VALUES ($1, $2, $3) \
                     ON CONFLICT (park_id) DO NOTHING",
                    t("parks")
                )))
                .bind(id)
                .bind(p.code.as_str())
                .bind(p.name.as_str())
                .execute(&mut *conn)
                .await?;
                Ok(None)
            }
            "JurisdictionAssigned" => {
                let p: JurisdictionAssigned = decode(e)?;
                sqlx::query(sql(format!(
                    "INSERT INTO {} (park_id, effective_from, authority_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (park_id, effective_from) DO UPDATE SET authority_id = excluded.authority_id",
                    t("jurisdictions")
                )))
                .bind(id)
                .bind(day(p.effective_from))
                .bind(p.authority_id.to_string())
                .execute(&mut *conn)
                .await?;
                Ok(Some(Change::Park {
                    park_id: id.to_owned(),
                    from: p.effective_from,
                }))
            }
            "InfrastructureCompanyAssigned" => {
                let p: InfrastructureCompanyAssigned = decode(e)?;
                sqlx::query(sql(format!(
                    "INSERT INTO {} (park_id, effective_from, company_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (park_id, effective_from) DO UPDATE SET company_id = excluded.company_id",
                    t("park_companies")
                )))
                .bind(id)
                .bind(day(p.effective_from))
                .bind(p.company_id.to_string())
                .execute(&mut *conn)
                .await?;
                Ok(Some(Change::Park {
                    park_id: id.to_owned(),
                    from: p.effective_from,
                }))
            }
            "AgreementSigned" => {
                let p: AgreementSigned = decode(e)?;
                sqlx::query(sql(format!(
                    "INSERT INTO {} (agreement_id, authority_id, version, title, document_no, signed_on, \
                     effective_from, document_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (agreement_id) DO NOTHING",
                    t("agreements")
                )))
                .bind(id)
                .bind(p.authority_id.to_string())
                .bind(p.version.as_str())
                .bind(p.title.as_str())
                .bind(p.document_no.as_ref().map(|d| d.as_str().to_owned()))
                .bind(day(p.signed_on))
                .bind(day(p.effective_from))
                .bind(p.document_sha256.as_str())
                .execute(&mut *conn)
                .await?;
                for company in &p.company_ids {
                    sqlx::query(sql(format!(
                        "INSERT INTO {} (company_id, agreement_id) VALUES ($1, $2) \
                         ON CONFLICT (company_id, agreement_id) DO NOTHING",
                        t("agreement_companies")
                    )))
                    .bind(company.to_string())
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                }
                self.insert_levels(conn, g, id, p.effective_from, None, &p.service_levels)
                    .await?;
                Ok(Some(Change::Everywhere {
                    from: p.effective_from,
                }))
            }
            "AgreementAmended" => {
                let p: AgreementAmended = decode(e)?;
                let no = p.amendment_no.as_ref().map(|n| n.as_str().to_owned());
                self.insert_levels(conn, g, id, p.effective_from, no, &p.service_levels)
                    .await?;
                Ok(Some(Change::Everywhere {
                    from: p.effective_from,
                }))
            }
            "AgreementSuperseded" => {
                let p: AgreementSuperseded = decode(e)?;
                sqlx::query(sql(format!(
                    "UPDATE {} SET superseded_by = $2, superseded_from = $3 WHERE agreement_id = $1",
                    t("agreements")
                )))
                .bind(id)
                .bind(p.by.to_string())
                .bind(day(p.effective_from))
                .execute(&mut *conn)
                .await?;
                Ok(Some(Change::Everywhere {
                    from: p.effective_from,
                }))
            }
            _ => Ok(None),
        }
    }

    async fn insert_levels(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        agreement_id: &str,
        from: NaiveDate,
        amendment_no: Option<String>,
        l: &kcn_domain::agreement::ServiceLevels,
    ) -> Result<(), ProjectionError> {
        sqlx::query(sql(format!(
            "INSERT INTO {} (agreement_id, effective_from, amendment_no, incident_notification_hours, \
             information_answer_days, infrastructure_information_days, consultation_answer_days, \
             quarterly_report_due_day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (agreement_id, effective_from) DO NOTHING",
            self.t(g, "agreement_levels")
        )))
        .bind(agreement_id)
        .bind(day(from))
        .bind(amendment_no)
        .bind(i64::from(l.incident_notification_hours))
        .bind(i64::from(l.information_answer_days))
        .bind(l.infrastructure_information_days.map(i64::from))
        .bind(l.consultation_answer_days.map(i64::from))
        .bind(l.quarterly_report_due_day.map(i64::from))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The authority with jurisdiction over a park on a date, and since when.
    pub(crate) async fn jurisdiction_at(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        park_id: &str,
        date: NaiveDate,
    ) -> Result<Option<(String, NaiveDate)>, ProjectionError> {
        self.timeline_at(conn, g, "jurisdictions", "authority_id", park_id, date)
            .await
    }

    /// The company running a park on a date, and since when.
    pub(crate) async fn company_at(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        park_id: &str,
        date: NaiveDate,
    ) -> Result<Option<(String, NaiveDate)>, ProjectionError> {
        self.timeline_at(conn, g, "park_companies", "company_id", park_id, date)
            .await
    }

    async fn timeline_at(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        table: &str,
        column: &str,
        park_id: &str,
        date: NaiveDate,
    ) -> Result<Option<(String, NaiveDate)>, ProjectionError> {
        let row = sqlx::query(sql(format!(
            "SELECT {column}, effective_from FROM {} WHERE park_id = $1 AND effective_from <= $2 \
             ORDER BY effective_from DESC LIMIT 1",
            self.t(g, table)
        )))
        .bind(park_id)
        .bind(day(date))
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            let id: String = r.try_get(0)?;
            let from: String = r.try_get(1)?;
            Ok((id, parse_day(&from)?))
        })
        .transpose()
    }

    /// An authority by id.
    pub(crate) async fn authority(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        authority_id: &str,
    ) -> Result<Option<AuthorityRow>, ProjectionError> {
        let row = sqlx::query(sql(format!(
            "SELECT authority_id, name, kind, decision_no, successor_id, succeeded_on, succession_basis \
             FROM {} WHERE authority_id = $1",
            self.t(g, "authorities")
        )))
        .bind(authority_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok(AuthorityRow {
                authority_id: r.try_get(0)?,
                name: r.try_get(1)?,
                kind: r.try_get(2)?,
                decision_no: r.try_get(3)?,
                successor_id: r.try_get(4)?,
                succeeded_on: opt_day(r.try_get(5)?)?,
                succession_basis: r.try_get(6)?,
            })
        })
        .transpose()
    }

    /// The successions an authority had gone through by a date: each ceased authority with its
    /// successor, following the chain (the last successor is the one in office on the date). Empty
    /// when the authority was not succeeded on or before the date.
    pub(crate) async fn successions_by(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        authority_id: &str,
        date: NaiveDate,
    ) -> Result<Vec<AuthorityRow>, ProjectionError> {
        let mut chain = Vec::new();
        let mut current = authority_id.to_owned();
        // A succession chain is short; the bound only guards against a cycle in corrupt data.
        for _ in 0..16 {
            let Some(a) = self.authority(conn, g, &current).await? else {
                break;
            };
            match (&a.successor_id, a.succeeded_on) {
                (Some(next), Some(on)) if on <= date => {
                    current = next.clone();
                    chain.push(a);
                }
                _ => break,
            }
        }
        Ok(chain)
    }

    /// The authorities a given one had succeeded by a date (it took over their agreements).
    pub(crate) async fn predecessors_by(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        authority_id: &str,
        date: NaiveDate,
    ) -> Result<Vec<String>, ProjectionError> {
        let rows = sqlx::query(sql(format!(
            "SELECT authority_id FROM {} WHERE successor_id = $1 AND succeeded_on <= $2 \
             ORDER BY authority_id",
            self.t(g, "authorities")
        )))
        .bind(authority_id)
        .bind(day(date))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(Into::into))
            .collect()
    }

    /// A company by id.
    pub(crate) async fn company(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        company_id: &str,
    ) -> Result<Option<CompanyRow>, ProjectionError> {
        let row = sqlx::query(sql(format!(
            "SELECT company_id, name, enterprise_code FROM {} WHERE company_id = $1",
            self.t(g, "companies")
        )))
        .bind(company_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok(CompanyRow {
                company_id: r.try_get(0)?,
                name: r.try_get(1)?,
                enterprise_code: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// A park by id.
    pub(crate) async fn park(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        park_id: &str,
    ) -> Result<Option<ParkRow>, ProjectionError> {
        let row = sqlx::query(sql(format!(
            "SELECT park_id, code, name FROM {} WHERE park_id = $1",
            self.t(g, "parks")
        )))
        .bind(park_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok(ParkRow {
                park_id: r.try_get(0)?,
                code: r.try_get(1)?,
                name: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// The agreement in force on a date between exactly this authority and this company: signed by
    /// the authority, naming the company, effective on or before the date and not superseded on or
    /// before it. Of several, the one effective latest.
    pub(crate) async fn agreement_between(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        authority_id: &str,
        company_id: &str,
        date: NaiveDate,
    ) -> Result<Option<AgreementRow>, ProjectionError> {
        let row = sqlx::query(sql(format!(
            "SELECT a.agreement_id, a.authority_id, a.version, a.title, a.document_no, a.signed_on, \
             a.effective_from, a.document_sha256, a.superseded_by, a.superseded_from \
             FROM {c} c JOIN {a} a ON a.agreement_id = c.agreement_id \
             WHERE c.company_id = $1 AND a.authority_id = $2 AND a.effective_from <= $3 \
             AND (a.superseded_from IS NULL OR a.superseded_from > $3) \
             ORDER BY a.effective_from DESC, a.agreement_id DESC LIMIT 1",
            c = self.t(g, "agreement_companies"),
            a = self.t(g, "agreements"),
        )))
        .bind(company_id)
        .bind(authority_id)
        .bind(day(date))
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| agreement_row(&r)).transpose()
    }

    /// The agreement that governs an authority and a company on a date: their own, or else one the
    /// authority inherited from an authority it had succeeded by then (a successor takes over its
    /// predecessors' duties, and their regulation applies until it is superseded). The flag says
    /// whether it was inherited.
    pub(crate) async fn agreement_in_force(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        authority_id: &str,
        company_id: &str,
        date: NaiveDate,
    ) -> Result<Option<(AgreementRow, bool)>, ProjectionError> {
        if let Some(a) = self
            .agreement_between(conn, g, authority_id, company_id, date)
            .await?
        {
            return Ok(Some((a, false)));
        }
        // Breadth-first over predecessors, nearest first; bounded like the succession chain.
        let mut frontier = vec![authority_id.to_owned()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for a in &frontier {
                next.extend(self.predecessors_by(conn, g, a, date).await?);
            }
            for p in &next {
                if let Some(a) = self.agreement_between(conn, g, p, company_id, date).await? {
                    return Ok(Some((a, true)));
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        Ok(None)
    }

    /// The service levels of an agreement in force on a date (the latest effective on or before it).
    pub(crate) async fn levels_at(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        agreement_id: &str,
        date: NaiveDate,
    ) -> Result<Option<LevelsRow>, ProjectionError> {
        let row = sqlx::query(sql(format!(
            "SELECT effective_from, amendment_no, incident_notification_hours, information_answer_days, \
             infrastructure_information_days, consultation_answer_days, quarterly_report_due_day \
             FROM {} WHERE agreement_id = $1 AND effective_from <= $2 \
             ORDER BY effective_from DESC LIMIT 1",
            self.t(g, "agreement_levels")
        )))
        .bind(agreement_id)
        .bind(day(date))
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            let from: String = r.try_get(0)?;
            Ok(LevelsRow {
                effective_from: parse_day(&from)?,
                amendment_no: r.try_get(1)?,
                incident_notification_hours: req_u32(r.try_get(2)?)?,
                information_answer_days: req_u32(r.try_get(3)?)?,
                infrastructure_information_days: opt_u32(r.try_get(4)?),
                consultation_answer_days: opt_u32(r.try_get(5)?),
                quarterly_report_due_day: opt_u32(r.try_get(6)?),
            })
        })
        .transpose()
    }
}

fn agreement_row(r: &AnyRow) -> Result<AgreementRow, ProjectionError> {
    let signed_on: String = r.try_get(5)?;
    let effective_from: String = r.try_get(6)?;
    Ok(AgreementRow {
        agreement_id: r.try_get(0)?,
        authority_id: r.try_get(1)?,
        version: r.try_get(2)?,
        title: r.try_get(3)?,
        document_no: r.try_get(4)?,
        signed_on: parse_day(&signed_on)?,
        effective_from: parse_day(&effective_from)?,
        document_sha256: r.try_get(7)?,
        superseded_by: r.try_get(8)?,
        superseded_from: opt_day(r.try_get(9)?)?,
    })
}

/// The proto enum name a domain enum serialises to (`AUTHORITY_KIND_INDUSTRIAL_PARKS_BOARD`).
pub(crate) fn enum_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The model and its query.
// ---------------------------------------------------------------------------------------------

/// The read model of audit question 8.
#[derive(Debug, Default, Clone, Copy)]
pub struct ResponsibilityModel;

impl ResponsibilityModel {
    /// The model's name: its checkpoint row and its tables' prefix.
    pub const NAME: &'static str = "responsibility";
    const REGISTRY: Registry = Registry {
        prefix: "responsibility",
    };
}

const RESPONSIBILITY_TABLES: &[&str] = &[
    "responsibility_authorities",
    "responsibility_companies",
    "responsibility_parks",
    "responsibility_jurisdictions",
    "responsibility_park_companies",
    "responsibility_agreements",
    "responsibility_agreement_companies",
    "responsibility_agreement_levels",
];

#[async_trait]
impl ReadModel for ResponsibilityModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        RESPONSIBILITY_TABLES
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        Self::REGISTRY.create(g)
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        for e in events {
            if REGISTRY_EVENTS.contains(&e.event_type.as_str()) {
                Self::REGISTRY.apply(conn, g, e).await?;
            }
        }
        Ok(())
    }
}

/// The authority assigned to a park on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedAuthority {
    pub authority: AuthorityRow,
    /// The `effective_from` of the `JurisdictionAssigned` in force.
    pub assigned_from: NaiveDate,
}

/// The company assigned to a park on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedCompany {
    pub company: CompanyRow,
    pub assigned_from: NaiveDate,
}

/// The agreement in force on the date, with the service levels that applied then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementInForce {
    pub agreement: AgreementRow,
    pub levels: Option<LevelsRow>,
    /// Signed by an authority that the responsible one had succeeded, not by the responsible one.
    pub inherited: bool,
}

/// The answer to audit question 8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkResponsibility {
    pub park: ParkRow,
    pub date: NaiveDate,
    /// The authority the park's jurisdiction names on the date.
    pub assigned: Option<AssignedAuthority>,
    /// When the assigned authority had ceased by the date: each succession in turn, the assigned
    /// authority first. The successor of the last entry is the authority in office.
    pub successions: Vec<AuthorityRow>,
    /// The authority in office on the date: the assigned one, or its last successor.
    pub responsible: Option<AuthorityRow>,
    pub company: Option<AssignedCompany>,
    pub agreement: Option<AgreementInForce>,
}

/// Audit question 8: who was responsible for a park on a date, and which regulation applied.
///
/// Every lookup is one primary-key range read ("latest row on or before D"): `(park_id,
/// effective_from)` for the jurisdiction and the company, `(company_id, agreement_id)` then the
/// agreement's key for the agreement, `(agreement_id, effective_from)` for its levels. `None` when the
/// park is unknown.
pub async fn park_responsibility(
    pool: &AnyPool,
    g: &Generation,
    park_id: &str,
    date: NaiveDate,
) -> Result<Option<ParkResponsibility>, ProjectionError> {
    let r = ResponsibilityModel::REGISTRY;
    let mut conn = pool.acquire().await?;
    let conn = &mut *conn;
    let Some(park) = r.park(conn, g, park_id).await? else {
        return Ok(None);
    };
    let mut assigned = None;
    let mut successions = Vec::new();
    let mut responsible = None;
    if let Some((authority_id, from)) = r.jurisdiction_at(conn, g, park_id, date).await?
        && let Some(a) = r.authority(conn, g, &authority_id).await?
    {
        successions = r.successions_by(conn, g, &authority_id, date).await?;
        responsible = match successions.last().and_then(|s| s.successor_id.clone()) {
            Some(successor) => r.authority(conn, g, &successor).await?,
            None => Some(a.clone()),
        };
        assigned = Some(AssignedAuthority {
            authority: a,
            assigned_from: from,
        });
    }
    let mut company = None;
    if let Some((company_id, from)) = r.company_at(conn, g, park_id, date).await? {
        company = r
            .company(conn, g, &company_id)
            .await?
            .map(|c| AssignedCompany {
                company: c,
                assigned_from: from,
            });
    }
    let mut agreement = None;
    if let (Some(_), Some(c)) = (&assigned, &company) {
        // The authority in office first; then the assigned one, whose regulation its successor took
        // over; either may also have inherited one from a predecessor.
        let mut candidates = Vec::new();
        if let Some(resp) = &responsible {
            candidates.push(resp.authority_id.clone());
        }
        for s in successions.iter().rev() {
            candidates.push(s.authority_id.clone());
        }
        candidates.dedup();
        for (i, authority_id) in candidates.iter().enumerate() {
            if let Some((row, inherited)) = r
                .agreement_in_force(conn, g, authority_id, &c.company.company_id, date)
                .await?
            {
                let levels = r.levels_at(conn, g, &row.agreement_id, date).await?;
                agreement = Some(AgreementInForce {
                    agreement: row,
                    levels,
                    inherited: inherited || i > 0,
                });
                break;
            }
        }
    }
    Ok(Some(ParkResponsibility {
        park,
        date,
        assigned,
        successions,
        responsible,
        company,
        agreement,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::annual_reports::AnnualReportsModel;
    use crate::models::consultations::ConsultationsModel;
    use crate::models::exchanges::ExchangesModel;
    use crate::models::procedures::ProceduresModel;

    /// Every table a model creates is one it lists (so that a rebuild drops it with the old
    /// generation), and every name carries the generation.
    #[test]
    fn every_created_table_is_listed_and_versioned() {
        let models: Vec<Box<dyn ReadModel>> = vec![
            Box::new(ConsultationsModel),
            Box::new(ExchangesModel),
            Box::new(ResponsibilityModel),
            Box::new(AnnualReportsModel::default()),
            Box::new(ProceduresModel),
        ];
        let g = Generation(7);
        for m in models {
            let mut created: Vec<String> = Vec::new();
            for ddl in m.create(&g) {
                let name = ddl
                    .split_whitespace()
                    .skip_while(|w| *w != "EXISTS")
                    .nth(1)
                    .unwrap()
                    .to_owned();
                assert!(
                    name.ends_with("_g7"),
                    "{name} of {} has no generation",
                    m.name()
                );
                if ddl.starts_with("CREATE TABLE") {
                    created.push(name.trim_end_matches("_g7").to_owned());
                }
            }
            let mut listed: Vec<String> = m.tables().iter().map(|t| (*t).to_owned()).collect();
            created.sort();
            listed.sort();
            assert_eq!(created, listed, "tables of {}", m.name());
        }
    }
}
