//! The IndustryConsultation aggregate: before a park takes in an investor, its infrastructure company
//! consults the Board on whether the industry (a VSIC code) fits the park's planning and environmental
//! rules; the Board determines it suitable, suitable with conditions, or unsuitable, and a favourable
//! consultation is later linked to the tenant it brought in.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agreement::act_date;
use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::information_exchange::Attachment;
use crate::values::{Decimal, Text, VsicCode};
use crate::{Deps, DomainError, events};

/// The pollution level of a production type under Annex II of Decree 08/2022/NĐ-CP, by scale: level I
/// (large capacity) is the most polluting, III the least; `None` is a type not listed in the annex.
/// The order of the variants is the order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PollutionLevel {
    #[serde(rename = "POLLUTION_LEVEL_NONE")]
    None,
    #[serde(rename = "POLLUTION_LEVEL_III")]
    III,
    #[serde(rename = "POLLUTION_LEVEL_II")]
    II,
    #[serde(rename = "POLLUTION_LEVEL_I")]
    I,
}

impl PollutionLevel {
    /// The first day Annex II of Decree 08/2022 applies; its levels are invalid on an earlier act.
    pub fn valid_from() -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 1, 10).expect("a valid date")
    }
}

/// A production capacity as an exact decimal with its unit (`12000` `tonnes/year`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub value: Decimal,
    pub unit: Text,
}

/// What the Board determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Suitability {
    #[serde(rename = "SUITABILITY_SUITABLE")]
    Suitable,
    #[serde(rename = "SUITABILITY_CONDITIONAL")]
    Conditional,
    #[serde(rename = "SUITABILITY_UNSUITABLE")]
    Unsuitable,
}

/// `ConsultationOpened`: the company asks whether a prospective investor's industry fits the park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsultationOpened {
    pub park_id: Uuid,
    pub company_id: Uuid,
    /// The prospective investor, by name.
    pub prospective_investor: Text,
    /// The project, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Text>,
    /// The industry, with the version of the classification the code belongs to.
    pub vsic_code: VsicCode,
    pub pollution_level: PollutionLevel,
    pub capacity: Capacity,
}
impl EventPayload for ConsultationOpened {}

/// `CompanyOpinionSubmitted`: the infrastructure company's own view, with documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyOpinionSubmitted {
    pub opinion: Text,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}
impl EventPayload for CompanyOpinionSubmitted {}

/// `SuitabilityDetermined`: the Board's determination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuitabilityDetermined {
    pub determination: Suitability,
    /// The conditions of a conditional determination (required then, and only then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Text>,
    pub rationale: Text,
    pub legal_basis: Text,
    /// The local date of the determination; always the local date of the event's `occurred_at`.
    pub decided_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_no: Option<Text>,
}
impl EventPayload for SuitabilityDetermined {}

/// `ConsultationWithdrawn`: the company no longer seeks a determination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsultationWithdrawn {
    pub reason: Text,
}
impl EventPayload for ConsultationWithdrawn {}

/// `ConsultationLinkedToTenant`: the investor became this tenant of the park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsultationLinkedToTenant {
    pub tenant_id: Uuid,
}
impl EventPayload for ConsultationLinkedToTenant {}

events!(
    /// Events of an industry consultation.
    ConsultationEvent {
        ConsultationOpened,
        CompanyOpinionSubmitted,
        SuitabilityDetermined,
        ConsultationWithdrawn,
        ConsultationLinkedToTenant,
    }
);

/// Commands on an industry consultation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConsultationCommand {
    Open {
        consultation_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ConsultationOpened,
    },
    SubmitOpinion {
        consultation_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: CompanyOpinionSubmitted,
    },
    Determine {
        consultation_id: Uuid,
        occurred_at: DateTime<Utc>,
        determination: Suitability,
        conditions: Vec<Text>,
        rationale: Text,
        legal_basis: Text,
        /// When given, it must be the local date of `occurred_at`.
        decided_on: Option<NaiveDate>,
        document_no: Option<Text>,
    },
    Withdraw {
        consultation_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ConsultationWithdrawn,
    },
    LinkToTenant {
        consultation_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ConsultationLinkedToTenant,
    },
}

