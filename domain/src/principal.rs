//! The Principal aggregate: a system or person that may call the ledger, the organisation it acts
//! for and its role. Issuing, changing the role of and revoking a principal are events in the log
//! like any other act, so that an auditor can answer "who could act for company X on date D" from
//! the log alone. The credential itself (a bearer token, or the hash it is stored as) is never in
//! the log: the store keeps the hash beside it, and only the server ever compares it.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::values::Text;
use crate::{Deps, DomainError, events};

/// The roles of the coordination regulation's two sides and of the people who watch them. Which
/// RPC each may call is the table of `kcn_services::access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// An officer of the Management Board (an authority): acts for that authority, on the parks
    /// under its jurisdiction.
    #[serde(rename = "ROLE_BOARD_OFFICER")]
    BoardOfficer,
    /// An officer of an infrastructure company: acts for that company, on the parks it runs.
    #[serde(rename = "ROLE_COMPANY_OFFICER")]
    CompanyOfficer,
    /// Reads everything, writes nothing.
    #[serde(rename = "ROLE_AUDITOR")]
    Auditor,
    /// An e-government platform: reads the log and its proofs, submits monitoring alerts.
    #[serde(rename = "ROLE_INTEGRATION")]
    Integration,
    /// Issues and revokes principals and keeps the registry of who is who; records no business act.
    #[serde(rename = "ROLE_ADMINISTRATOR")]
    Administrator,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::BoardOfficer,
        Role::CompanyOfficer,
        Role::Auditor,
        Role::Integration,
        Role::Administrator,
    ];

    /// The name recorded in an event's metadata and written by the command line (`board_officer`);
    /// payloads hold the contract's enum name (`ROLE_BOARD_OFFICER`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::BoardOfficer => "board_officer",
            Role::CompanyOfficer => "company_officer",
            Role::Auditor => "auditor",
            Role::Integration => "integration",
            Role::Administrator => "administrator",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The kind of organisation a principal of this role acts for, if it acts for one.
    pub fn organisation_kind(self) -> Option<AggregateKind> {
        match self {
            Role::BoardOfficer => Some(AggregateKind::Authority),
            Role::CompanyOfficer => Some(AggregateKind::InfrastructureCompany),
            Role::Auditor | Role::Integration | Role::Administrator => None,
        }
    }
}

/// `PrincipalIssued`: a principal may call the ledger from now on, in this role, for this
/// organisation (an authority for a Board officer, a company for a company officer), until it
/// expires or is revoked. Who issued it is the event's actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrincipalIssued {
    pub name: Text,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The administrator a server created on its first start, when the log held no principal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bootstrap: bool,
    /// The SHA-256 of the DER of the client certificate that identifies the principal over mutual
    /// TLS, when it has one (a certificate is public: its digest is no secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_sha256: Option<crate::values::Sha256Hex>,
}
impl EventPayload for PrincipalIssued {}

/// `PrincipalRoleChanged`: from now on the principal acts in this role for this organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrincipalRoleChanged {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<Uuid>,
}
impl EventPayload for PrincipalRoleChanged {}

/// `PrincipalRevoked`: the principal's credential no longer authenticates, from now on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrincipalRevoked {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}
impl EventPayload for PrincipalRevoked {}

events!(
    /// Events of a principal.
    PrincipalEvent { PrincipalIssued, PrincipalRoleChanged, PrincipalRevoked }
);

/// Commands on a principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PrincipalCommand {
    Issue {
        principal_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: PrincipalIssued,
    },
    ChangeRole {
        principal_id: Uuid,
        occurred_at: DateTime<Utc>,
        role: Role,
        organisation_id: Option<Uuid>,
    },
    Revoke {
        principal_id: Uuid,
        occurred_at: DateTime<Utc>,
        reason: Option<Text>,
    },
}

/// What a principal could do from a point in time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub from: DateTime<Utc>,
    pub role: Role,
    pub organisation_id: Option<Uuid>,
}

/// Why a principal's credential does not authenticate at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactive {
    Revoked(DateTime<Utc>),
    Expired(DateTime<Utc>),
    NotYetIssued,
}

/// A principal's current state, with the history of its grants.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Principal {
    pub name: Option<Text>,
    pub issued_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub bootstrap: bool,
    /// Every grant in the order it took effect; the last is the current one.
    pub grants: Vec<Grant>,
    pub latest: Option<DateTime<Utc>>,
}

