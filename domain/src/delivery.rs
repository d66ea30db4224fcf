//! The DeliveryEndpoint aggregate: what an administrator decided about the delivery of the log to
//! one configured e-government endpoint that the ledger records as a fact of its own. Today that is
//! one act: an event the endpoint could not take, skipped explicitly so that delivery goes on past
//! it (`DeliveryEventSkipped`); the log keeps who skipped which event, when and why, so that a gap
//! in what an endpoint received is never silent.
//!
//! The record's id is derived from the endpoint's configured name ([`endpoint_id`]), so every server
//! of a database names the same record.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed};
use crate::values::Text;
use crate::{Deps, DomainError, events};

/// The namespace of [`endpoint_id`] (a fixed UUID of this project).
const NAMESPACE: Uuid = Uuid::from_u128(0x6b63_6e2d_6c65_6467_6572_2d64_656c_6976);

/// The id of the delivery record of the endpoint named `name` (UUIDv5 of the name).
pub fn endpoint_id(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// `DeliveryEventSkipped`: delivery to an endpoint goes on past an event it was paused at, which the
/// endpoint never received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryEventSkipped {
    /// The endpoint's configured name.
    pub endpoint: Text,
    /// The skipped event's position and id.
    pub position: u64,
    pub event_id: Uuid,
    /// Why, in words.
    pub reason: Text,
}
impl EventPayload for DeliveryEventSkipped {}

events!(
    /// Events of a delivery endpoint's record.
    DeliveryEvent {
        DeliveryEventSkipped,
    }
);

/// Commands on a delivery endpoint's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeliveryCommand {
    Skip {
        record_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: DeliveryEventSkipped,
    },
}

/// A delivery endpoint's record: the events skipped, in order.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DeliveryEndpoint {
    pub skipped: Vec<DeliveryEventSkipped>,
}

impl Aggregate for DeliveryEndpoint {
    const TYPE: &'static str = "DeliveryEndpoint";
    type Command = DeliveryCommand;
    type Event = Timed<DeliveryEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: DeliveryCommand,
        _deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let DeliveryCommand::Skip {
            record_id,
            occurred_at,
            event,
        } = command;
        if record_id != endpoint_id(event.endpoint.as_str()) {
            return Err(DomainError::invalid(
                "endpoint",
                "is not the endpoint of this record",
            ));
        }
        if event.position == 0 {
            return Err(DomainError::invalid("position", "must be at least 1"));
        }
        if self.skipped.iter().any(|s| s.position == event.position) {
            return Err(DomainError::rule(
                "event_already_skipped",
                format!(
                    "the event at position {} was already skipped for {}",
                    event.position, event.endpoint
                ),
            ));
        }
        sink.write(Timed::new(occurred_at, event), self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<DeliveryEvent>) {
        match event.body {
            DeliveryEvent::DeliveryEventSkipped(e) => self.skipped.push(e),
        }
    }
}

impl LedgerAggregate for DeliveryEndpoint {
    type Body = DeliveryEvent;
    const KIND: AggregateKind = AggregateKind::DeliveryEndpoint;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        None
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, no_deps};

    fn skip(position: u64) -> DeliveryCommand {
        DeliveryCommand::Skip {
            record_id: endpoint_id("egov"),
            occurred_at: at("2026-01-02T03:00:00Z"),
            event: DeliveryEventSkipped {
                endpoint: Text::code("egov").unwrap(),
                position,
                event_id: Uuid::nil(),
                reason: Text::body("the platform rejects this event type").unwrap(),
            },
        }
    }

    #[test]
    fn an_event_is_skipped_once_per_endpoint() {
        let DeliveryCommand::Skip { event, .. } = skip(7);
        TestFramework::<DeliveryEndpoint>::with(no_deps())
            .given_no_previous_events()
            .when(skip(7))
            .then_expect_events(vec![Timed::new(at("2026-01-02T03:00:00Z"), event.clone())]);
        let again = TestFramework::<DeliveryEndpoint>::with(no_deps())
            .given(vec![Timed::new(at("2026-01-02T03:00:00Z"), event)])
            .when(skip(7))
            .inspect_result();
        assert!(matches!(
            again,
            Err(DomainError::Rule {
                rule: "event_already_skipped",
                ..
            })
        ));
    }

    #[test]
    fn the_record_is_the_endpoints_own() {
        assert_eq!(endpoint_id("egov"), endpoint_id("egov"));
        assert_ne!(endpoint_id("egov"), endpoint_id("egov-2"));
        let mut wrong = skip(7);
        let DeliveryCommand::Skip { record_id, .. } = &mut wrong;
        *record_id = endpoint_id("other");
        let result = TestFramework::<DeliveryEndpoint>::with(no_deps())
            .given_no_previous_events()
            .when(wrong)
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "endpoint",
                ..
            })
        ));
    }
}
