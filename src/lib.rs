//! The `kcn-ledger` server: wiring of the event store, the read models and the gRPC services, with
//! health and reflection, and a clean shutdown. The binary (`main.rs`) parses the command line and
//! calls [`run`]; the end-to-end tests call [`start`] on a listener bound to `127.0.0.1:0`.

pub mod audit_cli;
pub mod backup;
pub mod config;
pub mod progress;
pub mod rebuild;
pub mod verify;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kcn_domain::time::{Clock, SystemClock};
use kcn_eventstore::{
    Actor, Backend, Checkpointer, EventStore, LogIdentity, PostgresBackend, SqliteBackend,
};
use kcn_projections::{ReadDatabase, ReadModels};
use kcn_services::Ledger;
use kcn_services::agreement::Agreements;
use kcn_services::annual_plan::AnnualPlans;
use kcn_services::audit::Audit;
use kcn_services::audit_query::AuditQueries;
use kcn_services::consultation::Consultations;
use kcn_services::dissemination::Disseminations;
use kcn_services::exchange::Exchanges;
use kcn_services::incident::Incidents;
use kcn_services::inspection::Inspections;
use kcn_services::monitoring::Monitoring;
use kcn_services::procedure::Procedures;
use kcn_services::proto::agreement_service_server::AgreementServiceServer;
use kcn_services::proto::annual_plan_service_server::AnnualPlanServiceServer;
use kcn_services::proto::audit_query_service_server::AuditQueryServiceServer;
use kcn_services::proto::audit_service_server::AuditServiceServer;
use kcn_services::proto::dissemination_service_server::DisseminationServiceServer;
use kcn_services::proto::incident_service_server::IncidentServiceServer;
use kcn_services::proto::industry_consultation_service_server::IndustryConsultationServiceServer;
use kcn_services::proto::information_exchange_service_server::InformationExchangeServiceServer;
use kcn_services::proto::inspection_service_server::InspectionServiceServer;
use kcn_services::proto::monitoring_service_server::MonitoringServiceServer;
use kcn_services::proto::procedure_service_server::ProcedureServiceServer;
use kcn_services::proto::registry_service_server::RegistryServiceServer;
use kcn_services::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

pub use config::{Config, Storage};

/// A server running in this process.
#[derive(Debug)]
pub struct Running {
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Asks the server to stop and waits until in-flight requests have finished.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.context("server task panicked")?
    }
}

