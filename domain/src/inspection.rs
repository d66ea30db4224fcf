//! The Inspection aggregate: a check of tenant enterprises' environmental commitments in a park, by the
//! Board, the infrastructure company or both, from its plan and decision to findings, remediation,
//! referral for sanction and closing.
//!
//! The statutory limits (decision delivered within 5 days, at most 7 or 30 days extended once by at
//! most 7 or 15) are judged in [`LedgerAggregate::judge`] and never refuse a command: an auditor must be
//! able to find a late delivery or an overlong inspection in the record.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::deps::{Breach, LegalRules};
use crate::event::{
    AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_day, not_before_its,
};
use crate::limits;
use crate::time::local_date;
use crate::values::Text;
use crate::{Deps, DomainError, events};

/// Who conducts an inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InspectionConductor {
    #[serde(rename = "INSPECTION_CONDUCTOR_BOARD")]
    Board,
    #[serde(rename = "INSPECTION_CONDUCTOR_COMPANY")]
    Company,
    #[serde(rename = "INSPECTION_CONDUCTOR_JOINT")]
    Joint,
}

/// How an inspection comes about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InspectionKind {
    /// In the annual plan, announced by a delivered decision.
    #[serde(rename = "INSPECTION_KIND_PLANNED")]
    Planned,
    /// Without notice, on grounds that the decision must record.
    #[serde(rename = "INSPECTION_KIND_UNANNOUNCED")]
    Unannounced,
    /// A post-check (hậu kiểm) of what an enterprise declared or was granted.
    #[serde(rename = "INSPECTION_KIND_POST_CHECK")]
    PostCheck,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FindingSeverity {
    #[serde(rename = "FINDING_SEVERITY_MINOR")]
    Minor,
    #[serde(rename = "FINDING_SEVERITY_MAJOR")]
    Major,
    #[serde(rename = "FINDING_SEVERITY_CRITICAL")]
    Critical,
}

/// `InspectionPlanned`: an inspection of one or more tenants of a park is planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionPlanned {
    pub park_id: Uuid,
    /// The inspected enterprises; one of them makes a one-entity inspection, with its shorter limits.
    pub tenant_ids: Vec<Uuid>,
    pub conducted_by: InspectionConductor,
    pub kind: InspectionKind,
    /// The local date the inspection is planned for.
    pub planned_for: NaiveDate,
    /// What is checked, in words.
    pub scope: Text,
    /// The incident that prompted the inspection, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<Uuid>,
}
impl EventPayload for InspectionPlanned {}

/// `InspectionDecisionIssued`: the decision to inspect, with its grounds (required when unannounced).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionDecisionIssued {
    pub decision_no: Text,
    /// The local date of the event's `occurred_at`.
    pub issued_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounds: Option<Text>,
}
impl EventPayload for InspectionDecisionIssued {}

/// `InspectionDecisionDelivered`: the decision reached inspected entities.
///
/// Each tenant of a several-entity inspection has its own delivery, judged on its own against the
/// 5-day limit. Version 2 names the tenants it reached; version 1 named none and reached every
/// inspected tenant, which is how an empty list is read (upcasting adds nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionDecisionDelivered {
    /// The inspected tenants it reached, none of them reached before; empty only in version 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenant_ids: Vec<Uuid>,
    /// The local date of the event's `occurred_at`.
    pub delivered_on: NaiveDate,
    /// Who received it, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Text>,
}

impl EventPayload for InspectionDecisionDelivered {
    const SCHEMA_VERSION: u32 = 2;
}

/// The decision's delivery to one inspected tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantDelivery {
    pub tenant_id: Uuid,
    pub delivered_on: NaiveDate,
    pub recipient: Option<Text>,
}

/// `InspectionStarted`: the inspection team began work on site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionStarted {
    /// The local date of the event's `occurred_at`; the duration counts from it.
    pub started_on: NaiveDate,
}
impl EventPayload for InspectionStarted {}

/// `InspectionExtended`: the inspection is extended by `days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionExtended {
    pub days: u32,
    pub reason: Text,
    /// The number of the extension decision, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_no: Option<Text>,
}
impl EventPayload for InspectionExtended {}

/// `FindingRecorded`: a requirement an inspected tenant did not meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRecorded {
    /// The caller's identifier for the finding, unique within the inspection (`F-1`).
    pub finding_id: Text,
    pub tenant_id: Uuid,
    /// The commitment, permit condition or technical standard concerned.
    pub requirement: Text,
    pub severity: FindingSeverity,
    /// What the team observed.
    pub description: Text,
    /// The tenant's environmental commitment the finding breaches, when it breaches one
    /// (`EnvironmentalCommitmentRecorded.commitment_id`), so "which commitments were violated" has
    /// an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment_id: Option<Text>,
}
impl EventPayload for FindingRecorded {}

/// `InspectionConcluded`: the inspection's conclusion is issued; no more findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionConcluded {
    pub conclusion_no: Text,
    pub summary: Text,
    /// The local date of the event's `occurred_at`; the duration counts up to it.
    pub concluded_on: NaiveDate,
}
impl EventPayload for InspectionConcluded {}

/// `RemediationRequired`: the tenant must remedy a finding by `due_on`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediationRequired {
    pub finding_id: Text,
    pub due_on: NaiveDate,
    /// What must be done.
    pub action: Text,
}
impl EventPayload for RemediationRequired {}

/// `RemediationVerified`: the remediation of a finding was checked and found done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediationVerified {
    pub finding_id: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}
impl EventPayload for RemediationVerified {}

/// `ReferredForSanction`: a finding is handed to an authority competent to sanction it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferredForSanction {
    pub finding_id: Text,
    pub authority_id: Uuid,
    pub reason: Text,
}
impl EventPayload for ReferredForSanction {}

/// `InspectionClosed`: the file is closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionClosed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}
impl EventPayload for InspectionClosed {}

events!(
    /// Events of an inspection.
    InspectionEvent {
        InspectionPlanned,
        InspectionDecisionIssued,
        InspectionDecisionDelivered,
        InspectionStarted,
        InspectionExtended,
        FindingRecorded,
        InspectionConcluded,
        RemediationRequired,
        RemediationVerified,
        ReferredForSanction,
        InspectionClosed,
    }
);

/// Commands on an inspection. A date naming the act itself (`issued_on`, `delivered_on`,
/// `started_on`, `concluded_on`) may be left out; when given it must be the local date of
/// `occurred_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InspectionCommand {
    Plan {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: InspectionPlanned,
    },
    IssueDecision {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        decision_no: Text,
        issued_on: Option<NaiveDate>,
        grounds: Option<Text>,
    },
    /// Delivers the decision to `tenant_ids`, or when empty to every inspected tenant not yet
    /// reached.
    DeliverDecision {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        tenant_ids: Vec<Uuid>,
        delivered_on: Option<NaiveDate>,
        recipient: Option<Text>,
    },
    Start {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        started_on: Option<NaiveDate>,
    },
    Extend {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: InspectionExtended,
    },
    RecordFinding {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: FindingRecorded,
    },
    Conclude {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        conclusion_no: Text,
        summary: Text,
        concluded_on: Option<NaiveDate>,
    },
    RequireRemediation {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: RemediationRequired,
    },
    VerifyRemediation {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: RemediationVerified,
    },
    ReferForSanction {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ReferredForSanction,
    },
    Close {
        inspection_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: InspectionClosed,
    },
}

