//! Audit question 1, the timeline: everything that concerns a park, an infrastructure company or a
//! tenant, in business-time order.
//!
//! Which subjects an event concerns is read from well-known reference fields of its payload
//! (`park_id`, `company_id`, `tenant_id`, their plural forms, and organisation references), plus what
//! earlier events of the same aggregate established, plus the park of every tenant it names. That
//! keeps the read model generic over the catalogue: a new aggregate with a `park_id` lands on the
//! park's timeline without code here.
//!
//! A batch costs a few statements whatever its size: two reads of what earlier events established,
//! then one multi-row insert per table (chunked below the databases' limits on bound values).

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;

use async_trait::async_trait;
use kcn_domain::{AggregateKind, Event};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use super::sql::{Args, limit};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// What a timeline is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    Park,
    Company,
    Tenant,
    Authority,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Park => "park",
            Self::Company => "company",
            Self::Tenant => "tenant",
            Self::Authority => "authority",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "park" => Some(Self::Park),
            "company" => Some(Self::Company),
            "tenant" => Some(Self::Tenant),
            "authority" => Some(Self::Authority),
            _ => None,
        }
    }

    /// The subject an event's aggregate is itself, if any.
    fn of_event(event: &Event) -> Option<Self> {
        match event {
            Event::Park(_) => Some(Self::Park),
            Event::InfrastructureCompany(_) => Some(Self::Company),
            Event::Tenant(_) => Some(Self::Tenant),
            Event::Authority(_) => Some(Self::Authority),
            _ => None,
        }
    }
}

type SubjectSet = BTreeSet<(Subject, String)>;

/// How deep `referenced` looks into a payload's nested objects and lists (an annual plan's tasks
/// are one level down; nothing in the catalogue is deeper than two).
const MAX_DEPTH: usize = 4;

/// The subjects named by an event's payload, at its top level and in its nested objects and lists
/// of objects (an annual plan's tasks name their assignees and parks).
fn referenced(payload: &Value, out: &mut SubjectSet) {
    referenced_within(payload, out, 0);
}

