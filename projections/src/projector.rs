//! The catch-up projector: follows the log from the read model's own checkpoint, applies events in
//! batches, and moves the checkpoint in the same transaction as the rows, under the checkpoint's lock
//! (SQLite's write lock, PostgreSQL's row lock), so that each event is applied exactly once even when
//! two processes run the same projector. When an event cannot be applied it stops there, records why,
//! and retries later: it never skips.

use std::sync::Arc;
use std::time::Duration;

use kcn_eventstore::{Backend, EventStore, StoredEvent};
use tokio::sync::watch;

use crate::database::ReadDatabase;
use crate::error::ProjectionError;
use crate::timeline;

/// Events applied per transaction.
const BATCH: u32 = 500;
/// How long to wait before retrying after a failure.
const RETRY: Duration = Duration::from_secs(2);

/// The projector's name for the timeline read model.
pub const TIMELINE: &str = "timeline";
/// The checkpoint of a timeline rebuild running beside the live timeline.
const TIMELINE_REBUILD: &str = "timeline@rebuild";

/// Where a projector stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectorState {
    pub position: u64,
    pub error: Option<String>,
}

/// How far one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// The checkpoint after the step.
    pub position: u64,
    /// Events this step applied.
    pub applied: usize,
    /// Whether there may be more to do at once: this step applied events, or found that another
    /// process had moved the checkpoint past what it read.
    pub more: bool,
}

