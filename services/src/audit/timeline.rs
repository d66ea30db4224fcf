//! Audit question 1 at the edge: a subject's timeline, parsed, asked of the timeline read model and
//! mapped back, a page at a time.

use kcn_domain::Event;
use kcn_integrity::leaf::{format_timestamp, parse_timestamp};
use kcn_projections::{Subject, TimelineQuery, TimelineRow};
use tonic::Status;

use crate::fields::{self, Fields};
use crate::{Ledger, error, page, proto, take};

/// The most event types one query may filter on (the catalogue has 61).
pub const MAX_EVENT_TYPES: usize = 100;
/// The page size when the caller gives none, and the largest allowed.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

fn subject(f: &mut Fields, raw: i32) -> Option<Subject> {
    match proto::SubjectType::try_from(raw) {
        Ok(proto::SubjectType::Park) => Some(Subject::Park),
        Ok(proto::SubjectType::Company) => Some(Subject::Company),
        Ok(proto::SubjectType::Tenant) => Some(Subject::Tenant),
        Ok(proto::SubjectType::Authority) => Some(Subject::Authority),
        _ => {
            f.violation(
                "subject_type",
                "must be SUBJECT_TYPE_PARK, SUBJECT_TYPE_COMPANY, SUBJECT_TYPE_TENANT or \
                 SUBJECT_TYPE_AUTHORITY",
            );
            None
        }
    }
}

/// The event types to filter on: catalogue names, at most [`MAX_EVENT_TYPES`], sorted and without
/// repeats (so that the same filter in another order is the same query).
fn event_types(f: &mut Fields, raw: &[String]) -> Vec<String> {
    if raw.len() > MAX_EVENT_TYPES {
        f.violation(
            "event_types",
            format!("must name at most {MAX_EVENT_TYPES} event types"),
        );
        return Vec::new();
    }
    for (i, t) in raw.iter().enumerate() {
        if !Event::event_types().any(|known| known == t) {
            f.violation(
                &format!("event_types[{i}]"),
                "must be an event type of the catalogue, such as InformationRequested",
            );
        }
    }
    let mut types = raw.to_vec();
    types.sort();
    types.dedup();
    types
}

fn entry(row: &TimelineRow) -> proto::TimelineEntry {
    let ts = |s: &str| parse_timestamp(s).ok().map(fields::timestamp);
    // The metadata is the writer's own JSON; one that does not read leaves the actor empty.
    let metadata = serde_json::from_slice::<kcn_eventstore::Metadata>(&row.metadata).ok();
    proto::TimelineEntry {
        actor: metadata.as_ref().map(|m| proto::TimelineActor {
            principal: m.actor.principal.clone(),
            organisation: m.actor.organisation.clone().unwrap_or_default(),
            role: m.actor.role.clone().unwrap_or_default(),
            authentication: m.actor.authentication.clone(),
        }),
        acting_authority_id: metadata
            .as_ref()
            .and_then(|m| m.acting_authority_id)
            .map(|a| a.to_string())
            .unwrap_or_default(),
        position: row.position,
        occurred_at: ts(&row.occurred_at),
        recorded_at: ts(&row.recorded_at),
        event_type: row.event_type.clone(),
        aggregate_type: row.aggregate_type.clone(),
        aggregate_id: row.aggregate_id.clone(),
        payload_json: String::from_utf8_lossy(&row.payload).into_owned(),
    }
}

/// `GetTimeline`: audit question 1.
pub(crate) async fn get(
    ledger: &Ledger,
    r: proto::GetTimelineRequest,
) -> Result<proto::GetTimelineResponse, Status> {
    let mut f = Fields::default();
    let subject = subject(&mut f, r.subject_type);
    let subject_id = f.check("subject_id", fields::uuid(&r.subject_id));
    let from = f.check("from_time", fields::optional_instant(r.from_time.as_ref()));
    let to = f.check("to_time", fields::optional_instant(r.to_time.as_ref()));
    if let (Some(Some(a)), Some(Some(b))) = (&from, &to)
        && b < a
    {
        f.violation("to_time", "must not be before from_time");
    }
    if r.page_size > MAX_PAGE {
        f.violation("page_size", format!("must be at most {MAX_PAGE}"));
    }
    let event_types = event_types(&mut f, &r.event_types);
    let from = from.flatten().map(format_timestamp);
    let to = to.flatten().map(format_timestamp);
    let query = page::query(&[
        &r.subject_type.to_string(),
        &r.subject_id,
        from.as_deref().unwrap_or(""),
        to.as_deref().unwrap_or(""),
        &event_types.join(","),
    ]);
    let after: Option<(String, u64)> = ledger.pages.open(&mut f, &r.page_token, &query);
    f.finish()?;
    take!(subject, subject_id);
    let page_size = if r.page_size == 0 {
        DEFAULT_PAGE
    } else {
        r.page_size
    };
    let q = TimelineQuery {
        subject,
        subject_id: subject_id.to_string(),
        from,
        to,
        event_types,
        limit: page_size + 1,
        after,
    };
    let rows = ledger
        .read
        .timeline()
        .page(r.min_position, &q)
        .await
        .map_err(error::projection)?;
    let (rows, last) = page::split(rows, page_size, |last| {
        (last.occurred_at.clone(), last.position)
    });
    Ok(proto::GetTimelineResponse {
        entries: rows.iter().map(entry).collect(),
        next_page_token: ledger.pages.issue(&query, last.as_ref()),
    })
}
