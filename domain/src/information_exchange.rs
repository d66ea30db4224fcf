//! The InformationExchange aggregate: one request for information between the Board and a company
//! (either way), its answers and clarifications, until it is closed or withdrawn.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agreement::AgreementsInForce;
use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::time::local_date;
use crate::values::{Sha256Hex, Text};
use crate::{Breach, LegalRules, limits};
use crate::{Deps, DomainError, events};

/// Which kind of organisation a party is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrganisationKind {
    #[serde(rename = "ORGANISATION_KIND_AUTHORITY")]
    Authority,
    #[serde(rename = "ORGANISATION_KIND_INFRASTRUCTURE_COMPANY")]
    InfrastructureCompany,
}

impl OrganisationKind {
    pub fn aggregate(self) -> AggregateKind {
        match self {
            Self::Authority => AggregateKind::Authority,
            Self::InfrastructureCompany => AggregateKind::InfrastructureCompany,
        }
    }
}

/// A party to an exchange: an authority or an infrastructure company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationRef {
    pub kind: OrganisationKind,
    pub id: Uuid,
}

impl OrganisationRef {
    pub fn authority(id: Uuid) -> Self {
        Self {
            kind: OrganisationKind::Authority,
            id,
        }
    }

    pub fn company(id: Uuid) -> Self {
        Self {
            kind: OrganisationKind::InfrastructureCompany,
            id,
        }
    }
}

/// A document attached to an answer, identified by its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: Text,
    pub sha256: Sha256Hex,
}

/// `InformationRequested`: one party asks another for information, optionally by a due time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InformationRequested {
    pub from: OrganisationRef,
    pub to: OrganisationRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub park_id: Option<Uuid>,
    pub subject: Text,
    pub body: Text,
    /// When the answer is due; without it, the agreement in force sets the answer time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}
impl EventPayload for InformationRequested {}

/// `InformationProvided`: an answer, with documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InformationProvided {
    pub body: Text,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}
impl EventPayload for InformationProvided {}

/// `ClarificationRequested`: the requester asks for more after an answer. It does not stop the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClarificationRequested {
    pub question: Text,
}
impl EventPayload for ClarificationRequested {}

/// `ExchangeClosed`: the requester is satisfied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeClosed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}
impl EventPayload for ExchangeClosed {}

/// `ExchangeWithdrawn`: the requester no longer needs the information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeWithdrawn {
    pub reason: Text,
}
impl EventPayload for ExchangeWithdrawn {}

events!(
    /// Events of an information exchange.
    ExchangeEvent {
        InformationRequested,
        InformationProvided,
        ClarificationRequested,
        ExchangeClosed,
        ExchangeWithdrawn,
    }
);

/// Commands on an information exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExchangeCommand {
    Request {
        exchange_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: InformationRequested,
    },
    Provide {
        exchange_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: InformationProvided,
    },
    RequestClarification {
        exchange_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ClarificationRequested,
    },
    Close {
        exchange_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ExchangeClosed,
    },
    Withdraw {
        exchange_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ExchangeWithdrawn,
    },
}

/// Where an exchange stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExchangeStatus {
    #[default]
    NotRequested,
    Open,
    Closed,
    Withdrawn,
}

/// An exchange's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct InformationExchange {
    pub status: ExchangeStatus,
    pub request: Option<InformationRequested>,
    pub requested_at: Option<DateTime<Utc>>,
    pub first_answer_at: Option<DateTime<Utc>>,
    pub answers: u32,
    pub clarifications: u32,
    pub latest: Option<DateTime<Utc>>,
}

impl InformationExchange {
    /// Refuses a step unless the exchange exists and is open, and it is not dated before the
    /// request (an answer, a clarification, closing or withdrawal may be dated before steps
    /// recorded earlier; an answer entered late is judged, not refused).
    fn require_open(
        &self,
        id: Uuid,
        occurred_at: DateTime<Utc>,
        step: &str,
    ) -> Result<(), DomainError> {
        match self.status {
            ExchangeStatus::NotRequested => Err(DomainError::NotFound {
                kind: AggregateKind::InformationExchange,
                id,
            }),
            ExchangeStatus::Withdrawn => Err(DomainError::rule(
                "exchange_withdrawn",
                format!("the request was withdrawn; {step} is no longer possible"),
            )),
            ExchangeStatus::Closed => Err(DomainError::rule(
                "exchange_closed",
                format!("the exchange is closed; {step} is no longer possible"),
            )),
            ExchangeStatus::Open => {
                not_before_its(self.requested_at, occurred_at, step, "the request")
            }
        }
    }
}