/// A consultation's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct IndustryConsultation {
    pub opened: Option<ConsultationOpened>,
    pub opened_at: Option<DateTime<Utc>>,
    pub opinions: Vec<CompanyOpinionSubmitted>,
    pub determination: Option<SuitabilityDetermined>,
    pub withdrawn: Option<ConsultationWithdrawn>,
    pub tenant_id: Option<Uuid>,
    pub latest: Option<DateTime<Utc>>,
}

/// Where a consultation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsultationStatus {
    /// No consultation was opened under this id.
    NotOpened,
    Open,
    Determined,
    Withdrawn,
    /// Determined favourably and linked to the tenant it brought in.
    Linked,
}

impl IndustryConsultation {
    /// Its standing: a withdrawal ends it; a link follows a determination.
    pub fn status(&self) -> ConsultationStatus {
        if self.opened.is_none() {
            ConsultationStatus::NotOpened
        } else if self.withdrawn.is_some() {
            ConsultationStatus::Withdrawn
        } else if self.tenant_id.is_some() {
            ConsultationStatus::Linked
        } else if self.determination.is_some() {
            ConsultationStatus::Determined
        } else {
            ConsultationStatus::Open
        }
    }
}

impl IndustryConsultation {
    /// Refuses a step unless the consultation exists, is not withdrawn, and it is not dated
    /// before the consultation's opening.
    fn require_live(
        &self,
        id: Uuid,
        occurred_at: DateTime<Utc>,
        step: &str,
    ) -> Result<(), DomainError> {
        if self.opened.is_none() {
            return Err(DomainError::NotFound {
                kind: AggregateKind::IndustryConsultation,
                id,
            });
        }
        if self.withdrawn.is_some() {
            return Err(DomainError::rule(
                "consultation_withdrawn",
                format!("the consultation was withdrawn; {step} is no longer possible"),
            ));
        }
        not_before_its(
            self.opened_at,
            occurred_at,
            step,
            "the consultation's opening",
        )
    }

    /// Refuses a step that must come before the determination.
    fn require_undetermined(&self, step: &str) -> Result<(), DomainError> {
        match &self.determination {
            Some(d) => Err(DomainError::rule(
                "consultation_already_determined",
                format!(
                    "the Board already determined this consultation on {}; {step} is no longer possible",
                    d.decided_on
                ),
            )),
            None => Ok(()),
        }
    }
}

