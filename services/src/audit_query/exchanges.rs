//! Audit question 6 at the edge: information requests answered late or still open past due, by
//! company and year, from the `exchanges` read model.

use chrono::{DateTime, Utc};
use kcn_integrity::leaf::{format_timestamp, parse_timestamp};
use kcn_projections::models::exchanges::{
    DUE_FROM_AGREEMENT, DUE_FROM_REQUEST, LateRequest, LateRequestCursor, LateRequestFilter,
    Lateness,
};
use tonic::Status;

use super::params::page_size;
use super::stored_timestamp;
use crate::fields::{self, Fields};
use crate::page;
use crate::{Ledger, error, proto, take};

/// The page key: the instant the first page was judged at (so that every page of a query judges at
/// the same one when the caller left `as_of` to the clock), then the last row's request instant and
/// id.
type Key = (String, String, String);

fn party(kind: &str, id: String) -> proto::OrganisationRef {
    proto::OrganisationRef {
        kind: proto::OrganisationKind::from_str_name(kind).map_or(0, Into::into),
        id,
    }
}

fn row(r: LateRequest) -> proto::LateInformationRequest {
    let due_source = match r.due_source.as_str() {
        DUE_FROM_REQUEST => proto::InformationDueSource::Request,
        DUE_FROM_AGREEMENT => proto::InformationDueSource::Agreement,
        _ => proto::InformationDueSource::Unspecified,
    };
    let lateness = match r.lateness {
        Lateness::AnsweredLate => proto::InformationLateness::AnsweredLate,
        Lateness::OpenPastDue => proto::InformationLateness::OpenPastDue,
    };
    proto::LateInformationRequest {
        from: Some(party(&r.from_kind, r.from_id)),
        to: Some(party(&r.to_kind, r.to_id)),
        park_id: r.park_id.unwrap_or_default(),
        subject: r.subject,
        requested_at: stored_timestamp(&r.requested_at),
        requested_on: r.requested_on.to_string(),
        year: u32::try_from(r.year).unwrap_or_default(),
        company_id: r.company_id.unwrap_or_default(),
        authority_id: r.authority_id.unwrap_or_default(),
        due_source: due_source.into(),
        due_at: r.due_at.as_deref().and_then(stored_timestamp),
        due_on: r.due_on.map(|d| d.to_string()).unwrap_or_default(),
        agreement_id: r.agreement_id.unwrap_or_default(),
        answer_days: r
            .answer_days
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or_default(),
        late_from: stored_timestamp(&r.late_from),
        first_answer_at: r.first_answer_at.as_deref().and_then(stored_timestamp),
        clarifications: u32::try_from(r.clarifications).unwrap_or_default(),
        lateness: lateness.into(),
        days_late: r.days_late,
        exchange_id: r.exchange_id,
    }
}

/// `ListLateInformationRequests`: audit question 6.
pub(super) async fn list(
    ledger: &Ledger,
    r: proto::ListLateInformationRequestsRequest,
) -> Result<proto::ListLateInformationRequestsResponse, Status> {
    let mut f = Fields::default();
    let company_id = f.check("company_id", fields::optional_uuid(&r.company_id));
    let park_id = f.check("park_id", fields::optional_uuid(&r.park_id));
    let as_of = f.check("as_of", fields::optional_instant(r.as_of.as_ref()));
    if r.year != 0 && !(1900..=9999).contains(&r.year) {
        f.violation(
            "year",
            "must be a year from 1900 to 9999, or 0 for every year",
        );
    }
    let size = page_size(&mut f, r.page_size);
    let query = page::query(&[
        "late_information_requests",
        r.company_id.trim(),
        &r.year.to_string(),
        r.park_id.trim(),
    ]);
    let from: Option<Key> = ledger.pages.open(&mut f, &r.page_token, &query);
    // Every page judges at the first page's instant; a caller's as_of must agree with it.
    let mut as_of: Option<DateTime<Utc>> =
        as_of.map(|given| given.unwrap_or_else(|| ledger.clock.now()));
    if let Some((first, _, _)) = &from {
        match (parse_timestamp(first), r.as_of.is_some()) {
            (Ok(first), false) => as_of = Some(first),
            (Ok(first), true) if as_of == Some(first) => {}
            (Ok(_), true) => f.violation(
                "page_token",
                "belongs to a query judged at another as_of; keep the as_of of the first page",
            ),
            (Err(_), _) => f.violation("page_token", "is not a token this server issued"),
        }
    }
    f.finish()?;
    take!(company_id, park_id, as_of);
    let filter = LateRequestFilter {
        company_id: company_id.map(|c| c.to_string()),
        year: (r.year != 0).then(|| i32::try_from(r.year).unwrap_or_default()),
        park_id: park_id.map(|p| p.to_string()),
        as_of,
    };
    let cursor = from.map(|(_, requested_at, exchange_id)| LateRequestCursor {
        requested_at,
        exchange_id,
    });
    let rows = ledger
        .read
        .exchanges()
        .late_requests(r.min_position, &filter, cursor.as_ref(), size + 1)
        .await
        .map_err(error::projection)?;
    let (rows, next) = page::split(rows, size, |last| {
        (
            format_timestamp(as_of),
            last.requested_at.clone(),
            last.exchange_id.clone(),
        )
    });
    Ok(proto::ListLateInformationRequestsResponse {
        next_page_token: ledger.pages.issue(&query, next.as_ref()),
        requests: rows.into_iter().map(row).collect(),
        as_of: Some(fields::timestamp(as_of)),
    })
}
