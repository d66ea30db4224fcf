//! `kcn-cqrs-peer`: the benchmark's peer for the command path, stock cqrs-es as its documentation
//! shows it: a `CqrsFramework` over sqlite-es's or postgres-es's `PersistedEventStore`, one
//! aggregate (a company) with one command and one event, behind the same gRPC method the ledger is
//! measured with (`kcn.ledger.v1.RegistryService/RegisterCompany`, `proto/peer.proto`). The harness
//! (`kcn-bench`) starts it as a child process and drives it with the same client code and callers as
//! the ledger, so that the ledger's rate can be set beside what the stock framework does on the same
//! database with the same durability (SQLite WAL with `synchronous=FULL`, as the ledger's log).
//!
//! What it does not do, and the ledger does: idempotency by request id, validation, authorisation,
//! the global position, the transparency log's hashes and checkpoints, and the read models.
//!
//! Usage: `kcn-cqrs-peer sqlite <file>` or `kcn-cqrs-peer postgres <url>`; it prints
//! `cqrs-peer listening on <address>` and serves on 127.0.0.1:0 until killed.

use std::str::FromStr as _;

use anyhow::Context as _;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateError, DomainEvent};
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

mod proto {
    tonic::include_proto!("kcn.ledger.v1");
}

use proto::registry_service_server::{RegistryService, RegistryServiceServer};

/// A company: registered once.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Company {
    registered: bool,
}

#[derive(Debug)]
struct Register {
    enterprise_code: String,
    name: String,
    address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum CompanyEvent {
    CompanyRegistered {
        enterprise_code: String,
        name: String,
        address: String,
    },
}

impl DomainEvent for CompanyEvent {
    fn event_type(&self) -> String {
        "CompanyRegistered".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug)]
struct AlreadyRegistered;

impl std::fmt::Display for AlreadyRegistered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the company is registered already")
    }
}

impl std::error::Error for AlreadyRegistered {}

impl Aggregate for Company {
    const TYPE: &'static str = "InfrastructureCompany";
    type Command = Register;
    type Event = CompanyEvent;
    type Error = AlreadyRegistered;
    type Services = ();

    async fn handle(
        &mut self,
        command: Register,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AlreadyRegistered> {
        if self.registered {
            return Err(AlreadyRegistered);
        }
        let event = CompanyEvent::CompanyRegistered {
            enterprise_code: command.enterprise_code,
            name: command.name,
            address: command.address,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: CompanyEvent) {
        match event {
            CompanyEvent::CompanyRegistered { .. } => self.registered = true,
        }
    }
}

/// The framework over either store.
enum Peer {
    Sqlite(sqlite_es::SqliteCqrs<Company>),
    Postgres(postgres_es::PostgresCqrs<Company>),
}

#[tonic::async_trait]
impl RegistryService for Peer {
    async fn register_company(
        &self,
        request: Request<proto::RegisterCompanyRequest>,
    ) -> Result<Response<proto::RegisterCompanyResponse>, Status> {
        let r = request.into_inner();
        let id = uuid::Uuid::new_v4().to_string();
        let command = Register {
            enterprise_code: r.enterprise_code,
            name: r.name,
            address: r.address,
        };
        let executed = match self {
            Self::Sqlite(cqrs) => cqrs.execute(&id, command).await,
            Self::Postgres(cqrs) => cqrs.execute(&id, command).await,
        };
        match executed {
            Ok(()) => Ok(Response::new(proto::RegisterCompanyResponse {
                outcome: Some(proto::CommandOutcome {
                    aggregate_type: Company::TYPE.to_owned(),
                    aggregate_id: id,
                    first_position: 0,
                    last_position: 0,
                    aggregate_version: 1,
                    event_ids: Vec::new(),
                    replayed: false,
                }),
            })),
            Err(AggregateError::UserError(e)) => Err(Status::already_exists(e.to_string())),
            Err(AggregateError::AggregateConflict) => Err(Status::aborted("conflict")),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }
}

/// sqlite-es's and postgres-es's events table, as their documentation gives it.
const SQLITE_EVENTS: &str = "CREATE TABLE IF NOT EXISTS events (aggregate_type TEXT NOT NULL, \
     aggregate_id TEXT NOT NULL, sequence INTEGER CHECK (sequence >= 0) NOT NULL, \
     event_type TEXT NOT NULL, event_version TEXT NOT NULL, payload TEXT NOT NULL, \
     metadata TEXT NOT NULL, PRIMARY KEY (aggregate_type, aggregate_id, sequence)) STRICT";
const POSTGRES_EVENTS: &str = "CREATE TABLE IF NOT EXISTS events (aggregate_type TEXT NOT NULL, \
     aggregate_id TEXT NOT NULL, sequence BIGINT CHECK (sequence >= 0) NOT NULL, \
     event_type TEXT NOT NULL, event_version TEXT NOT NULL, payload JSON NOT NULL, \
     metadata JSON NOT NULL, PRIMARY KEY (aggregate_type, aggregate_id, sequence))";

async fn serve(peer: Peer) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("cqrs-peer listening on {}", listener.local_addr()?);
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(RegistryServiceServer::new(peer))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [kind, file] if kind == "sqlite" => {
            // The ledger's log's durability: WAL, synchronous=FULL.
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(file)
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(std::time::Duration::from_secs(10));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(10)
                .connect_with(options)
                .await
                .context("cannot open the SQLite file")?;
            sqlx::query(SQLITE_EVENTS).execute(&pool).await?;
            serve(Peer::Sqlite(sqlite_es::sqlite_cqrs(pool, Vec::new(), ()))).await
        }
        [kind, url] if kind == "postgres" => {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .connect_with(options)
                .await
                .context("cannot connect to PostgreSQL")?;
            sqlx::query(POSTGRES_EVENTS).execute(&pool).await?;
            serve(Peer::Postgres(postgres_es::postgres_cqrs(
                pool,
                Vec::new(),
                (),
            )))
            .await
        }
        _ => anyhow::bail!("usage: kcn-cqrs-peer sqlite <file> | kcn-cqrs-peer postgres <url>"),
    }
}
