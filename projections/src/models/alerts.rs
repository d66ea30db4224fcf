//! The `alerts` read model: monitoring alerts with when and where they were raised, and the events
//! that may follow them up (an inspection planned, an incident reported, in the same park), so that
//! audit question 7 (alerts not followed by an inspection or incident within N days, N given by the
//! caller) is one indexed query.
//!
//! "Followed" means: the alert's resolution names an inspection or an incident; or a follow-up that
//! concerns the alert's tenant or station was made at or after the instant the alert was raised and
//! on a local date at most N days after the alert's local date. A follow-up is an inspection planned
//! or an incident reported in the alert's park; it concerns an alert with a tenant when it names
//! that tenant (an inspection among its entities, an incident as its tenant), and an alert without
//! one (the park's own station, such as the central treatment plant's outfall, or a transmission
//! interruption) when it names no tenant, that is, when it is about the park's own infrastructure.
//! An inspection or incident elsewhere in the park, about another tenant, follows nothing up. Dates are kept as day numbers as
//! well as text, so that "N days after" is integer arithmetic that both SQLite and PostgreSQL run
//! alike.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kcn_domain::Event;
use kcn_domain::incident::IncidentEvent;
use kcn_domain::inspection::InspectionEvent;
use kcn_domain::monitoring::{ExceedanceReceived, MonitoringEvent};
use kcn_domain::park::ParkEvent;
use kcn_domain::time::local_date;
use kcn_integrity::leaf::{format_timestamp, parse_timestamp};
use sqlx::{AnyConnection, Row};

use super::inspections::Page;
use super::registry::ParkCompanies;
use super::sql::{Args, sql};
use super::stored::{corrupt, date_column, enum_name};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// The model's name: its checkpoint row and its `projections rebuild` argument.
pub const NAME: &str = "alerts";

impl Named for Alerts {
    const NAME: &'static str = NAME;
}

/// An alert raised by an exceedance.
pub const EXCEEDANCE: &str = "MONITORING_ALERT_KIND_EXCEEDANCE";
/// An alert raised by an interruption of the station's data.
pub const INTERRUPTED: &str = "MONITORING_ALERT_KIND_TRANSMISSION_INTERRUPTED";

// Base table names (see [`Generation::table`]).
const ALERTS: &str = "alerts";
const FOLLOW_UPS: &str = "alert_follow_ups";
const PARK_COMPANIES: &str = "alert_park_companies";
const PARKS: ParkCompanies = ParkCompanies {
    table: PARK_COMPANIES,
};

/// The `alerts` read model.
#[derive(Debug, Default, Clone, Copy)]
pub struct Alerts;

/// A local date as a day number, for date arithmetic in portable SQL.
pub fn day_number(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce())
}

