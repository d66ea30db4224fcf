//! The InfrastructureCompany aggregate: an enterprise that builds and runs one or more parks.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::values::{EnterpriseCode, Text};
use crate::{Deps, DomainError, events};

/// `CompanyRegistered`: the company is known to the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyRegistered {
    pub enterprise_code: EnterpriseCode,
    pub name: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Text>,
}
impl EventPayload for CompanyRegistered {}

/// `CompanyDetailsChanged`: the fields that changed, and only those.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyDetailsChanged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Text>,
}
impl EventPayload for CompanyDetailsChanged {}

events!(
    /// Events of an infrastructure company.
    CompanyEvent { CompanyRegistered, CompanyDetailsChanged }
);

/// Commands on an infrastructure company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CompanyCommand {
    Register {
        company_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: CompanyRegistered,
    },
    ChangeDetails {
        company_id: Uuid,
        occurred_at: DateTime<Utc>,
        name: Option<Text>,
        address: Option<Text>,
    },
}

/// A company's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct InfrastructureCompany {
    pub registered: Option<CompanyRegistered>,
    pub latest: Option<DateTime<Utc>>,
}

impl InfrastructureCompany {
    /// When the current details took effect: the registration, or the latest change.
    fn details_at(&self) -> Option<DateTime<Utc>> {
        self.latest
    }
}

impl Aggregate for InfrastructureCompany {
    const TYPE: &'static str = "InfrastructureCompany";
    type Command = CompanyCommand;
    type Event = Timed<CompanyEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: CompanyCommand,
        _deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            CompanyCommand::Register {
                company_id,
                occurred_at,
                event,
            } => {
                if self.registered.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::InfrastructureCompany,
                        id: company_id,
                    });
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            CompanyCommand::ChangeDetails {
                company_id,
                occurred_at,
                name,
                address,
            } => {
                let Some(current) = &self.registered else {
                    return Err(DomainError::NotFound {
                        kind: AggregateKind::InfrastructureCompany,
                        id: company_id,
                    });
                };
                // The details are the company's current ones: a change dated before the current
                // details would not be current, so changes are recorded in the order they took effect.
                not_before_its(
                    self.details_at(),
                    occurred_at,
                    "a change of details",
                    "the current details",
                )?;
                // Only what actually changes is recorded; a change that changes nothing is refused so
                // that the history holds no empty events.
                let name = name.filter(|n| *n != current.name);
                let address = address.filter(|a| Some(a) != current.address.as_ref());
                if name.is_none() && address.is_none() {
                    return Err(DomainError::rule(
                        "nothing_changed",
                        "the new details are the same as the current ones",
                    ));
                }
                let event = CompanyDetailsChanged { name, address };
                sink.write(Timed::new(occurred_at, event), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Timed<CompanyEvent>) {
        self.latest = Some(event.occurred_at);
        match event.body {
            CompanyEvent::CompanyRegistered(e) => self.registered = Some(e),
            CompanyEvent::CompanyDetailsChanged(e) => {
                if let Some(current) = &mut self.registered {
                    if let Some(name) = e.name {
                        current.name = name;
                    }
                    if e.address.is_some() {
                        current.address = e.address;
                    }
                }
            }
        }
    }
}

impl LedgerAggregate for InfrastructureCompany {
    type Body = CompanyEvent;
    const KIND: AggregateKind = AggregateKind::InfrastructureCompany;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        None
    }

    /// A registration claims the key of the event it carries.
    fn expected_claims(command: &CompanyCommand) -> Vec<crate::UniqueKey> {
        match command {
            CompanyCommand::Register {
                occurred_at, event, ..
            } => Self::unique_keys(
                Uuid::nil(),
                &[Timed::new(
                    *occurred_at,
                    CompanyEvent::CompanyRegistered(event.clone()),
                )],
            ),
            _ => Vec::new(),
        }
    }

    /// An infrastructure company's enterprise code is unique among the companies.
    fn unique_keys(_id: Uuid, new: &[Timed<CompanyEvent>]) -> Vec<crate::UniqueKey> {
        new.iter()
            .filter_map(|e| match &e.body {
                CompanyEvent::CompanyRegistered(r) => Some(crate::UniqueKey {
                    scope: "company_enterprise_code",
                    key: r.enterprise_code.as_str().to_owned(),
                    field: "enterprise_code",
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
    use crate::testing::{at, id, no_deps};

    fn registered() -> Timed<CompanyEvent> {
        Timed::new(
            at("2025-04-11T03:00:00Z"),
            CompanyRegistered {
                enterprise_code: EnterpriseCode::parse("3700146225").unwrap(),
                name: Text::name("Becamex IDC").unwrap(),
                address: None,
            },
        )
    }

    fn change(name: &str, when: &str) -> CompanyCommand {
        CompanyCommand::ChangeDetails {
            company_id: id(2),
            occurred_at: at(when),
            name: Some(Text::name(name).unwrap()),
            address: None,
        }
    }

    #[test]
    fn a_change_records_only_what_changed() {
        TestFramework::<InfrastructureCompany>::with(no_deps())
            .given(vec![registered()])
            .when(change("Becamex IDC Corp", "2025-05-01T00:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-05-01T00:00:00Z"),
                CompanyDetailsChanged {
                    name: Some(Text::name("Becamex IDC Corp").unwrap()),
                    address: None,
                },
            )]);
    }

    #[test]
    fn a_change_that_changes_nothing_is_refused() {
        let result = TestFramework::<InfrastructureCompany>::with(no_deps())
            .given(vec![registered()])
            .when(change("Becamex IDC", "2025-05-01T00:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "nothing_changed",
                ..
            })
        ));
    }

    #[test]
    fn changing_an_unregistered_company_is_not_found() {
        let result = TestFramework::<InfrastructureCompany>::with(no_deps())
            .given_no_previous_events()
            .when(change("X", "2025-05-01T00:00:00Z"))
            .inspect_result();
        assert!(matches!(result, Err(DomainError::NotFound { .. })));
    }

    #[test]
    fn a_change_cannot_go_back_before_the_registration() {
        let result = TestFramework::<InfrastructureCompany>::with(no_deps())
            .given(vec![registered()])
            .when(change("Becamex IDC Corp", "2025-04-01T00:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "business_time_goes_back",
                ..
            })
        ));
    }
}
