//! The `incidents` read model: each incident's milestones (detection, report, first notification,
//! first classification, containment, resolution, review), and what judging its notification lag
//! needs: which authority had jurisdiction over the park and which company ran it on each date, and
//! the coordination agreements between them with their service levels over time (audit question 5).
//!
//! The agreement in force is resolved when the question is asked, not when the incident is recorded:
//! a jurisdiction or an agreement may be recorded after the incident with an earlier effective date,
//! and the answer must reflect it without a rebuild.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use kcn_domain::incident::IncidentEvent;
use kcn_domain::limits;
use kcn_domain::time::local_date;
use kcn_domain::{Event, LegalRules};
use kcn_integrity::leaf::{format_timestamp, parse_timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::registry::{Registry, is_registry_event};
use super::sql::sql;
use super::stored::{corrupt, enum_name};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// The model's name: its checkpoint row and its `projections rebuild` argument.
pub const NAME: &str = "incidents";

impl Named for Incidents {
    const NAME: &'static str = NAME;
}

// Base table names (see [`Generation::table`]).
const INCIDENTS: &str = "incidents";
/// Who had jurisdiction over which park, which company ran it, and the agreements between them with
/// their service levels over time: the read side's one registry, under this model's prefix.
const REGISTRY: Registry = Registry { prefix: "incident" };

/// The `incidents` read model.
#[derive(Debug, Default, Clone, Copy)]
pub struct Incidents;

#[async_trait]
impl ReadModel for Incidents {
    fn name(&self) -> &'static str {
        NAME
    }

    /// 2: the park and agreement timelines moved to the shared registry's tables.
    fn version(&self) -> u32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            INCIDENTS,
            "incident_authorities",
            "incident_companies",
            "incident_parks",
            "incident_jurisdictions",
            "incident_park_companies",
            "incident_agreements",
            "incident_agreement_companies",
            "incident_agreement_levels",
        ]
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        vec![
            // One row per incident; instants are canonical RFC 3339 text (six fractional digits).
            // Question 5 reads it by primary key.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    incident_id TEXT PRIMARY KEY NOT NULL,
                    park_id TEXT NOT NULL,
                    tenant_id TEXT,
                    kind TEXT NOT NULL,
                    detected_at TEXT NOT NULL,
                    detected_on TEXT NOT NULL,
                    reported_at TEXT NOT NULL,
                    first_notified_at TEXT,
                    first_recipient TEXT,
                    first_channel TEXT,
                    notifications BIGINT NOT NULL,
                    first_classified_at TEXT,
                    level TEXT,
                    scheme_version TEXT,
                    contained_at TEXT,
                    resolved_at TEXT,
                    reviewed_at TEXT,
                    actions BIGINT NOT NULL,
                    escalations BIGINT NOT NULL,
                    last_position BIGINT NOT NULL
                )",
                g.table(INCIDENTS)
            ),
        ]
        .into_iter()
        .chain(REGISTRY.create(g))
        .collect()
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        let mut i = 0;
        while i < events.len() {
            let run = REGISTRY.apply_company_run(conn, g, &events[i..]).await?;
            if run > 0 {
                i += run;
                continue;
            }
            let e = &events[i];
            i += 1;
            if is_registry_event(&e.event) {
                REGISTRY.apply(conn, g, e).await?;
            } else if let Event::Incident(_) = &e.event {
                apply_incident(conn, g, e).await?;
            }
        }
        Ok(())
    }
}

