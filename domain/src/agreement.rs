//! The CoordinationAgreement aggregate: the coordination regulation (*quy chế phối hợp*) signed by the
//! Board and the infrastructure companies, with the service levels every other event is judged
//! against, its amendments, and its replacement by a later regulation.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::information_exchange::OrganisationRef;
use crate::scope::Acting;
use crate::time::local_date;
use crate::values::{DayOfMonth, NotificationHours, ServiceDays, Sha256Hex, Text};
use crate::{Deps, DomainError, events};

/// The date of an act: a catalogue date field (`signed_on`, `held_on`, `decided_on`...) names the
/// local date of the event's `occurred_at`. Left empty, it is that date; given, it must agree.
pub fn act_date(
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

/// What the regulation commits the parties to, in numbers. The law leaves these to the agreement, so
/// each event is judged against the levels in force on its date. Every number is positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLevels {
    /// Hours from an incident's detection to the first notification of the other party.
    pub incident_notification_hours: u32,
    /// Days to answer an information request that names no due time.
    pub information_answer_days: u32,
    /// Days for a company to deliver information on technical and environmental infrastructure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_information_days: Option<u32>,
    /// Days for the Board to determine an industry consultation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consultation_answer_days: Option<u32>,
    /// Day of the month after each quarter by which companies report progress on the annual tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarterly_report_due_day: Option<u32>,
}

impl ServiceLevels {
    /// Refuses a level outside its range ([`NotificationHours`], [`ServiceDays`], [`DayOfMonth`]),
    /// naming the first such field.
    pub fn check(&self) -> Result<(), DomainError> {
        let within = |field, checked: Result<(), crate::values::ValueError>| {
            checked.map_err(|e| DomainError::invalid(field, e.0))
        };
        within(
            "service_levels.incident_notification_hours",
            NotificationHours::parse(self.incident_notification_hours).map(drop),
        )?;
        within(
            "service_levels.information_answer_days",
            ServiceDays::parse(self.information_answer_days).map(drop),
        )?;
        if let Some(v) = self.infrastructure_information_days {
            within(
                "service_levels.infrastructure_information_days",
                ServiceDays::parse(v).map(drop),
            )?;
        }
        if let Some(v) = self.consultation_answer_days {
            within(
                "service_levels.consultation_answer_days",
                ServiceDays::parse(v).map(drop),
            )?;
        }
        if let Some(v) = self.quarterly_report_due_day {
            within(
                "service_levels.quarterly_report_due_day",
                DayOfMonth::parse(v).map(drop),
            )?;
        }
        Ok(())
    }
}

/// `AgreementSigned`: the Board and the companies signed a coordination regulation.
///
/// Schema version 2 added `effective_from`. A version-1 payload has none: the regulations recorded
/// then took effect on signing, so the upcaster reads `effective_from` as `signed_on` (see
/// `docs/adr/0004-schema-evolution.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementSigned {
    pub authority_id: Uuid,
    pub company_ids: Vec<Uuid>,
    /// The regulation's own version or edition (`2025`).
    pub version: Text,
    pub title: Text,
    /// The number of the decision or document that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_no: Option<Text>,
    /// The local date of signature; always the local date of the event's `occurred_at`.
    pub signed_on: NaiveDate,
    /// From when the regulation applies (on or after `signed_on`).
    pub effective_from: NaiveDate,
    pub document_sha256: Sha256Hex,
    pub service_levels: ServiceLevels,
}

impl EventPayload for AgreementSigned {
    const SCHEMA_VERSION: u32 = 2;

    fn upcast(from_version: u32, mut value: serde_json::Value) -> serde_json::Value {
        if from_version < 2
            && let Some(map) = value.as_object_mut()
            && !map.contains_key("effective_from")
            && let Some(signed_on) = map.get("signed_on").cloned()
        {
            map.insert("effective_from".to_owned(), signed_on);
        }
        value
    }
}

