//! The inspection service: plans, decisions and their delivery, start, extension, findings,
//! conclusion, remediation, referral for sanction and closing of inspections of tenant enterprises.

use kcn_domain::inspection::{
    Finding, FindingRecorded, FindingSeverity, Inspection, InspectionClosed, InspectionCommand,
    InspectionConcluded, InspectionConductor, InspectionDecisionDelivered,
    InspectionDecisionIssued, InspectionExtended, InspectionKind, InspectionPlanned,
    ReferredForSanction, RemediationRequired, RemediationVerified,
};
use kcn_domain::values::{Text, ValueError};
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::fields::{self, Fields, optional_text};
use crate::proto::{self, inspection_service_server::InspectionService};
use crate::wire_enum;
use crate::{Header, Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Inspections(pub Ledger);

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

/// A finding's identifier: a short code chosen by the caller.
fn finding_id(raw: &str) -> Result<Text, ValueError> {
    Text::parse(raw, 64)
}

fn finding_to_proto(f: &Finding) -> proto::InspectionFinding {
    let r = &f.recorded;
    proto::InspectionFinding {
        finding: Some(proto::FindingRecorded {
            finding_id: r.finding_id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            requirement: r.requirement.to_string(),
            severity: severity_to_proto(r.severity) as i32,
            description: r.description.to_string(),
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

impl Inspections {
    /// Runs a step on an existing inspection.
    async fn existing<F>(
        &self,
        id: Uuid,
        header: Header,
        build: F,
    ) -> Result<proto::CommandOutcome, Status>
    where
        F: Fn(Uuid) -> InspectionCommand + Send + Sync + 'static,
    {
        self.0
            .run::<Inspection, _>(Target::Existing(id), header, build)
            .await
    }
}

#[tonic::async_trait]
impl InspectionService for Inspections {
    async fn plan_inspection(
        &self,
        request: Request<proto::PlanInspectionRequest>,
    ) -> Result<Response<proto::PlanInspectionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        if r.tenant_ids.is_empty() {
            f.violation("tenant_ids", "at least one inspected tenant is required");
        }
        if r.tenant_ids.len() > 200 {
            f.violation("tenant_ids", "at most 200 tenants");
        }
        let tenant_ids: Vec<Option<Uuid>> = r
            .tenant_ids
            .iter()
            .enumerate()
            .map(|(i, t)| f.check(&format!("tenant_ids[{i}]"), fields::uuid(t)))
            .collect();
        let conducted_by = f.check("conducted_by", conductor(r.conducted_by));
        let kind = f.check("kind", kind(r.kind));
        let planned_for = f.check("planned_for", fields::date(&r.planned_for));
        let scope = f.check("scope", Text::parse(&r.scope, 2_000));
        let incident_id = f.check("incident_id", fields::optional_uuid(&r.incident_id));
        f.finish()?;
        take!(
            header,
            park_id,
            conducted_by,
            kind,
            planned_for,
            scope,
            incident_id
        );
        let occurred_at = header.occurred_at;
        let event = InspectionPlanned {
            park_id,
            tenant_ids: tenant_ids.into_iter().flatten().collect(),
            conducted_by,
            kind,
            planned_for,
            scope,
            incident_id,
        };
        let o = self
            .0
            .run::<Inspection, _>(Target::New, header, move |inspection_id| {
                InspectionCommand::Plan {
                    inspection_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::PlanInspectionResponse {
            outcome: Some(o),
        }))
    }

    async fn issue_inspection_decision(
        &self,
        request: Request<proto::IssueInspectionDecisionRequest>,
    ) -> Result<Response<proto::IssueInspectionDecisionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let decision_no = f.check("decision_no", Text::parse(&r.decision_no, 100));
        let issued_on = f.check("issued_on", fields::optional_date(&r.issued_on));
        let grounds = f.check("grounds", optional_text(&r.grounds, 2_000));
        f.finish()?;
        take!(header, id, decision_no, issued_on, grounds);
        let occurred_at = header.occurred_at;
        let o = self
            .existing(id, header, move |inspection_id| {
                InspectionCommand::IssueDecision {
                    inspection_id,
                    occurred_at,
                    decision_no: decision_no.clone(),
                    issued_on,
                    grounds: grounds.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::IssueInspectionDecisionResponse {
            outcome: Some(o),
        }))
    }

    async fn deliver_inspection_decision(
        &self,
        request: Request<proto::DeliverInspectionDecisionRequest>,
    ) -> Result<Response<proto::DeliverInspectionDecisionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let delivered_on = f.check("delivered_on", fields::optional_date(&r.delivered_on));
        let recipient = f.check("recipient", optional_text(&r.recipient, 300));
        f.finish()?;
        take!(header, id, delivered_on, recipient);
        let occurred_at = header.occurred_at;
        let o = self
            .existing(id, header, move |inspection_id| {
                InspectionCommand::DeliverDecision {
                    inspection_id,
                    occurred_at,
                    delivered_on,
                    recipient: recipient.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::DeliverInspectionDecisionResponse {
            outcome: Some(o),
        }))
    }

    async fn start_inspection(
        &self,
        request: Request<proto::StartInspectionRequest>,
    ) -> Result<Response<proto::StartInspectionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let started_on = f.check("started_on", fields::optional_date(&r.started_on));
        f.finish()?;
        take!(header, id, started_on);
        let occurred_at = header.occurred_at;
        let o = self
            .existing(id, header, move |inspection_id| InspectionCommand::Start {
                inspection_id,
                occurred_at,
                started_on,
            })
            .await?;
        Ok(Response::new(proto::StartInspectionResponse {
            outcome: Some(o),
        }))
    }

    async fn extend_inspection(
        &self,
        request: Request<proto::ExtendInspectionRequest>,
    ) -> Result<Response<proto::ExtendInspectionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        if !(1..=366).contains(&r.days) {
            f.violation("days", "must be from 1 to 366");
        }
        let reason = f.check("reason", Text::parse(&r.reason, 2_000));
        let decision_no = f.check("decision_no", optional_text(&r.decision_no, 100));
        f.finish()?;
        take!(header, id, reason, decision_no);
        let occurred_at = header.occurred_at;
        let event = InspectionExtended {
            days: r.days,
            reason,
            decision_no,
        };
        let o = self
            .existing(id, header, move |inspection_id| InspectionCommand::Extend {
                inspection_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(Response::new(proto::ExtendInspectionResponse {
            outcome: Some(o),
        }))
    }

    async fn record_finding(
        &self,
        request: Request<proto::RecordFindingRequest>,
    ) -> Result<Response<proto::RecordFindingResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let finding_id = f.check("finding_id", finding_id(&r.finding_id));
        let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
        let requirement = f.check("requirement", Text::parse(&r.requirement, 2_000));
        let severity = f.check("severity", severity(r.severity));
        let description = f.check("description", Text::body(&r.description));
        f.finish()?;
        take!(
            header,
            id,
            finding_id,
            tenant_id,
            requirement,
            severity,
            description
        );
        let occurred_at = header.occurred_at;
        let event = FindingRecorded {
            finding_id,
            tenant_id,
            requirement,
            severity,
            description,
        };
        let o = self
            .existing(id, header, move |inspection_id| {
                InspectionCommand::RecordFinding {
                    inspection_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::RecordFindingResponse {
            outcome: Some(o),
        }))
    }

    async fn conclude_inspection(
        &self,
        request: Request<proto::ConcludeInspectionRequest>,
    ) -> Result<Response<proto::ConcludeInspectionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let conclusion_no = f.check("conclusion_no", Text::parse(&r.conclusion_no, 100));
        let summary = f.check("summary", Text::body(&r.summary));
        let concluded_on = f.check("concluded_on", fields::optional_date(&r.concluded_on));
        f.finish()?;
        take!(header, id, conclusion_no, summary, concluded_on);
        let occurred_at = header.occurred_at;
        let o = self
            .existing(id, header, move |inspection_id| {
                InspectionCommand::Conclude {
                    inspection_id,
                    occurred_at,
                    conclusion_no: conclusion_no.clone(),
                    summary: summary.clone(),
                    concluded_on,
                }
            })
            .await?;
        Ok(Response::new(proto::ConcludeInspectionResponse {
            outcome: Some(o),
        }))
    }

    async fn require_remediation(
        &self,
        request: Request<proto::RequireRemediationRequest>,
    ) -> Result<Response<proto::RequireRemediationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let finding_id = f.check("finding_id", finding_id(&r.finding_id));
        let due_on = f.check("due_on", fields::date(&r.due_on));
        let action = f.check("action", Text::parse(&r.action, 2_000));
        f.finish()?;
        take!(header, id, finding_id, due_on, action);
        let occurred_at = header.occurred_at;
        let event = RemediationRequired {
            finding_id,
            due_on,
            action,
        };
        let o = self
            .existing(id, header, move |inspection_id| {
                InspectionCommand::RequireRemediation {
                    inspection_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::RequireRemediationResponse {
            outcome: Some(o),
        }))
    }

    async fn verify_remediation(
        &self,
        request: Request<proto::VerifyRemediationRequest>,
    ) -> Result<Response<proto::VerifyRemediationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let finding_id = f.check("finding_id", finding_id(&r.finding_id));
        let note = f.check("note", optional_text(&r.note, 2_000));
        f.finish()?;
        take!(header, id, finding_id, note);
        let occurred_at = header.occurred_at;
        let event = RemediationVerified { finding_id, note };
        let o = self
            .existing(id, header, move |inspection_id| {
                InspectionCommand::VerifyRemediation {
                    inspection_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::VerifyRemediationResponse {
            outcome: Some(o),
        }))
    }

    async fn refer_for_sanction(
        &self,
        request: Request<proto::ReferForSanctionRequest>,
    ) -> Result<Response<proto::ReferForSanctionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let finding_id = f.check("finding_id", finding_id(&r.finding_id));
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        let reason = f.check("reason", Text::parse(&r.reason, 2_000));
        f.finish()?;
        take!(header, id, finding_id, authority_id, reason);
        let occurred_at = header.occurred_at;
        let event = ReferredForSanction {
            finding_id,
            authority_id,
            reason,
        };
        let o = self
            .existing(id, header, move |inspection_id| {
                InspectionCommand::ReferForSanction {
                    inspection_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::ReferForSanctionResponse {
            outcome: Some(o),
        }))
    }

    async fn close_inspection(
        &self,
        request: Request<proto::CloseInspectionRequest>,
    ) -> Result<Response<proto::CloseInspectionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) =
            self.0
                .step(&mut f, "inspection_id", r.header.as_ref(), &r.inspection_id);
        let note = f.check("note", optional_text(&r.note, 2_000));
        f.finish()?;
        take!(header, id, note);
        let occurred_at = header.occurred_at;
        let event = InspectionClosed { note };
        let o = self
            .existing(id, header, move |inspection_id| InspectionCommand::Close {
                inspection_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(Response::new(proto::CloseInspectionResponse {
            outcome: Some(o),
        }))
    }

    async fn get_inspection(
        &self,
        request: Request<proto::GetInspectionRequest>,
    ) -> Result<Response<proto::GetInspectionResponse>, Status> {
        let r = request.into_inner();
        let (id, x, version) = self
            .0
            .get::<Inspection>("inspection_id", &r.inspection_id)
            .await?;
        use proto::InspectionStatus as S;
        let status = if x.closed_at.is_some() {
            S::Closed
        } else if x.conclusion.is_some() {
            S::Concluded
        } else if x.started.is_some() {
            S::Started
        } else if x.delivery.is_some() {
            S::DecisionDelivered
        } else if x.decision.is_some() {
            S::DecisionIssued
        } else if x.planned.is_some() {
            S::Planned
        } else {
            S::Unspecified
        };
        Ok(Response::new(proto::GetInspectionResponse {
            inspection_id: id.to_string(),
            version,
            status: status as i32,
            plan: x.planned.as_ref().map(|p| proto::InspectionPlanned {
                park_id: p.park_id.to_string(),
                tenant_ids: p.tenant_ids.iter().map(Uuid::to_string).collect(),
                conducted_by: conductor_to_proto(p.conducted_by) as i32,
                kind: kind_to_proto(p.kind) as i32,
                planned_for: p.planned_for.to_string(),
                scope: p.scope.to_string(),
                incident_id: p.incident_id.map(|i| i.to_string()),
            }),
            planned_at: x.planned_at.map(fields::timestamp),
            decision: x.decision.as_ref().map(|d: &InspectionDecisionIssued| {
                proto::InspectionDecisionIssued {
                    decision_no: d.decision_no.to_string(),
                    issued_on: d.issued_on.to_string(),
                    grounds: d.grounds.as_ref().map(Text::to_string),
                }
            }),
            delivery: x.delivery.as_ref().map(|d: &InspectionDecisionDelivered| {
                proto::InspectionDecisionDelivered {
                    delivered_on: d.delivered_on.to_string(),
                    recipient: d.recipient.as_ref().map(Text::to_string),
                }
            }),
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
            conclusion: x.conclusion.as_ref().map(|c: &InspectionConcluded| {
                proto::InspectionConcluded {
                    conclusion_no: c.conclusion_no.to_string(),
                    summary: c.summary.to_string(),
                    concluded_on: c.concluded_on.to_string(),
                }
            }),
            closed_at: x.closed_at.map(fields::timestamp),
        }))
    }
}
