//! The timeline read model: everything that concerns a park, an infrastructure company or a tenant,
//! in business-time order (audit question 1).
//!
//! Which subjects an event concerns is read from well-known reference fields of its payload
//! (`park_id`, `company_id`, `tenant_id`, their plural forms, and organisation references), plus what
//! earlier events of the same aggregate established, plus the park of every tenant it names. That
//! keeps the read model generic over the catalogue: a new aggregate with a `park_id` lands on the
//! park's timeline without code here.

use std::collections::{BTreeSet, HashMap};

use kcn_eventstore::StoredEvent;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::{Postgres, QueryBuilder, Row, Sqlite};

use crate::database::{ReadDatabase, ReadTx, to_i64};
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

/// An aggregate as the log names it: `(aggregate_type, aggregate_id)`.
type AggregateKey = (String, String);

/// What the read model knows of each aggregate's subjects, for the aggregates a batch touches.
type Known = HashMap<AggregateKey, SubjectSet>;

/// One row of `timeline_entries`: an event on one subject's timeline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimelineEntry {
    pub subject_type: String,
    pub subject_id: String,
    pub position: u64,
    pub occurred_at: String,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
}

/// One row of `timeline_subjects`: an aggregate concerns a subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SubjectLink {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub subject_type: String,
    pub subject_id: String,
}

/// The rows one batch adds.
#[derive(Debug, Default, PartialEq, Eq)]
struct Additions {
    links: Vec<SubjectLink>,
    entries: Vec<TimelineEntry>,
}

/// The rows a variable-limited SQLite statement takes: 32,766 bound variables per statement.
const SQLITE_VARIABLES: usize = 32_000;

fn key_of(e: &StoredEvent) -> AggregateKey {
    (e.aggregate_type.clone(), e.aggregate_id.clone())
}

fn tenant_key(id: &str) -> AggregateKey {
    ("Tenant".to_owned(), id.to_owned())
}

/// The subjects an event names by itself: the aggregate it is, and its payload's references.
fn named(e: &StoredEvent, payload: &Value) -> SubjectSet {
    let mut subjects = SubjectSet::new();
    if let Some(own) = Subject::of_aggregate(&e.aggregate_type) {
        subjects.insert((own, e.aggregate_id.clone()));
    }
    referenced(payload, &mut subjects);
    subjects
}

/// Decides the rows a batch adds, in log order, as if each event were applied after the one before:
/// an event's subjects are those it names, those earlier events of its aggregate established, and the
/// park of every tenant among them. `known` holds what the database knew before the batch for every
/// aggregate the batch asks about, and learns as the batch goes.
fn plan(events: &[StoredEvent], payloads: &[Value], known: &mut Known) -> Additions {
    let mut out = Additions::default();
    for (e, payload) in events.iter().zip(payloads) {
        let key = key_of(e);
        let mut subjects = named(e, payload);
        if let Some(earlier) = known.get(&key) {
            subjects.extend(earlier.iter().cloned());
        }
        // A tenant's events concern its park too.
        let parks: Vec<(Subject, String)> = subjects
            .iter()
            .filter(|(s, _)| *s == Subject::Tenant)
            .filter_map(|(_, id)| known.get(&tenant_key(id)))
            .flat_map(|of_tenant| of_tenant.iter().filter(|(s, _)| *s == Subject::Park))
            .cloned()
            .collect();
        subjects.extend(parks);
        if subjects.is_empty() {
            continue;
        }
        let remembered = known.entry(key).or_default();
        for (s, id) in &subjects {
            if remembered.insert((*s, id.clone())) {
                out.links.push(SubjectLink {
                    aggregate_type: e.aggregate_type.clone(),
                    aggregate_id: e.aggregate_id.clone(),
                    subject_type: s.as_str().to_owned(),
                    subject_id: id.clone(),
                });
            }
            out.entries.push(TimelineEntry {
                subject_type: s.as_str().to_owned(),
                subject_id: id.clone(),
                position: e.position,
                occurred_at: e.occurred_at.clone(),
                event_type: e.event_type.clone(),
                aggregate_type: e.aggregate_type.clone(),
                aggregate_id: e.aggregate_id.clone(),
            });
        }
    }
    out
}

/// The physical tables a timeline is written to: the live ones, or a rebuild's, which replace the live
/// ones' content in one transaction when the rebuild has caught up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tables {
    pub entries: &'static str,
    pub subjects: &'static str,
}