impl Aggregate for InformationExchange {
    const TYPE: &'static str = "InformationExchange";
    type Command = ExchangeCommand;
    type Event = Timed<ExchangeEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: ExchangeCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (occurred_at, body): (_, ExchangeEvent) = match command {
            ExchangeCommand::Request {
                exchange_id,
                occurred_at,
                event,
            } => {
                if self.status != ExchangeStatus::NotRequested {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::InformationExchange,
                        id: exchange_id,
                    });
                }
                if event.from == event.to {
                    return Err(DomainError::invalid(
                        "to",
                        "a party cannot request information from itself",
                    ));
                }
                if event.due_at.is_some_and(|due| due <= occurred_at) {
                    return Err(DomainError::invalid(
                        "due_at",
                        "must be after the request's occurred_at",
                    ));
                }
                deps.require("from.id", event.from.kind.aggregate(), event.from.id)
                    .await?;
                deps.require("to.id", event.to.kind.aggregate(), event.to.id)
                    .await?;
                // A succeeded authority neither asks nor is asked: its successor is.
                let on = local_date(occurred_at);
                for (field, party) in [("from.id", &event.from), ("to.id", &event.to)] {
                    if party.kind == OrganisationKind::Authority {
                        deps.require_in_office(field, party.id, on, "an information request")
                            .await?;
                    }
                }
                if let Some(park_id) = event.park_id {
                    deps.require("park_id", AggregateKind::Park, park_id)
                        .await?;
                }
                (occurred_at, event.into())
            }
            ExchangeCommand::Provide {
                exchange_id,
                occurred_at,
                event,
            } => {
                self.require_open(exchange_id, occurred_at, "an answer")?;
                (occurred_at, event.into())
            }
            ExchangeCommand::RequestClarification {
                exchange_id,
                occurred_at,
                event,
            } => {
                self.require_open(exchange_id, occurred_at, "a clarification")?;
                if self.answers == 0 {
                    return Err(DomainError::rule(
                        "nothing_to_clarify",
                        "a clarification follows an answer; this request has none yet",
                    ));
                }
                not_before_its(
                    self.first_answer_at,
                    occurred_at,
                    "a clarification",
                    "the first answer",
                )?;
                (occurred_at, event.into())
            }
            ExchangeCommand::Close {
                exchange_id,
                occurred_at,
                event,
            } => {
                self.require_open(exchange_id, occurred_at, "closing")?;
                if self.answers == 0 {
                    return Err(DomainError::rule(
                        "exchange_unanswered",
                        "an unanswered request cannot be closed; withdraw it instead",
                    ));
                }
                (occurred_at, event.into())
            }
            ExchangeCommand::Withdraw {
                exchange_id,
                occurred_at,
                event,
            } => {
                self.require_open(exchange_id, occurred_at, "withdrawal")?;
                (occurred_at, event.into())
            }
        };
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<ExchangeEvent>) {
        self.latest = self.latest.max(Some(event.occurred_at));
        match event.body {
            ExchangeEvent::InformationRequested(e) => {
                self.status = ExchangeStatus::Open;
                self.request = Some(e);
                self.requested_at = Some(event.occurred_at);
            }
            ExchangeEvent::InformationProvided(_) => {
                self.answers += 1;
                self.first_answer_at = Some(
                    self.first_answer_at
                        .map_or(event.occurred_at, |t| t.min(event.occurred_at)),
                );
            }
            ExchangeEvent::ClarificationRequested(_) => self.clarifications += 1,
            ExchangeEvent::ExchangeClosed(_) => self.status = ExchangeStatus::Closed,
            ExchangeEvent::ExchangeWithdrawn(_) => self.status = ExchangeStatus::Withdrawn,
        }
    }
}

