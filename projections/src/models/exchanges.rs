//! Audit question 6: information requests answered late, or still open past their due time, by
//! company and year.
//!
//! When a request is late is fixed by the request and the agreement, not by the clock, so each
//! request row stores `late_from`, the first instant at which an answer is late:
//! - with a `due_at`, one microsecond after it (an answer *at* `due_at` is on time);
//! - without one, the agreement in force on the request's local date between the request's authority
//!   and company sets `information_answer_days`: the answer is due by the local date `requested_on +
//!   days`, so it is late from the start of the next local day (`due_on + 1` at 00:00 UTC+7, that is
//!   `due_on` at 17:00 UTC);
//! - with neither, the request cannot be late and `late_from` is empty.
//!
//! Only the first answer counts: a clarification asked after it does not stop or restart the clock.
//! "Still open past due" is judged at query time against a caller-given `as_of` instant: requested by
//! then, `late_from` reached by then, not answered by then and not withdrawn by then.
//!
//! The company of a request is its company party (`from` or `to`), or failing that the park's company
//! on the request's date; its authority is its authority party, or the park's jurisdiction on that
//! date. The year is the local year of the request. The agreement is the one between that authority
//! and company, or one the authority inherited from an authority it succeeded (see
//! [`Registry::agreement_in_force`]). Agreements, amendments, jurisdictions and company assignments
//! may be recorded after the requests they govern, so each such event re-judges the requests it can
//! affect (those without a `due_at`, or resolved through the park, dated on or after its effective
//! date).

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kcn_domain::Event;
use kcn_domain::information_exchange::{ExchangeEvent, OrganisationKind};
use kcn_domain::limits;
use kcn_domain::time::local_date;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::registry::{Change, Registry, is_registry_event};
use super::sql::{Args, limit, sql};
use super::stored::{day, enum_name, instant, parse_day, parse_instant};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};
use kcn_domain::LegalRules;

/// The read model of audit question 6.
#[derive(Debug, Default, Clone)]
pub struct ExchangesModel {
    /// The rules an answer's due date is counted with (calendar or working days).
    pub rules: LegalRules,
}

impl Named for ExchangesModel {
    const NAME: &'static str = "exchanges";
}

impl ExchangesModel {
    const REGISTRY: Registry = Registry { prefix: "exchange" };
}

const TABLES: &[&str] = &[
    "exchange_requests",
    "exchange_authorities",
    "exchange_companies",
    "exchange_parks",
    "exchange_jurisdictions",
    "exchange_park_companies",
    "exchange_agreements",
    "exchange_agreement_companies",
    "exchange_agreement_levels",
];

/// Where a request's due time comes from.
pub const DUE_FROM_REQUEST: &str = "request";
pub const DUE_FROM_AGREEMENT: &str = "agreement";
pub const DUE_NONE: &str = "none";

fn requests(g: &Generation) -> String {
    g.table("exchange_requests")
}

#[async_trait]
impl ReadModel for ExchangesModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// A fingerprint of the rules due dates are counted with: other rules rebuild the model.
    fn version(&self) -> u32 {
        super::rules_versioned(1, &self.rules)
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    /// Indexes, one per filter path of [`late_requests`] (each ending in the keyset `(requested_at,
    /// exchange_id)`): `by_company` (company, or company and year), `by_year` (year), `by_park`
    /// (park), `by_requested` (no filter). `by_rejudge` serves re-judging after a registry change
    /// (`due_source`, `requested_on`), `by_park_rejudge` after a park's assignment changes.
    fn create(&self, g: &Generation) -> Vec<String> {
        let r = requests(g);
        let mut ddl = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {r} (exchange_id TEXT PRIMARY KEY, from_kind TEXT NOT NULL, \
                 from_id TEXT NOT NULL, to_kind TEXT NOT NULL, to_id TEXT NOT NULL, park_id TEXT, \
                 subject TEXT NOT NULL, requested_at TEXT NOT NULL, requested_on TEXT NOT NULL, \
                 request_year BIGINT NOT NULL, company_id TEXT, company_from_park BIGINT NOT NULL, \
                 authority_id TEXT, authority_from_park BIGINT NOT NULL, due_at TEXT, \
                 due_source TEXT NOT NULL, due_on TEXT, agreement_id TEXT, answer_days BIGINT, \
                 late_from TEXT, first_answer_at TEXT, answers BIGINT NOT NULL DEFAULT 0, \
                 clarifications BIGINT NOT NULL DEFAULT 0, closed_at TEXT, withdrawn_at TEXT)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {r} (company_id, request_year, requested_at, exchange_id)",
                g.table("exchange_requests_by_company")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {r} (request_year, requested_at, exchange_id)",
                g.table("exchange_requests_by_year")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {r} (park_id, requested_at, exchange_id)",
                g.table("exchange_requests_by_park")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {r} (requested_at, exchange_id)",
                g.table("exchange_requests_by_requested")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {r} (due_source, requested_on)",
                g.table("exchange_requests_by_rejudge")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {r} (park_id, requested_on)",
                g.table("exchange_requests_by_park_rejudge")
            ),
        ];
        ddl.extend(Self::REGISTRY.create(g));
        ddl
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        let mut i = 0;
        while i < events.len() {
            let run = Self::REGISTRY
                .apply_company_run(conn, g, &events[i..])
                .await?;
            if run > 0 {
                i += run;
                continue;
            }
            let e = &events[i];
            i += 1;
            if is_registry_event(&e.event) {
                if let Some(change) = Self::REGISTRY.apply(conn, g, e).await? {
                    rejudge(conn, g, &self.rules, &change).await?;
                }
                continue;
            }
            apply_exchange(conn, g, &self.rules, e).await?;
        }
        Ok(())
    }
}

