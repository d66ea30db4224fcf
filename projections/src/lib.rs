//! The read side of kcn-ledger: read models that projectors feed from the event log, and the audit
//! queries that read them. Projections never write events; they keep their own checkpoints, report
//! their lag and errors, and can be rebuilt from position 0.

pub mod error;
pub mod projector;
pub mod timeline;

use std::time::Duration;

use kcn_eventstore::{EventStore, SqliteBackend};
use sqlx::SqlitePool;
use tokio::sync::watch;

pub use error::ProjectionError;
pub use projector::ProjectorState;
pub use timeline::{Subject, TimelineQuery, TimelineRow};

/// One read model's standing, for the status API and health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    pub name: String,
    pub position: u64,
    pub log_head: u64,
    pub error: Option<String>,
}

/// The running read models of one process.
#[derive(Debug, Clone)]
pub struct ReadModels {
    pool: SqlitePool,
    store: EventStore,
    timeline: watch::Receiver<ProjectorState>,
    stop: watch::Sender<bool>,
}

impl ReadModels {
    /// Runs the read models' migrations on the log's database and starts their projectors.
    pub async fn start(
        store: EventStore,
        backend: &SqliteBackend,
    ) -> Result<Self, ProjectionError> {
        let pool = backend.pool().clone();
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(kcn_eventstore::StoreError::from)?;
        let position = projector::checkpoint(&pool).await?;
        let (state, timeline) = watch::channel(ProjectorState {
            position,
            error: None,
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(projector::run(store.clone(), pool.clone(), state, stopped));
        Ok(Self {
            pool,
            store,
            timeline,
            stop,
        })
    }

    /// Stops the projectors after their current batch.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until the timeline has applied `position`, or fails after `deadline`.
    pub async fn wait_for(&self, position: u64, deadline: Duration) -> Result<(), ProjectionError> {
        let mut rx = self.timeline.clone();
        let reached = tokio::time::timeout(deadline, rx.wait_for(|s| s.position >= position)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ProjectionError::NotCaughtUp {
                name: projector::TIMELINE.to_owned(),
                at: self.timeline.borrow().position,
                wanted: position,
            }),
        }
    }

    /// Where each read model stands against the log's head.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let log_head = self.store.head().await?;
        let state = self.timeline.borrow().clone();
        Ok(vec![ProjectionStatus {
            name: projector::TIMELINE.to_owned(),
            position: state.position,
            log_head,
            error: state.error,
        }])
    }

    /// Audit question 1: a subject's timeline page.
    pub async fn timeline(&self, q: &TimelineQuery) -> Result<Vec<TimelineRow>, ProjectionError> {
        timeline::query(&self.pool, q).await
    }
}
