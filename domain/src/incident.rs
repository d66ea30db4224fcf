//! The Incident aggregate: an environmental incident in a park (an overflow, a spill, a fire, an
//! emission), from its report through classification, notification, response, escalation and
//! containment to its resolution and review.
//!
//! Classification levels have validity periods: the district level ceased with the district
//! authorities on 2025-07-01, so it stays valid in history and is refused on a later business date.
//! The notification lag is a legal limit, judged and never refused.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agreement::AgreementsInForce;
use crate::deps::{Breach, LegalRules};
use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::information_exchange::OrganisationRef;
use crate::limits;
use crate::time::local_date;
use crate::values::Text;
use crate::{Deps, DomainError, events};

/// What kind of incident it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IncidentKind {
    /// Wastewater overflowing or bypassing treatment.
    #[serde(rename = "INCIDENT_KIND_OVERFLOW")]
    Overflow,
    /// A chemical or oil spill.
    #[serde(rename = "INCIDENT_KIND_SPILL")]
    Spill,
    #[serde(rename = "INCIDENT_KIND_FIRE")]
    Fire,
    /// An emission to air.
    #[serde(rename = "INCIDENT_KIND_EMISSION")]
    Emission,
    #[serde(rename = "INCIDENT_KIND_OTHER")]
    Other,
}

/// The level at which an incident is responded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IncidentLevel {
    /// Handled by the facility itself (cấp cơ sở).
    #[serde(rename = "INCIDENT_LEVEL_FACILITY")]
    Facility,
    /// Commune level, from the two-tier local government of 2025-07-01 (unverified [U]: the level
    /// that replaces the district one in incident response).
    #[serde(rename = "INCIDENT_LEVEL_COMMUNE")]
    Commune,
    /// District level (cấp huyện); district authorities ceased on 2025-07-01.
    #[serde(rename = "INCIDENT_LEVEL_DISTRICT")]
    District,
    #[serde(rename = "INCIDENT_LEVEL_PROVINCIAL")]
    Provincial,
    #[serde(rename = "INCIDENT_LEVEL_NATIONAL")]
    National,
}

/// The day district-level authorities ceased and commune-level ones took over.
fn two_tier_reform() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, 1).expect("a valid date")
}

impl IncidentLevel {
    /// The local dates the level may be used on: from the first (inclusive) to the second
    /// (exclusive); `None` is unbounded.
    pub fn validity(self) -> (Option<NaiveDate>, Option<NaiveDate>) {
        match self {
            Self::Commune => (Some(two_tier_reform()), None),
            Self::District => (None, Some(two_tier_reform())),
            Self::Facility | Self::Provincial | Self::National => (None, None),
        }
    }

    /// Whether the level may be used on a business date.
    pub fn valid_on(self, date: NaiveDate) -> bool {
        let (from, until) = self.validity();
        from.is_none_or(|f| f <= date) && until.is_none_or(|u| date < u)
    }
}

/// How a notification was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationChannel {
    #[serde(rename = "NOTIFICATION_CHANNEL_PHONE")]
    Phone,
    #[serde(rename = "NOTIFICATION_CHANNEL_EMAIL")]
    Email,
    /// A signed official letter (công văn).
    #[serde(rename = "NOTIFICATION_CHANNEL_OFFICIAL_LETTER")]
    OfficialLetter,
    /// The province's or the Board's electronic system.
    #[serde(rename = "NOTIFICATION_CHANNEL_ELECTRONIC_SYSTEM")]
    ElectronicSystem,
    #[serde(rename = "NOTIFICATION_CHANNEL_IN_PERSON")]
    InPerson,
    #[serde(rename = "NOTIFICATION_CHANNEL_OTHER")]
    Other,
}

/// `IncidentReported`: an incident detected at `detected_at` is reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentReported {
    pub park_id: Uuid,
    /// The tenant where it happened, if it happened at one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    pub kind: IncidentKind,
    /// When it was detected; not after the report. The notification lag runs from here.
    pub detected_at: DateTime<Utc>,
    pub location: Text,
    pub description: Text,
    /// Who reported it: the Board or the infrastructure company.
    pub reported_by: OrganisationRef,
}
impl EventPayload for IncidentReported {}

/// `IncidentClassified`: the incident's level under a classification scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentClassified {
    pub level: IncidentLevel,
    /// The scheme and its version, such as `LBVMT-2020`.
    pub scheme_version: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<Text>,
}
impl EventPayload for IncidentClassified {}

/// `IncidentNotificationSent`: an organisation notified an authority of the incident.
///
/// Version 2 names the sending organisation and the notified authority by reference; version 1
/// named only the recipient, in words, which stays in `recipient` (upcasting adds nothing: the
/// references of an old notification are not known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentNotificationSent {
    /// The organisation that sent it: the caller's own (the command path refuses another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<OrganisationRef>,
    /// The authority notified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_authority_id: Option<Uuid>,
    /// Whom at that authority, in words (an office, an officer); before version 2, the only
    /// recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Text>,
    pub channel: NotificationChannel,
    /// When it was sent: always the event's `occurred_at`.
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Text>,
}