async fn apply_exchange(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    e: &Envelope,
) -> Result<(), ProjectionError> {
    let r = requests(g);
    let id = e.aggregate_id();
    let at = instant(e.occurred_at);
    match &e.event {
        Event::InformationExchange(ExchangeEvent::InformationRequested(p)) => {
            let requested = e.occurred_at;
            let requested_on = local_date(requested);
            let kind = |k: OrganisationKind| enum_name(&k);
            sqlx::query(sql(format!(
                "INSERT INTO {r} (exchange_id, from_kind, from_id, to_kind, to_id, park_id, subject, \
                 requested_at, requested_on, request_year, company_from_park, authority_from_park, \
                 due_at, due_source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0, $11, $12) \
                 ON CONFLICT (exchange_id) DO NOTHING"
            )))
            .bind(id)
            .bind(kind(p.from.kind))
            .bind(p.from.id.to_string())
            .bind(kind(p.to.kind))
            .bind(p.to.id.to_string())
            .bind(p.park_id.map(|p| p.to_string()))
            .bind(p.subject.as_str())
            .bind(instant(requested))
            .bind(day(requested_on))
            .bind(i64::from(requested_on.year()))
            .bind(p.due_at.map(instant))
            .bind(if p.due_at.is_some() {
                DUE_FROM_REQUEST
            } else {
                DUE_NONE
            })
            .execute(&mut *conn)
            .await?;
            judge(conn, g, rules, id).await?;
        }
        Event::InformationExchange(ExchangeEvent::InformationProvided(_)) => {
            // Only the first answer stops the clock; later ones (after a clarification) do not move it.
            sqlx::query(sql(format!(
                "UPDATE {r} SET answers = answers + 1, \
                 first_answer_at = CASE WHEN first_answer_at IS NULL THEN $2 ELSE first_answer_at END \
                 WHERE exchange_id = $1"
            )))
            .bind(id)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        Event::InformationExchange(ExchangeEvent::ClarificationRequested(_)) => {
            sqlx::query(sql(format!(
                "UPDATE {r} SET clarifications = clarifications + 1 WHERE exchange_id = $1"
            )))
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        Event::InformationExchange(ExchangeEvent::ExchangeClosed(_)) => {
            sqlx::query(sql(format!(
                "UPDATE {r} SET closed_at = $2 WHERE exchange_id = $1"
            )))
            .bind(id)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        Event::InformationExchange(ExchangeEvent::ExchangeWithdrawn(_)) => {
            sqlx::query(sql(format!(
                "UPDATE {r} SET withdrawn_at = $2 WHERE exchange_id = $1"
            )))
            .bind(id)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Judges again the requests a registry change can affect.
async fn rejudge(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    change: &Change,
) -> Result<(), ProjectionError> {
    let r = requests(g);
    let rows =
        match change {
            Change::Park { park_id, from } => {
                sqlx::query(sql(format!(
                    "SELECT exchange_id FROM {r} WHERE park_id = $1 AND requested_on >= $2"
                )))
                .bind(park_id.as_str())
                .bind(day(*from))
                .fetch_all(&mut *conn)
                .await?
            }
            Change::Everywhere { from } => sqlx::query(sql(format!(
                "SELECT exchange_id FROM {r} WHERE due_source IN ($1, $2) AND requested_on >= $3"
            )))
            .bind(DUE_FROM_AGREEMENT)
            .bind(DUE_NONE)
            .bind(day(*from))
            .fetch_all(&mut *conn)
            .await?,
        };
    for row in rows {
        let id: String = row.try_get(0)?;
        judge(conn, g, rules, &id).await?;
    }
    Ok(())
}

/// Resolves a request's company and authority and its due time from the registry as it stands.
async fn judge(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    exchange_id: &str,
) -> Result<(), ProjectionError> {
    let reg = ExchangesModel::REGISTRY;
    let r = requests(g);
    let Some(row) = sqlx::query(sql(format!(
        "SELECT from_kind, from_id, to_kind, to_id, park_id, requested_on, due_at FROM {r} \
         WHERE exchange_id = $1"
    )))
    .bind(exchange_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(());
    };
    let parties: [(String, String); 2] = [
        (row.try_get(0)?, row.try_get(1)?),
        (row.try_get(2)?, row.try_get(3)?),
    ];
    let park_id: Option<String> = row.try_get(4)?;
    let requested_on = parse_day(&row.try_get::<String, _>(5)?)?;
    let due_at: Option<String> = row.try_get(6)?;
    let party = |kind: OrganisationKind| {
        let name = enum_name(&kind);
        parties
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, id)| id.clone())
    };
    let mut company_from_park = false;
    let mut company = party(OrganisationKind::InfrastructureCompany);
    if company.is_none()
        && let Some(park) = &park_id
    {
        company = reg
            .company_at(conn, g, park, requested_on)
            .await?
            .map(|(c, _)| c);
        company_from_park = company.is_some();
    }
    let mut authority_from_park = false;
    let mut authority = party(OrganisationKind::Authority);
    if authority.is_none()
        && let Some(park) = &park_id
    {
        authority = reg
            .jurisdiction_at(conn, g, park, requested_on)
            .await?
            .map(|(a, _)| a);
        authority_from_park = authority.is_some();
    }

    let mut due = Due {
        source: DUE_NONE,
        ..Due::default()
    };
    if let Some(due_at) = due_at {
        // A due time at the end of the calendar can never be passed: the request is never late.
        let limit = limits::answer_due_by_request(parse_instant(&due_at)?);
        due = Due {
            source: DUE_FROM_REQUEST,
            due_on: limit.map(|l| l.due_on),
            late_from: limit.map(|l| instant(l.late_from)),
            ..Due::default()
        };
    } else if let (Some(a), Some(c)) = (&authority, &company)
        && let Some((agreement, _)) = reg.agreement_in_force(conn, g, a, c, requested_on).await?
        && let Some(levels) = reg
            .levels_at(conn, g, &agreement.agreement_id, requested_on)
            .await?
    {
        let limit =
            limits::answer_due_by_agreement(rules, requested_on, levels.information_answer_days);
        due = Due {
            source: DUE_FROM_AGREEMENT,
            due_on: limit.map(|l| l.due_on),
            late_from: limit.map(|l| instant(l.late_from)),
            agreement_id: Some(agreement.agreement_id),
            answer_days: Some(i64::from(levels.information_answer_days)),
        };
    }
    sqlx::query(sql(format!(
        "UPDATE {r} SET company_id = $2, company_from_park = $3, authority_id = $4, \
         authority_from_park = $5, due_source = $6, due_on = $7, agreement_id = $8, answer_days = $9, \
         late_from = $10 WHERE exchange_id = $1"
    )))
    .bind(exchange_id)
    .bind(company)
    .bind(i64::from(company_from_park))
    .bind(authority)
    .bind(i64::from(authority_from_park))
    .bind(due.source)
    .bind(due.due_on.map(day))
    .bind(due.agreement_id)
    .bind(due.answer_days)
    .bind(due.late_from)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default)]
struct Due {
    source: &'static str,
    due_on: Option<NaiveDate>,
    late_from: Option<String>,
    agreement_id: Option<String>,
    answer_days: Option<i64>,
}

/// Filters of [`late_requests`]; `as_of` is required, the others optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRequestFilter {
    pub company_id: Option<String>,
    /// The local year of the request.
    pub year: Option<i32>,
    pub park_id: Option<String>,
    /// The instant "still open" and "answered" are judged at.
    pub as_of: DateTime<Utc>,
}

/// Where a page of [`late_requests`] ended: the last row's `(requested_at, exchange_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRequestCursor {
    pub requested_at: String,
    pub exchange_id: String,
}

/// How a request is late as of the query's `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateness {
    /// First answered after its due time.
    AnsweredLate,
    /// Not answered (nor withdrawn) by `as_of`, which is past its due time.
    OpenPastDue,
}

