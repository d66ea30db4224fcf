//! The AdministrativeProcedure aggregate: one dossier an enterprise files with the Board under an
//! administrative procedure, from receipt to decision, so that the days each took can be counted
//! against the processing time the regulation promises.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agreement::act_date;
use crate::deps::{Breach, LegalRules};
use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::limits;
use crate::values::Text;
use crate::{Deps, DomainError, events};

/// How a dossier was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DossierOutcome {
    #[serde(rename = "DOSSIER_OUTCOME_APPROVED")]
    Approved,
    #[serde(rename = "DOSSIER_OUTCOME_REJECTED")]
    Rejected,
    /// Returned to the enterprise as incomplete.
    #[serde(rename = "DOSSIER_OUTCOME_RETURNED")]
    Returned,
}

/// `DossierReceived`: the authority received a tenant's dossier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DossierReceived {
    /// The procedure, by its code in the national database of administrative procedures.
    pub procedure_code: Text,
    pub authority_id: Uuid,
    pub tenant_id: Uuid,
    pub park_id: Uuid,
    /// The authority's own reference for the dossier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dossier_no: Option<Text>,
    /// The local date of receipt; always the local date of the event's `occurred_at`.
    pub received_on: NaiveDate,
    /// The processing time the regulation promises for this procedure, in days, when it sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_days: Option<u32>,
}
impl EventPayload for DossierReceived {}

/// `DossierDecided`: the dossier was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DossierDecided {
    pub outcome: DossierOutcome,
    /// The local date of the decision; always the local date of the event's `occurred_at`.
    pub decided_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_no: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}
impl EventPayload for DossierDecided {}

events!(
    /// Events of an administrative procedure.
    ProcedureEvent {
        DossierReceived,
        DossierDecided,
    }
);

/// Commands on a dossier. Dates left empty are the local date of `occurred_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProcedureCommand {
    Receive {
        dossier_id: Uuid,
        occurred_at: DateTime<Utc>,
        procedure_code: Text,
        authority_id: Uuid,
        tenant_id: Uuid,
        park_id: Uuid,
        dossier_no: Option<Text>,
        received_on: Option<NaiveDate>,
        promised_days: Option<u32>,
    },
    Decide {
        dossier_id: Uuid,
        occurred_at: DateTime<Utc>,
        outcome: DossierOutcome,
        decided_on: Option<NaiveDate>,
        decision_no: Option<Text>,
        note: Option<Text>,
    },
}

/// A dossier's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AdministrativeProcedure {
    pub received: Option<DossierReceived>,
    pub decided: Option<DossierDecided>,
    pub latest: Option<DateTime<Utc>>,
    /// The business time of the record's first event, which every later one follows.
    #[serde(default)]
    pub opened_at: Option<DateTime<Utc>>,
}

impl AdministrativeProcedure {
    /// Working days from receipt to decision (the working days after the received local date up
    /// to the decided one): administrative procedures count working days.
    pub fn processing_days(&self, rules: &LegalRules) -> Option<i64> {
        Some(limits::dossier_days(
            rules,
            self.received.as_ref()?.received_on,
            self.decided.as_ref()?.decided_on,
        ))
    }
}