impl EventPayload for IncidentNotificationSent {
    const SCHEMA_VERSION: u32 = 2;
}

/// `ResponseActionTaken`: an action taken to respond.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseActionTaken {
    pub action: Text,
    /// Who took it, in words.
    pub by: Text,
}
impl EventPayload for ResponseActionTaken {}

/// `IncidentEscalated`: the incident is handed up to an authority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEscalated {
    pub authority_id: Uuid,
    pub reason: Text,
}
impl EventPayload for IncidentEscalated {}

/// `IncidentContained`: the incident no longer spreads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentContained {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}
impl EventPayload for IncidentContained {}

/// `IncidentResolved`: the incident is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentResolved {
    pub summary: Text,
}
impl EventPayload for IncidentResolved {}

/// `IncidentReviewed`: what was learned, after the resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentReviewed {
    pub lessons: Text,
}
impl EventPayload for IncidentReviewed {}

events!(
    /// Events of an incident.
    IncidentEvent {
        IncidentReported,
        IncidentClassified,
        IncidentNotificationSent,
        ResponseActionTaken,
        IncidentEscalated,
        IncidentContained,
        IncidentResolved,
        IncidentReviewed,
    }
);

/// Commands on an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IncidentCommand {
    Report {
        incident_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: IncidentReported,
    },
    Classify {
        incident_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: IncidentClassified,
    },
    Notify {
        incident_id: Uuid,
        occurred_at: DateTime<Utc>,
        /// The sending organisation; the command path refuses one that is not the caller's.
        sender: OrganisationRef,
        recipient_authority_id: Uuid,
        recipient: Option<Text>,
        channel: NotificationChannel,
        /// When given, it must equal `occurred_at`.
        sent_at: Option<DateTime<Utc>>,
        message: Option<Text>,
    },
    TakeAction {
        incident_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ResponseActionTaken,
    },
    Escalate {
        incident_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: IncidentEscalated,
    },
    Contain {
        incident_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: IncidentContained,
    },
    Resolve {
        incident_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: IncidentResolved,
    },
    Review {
        incident_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: IncidentReviewed,
    },
}

/// An incident's current state, with the instants its timeline is judged on.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Incident {
    pub reported: Option<IncidentReported>,
    pub reported_at: Option<DateTime<Utc>>,
    /// The latest classification.
    pub classification: Option<IncidentClassified>,
    pub classified_at: Option<DateTime<Utc>>,
    pub notifications: Vec<IncidentNotificationSent>,
    pub actions: Vec<ResponseActionTaken>,
    pub escalations: Vec<IncidentEscalated>,
    pub contained_at: Option<DateTime<Utc>>,
    pub resolution: Option<IncidentResolved>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub review: Option<IncidentReviewed>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
}

/// How far an incident has come: each stage is reached once and never left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentStatus {
    /// No incident was reported under this id.
    NotReported,
    Reported,
    Contained,
    Resolved,
    Reviewed,
}

impl Incident {
    /// The furthest stage the incident has reached.
    pub fn status(&self) -> IncidentStatus {
        if self.review.is_some() {
            IncidentStatus::Reviewed
        } else if self.resolution.is_some() {
            IncidentStatus::Resolved
        } else if self.contained_at.is_some() {
            IncidentStatus::Contained
        } else if self.reported.is_some() {
            IncidentStatus::Reported
        } else {
            IncidentStatus::NotReported
        }
    }
}

impl Incident {
    /// When the first notification went out.
    pub fn first_notified_at(&self) -> Option<DateTime<Utc>> {
        self.notifications.iter().map(|n| n.sent_at).min()
    }

    /// Refuses a step on an incident never reported.
    fn require_reported(&self, id: Uuid) -> Result<&IncidentReported, DomainError> {
        self.reported.as_ref().ok_or(DomainError::NotFound {
            kind: AggregateKind::Incident,
            id,
        })
    }

    /// Refuses a step on an incident never reported, or already resolved: an escalation, the
    /// containment and a second resolution are refused then. A classification, a notification and
    /// a response action are facts that may come after the resolution, and are recorded.
    fn require_active(&self, id: Uuid, step: &str) -> Result<&IncidentReported, DomainError> {
        let Some(reported) = &self.reported else {
            return Err(DomainError::NotFound {
                kind: AggregateKind::Incident,
                id,
            });
        };
        if self.resolution.is_some() {
            return Err(DomainError::rule(
                "incident_resolved",
                format!("the incident is resolved; {step} is no longer possible"),
            ));
        }
        Ok(reported)
    }
}

/// Refuses a step dated before the detection (`business_time_goes_back`): nothing about an incident
/// precedes its detection, while any step may be dated before steps recorded earlier (crews act
/// before the paperwork; a notification is sent late).
fn after_detection(
    reported: &IncidentReported,
    occurred_at: DateTime<Utc>,
    step: &str,
) -> Result<(), DomainError> {
    not_before_its(
        Some(reported.detected_at),
        occurred_at,
        step,
        "the detection",
    )
}

