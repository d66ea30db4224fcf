//! Audit question 7 at the edge: monitoring alerts that no inspection or incident followed within N
//! days, read from the `alerts` read model.

use kcn_projections::models::alerts::{UnfollowedAlert, UnfollowedQuery};
use tonic::Status;

use super::params::{as_of_date, date_range, enum_filter, enum_number, page_size};
use crate::fields::{self, Fields};
use crate::page;
use crate::{Ledger, error, proto, take};

/// The largest N accepted: ten years of days.
const MAX_WITHIN_DAYS: u32 = 3_660;

/// `ListUnfollowedAlerts`: audit question 7.
pub(super) async fn list_unfollowed_alerts(
    ledger: &Ledger,
    r: proto::ListUnfollowedAlertsRequest,
) -> Result<proto::ListUnfollowedAlertsResponse, Status> {
    let mut f = Fields::default();
    let park = f.check("park_id", fields::optional_uuid(&r.park_id));
    let company = f.check("company_id", fields::optional_uuid(&r.company_id));
    let tenant = f.check("tenant_id", fields::optional_uuid(&r.tenant_id));
    let range = date_range(&mut f, ("from_date", &r.from_date), ("to_date", &r.to_date));
    let within_days = match r.within_days {
        None => {
            f.violation(
                "within_days",
                "is required: how many days after an alert a follow-up still counts",
            );
            None
        }
        Some(n) if n > MAX_WITHIN_DAYS => {
            f.violation("within_days", format!("must be at most {MAX_WITHIN_DAYS}"));
            None
        }
        Some(n) => Some(n),
    };
    let kind = enum_filter(
        &mut f,
        "kind",
        r.kind,
        proto::MonitoringAlertKind::as_str_name,
    );
    let as_of = as_of_date(ledger, &mut f, &r.as_of_date);
    let limit = page_size(&mut f, r.page_size);
    let query = page::query(&[
        "unfollowed_alerts",
        &r.park_id,
        &r.company_id,
        &r.tenant_id,
        &r.from_date,
        &r.to_date,
        &format!("{:?}", r.within_days),
        &r.kind.to_string(),
        &r.as_of_date,
    ]);
    let after: Option<(String, String)> = ledger.pages.open(&mut f, &r.page_token, &query);
    f.finish()?;
    take!(park, company, tenant, range, within_days, as_of);
    let q = UnfollowedQuery {
        park_id: park.map(|p| p.to_string()),
        company_id: company.map(|c| c.to_string()),
        tenant_id: tenant.map(|t| t.to_string()),
        from: range.0,
        to: range.1,
        kind,
        within_days,
        as_of,
        after,
        limit,
    };
    let page = ledger
        .read
        .alerts()
        .unfollowed(r.min_position, &q)
        .await
        .map_err(error::projection)?;
    Ok(proto::ListUnfollowedAlertsResponse {
        alerts: page.items.into_iter().map(unfollowed).collect(),
        next_page_token: ledger.pages.issue(&query, page.next.as_ref()),
        within_days,
        as_of_date: as_of.to_string(),
    })
}

fn unfollowed(a: UnfollowedAlert) -> proto::UnfollowedAlert {
    proto::UnfollowedAlert {
        kind: enum_number(Some(&a.kind), proto::MonitoringAlertKind::from_str_name),
        parameter: enum_number(
            a.parameter.as_deref(),
            proto::MonitoringParameter::from_str_name,
        ),
        alert_id: a.alert_id,
        park_id: a.park_id,
        station_id: a.station_id,
        tenant_id: a.tenant_id.unwrap_or_default(),
        raised_at: Some(fields::timestamp(a.raised_at)),
        raised_on: a.raised_on.to_string(),
        window_ends_on: a.window_ends_on.to_string(),
        value: a.value.unwrap_or_default(),
        unit: a.unit.unwrap_or_default(),
        limit: a.limit.unwrap_or_default(),
        standard_ref: a.standard_ref.unwrap_or_default(),
        exceedance_count: a.exceedances,
        interruption_count: a.interruptions,
        resolved: a.resolved_at.is_some(),
        resolved_at: a.resolved_at.map(fields::timestamp),
        resolution_reason: a.resolution_reason.unwrap_or_default(),
    }
}
