//! The principal service's conversions: a principal issued, its role changed, revoked, and the
//! principal as `PrincipalSummary`.

use kcn_domain::principal::{Principal, PrincipalCommand, PrincipalIssued, Role};
use kcn_domain::values::{Sha256Hex, Text, max_chars};
use uuid::Uuid;

use super::Command;
use crate::fields::{self, Fields, optional, optional_text};
use crate::{proto, wire_enum};

wire_enum!(
    role,
    role_to_proto,
    proto::Role,
    Role,
    "ROLE",
    [
        BoardOfficer,
        CompanyOfficer,
        Auditor,
        Integration,
        Administrator
    ]
);

type Cmd = Command<Principal>;

/// The domain command of an `IssuePrincipal`, on the id the service chose.
pub fn issue(r: proto::IssuePrincipalRequest, f: &mut Fields) -> Option<Cmd> {
    let name = f.check("name", Text::name(&r.name));
    let role = f.check("role", role(r.role));
    let organisation_id = f.check("organisation_id", fields::optional_uuid(&r.organisation_id));
    let expires_at = f.check(
        "expires_at",
        fields::optional_instant(r.expires_at.as_ref()),
    );
    let certificate = f.check(
        "client_certificate_sha256",
        optional(&r.client_certificate_sha256, Sha256Hex::parse),
    );
    let (name, role, organisation_id, expires_at, certificate) =
        (name?, role?, organisation_id?, expires_at?, certificate?);
    Some(Cmd::new(move |principal_id, occurred_at| {
        PrincipalCommand::Issue {
            principal_id,
            occurred_at,
            event: PrincipalIssued {
                name: name.clone(),
                role,
                organisation_id,
                expires_at,
                bootstrap: false,
                client_certificate_sha256: certificate.clone(),
            },
        }
    }))
}

pub fn change_role(r: proto::ChangePrincipalRoleRequest, f: &mut Fields) -> Option<Cmd> {
    let principal_id = f.check("principal_id", fields::uuid(&r.principal_id));
    let role = f.check("role", role(r.role));
    let organisation_id = f.check("organisation_id", fields::optional_uuid(&r.organisation_id));
    let (principal_id, role, organisation_id) = (principal_id?, role?, organisation_id?);
    Some(Cmd::on(principal_id, move |principal_id, occurred_at| {
        PrincipalCommand::ChangeRole {
            principal_id,
            occurred_at,
            role,
            organisation_id,
        }
    }))
}

pub fn revoke(r: proto::RevokePrincipalRequest, f: &mut Fields) -> Option<Cmd> {
    let principal_id = f.check("principal_id", fields::uuid(&r.principal_id));
    let reason = f.check("reason", optional_text(&r.reason, max_chars::NOTE));
    let (principal_id, reason) = (principal_id?, reason?);
    Some(Cmd::on(principal_id, move |principal_id, occurred_at| {
        PrincipalCommand::Revoke {
            principal_id,
            occurred_at,
            reason: reason.clone(),
        }
    }))
}

/// A principal as the contract shows it.
pub fn summary(id: Uuid, p: &Principal, version: u64) -> proto::PrincipalSummary {
    let current = p.current();
    proto::PrincipalSummary {
        principal_id: id.to_string(),
        name: p
            .name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        role: current.map_or(0, |g| role_to_proto(g.role)),
        organisation_id: current
            .and_then(|g| g.organisation_id)
            .map(|o| o.to_string())
            .unwrap_or_default(),
        issued_at: p.issued_at.map(fields::timestamp),
        expires_at: p.expires_at.map(fields::timestamp),
        revoked_at: p.revoked_at.map(fields::timestamp),
        bootstrap: p.bootstrap,
        grants: p
            .grants
            .iter()
            .map(|g| proto::PrincipalGrant {
                from: Some(fields::timestamp(g.from)),
                role: role_to_proto(g.role),
                organisation_id: g.organisation_id.map(|o| o.to_string()).unwrap_or_default(),
            })
            .collect(),
        version,
    }
}

impl super::CommandRequest for proto::IssuePrincipalRequest {
    fn header(&self) -> Option<&proto::CommandHeader> {
        self.header.as_ref()
    }
}
