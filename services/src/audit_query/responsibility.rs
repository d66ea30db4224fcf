//! Audit question 8 at the edge: who was responsible for a park on a date, and which regulation
//! applied, from the `responsibility` read model.

use kcn_domain::time::local_date;
use kcn_domain::{AggregateKind, DomainError};
use kcn_projections::models::registry::AuthorityRow;
use kcn_projections::models::responsibility::AgreementInForce;
use tonic::Status;

use crate::fields::{self, Fields};
use crate::{Ledger, error, proto, take};

fn authority(a: AuthorityRow) -> proto::ResponsibilityAuthority {
    proto::ResponsibilityAuthority {
        kind: proto::AuthorityKind::from_str_name(&a.kind).map_or(0, Into::into),
        authority_id: a.authority_id,
        name: a.name,
        decision_no: a.decision_no,
        successor_id: a.successor_id.unwrap_or_default(),
        succeeded_on: a.succeeded_on.map(|d| d.to_string()).unwrap_or_default(),
        succession_legal_basis: a.succession_basis.unwrap_or_default(),
    }
}

/// The authority as known on the date: a succession dated after it is not yet part of its record.
fn authority_on(mut a: AuthorityRow, date: chrono::NaiveDate) -> proto::ResponsibilityAuthority {
    if a.succeeded_on.is_some_and(|on| on > date) {
        a.successor_id = None;
        a.succeeded_on = None;
        a.succession_basis = None;
    }
    authority(a)
}

fn agreement(a: AgreementInForce) -> proto::ResponsibilityAgreement {
    let row = a.agreement;
    let levels = a.levels;
    proto::ResponsibilityAgreement {
        agreement_id: row.agreement_id,
        authority_id: row.authority_id,
        version: row.version,
        title: row.title,
        document_no: row.document_no.unwrap_or_default(),
        signed_on: row.signed_on.to_string(),
        effective_from: row.effective_from.to_string(),
        document_sha256: row.document_sha256,
        superseded_by: row.superseded_by.unwrap_or_default(),
        superseded_from: row
            .superseded_from
            .map(|d| d.to_string())
            .unwrap_or_default(),
        levels_effective_from: levels
            .as_ref()
            .map(|l| l.effective_from.to_string())
            .unwrap_or_default(),
        amendment_no: levels
            .as_ref()
            .and_then(|l| l.amendment_no.clone())
            .unwrap_or_default(),
        service_levels: levels.map(|l| proto::ServiceLevels {
            incident_notification_hours: l.incident_notification_hours,
            information_answer_days: l.information_answer_days,
            infrastructure_information_days: l.infrastructure_information_days,
            consultation_answer_days: l.consultation_answer_days,
            quarterly_report_due_day: l.quarterly_report_due_day,
        }),
        inherited: a.inherited,
    }
}

/// `GetParkResponsibility`: audit question 8.
pub(super) async fn get(
    ledger: &Ledger,
    r: proto::GetParkResponsibilityRequest,
) -> Result<proto::GetParkResponsibilityResponse, Status> {
    let mut f = Fields::default();
    let park_id = f.check("park_id", fields::uuid(&r.park_id));
    let date = f
        .check("date", fields::optional_date(&r.date))
        .map(|d| d.unwrap_or_else(|| local_date(ledger.clock.now())));
    f.finish()?;
    take!(park_id, date);
    let Some(p) = ledger
        .read
        .responsibility()
        .park(r.min_position, &park_id.to_string(), date)
        .await
        .map_err(error::projection)?
    else {
        return Err(error::domain(DomainError::NotFound {
            kind: AggregateKind::Park,
            id: park_id,
        }));
    };
    let assigned_from = p
        .assigned
        .as_ref()
        .map(|a| a.assigned_from.to_string())
        .unwrap_or_default();
    let company_assigned_from = p
        .company
        .as_ref()
        .map(|c| c.assigned_from.to_string())
        .unwrap_or_default();
    Ok(proto::GetParkResponsibilityResponse {
        park_id: p.park.park_id,
        park_code: p.park.code,
        park_name: p.park.name,
        date: date.to_string(),
        assigned_authority: p.assigned.map(|a| authority_on(a.authority, date)),
        assigned_from,
        successions: p.successions.into_iter().map(authority).collect(),
        responsible_authority: p.responsible.map(|a| authority_on(a, date)),
        company: p.company.map(|c| proto::ResponsibilityCompany {
            company_id: c.company.company_id,
            name: c.company.name,
            enterprise_code: c.company.enterprise_code,
        }),
        company_assigned_from,
        agreement: p.agreement.map(agreement),
    })
}