/// `AgreementAmended`: new service levels apply from `effective_from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementAmended {
    /// The number of the amending document, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amendment_no: Option<Text>,
    pub service_levels: ServiceLevels,
    pub effective_from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_sha256: Option<Sha256Hex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}
impl EventPayload for AgreementAmended {}

/// `AgreementSuperseded`: from `effective_from` on, the regulation `by` replaces this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementSuperseded {
    pub by: Uuid,
    pub effective_from: NaiveDate,
}
impl EventPayload for AgreementSuperseded {}

events!(
    /// Events of a coordination agreement.
    AgreementEvent {
        AgreementSigned,
        AgreementAmended,
        AgreementSuperseded,
    }
);

/// Commands on a coordination agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgreementCommand {
    Sign {
        agreement_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: AgreementSigned,
    },
    Amend {
        agreement_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: AgreementAmended,
    },
    Supersede {
        agreement_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: AgreementSuperseded,
    },
}

/// An agreement's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CoordinationAgreement {
    pub signed: Option<AgreementSigned>,
    /// `(effective_from, levels)`: the signed levels, then each amendment's, in date order.
    pub service_levels: Vec<(NaiveDate, ServiceLevels)>,
    pub amendments: u32,
    pub superseded: Option<AgreementSuperseded>,
    pub latest: Option<DateTime<Utc>>,
    /// The business time of the record's first event, which every later one follows.
    #[serde(default)]
    pub opened_at: Option<DateTime<Utc>>,
}

impl CoordinationAgreement {
    /// Whether the agreement applies on a local date: signed, effective, and not yet replaced.
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.signed
            .as_ref()
            .is_some_and(|s| s.effective_from <= date)
            && self
                .superseded
                .as_ref()
                .is_none_or(|s| date < s.effective_from)
    }

    /// The service levels that apply on a local date, if the agreement is in force then.
    pub fn service_levels_at(&self, date: NaiveDate) -> Option<&ServiceLevels> {
        if !self.in_force_on(date) {
            return None;
        }
        self.service_levels
            .iter()
            .take_while(|(from, _)| *from <= date)
            .last()
            .map(|(_, levels)| levels)
    }

    fn require(
        &self,
        agreement_id: Uuid,
        occurred_at: DateTime<Utc>,
        step: &str,
    ) -> Result<&AgreementSigned, DomainError> {
        let Some(signed) = &self.signed else {
            return Err(DomainError::NotFound {
                kind: AggregateKind::CoordinationAgreement,
                id: agreement_id,
            });
        };
        not_before_its(self.opened_at, occurred_at, step, "the signature")?;
        Ok(signed)
    }
}