fn referenced_within(payload: &Value, out: &mut SubjectSet, depth: usize) {
    let Value::Object(map) = payload else { return };
    if depth > MAX_DEPTH {
        return;
    }
    for (key, value) in map {
        let subject = match key.as_str() {
            "park_id" | "park_ids" => Some(Subject::Park),
            "company_id" | "company_ids" | "assignee_company_id" => Some(Subject::Company),
            "tenant_id" | "tenant_ids" => Some(Subject::Tenant),
            // An authority named as such, as a successor or predecessor in a succession, or as
            // the recipient of a notification.
            "authority_id"
            | "authority_ids"
            | "successor"
            | "predecessors"
            | "recipient_authority_id" => Some(Subject::Authority),
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
                // An organisation reference: {"kind": "ORGANISATION_KIND_…", "id": ...}.
                let kind = match inner.get("kind").and_then(Value::as_str) {
                    Some("ORGANISATION_KIND_INFRASTRUCTURE_COMPANY") => Some(Subject::Company),
                    Some("ORGANISATION_KIND_AUTHORITY") => Some(Subject::Authority),
                    _ => None,
                };
                match (kind, inner.get("id").and_then(Value::as_str)) {
                    (Some(kind), Some(id)) => {
                        out.insert((kind, id.to_owned()));
                    }
                    _ => referenced_within(value, out, depth + 1),
                }
            }
            (None, Value::Array(items)) => {
                for item in items {
                    referenced_within(item, out, depth + 1);
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

/// One row of the entries table: an event on one subject's timeline.
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

/// One row of the subjects table: an aggregate concerns a subject.
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
    /// Company assignments of parks: `(park_id, effective_from, company_id)`.
    operators: Vec<(String, NaiveDate, String)>,
}

/// Which company ran each park from when: park id → `(effective_from, company_id)` in date order,
/// for the parks a batch may need (those of the companies it names, and those it assigns).
type Operators = HashMap<String, Vec<(NaiveDate, String)>>;

/// The parks `company` ran on `date`.
fn parks_run_by(operators: &Operators, company: &str, date: NaiveDate) -> Vec<String> {
    operators
        .iter()
        .filter(|(_, timeline)| {
            timeline
                .iter()
                .take_while(|(from, _)| *from <= date)
                .last()
                .is_some_and(|(_, c)| c == company)
        })
        .map(|(park, _)| park.clone())
        .collect()
}

/// Bound values per statement: below SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BOUND: usize = 30_000;

fn key_of(e: &Envelope) -> AggregateKey {
    (
        e.stored.aggregate_type.clone(),
        e.stored.aggregate_id.clone(),
    )
}

fn tenant_key(id: &str) -> AggregateKey {
    (AggregateKind::Tenant.as_str().to_owned(), id.to_owned())
}

/// The subjects an event names by itself: the aggregate it is, and its payload's references.
fn named(e: &Envelope, payload: &Value) -> SubjectSet {
    let mut subjects = SubjectSet::new();
    if let Some(own) = Subject::of_event(&e.event) {
        subjects.insert((own, e.stored.aggregate_id.clone()));
    }
    referenced(payload, &mut subjects);
    subjects
}

/// Decides the rows a batch adds, in log order, as if each event were applied after the one before:
/// an event's subjects are those it names, those earlier events of its aggregate established (parks,
/// companies and tenants; an authority only where an event names it), and the park of every tenant
/// among them. `known` holds what the database knew before the batch for every
/// aggregate the batch asks about, and learns as the batch goes.
fn plan(
    events: &[Envelope],
    payloads: &[Value],
    known: &mut Known,
    operators: &mut Operators,
) -> Additions {
    let mut out = Additions::default();
    for (e, payload) in events.iter().zip(payloads) {
        let key = key_of(e);
        if let Some((company, from)) = assignment(e, payload) {
            let timeline = operators.entry(e.stored.aggregate_id.clone()).or_default();
            timeline.push((from, company.clone()));
            timeline.sort();
            out.operators
                .push((e.stored.aggregate_id.clone(), from, company));
        }
        let mut subjects = named(e, payload);
        if let Some(earlier) = known.get(&key) {
            subjects.extend(earlier.iter().cloned());
        }
        // An act that names a company and no park (an agreement, a request to the company, a
        // plan's task) concerns each park the company ran on its date.
        let mut ran: SubjectSet = SubjectSet::new();
        if !subjects.iter().any(|(s, _)| *s == Subject::Park) {
            let date = kcn_domain::time::local_date(e.occurred_at);
            for (_, company) in subjects.iter().filter(|(s, _)| *s == Subject::Company) {
                ran.extend(
                    parks_run_by(operators, company, date)
                        .into_iter()
                        .map(|p| (Subject::Park, p)),
                );
            }
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
            // An authority's timeline holds the events that name it, not every later event of
            // their aggregates: a park keeps its events after its jurisdiction moves to another.
            if *s != Subject::Authority && remembered.insert((*s, id.clone())) {
                out.links.push(SubjectLink {
                    aggregate_type: e.stored.aggregate_type.clone(),
                    aggregate_id: e.stored.aggregate_id.clone(),
                    subject_type: s.as_str().to_owned(),
                    subject_id: id.clone(),
                });
            }
            out.entries.push(TimelineEntry {
                subject_type: s.as_str().to_owned(),
                subject_id: id.clone(),
                position: e.position(),
                occurred_at: e.stored.occurred_at.clone(),
                event_type: e.stored.event_type.clone(),
                aggregate_type: e.stored.aggregate_type.clone(),
                aggregate_id: e.stored.aggregate_id.clone(),
            });
        }
        // Not remembered for the aggregate: a later event of it has a date of its own.
        for (s, id) in ran.difference(&subjects) {
            out.entries.push(TimelineEntry {
                subject_type: s.as_str().to_owned(),
                subject_id: id.clone(),
                position: e.position(),
                occurred_at: e.stored.occurred_at.clone(),
                event_type: e.stored.event_type.clone(),
                aggregate_type: e.stored.aggregate_type.clone(),
                aggregate_id: e.stored.aggregate_id.clone(),
            });
        }
    }
    out
}

/// A park's company assignment: the company and the date from which it runs the park.
fn assignment(e: &Envelope, payload: &Value) -> Option<(String, NaiveDate)> {
    if e.stored.event_type != "InfrastructureCompanyAssigned" {
        return None;
    }
    let company = payload.get("company_id")?.as_str()?.to_owned();
    let from = payload.get("effective_from")?.as_str()?.parse().ok()?;
    Some((company, from))
}

/// The timeline read model.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timeline;

impl Named for Timeline {
    const NAME: &'static str = "timeline";
}

impl Queries<'_, Timeline> {
    /// The positions after `after` of the events on any of `subjects`' timelines (`("park", id)`,
    /// `("company", id)`), in log order, at most `limit`, among the events the model has applied;
    /// and the position it has applied up to (every matching event up to it is in the answer or
    /// before `after`). A subscription's filter by park or company follows this.
    pub async fn positions(
        &self,
        subjects: &[(&str, String)],
        after: u64,
        limit: u32,
    ) -> Result<(Vec<u64>, u64), ProjectionError> {
        let mut r = self.reader(0).await?;
        // The checkpoint first: the entries up to it were committed with it.
        let applied: Option<i64> = sqlx::query_scalar(super::sql::sql(
            "SELECT position FROM projection_checkpoints WHERE name = $1".to_owned(),
        ))
        .bind(<Timeline as Named>::NAME)
        .fetch_optional(&mut *r.conn)
        .await?;
        let applied = u64::try_from(applied.unwrap_or(0)).unwrap_or(0);
        if subjects.is_empty() || applied <= after {
            return Ok((Vec::new(), applied));
        }
        let mut args = Args::default();
        let wanted: Vec<String> = subjects
            .iter()
            .map(|(t, id)| format!("({}, {})", args.text(*t), args.text(id.as_str())))
            .collect();
        let statement = format!(
            "SELECT DISTINCT position FROM {} WHERE (subject_type, subject_id) IN (VALUES {}) \
             AND position > {} AND position <= {} ORDER BY position LIMIT {}",
            entries(&r.generation),
            wanted.join(", "),
            args.int(i64::try_from(after).unwrap_or(i64::MAX)),
            args.int(i64::try_from(applied).unwrap_or(i64::MAX)),
            args.int(i64::from(limit)),
        );
        let rows = args.fetch_all(&mut r.conn, statement).await?;
        let positions = rows
            .iter()
            .map(|row| Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or_default()))
            .collect::<Result<Vec<_>, ProjectionError>>()?;
        Ok((positions, applied))
    }

    /// Audit question 1: a page of a subject's timeline, at most `q.limit` rows in
    /// `(occurred_at, position)` order, once the model has applied `min_position`.
    pub async fn page(
        &self,
        min_position: u64,
        q: &TimelineQuery,
    ) -> Result<Vec<TimelineRow>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        query(&mut r.conn, &r.generation, r.log.as_ref(), q).await
    }

    /// The timeline's whole content as its current generation holds it (to compare a live read
    /// model with a rebuild).
    pub async fn snapshot(&self) -> Result<TimelineSnapshot, ProjectionError> {
        let mut r = self.reader(0).await?;
        snapshot(&mut r.conn, &r.generation).await
    }
}

