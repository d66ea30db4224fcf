//! The Authority aggregate: a public body with duties under the regulation (the Board, and after the
//! 2025 merger the city's Export-Processing and Industrial Zones Management Board).

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::values::Text;
use crate::{Deps, DomainError, events};

/// What kind of body an authority is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthorityKind {
    #[serde(rename = "AUTHORITY_KIND_INDUSTRIAL_PARKS_BOARD")]
    IndustrialParksBoard,
    #[serde(rename = "AUTHORITY_KIND_EXPORT_PROCESSING_AND_INDUSTRIAL_ZONES_BOARD")]
    ExportProcessingAndIndustrialZonesBoard,
    #[serde(rename = "AUTHORITY_KIND_PEOPLES_COMMITTEE")]
    PeoplesCommittee,
    #[serde(rename = "AUTHORITY_KIND_ENVIRONMENT_DEPARTMENT")]
    EnvironmentDepartment,
    #[serde(rename = "AUTHORITY_KIND_OTHER")]
    Other,
}

/// `AuthorityEstablished`: a body came into being with a jurisdiction, by a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorityEstablished {
    pub name: Text,
    pub kind: AuthorityKind,
    /// The area it has jurisdiction over, in words (`Bình Dương province`).
    pub jurisdiction: Text,
    pub decision_no: Text,
    pub effective_from: NaiveDate,
}
impl EventPayload for AuthorityEstablished {}

/// `AuthoritySucceeded`: from `effective_date` (a local date) on, `successor` takes over the duties of
/// `predecessors`. It is recorded on the stream of each predecessor, so that every authority's own
/// history says when it ended. It moves no park by itself: each park's new jurisdiction is its own
/// `JurisdictionAssigned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthoritySucceeded {
    /// Every authority merged in this succession, this one included.
    pub predecessors: Vec<Uuid>,
    pub successor: Uuid,
    pub effective_date: NaiveDate,
    /// The act that decided it (`Resolution 1234/NQ-UBTVQH15`).
    pub legal_basis: Text,
}
impl EventPayload for AuthoritySucceeded {}

events!(
    /// Events of an authority.
    AuthorityEvent {
        AuthorityEstablished,
        AuthoritySucceeded,
    }
);

/// Commands on an authority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuthorityCommand {
    Establish {
        authority_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: AuthorityEstablished,
    },
    /// Records that this authority (one of the event's predecessors) was succeeded.
    Succeed {
        authority_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: AuthoritySucceeded,
    },
}

/// An authority's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Authority {
    pub established: Option<AuthorityEstablished>,
    pub succeeded: Option<AuthoritySucceeded>,
    pub latest: Option<DateTime<Utc>>,
    /// The business time of the record's first event, which every later one follows.
    #[serde(default)]
    pub opened_at: Option<DateTime<Utc>>,
}

impl Authority {
    /// The local date from which this authority has been succeeded, if it has been.
    pub fn succeeded_on(&self) -> Option<NaiveDate> {
        self.succeeded.as_ref().map(|s| s.effective_date)
    }

