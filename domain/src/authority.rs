//! The Authority aggregate: a public body with duties under the regulation (the Board, and after the
//! 2025 merger the city's Export-Processing and Industrial Zones Management Board).

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed};
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

events!(
    /// Events of an authority.
    AuthorityEvent { AuthorityEstablished }
);

/// Commands on an authority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuthorityCommand {
    Establish {
        authority_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: AuthorityEstablished,
    },
}

/// An authority's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Authority {
    pub established: Option<AuthorityEstablished>,
    pub latest: Option<DateTime<Utc>>,
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
        _deps: &Deps,
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
        }
        Ok(())
    }

    fn apply(&mut self, event: Timed<AuthorityEvent>) {
        self.latest = Some(event.occurred_at);
        match event.body {
            AuthorityEvent::AuthorityEstablished(e) => self.established = Some(e),
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
    use crate::testing::{at, id, no_deps};

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
}
