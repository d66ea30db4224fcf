//! Which process runs the read-model engine when several servers share one PostgreSQL database: the
//! one that holds a session advisory lock on a connection of its own (`pg_try_advisory_lock`). The
//! others are followers: they serve queries and follow the leader's progress through the checkpoint
//! rows, and they try the lock again every [`TRY_EVERY`], so one of them takes over soon after the
//! leader dies (PostgreSQL releases a session lock when its connection ends).
//!
//! Leadership saves work; it is not what keeps the read models exact. Two processes may both believe
//! they lead for a moment (a leader whose connection was cut learns it at its next check), and that is
//! harmless: every step is applied under the checkpoint rows' locks, so each event is applied once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::sync::watch;

/// The advisory-lock key of projection leadership ("kcn-prj1" in ASCII), apart from the log's
/// append lock and sqlx's migration lock.
pub const LEADER_LOCK_KEY: i64 = 0x6B63_6E2D_7072_6A31;

/// How often a follower tries to become the leader.
pub(crate) const TRY_EVERY: Duration = Duration::from_millis(500);
/// How often the leader checks that its lock connection is still alive.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long one check may take before the connection counts as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Elects, leads and follows until `stop` turns true, telling `leader` whether this process leads.
pub(crate) async fn supervise(
    options: PgConnectOptions,
    leader: Arc<watch::Sender<bool>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut lock: Option<PgConnection> = None;
    loop {
        if *stop.borrow() || stop.has_changed().is_err() {
            break;
        }
        match try_lead(&options, &mut lock).await {
            Ok(true) => {
                let conn = lock.take().expect("try_lead keeps the connection that won");
                lock = lead(&leader, conn, &mut stop).await;
                continue;
            }
            Ok(false) => {}
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
    leader.send_replace(false);
    if let Some(conn) = lock {
        let _ = conn.close().await;
    }
}

/// Tries the leadership lock on the dedicated connection, opening it first if needed.
async fn try_lead(
    options: &PgConnectOptions,
    lock: &mut Option<PgConnection>,
) -> Result<bool, sqlx::Error> {
    let conn = match lock {
        Some(conn) => conn,
        None => lock.insert(options.connect().await?),
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

/// Leads while the lock connection lives. Returns the connection, still holding the lock, if
/// leadership ended because the process is stopping, or `None` once the connection is lost.
async fn lead(
    leader: &watch::Sender<bool>,
    mut conn: PgConnection,
    stop: &mut watch::Receiver<bool>,
) -> Option<PgConnection> {
    tracing::info!("this process is now the projection leader: it runs the read models");
    leader.send_replace(true);
    let kept = loop {
        tokio::select! {
            _ = stop.changed() => break Some(conn),
            _ = tokio::time::sleep(CHECK_EVERY) => {
                let alive = tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&mut conn)).await;
                if !matches!(alive, Ok(Ok(_))) {
                    // The lock went with the connection; another process may lead already. Whatever
                    // step is in flight commits or rolls back under the checkpoint locks: no harm.
                    tracing::warn!("lost the projection leadership: its database connection failed");
                    break None;
                }
            }
        }
    };
    leader.send_replace(false);
    kept
}
