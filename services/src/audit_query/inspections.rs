//! Audit questions 2 and 3 at the edge: a tenant's inspection record and the tenants inspected more
//! than once in a year, read from the `inspections` read model.

use chrono::NaiveDate;
use kcn_projections::models::inspections::{
    FindingRecord, RemediationStatus, RepeatedQuery, TenantInspection, TenantRecordQuery,
};
use tonic::Status;

use super::params::{
    as_of_date, date_range, date_text, enum_filter, enum_number, page_size, rules,
};

use crate::fields::{self, Fields};
use crate::page;
use crate::{Ledger, error, proto, take};

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
    let query = page::query(&[
        "tenant_inspection_record",
        &r.tenant_id,
        &r.from_date,
        &r.to_date,
        &r.kind.to_string(),
        &r.conducted_by.to_string(),
        &r.as_of_date,
    ]);
    let after: Option<(NaiveDate, String)> = ledger.pages.open(&mut f, &r.page_token, &query);
    f.finish()?;
    take!(tenant, range, as_of);
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
    let page = ledger
        .read
        .inspections()
        .tenant_record(r.min_position, rules(ledger), &q)
        .await
        .map_err(error::projection)?;
    Ok(proto::GetTenantInspectionRecordResponse {
        tenant_id: tenant.to_string(),
        as_of_date: as_of.to_string(),
        inspections: page.items.into_iter().map(tenant_inspection).collect(),
        next_page_token: ledger.pages.issue(&query, page.next.as_ref()),
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
        commitment_id: f.commitment_id.unwrap_or_default(),
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
    let query = page::query(&[
        "repeated_inspections",
        &r.from_year.to_string(),
        &r.to_year.to_string(),
        &r.park_id,
        &r.company_id,
        &r.tenant_id,
        &r.kind.to_string(),
    ]);
    let after: Option<(i32, String)> = ledger.pages.open(&mut f, &r.page_token, &query);
    f.finish()?;
    take!(from_year, to_year, park, company, tenant);
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
    let page = ledger
        .read
        .inspections()
        .repeated(r.min_position, &q)
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
        next_page_token: ledger.pages.issue(&query, page.next.as_ref()),
    })
}
