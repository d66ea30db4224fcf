//! The principal service: issuing, changing and revoking the principals that may call the ledger,
//! and reading them back. The commands go through the log like every other act (their actor is
//! the administrator who called); the one thing kept beside the log is each token's SHA-256, stored
//! once the principal's `PrincipalIssued` has committed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate as _;
use kcn_domain::principal::{Principal, PrincipalCommand, PrincipalIssued, Role};
use kcn_domain::values::Text;
use kcn_eventstore::{Actor, CommandContext, EventStore, Target};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::fields::{self, Fields};
use crate::proto::{self, principal_service_server::PrincipalService};
use crate::{Ledger, auth, caller, error, take, wire::principal as wire};

/// The most principals a list answers.
const MAX_LISTED: usize = 10_000;

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Principals(pub Ledger);

/// Stores the token's hash for a principal whose `PrincipalIssued` has committed.
async fn store_credential(
    store: &EventStore,
    sha256: &str,
    principal_id: &str,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    store
        .backend()
        .put_credential(
            sha256,
            principal_id,
            &kcn_integrity::leaf::format_timestamp(now),
        )
        .await
        .map_err(error::store)
}

/// Creates the first administrator of a log that holds no principal, with `token` as its
/// credential, and answers its id; `None` when the log already has principals (another server
/// may have created the first one at the same moment: only one is ever the bootstrap).
pub async fn bootstrap(
    store: &EventStore,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, Status> {
    let existing = store
        .backend()
        .load_aggregate_type(Principal::TYPE)
        .await
        .map_err(error::store)?;
    if !existing.is_empty() {
        return Ok(None);
    }
    let context = CommandContext {
        scope: Default::default(),
        occurred_at: None,
        actor: Actor {
            principal: "kcn-ledger".to_owned(),
            organisation: None,
            role: None,
            authentication: "first_start".to_owned(),
        },
        request_id: "bootstrap-administrator".to_owned(),
        correlation_id: None,
        causation_id: None,
        source: None,
    };
    let name = Text::name("the first administrator").map_err(|e| error::internal(&e.0))?;
    let executed = store
        .execute::<Principal, _>(
            Target::New,
            None,
            move |principal_id| PrincipalCommand::Issue {
                principal_id,
                occurred_at: now,
                event: PrincipalIssued {
                    name: name.clone(),
                    role: Role::Administrator,
                    organisation_id: None,
                    expires_at: None,
                    bootstrap: true,
                    client_certificate_sha256: None,
                },
            },
            context,
        )
        .await;
    match executed {
        Ok(outcome) if !outcome.replayed => {
            let id = outcome.aggregate_id;
            store_credential(store, &auth::token_sha256(token), &id.to_string(), now).await?;
            Ok(Some(id))
        }
        Ok(_) | Err(kcn_eventstore::StoreError::KeyTaken { .. }) => Ok(None),
        Err(e) => Err(error::store(e)),
    }
}

#[tonic::async_trait]
impl PrincipalService for Principals {
    async fn issue_principal(
        &self,
        request: Request<proto::IssuePrincipalRequest>,
    ) -> Result<Response<proto::IssuePrincipalResponse>, Status> {
        let identity = caller(&request)?;
        let r = request.into_inner();
        let certificate = r.client_certificate_sha256.trim().to_ascii_lowercase();
        let mut f = Fields::default();
        let header = self.0.header(&identity, r.header.as_ref(), &mut f);
        let command = wire::issue(r, &mut f);
        f.finish()?;
        let (Some(header), Some(command)) = (header, command) else {
            return Err(error::internal(
                "a request without violations converted to nothing",
            ));
        };
        // Drawn before the command, so that a failing random source records nothing.
        let token = auth::new_token()?;
        let (occurred_at, build) = (header.occurred_at, command.build);
        let outcome = self
            .0
            .run::<Principal, _>(command.target, header, move |id| build(id, occurred_at))
            .await?;
        if outcome.replayed {
            // The first answer carried the token; it is not kept anywhere to be shown again.
            return Ok(Response::new(proto::IssuePrincipalResponse {
                principal_id: outcome.aggregate_id.clone(),
                outcome: Some(outcome),
                token: String::new(),
            }));
        }
        store_credential(
            &self.0.store,
            &auth::token_sha256(&token),
            &outcome.aggregate_id,
            self.0.clock.now(),
        )
        .await?;
        // The certificate's digest is its credential (the log's unique key made it this
        // principal's alone).
        if !certificate.is_empty() {
            store_credential(
                &self.0.store,
                &certificate,
                &outcome.aggregate_id,
                self.0.clock.now(),
            )
            .await?;
        }
        Ok(Response::new(proto::IssuePrincipalResponse {
            principal_id: outcome.aggregate_id.clone(),
            outcome: Some(outcome),
            token,
        }))
    }

    async fn change_principal_role(
        &self,
        request: Request<proto::ChangePrincipalRoleRequest>,
    ) -> Result<Response<proto::ChangePrincipalRoleResponse>, Status> {
        self.0.command(request, wire::change_role).await
    }

    async fn revoke_principal(
        &self,
        request: Request<proto::RevokePrincipalRequest>,
    ) -> Result<Response<proto::RevokePrincipalResponse>, Status> {
        self.0.command(request, wire::revoke).await
    }

    async fn get_principal(
        &self,
        request: Request<proto::GetPrincipalRequest>,
    ) -> Result<Response<proto::GetPrincipalResponse>, Status> {
        let id = &request.get_ref().principal_id;
        self.0
            .get(
                &request,
                "principal_id",
                id,
                |id, p: &Principal, version| proto::GetPrincipalResponse {
                    principal: Some(wire::summary(id, p, version)),
                },
            )
            .await
    }

    async fn list_principals(
        &self,
        request: Request<proto::ListPrincipalsRequest>,
    ) -> Result<Response<proto::ListPrincipalsResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let organisation = f.check("organisation_id", fields::optional_uuid(&r.organisation_id));
        let active_at = f.check("active_at", fields::optional_instant(r.active_at.as_ref()));
        f.finish()?;
        take!(organisation, active_at);
        let events = self
            .0
            .store
            .backend()
            .load_aggregate_type(Principal::TYPE)
            .await
            .map_err(error::store)?;
        let mut streams: BTreeMap<String, Vec<kcn_eventstore::StoredEvent>> = BTreeMap::new();
        for e in events {
            streams.entry(e.aggregate_id.clone()).or_default().push(e);
        }
        let mut listed = Vec::new();
        for (id, stream) in streams {
            let Ok(id) = Uuid::parse_str(&id) else {
                continue;
            };
            let version = stream.len() as u64;
            let state: Principal = kcn_eventstore::fold(&stream).map_err(error::store)?;
            let grant = match active_at {
                Some(t) => match state.grant_at(t) {
                    Ok(g) => Some(g),
                    Err(_) => continue,
                },
                None => state.current().copied(),
            };
            if organisation.is_some() && grant.and_then(|g| g.organisation_id) != organisation {
                continue;
            }
            let mut summary = wire::summary(id, &state, version);
            if let Some(g) = grant {
                summary.role = wire::role_to_proto(g.role);
                summary.organisation_id =
                    g.organisation_id.map(|o| o.to_string()).unwrap_or_default();
            }
            listed.push((state.issued_at, summary));
        }
        listed.sort_by(|a, b| (a.0, &a.1.principal_id).cmp(&(b.0, &b.1.principal_id)));
        listed.truncate(MAX_LISTED);
        Ok(Response::new(proto::ListPrincipalsResponse {
            principals: listed.into_iter().map(|(_, s)| s).collect(),
        }))
    }

    async fn get_caller(
        &self,
        request: Request<proto::GetCallerRequest>,
    ) -> Result<Response<proto::GetCallerResponse>, Status> {
        let identity = caller(&request)?;
        Ok(Response::new(proto::GetCallerResponse {
            principal_id: identity.principal,
            role: identity.role.map_or(0, wire::role_to_proto),
            organisation_id: identity
                .organisation_id
                .map(|o| o.to_string())
                .unwrap_or_default(),
            authentication: identity.authentication.to_owned(),
        }))
    }
}