/// One late request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRequest {
    pub exchange_id: String,
    pub from_kind: String,
    pub from_id: String,
    pub to_kind: String,
    pub to_id: String,
    pub park_id: Option<String>,
    pub subject: String,
    pub requested_at: String,
    pub requested_on: NaiveDate,
    pub year: i32,
    pub company_id: Option<String>,
    pub authority_id: Option<String>,
    /// `request` (its own `due_at`) or `agreement` (the agreement's answer days).
    pub due_source: String,
    pub due_at: Option<String>,
    /// The last local date on which an answer is on time.
    pub due_on: Option<NaiveDate>,
    pub agreement_id: Option<String>,
    pub answer_days: Option<i64>,
    /// The first instant at which an answer is late.
    pub late_from: String,
    pub first_answer_at: Option<String>,
    pub clarifications: i64,
    pub lateness: Lateness,
    /// Local date of the answer (or of `as_of`, while open) minus the due local date.
    pub days_late: i64,
}

impl Queries<'_, ExchangesModel> {
    /// Audit question 6: a page of requests answered late or still open past due as of
    /// `filter.as_of`, in request order, after `after`, once the model has applied `min_position`.
    pub async fn late_requests(
        &self,
        min_position: u64,
        filter: &LateRequestFilter,
        after: Option<&LateRequestCursor>,
        page_size: u32,
    ) -> Result<Vec<LateRequest>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        late_requests(&mut r.conn, &r.generation, filter, after, page_size).await
    }
}