impl Aggregate for CoordinationAgreement {
    const TYPE: &'static str = "CoordinationAgreement";
    type Command = AgreementCommand;
    type Event = Timed<AgreementEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: AgreementCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (occurred_at, body): (_, AgreementEvent) = match command {
            AgreementCommand::Sign {
                agreement_id,
                occurred_at,
                event,
            } => {
                if self.signed.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::CoordinationAgreement,
                        id: agreement_id,
                    });
                }
                act_date("signed_on", Some(event.signed_on), occurred_at)?;
                if event.effective_from < event.signed_on {
                    return Err(DomainError::invalid(
                        "effective_from",
                        "must not be before signed_on",
                    ));
                }
                if event.company_ids.is_empty() {
                    return Err(DomainError::invalid(
                        "company_ids",
                        "at least one infrastructure company signs",
                    ));
                }
                let mut seen = HashSet::new();
                if !event.company_ids.iter().all(|c| seen.insert(*c)) {
                    return Err(DomainError::invalid(
                        "company_ids",
                        "must not name a company twice",
                    ));
                }
                event.service_levels.check()?;
                deps.require_in_office(
                    "authority_id",
                    event.authority_id,
                    event.effective_from,
                    "a coordination agreement taking effect",
                )
                .await?;
                for company in &event.company_ids {
                    deps.require(
                        "company_ids",
                        AggregateKind::InfrastructureCompany,
                        *company,
                    )
                    .await?;
                }
                (occurred_at, event.into())
            }
            AgreementCommand::Amend {
                agreement_id,
                occurred_at,
                event,
            } => {
                self.require(agreement_id, occurred_at, "the amendment")?;
                if let Some(s) = &self.superseded {
                    return Err(DomainError::rule(
                        "agreement_superseded",
                        format!(
                            "the agreement was superseded by {} from {}; amend the one in force",
                            s.by, s.effective_from
                        ),
                    ));
                }
                event.service_levels.check()?;
                if let Some((last, _)) = self.service_levels.last()
                    && event.effective_from <= *last
                {
                    return Err(DomainError::rule(
                        "amendment_not_after_latest",
                        format!(
                            "an amendment effective from {} must come after the latest levels, effective from {last}",
                            event.effective_from
                        ),
                    ));
                }
                (occurred_at, event.into())
            }
            AgreementCommand::Supersede {
                agreement_id,
                occurred_at,
                event,
            } => {
                let signed = self.require(agreement_id, occurred_at, "the replacement")?;
                if let Some(s) = &self.superseded {
                    return Err(DomainError::rule(
                        "agreement_already_superseded",
                        format!(
                            "the agreement was already superseded by {} from {}",
                            s.by, s.effective_from
                        ),
                    ));
                }
                if event.by == agreement_id {
                    return Err(DomainError::invalid(
                        "by",
                        "an agreement cannot supersede itself",
                    ));
                }
                if event.effective_from < signed.effective_from {
                    return Err(DomainError::rule(
                        "superseded_before_effective",
                        format!(
                            "the agreement took effect on {}; it cannot be superseded from {}",
                            signed.effective_from, event.effective_from
                        ),
                    ));
                }
                deps.require("by", AggregateKind::CoordinationAgreement, event.by)
                    .await?;
                (occurred_at, event.into())
            }
        };
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<AgreementEvent>) {
        self.latest = self.latest.max(Some(event.occurred_at));
        self.opened_at = self.opened_at.or(Some(event.occurred_at));
        match event.body {
            AgreementEvent::AgreementSigned(e) => {
                self.service_levels
                    .push((e.effective_from, e.service_levels.clone()));
                self.signed = Some(e);
            }
            AgreementEvent::AgreementAmended(e) => {
                self.amendments += 1;
                self.service_levels
                    .push((e.effective_from, e.service_levels));
            }
            AgreementEvent::AgreementSuperseded(e) => self.superseded = Some(e),
        }
    }
}

/// The coordination agreements that applied to one park over time: which authority and company the
/// park had on a date (its effective-dated jurisdiction and company), every recorded agreement and
/// every recorded authority succession. The governing agreement on a date is decided by
/// [`crate::governing::governing_agreement`] (the same resolver the read models use): a successor
/// inherits its predecessors' agreements until they are superseded. Legal limits set by an
/// agreement are judged with the one in force when the act happened, never today's.
#[derive(Debug, Clone, Default)]
pub struct AgreementsInForce {
    pub park: crate::park::Park,
    pub agreements: Vec<(Uuid, CoordinationAgreement)>,
    pub successions: Vec<crate::governing::SuccessionFact<Uuid>>,
}

impl AgreementsInForce {
    /// The agreement governing the park on a local date, whether it was inherited, and its service
    /// levels then.
    pub fn governing_at(&self, date: NaiveDate) -> Option<(Uuid, bool, &ServiceLevels)> {
        let authority = self.park.jurisdiction_at(date)?;
        let company = self.park.company_at(date)?;
        self.governing_between(authority, company, date)
    }

