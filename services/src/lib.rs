//! The gRPC edge of kcn-ledger. This is the one crate that knows the wire: it converts requests into
//! validated domain commands (one function per command in [`wire`], on the field parsers of
//! [`fields`]), hands them to the event store, and maps every outcome and failure once ([`error`]).
//! A gRPC method is one call: [`Ledger::command`] or [`Ledger::get`] with its `wire` function.

pub mod access;
pub mod agreement;
pub mod annual_plan;
pub mod audit;
pub mod audit_query;
pub mod auth;
pub mod consultation;
pub mod directory;
pub mod dissemination;
pub mod error;
pub mod exchange;
pub mod fields;
pub mod incident;
pub mod inspection;
pub mod monitoring;
pub mod page;
pub mod principal;
pub mod procedure;
pub mod registry;
pub mod wire;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kcn_domain::LedgerAggregate;
use kcn_domain::information_exchange::OrganisationRef;
use kcn_domain::park::Park;
use kcn_domain::scope::Scope;
use kcn_domain::time::Clock;
use kcn_eventstore::{Checkpointer, CommandContext, EventStore, Outcome, Source, Target};
use kcn_projections::ReadSide;
use serde::Serialize;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::fields::Fields;
use crate::wire::{Command, CommandRequest, CommandResponse};

/// The generated code of the public contract, `proto/kcn/ledger/v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("kcn.ledger.v1");

    /// The encoded descriptors of every file of the contract, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/kcn_descriptor.bin"));
}

/// What every service needs: the log, the read models, the clock and who acts.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub store: EventStore,
    /// The read models, asked through their typed query handles.
    pub read: ReadSide,
    /// Page tokens of the queries, under a secret every server of the database shares.
    pub pages: page::PageTokens,
    pub clock: Arc<dyn Clock>,
    /// How far in the future an `occurred_at` may lie (clock skew between systems).
    pub max_future_skew: chrono::Duration,
    /// Signed checkpoints and proofs over the log's Merkle tree.
    pub checkpoints: Checkpointer,
    /// The legal limits as configured, which the audit queries judge against.
    pub rules: kcn_domain::LegalRules,
    /// Set when the server begins to shut down: streams that never end on their own (subscriptions)
    /// end then, telling the client where to resume.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// The subscriptions that may be open at once (`max_subscriptions`).
    pub subscriptions: Arc<tokio::sync::Semaphore>,
}

/// A command's parsed header.
#[derive(Debug, Clone)]
pub struct Header {
    pub occurred_at: DateTime<Utc>,
    pub expected_version: Option<u64>,
    pub context: CommandContext,
}

/// A command header's fields, each validated.
#[derive(Debug, Clone)]
pub struct ParsedHeader {
    pub occurred_at: DateTime<Utc>,
    pub expected_version: Option<u64>,
    pub request_id: String,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub source: Option<Source>,
}

/// Parses and validates a command header, with `occurred_at` at most `latest` (the server's clock
/// plus the skew it allows); violations are named `header.<field>`. Pure: the fuzz target
/// (`wire::fuzzing`) runs it as the server does.
pub fn parse_header(
    header: Option<&proto::CommandHeader>,
    latest: DateTime<Utc>,
    f: &mut Fields,
) -> Option<ParsedHeader> {
    let Some(h) = header else {
        f.violation("header", "is required (request_id and occurred_at)");
        return None;
    };
    let request_id = f.check("header.request_id", fields::token(&h.request_id, true));
    let correlation_id = f.check(
        "header.correlation_id",
        fields::token(&h.correlation_id, false),
    );
    let causation_id = f.check("header.causation_id", fields::token(&h.causation_id, false));
    let source_system = f.check(
        "header.source_system",
        fields::token(&h.source_system, false),
    );
    let source_message_id = f.check(
        "header.source_message_id",
        fields::token(&h.source_message_id, false),
    );
    let occurred_at = match &h.occurred_at {
        None => {
            f.violation("header.occurred_at", "is required: when the act happened");
            None
        }
        Some(ts) => f.check("header.occurred_at", fields::instant(ts)),
    };
    if let Some(t) = occurred_at
        && t > latest
    {
        f.violation(
            "header.occurred_at",
            format!("{t} lies in the future (the server allows up to {latest})"),
        );
    }
    if source_message_id.as_ref().is_some_and(Option::is_some)
        && source_system.as_ref().is_some_and(Option::is_none)
    {
        f.violation(
            "header.source_system",
            "is required when source_message_id is given",
        );
    }
    Some(ParsedHeader {
        occurred_at: occurred_at?,
        expected_version: h.expected_version,
        request_id: request_id??,
        correlation_id: correlation_id?,
        causation_id: causation_id?,
        source: source_system?.map(|system| Source {
            system,
            message_id: source_message_id.flatten(),
        }),
    })
}

impl Ledger {
    /// Parses and validates a command header; violations are named `header.<field>`. The actor is
    /// the authenticated caller, never a field of the request.
    pub fn header(
        &self,
        caller: &access::Identity,
        header: Option<&proto::CommandHeader>,
        f: &mut Fields,
    ) -> Option<Header> {
        let latest = self.clock.now() + self.max_future_skew;
        let parsed = parse_header(header, latest, f)?;
        // The request log's line for this RPC names the command it carried (the span is opened
        // by the server's RPC layer; outside one this does nothing).
        tracing::Span::current().record("request_id", parsed.request_id.as_str());
        Some(Header {
            occurred_at: parsed.occurred_at,
            expected_version: parsed.expected_version,
            context: CommandContext {
                actor: caller.actor(),
                scope: caller.scope(),
                occurred_at: Some(parsed.occurred_at),
                request_id: parsed.request_id,
                correlation_id: parsed.correlation_id,
                causation_id: parsed.causation_id,
                source: parsed.source,
            },
        })
    }