impl Aggregate for IndustryConsultation {
    const TYPE: &'static str = "IndustryConsultation";
    type Command = ConsultationCommand;
    type Event = Timed<ConsultationEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: ConsultationCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (occurred_at, body): (_, ConsultationEvent) = match command {
            ConsultationCommand::Open {
                consultation_id,
                occurred_at,
                event,
            } => {
                if self.opened.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::IndustryConsultation,
                        id: consultation_id,
                    });
                }
                let local = crate::time::local_date(occurred_at);
                if event.pollution_level != PollutionLevel::None
                    && local < PollutionLevel::valid_from()
                {
                    return Err(DomainError::rule(
                        "pollution_level_not_yet_valid",
                        format!(
                            "pollution levels of Decree 08/2022 apply from {}; this consultation is dated {local}",
                            PollutionLevel::valid_from()
                        ),
                    ));
                }
                deps.require("park_id", AggregateKind::Park, event.park_id)
                    .await?;
                deps.require(
                    "company_id",
                    AggregateKind::InfrastructureCompany,
                    event.company_id,
                )
                .await?;
                (occurred_at, event.into())
            }
            ConsultationCommand::SubmitOpinion {
                consultation_id,
                occurred_at,
                event,
            } => {
                self.require_live(consultation_id, occurred_at, "an opinion")?;
                self.require_undetermined("an opinion")?;
                (occurred_at, event.into())
            }
            ConsultationCommand::Determine {
                consultation_id,
                occurred_at,
                determination,
                conditions,
                rationale,
                legal_basis,
                decided_on,
                document_no,
            } => {
                self.require_live(consultation_id, occurred_at, "a determination")?;
                self.require_undetermined("a second determination")?;
                let decided_on = act_date("decided_on", decided_on, occurred_at)?;
                match (determination, conditions.is_empty()) {
                    (Suitability::Conditional, true) => {
                        return Err(DomainError::rule(
                            "conditions_required",
                            "a conditional determination must state its conditions",
                        ));
                    }
                    (Suitability::Suitable | Suitability::Unsuitable, false) => {
                        return Err(DomainError::rule(
                            "conditions_only_when_conditional",
                            "only a conditional determination carries conditions",
                        ));
                    }
                    _ => {}
                }
                let event = SuitabilityDetermined {
                    determination,
                    conditions,
                    rationale,
                    legal_basis,
                    decided_on,
                    document_no,
                };
                (occurred_at, event.into())
            }
            ConsultationCommand::Withdraw {
                consultation_id,
                occurred_at,
                event,
            } => {
                self.require_live(consultation_id, occurred_at, "a withdrawal")?;
                self.require_undetermined("a withdrawal")?;
                (occurred_at, event.into())
            }
            ConsultationCommand::LinkToTenant {
                consultation_id,
                occurred_at,
                event,
            } => {
                self.require_live(consultation_id, occurred_at, "linking to a tenant")?;
                match self.determination.as_ref().map(|d| d.determination) {
                    None => {
                        return Err(DomainError::rule(
                            "consultation_not_determined",
                            "a consultation is linked to a tenant only after the Board's determination",
                        ));
                    }
                    Some(Suitability::Unsuitable) => {
                        return Err(DomainError::rule(
                            "consultation_unsuitable",
                            "the industry was determined unsuitable; no tenant can come of it",
                        ));
                    }
                    Some(Suitability::Suitable | Suitability::Conditional) => {}
                }
                if let Some(tenant) = self.tenant_id {
                    return Err(DomainError::rule(
                        "consultation_already_linked",
                        format!("the consultation is already linked to tenant {tenant}"),
                    ));
                }
                deps.require("tenant_id", AggregateKind::Tenant, event.tenant_id)
                    .await?;
                (occurred_at, event.into())
            }
        };
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<ConsultationEvent>) {
        self.latest = self.latest.max(Some(event.occurred_at));
        match event.body {
            ConsultationEvent::ConsultationOpened(e) => {
                self.opened = Some(e);
                self.opened_at = Some(event.occurred_at);
            }
            ConsultationEvent::CompanyOpinionSubmitted(e) => self.opinions.push(e),
            ConsultationEvent::SuitabilityDetermined(e) => self.determination = Some(e),
            ConsultationEvent::ConsultationWithdrawn(e) => self.withdrawn = Some(e),
            ConsultationEvent::ConsultationLinkedToTenant(e) => self.tenant_id = Some(e.tenant_id),
        }
    }
}