async fn apply_incident(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
) -> Result<(), ProjectionError> {
    let t = g.table(INCIDENTS);
    let id = e.aggregate_id().to_owned();
    let at = e.stored.occurred_at.clone();
    let statement = match &e.event {
        Event::Incident(IncidentEvent::IncidentReported(r)) => {
            sqlx::query(sql(format!(
                "INSERT INTO {t} (incident_id, park_id, tenant_id, kind, detected_at, detected_on,
                    reported_at, notifications, actions, escalations, last_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 0, $8)
                 ON CONFLICT (incident_id) DO NOTHING"
            )))
            .bind(id)
            .bind(r.park_id.to_string())
            .bind(r.tenant_id.map(|t| t.to_string()))
            .bind(enum_name(&r.kind))
            .bind(format_timestamp(r.detected_at))
            .bind(local_date(r.detected_at).to_string())
            .bind(at)
            .bind(e.position_i64())
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        Event::Incident(IncidentEvent::IncidentClassified(c)) => {
            sqlx::query(sql(format!(
                "UPDATE {t} SET first_classified_at = COALESCE(first_classified_at, $2), level = $3,
                    scheme_version = $4, last_position = $5 WHERE incident_id = $1"
            )))
            .bind(id)
            .bind(at)
            .bind(enum_name(&c.level))
            .bind(c.scheme_version.as_str().to_owned())
        }
        Event::Incident(IncidentEvent::IncidentNotificationSent(n)) => {
            // The first notification in log order is the earliest: the domain refuses one dated
            // before the incident's latest record.
            sqlx::query(sql(format!(
                "UPDATE {t} SET
                    first_recipient = CASE WHEN first_notified_at IS NULL THEN $3 ELSE first_recipient END,
                    first_channel = CASE WHEN first_notified_at IS NULL THEN $4 ELSE first_channel END,
                    first_notified_at = COALESCE(first_notified_at, $2),
                    notifications = notifications + 1,
                    last_position = $5
                 WHERE incident_id = $1"
            )))
            .bind(id)
            .bind(format_timestamp(n.sent_at))
            // The notified authority's id; before schema version 2, the words that named it.
            .bind(
                n.recipient_authority_id
                    .map(|a| a.to_string())
                    .or_else(|| n.recipient.as_ref().map(|r| r.as_str().to_owned())),
            )
            .bind(enum_name(&n.channel))
        }
        Event::Incident(IncidentEvent::ResponseActionTaken(_)) => sqlx::query(sql(format!(
            "UPDATE {t} SET actions = actions + 1, last_position = $2 WHERE incident_id = $1"
        )))
        .bind(id),
        Event::Incident(IncidentEvent::IncidentEscalated(_)) => sqlx::query(sql(format!(
            "UPDATE {t} SET escalations = escalations + 1, last_position = $2 WHERE incident_id = $1"
        )))
        .bind(id),
        Event::Incident(IncidentEvent::IncidentContained(_)) => {
            sqlx::query(sql(format!(
                "UPDATE {t} SET contained_at = $2, last_position = $3 WHERE incident_id = $1"
            )))
            .bind(id)
            .bind(at)
        }
        Event::Incident(IncidentEvent::IncidentResolved(_)) => {
            sqlx::query(sql(format!(
                "UPDATE {t} SET resolved_at = $2, last_position = $3 WHERE incident_id = $1"
            )))
            .bind(id)
            .bind(at)
        }
        Event::Incident(IncidentEvent::IncidentReviewed(_)) => {
            sqlx::query(sql(format!(
                "UPDATE {t} SET reviewed_at = $2, last_position = $3 WHERE incident_id = $1"
            )))
            .bind(id)
            .bind(at)
        }
        _ => return Ok(()),
    };
    let touched = statement
        .bind(e.position_i64())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if touched != 1 {
        return Err(e.error(format!("incident {} was never reported", e.aggregate_id())));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries.
// ---------------------------------------------------------------------------------------------

/// A step of an incident's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MilestoneKind {
    Detection,
    Report,
    FirstNotification,
    Classification,
    Containment,
    Resolution,
    Review,
}

/// A milestone and the gaps leading to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    pub kind: MilestoneKind,
    pub at: DateTime<Utc>,
    pub since_detection: Duration,
    /// Since the milestone before it in time (zero for the first).
    pub since_previous: Duration,
}

