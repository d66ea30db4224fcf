//! The read side of kcn-ledger: read models that projectors feed from the event log, and the audit
//! queries that read them. Projections never write events; they keep their own checkpoints, report
//! their lag and errors, and can be rebuilt from position 0.
//!
//! The read models live in the log's database, SQLite or PostgreSQL ([`ReadDatabase`]). On SQLite the
//! one server process runs the projectors. On PostgreSQL, where several servers share the database,
//! one elected process runs them ([`leader`]) and the others follow the checkpoint row; either way
//! [`ReadModels::wait_for`] gives read-your-writes.

pub mod audit_runner;
pub mod database;
pub mod error;
pub mod leader;
pub mod models;
pub mod projector;
pub mod timeline;

use std::sync::Arc;
use std::time::Duration;

use kcn_eventstore::{Backend, EventStore};
use tokio::sync::watch;
use tokio::time::Instant;

pub use database::ReadDatabase;
pub use error::ProjectionError;
pub use projector::ProjectorState;
pub use timeline::{
    Subject, SubjectLink, TimelineEntry, TimelineQuery, TimelineRow, TimelineSnapshot,
};

/// How often the SQLite projector looks for events appended by another process (there is normally
/// none: this process's own appends wake it at once).
const SQLITE_POLL: Duration = Duration::from_millis(500);
/// The longest pause between two reads of the checkpoint row while a follower waits for a position.
const FOLLOWER_WAIT_POLL: Duration = Duration::from_millis(50);

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
    db: ReadDatabase,
    store: EventStore,
    /// The timeline's standing as this process knows it: from its own projector while it leads, from
    /// the checkpoint row while it follows.
    state: Arc<watch::Sender<ProjectorState>>,
    /// Whether this process runs the projectors (always, on SQLite).
    leader: Arc<watch::Sender<bool>>,
    stop: watch::Sender<bool>,
    /// The audit read models (questions 2 to 10), fed by their own projectors.
    audit: audit_runner::AuditModels,
}

/// Whether a task watching `stop` should end: asked to, or nobody left to ask.
pub(crate) fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

impl ReadModels {
    /// Runs the read models' migrations on the log's database and starts their projectors: at once
    /// on SQLite, under leader election on PostgreSQL.
    pub async fn start(
        store: EventStore,
        db: impl Into<ReadDatabase>,
    ) -> Result<Self, ProjectionError> {
        let db = db.into();
        db.migrate().await?;
        let row = db.checkpoint(projector::TIMELINE).await?;
        let state = Arc::new(watch::Sender::new(ProjectorState {
            position: row.position,
            error: row.error,
        }));
        let (stop, stopped) = watch::channel(false);
        let leader = match &db {
            ReadDatabase::Sqlite(_) => {
                tokio::spawn(projector::run(
                    store.clone(),
                    db.clone(),
                    state.clone(),
                    stopped,
                    SQLITE_POLL,
                ));
                Arc::new(watch::Sender::new(true))
            }
            ReadDatabase::Postgres(pool) => {
                let leader = Arc::new(watch::Sender::new(false));
                let shared = leader::Shared {
                    state: state.clone(),
                    leader: leader.clone(),
                };
                tokio::spawn(leader::supervise(
                    store.clone(),
                    pool.clone(),
                    shared,
                    stopped,
                ));
                leader
            }
        };
        let audit = audit_runner::AuditModels::start(
            store.clone(),
            &db,
            leader.subscribe(),
            stop.subscribe(),
        )
        .await?;
        Ok(Self {
            db,
            store,
            state,
            leader,
            stop,
            audit,
        })
    }

    /// Stops the projectors after their current batch, and gives up the leadership.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The audit read models.
    pub fn audit(&self) -> &audit_runner::AuditModels {
        &self.audit
    }

    /// Whether this process runs the projectors now.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// The database the read models live in.
    pub fn database(&self) -> &ReadDatabase {
        &self.db
    }

