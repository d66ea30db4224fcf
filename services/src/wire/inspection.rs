//! The inspection service's conversions: plan, decision and delivery, start, extension, findings,
//! conclusion, remediation, referral and closing, and the inspection as `GetInspectionResponse`.

use kcn_domain::inspection::{
    Finding, FindingRecorded, FindingSeverity, Inspection, InspectionClosed, InspectionCommand,
    InspectionConductor, InspectionExtended, InspectionKind, InspectionPlanned, InspectionStatus,
    ReferredForSanction, RemediationRequired, RemediationVerified,
};
use kcn_domain::values::{ExtensionDays, Text, max_chars, max_items};
use uuid::Uuid;

use super::{Command, uuid_strings, uuids};
use crate::fields::{self, Fields, optional_text};
use crate::{proto, wire_enum};

wire_enum!(
    conductor,
    conductor_to_proto,
    proto::InspectionConductor,
    InspectionConductor,
    "INSPECTION_CONDUCTOR",
    [Board, Company, Joint]
);

wire_enum!(
    kind,
    kind_to_proto,
    proto::InspectionKind,
    InspectionKind,
    "INSPECTION_KIND",
    [Planned, Unannounced, PostCheck]
);

wire_enum!(
    severity,
    severity_to_proto,
    proto::FindingSeverity,
    FindingSeverity,
    "FINDING_SEVERITY",
    [Minor, Major, Critical]
);

type Cmd = Command<Inspection>;

/// The inspection a step addresses.
fn inspection_id(f: &mut Fields, raw: &str) -> Option<Uuid> {
    f.check("inspection_id", fields::uuid(raw))
}

/// A finding's identifier: a short code chosen by the caller.
fn finding_id(f: &mut Fields, raw: &str) -> Option<Text> {
    f.check("finding_id", Text::code(raw))
}

pub fn plan(r: proto::PlanInspectionRequest, f: &mut Fields) -> Option<Cmd> {
    let park_id = f.check("park_id", fields::uuid(&r.park_id));
    let bounds = (1, max_items::INSPECTED_TENANTS);
    let tenant_ids = uuids(f, "tenant_ids", &r.tenant_ids, bounds);
    let conducted_by = f.check("conducted_by", conductor(r.conducted_by));
    let kind = f.check("kind", kind(r.kind));
    let planned_for = f.check("planned_for", fields::date(&r.planned_for));
    let scope = f.check("scope", Text::note(&r.scope));
    let incident_id = f.check("incident_id", fields::optional_uuid(&r.incident_id));
    let event = InspectionPlanned {
        park_id: park_id?,
        tenant_ids: tenant_ids?,
        conducted_by: conducted_by?,
        kind: kind?,
        planned_for: planned_for?,
        scope: scope?,
        incident_id: incident_id?,
    };
    Some(Cmd::new(move |inspection_id, occurred_at| {
        InspectionCommand::Plan {
            inspection_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn issue_decision(r: proto::IssueInspectionDecisionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let decision_no = f.check("decision_no", Text::number(&r.decision_no));
    let issued_on = f.check("issued_on", fields::optional_date(&r.issued_on));
    let grounds = f.check("grounds", optional_text(&r.grounds, max_chars::NOTE));
    let (decision_no, issued_on, grounds) = (decision_no?, issued_on?, grounds?);
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::IssueDecision {
            inspection_id,
            occurred_at,
            decision_no: decision_no.clone(),
            issued_on,
            grounds: grounds.clone(),
        }
    }))
}

pub fn deliver_decision(r: proto::DeliverInspectionDecisionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let tenant_ids = uuids(
        f,
        "tenant_ids",
        &r.tenant_ids,
        (0, max_items::INSPECTED_TENANTS),
    );
    let delivered_on = f.check("delivered_on", fields::optional_date(&r.delivered_on));
    let recipient = f.check("recipient", optional_text(&r.recipient, max_chars::NAME));
    let (tenant_ids, delivered_on, recipient) = (tenant_ids?, delivered_on?, recipient?);
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::DeliverDecision {
            inspection_id,
            occurred_at,
            tenant_ids: tenant_ids.clone(),
            delivered_on,
            recipient: recipient.clone(),
        }
    }))
}