/// A finding with what followed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub recorded: FindingRecorded,
    /// The local date the finding was recorded.
    pub found_on: NaiveDate,
    pub remediation: Option<RemediationRequired>,
    pub verified_at: Option<DateTime<Utc>>,
    pub referral: Option<ReferredForSanction>,
}

impl Finding {
    /// A required remediation that is neither verified nor overtaken by a referral for sanction.
    pub fn remediation_open(&self) -> bool {
        self.remediation.is_some() && self.verified_at.is_none() && self.referral.is_none()
    }
}

/// An inspection's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Inspection {
    pub planned: Option<InspectionPlanned>,
    pub planned_at: Option<DateTime<Utc>>,
    pub decision: Option<InspectionDecisionIssued>,
    /// The decision's delivery to each inspected tenant reached so far, in the order delivered.
    pub deliveries: Vec<TenantDelivery>,
    pub started: Option<InspectionStarted>,
    pub extensions: Vec<InspectionExtended>,
    pub findings: Vec<Finding>,
    pub conclusion: Option<InspectionConcluded>,
    pub closed_at: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
}

/// How far an inspection has come: the ladder from plan to closing, each rung reached once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectionStatus {
    /// No inspection was planned under this id.
    NotPlanned,
    Planned,
    DecisionIssued,
    DecisionDelivered,
    Started,
    Concluded,
    Closed,
}

impl Inspection {
    /// The decision's delivery to `tenant_id`, once recorded.
    pub fn delivery_to(&self, tenant_id: Uuid) -> Option<&TenantDelivery> {
        self.deliveries.iter().find(|d| d.tenant_id == tenant_id)
    }

    /// Whether the decision has reached every inspected tenant.
    pub fn delivered_to_all(&self) -> bool {
        self.planned
            .as_ref()
            .is_some_and(|p| p.tenant_ids.iter().all(|t| self.delivery_to(*t).is_some()))
    }

    /// The highest rung the inspection has reached: `DecisionDelivered` once the decision has
    /// reached every inspected tenant.
    pub fn status(&self) -> InspectionStatus {
        if self.closed_at.is_some() {
            InspectionStatus::Closed
        } else if self.conclusion.is_some() {
            InspectionStatus::Concluded
        } else if self.started.is_some() {
            InspectionStatus::Started
        } else if self.delivered_to_all() {
            InspectionStatus::DecisionDelivered
        } else if self.decision.is_some() {
            InspectionStatus::DecisionIssued
        } else if self.planned.is_some() {
            InspectionStatus::Planned
        } else {
            InspectionStatus::NotPlanned
        }
    }
}

/// The date of the act itself: the local date of `occurred_at`, which a given date must equal.
fn act_date(
    field: &'static str,
    given: Option<NaiveDate>,
    occurred_at: DateTime<Utc>,
) -> Result<NaiveDate, DomainError> {
    let local = local_date(occurred_at);
    match given {
        Some(d) if d != local => Err(DomainError::invalid(
            field,
            format!("must be the local date of occurred_at ({local}) or left empty"),
        )),
        _ => Ok(local),
    }
}

impl Inspection {
    /// The duration limits that apply: one entity or several.
    pub fn limits(&self, rules: &LegalRules) -> limits::InspectionLimits {
        let entities = self.planned.as_ref().map_or(1, |p| p.tenant_ids.len());
        limits::InspectionLimits::for_entities(rules, entities)
    }

    /// How many extension days count towards the limit.
    pub fn counted_extension_days(&self, rules: &LegalRules) -> u32 {
        let days: Vec<u32> = self.extensions.iter().map(|e| e.days).collect();
        limits::extensions(self.limits(rules), &days).counted_total
    }

    fn finding(&self, finding_id: &Text) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| &f.recorded.finding_id == finding_id)
    }

    fn finding_mut(&mut self, finding_id: &Text) -> Option<&mut Finding> {
        self.findings
            .iter_mut()
            .find(|f| &f.recorded.finding_id == finding_id)
    }

    /// Refuses a step on an inspection that was never planned.
    fn require_planned(&self, id: Uuid) -> Result<&InspectionPlanned, DomainError> {
        self.planned.as_ref().ok_or(DomainError::NotFound {
            kind: AggregateKind::Inspection,
            id,
        })
    }

    /// Refuses a step on an inspection never planned, or already closed, or dated before the plan.
    /// Each step is bounded only by the step it follows of necessity (a delivery by the decision, a
    /// finding by the start, the closing by the conclusion), never by whatever was recorded last.
    fn require_open(
        &self,
        id: Uuid,
        occurred_at: DateTime<Utc>,
        step: &str,
    ) -> Result<&InspectionPlanned, DomainError> {
        let planned = self.require_planned(id)?;
        if self.closed_at.is_some() {
            return Err(DomainError::rule(
                "inspection_closed",
                format!("the inspection is closed; {step} is no longer possible"),
            ));
        }
        not_before_its(self.planned_at, occurred_at, step, "the plan")?;
        Ok(planned)
    }

    /// Refuses a step of the inspection's work dated before its start.
    fn not_before_start(&self, occurred_at: DateTime<Utc>, step: &str) -> Result<(), DomainError> {
        not_before_day(
            self.started.as_ref().map(|s| s.started_on),
            local_date(occurred_at),
            step,
            "the start",
        )
    }

    /// Refuses a step that needs the inspection under way: started and not yet concluded.
    fn require_under_way(&self, step: &str) -> Result<(), DomainError> {
        if self.started.is_none() {
            return Err(DomainError::rule(
                "inspection_not_started",
                format!("the inspection has not started; {step} must wait for it"),
            ));
        }
        if self.conclusion.is_some() {
            return Err(DomainError::rule(
                "inspection_concluded",
                format!("the inspection is concluded; {step} is no longer possible"),
            ));
        }
        Ok(())
    }

    /// The tenants a delivery reaches: those named, each inspected and not yet reached, or when none
    /// is named every inspected tenant not yet reached.
    fn delivery_targets(
        &self,
        planned: &InspectionPlanned,
        named: Vec<Uuid>,
    ) -> Result<Vec<Uuid>, DomainError> {
        if named.is_empty() {
            let open: Vec<Uuid> = planned
                .tenant_ids
                .iter()
                .copied()
                .filter(|t| self.delivery_to(*t).is_none())
                .collect();
            if open.is_empty() {
                return Err(DomainError::rule(
                    "decision_already_delivered",
                    "the inspection decision is already delivered to every inspected tenant",
                ));
            }
            return Ok(open);
        }
        let mut seen = std::collections::HashSet::new();
        if !named.iter().all(|t| seen.insert(*t)) {
            return Err(DomainError::invalid(
                "tenant_ids",
                "names the same tenant twice",
            ));
        }
        for tenant_id in &named {
            if !planned.tenant_ids.contains(tenant_id) {
                return Err(DomainError::rule(
                    "delivery_tenant_not_inspected",
                    format!("tenant {tenant_id} is not among the inspected tenants"),
                ));
            }
            if let Some(d) = self.delivery_to(*tenant_id) {
                return Err(DomainError::rule(
                    "decision_already_delivered",
                    format!(
                        "the inspection decision was already delivered to tenant {tenant_id} on {}",
                        d.delivered_on
                    ),
                ));
            }
        }
        Ok(named)
    }

    /// Refuses a step on a finding that was never recorded.
    fn require_finding(&self, finding_id: &Text) -> Result<&Finding, DomainError> {
        self.finding(finding_id).ok_or_else(|| {
            DomainError::rule(
                "finding_not_recorded",
                format!("no finding {finding_id} is recorded on this inspection"),
            )
        })
    }
}