    /// Waits until the timeline has applied `position`, or fails after `deadline`. The leader waits
    /// for its own projector; a follower polls the checkpoint row the leader commits.
    pub async fn wait_for(&self, position: u64, deadline: Duration) -> Result<(), ProjectionError> {
        let end = Instant::now() + deadline;
        let mut state = self.state.subscribe();
        let mut leader = self.leader.subscribe();
        let mut pause = Duration::from_millis(5);
        loop {
            let at = state.borrow_and_update().position;
            if at >= position {
                return Ok(());
            }
            let not_yet = || ProjectionError::NotCaughtUp {
                name: projector::TIMELINE.to_owned(),
                at,
                wanted: position,
            };
            if *leader.borrow_and_update() {
                tokio::select! {
                    _ = state.changed() => {}
                    _ = leader.changed() => {}
                    _ = tokio::time::sleep_until(end) => return Err(not_yet()),
                }
                continue;
            }
            let row = self.db.checkpoint(projector::TIMELINE).await?;
            if row.position >= position {
                self.state.send_if_modified(|s| {
                    let moved = row.position > s.position;
                    s.position = s.position.max(row.position);
                    moved
                });
                return Ok(());
            }
            let now = Instant::now();
            if now >= end {
                return Err(not_yet());
            }
            tokio::select! {
                _ = tokio::time::sleep(pause.min(end - now)) => {}
                _ = leader.changed() => {}
            }
            pause = (pause * 2).min(FOLLOWER_WAIT_POLL);
        }
    }

    /// Where each read model stands against the log's head.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let log_head = self.store.head().await?;
        let state = if self.is_leader() {
            self.state.borrow().clone()
        } else {
            let row = self.db.checkpoint(projector::TIMELINE).await?;
            ProjectorState {
                position: row.position,
                error: row.error,
            }
        };
        let mut all = vec![ProjectionStatus {
            name: projector::TIMELINE.to_owned(),
            position: state.position,
            log_head,
            error: state.error,
        }];
        all.extend(self.audit.status(log_head).await?);
        Ok(all)
    }

    /// Audit question 1: a subject's timeline page.
    pub async fn timeline(&self, q: &TimelineQuery) -> Result<Vec<TimelineRow>, ProjectionError> {
        timeline::query(&self.db, q).await
    }

    /// The timeline's whole content and checkpoint, read in one snapshot.
    pub async fn snapshot(&self) -> Result<TimelineSnapshot, ProjectionError> {
        timeline::snapshot(&self.db).await
    }
}

/// Applies the events after the read models' checkpoints, up to the log's current head, as a
/// projector would: each batch under the checkpoint lock, so that it may run beside the projectors of
/// any number of processes and every event is still applied once. Returns the timeline's checkpoint.
pub async fn catch_up(log: &dyn Backend, db: &ReadDatabase) -> Result<u64, ProjectionError> {
    db.migrate().await?;
    projector::catch_up(log, db).await
}

/// Rebuilds the read models in `db` from position 0 of `log`: empties them and resets their
/// checkpoints in one transaction, then applies the whole log. `db` may be the log's own database (the
/// running projectors cooperate) or a fresh one (to compare a rebuild with the live read models).
/// Returns the timeline's checkpoint.
pub async fn rebuild(log: &dyn Backend, db: &ReadDatabase) -> Result<u64, ProjectionError> {
    projector::rebuild(log, db).await
}

/// Rebuilds the timeline beside the live one and switches to it in one transaction: queries keep
/// reading the complete old timeline until the switch commits. `progress` is told the position
/// reached and the head after each batch. Returns the timeline's checkpoint.
pub async fn rebuild_beside(
    log: &dyn Backend,
    db: &ReadDatabase,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<u64, ProjectionError> {
    projector::rebuild_beside(log, db, progress).await
}

/// Reads a snapshot of the timeline read model in `db`.
pub async fn snapshot(db: &ReadDatabase) -> Result<TimelineSnapshot, ProjectionError> {
    timeline::snapshot(db).await
}