/// Opens the store and starts serving on `listener` until [`Running::shutdown`].
pub async fn start(
    config: Config,
    listener: TcpListener,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let (stop, stopped) = oneshot::channel::<()>();
    let addr = listener.local_addr()?;
    let ledger = open(&config, clock).await?;
    let task = tokio::spawn(serve(ledger, listener, async {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Runs the server until SIGINT or SIGTERM, then finishes in-flight requests and returns.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let ledger = open(&config, Arc::new(SystemClock)).await?;
    tracing::info!(addr = %listener.local_addr()?, data_dir = %config.data_dir.display(), "kcn-ledger serving");
    let (signalled_tx, signalled_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(ledger, listener, async move {
        shutdown_signal().await;
        let _ = signalled_tx.send(());
    }));
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.context("server task panicked")?,
        _ = signalled_rx => {}
    }
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: finishing in-flight requests"
    );
    match tokio::time::timeout(grace, &mut server).await {
        Ok(result) => result.context("server task panicked")?,
        Err(_) => {
            tracing::warn!("in-flight requests did not finish within the grace period");
            Ok(())
        }
    }
}

/// Opens the database the configuration names, the log's and the read models': the SQLite file, or
/// PostgreSQL. Its URL is only ever shown redacted (`Storage`'s `Display`).
pub async fn open_storage(config: &Config) -> anyhow::Result<(Arc<dyn Backend>, ReadDatabase)> {
    let storage = config.storage()?;
    Ok(match &storage {
        Storage::Sqlite(path) => {
            let backend = SqliteBackend::open(path, config.sqlite_durability)
                .await
                .with_context(|| format!("cannot open the event log at {storage}"))?;
            let read_db = ReadDatabase::from(&backend);
            (Arc::new(backend), read_db)
        }
        Storage::Postgres {
            url,
            max_connections,
        } => {
            let backend = PostgresBackend::connect(url.expose(), *max_connections)
                .await
                .with_context(|| format!("cannot open the event log at {storage}"))?;
            let read_db = ReadDatabase::from(&backend);
            (Arc::new(backend), read_db)
        }
    })
}

async fn open(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Ledger> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let storage = config.storage()?;
    let (backend, read_db) = open_storage(config).await?;
    tracing::info!(database = %storage, "event log opened");
    let store = EventStore::start(backend, clock.clone(), config.rules.clone()).await?;
    // The log's origin and signing key. On SQLite: configured, or generated into the data directory
    // on first start and kept there. On PostgreSQL, where several servers share one log, every
    // server must be given the same ones: it refuses to start without them. The checkpointer then
    // refuses to start over a log that disagrees with its latest signed checkpoint.
    let identity = match &storage {
        Storage::Sqlite(_) => LogIdentity::load_or_create(&config.data_dir, &config.identity()),
        Storage::Postgres { .. } => LogIdentity::from_config(&config.identity()),
    }
    .context("cannot establish the log's checkpoint origin and signing key")?;
    tracing::info!(
        origin = identity.origin(),
        verifier_key = %identity.verifier_key(),
        "transparency log identity"
    );
    let checkpoints = Checkpointer::start(
        &store,
        identity,
        Duration::from_millis(config.checkpoint_interval_ms),
    )
    .await
    .context("cannot start the checkpointer")?;
    let read = ReadModels::start(store.clone(), read_db).await?;
    let skew = i64::try_from(config.max_future_skew_seconds)
        .context("max_future_skew_seconds is too large")?;
    Ok(Ledger {
        store,
        read,
        clock,
        max_future_skew: chrono::Duration::seconds(skew),
        actor: Actor {
            principal: config.principal.clone(),
            organisation: config.organisation.clone(),
            role: config.role.clone(),
            authentication: "local_principal".to_owned(),
        },
        checkpoints,
        rules: config.rules.clone(),
    })
}

async fn serve(
    ledger: Ledger,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<RegistryServiceServer<Registry>>()
        .await;
    health
        .set_serving::<InformationExchangeServiceServer<Exchanges>>()
        .await;
    health.set_serving::<AuditServiceServer<Audit>>().await;
    health
        .set_serving::<InspectionServiceServer<Inspections>>()
        .await;
    health
        .set_serving::<IncidentServiceServer<Incidents>>()
        .await;
    health
        .set_serving::<MonitoringServiceServer<Monitoring>>()
        .await;
    health
        .set_serving::<AuditQueryServiceServer<AuditQueries>>()
        .await;
    health
        .set_serving::<AgreementServiceServer<Agreements>>()
        .await;
    health
        .set_serving::<AnnualPlanServiceServer<AnnualPlans>>()
        .await;
    health
        .set_serving::<IndustryConsultationServiceServer<Consultations>>()
        .await;
    health
        .set_serving::<DisseminationServiceServer<Disseminations>>()
        .await;
    health
        .set_serving::<ProcedureServiceServer<Procedures>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(kcn_services::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;
    let read = ledger.read.clone();
    let watcher = tokio::spawn(watch_read_models(read.clone(), health.clone()));
    let served = tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(
            kcn_services::error::undecodable_is_invalid_argument,
        ))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(RegistryServiceServer::new(Registry(ledger.clone())))
        .add_service(InformationExchangeServiceServer::new(Exchanges(
            ledger.clone(),
        )))
        .add_service(AuditQueryServiceServer::new(AuditQueries(ledger.clone())))
        .add_service(InspectionServiceServer::new(Inspections(ledger.clone())))
        .add_service(IncidentServiceServer::new(Incidents(ledger.clone())))
        .add_service(MonitoringServiceServer::new(Monitoring(ledger.clone())))
        .add_service(AgreementServiceServer::new(Agreements(ledger.clone())))
        .add_service(AnnualPlanServiceServer::new(AnnualPlans(ledger.clone())))
        .add_service(IndustryConsultationServiceServer::new(Consultations(
            ledger.clone(),
        )))
        .add_service(DisseminationServiceServer::new(Disseminations(
            ledger.clone(),
        )))
        .add_service(ProcedureServiceServer::new(Procedures(ledger.clone())))
        .add_service(AuditServiceServer::new(Audit(ledger)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .context("the gRPC server failed");
    watcher.abort();
    served?;
    read.stop();
    tracing::info!("kcn-ledger stopped");
    Ok(())
}

/// How often health follows the read models.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// Keeps the audit services' health true to the read models: `NOT_SERVING` while any projector is
/// stopped at an event it cannot apply (the audit status RPC says which and why), `SERVING` again
/// once it has moved on.
async fn watch_read_models(
    read: kcn_projections::ReadModels,
    health: tonic_health::server::HealthReporter,
) {
    let mut stuck = false;
    loop {
        tokio::time::sleep(HEALTH_EVERY).await;
        let failing: Vec<String> = match read.status().await {
            Ok(all) => all
                .into_iter()
                .filter_map(|s| s.error.map(|e| format!("{}: {e}", s.name)))
                .collect(),
            Err(e) => vec![format!("status unavailable: {e}")],
        };
        if failing.is_empty() != stuck {
            continue;
        }
        stuck = !failing.is_empty();
        if stuck {
            tracing::error!(read_models = ?failing, "read models stopped; audit services report NOT_SERVING");
            health
                .set_not_serving::<AuditQueryServiceServer<AuditQueries>>()
                .await;
            health.set_not_serving::<AuditServiceServer<Audit>>().await;
        } else {
            tracing::info!("read models caught up again; audit services report SERVING");
            health
                .set_serving::<AuditQueryServiceServer<AuditQueries>>()
                .await;
            health.set_serving::<AuditServiceServer<Audit>>().await;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
