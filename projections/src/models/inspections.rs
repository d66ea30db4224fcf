//! The `inspections` read model: every inspection with its dates, extensions and findings, indexed by
//! inspected tenant, so that audit question 2 (a tenant's inspections judged against the legal limits,
//! with each finding's remediation status as of a date) and question 3 (tenants inspected more than
//! once in a calendar year, and whether each unannounced inspection recorded its grounds) are answered
//! from a few index range scans.
//!
//! The rows hold facts (local dates, counts); lags, durations and breaches are computed by the queries
//! from the legal rules they are given, so that changing a configured limit needs no rebuild.
//!

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use kcn_domain::inspection::InspectionEvent;
use kcn_domain::limits;
use kcn_domain::park::ParkEvent;
use kcn_domain::time::local_date;
use kcn_domain::{Breach, Event, LegalRules};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::registry::ParkCompanies;
use super::sql::{Args, Bind, sql};
use super::stored::{corrupt, date_column, enum_name};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// The model's name: its checkpoint row and its `projections rebuild` argument.
pub const NAME: &str = "inspections";

impl Named for Inspections {
    const NAME: &'static str = NAME;
}

/// The kind key under which [`REPEATS`] counts every kind of inspection together.
const ALL_KINDS: &str = "*";
/// The kind of inspection that records its grounds instead of a delivered decision.
pub const UNANNOUNCED: &str = "INSPECTION_KIND_UNANNOUNCED";

// Base table names (see [`Generation::table`]).
const INSPECTIONS: &str = "inspections";
const SUBJECTS: &str = "inspection_subjects";
const FINDINGS: &str = "inspection_findings";
const REPEATS: &str = "inspection_repeats";
const PARK_COMPANIES: &str = "inspection_park_companies";
const PARKS: ParkCompanies = ParkCompanies {
    table: PARK_COMPANIES,
};

/// The `inspections` read model.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inspections;