impl LedgerAggregate for InformationExchange {
    type Body = ExchangeEvent;
    const KIND: AggregateKind = AggregateKind::InformationExchange;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        self.request.as_ref().and_then(|r| r.park_id)
    }

    /// The requester asks, clarifies, closes and withdraws; the addressee answers. An authority
    /// that is a party is the acting authority.
    fn acting_for(&self, _id: Uuid, new: &[Timed<ExchangeEvent>]) -> crate::scope::Acting {
        let Some(r) = &self.request else {
            return crate::scope::Acting::default();
        };
        let parties = if new.is_empty() {
            vec![r.from, r.to]
        } else if new
            .iter()
            .any(|e| matches!(e.body, ExchangeEvent::InformationProvided(_)))
        {
            vec![r.to]
        } else {
            vec![r.from]
        };
        let mut acting = crate::scope::Acting::parties(parties, r.park_id);
        acting.authority = [r.from, r.to]
            .into_iter()
            .find(|p| p.kind == OrganisationKind::Authority)
            .map(|p| p.id);
        acting
    }

    /// The first answer to a request with its own due time, after it.
    fn judge(&self, new: &[Timed<ExchangeEvent>], _rules: &LegalRules) -> Vec<Breach> {
        match (
            self.request.as_ref().and_then(|r| r.due_at),
            self.first_answer(new),
        ) {
            (Some(due_at), Some(answered_at)) => limits::answer_due_by_request(due_at)
                .and_then(|due| limits::answered_late(due.late_from, answered_at))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    fn judged_against_agreements(new: &[Timed<ExchangeEvent>]) -> bool {
        new.iter()
            .any(|e| matches!(e.body, ExchangeEvent::InformationProvided(_)))
    }

    /// The first answer to a request without a due time, after the answer days of the agreement in
    /// force for the park on the request's local date (none is judged without a park or an
    /// agreement).
    fn judge_against_agreements(
        &self,
        new: &[Timed<ExchangeEvent>],
        rules: &LegalRules,
        agreements: &AgreementsInForce,
    ) -> Vec<Breach> {
        let (Some(request), Some(requested_at)) = (&self.request, self.requested_at) else {
            return Vec::new();
        };
        if request.due_at.is_some() || request.park_id.is_none() {
            return Vec::new();
        }
        let Some(answered_at) = self.first_answer(new) else {
            return Vec::new();
        };
        let requested_on = local_date(requested_at);
        agreements
            .levels_at(requested_on)
            .and_then(|(_, levels)| {
                limits::answer_due_by_agreement(rules, requested_on, levels.information_answer_days)
            })
            .and_then(|due| limits::answered_late(due.late_from, answered_at))
            .into_iter()
            .collect()
    }
}

impl InformationExchange {
    /// When the new events answer the request for the first time.
    fn first_answer(&self, new: &[Timed<ExchangeEvent>]) -> Option<DateTime<Utc>> {
        if self.first_answer_at.is_some() {
            return None;
        }
        new.iter().find_map(|e| match e.body {
            ExchangeEvent::InformationProvided(_) => Some(e.occurred_at),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, id, no_deps};

    const BOARD: u64 = 1;
    const COMPANY: u64 = 2;
    const PARK: u64 = 10;
    const EXCHANGE: u64 = 30;

    fn org(kind: OrganisationKind, n: u64) -> OrganisationRef {
        OrganisationRef { kind, id: id(n) }
    }

    fn request() -> InformationRequested {
        InformationRequested {
            from: org(OrganisationKind::Authority, BOARD),
            to: org(OrganisationKind::InfrastructureCompany, COMPANY),
            park_id: Some(id(PARK)),
            subject: Text::name("Wastewater plant capacity").unwrap(),
            body: Text::body("Please report the central plant's capacity and load.").unwrap(),
            due_at: Some(at("2025-05-10T10:00:00Z")),
        }
    }

    fn requested() -> Timed<ExchangeEvent> {
        Timed::new(at("2025-05-01T02:00:00Z"), request())
    }

    fn answered() -> Timed<ExchangeEvent> {
        Timed::new(
            at("2025-05-05T02:00:00Z"),
            InformationProvided {
                body: Text::body("5,000 m3/day, at 62%.").unwrap(),
                attachments: vec![],
            },
        )
    }

    fn withdrawn() -> Timed<ExchangeEvent> {
        Timed::new(
            at("2025-05-02T02:00:00Z"),
            ExchangeWithdrawn {
                reason: Text::name("asked in the wrong place").unwrap(),
            },
        )
    }

    fn provide(when: &str) -> ExchangeCommand {
        ExchangeCommand::Provide {
            exchange_id: id(EXCHANGE),
            occurred_at: at(when),
            event: InformationProvided {
                body: Text::body("an answer").unwrap(),
                attachments: vec![],
            },
        }
    }

    #[test]
    fn a_request_between_known_parties_is_recorded() {
        let deps = deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
            (AggregateKind::Park, id(PARK)),
        ]);
        TestFramework::<InformationExchange>::with(deps)
            .given_no_previous_events()
            .when(ExchangeCommand::Request {
                exchange_id: id(EXCHANGE),
                occurred_at: at("2025-05-01T02:00:00Z"),
                event: request(),
            })
            .then_expect_events(vec![requested()]);
    }

    #[test]
    fn a_request_to_an_unknown_company_is_refused() {
        let deps = deps_with(&[(AggregateKind::Authority, id(BOARD))]);
        let result = TestFramework::<InformationExchange>::with(deps)
            .given_no_previous_events()
            .when(ExchangeCommand::Request {
                exchange_id: id(EXCHANGE),
                occurred_at: at("2025-05-01T02:00:00Z"),
                event: request(),
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference { field: "to.id", .. })
        ));
    }

    #[test]
    fn a_withdrawn_request_cannot_be_answered() {
        let result = TestFramework::<InformationExchange>::with(no_deps())
            .given(vec![requested(), withdrawn()])
            .when(provide("2025-05-03T02:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "exchange_withdrawn",
                ..
            })
        ));
    }

    #[test]
    fn an_answer_cannot_precede_the_request() {
        let result = TestFramework::<InformationExchange>::with(no_deps())
            .given(vec![requested()])
            .when(provide("2025-04-30T02:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "business_time_goes_back",
                ..
            })
        ));
    }

    #[test]
    fn an_unanswered_request_cannot_be_closed() {
        let result = TestFramework::<InformationExchange>::with(no_deps())
            .given(vec![requested()])
            .when(ExchangeCommand::Close {
                exchange_id: id(EXCHANGE),
                occurred_at: at("2025-05-03T02:00:00Z"),
                event: ExchangeClosed { note: None },
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "exchange_unanswered",
                ..
            })
        ));
    }

    #[test]
    fn a_clarification_follows_an_answer_and_the_exchange_stays_open() {
        let clarify = ExchangeCommand::RequestClarification {
            exchange_id: id(EXCHANGE),
            occurred_at: at("2025-05-06T02:00:00Z"),
            event: ClarificationRequested {
                question: Text::body("Which month is the load figure for?").unwrap(),
            },
        };
        let result = TestFramework::<InformationExchange>::with(no_deps())
            .given(vec![requested()])
            .when(clarify.clone())
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "nothing_to_clarify",
                ..
            })
        ));

        TestFramework::<InformationExchange>::with(no_deps())
            .given(vec![requested(), answered()])
            .when(clarify)
            .then_expect_events(vec![Timed::new(
                at("2025-05-06T02:00:00Z"),
                ClarificationRequested {
                    question: Text::body("Which month is the load figure for?").unwrap(),
                },
            )]);
    }

    #[test]
    fn a_step_on_an_exchange_never_requested_is_not_found() {
        let result = TestFramework::<InformationExchange>::with(no_deps())
            .given_no_previous_events()
            .when(provide("2025-05-03T02:00:00Z"))
            .inspect_result();
        assert!(matches!(result, Err(DomainError::NotFound { .. })));
    }

    #[test]
    fn a_due_time_before_the_request_is_invalid() {
        let mut req = request();
        req.due_at = Some(at("2025-04-01T00:00:00Z"));
        let result = TestFramework::<InformationExchange>::with(no_deps())
            .given_no_previous_events()
            .when(ExchangeCommand::Request {
                exchange_id: id(EXCHANGE),
                occurred_at: at("2025-05-01T02:00:00Z"),
                event: req,
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "due_at",
                ..
            })
        ));
    }
}