impl LedgerAggregate for IndustryConsultation {
    type Body = ConsultationEvent;
    const KIND: AggregateKind = AggregateKind::IndustryConsultation;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        self.opened.as_ref().map(|o| o.park_id)
    }

    fn judged_against_agreements(new: &[Timed<ConsultationEvent>]) -> bool {
        new.iter()
            .any(|e| matches!(e.body, ConsultationEvent::SuitabilityDetermined(_)))
    }

    /// A determination after the `consultation_answer_days` of the agreement governing the park on
    /// the opening's local date (none is judged without an agreement or that level).
    fn judge_against_agreements(
        &self,
        new: &[Timed<ConsultationEvent>],
        rules: &crate::LegalRules,
        agreements: &crate::agreement::AgreementsInForce,
    ) -> Vec<crate::Breach> {
        let Some(opened_at) = self.opened_at else {
            return Vec::new();
        };
        let opened_on = crate::time::local_date(opened_at);
        new.iter()
            .filter_map(|e| match &e.body {
                ConsultationEvent::SuitabilityDetermined(d) => agreements
                    .levels_at(opened_on)
                    .and_then(|(_, levels)| levels.consultation_answer_days)
                    .and_then(|days| {
                        crate::limits::consultation_determined_late(
                            rules,
                            opened_on,
                            d.decided_on,
                            days,
                        )
                    }),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, id, no_deps};

    const COMPANY: u64 = 2;
    const PARK: u64 = 10;
    const TENANT: u64 = 20;
    const CONSULTATION: u64 = 50;

    fn opened() -> ConsultationOpened {
        ConsultationOpened {
            park_id: id(PARK),
            company_id: id(COMPANY),
            prospective_investor: Text::name("Minh Phát Wood Co., Ltd.").unwrap(),
            project: Some(Text::name("Furniture factory").unwrap()),
            vsic_code: VsicCode::parse("1610", "2018").unwrap(),
            pollution_level: PollutionLevel::II,
            capacity: Capacity {
                value: Decimal::parse("12000", 2).unwrap(),
                unit: Text::name("m3 of sawn wood per year").unwrap(),
            },
        }
    }

    fn given_opened() -> Timed<ConsultationEvent> {
        Timed::new(at("2025-05-02T02:00:00Z"), opened())
    }

    fn determined(d: Suitability, conditions: &[&str]) -> SuitabilityDetermined {
        SuitabilityDetermined {
            determination: d,
            conditions: conditions.iter().map(|c| Text::name(c).unwrap()).collect(),
            rationale: Text::body("Wood processing fits the park's planning.").unwrap(),
            legal_basis: Text::name("Decree 35/2022/NĐ-CP").unwrap(),
            decided_on: "2025-05-12".parse().unwrap(),
            document_no: None,
        }
    }

    fn determine(d: Suitability, conditions: &[&str]) -> ConsultationCommand {
        let e = determined(d, conditions);
        ConsultationCommand::Determine {
            consultation_id: id(CONSULTATION),
            occurred_at: at("2025-05-12T03:00:00Z"),
            determination: e.determination,
            conditions: e.conditions,
            rationale: e.rationale,
            legal_basis: e.legal_basis,
            decided_on: None,
            document_no: None,
        }
    }

    fn given_determined(d: Suitability, conditions: &[&str]) -> Timed<ConsultationEvent> {
        Timed::new(at("2025-05-12T03:00:00Z"), determined(d, conditions))
    }

    fn withdrawn() -> Timed<ConsultationEvent> {
        Timed::new(
            at("2025-05-05T02:00:00Z"),
            ConsultationWithdrawn {
                reason: Text::name("the investor chose another province").unwrap(),
            },
        )
    }

    fn link(when: &str) -> ConsultationCommand {
        ConsultationCommand::LinkToTenant {
            consultation_id: id(CONSULTATION),
            occurred_at: at(when),
            event: ConsultationLinkedToTenant {
                tenant_id: id(TENANT),
            },
        }
    }

    fn rule_of<T: std::fmt::Debug>(result: Result<T, DomainError>) -> &'static str {
        match result {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    #[test]
    fn a_consultation_on_a_known_park_is_opened() {
        let deps = deps_with(&[
            (AggregateKind::Park, id(PARK)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
        ]);
        TestFramework::<IndustryConsultation>::with(deps)
            .given_no_previous_events()
            .when(ConsultationCommand::Open {
                consultation_id: id(CONSULTATION),
                occurred_at: at("2025-05-02T02:00:00Z"),
                event: opened(),
            })
            .then_expect_events(vec![given_opened()]);
    }

    #[test]
    fn a_pollution_level_before_decree_08_applies_is_refused() {
        let deps = deps_with(&[
            (AggregateKind::Park, id(PARK)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
        ]);
        let result = TestFramework::<IndustryConsultation>::with(deps)
            .given_no_previous_events()
            .when(ConsultationCommand::Open {
                consultation_id: id(CONSULTATION),
                occurred_at: at("2021-12-01T02:00:00Z"),
                event: opened(),
            })
            .inspect_result();
        assert_eq!(rule_of(result), "pollution_level_not_yet_valid");
    }

    #[test]
    fn a_determination_is_recorded_on_its_local_date() {
        TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![given_opened()])
            .when(determine(
                Suitability::Conditional,
                &["pre-treat to column B"],
            ))
            .then_expect_events(vec![given_determined(
                Suitability::Conditional,
                &["pre-treat to column B"],
            )]);
    }

    #[test]
    fn a_determination_on_a_withdrawn_consultation_is_refused() {
        let result = TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![given_opened(), withdrawn()])
            .when(determine(Suitability::Suitable, &[]))
            .inspect_result();
        assert_eq!(rule_of(result), "consultation_withdrawn");
    }

    #[test]
    fn a_second_determination_is_refused() {
        let result = TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![
                given_opened(),
                given_determined(Suitability::Unsuitable, &[]),
            ])
            .when(determine(Suitability::Suitable, &[]))
            .inspect_result();
        assert_eq!(rule_of(result), "consultation_already_determined");
    }

    #[test]
    fn a_conditional_determination_requires_conditions() {
        let result = TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![given_opened()])
            .when(determine(Suitability::Conditional, &[]))
            .inspect_result();
        assert_eq!(rule_of(result), "conditions_required");
    }

    #[test]
    fn only_a_conditional_determination_carries_conditions() {
        let result = TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![given_opened()])
            .when(determine(Suitability::Suitable, &["some condition"]))
            .inspect_result();
        assert_eq!(rule_of(result), "conditions_only_when_conditional");
    }

    #[test]
    fn a_decided_on_other_than_the_local_date_is_invalid() {
        let mut command = determine(Suitability::Suitable, &[]);
        if let ConsultationCommand::Determine { decided_on, .. } = &mut command {
            *decided_on = Some("2025-05-11".parse().unwrap());
        }
        let result = TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![given_opened()])
            .when(command)
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "decided_on",
                ..
            })
        ));
    }

    #[test]
    fn linking_to_a_tenant_needs_a_favourable_determination() {
        let tenant = deps_with(&[(AggregateKind::Tenant, id(TENANT))]);
        let result = TestFramework::<IndustryConsultation>::with(tenant.clone())
            .given(vec![given_opened()])
            .when(link("2025-06-01T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "consultation_not_determined");
        let result = TestFramework::<IndustryConsultation>::with(tenant.clone())
            .given(vec![
                given_opened(),
                given_determined(Suitability::Unsuitable, &[]),
            ])
            .when(link("2025-06-01T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "consultation_unsuitable");
        TestFramework::<IndustryConsultation>::with(tenant)
            .given(vec![
                given_opened(),
                given_determined(Suitability::Suitable, &[]),
            ])
            .when(link("2025-06-01T02:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-06-01T02:00:00Z"),
                ConsultationLinkedToTenant {
                    tenant_id: id(TENANT),
                },
            )]);
    }

    #[test]
    fn linking_to_an_unknown_tenant_is_refused() {
        let result = TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![
                given_opened(),
                given_determined(Suitability::Suitable, &[]),
            ])
            .when(link("2025-06-01T02:00:00Z"))
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
    fn a_consultation_is_linked_once() {
        let tenant = deps_with(&[(AggregateKind::Tenant, id(TENANT))]);
        let result = TestFramework::<IndustryConsultation>::with(tenant)
            .given(vec![
                given_opened(),
                given_determined(Suitability::Suitable, &[]),
                Timed::new(
                    at("2025-06-01T02:00:00Z"),
                    ConsultationLinkedToTenant {
                        tenant_id: id(TENANT),
                    },
                ),
            ])
            .when(link("2025-06-02T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "consultation_already_linked");
    }

    #[test]
    fn an_opinion_after_the_determination_is_refused() {
        let result = TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![
                given_opened(),
                given_determined(Suitability::Suitable, &[]),
            ])
            .when(ConsultationCommand::SubmitOpinion {
                consultation_id: id(CONSULTATION),
                occurred_at: at("2025-05-13T02:00:00Z"),
                event: CompanyOpinionSubmitted {
                    opinion: Text::body("We support the project.").unwrap(),
                    attachments: vec![],
                },
            })
            .inspect_result();
        assert_eq!(rule_of(result), "consultation_already_determined");
    }

    #[test]
    fn a_determination_before_the_opening_is_refused() {
        let mut command = determine(Suitability::Suitable, &[]);
        if let ConsultationCommand::Determine { occurred_at, .. } = &mut command {
            *occurred_at = at("2025-05-01T02:00:00Z");
        }
        let result = TestFramework::<IndustryConsultation>::with(no_deps())
            .given(vec![given_opened()])
            .when(command)
            .inspect_result();
        assert_eq!(rule_of(result), "business_time_goes_back");
    }

    #[test]
    fn pollution_levels_order_by_severity() {
        assert!(PollutionLevel::I > PollutionLevel::II);
        assert!(PollutionLevel::III > PollutionLevel::None);
    }
}
