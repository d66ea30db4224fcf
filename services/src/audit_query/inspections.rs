//! Audit questions 2 and 3 at the edge: a tenant's inspection record and the tenants inspected more
//! than once in a year, read from the `inspections` read model. Also the paging and read-your-writes
//! helpers the audit-query methods of this series share.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use kcn_domain::LegalRules;
use kcn_domain::time::local_date;
use kcn_projections::models::Generation;
use kcn_projections::models::inspections::{
    self, FindingRecord, RemediationStatus, RepeatedQuery, TenantInspection, TenantRecordQuery,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Status;

use crate::fields::{self, Fields};
use crate::{Ledger, error, proto, take};

/// How long a read-your-writes query waits for its read model.
const READ_YOUR_WRITES_DEADLINE: Duration = Duration::from_secs(5);
/// The page size when the caller gives none, and the largest allowed.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

/// The legal rules the audit queries judge against: the server's configured ones.
pub(super) fn rules(ledger: &Ledger) -> &LegalRules {
    &ledger.rules
}

/// Checks `page_size` (0 means the default).
pub(super) fn page_size(f: &mut Fields, raw: u32) -> u32 {
    if raw > MAX_PAGE {
        f.violation("page_size", format!("must be at most {MAX_PAGE}"));
    }
    if raw == 0 {
        DEFAULT_PAGE
    } else {
        raw.min(MAX_PAGE)
    }
}

/// A fingerprint of a query's filters, so that a page token is only accepted for the query that
/// issued it.
pub(super) fn fingerprint(parts: &[&str]) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// The opaque page token: the key of the last item served, and the query it belongs to.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Token<K> {
    query: u64,
    after: K,
}

/// Encodes the key a page ended at, or the empty token when there are no more pages.
pub(super) fn next_token<K: Serialize>(query: u64, after: Option<K>) -> String {
    after.map_or_else(String::new, |after| {
        URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&Token { query, after }).expect("page keys serialise"))
    })
}

/// Decodes a caller's `page_token` for this query (empty: the first page).
pub(super) fn after<K: DeserializeOwned>(f: &mut Fields, raw: &str, query: u64) -> Option<K> {
    if raw.is_empty() {
        return None;
    }
    let token = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Token<K>>(&bytes).ok());
    match token {
        Some(t) if t.query == query => Some(t.after),
        Some(_) => {
            f.violation(
                "page_token",
                "belongs to a different query; keep the filters of the first page",
            );
            None
        }
        None => {
            f.violation("page_token", "is not a token this server issued");
            None
        }
    }
}

/// Waits until read model `name` has applied `min_position` (when given), then returns its current
/// generation.
pub(super) async fn ready(
    ledger: &Ledger,
    name: &str,
    min_position: u64,
) -> Result<Generation, Status> {
    let audit = ledger.read.audit();
    if min_position > 0 {
        audit
            .wait_for(name, min_position, READ_YOUR_WRITES_DEADLINE)
            .await
            .map_err(error::projection)?;
    }
    audit.generation(name).await.map_err(error::projection)
}

/// An optional `as_of_date`: empty means today's local date by the server's clock.
pub(super) fn as_of_date(ledger: &Ledger, f: &mut Fields, raw: &str) -> Option<NaiveDate> {
    f.check("as_of_date", fields::optional_date(raw))
        .map(|d| d.unwrap_or_else(|| local_date(ledger.clock.now())))
}

/// A date range of a request: both optional, the end not before the start.
pub(super) fn date_range(
    f: &mut Fields,
    (from_field, from): (&str, &str),
    (to_field, to): (&str, &str),
) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
    let from = f.check(from_field, fields::optional_date(from));
    let to = f.check(to_field, fields::optional_date(to));
    if let (Some(Some(a)), Some(Some(b))) = (from, to)
        && b < a
    {
        f.violation(to_field, format!("must not be before {from_field}"));
    }
    Some((from?, to?))
}

/// An optional enum filter: UNSPECIFIED (0) means none; an unknown number is a violation.
pub(super) fn enum_filter<E>(
    f: &mut Fields,
    field: &str,
    raw: i32,
    name: fn(&E) -> &'static str,
) -> Option<String>
where
    E: TryFrom<i32>,
{
    if raw == 0 {
        return None;
    }
    match E::try_from(raw) {
        Ok(v) => Some(name(&v).to_owned()),
        Err(_) => {
            f.violation(field, format!("{raw} is not a known value"));
            None
        }
    }
}