impl Aggregate for Inspection {
    const TYPE: &'static str = "Inspection";
    type Command = InspectionCommand;
    type Event = Timed<InspectionEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: InspectionCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (occurred_at, body): (_, InspectionEvent) = match command {
            InspectionCommand::Plan {
                inspection_id,
                occurred_at,
                event,
            } => {
                if self.planned.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::Inspection,
                        id: inspection_id,
                    });
                }
                if event.tenant_ids.is_empty() {
                    return Err(DomainError::invalid(
                        "tenant_ids",
                        "at least one inspected tenant is required",
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                if !event.tenant_ids.iter().all(|t| seen.insert(*t)) {
                    return Err(DomainError::invalid(
                        "tenant_ids",
                        "names the same tenant twice",
                    ));
                }
                deps.require("park_id", AggregateKind::Park, event.park_id)
                    .await?;
                for tenant_id in &event.tenant_ids {
                    deps.require("tenant_ids", AggregateKind::Tenant, *tenant_id)
                        .await?;
                }
                if let Some(incident_id) = event.incident_id {
                    deps.require("incident_id", AggregateKind::Incident, incident_id)
                        .await?;
                }
                (occurred_at, event.into())
            }
            InspectionCommand::IssueDecision {
                inspection_id,
                occurred_at,
                decision_no,
                issued_on,
                grounds,
            } => {
                let planned = self.require_open(inspection_id, occurred_at, "a decision")?;
                let issued_on = act_date("issued_on", issued_on, occurred_at)?;
                if self.decision.is_some() {
                    return Err(DomainError::rule(
                        "decision_already_issued",
                        "the inspection decision is already issued",
                    ));
                }
                if planned.kind == InspectionKind::Unannounced && grounds.is_none() {
                    return Err(DomainError::rule(
                        "unannounced_without_grounds",
                        "an unannounced inspection's decision must record its grounds",
                    ));
                }
                let event = InspectionDecisionIssued {
                    decision_no,
                    issued_on,
                    grounds,
                };
                (occurred_at, event.into())
            }
            InspectionCommand::DeliverDecision {
                inspection_id,
                occurred_at,
                tenant_ids,
                delivered_on,
                recipient,
            } => {
                let planned = self.require_open(inspection_id, occurred_at, "a delivery")?;
                let delivered_on = act_date("delivered_on", delivered_on, occurred_at)?;
                if self.decision.is_none() {
                    return Err(DomainError::rule(
                        "decision_not_issued",
                        "no decision has been issued, so none can be delivered",
                    ));
                }
                let tenant_ids = self.delivery_targets(planned, tenant_ids)?;
                not_before_day(
                    self.decision.as_ref().map(|d| d.issued_on),
                    delivered_on,
                    "a delivery",
                    "the decision's issue",
                )?;
                let event = InspectionDecisionDelivered {
                    tenant_ids,
                    delivered_on,
                    recipient,
                };
                (occurred_at, event.into())
            }
            InspectionCommand::Start {
                inspection_id,
                occurred_at,
                started_on,
            } => {
                self.require_open(inspection_id, occurred_at, "the start")?;
                let started_on = act_date("started_on", started_on, occurred_at)?;
                if self.started.is_some() {
                    return Err(DomainError::rule(
                        "inspection_already_started",
                        "the inspection has already started",
                    ));
                }
                if self.decision.is_none() {
                    return Err(DomainError::rule(
                        "decision_not_issued",
                        "an inspection starts only under an issued decision",
                    ));
                }
                not_before_day(
                    self.decision.as_ref().map(|d| d.issued_on),
                    started_on,
                    "the start",
                    "the decision's issue",
                )?;
                // An announced inspection that starts before its decision reaches the inspected
                // entity is recorded, and judged (`inspection_started_before_delivery`).
                (occurred_at, InspectionStarted { started_on }.into())
            }
            InspectionCommand::Extend {
                inspection_id,
                occurred_at,
                event,
            } => {
                self.require_open(inspection_id, occurred_at, "an extension")?;
                if event.days == 0 {
                    return Err(DomainError::invalid("days", "must be at least 1"));
                }
                self.require_under_way("an extension")?;
                self.not_before_start(occurred_at, "an extension")?;
                (occurred_at, event.into())
            }
            InspectionCommand::RecordFinding {
                inspection_id,
                occurred_at,
                event,
            } => {
                // A closed inspection is concluded too: a late finding is named for that.
                self.require_planned(inspection_id)?;
                if self.conclusion.is_some() {
                    return Err(DomainError::rule(
                        "inspection_concluded",
                        "the inspection is concluded; a finding can no longer be recorded",
                    ));
                }
                let planned = self.require_open(inspection_id, occurred_at, "a finding")?;
                if !planned.tenant_ids.contains(&event.tenant_id) {
                    return Err(DomainError::rule(
                        "finding_tenant_not_inspected",
                        format!(
                            "tenant {} is not among the inspected tenants",
                            event.tenant_id
                        ),
                    ));
                }
                self.require_under_way("a finding")?;
                self.not_before_start(occurred_at, "a finding")?;
                if let Some(commitment) = &event.commitment_id {
                    deps.require_commitment(event.tenant_id, commitment.as_str())
                        .await?;
                }
                if self.finding(&event.finding_id).is_some() {
                    return Err(DomainError::rule(
                        "finding_already_recorded",
                        format!("finding {} is already recorded", event.finding_id),
                    ));
                }
                (occurred_at, event.into())
            }
            InspectionCommand::Conclude {
                inspection_id,
                occurred_at,
                conclusion_no,
                summary,
                concluded_on,
            } => {
                self.require_open(inspection_id, occurred_at, "a conclusion")?;
                let concluded_on = act_date("concluded_on", concluded_on, occurred_at)?;
                self.require_under_way("a conclusion")?;
                not_before_day(
                    self.started.as_ref().map(|s| s.started_on),
                    concluded_on,
                    "the conclusion",
                    "the start",
                )?;
                let event = InspectionConcluded {
                    conclusion_no,
                    summary,
                    concluded_on,
                };
                (occurred_at, event.into())
            }
            InspectionCommand::RequireRemediation {
                inspection_id,
                occurred_at,
                event,
            } => {
                self.require_open(inspection_id, occurred_at, "a remediation")?;
                let finding = self.require_finding(&event.finding_id)?;
                not_before_day(
                    Some(finding.found_on),
                    local_date(occurred_at),
                    "a remediation",
                    "the finding",
                )?;
                if event.due_on <= finding.found_on {
                    return Err(DomainError::rule(
                        "remediation_due_not_after_finding",
                        format!(
                            "a remediation due on {} must fall after the finding's date, {}",
                            event.due_on, finding.found_on
                        ),
                    ));
                }
                if finding.remediation.is_some() {
                    return Err(DomainError::rule(
                        "remediation_already_required",
                        format!(
                            "a remediation is already required for finding {}",
                            event.finding_id
                        ),
                    ));
                }
                (occurred_at, event.into())
            }
            InspectionCommand::VerifyRemediation {
                inspection_id,
                occurred_at,
                event,
            } => {
                self.require_open(inspection_id, occurred_at, "a verification")?;
                let finding = self.require_finding(&event.finding_id)?;
                not_before_day(
                    Some(finding.found_on),
                    local_date(occurred_at),
                    "a verification",
                    "the finding",
                )?;
                if finding.remediation.is_none() {
                    return Err(DomainError::rule(
                        "remediation_not_required",
                        format!(
                            "no remediation was required for finding {}, so there is nothing to verify",
                            event.finding_id
                        ),
                    ));
                }
                if finding.verified_at.is_some() {
                    return Err(DomainError::rule(
                        "remediation_already_verified",
                        format!(
                            "the remediation of finding {} is already verified",
                            event.finding_id
                        ),
                    ));
                }
                (occurred_at, event.into())
            }
            InspectionCommand::ReferForSanction {
                inspection_id,
                occurred_at,
                event,
            } => {
                self.require_open(inspection_id, occurred_at, "a referral")?;
                let finding = self.require_finding(&event.finding_id)?;
                not_before_day(
                    Some(finding.found_on),
                    local_date(occurred_at),
                    "a referral",
                    "the finding",
                )?;
                if finding.referral.is_some() {
                    return Err(DomainError::rule(
                        "finding_already_referred",
                        format!(
                            "finding {} is already referred for sanction",
                            event.finding_id
                        ),
                    ));
                }
                deps.require_in_office(
                    "authority_id",
                    event.authority_id,
                    local_date(occurred_at),
                    "a finding referred to it for sanction",
                )
                .await?;
                (occurred_at, event.into())
            }
            InspectionCommand::Close {
                inspection_id,
                occurred_at,
                event,
            } => {
                self.require_open(inspection_id, occurred_at, "closing")?;
                if self.conclusion.is_none() {
                    return Err(DomainError::rule(
                        "inspection_not_concluded",
                        "an inspection is closed only after its conclusion",
                    ));
                }
                not_before_day(
                    self.conclusion.as_ref().map(|c| c.concluded_on),
                    local_date(occurred_at),
                    "closing",
                    "the conclusion",
                )?;
                let open: Vec<&str> = self
                    .findings
                    .iter()
                    .filter(|f| f.remediation_open())
                    .map(|f| f.recorded.finding_id.as_str())
                    .collect();
                if !open.is_empty() {
                    return Err(DomainError::rule(
                        "remediation_unverified",
                        format!(
                            "the remediation of finding(s) {} is neither verified nor referred for sanction",
                            open.join(", ")
                        ),
                    ));
                }
                (occurred_at, event.into())
            }
        };
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<InspectionEvent>) {
        let at = event.occurred_at;
        self.latest = self.latest.max(Some(at));
        match event.body {
            InspectionEvent::InspectionPlanned(e) => {
                self.planned = Some(e);
                self.planned_at = Some(at);
            }
            InspectionEvent::InspectionDecisionIssued(e) => self.decision = Some(e),
            InspectionEvent::InspectionDecisionDelivered(e) => {
                // Version 1 named no tenant and reached every inspected one.
                let reached = if e.tenant_ids.is_empty() {
                    self.planned
                        .as_ref()
                        .map(|p| p.tenant_ids.clone())
                        .unwrap_or_default()
                } else {
                    e.tenant_ids
                };
                for tenant_id in reached {
                    if self.delivery_to(tenant_id).is_none() {
                        self.deliveries.push(TenantDelivery {
                            tenant_id,
                            delivered_on: e.delivered_on,
                            recipient: e.recipient.clone(),
                        });
                    }
                }
            }
            InspectionEvent::InspectionStarted(e) => self.started = Some(e),
            InspectionEvent::InspectionExtended(e) => self.extensions.push(e),
            InspectionEvent::FindingRecorded(e) => self.findings.push(Finding {
                recorded: e,
                found_on: local_date(at),
                remediation: None,
                verified_at: None,
                referral: None,
            }),
            InspectionEvent::InspectionConcluded(e) => self.conclusion = Some(e),
            InspectionEvent::RemediationRequired(e) => {
                if let Some(f) = self.finding_mut(&e.finding_id) {
                    f.remediation = Some(e);
                }
            }
            InspectionEvent::RemediationVerified(e) => {
                if let Some(f) = self.finding_mut(&e.finding_id) {
                    f.verified_at = Some(at);
                }
            }
            InspectionEvent::ReferredForSanction(e) => {
                if let Some(f) = self.finding_mut(&e.finding_id) {
                    f.referral = Some(e);
                }
            }
            InspectionEvent::InspectionClosed(_) => self.closed_at = Some(at),
        }
    }
}