/// The tables queries read.
pub(crate) const LIVE: Tables = Tables {
    entries: "timeline_entries",
    subjects: "timeline_subjects",
};

/// The tables a rebuild fills beside the live ones.
pub(crate) const REBUILD: Tables = Tables {
    entries: "timeline_entries_rebuild",
    subjects: "timeline_subjects_rebuild",
};

/// Creates empty rebuild tables beside the live ones, dropping what a failed rebuild left. Their keys
/// are the live tables' (the subjects' key also serves the batch's look-ups by aggregate).
pub(crate) async fn create_rebuild_tables(tx: &mut ReadTx) -> Result<(), ProjectionError> {
    for statement in [
        "DROP TABLE IF EXISTS timeline_entries_rebuild",
        "DROP TABLE IF EXISTS timeline_subjects_rebuild",
        "CREATE TABLE timeline_entries_rebuild (subject_type TEXT NOT NULL, \
         subject_id TEXT NOT NULL, position BIGINT NOT NULL, occurred_at TEXT NOT NULL, \
         event_type TEXT NOT NULL, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, \
         PRIMARY KEY (subject_type, subject_id, position))",
        "CREATE TABLE timeline_subjects_rebuild (aggregate_type TEXT NOT NULL, \
         aggregate_id TEXT NOT NULL, subject_type TEXT NOT NULL, subject_id TEXT NOT NULL, \
         PRIMARY KEY (aggregate_type, aggregate_id, subject_type, subject_id))",
    ] {
        tx.execute(statement).await?;
    }
    Ok(())
}

/// Replaces the live tables' content with the rebuild's, and drops the rebuild tables, inside the
/// caller's transaction: readers see the old timeline until it commits, then the new one, and never
/// a partial one.
pub(crate) async fn replace_live_with_rebuild(tx: &mut ReadTx) -> Result<(), ProjectionError> {
    for statement in [
        "DELETE FROM timeline_entries",
        "DELETE FROM timeline_subjects",
        "INSERT INTO timeline_entries (subject_type, subject_id, position, occurred_at, event_type, \
         aggregate_type, aggregate_id) SELECT subject_type, subject_id, position, occurred_at, \
         event_type, aggregate_type, aggregate_id FROM timeline_entries_rebuild",
        "INSERT INTO timeline_subjects (aggregate_type, aggregate_id, subject_type, subject_id) \
         SELECT aggregate_type, aggregate_id, subject_type, subject_id FROM timeline_subjects_rebuild",
        "DROP TABLE timeline_entries_rebuild",
        "DROP TABLE timeline_subjects_rebuild",
    ] {
        tx.execute(statement).await?;
    }
    Ok(())
}

/// Applies a batch of events to the timeline inside the projector's transaction, in a few statements:
/// two reads of what earlier events established, then one insert per table.
pub(crate) async fn apply(tx: &mut ReadTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    apply_to(tx, LIVE, events).await
}

