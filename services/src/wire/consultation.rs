//! The industry-consultation service's conversions: opening a consultation, the company's opinion,
//! the Board's determination, withdrawal and the link to a tenant, and the consultation as
//! `GetConsultationResponse`.

use kcn_domain::consultation::{
    Capacity, CompanyOpinionSubmitted, ConsultationCommand, ConsultationLinkedToTenant,
    ConsultationOpened, ConsultationStatus, ConsultationWithdrawn, IndustryConsultation,
    Suitability,
};
use kcn_domain::values::{Decimal, Text, max_chars, max_items};
use uuid::Uuid;

use super::{
    Command, attachment_to_proto, attachments, pollution_level, pollution_level_to_proto, vsic,
    vsic_to_proto,
};
use crate::fields::{self, Fields, optional_text};
use crate::{proto, wire_enum};

wire_enum!(
    suitability,
    suitability_to_proto,
    proto::Suitability,
    Suitability,
    "SUITABILITY",
    [Suitable, Conditional, Unsuitable]
);

type Cmd = Command<IndustryConsultation>;

/// The consultation a step addresses.
fn consultation_id(f: &mut Fields, raw: &str) -> Option<Uuid> {
    f.check("consultation_id", fields::uuid(raw))
}

/// A capacity: an exact decimal (at most 12 integer digits, 4 decimals) and its unit.
fn capacity(f: &mut Fields, c: &proto::Capacity) -> Option<Capacity> {
    let value = f.check("capacity.value", Decimal::parse(&c.value, 4));
    let unit = f.check("capacity.unit", Text::code(&c.unit));
    Some(Capacity {
        value: value?,
        unit: unit?,
    })
}

