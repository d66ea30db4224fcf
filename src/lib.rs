//! The `kcn-ledger` server: wiring of the event store, the read models and the gRPC services, with
//! health and reflection, and a clean shutdown. The binary (`main.rs`) parses the command line and
//! calls [`run`]; the end-to-end tests call [`start`] on a listener bound to `127.0.0.1:0`.

pub mod admission;
pub mod audit_cli;
pub mod backup;
pub mod bootstrap;
pub mod client;
pub mod config;
pub mod connect;
pub mod connections;
pub mod console;
pub mod deliveries_cli;
pub mod delivery;
pub mod demo;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod openapi;
pub mod principals_cli;
pub mod progress;
pub mod projections_cli;
pub mod telemetry;
pub mod verify;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kcn_domain::time::Clock;
use kcn_eventstore::SystemClock;
use kcn_eventstore::{
    Backend, Checkpointer, EventStore, LogIdentity, PostgresBackend, SqliteBackend,
};
use kcn_projections::{ReadDatabase, ReadSide};
use kcn_services::Ledger;
use kcn_services::agreement::Agreements;
use kcn_services::annual_plan::AnnualPlans;
use kcn_services::audit::Audit;
use kcn_services::audit_query::AuditQueries;
use kcn_services::auth::{AuthLayer, Authenticator};
use kcn_services::consultation::Consultations;
use kcn_services::directory::Directory;
use kcn_services::dissemination::Disseminations;
use kcn_services::exchange::Exchanges;
use kcn_services::incident::Incidents;
use kcn_services::inspection::Inspections;
use kcn_services::monitoring::Monitoring;
use kcn_services::principal::Principals;
use kcn_services::procedure::Procedures;
use kcn_services::proto::agreement_service_server::AgreementServiceServer;
use kcn_services::proto::annual_plan_service_server::AnnualPlanServiceServer;
use kcn_services::proto::audit_query_service_server::AuditQueryServiceServer;
use kcn_services::proto::audit_service_server::AuditServiceServer;
use kcn_services::proto::directory_service_server::DirectoryServiceServer;
use kcn_services::proto::dissemination_service_server::DisseminationServiceServer;
use kcn_services::proto::incident_service_server::IncidentServiceServer;
use kcn_services::proto::industry_consultation_service_server::IndustryConsultationServiceServer;
use kcn_services::proto::information_exchange_service_server::InformationExchangeServiceServer;
use kcn_services::proto::inspection_service_server::InspectionServiceServer;
use kcn_services::proto::monitoring_service_server::MonitoringServiceServer;
use kcn_services::proto::principal_service_server::PrincipalServiceServer;
use kcn_services::proto::procedure_service_server::ProcedureServiceServer;
use kcn_services::proto::registry_service_server::RegistryServiceServer;
use kcn_services::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Config, Storage};

use crate::connections::ConnectionOptions;

/// A server running in this process.
#[derive(Debug)]
pub struct Running {
    pub addr: std::net::SocketAddr,
    /// Where the Prometheus metrics are served, when `metrics_listen` is set.
    pub metrics_addr: Option<std::net::SocketAddr>,
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
    let endpoints = Endpoints::open(&config, listener).await?;
    let metrics_addr = endpoints.metrics_addr()?;
    let (ledger, deliveries) = open(&config, clock).await?;
    let auth = authenticator(&config, &ledger).await?;
    let task = tokio::spawn(serve(ledger, deliveries, auth, endpoints, async {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        metrics_addr,
        stop: Some(stop),
        task,
    })
}

/// What a server listens on, bound before the store is opened so that a taken port fails at once:
/// the gRPC listener with its connection options, and the metrics endpoint when configured.
/// The server's TLS configuration, read from the configured files: `None` without `tls_cert` and
/// `tls_key`.
fn tls_config(config: &Config) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
    };
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (read(cert, "TLS certificate")?, read(key, "TLS key")?),
        (None, None) if config.tls_client_ca.is_some() => {
            anyhow::bail!("tls_client_ca needs tls_cert and tls_key: mutual TLS is TLS first")
        }
        (None, None) => return Ok(None),
        _ => anyhow::bail!("tls_cert and tls_key go together: set both, or neither"),
    };
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &config.tls_client_ca {
        tls = tls
            .client_ca_root(Certificate::from_pem(read(ca, "client CA certificate")?))
            .client_auth_optional(true);
    }
    Ok(Some(tls))
}