impl Principal {
    /// The grant in force at `t`, or why the principal could not act then.
    pub fn grant_at(&self, t: DateTime<Utc>) -> Result<Grant, Inactive> {
        if let Some(revoked) = self.revoked_at
            && revoked <= t
        {
            return Err(Inactive::Revoked(revoked));
        }
        if let Some(expires) = self.expires_at
            && expires <= t
        {
            return Err(Inactive::Expired(expires));
        }
        self.grants
            .iter()
            .rev()
            .find(|g| g.from <= t)
            .copied()
            .ok_or(Inactive::NotYetIssued)
    }

    /// The current grant, whatever the time.
    pub fn current(&self) -> Option<&Grant> {
        self.grants.last()
    }
}

/// Refuses an organisation that does not fit the role: a Board officer acts for an authority, a
/// company officer for an infrastructure company, the other roles for no organisation.
async fn check_organisation(
    deps: &Deps,
    role: Role,
    organisation_id: Option<Uuid>,
) -> Result<(), DomainError> {
    match (role.organisation_kind(), organisation_id) {
        (Some(kind), Some(id)) => deps.require("organisation_id", kind, id).await,
        (Some(kind), None) => Err(DomainError::invalid(
            "organisation_id",
            format!("a {} acts for one {kind}: name it", role.as_str()),
        )),
        (None, Some(_)) => Err(DomainError::invalid(
            "organisation_id",
            format!(
                "a {} acts for no organisation: leave it empty",
                role.as_str()
            ),
        )),
        (None, None) => Ok(()),
    }
}