const TABLES: &[&str] = &[
    "timeline_entries",
    "timeline_subjects",
    "timeline_operators",
];

fn entries(g: &Generation) -> String {
    g.table("timeline_entries")
}

fn subjects(g: &Generation) -> String {
    g.table("timeline_subjects")
}

fn operators(g: &Generation) -> String {
    g.table("timeline_operators")
}

#[async_trait]
impl ReadModel for Timeline {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// 2: authorities are a subject. 3: references inside nested objects and lists count (an
    /// annual plan's tasks reach their assignees and parks), and a notification's recipient. 4: an
    /// act naming a company and no park is on the timeline of each park the company ran that day.
    fn version(&self) -> u32 {
        4
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    /// The entries' key serves a subject's page in log order; `by_time` serves it in business-time
    /// order (the timeline's order). The subjects' key serves the batch's look-ups by aggregate.
    fn create(&self, g: &Generation) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {} (subject_type TEXT NOT NULL, subject_id TEXT NOT NULL, \
                 position BIGINT NOT NULL, occurred_at TEXT NOT NULL, event_type TEXT NOT NULL, \
                 aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, \
                 PRIMARY KEY (subject_type, subject_id, position))",
                entries(g)
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} (subject_type, subject_id, occurred_at, position)",
                g.table("timeline_entries_by_time"),
                entries(g)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, \
                 subject_type TEXT NOT NULL, subject_id TEXT NOT NULL, \
                 PRIMARY KEY (aggregate_type, aggregate_id, subject_type, subject_id))",
                subjects(g)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (park_id TEXT NOT NULL, effective_from TEXT NOT NULL, \
                 company_id TEXT NOT NULL, PRIMARY KEY (park_id, effective_from))",
                operators(g)
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} (company_id)",
                g.table("timeline_operators_by_company"),
                operators(g)
            ),
        ]
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        let payloads = events
            .iter()
            .map(|e| {
                serde_json::from_slice::<Value>(&e.stored.payload)
                    .map_err(|err| e.error(format!("payload is not JSON: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut known = Known::new();
        let own: BTreeSet<AggregateKey> = events.iter().map(key_of).collect();
        load_known(conn, g, &own, &mut known).await?;
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
        load_known(conn, g, &tenants, &mut known).await?;
        // The parks of every company the events may name, and of every park they assign.
        let mut companies = BTreeSet::new();
        let mut parks = BTreeSet::new();
        for (e, payload) in events.iter().zip(&payloads) {
            let earlier = known.get(&key_of(e)).into_iter().flatten();
            for (s, id) in named(e, payload).iter().chain(earlier) {
                if *s == Subject::Company {
                    companies.insert(id.clone());
                }
            }
            if assignment(e, payload).is_some() {
                parks.insert(e.stored.aggregate_id.clone());
            }
        }
        let mut operators = load_operators(conn, g, &companies, &parks).await?;
        let additions = plan(events, &payloads, &mut known, &mut operators);
        write(conn, g, &additions).await
    }
}

/// The stored company assignments of the parks any of `companies` was assigned to, and of `parks`.
async fn load_operators(
    conn: &mut AnyConnection,
    g: &Generation,
    companies: &BTreeSet<String>,
    parks: &BTreeSet<String>,
) -> Result<Operators, ProjectionError> {
    let mut out = Operators::new();
    let companies: Vec<&String> = companies.iter().collect();
    let parks: Vec<&String> = parks.iter().collect();
    let mut queries = Vec::new();
    for chunk in companies.chunks(MAX_BOUND) {
        let mut args = Args::default();
        let ids: Vec<String> = chunk.iter().map(|c| args.text(c.as_str())).collect();
        queries.push((
            args,
            format!(
                "SELECT park_id, effective_from, company_id FROM {0} WHERE park_id IN \
                 (SELECT park_id FROM {0} WHERE company_id IN ({1}))",
                operators(g),
                ids.join(", ")
            ),
        ));
    }
    for chunk in parks.chunks(MAX_BOUND) {
        let mut args = Args::default();
        let ids: Vec<String> = chunk.iter().map(|p| args.text(p.as_str())).collect();
        queries.push((
            args,
            format!(
                "SELECT park_id, effective_from, company_id FROM {} WHERE park_id IN ({})",
                operators(g),
                ids.join(", ")
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (args, statement) in queries {
        for r in args.fetch_all(conn, statement).await? {
            let (park, from, company): (String, String, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let from: NaiveDate = from.parse().map_err(|e| {
                crate::models::stored::corrupt(format!("timeline_operators.effective_from: {e}"))
            })?;
            if seen.insert((park.clone(), from)) {
                out.entry(park).or_default().push((from, company));
            }
        }
    }
    for timeline in out.values_mut() {
        timeline.sort();
    }
    Ok(out)
}

/// Adds to `known` the stored subjects of the given aggregates.
async fn load_known(
    conn: &mut AnyConnection,
    g: &Generation,
    keys: &BTreeSet<AggregateKey>,
    known: &mut Known,
) -> Result<(), ProjectionError> {
    let keys: Vec<&AggregateKey> = keys.iter().collect();
    for chunk in keys.chunks(MAX_BOUND / 2) {
        let mut args = Args::default();
        let pairs: Vec<String> = chunk
            .iter()
            .map(|(t, id)| format!("({}, {})", args.text(t.as_str()), args.text(id.as_str())))
            .collect();
        let rows = args
            .fetch_all(
                conn,
                format!(
                    "SELECT aggregate_type, aggregate_id, subject_type, subject_id FROM {} \
                     WHERE (aggregate_type, aggregate_id) IN ({})",
                    subjects(g),
                    pairs.join(", ")
                ),
            )
            .await?;
        for key in chunk {
            known.entry((*key).clone()).or_default();
        }
        for r in rows {
            let (aggregate_type, aggregate_id, subject_type, subject_id): (
                String,
                String,
                String,
                String,
            ) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            if let Some(s) = Subject::parse(&subject_type) {
                known
                    .entry((aggregate_type, aggregate_id))
                    .or_default()
                    .insert((s, subject_id));
            }
        }
    }
    Ok(())
}

/// Inserts a batch's rows. A timeline entry is inserted plainly, not "or ignore": each event is
/// applied once, and a second application must fail loudly rather than pass unnoticed.
async fn write(
    conn: &mut AnyConnection,
    g: &Generation,
    add: &Additions,
) -> Result<(), ProjectionError> {
    for chunk in add.links.chunks(MAX_BOUND / 4) {
        let mut args = Args::default();
        let rows: Vec<String> = chunk
            .iter()
            .map(|l| {
                format!(
                    "({}, {}, {}, {})",
                    args.text(l.aggregate_type.as_str()),
                    args.text(l.aggregate_id.as_str()),
                    args.text(l.subject_type.as_str()),
                    args.text(l.subject_id.as_str())
                )
            })
            .collect();
        args.execute(
            conn,
            format!(
                "INSERT INTO {} (aggregate_type, aggregate_id, subject_type, subject_id) VALUES {} \
                 ON CONFLICT DO NOTHING",
                subjects(g),
                rows.join(", ")
            ),
        )
        .await?;
    }
    for chunk in add.operators.chunks(MAX_BOUND / 3) {
        let mut args = Args::default();
        let rows: Vec<String> = chunk
            .iter()
            .map(|(park, from, company)| {
                format!(
                    "({}, {}, {})",
                    args.text(park.as_str()),
                    args.text(from.to_string()),
                    args.text(company.as_str())
                )
            })
            .collect();
        args.execute(
            conn,
            format!(
                "INSERT INTO {} (park_id, effective_from, company_id) VALUES {}",
                operators(g),
                rows.join(", ")
            ),
        )
        .await?;
    }
    for chunk in add.entries.chunks(MAX_BOUND / 7) {
        let mut args = Args::default();
        let mut rows = Vec::with_capacity(chunk.len());
        for t in chunk {
            let position = i64::try_from(t.position)
                .map_err(|_| crate::models::stored::corrupt("position beyond 2^63"))?;
            rows.push(format!(
                "({}, {}, {}, {}, {}, {}, {})",
                args.text(t.subject_type.as_str()),
                args.text(t.subject_id.as_str()),
                args.int(position),
                args.text(t.occurred_at.as_str()),
                args.text(t.event_type.as_str()),
                args.text(t.aggregate_type.as_str()),
                args.text(t.aggregate_id.as_str())
            ));
        }
        args.execute(
            conn,
            format!(
                "INSERT INTO {} (subject_type, subject_id, position, occurred_at, event_type, \
                 aggregate_type, aggregate_id) VALUES {}",
                entries(g),
                rows.join(", ")
            ),
        )
        .await?;
    }
    Ok(())
}

/// The timeline read model's whole content, for comparing a live read model with a rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineSnapshot {
    /// Every timeline entry, in key order.
    pub entries: Vec<TimelineEntry>,
    /// Every aggregate-to-subject link, in key order.
    pub links: Vec<SubjectLink>,
}

/// Reads the whole content of one generation of the timeline.
async fn snapshot(
    conn: &mut AnyConnection,
    g: &Generation,
) -> Result<TimelineSnapshot, ProjectionError> {
    let mut rows = Vec::new();
    for r in Args::default()
        .fetch_all(
            conn,
            format!(
                "SELECT subject_type, subject_id, position, occurred_at, event_type, aggregate_type, \
                 aggregate_id FROM {}",
                entries(g)
            ),
        )
        .await?
    {
        rows.push(TimelineEntry {
            subject_type: r.try_get(0)?,
            subject_id: r.try_get(1)?,
            position: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or_default(),
            occurred_at: r.try_get(3)?,
            event_type: r.try_get(4)?,
            aggregate_type: r.try_get(5)?,
            aggregate_id: r.try_get(6)?,
        });
    }
    let mut links = Vec::new();
    for r in Args::default()
        .fetch_all(
            conn,
            format!(
                "SELECT aggregate_type, aggregate_id, subject_type, subject_id FROM {}",
                subjects(g)
            ),
        )
        .await?
    {
        links.push(SubjectLink {
            aggregate_type: r.try_get(0)?,
            aggregate_id: r.try_get(1)?,
            subject_type: r.try_get(2)?,
            subject_id: r.try_get(3)?,
        });
    }
    rows.sort();
    links.sort();
    Ok(TimelineSnapshot {
        entries: rows,
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
    /// The event's metadata bytes as stored (its actor and acting authority).
    pub metadata: Vec<u8>,
}

/// Runs a timeline query; returns at most `limit` rows in `(occurred_at, position)` order. The
/// rows come from the read model, the events' stored fields (recorded time, payload, metadata)
/// from the log, in one read for the page.
async fn query(
    conn: &mut AnyConnection,
    g: &Generation,
    log: &dyn kcn_eventstore::Backend,
    q: &TimelineQuery,
) -> Result<Vec<TimelineRow>, ProjectionError> {
    let mut args = Args::default();
    let mut sql = format!(
        "SELECT t.position, t.occurred_at, t.event_type, t.aggregate_type, t.aggregate_id \
         FROM {} t WHERE t.subject_type = {} AND t.subject_id = {}",
        entries(g),
        args.text(q.subject.as_str()),
        args.text(q.subject_id.as_str())
    );
    if let Some(from) = &q.from {
        sql += &format!(" AND t.occurred_at >= {}", args.text(from.as_str()));
    }
    if let Some(to) = &q.to {
        sql += &format!(" AND t.occurred_at < {}", args.text(to.as_str()));
    }
    if !q.event_types.is_empty() {
        let list: Vec<String> = q
            .event_types
            .iter()
            .map(|t| args.text(t.as_str()))
            .collect();
        sql += &format!(" AND t.event_type IN ({})", list.join(", "));
    }
    if let Some((at, pos)) = &q.after {
        let pos = i64::try_from(*pos).unwrap_or(i64::MAX);
        sql += &format!(
            " AND (t.occurred_at > {a} OR (t.occurred_at = {b} AND t.position > {p}))",
            a = args.text(at.as_str()),
            b = args.text(at.as_str()),
            p = args.int(pos)
        );
    }
    sql += &format!(
        " ORDER BY t.occurred_at, t.position LIMIT {}",
        args.int(limit(q.limit))
    );
    let rows = args.fetch_all(conn, sql).await?;
    let mut page = rows
        .iter()
        .map(|r| {
            Ok(TimelineRow {
                position: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or_default(),
                occurred_at: r.try_get(1)?,
                recorded_at: String::new(),
                event_type: r.try_get(2)?,
                aggregate_type: r.try_get(3)?,
                aggregate_id: r.try_get(4)?,
                payload: Vec::new(),
                metadata: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    let mut positions: Vec<u64> = page.iter().map(|r| r.position).collect();
    positions.sort_unstable();
    positions.dedup();
    let mut stored: std::collections::HashMap<u64, kcn_eventstore::StoredEvent> = log
        .read_positions(&positions)
        .await?
        .into_iter()
        .map(|e| (e.position, e))
        .collect();
    for row in &mut page {
        // A row of the model names a position the log holds: the model was built from it.
        let Some(e) = stored.get(&row.position) else {
            return Err(ProjectionError::from(kcn_eventstore::StoreError::Internal(
                format!(
                    "the timeline names position {} that the log does not hold",
                    row.position
                ),
            )));
        };
        row.recorded_at = e.recorded_at.clone();
        row.payload = e.payload.clone();
        row.metadata = e.metadata.clone();
    }
    stored.clear();
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcn_domain::EventBody;
    use kcn_domain::authority::{AuthorityEstablished, AuthorityEvent, AuthorityKind};
    use kcn_domain::consultation::{ConsultationEvent, ConsultationLinkedToTenant};
    use kcn_domain::tenant::{EnvironmentalPermitRecorded, TenantEvent, TenantRegistered};
    use kcn_domain::values::{EnterpriseCode, Text};
    use kcn_eventstore::StoredEvent;
    use uuid::Uuid;

    /// An envelope as the engine decodes it, built from a domain event.
    fn event<B: EventBody + Into<Event>>(position: u64, id: Uuid, body: B) -> Envelope {
        let event: Event = body.clone().into();
        Envelope {
            stored: StoredEvent {
                position,
                event_id: Uuid::now_v7(),
                aggregate_type: event.kind().as_str().to_owned(),
                aggregate_id: id.to_string(),
                aggregate_version: 1,
                event_type: body.event_type().to_owned(),
                schema_version: body.schema_version(),
                occurred_at: "2025-04-01T00:00:00.000000Z".to_owned(),
                recorded_at: "2025-04-01T00:00:00.000000Z".to_owned(),
                payload: body.to_payload(),
                metadata: b"{}".to_vec(),
            },
            occurred_at: "2025-04-01T00:00:00Z".parse().unwrap(),
            event,
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
        let (park, tenant, consultation, board) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let text = |s| Text::name(s).unwrap();
        let events = [
            event(
                1,
                tenant,
                TenantEvent::from(TenantRegistered {
                    park_id: park,
                    enterprise_code: EnterpriseCode::parse("3700229744").unwrap(),
                    name: text("Tenant"),
                    investment_registration_no: text("1"),
                    vsic_codes: Vec::new(),
                    foreign_invested: false,
                }),
            ),
            event(
                2,
                consultation,
                ConsultationEvent::from(ConsultationLinkedToTenant { tenant_id: tenant }),
            ),
            event(
                3,
                tenant,
                TenantEvent::from(EnvironmentalPermitRecorded {
                    permit_no: text("GP-1"),
                    issuer: text("Board"),
                    valid_from: "2025-01-01".parse().unwrap(),
                    valid_to: None,
                }),
            ),
            event(
                4,
                board,
                AuthorityEvent::from(AuthorityEstablished {
                    name: text("Board"),
                    kind: AuthorityKind::IndustrialParksBoard,
                    jurisdiction: text("Bình Dương"),
                    decision_no: text("1"),
                    effective_from: "2006-01-01".parse().unwrap(),
                }),
            ),
        ];
        let payloads: Vec<Value> = events
            .iter()
            .map(|e| serde_json::from_slice(&e.stored.payload).unwrap())
            .collect();
        let mut known = Known::new();
        let additions = plan(&events, &payloads, &mut known, &mut Operators::new());
        let mut both = vec![
            ("park".to_owned(), park.to_string()),
            ("tenant".to_owned(), tenant.to_string()),
        ];
        both.sort();
        assert_eq!(on(&additions, 1), both);
        assert_eq!(
            on(&additions, 2),
            both,
            "the tenant's park joins through the tenant"
        );
        assert_eq!(
            on(&additions, 3),
            both,
            "a later event follows its aggregate"
        );
        assert_eq!(
            on(&additions, 4),
            [("authority".to_owned(), board.to_string())],
            "an authority is on its own timeline"
        );
        assert_eq!(
            additions.links.len(),
            4,
            "each link is remembered once; an authority's is not remembered"
        );
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
            (Subject::Authority, "a1".to_owned()),
            (Subject::Authority, "a2".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn an_annual_plan_reaches_the_companies_and_parks_its_tasks_assign() {
        let payload = serde_json::json!({
            "authority_id": "a1",
            "year": 2025,
            "tasks": [
                {"task_id": "T1", "assignee_company_id": "c1", "park_id": "p1"},
                {"task_id": "T2", "assignee_company_id": "c2"},
            ],
            "service_levels": {"information_answer_days": 10},
        });
        let mut out = SubjectSet::new();
        referenced(&payload, &mut out);
        let expected: SubjectSet = [
            (Subject::Authority, "a1".to_owned()),
            (Subject::Company, "c1".to_owned()),
            (Subject::Company, "c2".to_owned()),
            (Subject::Park, "p1".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(out, expected);
    }
}