/// Refuses an on-site step (a response action, the containment) dated before the detection. Such
/// steps are bounded by the detection, not by the record's latest time: crews act before the
/// paperwork, so an action may be recorded after a report or classification that followed it.
fn not_before_detection(
    reported: &IncidentReported,
    occurred_at: DateTime<Utc>,
    rule: &'static str,
    step: &str,
) -> Result<(), DomainError> {
    if occurred_at < reported.detected_at {
        return Err(DomainError::rule(
            rule,
            format!(
                "{step} at {occurred_at} would precede the detection at {}",
                reported.detected_at
            ),
        ));
    }
    Ok(())
}

impl Aggregate for Incident {
    const TYPE: &'static str = "Incident";
    type Command = IncidentCommand;
    type Event = Timed<IncidentEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: IncidentCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (occurred_at, body): (_, IncidentEvent) = match command {
            IncidentCommand::Report {
                incident_id,
                occurred_at,
                event,
            } => {
                if self.reported.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::Incident,
                        id: incident_id,
                    });
                }
                if event.detected_at > occurred_at {
                    return Err(DomainError::invalid(
                        "detected_at",
                        format!(
                            "must not be after the report's occurred_at ({occurred_at}): an incident is reported after it is detected"
                        ),
                    ));
                }
                deps.require("park_id", AggregateKind::Park, event.park_id)
                    .await?;
                if let Some(tenant_id) = event.tenant_id {
                    deps.require("tenant_id", AggregateKind::Tenant, tenant_id)
                        .await?;
                }
                deps.require(
                    "reported_by.id",
                    event.reported_by.kind.aggregate(),
                    event.reported_by.id,
                )
                .await?;
                (occurred_at, event.into())
            }
            IncidentCommand::Classify {
                incident_id,
                occurred_at,
                event,
            } => {
                let reported = self.require_reported(incident_id)?;
                after_detection(reported, occurred_at, "a classification")?;
                let on = local_date(occurred_at);
                if !event.level.valid_on(on) {
                    let (from, until) = event.level.validity();
                    let period = match (from, until) {
                        (Some(f), _) => format!("from {f}"),
                        (None, Some(u)) => format!("before {u}"),
                        (None, None) => "always".to_owned(),
                    };
                    return Err(DomainError::rule(
                        "classification_level_not_in_force",
                        format!("the {:?} level is valid {period}, not on {on}", event.level),
                    ));
                }
                (occurred_at, event.into())
            }
            IncidentCommand::Notify {
                incident_id,
                occurred_at,
                sender,
                recipient_authority_id,
                recipient,
                channel,
                sent_at,
                message,
            } => {
                // A notification sent late, even after the resolution, is recorded and judged.
                let reported = self.require_reported(incident_id)?;
                after_detection(reported, occurred_at, "a notification")?;
                deps.require("sender", sender.kind.aggregate(), sender.id)
                    .await?;
                deps.require(
                    "recipient_authority_id",
                    AggregateKind::Authority,
                    recipient_authority_id,
                )
                .await?;
                if sent_at.is_some_and(|s| s != occurred_at) {
                    return Err(DomainError::invalid(
                        "sent_at",
                        "must equal occurred_at or be left empty",
                    ));
                }
                let event = IncidentNotificationSent {
                    sender: Some(sender),
                    recipient_authority_id: Some(recipient_authority_id),
                    recipient,
                    channel,
                    sent_at: occurred_at,
                    message,
                };
                (occurred_at, event.into())
            }
            IncidentCommand::TakeAction {
                incident_id,
                occurred_at,
                event,
            } => {
                let reported = self.require_reported(incident_id)?;
                not_before_detection(
                    reported,
                    occurred_at,
                    "action_before_detection",
                    "a response action",
                )?;
                (occurred_at, event.into())
            }
            IncidentCommand::Escalate {
                incident_id,
                occurred_at,
                event,
            } => {
                let reported = self.require_active(incident_id, "an escalation")?;
                after_detection(reported, occurred_at, "an escalation")?;
                deps.require_in_office(
                    "authority_id",
                    event.authority_id,
                    crate::time::local_date(occurred_at),
                    "an incident escalated to it",
                )
                .await?;
                (occurred_at, event.into())
            }
            IncidentCommand::Contain {
                incident_id,
                occurred_at,
                event,
            } => {
                let reported = self.require_active(incident_id, "containment")?;
                not_before_detection(
                    reported,
                    occurred_at,
                    "contained_before_detection",
                    "containment",
                )?;
                if self.contained_at.is_some() {
                    return Err(DomainError::rule(
                        "incident_already_contained",
                        "the incident is already contained",
                    ));
                }
                (occurred_at, event.into())
            }
            IncidentCommand::Resolve {
                incident_id,
                occurred_at,
                event,
            } => {
                let reported = self.require_active(incident_id, "a second resolution")?;
                after_detection(reported, occurred_at, "the resolution")?;
                not_before_its(
                    self.contained_at,
                    occurred_at,
                    "the resolution",
                    "the containment",
                )?;
                (occurred_at, event.into())
            }
            IncidentCommand::Review {
                incident_id,
                occurred_at,
                event,
            } => {
                if self.reported.is_none() {
                    return Err(DomainError::NotFound {
                        kind: AggregateKind::Incident,
                        id: incident_id,
                    });
                }
                if self.resolution.is_none() {
                    return Err(DomainError::rule(
                        "incident_not_resolved",
                        "an incident is reviewed only after its resolution",
                    ));
                }
                if self.review.is_some() {
                    return Err(DomainError::rule(
                        "incident_already_reviewed",
                        "the incident is already reviewed",
                    ));
                }
                not_before_its(
                    self.resolved_at,
                    occurred_at,
                    "the review",
                    "the resolution",
                )?;
                (occurred_at, event.into())
            }
        };
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<IncidentEvent>) {
        let at = event.occurred_at;
        self.latest = self.latest.max(Some(at));
        match event.body {
            IncidentEvent::IncidentReported(e) => {
                self.reported = Some(e);
                self.reported_at = Some(at);
            }
            IncidentEvent::IncidentClassified(e) => {
                self.classification = Some(e);
                self.classified_at = Some(at);
            }
            IncidentEvent::IncidentNotificationSent(e) => self.notifications.push(e),
            IncidentEvent::ResponseActionTaken(e) => self.actions.push(e),
            IncidentEvent::IncidentEscalated(e) => self.escalations.push(e),
            IncidentEvent::IncidentContained(_) => self.contained_at = Some(at),
            IncidentEvent::IncidentResolved(e) => {
                self.resolution = Some(e);
                self.resolved_at = Some(at);
            }
            IncidentEvent::IncidentReviewed(e) => {
                self.review = Some(e);
                self.reviewed_at = Some(at);
            }
        }
    }
}