impl Aggregate for Principal {
    const TYPE: &'static str = "Principal";
    type Command = PrincipalCommand;
    type Event = Timed<PrincipalEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: PrincipalCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            PrincipalCommand::Issue {
                principal_id,
                occurred_at,
                event,
            } => {
                if self.issued_at.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::Principal,
                        id: principal_id,
                    });
                }
                check_organisation(deps, event.role, event.organisation_id).await?;
                if event.expires_at.is_some_and(|e| e <= occurred_at) {
                    return Err(DomainError::invalid(
                        "expires_at",
                        "lies before the principal is issued",
                    ));
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            PrincipalCommand::ChangeRole {
                principal_id,
                occurred_at,
                role,
                organisation_id,
            } => {
                self.require_active(principal_id, occurred_at)?;
                check_organisation(deps, role, organisation_id).await?;
                if self
                    .current()
                    .is_some_and(|g| g.role == role && g.organisation_id == organisation_id)
                {
                    return Err(DomainError::rule(
                        "nothing_changed",
                        "the principal already has this role for this organisation",
                    ));
                }
                let event = PrincipalRoleChanged {
                    role,
                    organisation_id,
                };
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            PrincipalCommand::Revoke {
                principal_id,
                occurred_at,
                reason,
            } => {
                self.require_active(principal_id, occurred_at)?;
                let event = PrincipalRevoked { reason };
                sink.write(Timed::new(occurred_at, event), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Timed<PrincipalEvent>) {
        let at = event.occurred_at;
        self.latest = Some(at);
        match event.body {
            PrincipalEvent::PrincipalIssued(e) => {
                self.name = Some(e.name);
                self.issued_at = Some(at);
                self.expires_at = e.expires_at;
                self.bootstrap = e.bootstrap;
                self.grants.push(Grant {
                    from: at,
                    role: e.role,
                    organisation_id: e.organisation_id,
                });
            }
            PrincipalEvent::PrincipalRoleChanged(e) => self.grants.push(Grant {
                from: at,
                role: e.role,
                organisation_id: e.organisation_id,
            }),
            PrincipalEvent::PrincipalRevoked(_) => self.revoked_at = Some(at),
        }
    }
}

impl Principal {
    fn require_active(&self, id: Uuid, occurred_at: DateTime<Utc>) -> Result<(), DomainError> {
        if self.issued_at.is_none() {
            return Err(DomainError::NotFound {
                kind: AggregateKind::Principal,
                id,
            });
        }
        if self.revoked_at.is_some() {
            return Err(DomainError::rule(
                "principal_revoked",
                format!("principal {id} is revoked; issue a new one"),
            ));
        }
        // A principal's grants are a sequence in time: a change is recorded after the current one.
        not_before_its(
            self.latest,
            occurred_at,
            "a change of a principal",
            "its latest change",
        )
    }
}

impl LedgerAggregate for Principal {
    type Body = PrincipalEvent;
    const KIND: AggregateKind = AggregateKind::Principal;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        None
    }

    /// Only one principal is ever the bootstrap administrator, however many servers start at once.
    fn unique_keys(_id: Uuid, new: &[Timed<PrincipalEvent>]) -> Vec<crate::UniqueKey> {
        new.iter()
            .filter_map(|e| match &e.body {
                PrincipalEvent::PrincipalIssued(p) => {
                    Some(
                        p.bootstrap
                            .then(|| crate::UniqueKey {
                                scope: "bootstrap_administrator",
                                key: "bootstrap".to_owned(),
                                field: "bootstrap",
                            })
                            .into_iter()
                            .chain(p.client_certificate_sha256.as_ref().map(|c| {
                                crate::UniqueKey {
                                    scope: "client_certificate",
                                    key: c.as_str().to_owned(),
                                    field: "client_certificate_sha256",
                                }
                            })),
                    )
                }
                _ => None,
            })
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, id, no_deps};

    fn issued(role: Role, organisation_id: Option<Uuid>) -> Timed<PrincipalEvent> {
        Timed::new(
            at("2026-03-01T02:00:00Z"),
            PrincipalIssued {
                name: Text::name("Phòng Môi trường – hệ thống").unwrap(),
                role,
                organisation_id,
                expires_at: Some(at("2026-09-01T00:00:00Z")),
                bootstrap: false,
                client_certificate_sha256: None,
            },
        )
    }

    #[test]
    fn an_auditor_acts_for_no_organisation() {
        let refused = TestFramework::<Principal>::with(no_deps())
            .given_no_previous_events()
            .when(PrincipalCommand::Issue {
                principal_id: id(1),
                occurred_at: at("2026-03-01T02:00:00Z"),
                event: PrincipalIssued {
                    name: Text::name("auditor").unwrap(),
                    role: Role::Auditor,
                    organisation_id: Some(id(9)),
                    expires_at: None,
                    bootstrap: false,
                    client_certificate_sha256: None,
                },
            });
        assert!(matches!(
            refused.inspect_result(),
            Err(DomainError::Invalid {
                field: "organisation_id",
                ..
            })
        ));
    }

    #[test]
    fn a_revoked_principal_changes_no_more() {
        let result = TestFramework::<Principal>::with(no_deps())
            .given(vec![
                issued(Role::Auditor, None),
                Timed::new(
                    at("2026-03-02T02:00:00Z"),
                    PrincipalRevoked { reason: None },
                ),
            ])
            .when(PrincipalCommand::Revoke {
                principal_id: id(1),
                occurred_at: at("2026-03-03T02:00:00Z"),
                reason: None,
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "principal_revoked",
                ..
            })
        ));
    }

    #[test]
    fn the_grant_in_force_follows_the_history() {
        let mut p = Principal::default();
        p.apply(issued(Role::Auditor, None));
        p.apply(Timed::new(
            at("2026-04-01T00:00:00Z"),
            PrincipalRoleChanged {
                role: Role::Integration,
                organisation_id: None,
            },
        ));
        p.apply(Timed::new(
            at("2026-05-01T00:00:00Z"),
            PrincipalRevoked { reason: None },
        ));
        assert_eq!(
            p.grant_at(at("2026-02-01T00:00:00Z")),
            Err(Inactive::NotYetIssued)
        );
        assert_eq!(
            p.grant_at(at("2026-03-15T00:00:00Z")).unwrap().role,
            Role::Auditor
        );
        assert_eq!(
            p.grant_at(at("2026-04-15T00:00:00Z")).unwrap().role,
            Role::Integration
        );
        assert_eq!(
            p.grant_at(at("2026-05-01T00:00:00Z")),
            Err(Inactive::Revoked(at("2026-05-01T00:00:00Z")))
        );
    }

    #[test]
    fn an_expired_principal_does_not_act() {
        let mut p = Principal::default();
        p.apply(issued(Role::Auditor, None));
        assert_eq!(
            p.grant_at(at("2026-09-01T00:00:00Z")),
            Err(Inactive::Expired(at("2026-09-01T00:00:00Z")))
        );
    }
}