#[async_trait]
impl ReadModel for Inspections {
    fn name(&self) -> &'static str {
        NAME
    }

    /// 2: findings keep the commitment they breach. 3: each inspected tenant's own delivery.
    fn version(&self) -> u32 {
        3
    }

    fn tables(&self) -> &'static [&'static str] {
        &[INSPECTIONS, SUBJECTS, FINDINGS, REPEATS, PARK_COMPANIES]
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        let inspections = g.table(INSPECTIONS);
        let subjects = g.table(SUBJECTS);
        let findings = g.table(FINDINGS);
        let repeats = g.table(REPEATS);
        vec![
            // One row per inspection. `extensions` is a JSON array of the extensions in the order
            // granted (never queried by SQL, only read back whole).
            format!(
                "CREATE TABLE IF NOT EXISTS {inspections} (
                    inspection_id TEXT PRIMARY KEY NOT NULL,
                    park_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    conducted_by TEXT NOT NULL,
                    entity_count BIGINT NOT NULL,
                    planned_for TEXT NOT NULL,
                    planned_at TEXT NOT NULL,
                    decision_no TEXT,
                    issued_on TEXT,
                    grounds TEXT,
                    delivered_on TEXT,
                    started_on TEXT,
                    extensions TEXT NOT NULL,
                    concluded_on TEXT,
                    conclusion_no TEXT,
                    closed_on TEXT,
                    last_position BIGINT NOT NULL
                )"
            ),
            // One row per inspected tenant of an inspection; `inspection_on` is the local start date,
            // or planned_for until the inspection starts; `delivered_on` the decision's delivery to
            // this tenant (the inspection's `delivered_on` is its first delivery to any).
            format!(
                "CREATE TABLE IF NOT EXISTS {subjects} (
                    tenant_id TEXT NOT NULL,
                    inspection_id TEXT NOT NULL,
                    park_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    inspection_on TEXT NOT NULL,
                    delivered_on TEXT,
                    PRIMARY KEY (tenant_id, inspection_id)
                )"
            ),
            // Question 2's path: a tenant's inspections in date order, keyset-paginated.
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {subjects} (tenant_id, inspection_on, inspection_id)",
                g.table("inspection_subjects_by_tenant_date")
            ),
            // Moving an inspection's date when it starts.
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {subjects} (inspection_id)",
                g.table("inspection_subjects_by_inspection")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {findings} (
                    inspection_id TEXT NOT NULL,
                    finding_id TEXT NOT NULL,
                    tenant_id TEXT NOT NULL,
                    requirement TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    description TEXT NOT NULL,
                    found_on TEXT NOT NULL,
                    required_on TEXT,
                    due_on TEXT,
                    action TEXT,
                    verified_on TEXT,
                    referred_on TEXT,
                    referred_to TEXT,
                    commitment_id TEXT,
                    PRIMARY KEY (inspection_id, finding_id)
                )"
            ),
            // How many inspections each tenant had in each calendar year, per kind and for every kind
            // together (`kind` = '*'): question 3 reads it instead of grouping the subjects.
            format!(
                "CREATE TABLE IF NOT EXISTS {repeats} (
                    kind TEXT NOT NULL,
                    year BIGINT NOT NULL,
                    tenant_id TEXT NOT NULL,
                    park_id TEXT NOT NULL,
                    inspections BIGINT NOT NULL,
                    PRIMARY KEY (kind, year, tenant_id)
                )"
            ),
            // Question 3's paths: partial indexes over the repeated ones only, so that a page skips
            // the (many) tenants inspected once without reading them.
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {repeats} (kind, year, tenant_id) WHERE inspections > 1",
                g.table("inspection_repeats_many")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {repeats} (park_id, kind, year, tenant_id) WHERE inspections > 1",
                g.table("inspection_repeats_many_by_park")
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
            match &e.event {
                Event::Inspection(_) => apply_inspection(conn, g, e).await?,
                // Which company ran which park from when, for question 3's company filter.
                Event::Park(ParkEvent::InfrastructureCompanyAssigned(p)) => {
                    PARKS.record(conn, g, e, p).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One extension as stored in the `extensions` JSON column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredExtension {
    days: u32,
    extended_on: NaiveDate,
    reason: String,
    #[serde(default)]
    decision_no: Option<String>,
}

async fn apply_inspection(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
) -> Result<(), ProjectionError> {
    let id = e.aggregate_id();
    let on = local_date(e.occurred_at);
    let inspections = g.table(INSPECTIONS);
    let findings = g.table(FINDINGS);
    match &e.event {
        Event::Inspection(InspectionEvent::InspectionPlanned(p)) => {
            let kind = enum_name(&p.kind);
            sqlx::query(sql(format!(
                "INSERT INTO {inspections} (inspection_id, park_id, kind, conducted_by, entity_count,
                    planned_for, planned_at, extensions, last_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, '[]', $8)
                 ON CONFLICT (inspection_id) DO NOTHING"
            )))
            .bind(id.to_owned())
            .bind(p.park_id.to_string())
            .bind(kind.clone())
            .bind(enum_name(&p.conducted_by))
            .bind(p.tenant_ids.len() as i64)
            .bind(p.planned_for.to_string())
            .bind(e.stored.occurred_at.clone())
            .bind(e.position_i64())
            .execute(&mut *conn)
            .await?;
            for tenant in &p.tenant_ids {
                let inserted = sqlx::query(sql(format!(
                    "INSERT INTO {} (tenant_id, inspection_id, park_id, kind, inspection_on)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, inspection_id) DO NOTHING",
                    g.table(SUBJECTS)
                )))
                .bind(tenant.to_string())
                .bind(id.to_owned())
                .bind(p.park_id.to_string())
                .bind(kind.clone())
                .bind(p.planned_for.to_string())
                .execute(&mut *conn)
                .await?
                .rows_affected();
                // Counted once per subject row, so that a replayed event cannot count twice.
                if inserted == 1 {
                    let park = p.park_id.to_string();
                    let tenant = tenant.to_string();
                    count(conn, g, &kind, p.planned_for.year(), &tenant, &park, 1).await?;
                }
            }
        }
        Event::Inspection(InspectionEvent::InspectionDecisionIssued(d)) => {
            update(
                conn,
                e,
                &format!(
                    "UPDATE {inspections} SET decision_no = $2, issued_on = $3, grounds = $4,
                     last_position = $5 WHERE inspection_id = $1"
                ),
                vec![
                    Bind::text(id),
                    Bind::text(d.decision_no.as_str()),
                    Bind::Text(Some(d.issued_on.to_string())),
                    Bind::Text(d.grounds.as_ref().map(|t| t.as_str().to_owned())),
                    Bind::Int(Some(e.position_i64())),
                ],
            )
            .await?;
        }
        Event::Inspection(InspectionEvent::InspectionDecisionDelivered(d)) => {
            let first: Option<String> = sqlx::query_scalar(sql(format!(
                "SELECT delivered_on FROM {inspections} WHERE inspection_id = $1"
            )))
            .bind(id.to_owned())
            .fetch_optional(&mut *conn)
            .await?
            .flatten();
            if first.is_none() {
                set_date(conn, g, e, "delivered_on", d.delivered_on).await?;
            }
            deliver(conn, g, id, &d.tenant_ids, d.delivered_on).await?;
        }
        Event::Inspection(InspectionEvent::InspectionStarted(s)) => {
            set_date(conn, g, e, "started_on", s.started_on).await?;
            move_inspection_date(conn, g, id, s.started_on).await?;
        }
        Event::Inspection(InspectionEvent::InspectionExtended(x)) => {
            let stored: Option<String> = sqlx::query_scalar(sql(format!(
                "SELECT extensions FROM {inspections} WHERE inspection_id = $1"
            )))
            .bind(id.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            let stored = stored.ok_or_else(|| unknown_inspection(e))?;
            let mut list: Vec<StoredExtension> =
                serde_json::from_str(&stored).map_err(|err| e.error(err))?;
            list.push(StoredExtension {
                days: x.days,
                extended_on: on,
                reason: x.reason.as_str().to_owned(),
                decision_no: x.decision_no.as_ref().map(|t| t.as_str().to_owned()),
            });
            let json = serde_json::to_string(&list).map_err(|err| e.error(err))?;
            update(
                conn,
                e,
                &format!(
                    "UPDATE {inspections} SET extensions = $2, last_position = $3 WHERE inspection_id = $1"
                ),
                vec![Bind::text(id), Bind::text(&json), Bind::Int(Some(e.position_i64()))],
            )
            .await?;
        }
        Event::Inspection(InspectionEvent::FindingRecorded(f)) => {
            sqlx::query(sql(format!(
                "INSERT INTO {findings} (inspection_id, finding_id, tenant_id, requirement, severity,
                    description, found_on, commitment_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (inspection_id, finding_id) DO NOTHING"
            )))
            .bind(id.to_owned())
            .bind(f.finding_id.as_str().to_owned())
            .bind(f.tenant_id.to_string())
            .bind(f.requirement.as_str().to_owned())
            .bind(enum_name(&f.severity))
            .bind(f.description.as_str().to_owned())
            .bind(on.to_string())
            .bind(f.commitment_id.as_ref().map(|c| c.as_str().to_owned()))
            .execute(&mut *conn)
            .await?;
        }
        Event::Inspection(InspectionEvent::InspectionConcluded(c)) => {
            update(
                conn,
                e,
                &format!(
                    "UPDATE {inspections} SET concluded_on = $2, conclusion_no = $3, last_position = $4
                     WHERE inspection_id = $1"
                ),
                vec![
                    Bind::text(id),
                    Bind::Text(Some(c.concluded_on.to_string())),
                    Bind::text(c.conclusion_no.as_str()),
                    Bind::Int(Some(e.position_i64())),
                ],
            )
            .await?;
        }
        Event::Inspection(InspectionEvent::RemediationRequired(r)) => {
            update(
                conn,
                e,
                &format!(
                    "UPDATE {findings} SET required_on = $3, due_on = $4, action = $5
                     WHERE inspection_id = $1 AND finding_id = $2"
                ),
                vec![
                    Bind::text(id),
                    Bind::text(r.finding_id.as_str()),
                    Bind::Text(Some(on.to_string())),
                    Bind::Text(Some(r.due_on.to_string())),
                    Bind::text(r.action.as_str()),
                ],
            )
            .await?;
        }
        Event::Inspection(InspectionEvent::RemediationVerified(v)) => {
            update(
                conn,
                e,
                &format!(
                    "UPDATE {findings} SET verified_on = $3 WHERE inspection_id = $1 AND finding_id = $2"
                ),
                vec![
                    Bind::text(id),
                    Bind::text(v.finding_id.as_str()),
                    Bind::Text(Some(on.to_string())),
                ],
            )
            .await?;
        }
        Event::Inspection(InspectionEvent::ReferredForSanction(r)) => {
            update(
                conn,
                e,
                &format!(
                    "UPDATE {findings} SET referred_on = $3, referred_to = $4
                     WHERE inspection_id = $1 AND finding_id = $2"
                ),
                vec![
                    Bind::text(id),
                    Bind::text(r.finding_id.as_str()),
                    Bind::Text(Some(on.to_string())),
                    Bind::Text(Some(r.authority_id.to_string())),
                ],
            )
            .await?;
        }
        Event::Inspection(InspectionEvent::InspectionClosed(_)) => {
            set_date(conn, g, e, "closed_on", on).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Sets one date column of an inspection.
async fn set_date(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
    column: &str,
    date: NaiveDate,
) -> Result<(), ProjectionError> {
    update(
        conn,
        e,
        &format!(
            "UPDATE {} SET {column} = $2, last_position = $3 WHERE inspection_id = $1",
            g.table(INSPECTIONS)
        ),
        vec![
            Bind::text(e.aggregate_id()),
            Bind::Text(Some(date.to_string())),
            Bind::Int(Some(e.position_i64())),
        ],
    )
    .await
}

/// Records the decision's delivery to `tenants` (every inspected tenant not yet reached when empty,
/// as a version-1 delivery is read).
async fn deliver(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
    tenants: &[uuid::Uuid],
    on: NaiveDate,
) -> Result<(), ProjectionError> {
    let subjects = g.table(SUBJECTS);
    let mut b = Args::default();
    let on = b.text(on.to_string());
    let inspection = b.text(id);
    let mut statement = format!(
        "UPDATE {subjects} SET delivered_on = {on} WHERE inspection_id = {inspection} \
         AND delivered_on IS NULL"
    );
    if !tenants.is_empty() {
        let ids: Vec<String> = tenants.iter().map(|t| b.text(t.to_string())).collect();
        statement.push_str(&format!(" AND tenant_id IN ({})", ids.join(", ")));
    }
    b.execute(conn, statement).await
}

/// Runs an UPDATE that must touch exactly one row: anything else means the log and the model
/// disagree, and the projector must stop rather than skip.
async fn update(
    conn: &mut AnyConnection,
    e: &Envelope,
    statement: &str,
    binds: Vec<Bind>,
) -> Result<(), ProjectionError> {
    let touched = Args::from_binds(binds)
        .bind(sqlx::query(sql(statement.to_owned())))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if touched != 1 {
        return Err(e.error(format!(
            "{} {} matched {touched} rows of the inspections read model, not one",
            e.stored.aggregate_type, e.stored.aggregate_id
        )));
    }
    Ok(())
}

/// Moves an inspection's date from planned_for to its start, and its counts to the start's year.
async fn move_inspection_date(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
    started_on: NaiveDate,
) -> Result<(), ProjectionError> {
    let subjects = g.table(SUBJECTS);
    let rows = sqlx::query(sql(format!(
        "SELECT tenant_id, park_id, kind, inspection_on FROM {subjects} WHERE inspection_id = $1"
    )))
    .bind(id.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let tenant: String = row.try_get(0)?;
        let park: String = row.try_get(1)?;
        let kind: String = row.try_get(2)?;
        let before: String = row.try_get(3)?;
        let before_year = year_of(&before);
        if before_year != Some(started_on.year()) {
            if let Some(y) = before_year {
                count(conn, g, &kind, y, &tenant, &park, -1).await?;
            }
            count(conn, g, &kind, started_on.year(), &tenant, &park, 1).await?;
        }
    }
    sqlx::query(sql(format!(
        "UPDATE {subjects} SET inspection_on = $2 WHERE inspection_id = $1"
    )))
    .bind(id.to_owned())
    .bind(started_on.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds `delta` to a tenant's inspections of a year, under its kind and under every kind.
async fn count(
    conn: &mut AnyConnection,
    g: &Generation,
    kind: &str,
    year: i32,
    tenant: &str,
    park: &str,
    delta: i64,
) -> Result<(), ProjectionError> {
    for key in [ALL_KINDS, kind] {
        sqlx::query(sql(format!(
            "INSERT INTO {t} (kind, year, tenant_id, park_id, inspections) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kind, year, tenant_id) DO UPDATE SET inspections = {t}.inspections + $5",
            t = g.table(REPEATS)
        )))
        .bind(key.to_owned())
        .bind(i64::from(year))
        .bind(tenant.to_owned())
        .bind(park.to_owned())
        .bind(delta)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn year_of(date: &str) -> Option<i32> {
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .map(|d| d.year())
}

fn unknown_inspection(e: &Envelope) -> ProjectionError {
    e.error(format!(
        "names inspection {} that was never planned",
        e.aggregate_id()
    ))
}

// ---------------------------------------------------------------------------------------------
// Queries.
// ---------------------------------------------------------------------------------------------

/// A page of a keyset-paginated query: the items and, when there may be more, the key of the last
/// item, to pass back as the next query's `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

/// Audit question 2's filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecordQuery {
    pub tenant_id: String,
    /// Inspection dates (start, or planned_for before it), both inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// An `InspectionKind` name such as `INSPECTION_KIND_UNANNOUNCED`.
    pub kind: Option<String>,
    /// An `InspectionConductor` name such as `INSPECTION_CONDUCTOR_BOARD`.
    pub conducted_by: Option<String>,
    /// The date remediation and inspections under way are judged on.
    pub as_of: NaiveDate,
    /// The key of the last item of the previous page: `(inspection date, inspection id)`.
    pub after: Option<(NaiveDate, String)>,
    pub limit: u32,
}

/// One extension, and how many of its days count towards the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRecord {
    pub days: u32,
    pub extended_on: NaiveDate,
    pub reason: String,
    pub decision_no: Option<String>,
    pub days_counted: u32,
}

/// Where a finding's remediation stands on the as-of date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemediationStatus {
    NotRequired,
    Required,
    Overdue,
    Verified,
    Referred,
}

/// A finding on the tenant with its remediation, judged on the as-of date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRecord {
    pub finding_id: String,
    pub requirement: String,
    /// A `FindingSeverity` name.
    pub severity: String,
    pub description: String,
    pub found_on: NaiveDate,
    pub status: RemediationStatus,
    pub required_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub action: Option<String>,
    pub verified_on: Option<NaiveDate>,
    pub verified_late: bool,
    pub referred_on: Option<NaiveDate>,
    pub referred_to: Option<String>,
    /// The tenant's environmental commitment the finding breaches, when it names one.
    pub commitment_id: Option<String>,
    /// Days past the due date on the as-of date, when overdue.
    pub days_overdue: u32,
}

/// One inspection of a tenant, measured and judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInspection {
    pub inspection_id: String,
    pub park_id: String,
    /// An `InspectionKind` name.
    pub kind: String,
    /// An `InspectionConductor` name.
    pub conducted_by: String,
    pub entity_count: u32,
    pub planned_for: NaiveDate,
    pub inspection_date: NaiveDate,
    pub decision_no: Option<String>,
    pub issued_on: Option<NaiveDate>,
    pub grounds: Option<String>,
    pub delivered_on: Option<NaiveDate>,
    pub delivery_lag_days: Option<i64>,
    pub delivery_limit_days: u32,
    /// Whether the delivery is held to the limit (not for an unannounced inspection).
    pub delivery_judged: bool,
    pub started_on: Option<NaiveDate>,
    pub concluded_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    /// Start to conclusion counted inclusively; while under way, start to the as-of date.
    pub duration_days: Option<i64>,
    pub under_way: bool,
    pub base_limit_days: u32,
    pub extensions: Vec<ExtensionRecord>,
    pub extension_days_requested: u32,
    pub extension_days_counted: u32,
    pub limit_days: u32,
    pub breaches: Vec<Breach>,
    pub findings: Vec<FindingRecord>,
}

impl TenantInspection {
    /// Whether the decision records grounds.
    pub fn grounds_recorded(&self) -> bool {
        self.grounds.is_some()
    }
}

const INSPECTION_COLUMNS: &str = "i.inspection_id, i.park_id, i.kind, i.conducted_by, i.entity_count,
    i.planned_for, i.decision_no, i.issued_on, i.grounds, s.delivered_on, i.started_on, i.extensions,
    i.concluded_on, i.closed_on, s.inspection_on";

impl Queries<'_, Inspections> {
    /// Audit question 2: a tenant's inspections in date order, judged against `rules` on `q.as_of`,
    /// once the model has applied `min_position`.
    pub async fn tenant_record(
        &self,
        min_position: u64,
        rules: &LegalRules,
        q: &TenantRecordQuery,
    ) -> Result<Page<TenantInspection, (NaiveDate, String)>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        tenant_record(&mut r.conn, &r.generation, rules, q).await
    }

    /// Audit question 3: tenants inspected more than once in a calendar year, in (year, tenant)
    /// order, once the model has applied `min_position`.
    pub async fn repeated(
        &self,
        min_position: u64,
        q: &RepeatedQuery,
    ) -> Result<Page<RepeatedEntity, (i32, String)>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        repeated(&mut r.conn, &r.generation, q).await
    }
}

/// Audit question 2: a tenant's inspections in date order, judged against `rules` on `q.as_of`.
///
/// Index path: `inspection_subjects_by_tenant_date` (tenant_id, inspection_on, inspection_id) gives
/// the page in order from the cursor on; each row joins its inspection by primary key, and the page's
/// findings come by the findings' primary key prefix (inspection_id).
async fn tenant_record(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    q: &TenantRecordQuery,
) -> Result<Page<TenantInspection, (NaiveDate, String)>, ProjectionError> {
    let mut b = Args::default();
    let mut conditions = vec![format!("s.tenant_id = {}", b.text(&q.tenant_id))];
    if let Some(from) = q.from {
        conditions.push(format!("s.inspection_on >= {}", b.text(from.to_string())));
    }
    if let Some(to) = q.to {
        conditions.push(format!("s.inspection_on <= {}", b.text(to.to_string())));
    }
    if let Some(kind) = &q.kind {
        conditions.push(format!("s.kind = {}", b.text(kind)));
    }
    if let Some(by) = &q.conducted_by {
        conditions.push(format!("i.conducted_by = {}", b.text(by)));
    }
    if let Some((date, id)) = &q.after {
        // A row-value comparison: both SQLite and PostgreSQL seek the index to it.
        let (d, i) = (b.text(date.to_string()), b.text(id));
        conditions.push(format!("(s.inspection_on, s.inspection_id) > ({d}, {i})"));
    }
    let limit = b.int(i64::from(q.limit) + 1);
    let statement = format!(
        "SELECT {INSPECTION_COLUMNS} FROM {subjects} s
         JOIN {inspections} i ON i.inspection_id = s.inspection_id
         WHERE {where_}
         ORDER BY s.inspection_on, s.inspection_id
         LIMIT {limit}",
        subjects = g.table(SUBJECTS),
        inspections = g.table(INSPECTIONS),
        where_ = conditions.join(" AND "),
    );
    let rows = b.fetch_all(conn, statement).await?;
    let more = rows.len() > q.limit as usize;
    let mut items = Vec::new();
    for row in rows.iter().take(q.limit as usize) {
        items.push(inspection_from_row(row, rules, q.as_of)?);
    }
    // The page's findings on this tenant, in one query.
    if !items.is_empty() {
        let mut b = Args::default();
        let tenant = b.text(&q.tenant_id);
        let ids: Vec<String> = items.iter().map(|i| b.text(&i.inspection_id)).collect();
        let statement = format!(
            "SELECT inspection_id, finding_id, requirement, severity, description, found_on,
                required_on, due_on, action, verified_on, referred_on, referred_to, commitment_id
             FROM {findings} WHERE inspection_id IN ({ids}) AND tenant_id = {tenant}
             ORDER BY inspection_id, found_on, finding_id",
            findings = g.table(FINDINGS),
            ids = ids.join(", "),
        );
        for row in b.fetch_all(conn, statement).await? {
            let inspection_id: String = row.try_get(0)?;
            let finding = finding_from_row(&row, q.as_of)?;
            if let Some(i) = items.iter_mut().find(|i| i.inspection_id == inspection_id) {
                i.findings.push(finding);
            }
        }
    }
    let next = if more {
        items
            .last()
            .map(|i| (i.inspection_date, i.inspection_id.clone()))
    } else {
        None
    };
    Ok(Page { items, next })
}

fn inspection_from_row(
    row: &AnyRow,
    rules: &LegalRules,
    as_of: NaiveDate,
) -> Result<TenantInspection, ProjectionError> {
    let kind: String = row.try_get(2)?;
    let entity_count = u32::try_from(row.try_get::<i64, _>(4)?).unwrap_or(u32::MAX);
    let extensions_json: String = row.try_get(11)?;
    let stored: Vec<StoredExtension> =
        serde_json::from_str(&extensions_json).map_err(|e| corrupt(format!("extensions: {e}")))?;
    let mut i = TenantInspection {
        inspection_id: row.try_get(0)?,
        park_id: row.try_get(1)?,
        kind,
        conducted_by: row.try_get(3)?,
        entity_count,
        planned_for: date_column(row, 5)?.ok_or_else(|| corrupt("planned_for is empty"))?,
        decision_no: row.try_get(6)?,
        issued_on: date_column(row, 7)?,
        grounds: row.try_get(8)?,
        delivered_on: date_column(row, 9)?,
        started_on: date_column(row, 10)?,
        concluded_on: date_column(row, 12)?,
        closed_on: date_column(row, 13)?,
        inspection_date: date_column(row, 14)?.ok_or_else(|| corrupt("inspection_on is empty"))?,
        delivery_lag_days: None,
        delivery_limit_days: rules.inspection_decision_delivery_days,
        delivery_judged: false,
        duration_days: None,
        under_way: false,
        base_limit_days: 0,
        extensions: Vec::new(),
        extension_days_requested: 0,
        extension_days_counted: 0,
        limit_days: 0,
        breaches: Vec::new(),
        findings: Vec::new(),
    };
    judge(&mut i, &stored, rules, as_of);
    Ok(i)
}

/// Measures an inspection and names the limits it breaches, with the domain's own functions
/// ([`kcn_domain::limits`], which the command path judges with too), plus what is overdue on the
/// as-of date.
fn judge(
    i: &mut TenantInspection,
    stored: &[StoredExtension],
    rules: &LegalRules,
    as_of: NaiveDate,
) {
    let entities = usize::try_from(i.entity_count).unwrap_or(usize::MAX);
    let bounds = limits::InspectionLimits::for_entities(rules, entities);
    let mut breaches = Vec::new();
    let days: Vec<u32> = stored.iter().map(|x| x.days).collect();
    let counted = limits::extensions(bounds, &days);
    for (n, (x, c)) in stored.iter().zip(&counted.counted).enumerate() {
        breaches.extend(limits::extension_breach(bounds, n, x.days, x.extended_on));
        i.extensions.push(ExtensionRecord {
            days: x.days,
            extended_on: x.extended_on,
            reason: x.reason.clone(),
            decision_no: x.decision_no.clone(),
            days_counted: *c,
        });
    }
    i.extension_days_requested = counted.requested;
    i.extension_days_counted = counted.counted_total;
    i.base_limit_days = bounds.base_days;
    i.limit_days = bounds.limit_days(counted.counted_total);

    let unannounced = i.kind == UNANNOUNCED;
    i.delivery_judged = !unannounced;
    if let Some(issued) = i.issued_on {
        let delivery =
            limits::decision_delivery(rules, unannounced, issued, i.delivered_on, Some(as_of));
        i.delivery_lag_days = delivery.lag_days;
        breaches.extend(delivery.breach);
        breaches.extend(limits::unannounced_grounds(
            unannounced,
            i.grounds.is_some(),
        ));
    }
    if let Some(started) = i.started_on {
        let duration = limits::inspection_duration(
            rules,
            bounds,
            counted.counted_total,
            started,
            i.concluded_on,
            Some(as_of),
        );
        i.duration_days = duration.days;
        i.under_way = duration.under_way;
        breaches.extend(duration.breach);
        if let Some(delivered) = i.delivered_on {
            breaches.extend(limits::started_before_delivery(
                !unannounced,
                started,
                delivered,
            ));
        }
    }
    i.breaches = breaches;
}

fn finding_from_row(row: &AnyRow, as_of: NaiveDate) -> Result<FindingRecord, ProjectionError> {
    let required_on = date_column(row, 6)?;
    let due_on = date_column(row, 7)?;
    let verified_on = date_column(row, 9)?;
    let referred_on = date_column(row, 10)?;
    // As of the date, a step dated after it has not been taken yet.
    let by = |d: Option<NaiveDate>| d.is_some_and(|d| d <= as_of);
    let mut days_overdue = 0;
    let status = if by(verified_on) {
        RemediationStatus::Verified
    } else if by(referred_on) {
        RemediationStatus::Referred
    } else if by(required_on) {
        match due_on.and_then(|due| limits::remediation_overdue_days(due, as_of)) {
            Some(days) => {
                days_overdue = days;
                RemediationStatus::Overdue
            }
            None => RemediationStatus::Required,
        }
    } else {
        RemediationStatus::NotRequired
    };
    Ok(FindingRecord {
        finding_id: row.try_get(1)?,
        requirement: row.try_get(2)?,
        severity: row.try_get(3)?,
        description: row.try_get(4)?,
        found_on: date_column(row, 5)?.ok_or_else(|| corrupt("found_on is empty"))?,
        status,
        required_on,
        due_on,
        action: row.try_get(8)?,
        verified_on,
        verified_late: matches!((verified_on, due_on), (Some(v), Some(d)) if v > d),
        referred_on,
        referred_to: row.try_get(11)?,
        commitment_id: row.try_get(12)?,
        days_overdue,
    })
}

/// Audit question 3's filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedQuery {
    pub from_year: i32,
    pub to_year: i32,
    pub park_id: Option<String>,
    /// Only parks this company ran at some time in the years asked.
    pub company_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Count only this `InspectionKind`.
    pub kind: Option<String>,
    /// The key of the last entity of the previous page: `(year, tenant id)`.
    pub after: Option<(i32, String)>,
    pub limit: u32,
}