impl LedgerAggregate for Inspection {
    type Body = InspectionEvent;
    const KIND: AggregateKind = AggregateKind::Inspection;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        self.planned.as_ref().map(|p| p.park_id)
    }

    fn judge(&self, new: &[Timed<InspectionEvent>], rules: &LegalRules) -> Vec<Breach> {
        let unannounced = self
            .planned
            .as_ref()
            .is_some_and(|p| p.kind == InspectionKind::Unannounced);
        let mut breaches = Vec::new();
        for e in new {
            match &e.body {
                InspectionEvent::InspectionDecisionDelivered(d) => {
                    if let Some(decision) = &self.decision {
                        let delivery = limits::decision_delivery(
                            rules,
                            unannounced,
                            decision.issued_on,
                            Some(d.delivered_on),
                            None,
                        );
                        breaches.extend(delivery.breach);
                    }
                    if let Some(started) = &self.started {
                        breaches.extend(limits::started_before_delivery(
                            !unannounced,
                            started.started_on,
                            d.delivered_on,
                        ));
                    }
                }
                InspectionEvent::InspectionStarted(s) => {
                    // One breach per delivery date later than the start (tenants reached the same
                    // day share it).
                    let mut later: Vec<NaiveDate> =
                        self.deliveries.iter().map(|d| d.delivered_on).collect();
                    later.sort();
                    later.dedup();
                    for delivered_on in later {
                        breaches.extend(limits::started_before_delivery(
                            !unannounced,
                            s.started_on,
                            delivered_on,
                        ));
                    }
                }
                InspectionEvent::InspectionExtended(x) => {
                    breaches.extend(limits::extension_breach(
                        self.limits(rules),
                        self.extensions.len(),
                        x.days,
                        local_date(e.occurred_at),
                    ));
                }
                InspectionEvent::InspectionConcluded(c) => {
                    if let Some(started) = &self.started {
                        let duration = limits::inspection_duration(
                            rules,
                            self.limits(rules),
                            self.counted_extension_days(rules),
                            started.started_on,
                            Some(c.concluded_on),
                            None,
                        );
                        breaches.extend(duration.breach);
                    }
                }
                _ => {}
            }
        }
        breaches
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, id, no_deps};

    const BOARD: u64 = 1;
    const PARK: u64 = 10;
    const TENANT: u64 = 20;
    const OTHER_TENANT: u64 = 21;
    const INCIDENT: u64 = 40;
    const INSPECTION: u64 = 50;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn text(s: &str) -> Text {
        Text::body(s).unwrap()
    }

    fn plan(kind: InspectionKind, tenants: &[u64]) -> InspectionPlanned {
        InspectionPlanned {
            park_id: id(PARK),
            tenant_ids: tenants.iter().map(|t| id(*t)).collect(),
            conducted_by: InspectionConductor::Joint,
            kind,
            planned_for: date("2025-05-12"),
            scope: text("wastewater connection to the central plant and stormwater drains"),
            incident_id: None,
        }
    }

    fn planned(kind: InspectionKind, tenants: &[u64]) -> Timed<InspectionEvent> {
        Timed::new(at("2025-05-01T02:00:00Z"), plan(kind, tenants))
    }

    fn issued(grounds: Option<&str>) -> Timed<InspectionEvent> {
        Timed::new(
            at("2025-05-02T02:00:00Z"),
            InspectionDecisionIssued {
                decision_no: text("123/QĐ-BQL"),
                issued_on: date("2025-05-02"),
                grounds: grounds.map(text),
            },
        )
    }

    fn delivered(when: &str) -> Timed<InspectionEvent> {
        delivered_to(&[TENANT], when)
    }

    fn delivered_to(tenants: &[u64], when: &str) -> Timed<InspectionEvent> {
        Timed::new(
            at(when),
            InspectionDecisionDelivered {
                tenant_ids: tenants.iter().map(|t| id(*t)).collect(),
                delivered_on: local_date(at(when)),
                recipient: None,
            },
        )
    }

    fn started(when: &str) -> Timed<InspectionEvent> {
        Timed::new(
            at(when),
            InspectionStarted {
                started_on: local_date(at(when)),
            },
        )
    }

    fn extended(days: u32, when: &str) -> Timed<InspectionEvent> {
        Timed::new(
            at(when),
            InspectionExtended {
                days,
                reason: text("samples await laboratory results"),
                decision_no: None,
            },
        )
    }

    fn finding(finding_id: &str, tenant: u64) -> FindingRecorded {
        FindingRecorded {
            finding_id: text(finding_id),
            tenant_id: id(tenant),
            requirement: text("Connect all process wastewater to the central plant"),
            severity: FindingSeverity::Major,
            description: text("Process water overflowing into the stormwater drain"),
            commitment_id: None,
        }
    }

    fn found(when: &str) -> Timed<InspectionEvent> {
        Timed::new(at(when), finding("F-1", TENANT))
    }

    fn concluded(when: &str) -> Timed<InspectionEvent> {
        Timed::new(
            at(when),
            InspectionConcluded {
                conclusion_no: text("45/KL-BQL"),
                summary: text("one major finding"),
                concluded_on: local_date(at(when)),
            },
        )
    }

    fn remediation_required(due_on: &str) -> RemediationRequired {
        RemediationRequired {
            finding_id: text("F-1"),
            due_on: date(due_on),
            action: text("Re-route the process line to the central plant"),
        }
    }

    /// A one-tenant planned inspection, decided, delivered on time and started on 2025-05-09.
    fn under_way() -> Vec<Timed<InspectionEvent>> {
        vec![
            planned(InspectionKind::Planned, &[TENANT]),
            issued(None),
            delivered("2025-05-05T02:00:00Z"),
            started("2025-05-09T01:00:00Z"),
        ]
    }

    fn when(
        command: InspectionCommand,
        given: Vec<Timed<InspectionEvent>>,
    ) -> Result<(), DomainError> {
        TestFramework::<Inspection>::with(no_deps())
            .given(given)
            .when(command)
            .inspect_result()
            .map(|_| ())
    }

    fn rule_of(result: Result<(), DomainError>) -> &'static str {
        match result {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    fn judged(given: Vec<Timed<InspectionEvent>>, new: Timed<InspectionEvent>) -> Vec<String> {
        let mut inspection = Inspection::default();
        for e in given {
            inspection.apply(e);
        }
        inspection
            .judge(&[new], &LegalRules::default())
            .into_iter()
            .map(|b| b.limit)
            .collect()
    }

    fn issue(grounds: Option<&str>) -> InspectionCommand {
        InspectionCommand::IssueDecision {
            inspection_id: id(INSPECTION),
            occurred_at: at("2025-05-02T02:00:00Z"),
            decision_no: text("123/QĐ-BQL"),
            issued_on: None,
            grounds: grounds.map(text),
        }
    }

    fn start(when: &str) -> InspectionCommand {
        InspectionCommand::Start {
            inspection_id: id(INSPECTION),
            occurred_at: at(when),
            started_on: None,
        }
    }

    fn record(f: FindingRecorded, when: &str) -> InspectionCommand {
        InspectionCommand::RecordFinding {
            inspection_id: id(INSPECTION),
            occurred_at: at(when),
            event: f,
        }
    }

    #[test]
    fn a_finding_names_only_a_commitment_the_tenant_has_on_record() {
        // The test lookups give every tenant commitment C-1.
        let naming = |c: &str| FindingRecorded {
            commitment_id: Some(text(c)),
            ..finding("F-1", TENANT)
        };
        assert_eq!(
            rule_of(when(
                record(naming("C-9"), "2025-05-10T02:00:00Z"),
                under_way()
            )),
            "unknown_commitment"
        );
        TestFramework::<Inspection>::with(no_deps())
            .given(under_way())
            .when(record(naming("C-1"), "2025-05-10T02:00:00Z"))
            .then_expect_events(vec![Timed::new(at("2025-05-10T02:00:00Z"), naming("C-1"))]);
    }

    fn close(when: &str) -> InspectionCommand {
        InspectionCommand::Close {
            inspection_id: id(INSPECTION),
            occurred_at: at(when),
            event: InspectionClosed { note: None },
        }
    }

    #[test]
    fn an_inspection_of_existing_tenants_in_an_existing_park_is_planned() {
        let deps = deps_with(&[
            (AggregateKind::Park, id(PARK)),
            (AggregateKind::Tenant, id(TENANT)),
        ]);
        TestFramework::<Inspection>::with(deps)
            .given_no_previous_events()
            .when(InspectionCommand::Plan {
                inspection_id: id(INSPECTION),
                occurred_at: at("2025-05-01T02:00:00Z"),
                event: plan(InspectionKind::Planned, &[TENANT]),
            })
            .then_expect_events(vec![planned(InspectionKind::Planned, &[TENANT])]);
    }

    #[test]
    fn planning_an_inspection_of_an_unknown_tenant_is_refused() {
        let deps = deps_with(&[
            (AggregateKind::Park, id(PARK)),
            (AggregateKind::Tenant, id(TENANT)),
        ]);
        let result = TestFramework::<Inspection>::with(deps)
            .given_no_previous_events()
            .when(InspectionCommand::Plan {
                inspection_id: id(INSPECTION),
                occurred_at: at("2025-05-01T02:00:00Z"),
                event: plan(InspectionKind::Planned, &[TENANT, OTHER_TENANT]),
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "tenant_ids",
                ..
            })
        ));
    }

    #[test]
    fn planning_an_inspection_in_an_unknown_park_or_after_an_unknown_incident_is_refused() {
        let result =
            TestFramework::<Inspection>::with(deps_with(&[(AggregateKind::Tenant, id(TENANT))]))
                .given_no_previous_events()
                .when(InspectionCommand::Plan {
                    inspection_id: id(INSPECTION),
                    occurred_at: at("2025-05-01T02:00:00Z"),
                    event: plan(InspectionKind::Planned, &[TENANT]),
                })
                .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "park_id",
                ..
            })
        ));

        let mut after_incident = plan(InspectionKind::PostCheck, &[TENANT]);
        after_incident.incident_id = Some(id(INCIDENT));
        let result = TestFramework::<Inspection>::with(deps_with(&[
            (AggregateKind::Park, id(PARK)),
            (AggregateKind::Tenant, id(TENANT)),
        ]))
        .given_no_previous_events()
        .when(InspectionCommand::Plan {
            inspection_id: id(INSPECTION),
            occurred_at: at("2025-05-01T02:00:00Z"),
            event: after_incident,
        })
        .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "incident_id",
                ..
            })
        ));
    }

    #[test]
    fn an_inspection_without_tenants_or_naming_one_twice_is_invalid() {
        let deps = || {
            deps_with(&[
                (AggregateKind::Park, id(PARK)),
                (AggregateKind::Tenant, id(TENANT)),
            ])
        };
        for tenants in [&[][..], &[TENANT, TENANT][..]] {
            let result = TestFramework::<Inspection>::with(deps())
                .given_no_previous_events()
                .when(InspectionCommand::Plan {
                    inspection_id: id(INSPECTION),
                    occurred_at: at("2025-05-01T02:00:00Z"),
                    event: plan(InspectionKind::Planned, tenants),
                })
                .inspect_result();
            assert!(matches!(
                result,
                Err(DomainError::Invalid {
                    field: "tenant_ids",
                    ..
                })
            ));
        }
    }

    #[test]
    fn an_unannounced_inspection_without_grounds_is_refused_and_with_grounds_is_recorded() {
        let given = || vec![planned(InspectionKind::Unannounced, &[TENANT])];
        assert_eq!(
            rule_of(when(issue(None), given())),
            "unannounced_without_grounds"
        );
        TestFramework::<Inspection>::with(no_deps())
            .given(given())
            .when(issue(Some("overflow reported on 2025-04-28")))
            .then_expect_events(vec![issued(Some("overflow reported on 2025-04-28"))]);
    }

    #[test]
    fn an_announced_inspection_needs_no_grounds() {
        TestFramework::<Inspection>::with(no_deps())
            .given(vec![planned(InspectionKind::Planned, &[TENANT])])
            .when(issue(None))
            .then_expect_events(vec![issued(None)]);
    }

    #[test]
    fn a_decision_is_issued_only_once() {
        let given = vec![planned(InspectionKind::Planned, &[TENANT]), issued(None)];
        assert_eq!(rule_of(when(issue(None), given)), "decision_already_issued");
    }

    #[test]
    fn an_issued_on_that_disagrees_with_occurred_at_is_invalid() {
        let result = when(
            InspectionCommand::IssueDecision {
                inspection_id: id(INSPECTION),
                // 2025-05-02T18:00Z is 3 May in Vietnam.
                occurred_at: at("2025-05-02T18:00:00Z"),
                decision_no: text("123/QĐ-BQL"),
                issued_on: Some(date("2025-05-02")),
                grounds: None,
            },
            vec![planned(InspectionKind::Planned, &[TENANT])],
        );
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "issued_on",
                ..
            })
        ));
    }

    #[test]
    fn a_decision_is_delivered_only_after_it_is_issued() {
        let deliver = InspectionCommand::DeliverDecision {
            inspection_id: id(INSPECTION),
            occurred_at: at("2025-05-05T02:00:00Z"),
            tenant_ids: vec![],
            delivered_on: None,
            recipient: None,
        };
        assert_eq!(
            rule_of(when(
                deliver.clone(),
                vec![planned(InspectionKind::Planned, &[TENANT])]
            )),
            "decision_not_issued"
        );
        assert_eq!(
            rule_of(when(
                deliver,
                vec![
                    planned(InspectionKind::Planned, &[TENANT]),
                    issued(None),
                    delivered("2025-05-04T02:00:00Z")
                ]
            )),
            "decision_already_delivered"
        );
    }

    fn deliver_to(tenants: &[u64], when: &str) -> InspectionCommand {
        InspectionCommand::DeliverDecision {
            inspection_id: id(INSPECTION),
            occurred_at: at(when),
            tenant_ids: tenants.iter().map(|t| id(*t)).collect(),
            delivered_on: None,
            recipient: None,
        }
    }

    #[test]
    fn each_tenant_of_a_several_entity_inspection_has_its_own_delivery() {
        let both = [TENANT, OTHER_TENANT];
        let given = || vec![planned(InspectionKind::Planned, &both), issued(None)];
        // Issued on 2 May: the first tenant on 5 May is on time, the second on 9 May is 7 days.
        let mut first = given();
        first.push(delivered_to(&[TENANT], "2025-05-05T02:00:00Z"));
        assert!(judged(given(), delivered_to(&[TENANT], "2025-05-05T02:00:00Z")).is_empty());
        assert_eq!(
            judged(
                first.clone(),
                delivered_to(&[OTHER_TENANT], "2025-05-09T02:00:00Z")
            ),
            ["inspection_decision_delivered_late"]
        );
        // Half delivered is not delivered.
        let mut state = Inspection::default();
        for e in first.clone() {
            state.apply(e);
        }
        assert_eq!(state.status(), InspectionStatus::DecisionIssued);
        state.apply(delivered_to(&[OTHER_TENANT], "2025-05-09T02:00:00Z"));
        assert_eq!(state.status(), InspectionStatus::DecisionDelivered);
        assert_eq!(
            state.delivery_to(id(OTHER_TENANT)).map(|d| d.delivered_on),
            Some(date("2025-05-09"))
        );
        // Naming no tenant reaches the ones not yet reached.
        TestFramework::<Inspection>::with(no_deps())
            .given(first.clone())
            .when(deliver_to(&[], "2025-05-06T02:00:00Z"))
            .then_expect_events(vec![delivered_to(&[OTHER_TENANT], "2025-05-06T02:00:00Z")]);
        // A tenant reached twice, a tenant not inspected, a tenant named twice.
        assert_eq!(
            rule_of(when(
                deliver_to(&[TENANT], "2025-05-06T02:00:00Z"),
                first.clone()
            )),
            "decision_already_delivered"
        );
        assert_eq!(
            rule_of(when(
                deliver_to(&[PARK], "2025-05-06T02:00:00Z"),
                first.clone()
            )),
            "delivery_tenant_not_inspected"
        );
        assert!(matches!(
            when(
                deliver_to(&[OTHER_TENANT, OTHER_TENANT], "2025-05-06T02:00:00Z"),
                first
            ),
            Err(DomainError::Invalid {
                field: "tenant_ids",
                ..
            })
        ));
    }

    #[test]
    fn a_version_1_delivery_reached_every_inspected_tenant() {
        let mut state = Inspection::default();
        state.apply(planned(InspectionKind::Planned, &[TENANT, OTHER_TENANT]));
        state.apply(issued(None));
        state.apply(delivered_to(&[], "2025-05-05T02:00:00Z"));
        assert_eq!(state.status(), InspectionStatus::DecisionDelivered);
        assert_eq!(state.deliveries.len(), 2);
    }

    #[test]
    fn an_announced_start_before_a_later_tenant_is_reached_is_named() {
        let both = [TENANT, OTHER_TENANT];
        let mut given = vec![
            planned(InspectionKind::Planned, &both),
            issued(None),
            delivered_to(&[TENANT], "2025-05-05T02:00:00Z"),
            started("2025-05-06T02:00:00Z"),
        ];
        assert_eq!(
            judged(
                given.clone(),
                delivered_to(&[OTHER_TENANT], "2025-05-07T02:00:00Z")
            ),
            ["inspection_started_before_delivery"]
        );
        given.truncate(3);
        given.push(delivered_to(&[OTHER_TENANT], "2025-05-07T02:00:00Z"));
        assert_eq!(
            judged(given, started("2025-05-06T02:00:00Z")),
            ["inspection_started_before_delivery"]
        );
    }

    #[test]
    fn a_decision_delivered_six_days_after_issuance_is_judged_late_but_five_is_on_time() {
        let given = || vec![planned(InspectionKind::Planned, &[TENANT]), issued(None)];
        // Issued on 2 May; 7 May is 5 days later, 8 May is 6.
        assert!(judged(given(), delivered("2025-05-07T10:00:00Z")).is_empty());
        assert_eq!(
            judged(given(), delivered("2025-05-08T02:00:00Z")),
            ["inspection_decision_delivered_late"]
        );
        // 2025-05-07T18:00Z is already 8 May in Vietnam.
        assert_eq!(
            judged(given(), delivered("2025-05-07T18:00:00Z")),
            ["inspection_decision_delivered_late"]
        );
    }

    #[test]
    fn a_late_delivery_is_accepted_all_the_same() {
        TestFramework::<Inspection>::with(no_deps())
            .given(vec![
                planned(InspectionKind::Planned, &[TENANT]),
                issued(None),
            ])
            .when(InspectionCommand::DeliverDecision {
                inspection_id: id(INSPECTION),
                occurred_at: at("2025-05-20T02:00:00Z"),
                tenant_ids: vec![],
                delivered_on: Some(date("2025-05-20")),
                recipient: None,
            })
            .then_expect_events(vec![delivered("2025-05-20T02:00:00Z")]);
    }

    #[test]
    fn an_unannounced_inspection_is_never_judged_late_in_delivery() {
        let given = vec![
            planned(InspectionKind::Unannounced, &[TENANT]),
            issued(Some("complaint from residents")),
        ];
        assert!(judged(given, delivered("2025-05-20T02:00:00Z")).is_empty());
    }

    #[test]
    fn an_announced_inspection_that_starts_before_delivery_is_recorded_and_named() {
        assert_eq!(
            rule_of(when(
                start("2025-05-09T01:00:00Z"),
                vec![planned(InspectionKind::Planned, &[TENANT])]
            )),
            "decision_not_issued"
        );
        // Started with no delivery recorded: a fact, recorded; judged once the delivery is.
        let announced = vec![planned(InspectionKind::PostCheck, &[TENANT]), issued(None)];
        when(start("2025-05-09T01:00:00Z"), announced.clone()).unwrap();
        let mut before = announced.clone();
        before.push(started("2025-05-05T01:00:00Z"));
        assert_eq!(
            judged(before, delivered("2025-05-06T02:00:00Z")),
            ["inspection_started_before_delivery"]
        );
        // Delivered later than the start, recorded first: named on the start.
        let mut delivered_late = announced.clone();
        delivered_late.push(delivered("2025-05-06T02:00:00Z"));
        assert_eq!(
            judged(delivered_late.clone(), started("2025-05-05T01:00:00Z")),
            ["inspection_started_before_delivery"]
        );
        // A delivery dated before the decision's issue cannot be.
        assert_eq!(
            rule_of(when(
                InspectionCommand::DeliverDecision {
                    inspection_id: id(INSPECTION),
                    occurred_at: at("2025-05-01T12:00:00Z"),
                    tenant_ids: vec![],
                    delivered_on: None,
                    recipient: None,
                },
                announced
            )),
            "business_time_goes_back"
        );
        // On time: delivered, then started; nothing named.
        let mut on_time = under_way();
        let started_on_time = on_time.pop().unwrap();
        assert!(judged(on_time, started_on_time).is_empty());
        TestFramework::<Inspection>::with(no_deps())
            .given(vec![
                planned(InspectionKind::Unannounced, &[TENANT]),
                issued(Some("monitoring alert")),
            ])
            .when(start("2025-05-09T01:00:00Z"))
            .then_expect_events(vec![started("2025-05-09T01:00:00Z")]);
    }

    #[test]
    fn an_inspection_starts_only_once() {
        assert_eq!(
            rule_of(when(start("2025-05-10T01:00:00Z"), under_way())),
            "inspection_already_started"
        );
    }

    #[test]
    fn an_extension_needs_the_inspection_under_way() {
        let extend = InspectionCommand::Extend {
            inspection_id: id(INSPECTION),
            occurred_at: at("2025-05-20T02:00:00Z"),
            event: InspectionExtended {
                days: 5,
                reason: text("more samples"),
                decision_no: None,
            },
        };
        let mut before_start = under_way();
        before_start.pop();
        assert_eq!(
            rule_of(when(extend.clone(), before_start)),
            "inspection_not_started"
        );
        let mut after = under_way();
        after.push(concluded("2025-05-12T02:00:00Z"));
        assert_eq!(rule_of(when(extend, after)), "inspection_concluded");
    }

    #[test]
    fn an_extension_over_the_cap_is_judged_and_a_second_extension_is_judged_too() {
        assert!(judged(under_way(), extended(7, "2025-05-14T02:00:00Z")).is_empty());
        assert_eq!(
            judged(under_way(), extended(10, "2025-05-14T02:00:00Z")),
            ["inspection_extension_too_long"]
        );
        let mut once = under_way();
        once.push(extended(3, "2025-05-14T02:00:00Z"));
        assert_eq!(
            judged(once, extended(2, "2025-05-16T02:00:00Z")),
            ["second_extension"]
        );
        // Several entities: up to 15 days count.
        let several = vec![
            planned(InspectionKind::Planned, &[TENANT, OTHER_TENANT]),
            issued(None),
            delivered("2025-05-05T02:00:00Z"),
            started("2025-05-09T01:00:00Z"),
        ];
        assert!(judged(several.clone(), extended(15, "2025-05-30T02:00:00Z")).is_empty());
        assert_eq!(
            judged(several, extended(16, "2025-05-30T02:00:00Z")),
            ["inspection_extension_too_long"]
        );
    }

    #[test]
    fn an_inspection_of_one_entity_longer_than_seven_days_is_judged_too_long() {
        // Started on 9 May: concluding on 15 May is 7 days, on 16 May 8.
        assert!(judged(under_way(), concluded("2025-05-15T09:00:00Z")).is_empty());
        assert_eq!(
            judged(under_way(), concluded("2025-05-16T02:00:00Z")),
            ["inspection_too_long"]
        );
    }

    #[test]
    fn an_extension_counts_only_up_to_its_cap_and_a_second_one_extends_nothing() {
        // 7 + 10 extended, of which 7 count: 14 days, to 22 May.
        let mut long = under_way();
        long.push(extended(10, "2025-05-14T02:00:00Z"));
        assert!(judged(long.clone(), concluded("2025-05-22T02:00:00Z")).is_empty());
        assert_eq!(
            judged(long, concluded("2025-05-23T02:00:00Z")),
            ["inspection_too_long"]
        );
        // 7 + 3, then a second extension of 5 that extends nothing: 10 days, to 18 May.
        let mut twice = under_way();
        twice.push(extended(3, "2025-05-14T02:00:00Z"));
        twice.push(extended(5, "2025-05-17T02:00:00Z"));
        assert!(judged(twice.clone(), concluded("2025-05-18T02:00:00Z")).is_empty());
        assert_eq!(
            judged(twice, concluded("2025-05-19T02:00:00Z")),
            ["inspection_too_long"]
        );
    }

    #[test]
    fn an_inspection_of_several_entities_may_last_thirty_days() {
        let several = vec![
            planned(InspectionKind::Planned, &[TENANT, OTHER_TENANT]),
            issued(None),
            delivered("2025-05-05T02:00:00Z"),
            started("2025-05-09T01:00:00Z"),
        ];
        // 9 May + 30 days inclusive is 7 June.
        assert!(judged(several.clone(), concluded("2025-06-07T02:00:00Z")).is_empty());
        assert_eq!(
            judged(several, concluded("2025-06-08T02:00:00Z")),
            ["inspection_too_long"]
        );
    }

    #[test]
    fn a_finding_is_recorded_on_an_inspected_tenant_while_under_way() {
        TestFramework::<Inspection>::with(no_deps())
            .given(under_way())
            .when(record(finding("F-1", TENANT), "2025-05-10T02:00:00Z"))
            .then_expect_events(vec![found("2025-05-10T02:00:00Z")]);
    }

    #[test]
    fn a_finding_on_a_concluded_or_closed_inspection_is_refused() {
        let mut given = under_way();
        given.push(concluded("2025-05-12T02:00:00Z"));
        assert_eq!(
            rule_of(when(
                record(finding("F-1", TENANT), "2025-05-13T02:00:00Z"),
                given.clone()
            )),
            "inspection_concluded"
        );
        given.push(Timed::new(
            at("2025-05-13T02:00:00Z"),
            InspectionClosed { note: None },
        ));
        assert_eq!(
            rule_of(when(
                record(finding("F-1", TENANT), "2025-05-14T02:00:00Z"),
                given
            )),
            "inspection_concluded"
        );
    }

    #[test]
    fn a_finding_on_a_tenant_not_inspected_is_refused() {
        assert_eq!(
            rule_of(when(
                record(finding("F-1", OTHER_TENANT), "2025-05-10T02:00:00Z"),
                under_way()
            )),
            "finding_tenant_not_inspected"
        );
    }

    #[test]
    fn a_finding_id_is_used_once() {
        let mut given = under_way();
        given.push(found("2025-05-10T02:00:00Z"));
        assert_eq!(
            rule_of(when(
                record(finding("F-1", TENANT), "2025-05-11T02:00:00Z"),
                given
            )),
            "finding_already_recorded"
        );
    }

    #[test]
    fn a_finding_before_the_start_is_refused() {
        let mut given = under_way();
        given.pop();
        assert_eq!(
            rule_of(when(
                record(finding("F-1", TENANT), "2025-05-10T02:00:00Z"),
                given
            )),
            "inspection_not_started"
        );
    }

    #[test]
    fn a_remediation_needs_a_recorded_finding_and_a_due_date_after_it() {
        let require = |due_on: &str| InspectionCommand::RequireRemediation {
            inspection_id: id(INSPECTION),
            occurred_at: at("2025-05-12T02:00:00Z"),
            event: remediation_required(due_on),
        };
        assert_eq!(
            rule_of(when(require("2025-06-30"), under_way())),
            "finding_not_recorded"
        );
        let mut given = under_way();
        given.push(found("2025-05-10T02:00:00Z"));
        assert_eq!(
            rule_of(when(require("2025-05-10"), given.clone())),
            "remediation_due_not_after_finding"
        );
        TestFramework::<Inspection>::with(no_deps())
            .given(given)
            .when(require("2025-06-30"))
            .then_expect_events(vec![Timed::new(
                at("2025-05-12T02:00:00Z"),
                remediation_required("2025-06-30"),
            )]);
    }

    #[test]
    fn a_verification_needs_a_required_remediation() {
        let verify = InspectionCommand::VerifyRemediation {
            inspection_id: id(INSPECTION),
            occurred_at: at("2025-06-20T02:00:00Z"),
            event: RemediationVerified {
                finding_id: text("F-1"),
                note: None,
            },
        };
        let mut given = under_way();
        given.push(found("2025-05-10T02:00:00Z"));
        assert_eq!(
            rule_of(when(verify.clone(), given.clone())),
            "remediation_not_required"
        );
        given.push(Timed::new(
            at("2025-05-12T02:00:00Z"),
            remediation_required("2025-06-30"),
        ));
        given.push(Timed::new(
            at("2025-06-19T02:00:00Z"),
            RemediationVerified {
                finding_id: text("F-1"),
                note: None,
            },
        ));
        assert_eq!(rule_of(when(verify, given)), "remediation_already_verified");
    }

    #[test]
    fn closing_with_an_unverified_remediation_is_refused_unless_referred_for_sanction() {
        let mut given = under_way();
        given.push(found("2025-05-10T02:00:00Z"));
        given.push(concluded("2025-05-12T02:00:00Z"));
        given.push(Timed::new(
            at("2025-05-12T03:00:00Z"),
            remediation_required("2025-06-30"),
        ));
        assert_eq!(
            rule_of(when(close("2025-07-05T02:00:00Z"), given.clone())),
            "remediation_unverified"
        );
        given.push(Timed::new(
            at("2025-07-02T02:00:00Z"),
            ReferredForSanction {
                finding_id: text("F-1"),
                authority_id: id(BOARD),
                reason: text("not remedied by the due date"),
            },
        ));
        TestFramework::<Inspection>::with(no_deps())
            .given(given)
            .when(close("2025-07-05T02:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-07-05T02:00:00Z"),
                InspectionClosed { note: None },
            )]);
    }

    #[test]
    fn an_inspection_is_closed_only_after_its_conclusion_and_only_once() {
        assert_eq!(
            rule_of(when(close("2025-05-12T02:00:00Z"), under_way())),
            "inspection_not_concluded"
        );
        let mut given = under_way();
        given.push(concluded("2025-05-12T02:00:00Z"));
        given.push(Timed::new(
            at("2025-05-13T02:00:00Z"),
            InspectionClosed { note: None },
        ));
        assert_eq!(
            rule_of(when(close("2025-05-14T02:00:00Z"), given)),
            "inspection_closed"
        );
    }

    #[test]
    fn a_referral_names_an_existing_authority_and_is_made_once() {
        let refer = InspectionCommand::ReferForSanction {
            inspection_id: id(INSPECTION),
            occurred_at: at("2025-05-12T02:00:00Z"),
            event: ReferredForSanction {
                finding_id: text("F-1"),
                authority_id: id(BOARD),
                reason: text("discharge above the standard"),
            },
        };
        let mut given = under_way();
        given.push(found("2025-05-10T02:00:00Z"));
        let result = TestFramework::<Inspection>::with(no_deps())
            .given(given.clone())
            .when(refer.clone())
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "authority_id",
                ..
            })
        ));
        if let InspectionCommand::ReferForSanction { event, .. } = &refer {
            given.push(Timed::new(at("2025-05-11T02:00:00Z"), event.clone()));
        }
        let result =
            TestFramework::<Inspection>::with(deps_with(&[(AggregateKind::Authority, id(BOARD))]))
                .given(given)
                .when(refer)
                .inspect_result()
                .map(|_| ());
        assert_eq!(rule_of(result), "finding_already_referred");
    }

    #[test]
    fn business_time_never_goes_back() {
        assert_eq!(
            rule_of(when(
                record(finding("F-1", TENANT), "2025-05-08T02:00:00Z"),
                under_way()
            )),
            "business_time_goes_back"
        );
    }

    #[test]
    fn a_step_on_an_inspection_never_planned_is_not_found() {
        let result = when(issue(None), vec![]);
        assert!(matches!(result, Err(DomainError::NotFound { .. })));
    }

    #[test]
    fn the_payload_is_the_proto3_json_of_the_event() {
        let json: serde_json::Value =
            serde_json::to_value(plan(InspectionKind::PostCheck, &[TENANT])).unwrap();
        assert_eq!(json["kind"], "INSPECTION_KIND_POST_CHECK");
        assert_eq!(json["conducted_by"], "INSPECTION_CONDUCTOR_JOINT");
        assert_eq!(json["planned_for"], "2025-05-12");
        assert_eq!(json["tenant_ids"][0], id(TENANT).to_string());
        assert!(json.get("incident_id").is_none());
    }
}