/// [`apply`] into the given tables.
pub(crate) async fn apply_to(
    tx: &mut ReadTx,
    tables: Tables,
    events: &[StoredEvent],
) -> Result<(), ProjectionError> {
    let payloads = events
        .iter()
        .map(|e| {
            serde_json::from_slice::<Value>(&e.payload).map_err(|err| ProjectionError::Apply {
                position: e.position,
                reason: format!("payload is not JSON: {err}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut known = Known::new();
    let own: BTreeSet<AggregateKey> = events.iter().map(key_of).collect();
    load_known(tx, tables, &own, &mut known).await?;
    // Every tenant an event may concern: those the events name, and those their aggregates named
    // before. Whatever the batch learns on the way comes from the former, so this is all it asks.
    let mut tenants = BTreeSet::new();
    for (e, payload) in events.iter().zip(&payloads) {
        let earlier = known.get(&key_of(e)).into_iter().flatten();
        for (s, id) in named(e, payload).iter().chain(earlier) {
            let key = tenant_key(id);
            if *s == Subject::Tenant && !own.contains(&key) {
                tenants.insert(key);
            }
        }
    }
    load_known(tx, tables, &tenants, &mut known).await?;
    let additions = plan(events, &payloads, &mut known);
    write(tx, tables, &additions).await
}

/// Adds to `known` the stored subjects of the given aggregates.
async fn load_known(
    tx: &mut ReadTx,
    tables: Tables,
    keys: &BTreeSet<AggregateKey>,
    known: &mut Known,
) -> Result<(), ProjectionError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    match tx {
        ReadTx::Sqlite(tx) => {
            let keys: Vec<&AggregateKey> = keys.iter().collect();
            for chunk in keys.chunks(SQLITE_VARIABLES / 2) {
                let mut q = QueryBuilder::<Sqlite>::new(format!(
                    "SELECT aggregate_type, aggregate_id, subject_type, subject_id \
                     FROM {} WHERE (aggregate_type, aggregate_id) IN (",
                    tables.subjects
                ));
                q.push_values(chunk, |mut row, (t, id)| {
                    row.push_bind(t.as_str()).push_bind(id.as_str());
                });
                q.push(")");
                for r in q.build().fetch_all(&mut **tx).await? {
                    rows.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
                }
            }
        }
        ReadTx::Postgres(tx) => {
            let types: Vec<&str> = keys.iter().map(|(t, _)| t.as_str()).collect();
            let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
            let found = sqlx::query(AssertSqlSafe(format!(
                "SELECT aggregate_type, aggregate_id, subject_type, subject_id \
                 FROM {} WHERE (aggregate_type, aggregate_id) IN \
                 (SELECT * FROM UNNEST($1::text[], $2::text[]))",
                tables.subjects
            )))
            .bind(types)
            .bind(ids)
            .fetch_all(&mut **tx)
            .await?;
            for r in found {
                rows.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
            }
        }
    }
    for key in keys {
        known.entry(key.clone()).or_default();
    }
    for (aggregate_type, aggregate_id, subject_type, subject_id) in rows {
        if let Some(s) = Subject::parse(&subject_type) {
            known
                .entry((aggregate_type, aggregate_id))
                .or_default()
                .insert((s, subject_id));
        }
    }
    Ok(())
}

/// Inserts a batch's rows. A timeline entry is inserted plainly, not "or ignore": each event is
/// applied once, and a second application must fail loudly rather than pass unnoticed.
async fn write(tx: &mut ReadTx, tables: Tables, add: &Additions) -> Result<(), ProjectionError> {
    match tx {
        ReadTx::Sqlite(tx) => {
            for chunk in add.links.chunks(SQLITE_VARIABLES / 4) {
                let mut q = QueryBuilder::<Sqlite>::new(format!(
                    "INSERT INTO {} (aggregate_type, aggregate_id, subject_type, subject_id) ",
                    tables.subjects
                ));
                q.push_values(chunk, |mut row, l| {
                    row.push_bind(l.aggregate_type.as_str())
                        .push_bind(l.aggregate_id.as_str())
                        .push_bind(l.subject_type.as_str())
                        .push_bind(l.subject_id.as_str());
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut **tx).await?;
            }
            for chunk in add.entries.chunks(SQLITE_VARIABLES / 7) {
                let mut q = QueryBuilder::<Sqlite>::new(format!(
                    "INSERT INTO {} (subject_type, subject_id, position, occurred_at, \
                     event_type, aggregate_type, aggregate_id) ",
                    tables.entries
                ));
                q.push_values(chunk, |mut row, t| {
                    row.push_bind(t.subject_type.as_str())
                        .push_bind(t.subject_id.as_str())
                        .push_bind(to_i64(t.position))
                        .push_bind(t.occurred_at.as_str())
                        .push_bind(t.event_type.as_str())
                        .push_bind(t.aggregate_type.as_str())
                        .push_bind(t.aggregate_id.as_str());
                });
                q.build().execute(&mut **tx).await?;
            }
        }
        ReadTx::Postgres(tx) => {
            if !add.links.is_empty() {
                let col = |f: fn(&SubjectLink) -> &str| -> Vec<&str> {
                    add.links.iter().map(f).collect()
                };
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {} (aggregate_type, aggregate_id, subject_type, subject_id) \
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
                     ON CONFLICT DO NOTHING",
                    tables.subjects
                )))
                .bind(col(|l| &l.aggregate_type))
                .bind(col(|l| &l.aggregate_id))
                .bind(col(|l| &l.subject_type))
                .bind(col(|l| &l.subject_id))
                .execute(&mut **tx)
                .await?;
            }
            if !add.entries.is_empty() {
                let col = |f: fn(&TimelineEntry) -> &str| -> Vec<&str> {
                    add.entries.iter().map(f).collect()
                };
                let positions: Vec<i64> = add.entries.iter().map(|t| to_i64(t.position)).collect();
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {} (subject_type, subject_id, position, occurred_at, \
                     event_type, aggregate_type, aggregate_id) \
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], \
                     $5::text[], $6::text[], $7::text[])",
                    tables.entries
                )))
                .bind(col(|t| &t.subject_type))
                .bind(col(|t| &t.subject_id))
                .bind(positions)
                .bind(col(|t| &t.occurred_at))
                .bind(col(|t| &t.event_type))
                .bind(col(|t| &t.aggregate_type))
                .bind(col(|t| &t.aggregate_id))
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}

