//! The timeline read model: everything that concerns a park, an infrastructure company or a tenant,
//! in business-time order (audit question 1).
//!
//! Which subjects an event concerns is read from well-known reference fields of its payload
//! (`park_id`, `company_id`, `tenant_id`, their plural forms, and organisation references), plus what
//! earlier events of the same aggregate established, plus the park of every tenant it names. That
//! keeps the read model generic over the catalogue: a new aggregate with a `park_id` lands on the
//! park's timeline without code here.

use std::collections::BTreeSet;

use kcn_eventstore::StoredEvent;
use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::error::ProjectionError;

/// What a timeline is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    Park,
    Company,
    Tenant,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Park => "park",
            Self::Company => "company",
            Self::Tenant => "tenant",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "park" => Some(Self::Park),
            "company" => Some(Self::Company),
            "tenant" => Some(Self::Tenant),
            _ => None,
        }
    }

    /// The subject an aggregate is itself, if any.
    fn of_aggregate(aggregate_type: &str) -> Option<Self> {
        match aggregate_type {
            "Park" => Some(Self::Park),
            "InfrastructureCompany" => Some(Self::Company),
            "Tenant" => Some(Self::Tenant),
            _ => None,
        }
    }
}

type SubjectSet = BTreeSet<(Subject, String)>;

/// The subjects named by an event's payload.
fn referenced(payload: &Value, out: &mut SubjectSet) {
    let Value::Object(map) = payload else { return };
    for (key, value) in map {
        let subject = match key.as_str() {
            "park_id" | "park_ids" => Some(Subject::Park),
            "company_id" | "company_ids" => Some(Subject::Company),
            "tenant_id" | "tenant_ids" => Some(Subject::Tenant),
            _ => None,
        };
        match (subject, value) {
            (Some(s), Value::String(id)) => {
                out.insert((s, id.clone()));
            }
            (Some(s), Value::Array(ids)) => {
                out.extend(
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(|id| (s, id.to_owned())),
                );
            }
            (None, Value::Object(inner)) => {
                // An organisation reference: {"kind": "ORGANISATION_KIND_INFRASTRUCTURE_COMPANY", "id": ...}.
                if inner.get("kind").and_then(Value::as_str)
                    == Some("ORGANISATION_KIND_INFRASTRUCTURE_COMPANY")
                    && let Some(id) = inner.get("id").and_then(Value::as_str)
                {
                    out.insert((Subject::Company, id.to_owned()));
                }
            }
            _ => {}
        }
    }
}

