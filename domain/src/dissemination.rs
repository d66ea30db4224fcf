//! The Dissemination aggregate: one act of spreading environmental law by an authority, either a legal
//! training held for companies and tenants or a guidance document issued to them. Each act is its own
//! record, so that an act recorded late never has to fit behind later ones.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agreement::act_date;
use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed};
use crate::values::{Sha256Hex, Text};
use crate::{Deps, DomainError, events};

/// `LegalTrainingHeld`: an authority held a training on environmental law.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalTrainingHeld {
    pub authority_id: Uuid,
    pub topic: Text,
    /// The local date of the training; always the local date of the event's `occurred_at`.
    pub held_on: NaiveDate,
    /// Who it was for, in words (`environmental officers of infrastructure companies and tenants`).
    pub audience: Text,
    pub attendee_count: u32,
    /// The parks whose companies or tenants it was for; empty for a province-wide training.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub park_ids: Vec<Uuid>,
}
impl EventPayload for LegalTrainingHeld {}

/// `GuidanceIssued`: an authority issued a guidance document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuidanceIssued {
    pub authority_id: Uuid,
    pub doc_no: Text,
    pub title: Text,
    pub document_sha256: Sha256Hex,
    /// The local date of issue; always the local date of the event's `occurred_at`.
    pub issued_on: NaiveDate,
    /// The parks it is addressed to; empty when it is addressed to all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub park_ids: Vec<Uuid>,
}
impl EventPayload for GuidanceIssued {}

events!(
    /// Events of a dissemination record.
    DisseminationEvent {
        LegalTrainingHeld,
        GuidanceIssued,
    }
);

/// Commands on a dissemination record. Dates left empty are the local date of `occurred_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DisseminationCommand {
    HoldTraining {
        dissemination_id: Uuid,
        occurred_at: DateTime<Utc>,
        authority_id: Uuid,
        topic: Text,
        held_on: Option<NaiveDate>,
        audience: Text,
        attendee_count: u32,
        park_ids: Vec<Uuid>,
    },
    IssueGuidance {
        dissemination_id: Uuid,
        occurred_at: DateTime<Utc>,
        authority_id: Uuid,
        doc_no: Text,
        title: Text,
        document_sha256: Sha256Hex,
        issued_on: Option<NaiveDate>,
        park_ids: Vec<Uuid>,
    },
}

/// A dissemination record: the act it records.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Dissemination {
    pub training: Option<LegalTrainingHeld>,
    pub guidance: Option<GuidanceIssued>,
    pub occurred_at: Option<DateTime<Utc>>,
}

impl Dissemination {
    fn exists(&self) -> bool {
        self.training.is_some() || self.guidance.is_some()
    }

    fn parks(&self) -> &[Uuid] {
        match (&self.training, &self.guidance) {
            (Some(t), _) => &t.park_ids,
            (_, Some(g)) => &g.park_ids,
            _ => &[],
        }
    }
}

/// Refuses unknown authorities and parks, and a park named twice.
async fn require_parties(
    deps: &Deps,
    authority_id: Uuid,
    park_ids: &[Uuid],
    (on, duty): (NaiveDate, &str),
) -> Result<(), DomainError> {
    let mut seen = std::collections::HashSet::new();
    if !park_ids.iter().all(|p| seen.insert(*p)) {
        return Err(DomainError::invalid(
            "park_ids",
            "must not name a park twice",
        ));
    }
    deps.require_in_office("authority_id", authority_id, on, duty)
        .await?;
    for park in park_ids {
        deps.require("park_ids", AggregateKind::Park, *park).await?;
    }
    Ok(())
}

impl Aggregate for Dissemination {
    const TYPE: &'static str = "Dissemination";
    type Command = DisseminationCommand;
    type Event = Timed<DisseminationEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: DisseminationCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (dissemination_id, occurred_at, body): (_, _, DisseminationEvent) = match command {
            DisseminationCommand::HoldTraining {
                dissemination_id,
                occurred_at,
                authority_id,
                topic,
                held_on,
                audience,
                attendee_count,
                park_ids,
            } => {
                let held_on = act_date("held_on", held_on, occurred_at)?;
                if attendee_count == 0 {
                    return Err(DomainError::invalid(
                        "attendee_count",
                        "a training that was held had attendees",
                    ));
                }
                require_parties(deps, authority_id, &park_ids, (held_on, "a training held"))
                    .await?;
                let event = LegalTrainingHeld {
                    authority_id,
                    topic,
                    held_on,
                    audience,
                    attendee_count,
                    park_ids,
                };
                (dissemination_id, occurred_at, event.into())
            }
            DisseminationCommand::IssueGuidance {
                dissemination_id,
                occurred_at,
                authority_id,
                doc_no,
                title,
                document_sha256,
                issued_on,
                park_ids,
            } => {
                let issued_on = act_date("issued_on", issued_on, occurred_at)?;
                require_parties(
                    deps,
                    authority_id,
                    &park_ids,
                    (issued_on, "guidance issued"),
                )
                .await?;
                let event = GuidanceIssued {
                    authority_id,
                    doc_no,
                    title,
                    document_sha256,
                    issued_on,
                    park_ids,
                };
                (dissemination_id, occurred_at, event.into())
            }
        };
        // One record, one act: a further act is its own record.
        if self.exists() {
            return Err(DomainError::AlreadyExists {
                kind: AggregateKind::Dissemination,
                id: dissemination_id,
            });
        }
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<DisseminationEvent>) {
        self.occurred_at = Some(event.occurred_at);
        match event.body {
            DisseminationEvent::LegalTrainingHeld(e) => self.training = Some(e),
            DisseminationEvent::GuidanceIssued(e) => self.guidance = Some(e),
        }
    }
}