#[async_trait]
impl ReadModel for Alerts {
    fn name(&self) -> &'static str {
        NAME
    }

    /// 2: a follow-up records the tenants it concerns (question 7 matches tenant or station).
    fn version(&self) -> u32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &[ALERTS, FOLLOW_UPS, PARK_COMPANIES]
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        let alerts = g.table(ALERTS);
        let follow_ups = g.table(FOLLOW_UPS);
        vec![
            // One row per alert. `raised_at` is the first exceedance's measured_at, or the
            // interruption's occurred_at; the first exceedance's reading is kept for display.
            // `linked` is 1 when the resolution names an inspection or an incident.
            format!(
                "CREATE TABLE IF NOT EXISTS {alerts} (
                    alert_id TEXT PRIMARY KEY NOT NULL,
                    park_id TEXT NOT NULL,
                    station_id TEXT NOT NULL,
                    tenant_id TEXT,
                    kind TEXT NOT NULL,
                    raised_at TEXT NOT NULL,
                    raised_on TEXT NOT NULL,
                    raised_day BIGINT NOT NULL,
                    parameter TEXT,
                    reading TEXT,
                    unit TEXT,
                    limit_value TEXT,
                    standard_ref TEXT,
                    exceedances BIGINT NOT NULL,
                    interruptions BIGINT NOT NULL,
                    resolved_at TEXT,
                    linked BIGINT NOT NULL,
                    resolution_reason TEXT,
                    last_position BIGINT NOT NULL
                )"
            ),
            // Question 7's paths, each in page order (raised_at, alert_id): by park, by tenant, and
            // all parks (also the company filter, which tests each row's park).
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {alerts} (park_id, raised_at, alert_id)",
                g.table("alerts_by_park")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {alerts} (tenant_id, raised_at, alert_id)",
                g.table("alerts_by_tenant")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {alerts} (raised_at, alert_id)",
                g.table("alerts_by_time")
            ),
            // What may follow an alert up: inspections planned and incidents reported, by park, one
            // row per tenant concerned (`tenant_key` '' when the follow-up names no tenant).
            format!(
                "CREATE TABLE IF NOT EXISTS {follow_ups} (
                    source_type TEXT NOT NULL,
                    source_id TEXT NOT NULL,
                    tenant_key TEXT NOT NULL,
                    park_id TEXT NOT NULL,
                    happened_at TEXT NOT NULL,
                    day BIGINT NOT NULL,
                    PRIMARY KEY (source_type, source_id, tenant_key)
                )"
            ),
            // The NOT EXISTS probe of each alert: one range scan from the alert's instant.
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {follow_ups} (park_id, tenant_key, happened_at, day)",
                g.table("alert_follow_ups_by_park")
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
                Event::MonitoringAlert(MonitoringEvent::ExceedanceReceived(x)) => {
                    let raised = Raised {
                        park_id: x.park_id.to_string(),
                        station_id: x.station_id.as_str().to_owned(),
                        tenant_id: x.tenant_id.map(|t| t.to_string()),
                        at: x.measured_at,
                    };
                    raise(conn, g, e, EXCEEDANCE, &raised, Some(x)).await?;
                }
                Event::MonitoringAlert(MonitoringEvent::TransmissionInterrupted(x)) => {
                    let raised = Raised {
                        park_id: x.park_id.to_string(),
                        station_id: x.station_id.as_str().to_owned(),
                        tenant_id: None,
                        at: e.occurred_at,
                    };
                    raise(conn, g, e, INTERRUPTED, &raised, None).await?;
                }
                Event::MonitoringAlert(MonitoringEvent::AlertResolved(r)) => {
                    let linked = r.inspection_id.is_some() || r.incident_id.is_some();
                    let touched = sqlx::query(sql(format!(
                        "UPDATE {} SET resolved_at = $2, linked = $3, resolution_reason = $4,
                            last_position = $5 WHERE alert_id = $1",
                        g.table(ALERTS)
                    )))
                    .bind(e.aggregate_id().to_owned())
                    .bind(e.stored.occurred_at.clone())
                    .bind(i64::from(linked))
                    .bind(r.reason.as_ref().map(|t| t.as_str().to_owned()))
                    .bind(e.position_i64())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if touched != 1 {
                        return Err(e.error(format!("alert {} was never raised", e.aggregate_id())));
                    }
                }
                Event::Inspection(InspectionEvent::InspectionPlanned(p)) => {
                    let tenants: Vec<String> = p.tenant_ids.iter().map(|t| t.to_string()).collect();
                    follow_up(conn, g, e, &p.park_id.to_string(), &tenants).await?;
                }
                Event::Incident(IncidentEvent::IncidentReported(r)) => {
                    let tenants: Vec<String> = r.tenant_id.iter().map(|t| t.to_string()).collect();
                    follow_up(conn, g, e, &r.park_id.to_string(), &tenants).await?;
                }
                Event::Park(ParkEvent::InfrastructureCompanyAssigned(c)) => {
                    PARKS.record(conn, g, e, c).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Where and when an alert was raised.
struct Raised {
    park_id: String,
    station_id: String,
    tenant_id: Option<String>,
    at: DateTime<Utc>,
}

/// Opens an alert, or counts one more exceedance or interruption on an open one (an alert may open
/// with an interruption and gain its first reading later).
async fn raise(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
    kind: &str,
    raised: &Raised,
    reading: Option<&ExceedanceReceived>,
) -> Result<(), ProjectionError> {
    let t = g.table(ALERTS);
    let (exceedances, interruptions) = if reading.is_some() { (1, 0) } else { (0, 1) };
    let on = local_date(raised.at);
    let parameter = reading.map(|x| enum_name(&x.parameter));
    sqlx::query(sql(format!(
        "INSERT INTO {t} (alert_id, park_id, station_id, tenant_id, kind, raised_at, raised_on,
            raised_day, parameter, reading, unit, limit_value, standard_ref, exceedances,
            interruptions, linked, last_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0, $16)
         ON CONFLICT (alert_id) DO UPDATE SET
            exceedances = {t}.exceedances + $14,
            interruptions = {t}.interruptions + $15,
            tenant_id = COALESCE({t}.tenant_id, $4),
            parameter = COALESCE({t}.parameter, $9),
            reading = COALESCE({t}.reading, $10),
            unit = COALESCE({t}.unit, $11),
            limit_value = COALESCE({t}.limit_value, $12),
            standard_ref = COALESCE({t}.standard_ref, $13),
            last_position = $16"
    )))
    .bind(e.aggregate_id().to_owned())
    .bind(raised.park_id.clone())
    .bind(raised.station_id.clone())
    .bind(raised.tenant_id.clone())
    .bind(kind.to_owned())
    .bind(format_timestamp(raised.at))
    .bind(on.to_string())
    .bind(day_number(on))
    .bind(parameter)
    .bind(reading.map(|x| x.value.as_str().to_owned()))
    .bind(reading.map(|x| x.unit.as_str().to_owned()))
    .bind(reading.map(|x| x.limit.as_str().to_owned()))
    .bind(reading.map(|x| x.standard_ref.as_str().to_owned()))
    .bind(exceedances)
    .bind(interruptions)
    .bind(e.position_i64())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records an inspection plan or an incident report as a possible follow-up in its park, of the
/// alerts of each tenant it names (or, naming none, of the park's own stations).
async fn follow_up(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
    park_id: &str,
    tenants: &[String],
) -> Result<(), ProjectionError> {
    let at = e.occurred_at;
    let none = [String::new()];
    let keys = if tenants.is_empty() {
        &none[..]
    } else {
        tenants
    };
    for tenant in keys {
        sqlx::query(sql(format!(
            "INSERT INTO {} (source_type, source_id, tenant_key, park_id, happened_at, day)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (source_type, source_id, tenant_key) DO NOTHING",
            g.table(FOLLOW_UPS)
        )))
        .bind(e.stored.aggregate_type.clone())
        .bind(e.aggregate_id().to_owned())
        .bind(tenant.clone())
        .bind(park_id.to_owned())
        .bind(e.stored.occurred_at.clone())
        .bind(day_number(local_date(at)))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries.
// ---------------------------------------------------------------------------------------------

/// Audit question 7's filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfollowedQuery {
    pub park_id: Option<String>,
    /// Only alerts in parks this company ran on the alert's local date.
    pub company_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Alerts raised on these local dates, both inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// [`EXCEEDANCE`] or [`INTERRUPTED`].
    pub kind: Option<String>,
    /// N: how many local days after the alert a follow-up still counts.
    pub within_days: u32,
    /// Only alerts whose N days have run out by this date (the window's last day is before it).
    pub as_of: NaiveDate,
    /// The key of the last alert of the previous page: `(raised_at, alert id)`.
    pub after: Option<(String, String)>,
    pub limit: u32,
}

/// An alert that nothing followed within N days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfollowedAlert {
    pub alert_id: String,
    pub park_id: String,
    pub station_id: String,
    pub tenant_id: Option<String>,
    /// [`EXCEEDANCE`] or [`INTERRUPTED`].
    pub kind: String,
    pub raised_at: DateTime<Utc>,
    pub raised_on: NaiveDate,
    /// The last local date a follow-up would have counted on.
    pub window_ends_on: NaiveDate,
    /// A `MonitoringParameter` name, with the first exceedance's reading.
    pub parameter: Option<String>,
    pub value: Option<String>,
    pub unit: Option<String>,
    pub limit: Option<String>,
    pub standard_ref: Option<String>,
    pub exceedances: u32,
    pub interruptions: u32,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_reason: Option<String>,
}

/// Audit question 7: alerts that no inspection or incident concerning their tenant or station
/// followed within `within_days`, and whose resolution names none, in (raised_at, alert id) order.
///
/// Index paths: `alerts_by_park` (park_id, raised_at, alert_id) with a park, `alerts_by_tenant` with a
/// tenant, `alerts_by_time` otherwise (the company filter tests each row's park against
/// `alert_park_companies`' primary key); the follow-up probe of each alert is a range scan of
impl Queries<'_, Alerts> {
    /// Audit question 7: a page of alerts not followed up within `q.within_days`, once the model
    /// has applied `min_position`.
    pub async fn unfollowed(
        &self,
        min_position: u64,
        q: &UnfollowedQuery,
    ) -> Result<Page<UnfollowedAlert, (String, String)>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        unfollowed(&mut r.conn, &r.generation, q).await
    }
}