/// Audit question 6: a page of requests answered late or still open past due as of `filter.as_of`,
/// in request order, after `after`.
async fn late_requests(
    conn: &mut AnyConnection,
    g: &Generation,
    filter: &LateRequestFilter,
    after: Option<&LateRequestCursor>,
    page_size: u32,
) -> Result<Vec<LateRequest>, ProjectionError> {
    let mut args = Args::default();
    // $1 is as_of in every form of the query.
    let as_of = args.text(instant(filter.as_of));
    let mut clauses = vec![
        "late_from IS NOT NULL".to_owned(),
        format!("requested_at <= {as_of}"),
        format!(
            "((first_answer_at IS NOT NULL AND first_answer_at <= {as_of} AND first_answer_at >= late_from) \
             OR (late_from <= {as_of} AND (first_answer_at IS NULL OR first_answer_at > {as_of}) \
             AND (withdrawn_at IS NULL OR withdrawn_at > {as_of})))"
        ),
    ];
    if let Some(c) = &filter.company_id {
        clauses.push(format!("company_id = {}", args.text(c.clone())));
    }
    if let Some(y) = filter.year {
        clauses.push(format!("request_year = {}", args.int(i64::from(y))));
    }
    if let Some(p) = &filter.park_id {
        clauses.push(format!("park_id = {}", args.text(p.clone())));
    }
    if let Some(a) = after {
        let at = args.text(a.requested_at.clone());
        let id = args.text(a.exchange_id.clone());
        clauses.push(format!(
            "(requested_at > {at} OR (requested_at = {at} AND exchange_id > {id}))"
        ));
    }
    let n = args.int(limit(page_size));
    let text = format!(
        "SELECT exchange_id, from_kind, from_id, to_kind, to_id, park_id, subject, requested_at, \
         requested_on, request_year, company_id, authority_id, due_source, due_at, due_on, \
         agreement_id, answer_days, late_from, first_answer_at, clarifications FROM {} WHERE {} \
         ORDER BY requested_at, exchange_id LIMIT {n}",
        requests(g),
        clauses.join(" AND "),
    );
    let rows = args
        .bind(sqlx::query(sql(text)))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| late_request(r, filter.as_of)).collect()
}

fn late_request(r: &AnyRow, as_of: DateTime<Utc>) -> Result<LateRequest, ProjectionError> {
    let requested_on = parse_day(&r.try_get::<String, _>(8)?)?;
    let due_on: Option<String> = r.try_get(14)?;
    let due_on = due_on.as_deref().map(parse_day).transpose()?;
    let late_from: String = r.try_get(17)?;
    let first_answer_at: Option<String> = r.try_get(18)?;
    let as_of_text = instant(as_of);
    let answered_by_then = first_answer_at
        .as_ref()
        .filter(|a| a.as_str() <= as_of_text.as_str());
    let (lateness, until) = match answered_by_then {
        Some(a) => (Lateness::AnsweredLate, local_date(parse_instant(a)?)),
        None => (Lateness::OpenPastDue, local_date(as_of)),
    };
    let days_late = due_on.map_or(0, |d| limits::days_late(d, until));
    let year: i64 = r.try_get(9)?;
    Ok(LateRequest {
        exchange_id: r.try_get(0)?,
        from_kind: r.try_get(1)?,
        from_id: r.try_get(2)?,
        to_kind: r.try_get(3)?,
        to_id: r.try_get(4)?,
        park_id: r.try_get(5)?,
        subject: r.try_get(6)?,
        requested_at: r.try_get(7)?,
        requested_on,
        year: i32::try_from(year).unwrap_or_default(),
        company_id: r.try_get(10)?,
        authority_id: r.try_get(11)?,
        due_source: r.try_get(12)?,
        due_at: r.try_get(13)?,
        due_on,
        agreement_id: r.try_get(15)?,
        answer_days: r.try_get(16)?,
        late_from,
        first_answer_at,
        clarifications: r.try_get(19)?,
        lateness,
        days_late,
    })
}
