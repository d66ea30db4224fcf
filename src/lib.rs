//! The `kcn-ledger` server: wiring of the event store, the read models and the gRPC services, with
//! health and reflection, and a clean shutdown. The binary (`main.rs`) parses the command line and
//! calls [`run`]; the end-to-end tests call [`start`] on a listener bound to `127.0.0.1:0`.

pub mod config;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kcn_domain::time::{Clock, SystemClock};
use kcn_eventstore::{Actor, EventStore, SqliteBackend};
use kcn_projections::ReadModels;
use kcn_services::Ledger;
use kcn_services::audit::Audit;
use kcn_services::exchange::Exchanges;
use kcn_services::proto::audit_service_server::AuditServiceServer;
use kcn_services::proto::information_exchange_service_server::InformationExchangeServiceServer;
use kcn_services::proto::registry_service_server::RegistryServiceServer;
use kcn_services::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

pub use config::Config;

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

async fn open(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Ledger> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let path = config.database_path();
    let backend = SqliteBackend::open(&path, config.sqlite_durability)
        .await
        .with_context(|| format!("cannot open the event log at {}", path.display()))?;
    let store = EventStore::start(
        Arc::new(backend.clone()),
        clock.clone(),
        config.rules.clone(),
    )
    .await?;
    let read = ReadModels::start(store.clone(), &backend).await?;
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
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(kcn_services::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;
    let read = ledger.read.clone();
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(RegistryServiceServer::new(Registry(ledger.clone())))
        .add_service(InformationExchangeServiceServer::new(Exchanges(
            ledger.clone(),
        )))
        .add_service(AuditServiceServer::new(Audit(ledger)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .context("the gRPC server failed")?;
    read.stop();
    tracing::info!("kcn-ledger stopped");
    Ok(())
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
