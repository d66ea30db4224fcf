//! The register of breaches at the edge: every legal-limit or service-level breach whose deadline
//! falls in a period, late or still owed, from the `breaches` read model.

use chrono::{DateTime, Utc};
use kcn_integrity::leaf::{format_timestamp, parse_timestamp};
use kcn_projections::models::breaches::{BreachQuery, BreachRecord, BreachStatus, CODES};
use tonic::Status;

use super::params::{page_size, rules};
use crate::fields::{self, Fields};
use crate::page;
use crate::{Ledger, error, proto, take};

/// The most codes a caller may filter by.
const MAX_CODES: usize = 32;

/// The page key: the instant the first page was judged at, then the last row's deadline and id.
type Key = (String, String, String);

fn row(b: BreachRecord) -> proto::RegisteredBreach {
    let status = match b.status {
        BreachStatus::Late => proto::BreachStatus::Late,
        BreachStatus::Overdue => proto::BreachStatus::Overdue,
    };
    proto::RegisteredBreach {
        obligation_id: b.obligation_id,
        breach: Some(proto::Breach {
            limit: b.breach.limit,
            detail: b.breach.detail,
        }),
        status: status.into(),
        due_on: b.due_on.to_string(),
        late_from: b.late_from.map(fields::timestamp),
        aggregate_type: b.aggregate_type,
        aggregate_id: b.aggregate_id,
        item_id: b.item_id.unwrap_or_default(),
        park_id: b.park_id.unwrap_or_default(),
        tenant_id: b.tenant_id.unwrap_or_default(),
        company_id: b.company_id.unwrap_or_default(),
        authority_id: b.authority_id.unwrap_or_default(),
        agreement_id: b.agreement_id.unwrap_or_default(),
        positions: b.positions,
    }
}

/// `ListBreaches`: the register of breaches.
pub(super) async fn list(
    ledger: &Ledger,
    r: proto::ListBreachesRequest,
) -> Result<proto::ListBreachesResponse, Status> {
    let mut f = Fields::default();
    let from = f.check("from_date", fields::date(&r.from_date));
    let to = f.check("to_date", fields::date(&r.to_date));
    if let (Some(a), Some(b)) = (from, to)
        && b < a
    {
        f.violation("to_date", "must not be before from_date");
    }
    let park_id = f.check("park_id", fields::optional_uuid(&r.park_id));
    let company_id = f.check("company_id", fields::optional_uuid(&r.company_id));
    let authority_id = f.check("authority_id", fields::optional_uuid(&r.authority_id));
    let as_of = f.check("as_of", fields::optional_instant(r.as_of.as_ref()));
    if r.limits.len() > MAX_CODES {
        f.violation("limits", format!("must hold at most {MAX_CODES} codes"));
    } else {
        for (i, code) in r.limits.iter().enumerate() {
            if !CODES.contains(&code.as_str()) {
                f.violation(
                    &format!("limits[{i}]"),
                    format!("is not a code of the register; known: {}", CODES.join(", ")),
                );
            }
        }
    }
    let size = page_size(&mut f, r.page_size);
    let mut codes: Vec<String> = r.limits.clone();
    codes.sort();
    codes.dedup();
    let joined = codes.join(",");
    let query = page::query(&[
        "breaches",
        r.from_date.trim(),
        r.to_date.trim(),
        r.park_id.trim(),
        r.company_id.trim(),
        r.authority_id.trim(),
        &joined,
    ]);
    let after: Option<Key> = ledger.pages.open(&mut f, &r.page_token, &query);
    // Every page judges at the first page's instant; a caller's as_of must agree with it.
    let mut as_of: Option<DateTime<Utc>> =
        as_of.map(|given| given.unwrap_or_else(|| ledger.clock.now()));
    let mut cursor = None;
    if let Some((first, due_on, id)) = &after {
        match (parse_timestamp(first), r.as_of.is_some(), due_on.parse()) {
            (Ok(first), false, Ok(due)) => {
                as_of = Some(first);
                cursor = Some((due, id.clone()));
            }
            (Ok(first), true, Ok(due)) if as_of == Some(first) => cursor = Some((due, id.clone())),
            (Ok(_), true, Ok(_)) => f.violation(
                "page_token",
                "belongs to a query judged at another as_of; keep the as_of of the first page",
            ),
            _ => f.violation("page_token", "is not a token this server issued"),
        }
    }
    f.finish()?;
    take!(from, to, park_id, company_id, authority_id, as_of);
    let q = BreachQuery {
        from,
        to,
        as_of,
        park_id: park_id.map(|p| p.to_string()),
        company_id: company_id.map(|c| c.to_string()),
        authority_id: authority_id.map(|a| a.to_string()),
        limits: codes,
        after: cursor,
        limit: size + 1,
    };
    let rows = ledger
        .read
        .breaches()
        .register(r.min_position, rules(ledger), &q)
        .await
        .map_err(error::projection)?;
    let judged_at = format_timestamp(as_of);
    let (rows, next) = page::split(rows, size, |last| {
        (
            judged_at.clone(),
            last.due_on.to_string(),
            last.obligation_id.clone(),
        )
    });
    Ok(proto::ListBreachesResponse {
        next_page_token: ledger.pages.issue(&query, next.as_ref()),
        breaches: rows.into_iter().map(row).collect(),
        as_of: Some(fields::timestamp(as_of)),
    })
}