/// The proto enum number of a stored enum name, or 0 (UNSPECIFIED) for a name this build lacks.
pub(super) fn enum_number<E: Into<i32>>(name: Option<&str>, parse: fn(&str) -> Option<E>) -> i32 {
    name.and_then(parse).map_or(0, Into::into)
}

fn date_text(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// `GetTenantInspectionRecord`: audit question 2.
pub(super) async fn get_tenant_inspection_record(
    ledger: &Ledger,
    r: proto::GetTenantInspectionRecordRequest,
) -> Result<proto::GetTenantInspectionRecordResponse, Status> {
    let mut f = Fields::default();
    let tenant = f.check("tenant_id", fields::uuid(&r.tenant_id));
    let range = date_range(&mut f, ("from_date", &r.from_date), ("to_date", &r.to_date));
    let kind = enum_filter(&mut f, "kind", r.kind, proto::InspectionKind::as_str_name);
    let conducted_by = enum_filter(
        &mut f,
        "conducted_by",
        r.conducted_by,
        proto::InspectionConductor::as_str_name,
    );
    let as_of = as_of_date(ledger, &mut f, &r.as_of_date);
    let limit = page_size(&mut f, r.page_size);
    let query = fingerprint(&[
        "tenant_inspection_record",
        &r.tenant_id,
        &r.from_date,
        &r.to_date,
        &r.kind.to_string(),
        &r.conducted_by.to_string(),
        &r.as_of_date,
    ]);
    let after: Option<(NaiveDate, String)> = after(&mut f, &r.page_token, query);
    f.finish()?;
    take!(tenant, range, as_of);
    let g = ready(ledger, inspections::NAME, r.min_position).await?;
    let q = TenantRecordQuery {
        tenant_id: tenant.to_string(),
        from: range.0,
        to: range.1,
        kind,
        conducted_by,
        as_of,
        after,
        limit,
    };
    let page = inspections::tenant_record(ledger.read.audit().pool(), &g, rules(ledger), &q)
        .await
        .map_err(error::projection)?;
    Ok(proto::GetTenantInspectionRecordResponse {
        tenant_id: tenant.to_string(),
        as_of_date: as_of.to_string(),
        inspections: page.items.into_iter().map(tenant_inspection).collect(),
        next_page_token: next_token(query, page.next),
    })
}

fn tenant_inspection(i: TenantInspection) -> proto::TenantInspection {
    proto::TenantInspection {
        grounds_recorded: i.grounds_recorded(),
        inspection_id: i.inspection_id,
        park_id: i.park_id,
        kind: enum_number(Some(&i.kind), proto::InspectionKind::from_str_name),
        conducted_by: enum_number(
            Some(&i.conducted_by),
            proto::InspectionConductor::from_str_name,
        ),
        entity_count: i.entity_count,
        planned_for: i.planned_for.to_string(),
        inspection_date: i.inspection_date.to_string(),
        decision_no: i.decision_no.unwrap_or_default(),
        issued_on: date_text(i.issued_on),
        grounds: i.grounds.unwrap_or_default(),
        delivered_on: date_text(i.delivered_on),
        delivery_lag_days: i.delivery_lag_days,
        delivery_limit_days: i.delivery_limit_days,
        delivery_judged: i.delivery_judged,
        started_on: date_text(i.started_on),
        concluded_on: date_text(i.concluded_on),
        closed_on: date_text(i.closed_on),
        duration_days: i.duration_days,
        under_way: i.under_way,
        base_limit_days: i.base_limit_days,
        extension_count: i.extensions.len() as u32,
        extension_days_requested: i.extension_days_requested,
        extension_days_counted: i.extension_days_counted,
        limit_days: i.limit_days,
        extensions: i
            .extensions
            .into_iter()
            .map(|x| proto::InspectionExtensionRecord {
                days: x.days,
                extended_on: x.extended_on.to_string(),
                reason: x.reason,
                decision_no: x.decision_no.unwrap_or_default(),
                days_counted: x.days_counted,
            })
            .collect(),
        breaches: i
            .breaches
            .into_iter()
            .map(|b| proto::Breach {
                limit: b.limit,
                detail: b.detail,
            })
            .collect(),
        findings: i.findings.into_iter().map(finding).collect(),
    }
}

fn finding(f: FindingRecord) -> proto::InspectionFindingRecord {
    let status = match f.status {
        RemediationStatus::NotRequired => proto::RemediationStatus::NotRequired,
        RemediationStatus::Required => proto::RemediationStatus::Required,
        RemediationStatus::Overdue => proto::RemediationStatus::Overdue,
        RemediationStatus::Verified => proto::RemediationStatus::Verified,
        RemediationStatus::Referred => proto::RemediationStatus::Referred,
    };
    proto::InspectionFindingRecord {
        finding_id: f.finding_id,
        requirement: f.requirement,
        severity: enum_number(Some(&f.severity), proto::FindingSeverity::from_str_name),
        description: f.description,
        found_on: f.found_on.to_string(),
        status: status.into(),
        remediation_required_on: date_text(f.required_on),
        remediation_due_on: date_text(f.due_on),
        remediation_action: f.action.unwrap_or_default(),
        verified_on: date_text(f.verified_on),
        verified_late: f.verified_late,
        referred_on: date_text(f.referred_on),
        referred_to_authority_id: f.referred_to.unwrap_or_default(),
        days_overdue: f.days_overdue,
    }
}

/// `ListRepeatedInspections`: audit question 3.
pub(super) async fn list_repeated_inspections(
    ledger: &Ledger,
    r: proto::ListRepeatedInspectionsRequest,
) -> Result<proto::ListRepeatedInspectionsResponse, Status> {
    let mut f = Fields::default();
    let year = |f: &mut Fields, field: &str, y: u32| {
        if (1900..=9999).contains(&y) {
            i32::try_from(y).ok()
        } else {
            f.violation(field, "must be a year from 1900 to 9999");
            None
        }
    };
    let from_year = year(&mut f, "from_year", r.from_year);
    let to_year = if r.to_year == 0 {
        from_year
    } else {
        year(&mut f, "to_year", r.to_year)
    };
    if let (Some(a), Some(b)) = (from_year, to_year)
        && b < a
    {
        f.violation("to_year", "must not be before from_year");
    }
    let park = f.check("park_id", fields::optional_uuid(&r.park_id));
    let company = f.check("company_id", fields::optional_uuid(&r.company_id));
    let tenant = f.check("tenant_id", fields::optional_uuid(&r.tenant_id));
    let kind = enum_filter(&mut f, "kind", r.kind, proto::InspectionKind::as_str_name);
    let limit = page_size(&mut f, r.page_size);
    let query = fingerprint(&[
        "repeated_inspections",
        &r.from_year.to_string(),
        &r.to_year.to_string(),
        &r.park_id,
        &r.company_id,
        &r.tenant_id,
        &r.kind.to_string(),
    ]);
    let after: Option<(i32, String)> = after(&mut f, &r.page_token, query);
    f.finish()?;
    take!(from_year, to_year, park, company, tenant);
    let g = ready(ledger, inspections::NAME, r.min_position).await?;
    let q = RepeatedQuery {
        from_year,
        to_year,
        park_id: park.map(|p| p.to_string()),
        company_id: company.map(|c| c.to_string()),
        tenant_id: tenant.map(|t| t.to_string()),
        kind,
        after,
        limit,
    };
    let page = inspections::repeated(ledger.read.audit().pool(), &g, &q)
        .await
        .map_err(error::projection)?;
    let entities = page
        .items
        .into_iter()
        .map(|e| proto::RepeatedInspectionEntity {
            tenant_id: e.tenant_id,
            park_id: e.park_id,
            year: u32::try_from(e.year).unwrap_or_default(),
            inspection_count: e.inspection_count,
            unannounced_count: e.unannounced_count,
            unannounced_without_grounds: e.unannounced_without_grounds,
            inspections: e
                .inspections
                .into_iter()
                .map(|o| proto::RepeatedInspectionOccasion {
                    kind: enum_number(Some(&o.kind), proto::InspectionKind::from_str_name),
                    inspection_id: o.inspection_id,
                    inspection_date: o.inspection_date.to_string(),
                    started: o.started,
                    decision_issued: o.decision_issued,
                    grounds_recorded: o.grounds.is_some(),
                    grounds: o.grounds.unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    Ok(proto::ListRepeatedInspectionsResponse {
        entities,
        next_page_token: next_token(query, page.next),
    })
}