/// Empties the timeline's tables (inside a rebuild's transaction).
pub(crate) async fn clear(tx: &mut ReadTx) -> Result<(), ProjectionError> {
    match tx {
        ReadTx::Sqlite(tx) => {
            sqlx::query("DELETE FROM timeline_entries")
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM timeline_subjects")
                .execute(&mut **tx)
                .await?;
        }
        ReadTx::Postgres(tx) => {
            sqlx::query("DELETE FROM timeline_entries")
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM timeline_subjects")
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// The timeline read model's whole content and checkpoint, read in one snapshot of the database, for
/// comparing a live read model with a rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineSnapshot {
    /// The checkpoint: the last position applied.
    pub position: u64,
    /// Events applied since the last (re)build; equals `position` when each was applied once.
    pub events_applied: u64,
    /// Every timeline entry, in key order.
    pub entries: Vec<TimelineEntry>,
    /// Every aggregate-to-subject link, in key order.
    pub links: Vec<SubjectLink>,
}

/// Reads a [`TimelineSnapshot`] of `db`.
pub(crate) async fn snapshot(db: &ReadDatabase) -> Result<TimelineSnapshot, ProjectionError> {
    const CHECKPOINT: &str = "SELECT position, events_applied FROM projection_checkpoints \
         WHERE name = 'timeline'";
    const ENTRIES: &str = "SELECT subject_type, subject_id, position, occurred_at, event_type, \
         aggregate_type, aggregate_id FROM timeline_entries";
    const LINKS: &str =
        "SELECT aggregate_type, aggregate_id, subject_type, subject_id FROM timeline_subjects";
    macro_rules! read {
        ($tx:expr) => {{
            let checkpoint: Option<(i64, i64)> =
                sqlx::query_as(CHECKPOINT).fetch_optional(&mut *$tx).await?;
            let entries = sqlx::query(ENTRIES)
                .fetch_all(&mut *$tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(TimelineEntry {
                        subject_type: r.try_get(0)?,
                        subject_id: r.try_get(1)?,
                        position: r.try_get::<i64, _>(2)? as u64,
                        occurred_at: r.try_get(3)?,
                        event_type: r.try_get(4)?,
                        aggregate_type: r.try_get(5)?,
                        aggregate_id: r.try_get(6)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            let links = sqlx::query(LINKS)
                .fetch_all(&mut *$tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(SubjectLink {
                        aggregate_type: r.try_get(0)?,
                        aggregate_id: r.try_get(1)?,
                        subject_type: r.try_get(2)?,
                        subject_id: r.try_get(3)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            $tx.commit().await?;
            let (position, applied) = checkpoint.unwrap_or((0, 0));
            (position as u64, applied as u64, entries, links)
        }};
    }
    let (position, events_applied, mut entries, mut links) = match db {
        // A read transaction in WAL mode reads one snapshot.
        ReadDatabase::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            read!(tx)
        }
        ReadDatabase::Postgres(pool) => {
            let mut tx = pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            read!(tx)
        }
    };
    entries.sort();
    links.sort();
    Ok(TimelineSnapshot {
        position,
        events_applied,
        entries,
        links,
    })
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

/// Builds a timeline query for one dialect; `QueryBuilder` writes each dialect's placeholders.
macro_rules! timeline_query {
    ($db:ty, $q:expr) => {{
        let q = $q;
        let mut b = QueryBuilder::<$db>::new(
            "SELECT t.position, t.occurred_at, e.recorded_at, t.event_type, t.aggregate_type, \
             t.aggregate_id, e.payload FROM timeline_entries t JOIN events e ON e.position = t.position \
             WHERE t.subject_type = ",
        );
        b.push_bind(q.subject.as_str())
            .push(" AND t.subject_id = ")
            .push_bind(q.subject_id.clone());
        if let Some(from) = &q.from {
            b.push(" AND t.occurred_at >= ").push_bind(from.clone());
        }
        if let Some(to) = &q.to {
            b.push(" AND t.occurred_at < ").push_bind(to.clone());
        }
        if !q.event_types.is_empty() {
            b.push(" AND t.event_type IN (");
            let mut list = b.separated(", ");
            for t in &q.event_types {
                list.push_bind(t.clone());
            }
            list.push_unseparated(")");
        }
        if let Some((at, pos)) = &q.after {
            b.push(" AND (t.occurred_at > ")
                .push_bind(at.clone())
                .push(" OR (t.occurred_at = ")
                .push_bind(at.clone())
                .push(" AND t.position > ")
                .push_bind(to_i64(*pos))
                .push("))");
        }
        b.push(" ORDER BY t.occurred_at, t.position LIMIT ")
            .push_bind(i64::from(q.limit));
        b
    }};
}

/// Reads the rows of a timeline query, whichever the driver.
macro_rules! timeline_rows {
    ($rows:expr) => {
        $rows
            .iter()
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
            .collect::<Result<Vec<_>, ProjectionError>>()
    };
}

/// Runs a timeline query; returns at most `limit` rows in `(occurred_at, position)` order.
pub(crate) async fn query(
    db: &ReadDatabase,
    q: &TimelineQuery,
) -> Result<Vec<TimelineRow>, ProjectionError> {
    match db {
        ReadDatabase::Sqlite(pool) => {
            let rows = timeline_query!(Sqlite, q).build().fetch_all(pool).await?;
            timeline_rows!(rows)
        }
        ReadDatabase::Postgres(pool) => {
            let rows = timeline_query!(Postgres, q).build().fetch_all(pool).await?;
            timeline_rows!(rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        position: u64,
        aggregate_type: &str,
        aggregate_id: &str,
        payload: Value,
    ) -> StoredEvent {
        StoredEvent {
            position,
            event_id: uuid::Uuid::now_v7(),
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            aggregate_version: 1,
            event_type: format!("E{position}"),
            schema_version: 1,
            occurred_at: "2025-04-01T00:00:00.000000Z".to_owned(),
            recorded_at: "2025-04-01T00:00:00.000000Z".to_owned(),
            payload: serde_json::to_vec(&payload).unwrap(),
            metadata: b"{}".to_vec(),
        }
    }

    fn on(additions: &Additions, position: u64) -> Vec<(String, String)> {
        additions
            .entries
            .iter()
            .filter(|t| t.position == position)
            .map(|t| (t.subject_type.clone(), t.subject_id.clone()))
            .collect()
    }

    /// Within one batch, what an earlier event established counts for the later ones, exactly as if
    /// each event had been applied in its own transaction.
    #[test]
    fn a_batch_learns_as_it_goes() {
        let events = [
            event(1, "Tenant", "t1", serde_json::json!({"park_id": "p1"})),
            event(2, "Exchange", "x1", serde_json::json!({"tenant_id": "t1"})),
            event(
                3,
                "Exchange",
                "x1",
                serde_json::json!({"body": "an answer"}),
            ),
            event(4, "Authority", "a1", serde_json::json!({"name": "Board"})),
        ];
        let payloads: Vec<Value> = events
            .iter()
            .map(|e| serde_json::from_slice(&e.payload).unwrap())
            .collect();
        let mut known = Known::new();
        let additions = plan(&events, &payloads, &mut known);
        let both = vec![
            ("park".to_owned(), "p1".to_owned()),
            ("tenant".to_owned(), "t1".to_owned()),
        ];
        assert_eq!(on(&additions, 1), both);
        assert_eq!(
            on(&additions, 2),
            both,
            "the tenant's park joins through the tenant"
        );
        assert_eq!(on(&additions, 3), both, "the answer follows its exchange");
        assert!(
            on(&additions, 4).is_empty(),
            "an authority is no timeline subject"
        );
        assert_eq!(additions.links.len(), 4, "each link is remembered once");
    }

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