/// `alert_follow_ups_by_park` (park_id, tenant_key, happened_at, day).
async fn unfollowed(
    conn: &mut AnyConnection,
    g: &Generation,
    q: &UnfollowedQuery,
) -> Result<Page<UnfollowedAlert, (String, String)>, ProjectionError> {
    let mut b = Args::default();
    let n = b.int(i64::from(q.within_days));
    let mut conditions = vec![
        "a.linked = 0".to_owned(),
        format!("a.raised_day + {n} < {}", b.int(day_number(q.as_of))),
        format!(
            "NOT EXISTS (SELECT 1 FROM {follow_ups} f WHERE f.park_id = a.park_id
                AND f.tenant_key = COALESCE(a.tenant_id, '')
                AND f.happened_at >= a.raised_at AND f.day <= a.raised_day + {n})",
            follow_ups = g.table(FOLLOW_UPS)
        ),
    ];
    if let Some(park) = &q.park_id {
        conditions.push(format!("a.park_id = {}", b.text(park)));
    }
    if let Some(tenant) = &q.tenant_id {
        conditions.push(format!("a.tenant_id = {}", b.text(tenant)));
    }
    if let Some(company) = &q.company_id {
        conditions.push(format!(
            "(SELECT pc.company_id FROM {pc} pc WHERE pc.park_id = a.park_id
                AND pc.effective_from <= a.raised_on ORDER BY pc.effective_from DESC LIMIT 1) = {c}",
            pc = g.table(PARK_COMPANIES),
            c = b.text(company)
        ));
    }
    if let Some(kind) = &q.kind {
        conditions.push(format!("a.kind = {}", b.text(kind)));
    }
    if let Some(from) = q.from {
        conditions.push(format!("a.raised_on >= {}", b.text(from.to_string())));
    }
    if let Some(to) = q.to {
        conditions.push(format!("a.raised_on <= {}", b.text(to.to_string())));
    }
    if let Some((at, id)) = &q.after {
        let (at, id) = (b.text(at), b.text(id));
        conditions.push(format!("(a.raised_at, a.alert_id) > ({at}, {id})"));
    }
    let limit = b.int(i64::from(q.limit) + 1);
    let statement = format!(
        "SELECT a.alert_id, a.park_id, a.station_id, a.tenant_id, a.kind, a.raised_at, a.raised_on,
            a.parameter, a.reading, a.unit, a.limit_value, a.standard_ref, a.exceedances,
            a.interruptions, a.resolved_at, a.resolution_reason
         FROM {alerts} a WHERE {where_} ORDER BY a.raised_at, a.alert_id LIMIT {limit}",
        alerts = g.table(ALERTS),
        where_ = conditions.join(" AND "),
    );
    let rows = b.fetch_all(conn, statement).await?;
    let more = rows.len() > q.limit as usize;
    let mut items = Vec::new();
    for row in rows.iter().take(q.limit as usize) {
        let raised_on = date_column(row, 6)?.ok_or_else(|| corrupt("raised_on is empty"))?;
        let raised_at: String = row.try_get(5)?;
        let resolved_at: Option<String> = row.try_get(14)?;
        let count = |i: usize| -> Result<u32, ProjectionError> {
            Ok(u32::try_from(row.try_get::<i64, _>(i)?).unwrap_or(u32::MAX))
        };
        items.push(UnfollowedAlert {
            alert_id: row.try_get(0)?,
            park_id: row.try_get(1)?,
            station_id: row.try_get(2)?,
            tenant_id: row.try_get(3)?,
            kind: row.try_get(4)?,
            raised_at: parse_timestamp(&raised_at).map_err(corrupt)?,
            raised_on,
            window_ends_on: raised_on + chrono::Days::new(u64::from(q.within_days)),
            parameter: row.try_get(7)?,
            value: row.try_get(8)?,
            unit: row.try_get(9)?,
            limit: row.try_get(10)?,
            standard_ref: row.try_get(11)?,
            exceedances: count(12)?,
            interruptions: count(13)?,
            resolved_at: resolved_at
                .map(|t| parse_timestamp(&t).map_err(corrupt))
                .transpose()?,
            resolution_reason: row.try_get(15)?,
        });
    }
    let next = if more {
        items
            .last()
            .map(|a| (format_timestamp(a.raised_at), a.alert_id.clone()))
    } else {
        None
    };
    Ok(Page { items, next })
}