/// Applies a batch of events to the timeline inside the projector's transaction.
pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    events: &[StoredEvent],
) -> Result<(), ProjectionError> {
    for e in events {
        let payload: Value =
            serde_json::from_slice(&e.payload).map_err(|err| ProjectionError::Apply {
                position: e.position,
                reason: format!("payload is not JSON: {err}"),
            })?;
        let mut subjects = SubjectSet::new();
        if let Some(own) = Subject::of_aggregate(&e.aggregate_type) {
            subjects.insert((own, e.aggregate_id.clone()));
        }
        referenced(&payload, &mut subjects);
        // What earlier events of this aggregate established.
        let known = sqlx::query(
            "SELECT subject_type, subject_id FROM timeline_subjects \
             WHERE aggregate_type = ?1 AND aggregate_id = ?2",
        )
        .bind(&e.aggregate_type)
        .bind(&e.aggregate_id)
        .fetch_all(&mut *conn)
        .await?;
        for row in known {
            let kind: String = row.try_get(0)?;
            if let Some(s) = Subject::parse(&kind) {
                subjects.insert((s, row.try_get(1)?));
            }
        }
        // A tenant's events concern its park too.
        let tenants: Vec<String> = subjects
            .iter()
            .filter(|(s, _)| *s == Subject::Tenant)
            .map(|(_, id)| id.clone())
            .collect();
        for tenant in tenants {
            let parks = sqlx::query(
                "SELECT subject_id FROM timeline_subjects WHERE aggregate_type = 'Tenant' \
                 AND aggregate_id = ?1 AND subject_type = 'park'",
            )
            .bind(&tenant)
            .fetch_all(&mut *conn)
            .await?;
            for row in parks {
                subjects.insert((Subject::Park, row.try_get(0)?));
            }
        }
        if subjects.is_empty() {
            continue;
        }
        let mut remember = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO timeline_subjects (aggregate_type, aggregate_id, subject_type, subject_id) ",
        );
        remember.push_values(&subjects, |mut row, (s, id)| {
            row.push_bind(&e.aggregate_type)
                .push_bind(&e.aggregate_id)
                .push_bind(s.as_str())
                .push_bind(id);
        });
        remember.build().execute(&mut *conn).await?;
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO timeline_entries (subject_type, subject_id, position, occurred_at, \
             event_type, aggregate_type, aggregate_id) ",
        );
        insert.push_values(&subjects, |mut row, (s, id)| {
            row.push_bind(s.as_str())
                .push_bind(id)
                .push_bind(e.position as i64)
                .push_bind(&e.occurred_at)
                .push_bind(&e.event_type)
                .push_bind(&e.aggregate_type)
                .push_bind(&e.aggregate_id);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// A timeline query.
#[derive(Debug, Clone)]
pub struct TimelineQuery {
    pub subject: Subject,
    pub subject_id: String,
    /// Inclusive lower bound on `occurred_at` (canonical RFC 3339 text).
    pub from: Option<String>,
    /// Exclusive upper bound on `occurred_at`.
    pub to: Option<String>,
    pub event_types: Vec<String>,
    pub limit: u32,
    /// Continue after this `(occurred_at, position)`.
    pub after: Option<(String, u64)>,
}

/// One timeline row with the event's stored fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    pub position: u64,
    pub occurred_at: String,
    pub recorded_at: String,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub payload: Vec<u8>,
}

/// Runs a timeline query; returns at most `limit` rows in `(occurred_at, position)` order.
pub(crate) async fn query(
    pool: &sqlx::SqlitePool,
    q: &TimelineQuery,
) -> Result<Vec<TimelineRow>, ProjectionError> {
    let mut b = QueryBuilder::<Sqlite>::new(
        "SELECT t.position, t.occurred_at, e.recorded_at, t.event_type, t.aggregate_type, \
         t.aggregate_id, e.payload FROM timeline_entries t JOIN events e ON e.position = t.position \
         WHERE t.subject_type = ",
    );
    b.push_bind(q.subject.as_str())
        .push(" AND t.subject_id = ")
        .push_bind(&q.subject_id);
    if let Some(from) = &q.from {
        b.push(" AND t.occurred_at >= ").push_bind(from);
    }
    if let Some(to) = &q.to {
        b.push(" AND t.occurred_at < ").push_bind(to);
    }
    if !q.event_types.is_empty() {
        b.push(" AND t.event_type IN (");
        let mut list = b.separated(", ");
        for t in &q.event_types {
            list.push_bind(t);
        }
        list.push_unseparated(")");
    }
    if let Some((at, pos)) = &q.after {
        b.push(" AND (t.occurred_at > ")
            .push_bind(at)
            .push(" OR (t.occurred_at = ")
            .push_bind(at)
            .push(" AND t.position > ")
            .push_bind(*pos as i64)
            .push("))");
    }
    b.push(" ORDER BY t.occurred_at, t.position LIMIT ")
        .push_bind(i64::from(q.limit));
    let rows = b.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(TimelineRow {
                position: r.try_get::<i64, _>(0)? as u64,
                occurred_at: r.try_get(1)?,
                recorded_at: r.try_get(2)?,
                event_type: r.try_get(3)?,
                aggregate_type: r.try_get(4)?,
                aggregate_id: r.try_get(5)?,
                payload: r.try_get(6)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_from_well_known_fields() {
        let payload = serde_json::json!({
            "park_id": "p1",
            "tenant_ids": ["t1", "t2"],
            "from": {"kind": "ORGANISATION_KIND_AUTHORITY", "id": "a1"},
            "to": {"kind": "ORGANISATION_KIND_INFRASTRUCTURE_COMPANY", "id": "c1"},
            "authority_id": "a2",
        });
        let mut out = SubjectSet::new();
        referenced(&payload, &mut out);
        let expected: SubjectSet = [
            (Subject::Park, "p1".to_owned()),
            (Subject::Tenant, "t1".to_owned()),
            (Subject::Tenant, "t2".to_owned()),
            (Subject::Company, "c1".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(out, expected);
    }
}