/// One inspection of a repeatedly inspected tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occasion {
    pub inspection_id: String,
    pub kind: String,
    pub inspection_date: NaiveDate,
    pub started: bool,
    pub decision_issued: bool,
    pub grounds: Option<String>,
}

/// A tenant inspected more than once in a calendar year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedEntity {
    pub tenant_id: String,
    pub park_id: String,
    pub year: i32,
    pub inspection_count: u32,
    pub unannounced_count: u32,
    /// Unannounced inspections whose decision records no grounds, or is not issued yet.
    pub unannounced_without_grounds: u32,
    pub inspections: Vec<Occasion>,
}

/// Audit question 3: tenants inspected more than once in a calendar year, in (year, tenant) order.
///
/// Index paths: `inspection_repeats_many` (kind, year, tenant_id) WHERE inspections > 1, or
/// `inspection_repeats_many_by_park` (park_id, kind, year, tenant_id) with a park; the primary key
/// (kind, year, tenant_id) with a tenant. Each entity's inspections then come from
/// `inspection_subjects_by_tenant_date`; the company filter first resolves the company's parks
/// through `inspection_park_companies_by_company`.
async fn repeated(
    conn: &mut AnyConnection,
    g: &Generation,
    q: &RepeatedQuery,
) -> Result<Page<RepeatedEntity, (i32, String)>, ProjectionError> {
    let parks = match &q.company_id {
        Some(company) => {
            let parks = company_parks(conn, g, company, q.from_year, q.to_year).await?;
            if parks.is_empty() {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            Some(parks)
        }
        None => None,
    };
    let mut b = Args::default();
    let kind = q.kind.clone().unwrap_or_else(|| ALL_KINDS.to_owned());
    let mut conditions = vec![
        format!("kind = {}", b.text(&kind)),
        format!("year >= {}", b.int(i64::from(q.from_year))),
        format!("year <= {}", b.int(i64::from(q.to_year))),
        // Written exactly as the partial indexes' predicate, so that the planners use them.
        "inspections > 1".to_owned(),
    ];
    if let Some(park) = &q.park_id {
        conditions.push(format!("park_id = {}", b.text(park)));
    }
    if let Some(parks) = &parks {
        let list: Vec<String> = parks.iter().map(|p| b.text(p)).collect();
        conditions.push(format!("park_id IN ({})", list.join(", ")));
    }
    if let Some(tenant) = &q.tenant_id {
        conditions.push(format!("tenant_id = {}", b.text(tenant)));
    }
    if let Some((year, tenant)) = &q.after {
        let (y, t) = (b.int(i64::from(*year)), b.text(tenant));
        conditions.push(format!("(year, tenant_id) > ({y}, {t})"));
    }
    let limit = b.int(i64::from(q.limit) + 1);
    let statement = format!(
        "SELECT tenant_id, park_id, year, inspections FROM {repeats}
         WHERE {where_} ORDER BY year, tenant_id LIMIT {limit}",
        repeats = g.table(REPEATS),
        where_ = conditions.join(" AND "),
    );
    let rows = b.fetch_all(conn, statement).await?;
    let more = rows.len() > q.limit as usize;
    let mut items = Vec::new();
    for row in rows.iter().take(q.limit as usize) {
        let tenant_id: String = row.try_get(0)?;
        let year = i32::try_from(row.try_get::<i64, _>(2)?).map_err(corrupt)?;
        let inspections = occasions(conn, g, &tenant_id, year, q.kind.as_deref()).await?;
        let unannounced: Vec<&Occasion> = inspections
            .iter()
            .filter(|o| o.kind == UNANNOUNCED)
            .collect();
        items.push(RepeatedEntity {
            park_id: row.try_get(1)?,
            year,
            inspection_count: u32::try_from(row.try_get::<i64, _>(3)?).unwrap_or(0),
            unannounced_count: unannounced.len() as u32,
            unannounced_without_grounds: unannounced.iter().filter(|o| o.grounds.is_none()).count()
                as u32,
            inspections,
            tenant_id,
        });
    }
    let next = if more {
        items.last().map(|e| (e.year, e.tenant_id.clone()))
    } else {
        None
    };
    Ok(Page { items, next })
}

/// A tenant's inspections of one calendar year, in date order.
async fn occasions(
    conn: &mut AnyConnection,
    g: &Generation,
    tenant: &str,
    year: i32,
    kind: Option<&str>,
) -> Result<Vec<Occasion>, ProjectionError> {
    let mut b = Args::default();
    let mut conditions = vec![
        format!("s.tenant_id = {}", b.text(tenant)),
        format!("s.inspection_on >= {}", b.text(format!("{year:04}-01-01"))),
        format!("s.inspection_on <= {}", b.text(format!("{year:04}-12-31"))),
    ];
    if let Some(kind) = kind {
        conditions.push(format!("s.kind = {}", b.text(kind)));
    }
    let statement = format!(
        "SELECT s.inspection_id, s.kind, s.inspection_on, i.started_on, i.issued_on, i.grounds
         FROM {subjects} s JOIN {inspections} i ON i.inspection_id = s.inspection_id
         WHERE {where_} ORDER BY s.inspection_on, s.inspection_id",
        subjects = g.table(SUBJECTS),
        inspections = g.table(INSPECTIONS),
        where_ = conditions.join(" AND "),
    );
    let mut out = Vec::new();
    for row in b.fetch_all(conn, statement).await? {
        out.push(Occasion {
            inspection_id: row.try_get(0)?,
            kind: row.try_get(1)?,
            inspection_date: date_column(&row, 2)?
                .ok_or_else(|| corrupt("inspection_on is empty"))?,
            started: row.try_get::<Option<String>, _>(3)?.is_some(),
            decision_issued: row.try_get::<Option<String>, _>(4)?.is_some(),
            grounds: row.try_get(5)?,
        });
    }
    Ok(out)
}

/// The parks `company` ran at some time between 1 January of `from_year` and 31 December of
/// `to_year`.
async fn company_parks(
    conn: &mut AnyConnection,
    g: &Generation,
    company: &str,
    from_year: i32,
    to_year: i32,
) -> Result<BTreeSet<String>, ProjectionError> {
    let t = g.table(PARK_COMPANIES);
    let rows = sqlx::query(sql(format!(
        "SELECT park_id, effective_from, company_id FROM {t}
         WHERE park_id IN (SELECT park_id FROM {t} WHERE company_id = $1)
         ORDER BY park_id, effective_from"
    )))
    .bind(company.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    let start = NaiveDate::from_ymd_opt(from_year, 1, 1).ok_or_else(|| corrupt("from_year"))?;
    let end = NaiveDate::from_ymd_opt(to_year, 12, 31).ok_or_else(|| corrupt("to_year"))?;
    let timeline: Vec<(String, NaiveDate, String)> = rows
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>(0)?,
                date_column(r, 1)?.ok_or_else(|| corrupt("effective_from is empty"))?,
                r.try_get::<String, _>(2)?,
            ))
        })
        .collect::<Result<_, ProjectionError>>()?;
    let mut parks = BTreeSet::new();
    for (n, (park, from, who)) in timeline.iter().enumerate() {
        // The company runs the park from `from` until the next assignment of the same park.
        let until = timeline
            .get(n + 1)
            .filter(|(next_park, _, _)| next_park == park)
            .map(|(_, next_from, _)| *next_from);
        if who == company && *from <= end && until.is_none_or(|u| u > start) {
            parks.insert(park.clone());
        }
    }
    Ok(parks)
}