impl LedgerAggregate for Dissemination {
    type Body = DisseminationEvent;
    const KIND: AggregateKind = AggregateKind::Dissemination;

    /// The park of an act addressed to exactly one park; none for wider ones.
    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        match self.parks() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// The authority that held the training or issued the guidance.
    fn acting_for(&self, _id: Uuid, _new: &[Timed<DisseminationEvent>]) -> crate::scope::Acting {
        let authority = match (&self.training, &self.guidance) {
            (Some(t), _) => t.authority_id,
            (_, Some(g)) => g.authority_id,
            _ => return crate::scope::Acting::default(),
        };
        crate::scope::Acting::parties(
            vec![crate::information_exchange::OrganisationRef::authority(
                authority,
            )],
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, id, no_deps};

    const BOARD: u64 = 1;
    const PARK: u64 = 10;
    const RECORD: u64 = 70;

    fn hold(held_on: Option<&str>, attendee_count: u32) -> DisseminationCommand {
        DisseminationCommand::HoldTraining {
            dissemination_id: id(RECORD),
            occurred_at: at("2025-06-05T01:30:00Z"),
            authority_id: id(BOARD),
            topic: Text::name("Law on Environmental Protection 2020: permits").unwrap(),
            held_on: held_on.map(|d| d.parse().unwrap()),
            audience: Text::name("environmental officers of companies and tenants").unwrap(),
            attendee_count,
            park_ids: vec![id(PARK)],
        }
    }

    fn held() -> Timed<DisseminationEvent> {
        Timed::new(
            at("2025-06-05T01:30:00Z"),
            LegalTrainingHeld {
                authority_id: id(BOARD),
                topic: Text::name("Law on Environmental Protection 2020: permits").unwrap(),
                held_on: "2025-06-05".parse().unwrap(),
                audience: Text::name("environmental officers of companies and tenants").unwrap(),
                attendee_count: 120,
                park_ids: vec![id(PARK)],
            },
        )
    }

    fn known() -> Deps {
        deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::Park, id(PARK)),
        ])
    }

    #[test]
    fn a_training_is_recorded_on_its_local_date() {
        TestFramework::<Dissemination>::with(known())
            .given_no_previous_events()
            .when(hold(None, 120))
            .then_expect_events(vec![held()]);
        TestFramework::<Dissemination>::with(known())
            .given_no_previous_events()
            .when(hold(Some("2025-06-05"), 120))
            .then_expect_events(vec![held()]);
    }

    #[test]
    fn a_held_on_other_than_the_local_date_is_invalid() {
        let result = TestFramework::<Dissemination>::with(known())
            .given_no_previous_events()
            .when(hold(Some("2025-06-04"), 120))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "held_on",
                ..
            })
        ));
    }

    #[test]
    fn a_training_without_attendees_is_invalid() {
        let result = TestFramework::<Dissemination>::with(known())
            .given_no_previous_events()
            .when(hold(None, 0))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "attendee_count",
                ..
            })
        ));
    }

    #[test]
    fn guidance_from_an_unknown_authority_is_refused() {
        let result = TestFramework::<Dissemination>::with(no_deps())
            .given_no_previous_events()
            .when(DisseminationCommand::IssueGuidance {
                dissemination_id: id(RECORD),
                occurred_at: at("2025-06-05T01:30:00Z"),
                authority_id: id(BOARD),
                doc_no: Text::name("123/HD-BQL").unwrap(),
                title: Text::name("Guidance on annual environmental reports").unwrap(),
                document_sha256: Sha256Hex::parse(&"cd".repeat(32)).unwrap(),
                issued_on: None,
                park_ids: vec![],
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
    fn a_record_holds_one_act() {
        let result = TestFramework::<Dissemination>::with(known())
            .given(vec![held()])
            .when(hold(None, 120))
            .inspect_result();
        assert!(matches!(result, Err(DomainError::AlreadyExists { .. })));
    }

    #[test]
    fn an_act_for_one_park_belongs_to_that_park() {
        let mut record = Dissemination::default();
        record.apply(held());
        assert_eq!(record.park_id(id(RECORD)), Some(id(PARK)));
    }
}
