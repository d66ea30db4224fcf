//! The catch-up projector: follows the log from the read model's own checkpoint, applies events in
//! batches, and moves the checkpoint in the same transaction as the rows, under the database's write
//! lock, so that each event is applied exactly once even when two processes run the same projector.
//! When an event cannot be applied it stops there, records why, and retries later: it never skips.

use std::time::Duration;

use kcn_eventstore::{EventStore, StoredEvent};
use sqlx::{Row, SqlitePool};
use tokio::sync::watch;

use crate::error::ProjectionError;
use crate::timeline;

/// Events applied per transaction.
const BATCH: u32 = 500;
/// How often to look for events other processes appended.
const POLL: Duration = Duration::from_millis(500);
/// How long to wait before retrying after a failure.
const RETRY: Duration = Duration::from_secs(2);

/// The projector's name for the timeline read model.
pub const TIMELINE: &str = "timeline";

/// Where a projector stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectorState {
    pub position: u64,
    pub error: Option<String>,
}

/// Runs the timeline projector until `stop` turns true.
pub(crate) async fn run(
    store: EventStore,
    pool: SqlitePool,
    state: watch::Sender<ProjectorState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut head = store.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        match step(&store, &pool).await {
            Ok((position, applied)) => {
                state.send_if_modified(|s| {
                    let changed = s.position != position || s.error.is_some();
                    s.position = position;
                    s.error = None;
                    changed
                });
                if applied > 0 {
                    continue;
                }
                tokio::select! {
                    _ = head.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(projection = TIMELINE, error = %message, "projector stopped at an event; retrying later");
                if let ProjectionError::Apply { position, .. } = &e {
                    let _ = record_error(&pool, *position, &message).await;
                }
                state.send_modify(|s| s.error = Some(message));
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

/// Applies the next batch, if any; returns the checkpoint after it and how many events it applied.
async fn step(store: &EventStore, pool: &SqlitePool) -> Result<(u64, usize), ProjectionError> {
    let seen = checkpoint(pool).await?;
    let events = store.read_range(seen + 1, BATCH).await?;
    if events.is_empty() {
        return Ok((seen, 0));
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    // Re-read under the write lock: another process may have applied some of these meanwhile.
    let at: i64 = sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = ?1")
        .bind(TIMELINE)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
    let fresh: Vec<StoredEvent> = events
        .into_iter()
        .filter(|e| e.position as i64 > at)
        .collect();
    let Some(last) = fresh.last().map(|e| e.position) else {
        return Ok((at as u64, 0));
    };
    if fresh[0].position != at as u64 + 1 {
        return Err(ProjectionError::Apply {
            position: at as u64 + 1,
            reason: "the log has a gap before this position".into(),
        });
    }
    timeline::apply(&mut tx, &fresh).await?;
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, position, error, error_position, updated_at) \
         VALUES (?1, ?2, NULL, NULL, strftime('%Y-%m-%dT%H:%M:%fZ')) \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, error = NULL, \
         error_position = NULL, updated_at = excluded.updated_at",
    )
    .bind(TIMELINE)
    .bind(last as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((last, fresh.len()))
}

/// The read model's committed checkpoint.
pub(crate) async fn checkpoint(pool: &SqlitePool) -> Result<u64, ProjectionError> {
    let row = sqlx::query("SELECT position FROM projection_checkpoints WHERE name = ?1")
        .bind(TIMELINE)
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<i64, _>(0)? as u64,
        None => 0,
    })
}

async fn record_error(
    pool: &SqlitePool,
    position: u64,
    message: &str,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, position, error, error_position, updated_at) \
         VALUES (?1, 0, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ')) \
         ON CONFLICT (name) DO UPDATE SET error = excluded.error, \
         error_position = excluded.error_position, updated_at = excluded.updated_at",
    )
    .bind(TIMELINE)
    .bind(message)
    .bind(position as i64)
    .execute(pool)
    .await?;
    Ok(())
}
