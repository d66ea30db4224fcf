//! The Tenant aggregate: an enterprise inside a park, subject of inspections and incidents, with its
//! environmental permits, commitments and annual reports.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::deps::{Breach, LegalRules};
use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed};
use crate::limits;
use crate::time::local_date;
use crate::values::{EnterpriseCode, Text, VsicCode};
use crate::{Deps, DomainError, events};

/// `TenantRegistered`: an enterprise is established in a park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRegistered {
    pub park_id: Uuid,
    pub enterprise_code: EnterpriseCode,
    pub name: Text,
    pub investment_registration_no: Text,
    pub vsic_codes: Vec<VsicCode>,
    pub foreign_invested: bool,
}
impl EventPayload for TenantRegistered {}

/// `EnvironmentalPermitRecorded`: a permit with its validity period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentalPermitRecorded {
    pub permit_no: Text,
    pub issuer: Text,
    pub valid_from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<NaiveDate>,
}
impl EventPayload for EnvironmentalPermitRecorded {}

/// `EnvironmentalCommitmentRecorded`: a commitment the tenant made, which inspections check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentalCommitmentRecorded {
    /// The caller's identifier for the commitment, unique within the tenant.
    pub commitment_id: Text,
    pub requirement: Text,
}
impl EventPayload for EnvironmentalCommitmentRecorded {}

/// `AnnualEnvironmentalReportSubmitted`: the report covering 1 January to 31 December of `year`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnualEnvironmentalReportSubmitted {
    pub year: u32,
    /// The local date of submission; always the local date of the event's `occurred_at`.
    pub submitted_on: NaiveDate,
}
impl EventPayload for AnnualEnvironmentalReportSubmitted {}

events!(
    /// Events of a tenant.
    TenantEvent {
        TenantRegistered,
        EnvironmentalPermitRecorded,
        EnvironmentalCommitmentRecorded,
        AnnualEnvironmentalReportSubmitted,
    }
);

/// Commands on a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TenantCommand {
    Register {
        tenant_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: TenantRegistered,
    },
    RecordPermit {
        tenant_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: EnvironmentalPermitRecorded,
    },
    RecordCommitment {
        tenant_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: EnvironmentalCommitmentRecorded,
    },
    SubmitAnnualReport {
        tenant_id: Uuid,
        occurred_at: DateTime<Utc>,
        year: u32,
        /// When given, it must be the local date of `occurred_at`.
        submitted_on: Option<NaiveDate>,
    },
}

/// A tenant's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Tenant {
    pub registered: Option<TenantRegistered>,
    pub permits: Vec<EnvironmentalPermitRecorded>,
    pub commitments: Vec<EnvironmentalCommitmentRecorded>,
    pub reports: Vec<AnnualEnvironmentalReportSubmitted>,
    pub latest: Option<DateTime<Utc>>,
}

impl Tenant {
    /// Refuses a step on a tenant never registered. Its permits, commitments and reports are facts
    /// of their own: one may be dated before earlier-recorded ones (a late report entered after a
    /// later-dated permit) and is recorded; a late report is judged.
    fn require(&self, tenant_id: Uuid) -> Result<(), DomainError> {
        if self.registered.is_none() {
            return Err(DomainError::NotFound {
                kind: AggregateKind::Tenant,
                id: tenant_id,
            });
        }
        Ok(())
    }
}