    /// The agreement governing an authority's duties towards a company on a local date (the
    /// authority followed through its successions), whether it was inherited, and its service
    /// levels then: for an act that names its parties rather than a park, such as an annual task.
    pub fn governing_between(
        &self,
        authority: Uuid,
        company: Uuid,
        date: NaiveDate,
    ) -> Option<(Uuid, bool, &ServiceLevels)> {
        let facts: Vec<_> = self
            .agreements
            .iter()
            .filter_map(|(id, a)| {
                let signed = a.signed.as_ref()?;
                Some(crate::governing::AgreementFact {
                    agreement_id: *id,
                    authority_id: signed.authority_id,
                    company_ids: signed.company_ids.clone(),
                    effective_from: signed.effective_from,
                    superseded_from: a.superseded.as_ref().map(|s| s.effective_from),
                })
            })
            .collect();
        let g = crate::governing::governing_agreement(
            &authority,
            &company,
            date,
            &facts,
            &self.successions,
        )?;
        let (_, agreement) = self
            .agreements
            .iter()
            .find(|(id, _)| *id == g.agreement_id)?;
        agreement
            .service_levels_at(date)
            .map(|levels| (g.agreement_id, g.inherited, levels))
    }

    /// The agreement governing the park on a local date, with its service levels then.
    pub fn levels_at(&self, date: NaiveDate) -> Option<(Uuid, &ServiceLevels)> {
        self.governing_at(date).map(|(id, _, levels)| (id, levels))
    }
}

impl LedgerAggregate for CoordinationAgreement {
    type Body = AgreementEvent;
    const KIND: AggregateKind = AggregateKind::CoordinationAgreement;