impl Aggregate for AdministrativeProcedure {
    const TYPE: &'static str = "AdministrativeProcedure";
    type Command = ProcedureCommand;
    type Event = Timed<ProcedureEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: ProcedureCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (occurred_at, body): (_, ProcedureEvent) = match command {
            ProcedureCommand::Receive {
                dossier_id,
                occurred_at,
                procedure_code,
                authority_id,
                tenant_id,
                park_id,
                dossier_no,
                received_on,
                promised_days,
            } => {
                if self.received.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::AdministrativeProcedure,
                        id: dossier_id,
                    });
                }
                let received_on = act_date("received_on", received_on, occurred_at)?;
                if promised_days == Some(0) {
                    return Err(DomainError::invalid(
                        "promised_days",
                        "must be positive when given",
                    ));
                }
                deps.require_in_office(
                    "authority_id",
                    authority_id,
                    received_on,
                    "a dossier received",
                )
                .await?;
                deps.require("tenant_id", AggregateKind::Tenant, tenant_id)
                    .await?;
                deps.require("park_id", AggregateKind::Park, park_id)
                    .await?;
                let event = DossierReceived {
                    procedure_code,
                    authority_id,
                    tenant_id,
                    park_id,
                    dossier_no,
                    received_on,
                    promised_days,
                };
                (occurred_at, event.into())
            }
            ProcedureCommand::Decide {
                dossier_id,
                occurred_at,
                outcome,
                decided_on,
                decision_no,
                note,
            } => {
                let Some(received) = &self.received else {
                    return Err(DomainError::NotFound {
                        kind: AggregateKind::AdministrativeProcedure,
                        id: dossier_id,
                    });
                };
                if let Some(earlier) = &self.decided {
                    return Err(DomainError::rule(
                        "dossier_already_decided",
                        format!("the dossier was already decided on {}", earlier.decided_on),
                    ));
                }
                let decided_on = act_date("decided_on", decided_on, occurred_at)?;
                if decided_on < received.received_on {
                    return Err(DomainError::rule(
                        "decided_before_received",
                        format!(
                            "a decision on {decided_on} would precede the receipt on {}",
                            received.received_on
                        ),
                    ));
                }
                not_before_its(
                    self.opened_at,
                    occurred_at,
                    "the decision",
                    "the dossier's receipt",
                )?;
                let event = DossierDecided {
                    outcome,
                    decided_on,
                    decision_no,
                    note,
                };
                (occurred_at, event.into())
            }
        };
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<ProcedureEvent>) {
        self.latest = self.latest.max(Some(event.occurred_at));
        self.opened_at = self.opened_at.or(Some(event.occurred_at));
        match event.body {
            ProcedureEvent::DossierReceived(e) => self.received = Some(e),
            ProcedureEvent::DossierDecided(e) => self.decided = Some(e),
        }
    }
}