pub fn start(r: proto::StartInspectionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let started_on = f.check("started_on", fields::optional_date(&r.started_on));
    let started_on = started_on?;
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::Start {
            inspection_id,
            occurred_at,
            started_on,
        }
    }))
}

pub fn extend(r: proto::ExtendInspectionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let days = f.check("days", ExtensionDays::parse(r.days));
    let reason = f.check("reason", Text::note(&r.reason));
    let decision_no = f.check(
        "decision_no",
        optional_text(&r.decision_no, max_chars::NUMBER),
    );
    let event = InspectionExtended {
        days: days?.get(),
        reason: reason?,
        decision_no: decision_no?,
    };
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::Extend {
            inspection_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn record_finding(r: proto::RecordFindingRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let finding_id = finding_id(f, &r.finding_id);
    let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
    let requirement = f.check("requirement", Text::note(&r.requirement));
    let severity = f.check("severity", severity(r.severity));
    let description = f.check("description", Text::body(&r.description));
    let commitment_id = f.check(
        "commitment_id",
        fields::optional(&r.commitment_id, Text::code),
    );
    let event = FindingRecorded {
        finding_id: finding_id?,
        tenant_id: tenant_id?,
        requirement: requirement?,
        severity: severity?,
        description: description?,
        commitment_id: commitment_id?,
    };
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::RecordFinding {
            inspection_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn conclude(r: proto::ConcludeInspectionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let conclusion_no = f.check("conclusion_no", Text::number(&r.conclusion_no));
    let summary = f.check("summary", Text::body(&r.summary));
    let concluded_on = f.check("concluded_on", fields::optional_date(&r.concluded_on));
    let (conclusion_no, summary, concluded_on) = (conclusion_no?, summary?, concluded_on?);
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::Conclude {
            inspection_id,
            occurred_at,
            conclusion_no: conclusion_no.clone(),
            summary: summary.clone(),
            concluded_on,
        }
    }))
}

pub fn require_remediation(r: proto::RequireRemediationRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let finding_id = finding_id(f, &r.finding_id);
    let due_on = f.check("due_on", fields::date(&r.due_on));
    let action = f.check("action", Text::note(&r.action));
    let event = RemediationRequired {
        finding_id: finding_id?,
        due_on: due_on?,
        action: action?,
    };
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::RequireRemediation {
            inspection_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn verify_remediation(r: proto::VerifyRemediationRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let finding_id = finding_id(f, &r.finding_id);
    let note = f.check("note", optional_text(&r.note, max_chars::NOTE));
    let event = RemediationVerified {
        finding_id: finding_id?,
        note: note?,
    };
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::VerifyRemediation {
            inspection_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn refer_for_sanction(r: proto::ReferForSanctionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let finding_id = finding_id(f, &r.finding_id);
    let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
    let reason = f.check("reason", Text::note(&r.reason));
    let event = ReferredForSanction {
        finding_id: finding_id?,
        authority_id: authority_id?,
        reason: reason?,
    };
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::ReferForSanction {
            inspection_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn close(r: proto::CloseInspectionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = inspection_id(f, &r.inspection_id);
    let note = f.check("note", optional_text(&r.note, max_chars::NOTE));
    let event = InspectionClosed { note: note? };
    Some(Cmd::on(id?, move |inspection_id, occurred_at| {
        InspectionCommand::Close {
            inspection_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

fn status(s: InspectionStatus) -> proto::InspectionStatus {
    use proto::InspectionStatus as P;
    match s {
        InspectionStatus::NotPlanned => P::Unspecified,
        InspectionStatus::Planned => P::Planned,
        InspectionStatus::DecisionIssued => P::DecisionIssued,
        InspectionStatus::DecisionDelivered => P::DecisionDelivered,
        InspectionStatus::Started => P::Started,
        InspectionStatus::Concluded => P::Concluded,
        InspectionStatus::Closed => P::Closed,
    }
}

fn finding_to_proto(f: &Finding) -> proto::InspectionFinding {
    let r = &f.recorded;
    proto::InspectionFinding {
        finding: Some(proto::FindingRecorded {
            finding_id: r.finding_id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            requirement: r.requirement.to_string(),
            severity: severity_to_proto(r.severity),
            description: r.description.to_string(),
            commitment_id: r
                .commitment_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }),
        found_on: f.found_on.to_string(),
        remediation: f.remediation.as_ref().map(|m| proto::RemediationRequired {
            finding_id: m.finding_id.to_string(),
            due_on: m.due_on.to_string(),
            action: m.action.to_string(),
        }),
        verified_at: f.verified_at.map(fields::timestamp),
        referral: f.referral.as_ref().map(|s| proto::ReferredForSanction {
            finding_id: s.finding_id.to_string(),
            authority_id: s.authority_id.to_string(),
            reason: s.reason.to_string(),
        }),
    }
}

/// The inspection as the wire's answer.
pub fn inspection(id: Uuid, x: &Inspection, version: u64) -> proto::GetInspectionResponse {
    proto::GetInspectionResponse {
        inspection_id: id.to_string(),
        version,
        status: status(x.status()) as i32,
        plan: x.planned.as_ref().map(|p| proto::InspectionPlanned {
            park_id: p.park_id.to_string(),
            tenant_ids: uuid_strings(&p.tenant_ids),
            conducted_by: conductor_to_proto(p.conducted_by),
            kind: kind_to_proto(p.kind),
            planned_for: p.planned_for.to_string(),
            scope: p.scope.to_string(),
            incident_id: p.incident_id.map(|i| i.to_string()),
        }),
        planned_at: x.planned_at.map(fields::timestamp),
        decision: x
            .decision
            .as_ref()
            .map(|d| proto::InspectionDecisionIssued {
                decision_no: d.decision_no.to_string(),
                issued_on: d.issued_on.to_string(),
                grounds: d.grounds.as_ref().map(Text::to_string),
            }),
        delivery: x
            .deliveries
            .first()
            .map(|d| proto::InspectionDecisionDelivered {
                tenant_ids: x
                    .deliveries
                    .iter()
                    .filter(|o| o.delivered_on == d.delivered_on && o.recipient == d.recipient)
                    .map(|o| o.tenant_id.to_string())
                    .collect(),
                delivered_on: d.delivered_on.to_string(),
                recipient: d.recipient.as_ref().map(Text::to_string),
            }),
        deliveries: x
            .deliveries
            .iter()
            .map(|d| proto::TenantDelivery {
                tenant_id: d.tenant_id.to_string(),
                delivered_on: d.delivered_on.to_string(),
                recipient: d.recipient.as_ref().map(Text::to_string),
            })
            .collect(),
        start: x.started.as_ref().map(|s| proto::InspectionStarted {
            started_on: s.started_on.to_string(),
        }),
        extensions: x
            .extensions
            .iter()
            .map(|e| proto::InspectionExtended {
                days: e.days,
                reason: e.reason.to_string(),
                decision_no: e.decision_no.as_ref().map(Text::to_string),
            })
            .collect(),
        findings: x.findings.iter().map(finding_to_proto).collect(),
        conclusion: x.conclusion.as_ref().map(|c| proto::InspectionConcluded {
            conclusion_no: c.conclusion_no.to_string(),
            summary: c.summary.to_string(),
            concluded_on: c.concluded_on.to_string(),
        }),
        closed_at: x.closed_at.map(fields::timestamp),
    }
}