struct Endpoints {
    grpc: TcpListener,
    connections: ConnectionOptions,
    admission: admission::Admission,
    tls: Option<tonic::transport::ServerTlsConfig>,
    metrics: Option<TcpListener>,
    cors: Option<tower_http::cors::CorsLayer>,
}

impl Endpoints {
    async fn open(config: &Config, grpc: TcpListener) -> anyhow::Result<Self> {
        let metrics = match config.metrics_listen {
            Some(addr) => Some(telemetry::metrics::bind(addr).await?),
            None => None,
        };
        Ok(Self {
            grpc,
            connections: ConnectionOptions::from_config(config),
            tls: tls_config(config)?,
            admission: admission::Admission {
                max_concurrent_calls: config.max_concurrent_calls,
                calls_per_second: config.rate_limit_per_second,
                burst: config.rate_limit_burst,
                max_message_bytes: config.max_message_bytes,
            },
            metrics,
            cors: connect::cors(&config.cors_allowed_origins)?,
        })
    }

    fn metrics_addr(&self) -> anyhow::Result<Option<std::net::SocketAddr>> {
        Ok(self
            .metrics
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?)
    }
}

/// Runs the server until SIGINT or SIGTERM, then finishes in-flight requests and returns.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let addr = listener.local_addr()?;
    let endpoints = Endpoints::open(&config, listener).await?;
    let metrics_addr = endpoints.metrics_addr()?;
    let (ledger, deliveries) = open(&config, Arc::new(SystemClock)).await?;
    let auth = authenticator(&config, &ledger).await?;
    if let Some(metrics_addr) = metrics_addr {
        tracing::info!(addr = %metrics_addr, "metrics serving on /metrics");
    }
    tracing::info!(addr = %addr, data_dir = %config.data_dir.display(), "kcn-ledger serving");
    let (signalled_tx, signalled_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(ledger, deliveries, auth, endpoints, async move {
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

async fn open(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Ledger, Option<delivery::Deliveries>)> {
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
    let read = ReadSide::start(&store, &read_db).await?;
    let pages = kcn_services::page::PageTokens::from_seed(&checkpoints.identity().signer().seed());
    let skew = i64::try_from(config.max_future_skew_seconds)
        .context("max_future_skew_seconds is too large")?;
    let deliveries = delivery::Deliveries::open(
        read_db.url(),
        store.clone(),
        checkpoints.identity().origin().to_owned(),
        &config.deliveries,
        delivery::Timing {
            retry_base: Duration::from_millis(config.delivery_retry_base_ms),
            retry_max: Duration::from_millis(config.delivery_retry_max_ms),
            lease: Duration::from_millis(config.delivery_lease_ms),
        },
    )
    .await?;
    let ledger = Ledger {
        store,
        read,
        clock,
        max_future_skew: chrono::Duration::seconds(skew),
        checkpoints,
        pages,
        rules: config.rules.clone(),
        closing: Arc::new(tokio::sync::watch::Sender::new(false)),
        subscriptions: Arc::new(tokio::sync::Semaphore::new(config.max_subscriptions)),
    };
    Ok((ledger, deliveries))
}

/// Applies the event log's and the read models' migrations to the configured store and returns,
/// serving nothing.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    if let Storage::Sqlite(_) = config.storage()? {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    // Opening the log applies its migrations.
    let (log, read_db) = open_storage(config).await?;
    kcn_projections::runner::migrate_only(&read_db).await?;
    tracing::info!(
        database = %config.storage()?,
        log_head = log.head().await?,
        "migrations applied"
    );
    Ok(())
}

/// Who may call: the log's principals, the first administrator created on a first start, and an
/// embedding program's own credential when it has one.
async fn authenticator(config: &Config, ledger: &Ledger) -> anyhow::Result<Authenticator> {
    let mut auth = Authenticator::new(ledger.store.clone(), ledger.clock.clone());
    if let Some(token) = &config.embedded_token {
        auth = auth.with_embedded(token, "embedded");
    }
    // An embedding program that brings its own credential creates the first administrator only
    // when asked to (with a token file); a server always does.
    if config.embedded_token.is_none() || config.bootstrap_token_file.is_some() {
        bootstrap::first_administrator(config, ledger).await?;
    }
    Ok(auth)
}

async fn serve(
    ledger: Ledger,
    deliveries: Option<delivery::Deliveries>,
    auth: Authenticator,
    endpoints: Endpoints,
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
    health
        .set_serving::<DirectoryServiceServer<Directory>>()
        .await;
    health
        .set_serving::<PrincipalServiceServer<Principals>>()
        .await;
    // Both reflection versions (grpcio's reflection client and older tools speak only v1alpha),
    // with the google.rpc status and error-detail types, so that buf curl and grpcurl decode the
    // details of an error.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(kcn_services::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .context("cannot build the reflection service")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("cannot build the reflection service")?;
    let methods = telemetry::rpc::Methods::from_descriptor_sets(&[
        kcn_services::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ])
    .context("cannot read the services' descriptors")?;
    let connect = connect::ConnectLayer::new(
        &[
            kcn_services::proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_types::pb::FILE_DESCRIPTOR_SET,
        ],
        endpoints.admission.max_message_bytes,
    )
    .context("cannot read the services' descriptors")?;
    let recorder = match endpoints.metrics {
        Some(listener) => Some((listener, telemetry::metrics::recorder()?)),
        None => None,
    };
    let read = ledger.read.clone();
    let watcher = tokio::spawn(watch_read_models(read.clone(), health.clone()));
    // The metrics endpoint and the sampler of the gauges that are not counted where they change.
    let metrics = recorder.map(|(listener, handle)| {
        (
            telemetry::metrics::serve(listener, handle.clone()),
            tokio::spawn(sample_metrics(read.clone(), handle)),
        )
    });
    let delivering = deliveries
        .as_ref()
        .map(|d| d.spawn(ledger.closing.subscribe(), health.clone()))
        .unwrap_or_default();
    let delivery_control = delivery::service::DeliveryControl {
        ledger: ledger.clone(),
        deliveries,
    };
    let incoming = connections::incoming(endpoints.grpc, &endpoints.connections);
    // Subscriptions never end on their own: they end when the shutdown begins, so that the server
    // can finish.
    let closing = ledger.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let admission = endpoints.admission;
    // Every service decodes requests up to the configured size only.
    macro_rules! limited {
        ($server:expr) => {
            $server.max_decoding_message_size(admission.max_message_bytes)
        };
    }
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = endpoints.tls {
        builder = builder
            .tls_config(tls)
            .context("the TLS certificate or key is not usable")?;
    }
    let served = endpoints
        .connections
        .apply(builder)
        // HTTP/1.1 too: Connect's JSON and gRPC-Web calls come over it (curl, browsers).
        .accept_http1(true)
        // A browser page of another origin the configuration allows: its preflight is answered
        // here, before authentication (a preflight carries no credentials).
        .layer(tower::util::option_layer(endpoints.cors))
        // Connect unary calls and gRPC-Web calls are turned into the gRPC calls they stand for,
        // before anything else: every layer below sees a gRPC call.
        .layer(connect)
        .layer(tonic_web::GrpcWebLayer::new())
        // The outermost of the gRPC layers, so that it sees every answer as the caller gets it.
        .layer(telemetry::rpc::RpcLayer::new(methods))
        .layer(tower::util::MapResponseLayer::new(
            kcn_services::error::undecodable_is_invalid_argument,
        ))
        // Calls beyond those in progress are shed before anything else is done for them.
        .layer(admission.concurrency_limit())
        // Every call but health's is authenticated and its role checked before its body is read.
        .layer(AuthLayer::new(auth))
        // Then each principal's rate, keyed by the caller the authentication established.
        .layer(tower::util::option_layer(admission.rate_limit()))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(limited!(RegistryServiceServer::new(Registry(
            ledger.clone()
        ))))
        .add_service(limited!(InformationExchangeServiceServer::new(Exchanges(
            ledger.clone(),
        ))))
        .add_service(limited!(AuditQueryServiceServer::new(AuditQueries(
            ledger.clone()
        ))))
        .add_service(limited!(InspectionServiceServer::new(Inspections(
            ledger.clone()
        ))))
        .add_service(limited!(IncidentServiceServer::new(Incidents(
            ledger.clone()
        ))))
        .add_service(limited!(MonitoringServiceServer::new(Monitoring(
            ledger.clone()
        ))))
        .add_service(limited!(AgreementServiceServer::new(Agreements(
            ledger.clone()
        ))))
        .add_service(limited!(AnnualPlanServiceServer::new(AnnualPlans(
            ledger.clone()
        ))))
        .add_service(limited!(IndustryConsultationServiceServer::new(
            Consultations(ledger.clone(),)
        )))
        .add_service(limited!(DisseminationServiceServer::new(Disseminations(
            ledger.clone(),
        ))))
        .add_service(limited!(ProcedureServiceServer::new(Procedures(
            ledger.clone()
        ))))
        .add_service(limited!(DirectoryServiceServer::new(Directory(
            ledger.clone()
        ))))
        .add_service(limited!(PrincipalServiceServer::new(Principals(
            ledger.clone()
        ))))
        .add_service(limited!(
            kcn_services::proto::delivery_service_server::DeliveryServiceServer::new(
                delivery_control
            )
        ))
        .add_service(limited!(AuditServiceServer::new(Audit(ledger))))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("the gRPC server failed");
    watcher.abort();
    // The deliverers stop at the shutdown (the closing signal) and hand their endpoints over.
    for task in delivering {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if let Some((endpoint, sampler)) = metrics {
        endpoint.abort();
        sampler.abort();
    }
    served?;
    read.stop();
    tracing::info!("kcn-ledger stopped");
    Ok(())
}

/// How often the sampled gauges are refreshed.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Samples what is not counted where it changes: each read model's position and lag (from the
/// same status the audit service reports) and the process's memory; and lets the recorder drain
/// its histograms. Delivery backlogs join here once deliveries exist.
async fn sample_metrics(read: ReadSide, recorder: metrics_exporter_prometheus::PrometheusHandle) {
    loop {
        match read.status().await {
            Ok(all) => telemetry::metrics::record_read_models(&all),
            Err(e) => tracing::debug!(error = %e, "read-model status unavailable for metrics"),
        }
        telemetry::metrics::record_memory();
        recorder.run_upkeep();
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// How often health follows the read models.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// Keeps the audit services' health true to the read models: `NOT_SERVING` while any projector is
/// stopped at an event it cannot apply (the audit status RPC says which and why), `SERVING` again
/// once it has moved on.
async fn watch_read_models(read: ReadSide, health: tonic_health::server::HealthReporter) {
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
        // The overall health (the empty service name) follows every part, as load balancers and
        // orchestrators read it.
        let overall = "";
        if stuck {
            tracing::error!(read_models = ?failing, "read models stopped; audit services and overall health report NOT_SERVING");
            health
                .set_not_serving::<AuditQueryServiceServer<AuditQueries>>()
                .await;
            health.set_not_serving::<AuditServiceServer<Audit>>().await;
            health
                .set_not_serving::<DirectoryServiceServer<Directory>>()
                .await;
            health
                .set_service_status(overall, tonic_health::ServingStatus::NotServing)
                .await;
        } else {
            tracing::info!(
                "read models caught up again; audit services and overall health report SERVING"
            );
            health
                .set_serving::<AuditQueryServiceServer<AuditQueries>>()
                .await;
            health.set_serving::<AuditServiceServer<Audit>>().await;
            health
                .set_serving::<DirectoryServiceServer<Directory>>()
                .await;
            health
                .set_service_status(overall, tonic_health::ServingStatus::Serving)
                .await;
        }
    }
}

pub(crate) async fn shutdown_signal() {
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