/// Runs the timeline projector until `stop` turns true. `poll` is how often it looks for events
/// other processes appended (this process's own appends wake it at once).
pub(crate) async fn run(
    store: EventStore,
    db: ReadDatabase,
    state: Arc<watch::Sender<ProjectorState>>,
    mut stop: watch::Receiver<bool>,
    poll: Duration,
) {
    let mut head = store.subscribe();
    loop {
        if crate::stopped(&stop) {
            return;
        }
        match step(store.backend().as_ref(), &db).await {
            Ok(done) => {
                state.send_if_modified(|s| {
                    let changed = s.position != done.position || s.error.is_some();
                    s.position = done.position;
                    s.error = None;
                    changed
                });
                if done.more {
                    continue;
                }
                tokio::select! {
                    _ = head.changed() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(projection = TIMELINE, error = %message, "projector stopped at an event; retrying later");
                if let ProjectionError::Apply { position, .. } = &e {
                    let _ = db.record_error(TIMELINE, *position, &message).await;
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

/// Applies the next batch after the checkpoint, if any, in one transaction with the checkpoint.
pub(crate) async fn step(log: &dyn Backend, db: &ReadDatabase) -> Result<Step, ProjectionError> {
    // Read the events before taking the lock, so that the lock is held only while applying.
    let seen = db.checkpoint(TIMELINE).await?.position;
    let events = log.read_range(seen + 1, BATCH).await?;
    if events.is_empty() {
        return Ok(Step {
            position: seen,
            applied: 0,
            more: false,
        });
    }
    let (mut tx, at) = db.begin_locked(TIMELINE).await?;
    // Under the lock: another process may have applied some of these meanwhile.
    let fresh: Vec<StoredEvent> = events.into_iter().filter(|e| e.position > at).collect();
    let Some(last) = fresh.last().map(|e| e.position) else {
        return Ok(Step {
            position: at,
            applied: 0,
            more: at != seen,
        });
    };
    if fresh[0].position != at + 1 {
        return Err(ProjectionError::Apply {
            position: at + 1,
            reason: "the log has a gap before this position".into(),
        });
    }
    if let Err(e) = timeline::apply(&mut tx, &fresh).await {
        // Stop exactly at the event that cannot be applied: apply the events before it, so the
        // checkpoint names the last good position and the next batch starts with the bad event.
        let ProjectionError::Apply { position, .. } = &e else {
            return Err(e);
        };
        let good: Vec<StoredEvent> = fresh
            .into_iter()
            .filter(|ev| ev.position < *position)
            .collect();
        drop(tx);
        let Some(last_good) = good.last().map(|ev| ev.position) else {
            return Err(e);
        };
        let (mut tx, again) = db.begin_locked(TIMELINE).await?;
        if again != at {
            // Another process moved meanwhile; let the next step sort it out.
            return Ok(Step {
                position: again,
                applied: 0,
                more: true,
            });
        }
        timeline::apply(&mut tx, &good).await?;
        tx.advance(TIMELINE, last_good, good.len() as u64).await?;
        tx.commit().await?;
        return Ok(Step {
            position: last_good,
            applied: good.len(),
            more: true,
        });
    }
    tx.advance(TIMELINE, last, fresh.len() as u64).await?;
    tx.commit().await?;
    Ok(Step {
        position: last,
        applied: fresh.len(),
        more: true,
    })
}

/// Applies batches until the read model has caught up with the log's head as it was at the start;
/// returns the checkpoint reached.
pub(crate) async fn catch_up(log: &dyn Backend, db: &ReadDatabase) -> Result<u64, ProjectionError> {
    let head = log.head().await?;
    loop {
        let done = step(log, db).await?;
        if done.position >= head || !done.more {
            return Ok(done.position);
        }
    }
}

/// Empties the timeline and sets its checkpoint to 0, in one transaction under its lock, then applies
/// the whole log again. A projector running meanwhile (in this process or another) cooperates: both
/// take the same lock, so every event is still applied once.
pub(crate) async fn rebuild(log: &dyn Backend, db: &ReadDatabase) -> Result<u64, ProjectionError> {
    db.migrate().await?;
    let (mut tx, _) = db.begin_locked(TIMELINE).await?;
    timeline::clear(&mut tx).await?;
    tx.reset_checkpoint(TIMELINE).await?;
    tx.commit().await?;
    catch_up(log, db).await
}

/// Rebuilds the timeline without taking it away: replays the log from position 0 into rebuild tables
/// beside the live ones (which keep serving, and which a running projector keeps feeding), then, under
/// the live checkpoint's lock, applies what arrived meanwhile and replaces the live content with the
/// rebuild's in one transaction. `progress` is told the position reached and the head after each
/// batch. Returns the timeline's checkpoint after the switch.
pub(crate) async fn rebuild_beside(
    log: &dyn Backend,
    db: &ReadDatabase,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<u64, ProjectionError> {
    db.migrate().await?;
    let (mut tx, _) = db.begin_locked(TIMELINE_REBUILD).await?;
    timeline::create_rebuild_tables(&mut tx).await?;
    tx.reset_checkpoint(TIMELINE_REBUILD).await?;
    tx.advance(TIMELINE_REBUILD, 0, 0).await?;
    tx.commit().await?;
    loop {
        let head = log.head().await?;
        let seen = db.checkpoint(TIMELINE_REBUILD).await?.position;
        let events = log.read_range(seen + 1, BATCH).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            progress(seen, head);
            break;
        };
        let (mut tx, at) = db.begin_locked(TIMELINE_REBUILD).await?;
        if at != seen {
            return Err(ProjectionError::Apply {
                position: seen + 1,
                reason: "another rebuild of the timeline is running".into(),
            });
        }
        timeline::apply_to(&mut tx, timeline::REBUILD, &events).await?;
        tx.advance(TIMELINE_REBUILD, last, events.len() as u64)
            .await?;
        tx.commit().await?;
        progress(last, head.max(last));
    }
    // The switch: under the live checkpoint's lock, so the live projector waits and then continues
    // from the new checkpoint.
    let (mut tx, _) = db.begin_locked(TIMELINE).await?;
    let mut reached = db.checkpoint(TIMELINE_REBUILD).await?.position;
    loop {
        let events = log.read_range(reached + 1, BATCH).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        timeline::apply_to(&mut tx, timeline::REBUILD, &events).await?;
        reached = last;
    }
    timeline::replace_live_with_rebuild(&mut tx).await?;
    tx.reset_checkpoint(TIMELINE).await?;
    tx.advance(TIMELINE, reached, reached).await?;
    tx.execute("DELETE FROM projection_checkpoints WHERE name = 'timeline@rebuild'")
        .await?;
    tx.commit().await?;
    Ok(reached)
}