    /// Refuses a succession that is incoherent on its face or with this authority's history.
    async fn check_succession(
        &self,
        authority_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: &AuthoritySucceeded,
        deps: &Deps,
    ) -> Result<(), DomainError> {
        let Some(established) = &self.established else {
            return Err(DomainError::NotFound {
                kind: AggregateKind::Authority,
                id: authority_id,
            });
        };
        not_before_its(
            self.opened_at,
            occurred_at,
            "the succession",
            "the establishment",
        )?;
        if !event.predecessors.contains(&authority_id) {
            return Err(DomainError::invalid(
                "predecessors",
                "must include the authority being succeeded",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if !event.predecessors.iter().all(|p| seen.insert(*p)) {
            return Err(DomainError::invalid(
                "predecessors",
                "must not name an authority twice",
            ));
        }
        if event.predecessors.contains(&event.successor) {
            return Err(DomainError::invalid(
                "successor",
                "an authority cannot succeed itself",
            ));
        }
        if let Some(earlier) = &self.succeeded {
            return Err(DomainError::rule(
                "authority_already_succeeded",
                format!(
                    "this authority was already succeeded by {} from {}",
                    earlier.successor, earlier.effective_date
                ),
            ));
        }
        if event.effective_date < established.effective_from {
            return Err(DomainError::rule(
                "succession_before_establishment",
                format!(
                    "a succession effective {} would precede the authority's establishment, effective {}",
                    event.effective_date, established.effective_from
                ),
            ));
        }
        for predecessor in &event.predecessors {
            deps.require("predecessors", AggregateKind::Authority, *predecessor)
                .await?;
        }
        deps.require("successor", AggregateKind::Authority, event.successor)
            .await
    }
}

impl Aggregate for Authority {
    const TYPE: &'static str = "Authority";
    type Command = AuthorityCommand;
    type Event = Timed<AuthorityEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: AuthorityCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            AuthorityCommand::Establish {
                authority_id,
                occurred_at,
                event,
            } => {
                if self.established.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::Authority,
                        id: authority_id,
                    });
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            AuthorityCommand::Succeed {
                authority_id,
                occurred_at,
                event,
            } => {
                self.check_succession(authority_id, occurred_at, &event, deps)
                    .await?;
                sink.write(Timed::new(occurred_at, event), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Timed<AuthorityEvent>) {
        self.latest = self.latest.max(Some(event.occurred_at));
        self.opened_at = self.opened_at.or(Some(event.occurred_at));
        match event.body {
            AuthorityEvent::AuthorityEstablished(e) => self.established = Some(e),
            AuthorityEvent::AuthoritySucceeded(e) => self.succeeded = Some(e),
        }
    }
}

impl LedgerAggregate for Authority {
    type Body = AuthorityEvent;
    const KIND: AggregateKind = AggregateKind::Authority;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        None
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, id, no_deps};

    fn established() -> AuthorityEstablished {
        AuthorityEstablished {
            name: Text::name("Ban quản lý các khu công nghiệp Bình Dương").unwrap(),
            kind: AuthorityKind::IndustrialParksBoard,
            jurisdiction: Text::name("Bình Dương").unwrap(),
            decision_no: Text::name("QĐ-01/2006").unwrap(),
            effective_from: NaiveDate::from_ymd_opt(2006, 1, 1).unwrap(),
        }
    }

    fn establish() -> AuthorityCommand {
        AuthorityCommand::Establish {
            authority_id: id(1),
            occurred_at: at("2025-04-11T02:30:00Z"),
            event: established(),
        }
    }

    #[test]
    fn establishing_an_authority_records_it() {
        TestFramework::<Authority>::with(no_deps())
            .given_no_previous_events()
            .when(establish())
            .then_expect_events(vec![Timed::new(at("2025-04-11T02:30:00Z"), established())]);
    }

    #[test]
    fn an_authority_cannot_be_established_twice() {
        let result = TestFramework::<Authority>::with(no_deps())
            .given(vec![Timed::new(at("2025-04-11T02:30:00Z"), established())])
            .when(establish())
            .inspect_result();
        assert!(matches!(result, Err(DomainError::AlreadyExists { .. })));
    }

    const BOARD: u64 = 1;
    const OTHER_BOARD: u64 = 2;
    const CITY_BOARD: u64 = 3;

    fn succession() -> AuthoritySucceeded {
        AuthoritySucceeded {
            predecessors: vec![id(BOARD), id(OTHER_BOARD)],
            successor: id(CITY_BOARD),
            effective_date: NaiveDate::from_ymd_opt(2025, 7, 28).unwrap(),
            legal_basis: Text::name("Quyết định 1234/QĐ-UBND").unwrap(),
        }
    }

    fn succeed(event: AuthoritySucceeded) -> AuthorityCommand {
        AuthorityCommand::Succeed {
            authority_id: id(BOARD),
            occurred_at: at("2025-07-28T03:00:00Z"),
            event,
        }
    }

    fn all_authorities() -> Deps {
        deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::Authority, id(OTHER_BOARD)),
            (AggregateKind::Authority, id(CITY_BOARD)),
        ])
    }

    fn given_established() -> Vec<Timed<AuthorityEvent>> {
        vec![Timed::new(at("2025-04-11T02:30:00Z"), established())]
    }

    #[test]
    fn an_authority_is_succeeded_by_an_existing_successor() {
        TestFramework::<Authority>::with(all_authorities())
            .given(given_established())
            .when(succeed(succession()))
            .then_expect_events(vec![Timed::new(at("2025-07-28T03:00:00Z"), succession())]);
    }

    #[test]
    fn an_authority_cannot_be_succeeded_twice() {
        let mut events = given_established();
        events.push(Timed::new(at("2025-07-28T03:00:00Z"), succession()));
        let result = TestFramework::<Authority>::with(all_authorities())
            .given(events)
            .when(succeed(succession()))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "authority_already_succeeded",
                ..
            })
        ));
    }

    #[test]
    fn a_succession_to_an_unknown_successor_is_refused() {
        let deps = deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::Authority, id(OTHER_BOARD)),
        ]);
        let result = TestFramework::<Authority>::with(deps)
            .given(given_established())
            .when(succeed(succession()))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "successor",
                ..
            })
        ));
    }

    #[test]
    fn a_succession_naming_an_unknown_predecessor_is_refused() {
        let deps = deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::Authority, id(CITY_BOARD)),
        ]);
        let result = TestFramework::<Authority>::with(deps)
            .given(given_established())
            .when(succeed(succession()))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "predecessors",
                ..
            })
        ));
    }

    #[test]
    fn a_succession_must_list_the_authority_it_is_recorded_on() {
        let mut event = succession();
        event.predecessors = vec![id(OTHER_BOARD)];
        let result = TestFramework::<Authority>::with(all_authorities())
            .given(given_established())
            .when(succeed(event))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "predecessors",
                ..
            })
        ));
    }

    #[test]
    fn an_authority_cannot_succeed_itself() {
        let mut event = succession();
        event.successor = id(OTHER_BOARD);
        let result = TestFramework::<Authority>::with(all_authorities())
            .given(given_established())
            .when(succeed(event))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "successor",
                ..
            })
        ));
    }

    #[test]
    fn a_succession_before_the_establishment_is_refused() {
        let mut event = succession();
        event.effective_date = NaiveDate::from_ymd_opt(2005, 12, 31).unwrap();
        let result = TestFramework::<Authority>::with(all_authorities())
            .given(given_established())
            .when(succeed(event))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "succession_before_establishment",
                ..
            })
        ));
    }

    #[test]
    fn a_succession_recorded_before_the_latest_event_is_refused() {
        let result = TestFramework::<Authority>::with(all_authorities())
            .given(given_established())
            .when(AuthorityCommand::Succeed {
                authority_id: id(BOARD),
                occurred_at: at("2025-04-01T00:00:00Z"),
                event: succession(),
            })
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
    fn an_unestablished_authority_cannot_be_succeeded() {
        let result = TestFramework::<Authority>::with(all_authorities())
            .given_no_previous_events()
            .when(succeed(succession()))
            .inspect_result();
        assert!(matches!(result, Err(DomainError::NotFound { .. })));
    }

    #[test]
    fn an_authority_tells_its_succession_date() {
        let mut authority = Authority::default();
        authority.apply(Timed::new(at("2025-04-11T02:30:00Z"), established()));
        assert_eq!(authority.succeeded_on(), None);
        authority.apply(Timed::new(at("2025-07-28T03:00:00Z"), succession()));
        assert_eq!(
            authority.succeeded_on(),
            NaiveDate::from_ymd_opt(2025, 7, 28)
        );
    }
}