pub fn open(r: proto::OpenConsultationRequest, f: &mut Fields) -> Option<Cmd> {
    let park_id = f.check("park_id", fields::uuid(&r.park_id));
    let company_id = f.check("company_id", fields::uuid(&r.company_id));
    let investor = f.check("prospective_investor", Text::name(&r.prospective_investor));
    let project = f.check("project", optional_text(&r.project, max_chars::NAME));
    let what = "a VSIC code and its version";
    let vsic_code = f.required("vsic_code", r.vsic_code.as_ref(), what, |f, v| {
        vsic(f, "vsic_code", v)
    });
    let pollution_level = f.check("pollution_level", pollution_level(r.pollution_level));
    let what = "a decimal value and its unit";
    let capacity = f.required("capacity", r.capacity.as_ref(), what, capacity);
    let event = ConsultationOpened {
        park_id: park_id?,
        company_id: company_id?,
        prospective_investor: investor?,
        project: project?,
        vsic_code: vsic_code?,
        pollution_level: pollution_level?,
        capacity: capacity?,
    };
    Some(Cmd::new(move |consultation_id, occurred_at| {
        ConsultationCommand::Open {
            consultation_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn submit_opinion(r: proto::SubmitCompanyOpinionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = consultation_id(f, &r.consultation_id);
    let opinion = f.check("opinion", Text::body(&r.opinion));
    let attachments = attachments(f, &r.attachments);
    let event = CompanyOpinionSubmitted {
        opinion: opinion?,
        attachments: attachments?,
    };
    Some(Cmd::on(id?, move |consultation_id, occurred_at| {
        ConsultationCommand::SubmitOpinion {
            consultation_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn determine(r: proto::DetermineSuitabilityRequest, f: &mut Fields) -> Option<Cmd> {
    let id = consultation_id(f, &r.consultation_id);
    let determination = f.check("determination", suitability(r.determination));
    let bounds = (0, max_items::CONDITIONS);
    let conditions = f.list("conditions", &r.conditions, bounds, |f, field, c| {
        f.check(field, Text::parse(c, max_chars::CONDITION))
    });
    let rationale = f.check("rationale", Text::body(&r.rationale));
    let legal_basis = f.check("legal_basis", Text::name(&r.legal_basis));
    let decided_on = f.check("decided_on", fields::optional_date(&r.decided_on));
    let document_no = f.check(
        "document_no",
        optional_text(&r.document_no, max_chars::NUMBER),
    );
    let (determination, conditions, rationale) = (determination?, conditions?, rationale?);
    let (legal_basis, decided_on, document_no) = (legal_basis?, decided_on?, document_no?);
    Some(Cmd::on(id?, move |consultation_id, occurred_at| {
        ConsultationCommand::Determine {
            consultation_id,
            occurred_at,
            determination,
            conditions: conditions.clone(),
            rationale: rationale.clone(),
            legal_basis: legal_basis.clone(),
            decided_on,
            document_no: document_no.clone(),
        }
    }))
}

pub fn withdraw(r: proto::WithdrawConsultationRequest, f: &mut Fields) -> Option<Cmd> {
    let id = consultation_id(f, &r.consultation_id);
    let reason = f.check("reason", Text::note(&r.reason));
    let event = ConsultationWithdrawn { reason: reason? };
    Some(Cmd::on(id?, move |consultation_id, occurred_at| {
        ConsultationCommand::Withdraw {
            consultation_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn link_to_tenant(r: proto::LinkConsultationToTenantRequest, f: &mut Fields) -> Option<Cmd> {
    let id = consultation_id(f, &r.consultation_id);
    let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
    let event = ConsultationLinkedToTenant {
        tenant_id: tenant_id?,
    };
    Some(Cmd::on(id?, move |consultation_id, occurred_at| {
        ConsultationCommand::LinkToTenant {
            consultation_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

fn status(s: ConsultationStatus) -> proto::ConsultationStatus {
    use proto::ConsultationStatus as P;
    match s {
        ConsultationStatus::NotOpened => P::Unspecified,
        ConsultationStatus::Open => P::Open,
        ConsultationStatus::Determined => P::Determined,
        ConsultationStatus::Withdrawn => P::Withdrawn,
        ConsultationStatus::Linked => P::Linked,
    }
}

/// The consultation as the wire's answer.
pub fn consultation(
    id: Uuid,
    c: &IndustryConsultation,
    version: u64,
) -> proto::GetConsultationResponse {
    proto::GetConsultationResponse {
        consultation_id: id.to_string(),
        version,
        status: status(c.status()) as i32,
        opened: c.opened.as_ref().map(|o| proto::ConsultationOpened {
            park_id: o.park_id.to_string(),
            company_id: o.company_id.to_string(),
            prospective_investor: o.prospective_investor.to_string(),
            project: o.project.as_ref().map(ToString::to_string),
            vsic_code: Some(vsic_to_proto(&o.vsic_code)),
            pollution_level: pollution_level_to_proto(o.pollution_level),
            capacity: Some(proto::Capacity {
                value: o.capacity.value.as_str().to_owned(),
                unit: o.capacity.unit.to_string(),
            }),
        }),
        opened_at: c.opened_at.map(fields::timestamp),
        opinions: c
            .opinions
            .iter()
            .map(|o| proto::CompanyOpinionSubmitted {
                opinion: o.opinion.to_string(),
                attachments: o.attachments.iter().map(attachment_to_proto).collect(),
            })
            .collect(),
        determination: c
            .determination
            .as_ref()
            .map(|d| proto::SuitabilityDetermined {
                determination: suitability_to_proto(d.determination),
                conditions: d.conditions.iter().map(ToString::to_string).collect(),
                rationale: d.rationale.to_string(),
                legal_basis: d.legal_basis.to_string(),
                decided_on: d.decided_on.to_string(),
                document_no: d.document_no.as_ref().map(ToString::to_string),
            }),
        withdrawal: c.withdrawn.as_ref().map(|w| proto::ConsultationWithdrawn {
            reason: w.reason.to_string(),
        }),
        tenant_id: c.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
    }
}
