//! `kcn-ledger principals add|list|role|revoke`: an administrator's client of the principal
//! service. `add` prints the new principal's token once, on standard output; the server keeps only
//! its hash.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use kcn_services::proto;
use kcn_services::proto::principal_service_client::PrincipalServiceClient;

use crate::client::AuthChannel;

/// A role as the command line names it (`board_officer`, …).
///
/// # Errors
///
/// An unknown role name, with the known ones.
pub fn parse_role(name: &str) -> Result<kcn_domain::principal::Role, String> {
    kcn_domain::principal::Role::parse(name).ok_or_else(|| {
        let names: Vec<&str> = kcn_domain::principal::Role::ALL
            .iter()
            .map(|r| r.as_str())
            .collect();
        format!("unknown role {name:?}; one of: {}", names.join(", "))
    })
}

fn proto_role(role: kcn_domain::principal::Role) -> proto::Role {
    use kcn_domain::principal::Role as R;
    match role {
        R::BoardOfficer => proto::Role::BoardOfficer,
        R::CompanyOfficer => proto::Role::CompanyOfficer,
        R::Auditor => proto::Role::Auditor,
        R::Integration => proto::Role::Integration,
        R::Administrator => proto::Role::Administrator,
    }
}

fn role_name(raw: i32) -> &'static str {
    match proto::Role::try_from(raw) {
        Ok(proto::Role::BoardOfficer) => "board_officer",
        Ok(proto::Role::CompanyOfficer) => "company_officer",
        Ok(proto::Role::Auditor) => "auditor",
        Ok(proto::Role::Integration) => "integration",
        Ok(proto::Role::Administrator) => "administrator",
        _ => "unknown",
    }
}

fn header(now: DateTime<Utc>) -> Option<proto::CommandHeader> {
    Some(proto::CommandHeader {
        request_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: 0,
        }),
        ..Default::default()
    })
}

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", e.code(), e.message())
}

/// What `principals add` issues.
#[derive(Debug)]
pub struct NewPrincipal {
    pub name: String,
    pub role: kcn_domain::principal::Role,
    pub organisation_id: Option<uuid::Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    /// A client certificate (PEM) that identifies the principal over mutual TLS.
    pub certificate: Option<std::path::PathBuf>,
}

/// The SHA-256 of the DER of the first certificate of a PEM file: how the server knows a client
/// certificate.
///
/// # Errors
///
/// A file that cannot be read or holds no certificate.
pub fn certificate_sha256(path: &std::path::Path) -> anyhow::Result<String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    use sha2::Digest as _;
    let der = CertificateDer::from_pem_file(path)
        .with_context(|| format!("{} holds no PEM certificate", path.display()))?;
    Ok(hex::encode(sha2::Sha256::digest(der.as_ref())))
}

/// Issues a principal and answers its id and token.
///
/// # Errors
///
/// The server's refusal.
pub async fn add(channel: AuthChannel, new: NewPrincipal) -> anyhow::Result<(String, String)> {
    let client_certificate_sha256 = match &new.certificate {
        Some(path) => certificate_sha256(path)?,
        None => String::new(),
    };
    let mut client = PrincipalServiceClient::new(channel);
    let answer = client
        .issue_principal(proto::IssuePrincipalRequest {
            header: header(Utc::now()),
            name: new.name,
            role: proto_role(new.role) as i32,
            organisation_id: new
                .organisation_id
                .map(|o| o.to_string())
                .unwrap_or_default(),
            expires_at: new.expires_at.map(|t| prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: 0,
            }),
            client_certificate_sha256,
        })
        .await
        .map_err(status)?
        .into_inner();
    Ok((answer.principal_id, answer.token))
}

/// Changes a principal's role.
///
/// # Errors
///
/// The server's refusal.
pub async fn change_role(
    channel: AuthChannel,
    principal_id: &str,
    role: kcn_domain::principal::Role,
    organisation_id: Option<uuid::Uuid>,
) -> anyhow::Result<()> {
    PrincipalServiceClient::new(channel)
        .change_principal_role(proto::ChangePrincipalRoleRequest {
            header: header(Utc::now()),
            principal_id: principal_id.to_owned(),
            role: proto_role(role) as i32,
            organisation_id: organisation_id.map(|o| o.to_string()).unwrap_or_default(),
        })
        .await
        .map_err(status)?;
    Ok(())
}

/// Revokes a principal.
///
/// # Errors
///
/// The server's refusal.
pub async fn revoke(
    channel: AuthChannel,
    principal_id: &str,
    reason: Option<String>,
) -> anyhow::Result<()> {
    PrincipalServiceClient::new(channel)
        .revoke_principal(proto::RevokePrincipalRequest {
            header: header(Utc::now()),
            principal_id: principal_id.to_owned(),
            reason: reason.unwrap_or_default(),
        })
        .await
        .map_err(status)?;
    Ok(())
}

/// Lists principals as lines of text (or JSON lines).
///
/// # Errors
///
/// The server's refusal.
pub async fn list(
    channel: AuthChannel,
    organisation_id: Option<uuid::Uuid>,
    active_at: Option<DateTime<Utc>>,
    json: bool,
) -> anyhow::Result<Vec<String>> {
    let answer = PrincipalServiceClient::new(channel)
        .list_principals(proto::ListPrincipalsRequest {
            organisation_id: organisation_id.map(|o| o.to_string()).unwrap_or_default(),
            active_at: active_at.map(|t| prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: 0,
            }),
        })
        .await
        .map_err(status)?
        .into_inner();
    let time = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, 0))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    answer
        .principals
        .iter()
        .map(|p| {
            let state = if p.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            };
            if json {
                serde_json::to_string(&serde_json::json!({
                    "principal_id": p.principal_id,
                    "name": p.name,
                    "role": role_name(p.role),
                    "organisation_id": p.organisation_id,
                    "issued_at": time(&p.issued_at),
                    "expires_at": time(&p.expires_at),
                    "revoked_at": time(&p.revoked_at),
                }))
                .context("cannot write JSON")
            } else {
                Ok(format!(
                    "{}  {:<16} {:<36}  {:<7}  {}",
                    p.principal_id,
                    role_name(p.role),
                    if p.organisation_id.is_empty() {
                        "-"
                    } else {
                        &p.organisation_id
                    },
                    state,
                    p.name
                ))
            }
        })
        .collect()
}
