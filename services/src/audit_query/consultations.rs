//! Audit question 4 at the edge: industry consultations by VSIC code and park, from the
//! `consultations` read model.

use kcn_domain::consultation::Suitability;
use kcn_domain::values::VsicCode;
use kcn_projections::models::consultations::{
    ConsultationCursor, ConsultationFilter, ConsultationRow,
};
use tonic::Status;

use super::params::page_size;
use super::stored_timestamp;
use crate::fields::{self, Fields};
use crate::page;
use crate::{Ledger, error, proto, take};

/// The page key of the consultations list: the last row's opening instant and id.
type Key = (String, String);

fn suitability(raw: i32, f: &mut Fields) -> Option<Option<Suitability>> {
    match proto::Suitability::try_from(raw) {
        Ok(proto::Suitability::Unspecified) => Some(None),
        Ok(proto::Suitability::Suitable) => Some(Some(Suitability::Suitable)),
        Ok(proto::Suitability::Conditional) => Some(Some(Suitability::Conditional)),
        Ok(proto::Suitability::Unsuitable) => Some(Some(Suitability::Unsuitable)),
        Err(_) => {
            f.violation("determination", format!("{raw} is not a known value"));
            None
        }
    }
}

fn vsic(v: &VsicCode) -> proto::VsicCode {
    proto::VsicCode {
        code: v.code.clone(),
        version: v.version.clone(),
    }
}

fn pollution(name: Option<&str>) -> i32 {
    name.and_then(proto::PollutionLevel::from_str_name)
        .map_or(0, Into::into)
}

fn text_date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn summary(r: ConsultationRow) -> proto::ConsultationSummary {
    proto::ConsultationSummary {
        opened_at: stored_timestamp(&r.opened_at),
        opened_on: r.opened_on.to_string(),
        determination: r
            .determination
            .as_deref()
            .and_then(proto::Suitability::from_str_name)
            .map_or(0, Into::into),
        decided_on: text_date(r.decided_on),
        days_to_decision: r.days_to_decision,
        conditions: r.conditions,
        legal_basis: r.legal_basis.unwrap_or_default(),
        document_no: r.document_no.unwrap_or_default(),
        withdrawn_on: text_date(r.withdrawn_on),
        tenant_id: r.tenant_id.unwrap_or_default(),
        rules_effective_from: text_date(r.rules_effective_from),
        excluded_by: r.excluded_by.as_ref().map(vsic),
        outside_allowed: r.outside_allowed,
        highest_pollution_level_allowed: pollution(r.highest_allowed.as_deref()),
        pollution_level_exceeds: r.pollution_exceeds,
        flagged: r.flagged,
        pollution_level: pollution(Some(&r.pollution_level)),
        vsic_code: Some(vsic(&r.vsic_code)),
        consultation_id: r.consultation_id,
        park_id: r.park_id,
        company_id: r.company_id,
        prospective_investor: r.prospective_investor,
        project: r.project.unwrap_or_default(),
    }
}

/// `ListConsultations`: audit question 4.
pub(super) async fn list(
    ledger: &Ledger,
    r: proto::ListConsultationsRequest,
) -> Result<proto::ListConsultationsResponse, Status> {
    let mut f = Fields::default();
    let park_id = f.check("park_id", fields::optional_uuid(&r.park_id));
    let vsic_code = match &r.vsic_code {
        None => Some(None),
        Some(v) => f
            .check("vsic_code", VsicCode::parse(&v.code, &v.version))
            .map(Some),
    };
    let determination = suitability(r.determination, &mut f);
    let size = page_size(&mut f, r.page_size);
    let query = page::query(&[
        "consultations",
        r.park_id.trim(),
        &r.vsic_code
            .as_ref()
            .map(|v| format!("{}@{}", v.code.trim(), v.version.trim()))
            .unwrap_or_default(),
        &r.determination.to_string(),
        &r.only_flagged.to_string(),
    ]);
    let from: Option<Key> = ledger.pages.open(&mut f, &r.page_token, &query);
    f.finish()?;
    take!(park_id, vsic_code, determination);
    let filter = ConsultationFilter {
        park_id: park_id.map(|p| p.to_string()),
        vsic_code,
        determination,
        only_flagged: r.only_flagged,
    };
    let cursor = from.map(|(opened_at, consultation_id)| ConsultationCursor {
        opened_at,
        consultation_id,
    });
    let rows = ledger
        .read
        .consultations()
        .list(r.min_position, &filter, cursor.as_ref(), size + 1)
        .await
        .map_err(error::projection)?;
    let (rows, next) = page::split(rows, size, |last| {
        (last.opened_at.clone(), last.consultation_id.clone())
    });
    Ok(proto::ListConsultationsResponse {
        next_page_token: ledger.pages.issue(&query, next.as_ref()),
        consultations: rows.into_iter().map(summary).collect(),
    })
}