impl LedgerAggregate for AdministrativeProcedure {
    type Body = ProcedureEvent;
    const KIND: AggregateKind = AggregateKind::AdministrativeProcedure;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        self.received.as_ref().map(|r| r.park_id)
    }

    /// The receiving authority receives and decides the dossier, and is its acting authority.
    fn acting_for(&self, _id: Uuid, _new: &[Timed<ProcedureEvent>]) -> crate::scope::Acting {
        match &self.received {
            Some(r) => crate::scope::Acting::parties(
                vec![crate::information_exchange::OrganisationRef::authority(
                    r.authority_id,
                )],
                Some(r.park_id),
            ),
            None => crate::scope::Acting::default(),
        }
    }

    /// A decision that took longer than the processing time promised at receipt (in working days)
    /// is named.
    fn judge(&self, new: &[Timed<ProcedureEvent>], rules: &LegalRules) -> Vec<Breach> {
        let Some(received) = &self.received else {
            return Vec::new();
        };
        let Some(promised) = received.promised_days else {
            return Vec::new();
        };
        new.iter()
            .filter_map(|e| match &e.body {
                ProcedureEvent::DossierDecided(d) => limits::dossier_decided_late(
                    rules,
                    received.procedure_code.as_str(),
                    promised,
                    received.received_on,
                    d.decided_on,
                ),
                ProcedureEvent::DossierReceived(_) => None,
            })
            .collect()
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
    const DOSSIER: u64 = 80;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn received() -> Timed<ProcedureEvent> {
        Timed::new(
            at("2025-03-03T02:00:00Z"),
            DossierReceived {
                procedure_code: Text::name("1.009775").unwrap(),
                authority_id: id(BOARD),
                tenant_id: id(TENANT),
                park_id: id(PARK),
                dossier_no: None,
                received_on: date("2025-03-03"),
                promised_days: Some(15),
            },
        )
    }

    fn decide(when: &str, decided_on: Option<&str>) -> ProcedureCommand {
        ProcedureCommand::Decide {
            dossier_id: id(DOSSIER),
            occurred_at: at(when),
            outcome: DossierOutcome::Approved,
            decided_on: decided_on.map(date),
            decision_no: None,
            note: None,
        }
    }

    fn decided(when: &str, on: &str) -> Timed<ProcedureEvent> {
        Timed::new(
            at(when),
            DossierDecided {
                outcome: DossierOutcome::Approved,
                decided_on: date(on),
                decision_no: None,
                note: None,
            },
        )
    }

    fn rule_of<T: std::fmt::Debug>(result: Result<T, DomainError>) -> &'static str {
        match result {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    #[test]
    fn a_dossier_from_a_known_tenant_is_received() {
        let deps = deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::Tenant, id(TENANT)),
            (AggregateKind::Park, id(PARK)),
        ]);
        TestFramework::<AdministrativeProcedure>::with(deps)
            .given_no_previous_events()
            .when(ProcedureCommand::Receive {
                dossier_id: id(DOSSIER),
                occurred_at: at("2025-03-03T02:00:00Z"),
                procedure_code: Text::name("1.009775").unwrap(),
                authority_id: id(BOARD),
                tenant_id: id(TENANT),
                park_id: id(PARK),
                dossier_no: None,
                received_on: Some(date("2025-03-03")),
                promised_days: Some(15),
            })
            .then_expect_events(vec![received()]);
    }

    #[test]
    fn a_dossier_is_decided_once() {
        let result = TestFramework::<AdministrativeProcedure>::with(no_deps())
            .given(vec![
                received(),
                decided("2025-03-10T02:00:00Z", "2025-03-10"),
            ])
            .when(decide("2025-03-11T02:00:00Z", None))
            .inspect_result();
        assert_eq!(rule_of(result), "dossier_already_decided");
    }

    #[test]
    fn a_decision_dated_before_the_receipt_is_refused() {
        let result = TestFramework::<AdministrativeProcedure>::with(no_deps())
            .given(vec![received()])
            .when(decide("2025-03-01T02:00:00Z", None))
            .inspect_result();
        assert_eq!(rule_of(result), "decided_before_received");
    }

    #[test]
    fn a_decision_earlier_the_same_day_as_the_receipt_is_refused() {
        let result = TestFramework::<AdministrativeProcedure>::with(no_deps())
            .given(vec![received()])
            .when(decide("2025-03-03T01:00:00Z", None))
            .inspect_result();
        assert_eq!(rule_of(result), "business_time_goes_back");
    }

    #[test]
    fn a_decided_on_other_than_the_local_date_is_invalid() {
        let result = TestFramework::<AdministrativeProcedure>::with(no_deps())
            .given(vec![received()])
            .when(decide("2025-03-10T20:00:00Z", Some("2025-03-10")))
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
    fn a_decision_within_the_promised_days_breaches_nothing() {
        TestFramework::<AdministrativeProcedure>::with(no_deps())
            .given(vec![received()])
            .when(decide("2025-03-18T02:00:00Z", None))
            .then_expect_events(vec![decided("2025-03-18T02:00:00Z", "2025-03-18")]);
        let mut dossier = AdministrativeProcedure::default();
        dossier.apply(received());
        let on_time = [decided("2025-03-18T02:00:00Z", "2025-03-18")];
        assert!(dossier.judge(&on_time, &LegalRules::default()).is_empty());
    }

    #[test]
    fn a_decision_after_the_promised_days_is_judged_late() {
        let mut dossier = AdministrativeProcedure::default();
        dossier.apply(received());
        // Received Monday 3 March 2025 with 15 working days promised: due Monday 24 March.
        let on_the_day = [decided("2025-03-24T02:00:00Z", "2025-03-24")];
        assert!(
            dossier
                .judge(&on_the_day, &LegalRules::default())
                .is_empty()
        );
        let late = [decided("2025-03-25T02:00:00Z", "2025-03-25")];
        let breaches = dossier.judge(&late, &LegalRules::default());
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0].limit, "dossier_decided_late");
        assert_eq!(
            breaches[0].detail,
            "procedure 1.009775 promises 15 working days; the dossier took 16 (received 2025-03-03, decided 2025-03-25)"
        );
        dossier.apply(late[0].clone());
        assert_eq!(dossier.processing_days(&LegalRules::default()), Some(16));
    }

    #[test]
    fn a_decision_on_a_dossier_never_received_is_not_found() {
        let result = TestFramework::<AdministrativeProcedure>::with(no_deps())
            .given_no_previous_events()
            .when(decide("2025-03-10T02:00:00Z", None))
            .inspect_result();
        assert!(matches!(result, Err(DomainError::NotFound { .. })));
    }
}
