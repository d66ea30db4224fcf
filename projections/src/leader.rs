//! Which process runs the projectors when several servers share one PostgreSQL database: the one that
//! holds a session advisory lock on a connection of its own (`pg_try_advisory_lock`). The others are
//! followers: they serve queries and follow the leader's progress by polling the checkpoint row, and
//! they try the lock again every [`TRY_EVERY`], so one of them takes over soon after the leader dies
//! (PostgreSQL releases a session lock when its connection ends).
//!
//! Leadership saves work; it is not what keeps the read models exact. Two processes may both believe
//! they lead for a moment (a leader whose connection was cut learns it at its next check), and that is
//! harmless: every batch is applied under the checkpoint row's lock, so each event is applied once.

use std::sync::Arc;
use std::time::Duration;

use kcn_eventstore::EventStore;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::sync::watch;

use crate::database::ReadDatabase;
use crate::projector::{self, ProjectorState, TIMELINE};

/// The advisory-lock key of projection leadership ("kcn-prj1" in ASCII), apart from the log's
/// append lock and sqlx's migration lock.
pub const LEADER_LOCK_KEY: i64 = 0x6B63_6E2D_7072_6A31;

/// How often a follower tries to become the leader (and refreshes what it knows of the checkpoint).
pub(crate) const TRY_EVERY: Duration = Duration::from_millis(500);
/// How often the leader checks that its lock connection is still alive.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long one check may take before the connection counts as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the leader's projector looks for events appended by other processes.
const LEADER_POLL: Duration = Duration::from_millis(100);

/// What the supervisor shares with [`crate::ReadModels`].
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub state: Arc<watch::Sender<ProjectorState>>,
    pub leader: Arc<watch::Sender<bool>>,
}

/// Elects, leads and follows until `stop` turns true.
pub(crate) async fn supervise(
    store: EventStore,
    pool: PgPool,
    shared: Shared,
    mut stop: watch::Receiver<bool>,
) {
    let db = ReadDatabase::Postgres(pool.clone());
    let mut lock: Option<PgConnection> = None;
    loop {
        if crate::stopped(&stop) {
            break;
        }
        match try_lead(&pool, &mut lock).await {
            Ok(true) => {
                let conn = lock.take().expect("try_lead keeps the connection that won");
                lock = lead(&store, &db, &shared, conn, &mut stop).await;
                continue;
            }
            Ok(false) => follow(&db, &shared).await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the database to elect the projection leader");
                lock = None;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TRY_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
    if let Some(conn) = lock {
        let _ = conn.close().await;
    }
}

/// Tries the leadership lock on the dedicated connection, opening it first if needed.
async fn try_lead(pool: &PgPool, lock: &mut Option<PgConnection>) -> Result<bool, sqlx::Error> {
    let conn = match lock {
        Some(conn) => conn,
        None => lock.insert(pool.connect_options().connect().await?),
    };
    let won = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(LEADER_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await;
    if won.is_err() {
        *lock = None;
    }
    won
}

/// Refreshes the shared state from the checkpoint row the leader commits.
async fn follow(db: &ReadDatabase, shared: &Shared) {
    match db.checkpoint(TIMELINE).await {
        Ok(row) => {
            shared.state.send_if_modified(|s| {
                let next = ProjectorState {
                    position: row.position,
                    error: row.error,
                };
                let changed = *s != next;
                *s = next;
                changed
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the projection checkpoint"),
    }
}

/// Runs the projector while the lock connection lives. Returns the connection, still holding the lock,
/// if leadership ended because the process is stopping, or `None` once the connection is lost.
async fn lead(
    store: &EventStore,
    db: &ReadDatabase,
    shared: &Shared,
    mut conn: PgConnection,
    stop: &mut watch::Receiver<bool>,
) -> Option<PgConnection> {
    tracing::info!(
        projection = TIMELINE,
        "this process is now the projection leader: it runs the projectors"
    );
    shared.leader.send_replace(true);
    let (halt, halted) = watch::channel(false);
    let mut projector = tokio::spawn(projector::run(
        store.clone(),
        db.clone(),
        shared.state.clone(),
        halted,
        LEADER_POLL,
    ));
    let kept = loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = halt.send(true);
                let _ = (&mut projector).await;
                break Some(conn);
            }
            _ = tokio::time::sleep(CHECK_EVERY) => {
                let alive = tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&mut conn)).await;
                if !matches!(alive, Ok(Ok(_))) {
                    // The lock went with the connection; another process may lead already. Whatever
                    // batch is in flight rolls back or commits under the checkpoint lock: no harm.
                    projector.abort();
                    tracing::warn!(projection = TIMELINE, "lost the projection leadership: its database connection failed");
                    break None;
                }
            }
        }
    };
    shared.leader.send_replace(false);
    kept
}
