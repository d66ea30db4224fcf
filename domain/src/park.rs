//! The Park aggregate: an industrial park, with its effective-dated jurisdiction (which authority
//! oversees it) and infrastructure company (who runs it).

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before};
use crate::values::{Decimal, ParkCode, Text};
use crate::{Deps, DomainError, events};

/// `ParkRegistered`: a park is known to the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkRegistered {
    pub code: ParkCode,
    pub name: Text,
    /// Planned area in hectares, as an exact decimal.
    pub area_ha: Decimal,
    /// Where it is, in words (town or ward, district, province as named at registration).
    pub location: Text,
}
impl EventPayload for ParkRegistered {}

/// `JurisdictionAssigned`: from `effective_from` on, `authority_id` oversees the park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JurisdictionAssigned {
    pub authority_id: Uuid,
    pub effective_from: NaiveDate,
}
impl EventPayload for JurisdictionAssigned {}

/// `InfrastructureCompanyAssigned`: from `effective_from` on, `company_id` runs the park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfrastructureCompanyAssigned {
    pub company_id: Uuid,
    pub effective_from: NaiveDate,
}
impl EventPayload for InfrastructureCompanyAssigned {}

events!(
    /// Events of a park.
    ParkEvent {
        ParkRegistered,
        JurisdictionAssigned,
        InfrastructureCompanyAssigned,
    }
);

/// Commands on a park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParkCommand {
    Register {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ParkRegistered,
    },
    AssignJurisdiction {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: JurisdictionAssigned,
    },
    AssignCompany {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: InfrastructureCompanyAssigned,
    },
}

/// A park's current state, with the full timelines of its jurisdiction and company.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Park {
    pub registered: Option<ParkRegistered>,
    /// `(effective_from, authority_id)`, in increasing date order.
    pub jurisdictions: Vec<(NaiveDate, Uuid)>,
    /// `(effective_from, company_id)`, in increasing date order.
    pub companies: Vec<(NaiveDate, Uuid)>,
    pub latest: Option<DateTime<Utc>>,
}

/// The entry of an effective-dated timeline in force on `date`.
fn in_force(timeline: &[(NaiveDate, Uuid)], date: NaiveDate) -> Option<Uuid> {
    timeline
        .iter()
        .take_while(|(from, _)| *from <= date)
        .last()
        .map(|(_, id)| *id)
}

/// Refuses an effective date that does not come after the timeline's latest one; a timeline is only
/// ever extended forward, so that history is never silently rewritten.
fn extends(
    timeline: &[(NaiveDate, Uuid)],
    effective_from: NaiveDate,
    rule: &'static str,
    what: &str,
) -> Result<(), DomainError> {
    match timeline.last() {
        Some((last, _)) if effective_from <= *last => Err(DomainError::rule(
            rule,
            format!(
                "a {what} effective from {effective_from} must come after the latest one, effective from {last}"
            ),
        )),
        _ => Ok(()),
    }
}

impl Park {
    /// The authority with jurisdiction over the park on a local date.
    pub fn jurisdiction_at(&self, date: NaiveDate) -> Option<Uuid> {
        in_force(&self.jurisdictions, date)
    }

    /// The infrastructure company running the park on a local date.
    pub fn company_at(&self, date: NaiveDate) -> Option<Uuid> {
        in_force(&self.companies, date)
    }

    fn require(&self, park_id: Uuid, occurred_at: DateTime<Utc>) -> Result<(), DomainError> {
        if self.registered.is_none() {
            return Err(DomainError::NotFound {
                kind: AggregateKind::Park,
                id: park_id,
            });
        }
        not_before(self.latest, occurred_at, "this park event")
    }
}

impl Aggregate for Park {
    const TYPE: &'static str = "Park";
    type Command = ParkCommand;
    type Event = Timed<ParkEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: ParkCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            ParkCommand::Register {
                park_id,
                occurred_at,
                event,
            } => {
                if self.registered.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::Park,
                        id: park_id,
                    });
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::AssignJurisdiction {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id, occurred_at)?;
                deps.require("authority_id", AggregateKind::Authority, event.authority_id)
                    .await?;
                extends(
                    &self.jurisdictions,
                    event.effective_from,
                    "jurisdiction_not_after_latest",
                    "jurisdiction",
                )?;
                if self.jurisdictions.last().map(|(_, a)| *a) == Some(event.authority_id) {
                    return Err(DomainError::rule(
                        "jurisdiction_unchanged",
                        "the park is already under this authority's jurisdiction",
                    ));
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::AssignCompany {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id, occurred_at)?;
                deps.require(
                    "company_id",
                    AggregateKind::InfrastructureCompany,
                    event.company_id,
                )
                .await?;
                extends(
                    &self.companies,
                    event.effective_from,
                    "company_not_after_latest",
                    "company assignment",
                )?;
                if self.companies.last().map(|(_, c)| *c) == Some(event.company_id) {
                    return Err(DomainError::rule(
                        "company_unchanged",
                        "the park is already run by this company",
                    ));
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Timed<ParkEvent>) {
        self.latest = Some(event.occurred_at);
        match event.body {
            ParkEvent::ParkRegistered(e) => self.registered = Some(e),
            ParkEvent::JurisdictionAssigned(e) => {
                self.jurisdictions.push((e.effective_from, e.authority_id))
            }
            ParkEvent::InfrastructureCompanyAssigned(e) => {
                self.companies.push((e.effective_from, e.company_id))
            }
        }
    }
}