/// The breach code of a first notification later than the Board's own policy allows (no agreement
/// governed): a service-level breach of policy, not of law.
pub const POLICY_LATE: &str = "incident_notification_late_board_policy";

impl LedgerAggregate for Incident {
    type Body = IncidentEvent;
    const KIND: AggregateKind = AggregateKind::Incident;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        self.reported.as_ref().map(|r| r.park_id)
    }

    /// The park's side; a notification by its sender; an escalation's acting authority is the
    /// authority it escalates to.
    fn acting_for(&self, id: Uuid, new: &[Timed<IncidentEvent>]) -> crate::scope::Acting {
        if let Some(sender) = new.iter().find_map(|e| match &e.body {
            IncidentEvent::IncidentNotificationSent(n) => n.sender,
            _ => None,
        }) {
            return crate::scope::Acting::parties(vec![sender], self.park_id(id));
        }
        let acting = crate::scope::Acting::park(self.park_id(id));
        match new.iter().find_map(|e| match &e.body {
            IncidentEvent::IncidentEscalated(e) => Some(e.authority_id),
            _ => None,
        }) {
            Some(target) => acting.acting_authority(target),
            None => acting,
        }
    }

    /// A notification is judged against the hours allowed from detection.
    fn judged_against_agreements(new: &[Timed<IncidentEvent>]) -> bool {
        new.iter()
            .any(|e| matches!(e.body, IncidentEvent::IncidentNotificationSent(_)))
    }

    /// The first notification's lag from detection, against the hours of the coordination agreement
    /// governing the park on the detection date (local; [`crate::governing`]), or the Board's own
    /// policy when it set one and no agreement governed then; otherwise it is not judged (the law
    /// sets no hour limit).
    fn judge_against_agreements(
        &self,
        new: &[Timed<IncidentEvent>],
        rules: &LegalRules,
        agreements: &AgreementsInForce,
    ) -> Vec<Breach> {
        let (Some(reported), None) = (&self.reported, self.first_notified_at()) else {
            return Vec::new();
        };
        let Some(first) = new.iter().find_map(|e| match &e.body {
            IncidentEvent::IncidentNotificationSent(n) => Some(n),
            _ => None,
        }) else {
            return Vec::new();
        };
        let detected_on = crate::time::local_date(reported.detected_at);
        let (hours, source, limit) = match agreements.governing_at(detected_on) {
            Some((id, inherited, levels)) => (
                levels.incident_notification_hours,
                if inherited {
                    format!(
                        "coordination agreement {id}, inherited by the park's authority from an authority it succeeded"
                    )
                } else {
                    format!("coordination agreement {id}")
                },
                None,
            ),
            None => match rules.policy_incident_notification_hours {
                Some(hours) => (
                    hours,
                    "the Board's own policy, not a legal limit (no coordination agreement governed the park)"
                        .to_owned(),
                    Some(POLICY_LATE),
                ),
                // The law sets no hour limit: with no agreement and no policy there is nothing to
                // judge against, and nothing is invented.
                None => return Vec::new(),
            },
        };
        limits::notification(
            reported.detected_at,
            hours,
            &source,
            Some(first.sent_at),
            None,
        )
        .breach
        .into_iter()
        .map(|mut b| {
            if let Some(limit) = limit {
                limit.clone_into(&mut b.limit);
            }
            b
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::information_exchange::OrganisationKind;
    use crate::testing::{at, deps_with, id, no_deps};

    const BOARD: u64 = 1;
    const COMPANY: u64 = 2;
    const PARK: u64 = 10;
    const TENANT: u64 = 20;
    const INCIDENT: u64 = 60;

    fn text(s: &str) -> Text {
        Text::body(s).unwrap()
    }

    fn report() -> IncidentReported {
        IncidentReported {
            park_id: id(PARK),
            tenant_id: Some(id(TENANT)),
            kind: IncidentKind::Overflow,
            detected_at: at("2025-06-10T23:30:00Z"),
            location: text("Stormwater drains on roads 5 and 6, KCN Đồng An"),
            description: text("Brown-black, oily wastewater in the stormwater drains on a dry day"),
            reported_by: OrganisationRef {
                kind: OrganisationKind::InfrastructureCompany,
                id: id(COMPANY),
            },
        }
    }

    fn reported() -> Timed<IncidentEvent> {
        Timed::new(at("2025-06-11T00:10:00Z"), report())
    }

    fn known() -> Deps {
        deps_with(&[
            (AggregateKind::Park, id(PARK)),
            (AggregateKind::Tenant, id(TENANT)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
            (AggregateKind::Authority, id(BOARD)),
        ])
    }

    fn when(command: IncidentCommand, given: Vec<Timed<IncidentEvent>>) -> Result<(), DomainError> {
        TestFramework::<Incident>::with(known())
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

    fn classify(level: IncidentLevel, when: &str) -> IncidentCommand {
        IncidentCommand::Classify {
            incident_id: id(INCIDENT),
            occurred_at: at(when),
            event: IncidentClassified {
                level,
                scheme_version: text("LBVMT-2020"),
                rationale: None,
            },
        }
    }

    fn notified(when: &str) -> Timed<IncidentEvent> {
        Timed::new(
            at(when),
            IncidentNotificationSent {
                sender: Some(OrganisationRef::company(id(COMPANY))),
                recipient_authority_id: Some(id(BOARD)),
                recipient: Some(text("Ban quản lý các KCN, Phòng Quản lý môi trường")),
                channel: NotificationChannel::Phone,
                sent_at: at(when),
                message: None,
            },
        )
    }

    fn resolved() -> Timed<IncidentEvent> {
        Timed::new(
            at("2025-06-12T08:00:00Z"),
            IncidentResolved {
                summary: text("Drains flushed; bypass pipe sealed"),
            },
        )
    }

    fn reviewed() -> Timed<IncidentEvent> {
        Timed::new(
            at("2025-06-20T08:00:00Z"),
            IncidentReviewed {
                lessons: text("Inspect drains weekly in the dry season"),
            },
        )
    }

    fn judged(given: Vec<Timed<IncidentEvent>>, new: Timed<IncidentEvent>) -> Vec<String> {
        let mut incident = Incident::default();
        for e in given {
            incident.apply(e);
        }
        // A 24-hour Board policy, so that a judgement happens with no agreement.
        let rules = LegalRules {
            policy_incident_notification_hours: Some(24),
            ..LegalRules::default()
        };
        incident
            .judge_against_agreements(&[new], &rules, &AgreementsInForce::default())
            .into_iter()
            .map(|b| b.limit)
            .collect()
    }

    #[test]
    fn an_incident_in_an_existing_park_at_an_existing_tenant_is_reported() {
        TestFramework::<Incident>::with(known())
            .given_no_previous_events()
            .when(IncidentCommand::Report {
                incident_id: id(INCIDENT),
                occurred_at: at("2025-06-11T00:10:00Z"),
                event: report(),
            })
            .then_expect_events(vec![reported()]);
    }

    #[test]
    fn an_incident_at_an_unknown_tenant_is_refused() {
        let result = TestFramework::<Incident>::with(deps_with(&[
            (AggregateKind::Park, id(PARK)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
        ]))
        .given_no_previous_events()
        .when(IncidentCommand::Report {
            incident_id: id(INCIDENT),
            occurred_at: at("2025-06-11T00:10:00Z"),
            event: report(),
        })
        .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "tenant_id",
                ..
            })
        ));
    }

    #[test]
    fn an_incident_in_an_unknown_park_is_refused() {
        let result = TestFramework::<Incident>::with(no_deps())
            .given_no_previous_events()
            .when(IncidentCommand::Report {
                incident_id: id(INCIDENT),
                occurred_at: at("2025-06-11T00:10:00Z"),
                event: report(),
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "park_id",
                ..
            })
        ));
    }

    #[test]
    fn a_detection_after_the_report_is_invalid() {
        let result = when(
            IncidentCommand::Report {
                incident_id: id(INCIDENT),
                occurred_at: at("2025-06-10T23:00:00Z"),
                event: report(),
            },
            vec![],
        );
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "detected_at",
                ..
            })
        ));
    }

    #[test]
    fn a_district_level_classification_is_valid_before_2025_07_01_and_refused_from_then_on() {
        // 2025-06-30T16:59Z is still 30 June in Vietnam; 17:00Z is 1 July.
        TestFramework::<Incident>::with(known())
            .given(vec![reported()])
            .when(classify(IncidentLevel::District, "2025-06-30T16:59:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-06-30T16:59:00Z"),
                IncidentClassified {
                    level: IncidentLevel::District,
                    scheme_version: text("LBVMT-2020"),
                    rationale: None,
                },
            )]);
        assert_eq!(
            rule_of(when(
                classify(IncidentLevel::District, "2025-06-30T17:00:00Z"),
                vec![reported()]
            )),
            "classification_level_not_in_force"
        );
    }

    #[test]
    fn a_commune_level_classification_is_refused_before_the_reform() {
        assert_eq!(
            rule_of(when(
                classify(IncidentLevel::Commune, "2025-06-12T02:00:00Z"),
                vec![reported()]
            )),
            "classification_level_not_in_force"
        );
        assert!(
            when(
                classify(IncidentLevel::Commune, "2025-07-02T02:00:00Z"),
                vec![reported()]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_version_1_notification_keeps_its_recipient_in_words_and_names_no_references() {
        let v1 = r#"{"recipient":"Phòng Quản lý môi trường","channel":"NOTIFICATION_CHANNEL_PHONE","sent_at":"2025-06-11T00:20:00Z"}"#;
        let n =
            IncidentNotificationSent::decode("IncidentNotificationSent", 1, v1.as_bytes()).unwrap();
        assert_eq!(
            n.recipient.as_ref().map(Text::as_str),
            Some("Phòng Quản lý môi trường")
        );
        assert_eq!((n.sender, n.recipient_authority_id), (None, None));
    }

    #[test]
    fn a_notification_to_an_unknown_authority_is_an_unknown_reference() {
        let result = when(
            IncidentCommand::Notify {
                incident_id: id(INCIDENT),
                occurred_at: at("2025-06-11T00:20:00Z"),
                sender: OrganisationRef::company(id(COMPANY)),
                recipient_authority_id: id(999),
                recipient: None,
                channel: NotificationChannel::Phone,
                sent_at: None,
                message: None,
            },
            vec![reported()],
        );
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "recipient_authority_id",
                ..
            })
        ));
    }

    #[test]
    fn a_notification_records_its_sending_time_as_occurred_at() {
        TestFramework::<Incident>::with(known())
            .given(vec![reported()])
            .when(IncidentCommand::Notify {
                incident_id: id(INCIDENT),
                occurred_at: at("2025-06-11T00:20:00Z"),
                sender: OrganisationRef::company(id(COMPANY)),
                recipient_authority_id: id(BOARD),
                recipient: Some(text("Ban quản lý các KCN, Phòng Quản lý môi trường")),
                channel: NotificationChannel::Phone,
                sent_at: None,
                message: None,
            })
            .then_expect_events(vec![notified("2025-06-11T00:20:00Z")]);
        let result = when(
            IncidentCommand::Notify {
                incident_id: id(INCIDENT),
                occurred_at: at("2025-06-11T00:20:00Z"),
                sender: OrganisationRef::company(id(COMPANY)),
                recipient_authority_id: id(BOARD),
                recipient: None,
                channel: NotificationChannel::Phone,
                sent_at: Some(at("2025-06-11T00:00:00Z")),
                message: None,
            },
            vec![reported()],
        );
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "sent_at",
                ..
            })
        ));
    }

    /// The park under the Board and run by the company since 2006, with an agreement between them
    /// that sets `hours` to notify from 2025-01-01, amended to `amended` hours from 2025-07-01.
    fn agreements(hours: u32, amended: u32) -> AgreementsInForce {
        use crate::agreement::{
            AgreementAmended, AgreementEvent, AgreementSigned, CoordinationAgreement, ServiceLevels,
        };
        use crate::park::{InfrastructureCompanyAssigned, JurisdictionAssigned, ParkEvent};
        let levels = |h| ServiceLevels {
            incident_notification_hours: h,
            information_answer_days: 10,
            infrastructure_information_days: None,
            consultation_answer_days: None,
            quarterly_report_due_day: None,
        };
        let mut park = crate::park::Park::default();
        let from = "2006-01-01".parse().unwrap();
        park.apply(Timed::new(
            at("2025-01-01T00:00:00Z"),
            ParkEvent::from(JurisdictionAssigned {
                authority_id: id(BOARD),
                effective_from: from,
            }),
        ));
        park.apply(Timed::new(
            at("2025-01-01T00:00:00Z"),
            ParkEvent::from(InfrastructureCompanyAssigned {
                company_id: id(COMPANY),
                effective_from: from,
            }),
        ));
        let mut agreement = CoordinationAgreement::default();
        agreement.apply(Timed::new(
            at("2025-01-01T00:00:00Z"),
            AgreementEvent::from(AgreementSigned {
                authority_id: id(BOARD),
                company_ids: vec![id(COMPANY)],
                version: text("2025"),
                title: text("Quy chế phối hợp"),
                document_no: None,
                signed_on: "2025-01-01".parse().unwrap(),
                effective_from: "2025-01-01".parse().unwrap(),
                document_sha256: crate::values::Sha256Hex::parse(&"ab".repeat(32)).unwrap(),
                service_levels: levels(hours),
            }),
        ));
        agreement.apply(Timed::new(
            at("2025-06-20T00:00:00Z"),
            AgreementEvent::from(AgreementAmended {
                amendment_no: None,
                service_levels: levels(amended),
                effective_from: "2025-07-01".parse().unwrap(),
                document_sha256: None,
                reason: None,
            }),
        ));
        AgreementsInForce {
            park,
            agreements: vec![(id(40), agreement)],
            successions: Vec::new(),
        }
    }

    #[test]
    fn the_notification_lag_is_judged_against_the_agreement_in_force_at_detection() {
        let judge = |a: &AgreementsInForce, when: &str| -> Vec<Breach> {
            let mut incident = Incident::default();
            incident.apply(reported());
            incident.judge_against_agreements(&[notified(when)], &LegalRules::default(), a)
        };
        // Detected 2025-06-10T23:30Z (11 June local): the signed 4 hours apply, not the amended 48
        // (from 1 July) nor the configured 24. Five hours later is late.
        let a = agreements(4, 48);
        let late = judge(&a, "2025-06-11T04:30:00Z");
        assert_eq!(late.len(), 1);
        assert!(
            late[0].detail.contains("the limit is 4 hours"),
            "{}",
            late[0].detail
        );
        assert!(
            late[0].detail.contains("coordination agreement"),
            "{}",
            late[0].detail
        );
        assert!(judge(&a, "2025-06-11T03:30:00Z").is_empty());
        // A generous agreement makes a 30-hour lag timely.
        assert!(judge(&agreements(48, 48), "2025-06-12T05:30:00Z").is_empty());
        // No agreement and no Board policy: the law sets no hour limit, so nothing is judged.
        assert!(judge(&AgreementsInForce::default(), "2025-06-12T05:30:00Z").is_empty());
    }

    #[test]
    fn with_no_agreement_only_a_board_policy_judges_and_is_named_as_policy() {
        let judge = |policy: Option<u32>, when: &str| {
            let mut incident = Incident::default();
            incident.apply(reported());
            let rules = LegalRules {
                policy_incident_notification_hours: policy,
                ..LegalRules::default()
            };
            incident.judge_against_agreements(
                &[notified(when)],
                &rules,
                &AgreementsInForce::default(),
            )
        };
        // Detected 23:30Z on 10 June; no policy: three days later is not judged.
        assert!(judge(None, "2025-06-13T23:30:00Z").is_empty());
        // A 12-hour policy: due by 11:30Z on 11 June; 11:31Z is late, by policy.
        assert!(judge(Some(12), "2025-06-11T11:30:00Z").is_empty());
        let late = judge(Some(12), "2025-06-11T11:31:00Z");
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].limit, POLICY_LATE);
        assert!(
            late[0].detail.contains("policy, not a legal limit"),
            "{}",
            late[0].detail
        );
    }

    #[test]
    fn a_first_notification_after_the_allowed_hours_is_judged_late() {
        // Under a 24-hour Board policy: detected at 23:30Z on 10 June, due by 23:30Z on 11 June.
        assert!(judged(vec![reported()], notified("2025-06-11T23:30:00Z")).is_empty());
        assert_eq!(
            judged(vec![reported()], notified("2025-06-11T23:31:00Z")),
            [POLICY_LATE]
        );
        // Only the first notification counts.
        assert!(
            judged(
                vec![reported(), notified("2025-06-11T00:20:00Z")],
                notified("2025-06-14T00:00:00Z")
            )
            .is_empty()
        );
    }

    #[test]
    fn an_escalation_names_an_existing_authority() {
        let result = TestFramework::<Incident>::with(no_deps())
            .given(vec![reported()])
            .when(IncidentCommand::Escalate {
                incident_id: id(INCIDENT),
                occurred_at: at("2025-06-11T02:00:00Z"),
                event: IncidentEscalated {
                    authority_id: id(BOARD),
                    reason: text("beyond the company's means"),
                },
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "authority_id",
                ..
            })
        ));
    }

    #[test]
    fn a_containment_before_the_detection_is_refused_but_one_before_the_report_is_recorded() {
        // Detected at 23:30Z, reported at 00:10Z: the crew sealed the drain at 23:50Z.
        let contain = |when: &str| IncidentCommand::Contain {
            incident_id: id(INCIDENT),
            occurred_at: at(when),
            event: IncidentContained { note: None },
        };
        assert_eq!(
            rule_of(when(contain("2025-06-10T23:00:00Z"), vec![reported()])),
            "contained_before_detection"
        );
        TestFramework::<Incident>::with(known())
            .given(vec![reported()])
            .when(contain("2025-06-10T23:50:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-06-10T23:50:00Z"),
                IncidentContained { note: None },
            )]);
    }

    #[test]
    fn a_response_action_before_the_detection_is_refused() {
        let act = |when: &str| IncidentCommand::TakeAction {
            incident_id: id(INCIDENT),
            occurred_at: at(when),
            event: ResponseActionTaken {
                action: text("Closed the outfall valve"),
                by: text("CETP operator"),
            },
        };
        assert_eq!(
            rule_of(when(act("2025-06-10T22:00:00Z"), vec![reported()])),
            "action_before_detection"
        );
        assert!(when(act("2025-06-10T23:40:00Z"), vec![reported()]).is_ok());
    }

    #[test]
    fn an_incident_is_contained_once() {
        let contained = Timed::new(at("2025-06-11T01:00:00Z"), IncidentContained { note: None });
        assert_eq!(
            rule_of(when(
                IncidentCommand::Contain {
                    incident_id: id(INCIDENT),
                    occurred_at: at("2025-06-11T02:00:00Z"),
                    event: IncidentContained { note: None },
                },
                vec![reported(), contained]
            )),
            "incident_already_contained"
        );
    }

    #[test]
    fn a_classification_may_precede_the_report_but_not_the_detection() {
        assert_eq!(
            rule_of(when(
                classify(IncidentLevel::Facility, "2025-06-10T23:00:00Z"),
                vec![reported()]
            )),
            "business_time_goes_back"
        );
        // Between the detection (23:30) and the report (00:10): a true order, recorded.
        when(
            classify(IncidentLevel::Facility, "2025-06-11T00:00:00Z"),
            vec![reported()],
        )
        .unwrap();
    }

    #[test]
    fn a_second_resolution_is_refused() {
        let resolve = IncidentCommand::Resolve {
            incident_id: id(INCIDENT),
            occurred_at: at("2025-06-13T08:00:00Z"),
            event: IncidentResolved {
                summary: text("again"),
            },
        };
        assert_eq!(
            rule_of(when(resolve, vec![reported(), resolved()])),
            "incident_resolved"
        );
    }

    #[test]
    fn after_the_resolution_late_facts_are_recorded_but_no_escalation_or_containment() {
        let action = IncidentCommand::TakeAction {
            incident_id: id(INCIDENT),
            occurred_at: at("2025-06-13T08:00:00Z"),
            event: ResponseActionTaken {
                action: text("Dredge the drain"),
                by: text("CETP operator"),
            },
        };
        when(action, vec![reported(), resolved()]).unwrap();
        let contain = IncidentCommand::Contain {
            incident_id: id(INCIDENT),
            occurred_at: at("2025-06-13T08:00:00Z"),
            event: IncidentContained { note: None },
        };
        assert_eq!(
            rule_of(when(contain, vec![reported(), resolved()])),
            "incident_resolved"
        );
        // A review dated before the resolution it reviews cannot be.
        assert_eq!(
            rule_of(when(
                IncidentCommand::Review {
                    incident_id: id(INCIDENT),
                    occurred_at: at("2025-06-12T07:00:00Z"),
                    event: IncidentReviewed {
                        lessons: text("Inspect drains weekly in the dry season"),
                    },
                },
                vec![reported(), resolved()]
            )),
            "business_time_goes_back"
        );
        TestFramework::<Incident>::with(known())
            .given(vec![reported(), resolved()])
            .when(IncidentCommand::Review {
                incident_id: id(INCIDENT),
                occurred_at: at("2025-06-20T08:00:00Z"),
                event: IncidentReviewed {
                    lessons: text("Inspect drains weekly in the dry season"),
                },
            })
            .then_expect_events(vec![reviewed()]);
    }

    #[test]
    fn a_review_comes_only_after_the_resolution_and_only_once() {
        let review = IncidentCommand::Review {
            incident_id: id(INCIDENT),
            occurred_at: at("2025-06-21T08:00:00Z"),
            event: IncidentReviewed {
                lessons: text("more"),
            },
        };
        assert_eq!(
            rule_of(when(review.clone(), vec![reported()])),
            "incident_not_resolved"
        );
        assert_eq!(
            rule_of(when(review, vec![reported(), resolved(), reviewed()])),
            "incident_already_reviewed"
        );
    }

    #[test]
    fn a_step_on_an_incident_never_reported_is_not_found() {
        let result = when(
            classify(IncidentLevel::Facility, "2025-06-12T02:00:00Z"),
            vec![],
        );
        assert!(matches!(result, Err(DomainError::NotFound { .. })));
    }

    #[test]
    fn the_payload_is_the_proto3_json_of_the_event() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["kind"], "INCIDENT_KIND_OVERFLOW");
        assert_eq!(json["detected_at"], "2025-06-10T23:30:00Z");
        assert_eq!(
            json["reported_by"]["kind"],
            "ORGANISATION_KIND_INFRASTRUCTURE_COMPANY"
        );
        assert_eq!(json["tenant_id"], id(TENANT).to_string());
    }
}