    /// The one path of every command RPC: parses the header and, with `convert`, every field of the
    /// request (all violations at once), then runs the command through the log and answers its
    /// outcome.
    pub async fn command<R, P, A>(
        &self,
        request: Request<R>,
        convert: impl FnOnce(R, &mut Fields) -> Option<Command<A>>,
    ) -> Result<Response<P>, Status>
    where
        R: CommandRequest,
        P: CommandResponse,
        A: LedgerAggregate + Clone + 'static,
        A::Command: Serialize + Send + 'static,
    {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.header(&caller, r.header(), &mut f);
        let command = convert(r, &mut f);
        f.finish()?;
        let (Some(header), Some(command)) = (header, command) else {
            return Err(error::internal(
                "a request without violations converted to nothing",
            ));
        };
        let (occurred_at, build) = (header.occurred_at, command.build);
        let outcome = self
            .run::<A, _>(command.target, header, move |id| build(id, occurred_at))
            .await?;
        Ok(Response::new(P::from_outcome(outcome)))
    }

    /// Runs a command through the log and maps its outcome.
    pub async fn run<A, F>(
        &self,
        target: Target,
        header: Header,
        build: F,
    ) -> Result<proto::CommandOutcome, Status>
    where
        A: LedgerAggregate + Clone + 'static,
        A::Command: Serialize + Send + 'static,
        F: Fn(Uuid) -> A::Command + Send + Sync + 'static,
    {
        let outcome = self
            .store
            .execute::<A, F>(target, header.expected_version, build, header.context)
            .await
            .map_err(error::store)?;
        tracing::info!(
            aggregate_type = %outcome.aggregate_type,
            aggregate_id = %outcome.aggregate_id,
            first_position = outcome.first_position,
            last_position = outcome.last_position,
            replayed = outcome.replayed,
            breaches = outcome.breaches.len(),
            "command committed"
        );
        Ok(outcome_to_proto(outcome))
    }

    /// The one path of every `Get…` RPC: loads the aggregate named by the request's `field` (or
    /// answers `NOT_FOUND`), refuses it to a caller who may not see it ([`Ledger::visible`]) and
    /// maps it with `respond` (id, state, version).
    pub async fn get<A: LedgerAggregate, P, R>(
        &self,
        request: &Request<R>,
        field: &str,
        raw_id: &str,
        respond: impl FnOnce(Uuid, &A, u64) -> P,
    ) -> Result<Response<P>, Status> {
        let caller = caller(request)?;
        let mut f = Fields::default();
        let id = f.check(field, fields::uuid(raw_id));
        f.finish()?;
        take!(id);
        match self.store.load::<A>(id).await.map_err(error::store)? {
            Some((aggregate, version)) => {
                self.visible(&caller, id, &aggregate).await?;
                Ok(Response::new(respond(id, &aggregate, version)))
            }
            None => Err(error::domain(kcn_domain::DomainError::NotFound {
                kind: A::KIND,
                id,
            })),
        }
    }
}

impl Ledger {
    /// Whether the company runs the park today.
    pub async fn company_runs(&self, company: Uuid, park_id: Uuid) -> Result<bool, Status> {
        let today = kcn_domain::time::local_date(self.clock.now());
        Ok(self
            .store
            .load::<Park>(park_id)
            .await
            .map_err(error::store)?
            .is_some_and(|(park, _)| park.company_at(today) == Some(company)))
    }

    /// Refuses a record to a company officer whose company is not a party to it and does not run
    /// its park today (`PERMISSION_DENIED`, `OUTSIDE_ORGANISATION_SCOPE`). The registry of who is
    /// who (authorities, companies, parks) and the Board's guidance and trainings are public to
    /// every reader; Board officers, auditors and the administrator read every record.
    pub async fn visible<A: LedgerAggregate>(
        &self,
        caller: &access::Identity,
        id: Uuid,
        aggregate: &A,
    ) -> Result<(), Status> {
        use kcn_domain::AggregateKind as Kind;
        let Scope::Company(company) = caller.scope() else {
            return Ok(());
        };
        if matches!(
            A::KIND,
            Kind::Authority | Kind::InfrastructureCompany | Kind::Park | Kind::Dissemination
        ) {
            return Ok(());
        }
        let acting = aggregate.acting_for(id, &[]);
        let party = acting.parties.contains(&OrganisationRef::company(company));
        let runs = match acting.park {
            Some(park_id) => self.company_runs(company, park_id).await?,
            None => false,
        };
        if party || runs {
            return Ok(());
        }
        Err(error::domain(kcn_domain::DomainError::Forbidden {
            rule: "outside_organisation_scope",
            message: format!(
                "{} {id} is not a record of company {company}: a company officer reads the \
                 records of the parks its company runs and of the acts it is a party to",
                A::KIND
            ),
        }))
    }
}

/// The caller the authentication layer established for a request ([`auth::AuthLayer`]).
pub fn caller<R>(request: &Request<R>) -> Result<access::Identity, Status> {
    request
        .extensions()
        .get::<access::Identity>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("the server authenticated no caller for this call"))
}

pub(crate) fn outcome_to_proto(o: Outcome) -> proto::CommandOutcome {
    proto::CommandOutcome {
        aggregate_type: o.aggregate_type,
        aggregate_id: o.aggregate_id.to_string(),
        first_position: o.first_position,
        last_position: o.last_position,
        aggregate_version: o.aggregate_version,
        event_ids: o.event_ids.iter().map(Uuid::to_string).collect(),
        breaches: o
            .breaches
            .into_iter()
            .map(|b| proto::Breach {
                limit: b.limit,
                detail: b.detail,
            })
            .collect(),
        replayed: o.replayed,
    }
}