impl Aggregate for Tenant {
    const TYPE: &'static str = "Tenant";
    type Command = TenantCommand;
    type Event = Timed<TenantEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: TenantCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            TenantCommand::Register {
                tenant_id,
                occurred_at,
                event,
            } => {
                if self.registered.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::Tenant,
                        id: tenant_id,
                    });
                }
                if event.vsic_codes.is_empty() {
                    return Err(DomainError::invalid(
                        "vsic_codes",
                        "at least one VSIC code is required",
                    ));
                }
                deps.require("park_id", AggregateKind::Park, event.park_id)
                    .await?;
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            TenantCommand::RecordPermit {
                tenant_id,
                occurred_at,
                event,
            } => {
                self.require(tenant_id)?;
                if event.valid_to.is_some_and(|to| to < event.valid_from) {
                    return Err(DomainError::invalid(
                        "valid_to",
                        "must not be before valid_from",
                    ));
                }
                if self.permits.iter().any(|p| p.permit_no == event.permit_no) {
                    return Err(DomainError::rule(
                        "permit_already_recorded",
                        format!(
                            "permit {} is already recorded for this tenant",
                            event.permit_no
                        ),
                    ));
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            TenantCommand::RecordCommitment {
                tenant_id,
                occurred_at,
                event,
            } => {
                self.require(tenant_id)?;
                if self
                    .commitments
                    .iter()
                    .any(|c| c.commitment_id == event.commitment_id)
                {
                    return Err(DomainError::rule(
                        "commitment_already_recorded",
                        format!(
                            "commitment {} is already recorded for this tenant",
                            event.commitment_id
                        ),
                    ));
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            TenantCommand::SubmitAnnualReport {
                tenant_id,
                occurred_at,
                year,
                submitted_on,
            } => {
                self.require(tenant_id)?;
                let local = local_date(occurred_at);
                if submitted_on.is_some_and(|d| d != local) {
                    return Err(DomainError::invalid(
                        "submitted_on",
                        format!("must be the local date of occurred_at ({local}) or left empty"),
                    ));
                }
                if i64::from(local.year()) <= i64::from(year) {
                    return Err(DomainError::rule(
                        "report_period_not_over",
                        format!(
                            "the report for {year} covers until 31 December {year}; it cannot be submitted on {local}"
                        ),
                    ));
                }
                if self.reports.iter().any(|r| r.year == year) {
                    return Err(DomainError::rule(
                        "annual_report_already_submitted",
                        format!("the annual report for {year} is already submitted"),
                    ));
                }
                let event = AnnualEnvironmentalReportSubmitted {
                    year,
                    submitted_on: local,
                };
                sink.write(Timed::new(occurred_at, event), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Timed<TenantEvent>) {
        self.latest = self.latest.max(Some(event.occurred_at));
        match event.body {
            TenantEvent::TenantRegistered(e) => self.registered = Some(e),
            TenantEvent::EnvironmentalPermitRecorded(e) => self.permits.push(e),
            TenantEvent::EnvironmentalCommitmentRecorded(e) => self.commitments.push(e),
            TenantEvent::AnnualEnvironmentalReportSubmitted(e) => self.reports.push(e),
        }
    }
}

impl LedgerAggregate for Tenant {
    type Body = TenantEvent;
    const KIND: AggregateKind = AggregateKind::Tenant;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        self.registered.as_ref().map(|r| r.park_id)
    }

    /// A registration claims the key of the event it carries.
    fn expected_claims(command: &TenantCommand) -> Vec<crate::UniqueKey> {
        match command {
            TenantCommand::Register {
                occurred_at, event, ..
            } => Self::unique_keys(
                Uuid::nil(),
                &[Timed::new(
                    *occurred_at,
                    TenantEvent::TenantRegistered(event.clone()),
                )],
            ),
            _ => Vec::new(),
        }
    }

    /// An enterprise is a tenant of a park once: its enterprise code is unique within the park (the
    /// same enterprise may operate in several parks).
    fn unique_keys(_id: Uuid, new: &[Timed<TenantEvent>]) -> Vec<crate::UniqueKey> {
        new.iter()
            .filter_map(|e| match &e.body {
                TenantEvent::TenantRegistered(r) => Some(crate::UniqueKey {
                    scope: "tenant_enterprise_code",
                    key: format!("{}/{}", r.park_id, r.enterprise_code.as_str()),
                    field: "enterprise_code",
                }),
                _ => None,
            })
            .collect()
    }

    fn judge(&self, new: &[Timed<TenantEvent>], rules: &LegalRules) -> Vec<Breach> {
        new.iter()
            .filter_map(|e| match &e.body {
                TenantEvent::AnnualEnvironmentalReportSubmitted(r) => limits::annual_report_late(
                    limits::ReportFiler::Tenant,
                    rules,
                    r.year,
                    r.submitted_on,
                ),
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

    const PARK: u64 = 10;
    const TENANT: u64 = 20;

    fn registration() -> TenantRegistered {
        TenantRegistered {
            park_id: id(PARK),
            enterprise_code: EnterpriseCode::parse("3702345678").unwrap(),
            name: Text::name("Công ty TNHH Gỗ Minh Phát").unwrap(),
            investment_registration_no: Text::name("1234567890").unwrap(),
            vsic_codes: vec![VsicCode::parse("1610", "2018").unwrap()],
            foreign_invested: true,
        }
    }

    fn registered() -> Timed<TenantEvent> {
        Timed::new(at("2024-03-01T02:00:00Z"), registration())
    }

    fn report(year: u32, when: &str) -> TenantCommand {
        TenantCommand::SubmitAnnualReport {
            tenant_id: id(TENANT),
            occurred_at: at(when),
            year,
            submitted_on: None,
        }
    }

    #[test]
    fn a_tenant_is_registered_in_an_existing_park() {
        TestFramework::<Tenant>::with(deps_with(&[(AggregateKind::Park, id(PARK))]))
            .given_no_previous_events()
            .when(TenantCommand::Register {
                tenant_id: id(TENANT),
                occurred_at: at("2024-03-01T02:00:00Z"),
                event: registration(),
            })
            .then_expect_events(vec![registered()]);
    }

    #[test]
    fn a_tenant_in_an_unknown_park_is_refused() {
        let result = TestFramework::<Tenant>::with(no_deps())
            .given_no_previous_events()
            .when(TenantCommand::Register {
                tenant_id: id(TENANT),
                occurred_at: at("2024-03-01T02:00:00Z"),
                event: registration(),
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "park_id",
                ..
            })
        ));
    }

    #[test]
    fn the_report_date_is_the_local_date_of_submission() {
        // 2025-01-15T20:00Z is 16 January in Vietnam.
        TestFramework::<Tenant>::with(no_deps())
            .given(vec![registered()])
            .when(report(2024, "2025-01-15T20:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-01-15T20:00:00Z"),
                AnnualEnvironmentalReportSubmitted {
                    year: 2024,
                    submitted_on: "2025-01-16".parse().unwrap(),
                },
            )]);
    }

    #[test]
    fn a_report_filed_after_the_fifteenth_of_january_is_accepted_and_judged_late() {
        let mut tenant = Tenant::default();
        tenant.apply(registered());
        let late = [Timed::new(
            at("2025-01-15T20:00:00Z"),
            AnnualEnvironmentalReportSubmitted {
                year: 2024,
                submitted_on: "2025-01-16".parse().unwrap(),
            },
        )];
        let breaches = tenant.judge(&late, &LegalRules::default());
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0].limit, "tenant_annual_report_late");

        let on_time = [Timed::new(
            at("2025-01-15T16:59:59Z"),
            AnnualEnvironmentalReportSubmitted {
                year: 2024,
                submitted_on: "2025-01-15".parse().unwrap(),
            },
        )];
        assert!(tenant.judge(&on_time, &LegalRules::default()).is_empty());
    }

    #[test]
    fn a_report_before_its_year_is_over_is_refused() {
        let result = TestFramework::<Tenant>::with(no_deps())
            .given(vec![registered()])
            .when(report(2024, "2024-12-31T10:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "report_period_not_over",
                ..
            })
        ));
    }

    #[test]
    fn a_second_report_for_the_same_year_is_refused() {
        let first = Timed::new(
            at("2025-01-10T02:00:00Z"),
            AnnualEnvironmentalReportSubmitted {
                year: 2024,
                submitted_on: "2025-01-10".parse().unwrap(),
            },
        );
        let result = TestFramework::<Tenant>::with(no_deps())
            .given(vec![registered(), first])
            .when(report(2024, "2025-01-12T02:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "annual_report_already_submitted",
                ..
            })
        ));
    }

    #[test]
    fn a_submitted_on_that_disagrees_with_occurred_at_is_invalid() {
        let result = TestFramework::<Tenant>::with(no_deps())
            .given(vec![registered()])
            .when(TenantCommand::SubmitAnnualReport {
                tenant_id: id(TENANT),
                occurred_at: at("2025-01-15T20:00:00Z"),
                year: 2024,
                submitted_on: Some("2025-01-15".parse().unwrap()),
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "submitted_on",
                ..
            })
        ));
    }

    #[test]
    fn a_permit_that_ends_before_it_starts_is_invalid() {
        let result = TestFramework::<Tenant>::with(no_deps())
            .given(vec![registered()])
            .when(TenantCommand::RecordPermit {
                tenant_id: id(TENANT),
                occurred_at: at("2024-04-01T02:00:00Z"),
                event: EnvironmentalPermitRecorded {
                    permit_no: Text::name("GP-123").unwrap(),
                    issuer: Text::name("Sở TN&MT").unwrap(),
                    valid_from: "2024-04-01".parse().unwrap(),
                    valid_to: Some("2024-03-01".parse().unwrap()),
                },
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "valid_to",
                ..
            })
        ));
    }
}