/// Where the allowed notification hours came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoursSource {
    /// The agreement in force at detection between the park's authority and company.
    Agreement {
        agreement_id: String,
        version: String,
        /// Signed by an authority the park's answering authority succeeded (it governs until
        /// superseded); see `kcn_domain::governing`.
        inherited: bool,
    },
    /// No agreement governed: the hours the Board set as its own policy (not a legal limit).
    BoardPolicy,
    /// No agreement governed and the Board set no policy: the law sets no hour limit, so the
    /// notification is not judged. The reason says what was missing.
    NotJudged { reason: String },
}

/// The first notification judged against the hours allowed at detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationJudgement {
    pub detected_on: NaiveDate,
    pub authority_id: Option<String>,
    pub company_id: Option<String>,
    pub source: HoursSource,
    /// 0 when not judged.
    pub allowed_hours: u32,
    /// The instant the first notification is due by; `None` when it lies beyond the calendar.
    pub deadline: Option<DateTime<Utc>>,
    pub first_notified_at: Option<DateTime<Utc>>,
    /// From detection to the first notification.
    pub lag: Option<Duration>,
    pub late: bool,
    /// Not notified, and past the deadline at the as-of time.
    pub overdue: bool,
    pub first_recipient: Option<String>,
    /// A `NotificationChannel` name.
    pub first_channel: Option<String>,
}

/// Audit question 5's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentTimeline {
    pub incident_id: String,
    pub park_id: String,
    pub tenant_id: Option<String>,
    /// An `IncidentKind` name.
    pub kind: String,
    /// In time order (ties in the order of [`MilestoneKind`]).
    pub milestones: Vec<Milestone>,
    /// The latest classification: an `IncidentLevel` name, and its scheme.
    pub level: Option<String>,
    pub scheme_version: Option<String>,
    pub notification: NotificationJudgement,
    pub notifications: u32,
    pub actions: u32,
    pub escalations: u32,
}

impl Queries<'_, Incidents> {
    /// Audit question 5: incident `incident_id`'s timeline, its notification judged against the
    /// agreement in force at detection (or `rules`), overdue as of `as_of`, once the model has
    /// applied `min_position`. `None` when the model knows no such incident.
    pub async fn timeline(
        &self,
        min_position: u64,
        rules: &LegalRules,
        incident_id: &str,
        as_of: DateTime<Utc>,
    ) -> Result<Option<IncidentTimeline>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        timeline(&mut r.conn, &r.generation, rules, incident_id, as_of).await
    }
}