impl LedgerAggregate for Park {
    type Body = ParkEvent;
    const KIND: AggregateKind = AggregateKind::Park;

    fn park_id(&self, id: Uuid) -> Option<Uuid> {
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, id, no_deps};

    const PARK: u64 = 10;
    const BOARD: u64 = 1;
    const CITY_BOARD: u64 = 3;
    const COMPANY: u64 = 2;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn registered() -> Timed<ParkEvent> {
        Timed::new(
            at("2025-04-11T03:00:00Z"),
            ParkRegistered {
                code: ParkCode::parse("DONGAN-1").unwrap(),
                name: Text::name("KCN Đồng An").unwrap(),
                area_ha: Decimal::parse("138.7", 4).unwrap(),
                location: Text::name("Thuận An, Bình Dương").unwrap(),
            },
        )
    }

    fn jurisdiction(authority: u64, from: &str) -> JurisdictionAssigned {
        JurisdictionAssigned {
            authority_id: id(authority),
            effective_from: date(from),
        }
    }

    fn assign(authority: u64, from: &str, when: &str) -> ParkCommand {
        ParkCommand::AssignJurisdiction {
            park_id: id(PARK),
            occurred_at: at(when),
            event: jurisdiction(authority, from),
        }
    }

    fn authorities() -> Deps {
        deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::Authority, id(CITY_BOARD)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
        ])
    }

    #[test]
    fn a_jurisdiction_is_assigned_to_an_existing_authority() {
        TestFramework::<Park>::with(authorities())
            .given(vec![registered()])
            .when(assign(BOARD, "2006-01-01", "2025-04-11T04:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-04-11T04:00:00Z"),
                jurisdiction(BOARD, "2006-01-01"),
            )]);
    }

    #[test]
    fn a_jurisdiction_naming_an_unknown_authority_is_refused() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(vec![registered()])
            .when(assign(BOARD, "2006-01-01", "2025-04-11T04:00:00Z"))
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
    fn a_jurisdiction_may_not_be_backdated_before_the_latest_one() {
        let result = TestFramework::<Park>::with(authorities())
            .given(vec![
                registered(),
                Timed::new(
                    at("2025-04-11T04:00:00Z"),
                    jurisdiction(BOARD, "2025-07-28"),
                ),
            ])
            .when(assign(CITY_BOARD, "2025-07-01", "2025-08-01T04:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "jurisdiction_not_after_latest",
                ..
            })
        ));
    }

    #[test]
    fn a_park_answers_who_had_jurisdiction_on_a_date() {
        let mut park = Park::default();
        park.apply(registered());
        park.apply(Timed::new(
            at("2025-04-11T04:00:00Z"),
            jurisdiction(BOARD, "2006-01-01"),
        ));
        park.apply(Timed::new(
            at("2025-08-01T04:00:00Z"),
            jurisdiction(CITY_BOARD, "2025-07-28"),
        ));
        assert_eq!(park.jurisdiction_at(date("2005-12-31")), None);
        assert_eq!(park.jurisdiction_at(date("2025-07-27")), Some(id(BOARD)));
        assert_eq!(
            park.jurisdiction_at(date("2025-07-28")),
            Some(id(CITY_BOARD))
        );
    }

    #[test]
    fn assigning_the_same_company_again_is_refused() {
        let assigned = InfrastructureCompanyAssigned {
            company_id: id(COMPANY),
            effective_from: date("2006-01-01"),
        };
        let result = TestFramework::<Park>::with(authorities())
            .given(vec![
                registered(),
                Timed::new(at("2025-04-11T04:00:00Z"), assigned),
            ])
            .when(ParkCommand::AssignCompany {
                park_id: id(PARK),
                occurred_at: at("2025-05-11T04:00:00Z"),
                event: InfrastructureCompanyAssigned {
                    company_id: id(COMPANY),
                    effective_from: date("2025-05-01"),
                },
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "company_unchanged",
                ..
            })
        ));
    }

    #[test]
    fn assigning_on_an_unregistered_park_is_not_found() {
        let result = TestFramework::<Park>::with(authorities())
            .given_no_previous_events()
            .when(assign(BOARD, "2006-01-01", "2025-04-11T04:00:00Z"))
            .inspect_result();
        assert!(matches!(result, Err(DomainError::NotFound { .. })));
    }
}