    /// An agreement binds an authority and several companies, not one park.
    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        None
    }

    /// Signed, amended and superseded by one of its parties; its authority acts.
    fn acting_for(&self, _id: Uuid, _new: &[Timed<AgreementEvent>]) -> Acting {
        let Some(signed) = &self.signed else {
            return Acting::default();
        };
        let mut parties = vec![OrganisationRef::authority(signed.authority_id)];
        parties.extend(
            signed
                .company_ids
                .iter()
                .map(|c| OrganisationRef::company(*c)),
        );
        Acting::parties(parties, None)
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::EventBody;
    use crate::testing::{at, deps_with, id, no_deps};

    const BOARD: u64 = 1;
    const COMPANY: u64 = 2;
    const AGREEMENT: u64 = 40;
    const NEXT_AGREEMENT: u64 = 41;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn levels(hours: u32) -> ServiceLevels {
        ServiceLevels {
            incident_notification_hours: hours,
            information_answer_days: 7,
            infrastructure_information_days: Some(10),
            consultation_answer_days: Some(15),
            quarterly_report_due_day: Some(10),
        }
    }

    fn signed() -> AgreementSigned {
        AgreementSigned {
            authority_id: id(BOARD),
            company_ids: vec![id(COMPANY)],
            version: Text::name("2025").unwrap(),
            title: Text::name("Quy chế phối hợp bảo vệ môi trường các KCN").unwrap(),
            document_no: Some(Text::name("01/QCPH-BQL").unwrap()),
            signed_on: date("2025-04-11"),
            effective_from: date("2025-04-11"),
            document_sha256: Sha256Hex::parse(&"ab".repeat(32)).unwrap(),
            service_levels: levels(2),
        }
    }

    fn given_signed() -> Timed<AgreementEvent> {
        Timed::new(at("2025-04-11T02:00:00Z"), signed())
    }

    fn parties() -> Deps {
        deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
            (AggregateKind::CoordinationAgreement, id(NEXT_AGREEMENT)),
        ])
    }

    fn sign(event: AgreementSigned) -> AgreementCommand {
        AgreementCommand::Sign {
            agreement_id: id(AGREEMENT),
            occurred_at: at("2025-04-11T02:00:00Z"),
            event,
        }
    }

    fn amended(from: &str) -> AgreementAmended {
        AgreementAmended {
            amendment_no: None,
            service_levels: levels(1),
            effective_from: date(from),
            document_sha256: None,
            reason: Some(Text::name("faster incident notification").unwrap()),
        }
    }

    fn amend(from: &str, when: &str) -> AgreementCommand {
        AgreementCommand::Amend {
            agreement_id: id(AGREEMENT),
            occurred_at: at(when),
            event: amended(from),
        }
    }

    fn superseded() -> AgreementSuperseded {
        AgreementSuperseded {
            by: id(NEXT_AGREEMENT),
            effective_from: date("2025-08-01"),
        }
    }

    fn supersede(when: &str) -> AgreementCommand {
        AgreementCommand::Supersede {
            agreement_id: id(AGREEMENT),
            occurred_at: at(when),
            event: superseded(),
        }
    }

    fn rule_of<T: std::fmt::Debug>(result: Result<T, DomainError>) -> &'static str {
        match result {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    #[test]
    fn an_agreement_between_known_parties_is_signed() {
        TestFramework::<CoordinationAgreement>::with(parties())
            .given_no_previous_events()
            .when(sign(signed()))
            .then_expect_events(vec![given_signed()]);
    }

    #[test]
    fn an_agreement_is_signed_once() {
        let result = TestFramework::<CoordinationAgreement>::with(parties())
            .given(vec![given_signed()])
            .when(sign(signed()))
            .inspect_result();
        assert!(matches!(result, Err(DomainError::AlreadyExists { .. })));
    }

    #[test]
    fn a_signature_names_the_local_date_of_its_time() {
        let mut event = signed();
        event.signed_on = date("2025-04-10");
        let result = TestFramework::<CoordinationAgreement>::with(parties())
            .given_no_previous_events()
            .when(sign(event))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "signed_on",
                ..
            })
        ));
    }

    #[test]
    fn service_levels_must_be_positive() {
        let mut event = signed();
        event.service_levels.information_answer_days = 0;
        let result = TestFramework::<CoordinationAgreement>::with(parties())
            .given_no_previous_events()
            .when(sign(event))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "service_levels.information_answer_days",
                ..
            })
        ));
        let result = TestFramework::<CoordinationAgreement>::with(parties())
            .given(vec![given_signed()])
            .when(AgreementCommand::Amend {
                agreement_id: id(AGREEMENT),
                occurred_at: at("2025-06-01T02:00:00Z"),
                event: AgreementAmended {
                    service_levels: levels(0),
                    ..amended("2025-06-01")
                },
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "service_levels.incident_notification_hours",
                ..
            })
        ));
    }

    #[test]
    fn an_agreement_with_an_unknown_company_is_refused() {
        let deps = deps_with(&[(AggregateKind::Authority, id(BOARD))]);
        let result = TestFramework::<CoordinationAgreement>::with(deps)
            .given_no_previous_events()
            .when(sign(signed()))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "company_ids",
                ..
            })
        ));
    }

    #[test]
    fn an_amendment_applies_new_levels_from_its_date() {
        TestFramework::<CoordinationAgreement>::with(no_deps())
            .given(vec![given_signed()])
            .when(amend("2025-06-01", "2025-05-20T02:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-05-20T02:00:00Z"),
                amended("2025-06-01"),
            )]);
        let mut agreement = CoordinationAgreement::default();
        agreement.apply(given_signed());
        agreement.apply(Timed::new(
            at("2025-05-20T02:00:00Z"),
            amended("2025-06-01"),
        ));
        let hours = |d| {
            agreement
                .service_levels_at(date(d))
                .map(|l| l.incident_notification_hours)
        };
        assert_eq!(hours("2025-04-10"), None);
        assert_eq!(hours("2025-05-31"), Some(2));
        assert_eq!(hours("2025-06-01"), Some(1));
    }

    #[test]
    fn an_amendment_cannot_backdate_before_the_latest_levels() {
        let result = TestFramework::<CoordinationAgreement>::with(no_deps())
            .given(vec![given_signed()])
            .when(amend("2025-04-01", "2025-05-20T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "amendment_not_after_latest");
    }

    #[test]
    fn a_superseded_agreement_cannot_be_amended() {
        let result = TestFramework::<CoordinationAgreement>::with(no_deps())
            .given(vec![
                given_signed(),
                Timed::new(at("2025-07-30T02:00:00Z"), superseded()),
            ])
            .when(amend("2025-09-01", "2025-08-20T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "agreement_superseded");
    }

    #[test]
    fn an_agreement_is_superseded_once_by_an_existing_agreement() {
        TestFramework::<CoordinationAgreement>::with(parties())
            .given(vec![given_signed()])
            .when(supersede("2025-07-30T02:00:00Z"))
            .then_expect_events(vec![Timed::new(at("2025-07-30T02:00:00Z"), superseded())]);
        let result = TestFramework::<CoordinationAgreement>::with(parties())
            .given(vec![
                given_signed(),
                Timed::new(at("2025-07-30T02:00:00Z"), superseded()),
            ])
            .when(supersede("2025-08-30T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "agreement_already_superseded");
        let result = TestFramework::<CoordinationAgreement>::with(no_deps())
            .given(vec![given_signed()])
            .when(supersede("2025-07-30T02:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference { field: "by", .. })
        ));
    }

    #[test]
    fn an_agreement_is_not_superseded_before_it_took_effect() {
        let result = TestFramework::<CoordinationAgreement>::with(parties())
            .given(vec![given_signed()])
            .when(AgreementCommand::Supersede {
                agreement_id: id(AGREEMENT),
                occurred_at: at("2025-07-30T02:00:00Z"),
                event: AgreementSuperseded {
                    by: id(NEXT_AGREEMENT),
                    effective_from: date("2025-04-01"),
                },
            })
            .inspect_result();
        assert_eq!(rule_of(result), "superseded_before_effective");
    }

    #[test]
    fn a_signature_names_each_company_once_and_takes_effect_no_earlier_than_signed() {
        let mut twice = signed();
        twice.company_ids.push(id(COMPANY));
        let result = TestFramework::<CoordinationAgreement>::with(parties())
            .given_no_previous_events()
            .when(sign(twice))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "company_ids",
                ..
            })
        ));
        let mut early = signed();
        early.effective_from = date("2025-04-01");
        let result = TestFramework::<CoordinationAgreement>::with(parties())
            .given_no_previous_events()
            .when(sign(early))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "effective_from",
                ..
            })
        ));
    }

    #[test]
    fn a_superseded_agreement_is_not_in_force_from_the_replacement_date() {
        let mut agreement = CoordinationAgreement::default();
        agreement.apply(given_signed());
        agreement.apply(Timed::new(at("2025-07-30T02:00:00Z"), superseded()));
        assert!(agreement.in_force_on(date("2025-07-31")));
        assert!(!agreement.in_force_on(date("2025-08-01")));
        assert!(agreement.service_levels_at(date("2025-08-01")).is_none());
    }

    #[test]
    fn a_step_going_back_in_business_time_is_refused() {
        let result = TestFramework::<CoordinationAgreement>::with(no_deps())
            .given(vec![given_signed()])
            .when(amend("2025-06-01", "2025-04-10T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "business_time_goes_back");
    }

    #[test]
    fn a_version_one_signature_is_read_with_its_signing_date_as_effective_date() {
        let v1 = serde_json::json!({
            "authority_id": id(BOARD),
            "company_ids": [id(COMPANY)],
            "version": "2025",
            "title": "Quy chế phối hợp",
            "signed_on": "2025-04-11",
            "document_sha256": "ab".repeat(32),
            "service_levels": {"incident_notification_hours": 2, "information_answer_days": 7}
        });
        let bytes = serde_json::to_vec(&v1).unwrap();
        let AgreementEvent::AgreementSigned(e) =
            AgreementEvent::from_payload("AgreementSigned", 1, &bytes).unwrap()
        else {
            panic!("an AgreementSigned payload reads as AgreementSigned");
        };
        assert_eq!(e.effective_from, date("2025-04-11"));
        assert_eq!(e.service_levels.infrastructure_information_days, None);
        assert!(
            AgreementEvent::from_payload("AgreementSigned", 2, &bytes).is_err(),
            "without the upcaster the old shape does not read"
        );
    }
}