/// Audit question 5: incident `incident_id`'s timeline, its notification judged against the agreement
/// in force at detection (or `rules` when none was), overdue as of `as_of`. `None` when the model
/// knows no such incident.
///
/// Index paths: the incident by primary key; the park's authority, company, agreement and levels on
/// the detection date by the registry's primary keys (see [`Registry`]).
async fn timeline(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    incident_id: &str,
    as_of: DateTime<Utc>,
) -> Result<Option<IncidentTimeline>, ProjectionError> {
    let row = sqlx::query(sql(format!(
        "SELECT incident_id, park_id, tenant_id, kind, detected_at, detected_on, reported_at,
            first_notified_at, first_recipient, first_channel, notifications, first_classified_at,
            level, scheme_version, contained_at, resolved_at, reviewed_at, actions, escalations
         FROM {} WHERE incident_id = $1",
        g.table(INCIDENTS)
    )))
    .bind(incident_id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let detected_at = instant(&row, 4)?.ok_or_else(|| corrupt("detected_at is empty"))?;
    let park_id: String = row.try_get(1)?;
    let detected_on = local_date(detected_at);

    let mut points = vec![(MilestoneKind::Detection, detected_at)];
    for (kind, index) in [
        (MilestoneKind::Report, 6),
        (MilestoneKind::FirstNotification, 7),
        (MilestoneKind::Classification, 11),
        (MilestoneKind::Containment, 14),
        (MilestoneKind::Resolution, 15),
        (MilestoneKind::Review, 16),
    ] {
        if let Some(at) = instant(&row, index)? {
            points.push((kind, at));
        }
    }
    points.sort_by_key(|(kind, at)| (*at, *kind));
    let mut milestones = Vec::new();
    let mut previous: Option<DateTime<Utc>> = None;
    for (kind, at) in points {
        milestones.push(Milestone {
            kind,
            at,
            since_detection: at - detected_at,
            since_previous: previous.map_or(Duration::zero(), |p| at - p),
        });
        previous = Some(at);
    }

    let authority = REGISTRY
        .jurisdiction_at(conn, g, &park_id, detected_on)
        .await?
        .map(|(a, _)| a);
    let company = REGISTRY
        .company_at(conn, g, &park_id, detected_on)
        .await?
        .map(|(c, _)| c);
    let mut agreed = None;
    if let (Some(a), Some(c)) = (&authority, &company)
        && let Some((agreement, inherited)) = REGISTRY
            .agreement_in_force(conn, g, a, c, detected_on)
            .await?
        && let Some(levels) = REGISTRY
            .levels_at(conn, g, &agreement.agreement_id, detected_on)
            .await?
    {
        agreed = Some((
            agreement.agreement_id,
            agreement.version,
            inherited,
            levels.incident_notification_hours,
        ));
    }
    let (source, allowed_hours) = match agreed {
        Some((agreement_id, version, inherited, hours)) => (
            HoursSource::Agreement {
                agreement_id,
                version,
                inherited,
            },
            hours,
        ),
        None => match rules.policy_incident_notification_hours {
            Some(hours) => (HoursSource::BoardPolicy, hours),
            None => (
                HoursSource::NotJudged {
                    reason: not_judged_reason(authority.is_some(), company.is_some()),
                },
                0,
            ),
        },
    };
    let first_notified_at = instant(&row, 7)?;
    let judged = match source {
        HoursSource::NotJudged { .. } => limits::Notification {
            deadline: None,
            lag: first_notified_at.map(|n| n - detected_at),
            late: false,
            overdue: false,
            breach: None,
        },
        _ => limits::notification(
            detected_at,
            allowed_hours,
            "",
            first_notified_at,
            Some(as_of),
        ),
    };
    let notification = NotificationJudgement {
        detected_on,
        authority_id: authority,
        company_id: company,
        source,
        allowed_hours,
        deadline: judged.deadline,
        first_notified_at,
        lag: judged.lag,
        late: judged.late,
        overdue: judged.overdue,
        first_recipient: row.try_get(8)?,
        first_channel: row.try_get(9)?,
    };
    let count = |index: usize| -> Result<u32, ProjectionError> {
        Ok(u32::try_from(row.try_get::<i64, _>(index)?).unwrap_or(u32::MAX))
    };
    Ok(Some(IncidentTimeline {
        incident_id: row.try_get(0)?,
        tenant_id: row.try_get(2)?,
        kind: row.try_get(3)?,
        milestones,
        level: row.try_get(12)?,
        scheme_version: row.try_get(13)?,
        notification,
        notifications: count(10)?,
        actions: count(17)?,
        escalations: count(18)?,
        park_id,
    }))
}

/// Why a notification could not be judged: the law sets no hour limit, so only an agreement (or the
/// Board's own policy) can, and none applied.
fn not_judged_reason(has_authority: bool, has_company: bool) -> String {
    let missing = match (has_authority, has_company) {
        (false, false) => {
            "the park had neither an authority nor an infrastructure company on record"
        }
        (false, true) => "the park had no authority on record",
        (true, false) => "the park had no infrastructure company on record",
        (true, true) => "no coordination agreement governed the park's authority and company",
    };
    format!(
        "not judged: the law sets no hour limit for an incident notification, {missing} on the detection date, and the Board set no policy"
    )
}

/// A nullable instant column.
fn instant(row: &AnyRow, index: usize) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    let text: Option<String> = row.try_get(index)?;
    text.map(|t| parse_timestamp(&t).map_err(corrupt))
        .transpose()
}
