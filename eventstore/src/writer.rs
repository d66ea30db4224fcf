//! Group commit: one writer task per process takes the commands that arrive together, decides each on
//! the freshest state inside one append transaction, commits them as one batch with few statements,
//! and only then answers each caller. A command that fails its checks fails alone.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kcn_domain::Breach;
use kcn_domain::time::Clock;
use kcn_integrity::Hash;
use kcn_integrity::leaf::{format_timestamp, leaf_hash};
use kcn_integrity::tree;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::backend::{AppendTx, Backend, RequestRecord};
use crate::error::StoreError;
use crate::record::{CommandContext, Metadata, Outcome, StoredEvent};

/// The most commands one batch takes; the rest wait for the next batch.
const MAX_BATCH: usize = 1_024;

/// The largest event the log stores: 256 KiB for its payload and metadata together (the bytes a
/// reader of the log receives besides a few fixed fields). It bounds what one event costs every
/// reader, every stream buffer and every client with gRPC's default 4 MiB message limit, whatever
/// a command carries; a command deciding a larger event is refused with
/// [`StoreError::EventTooLarge`].
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// An event the aggregate decided, before the log gives it a position.
#[derive(Debug, Clone)]
pub struct DecidedEvent {
    pub event_type: &'static str,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    pub payload: Vec<u8>,
}

/// What deciding a command produced.
#[derive(Debug, Clone)]
pub struct Decision {
    pub events: Vec<DecidedEvent>,
    pub breaches: Vec<Breach>,
    pub acting_authority_id: Option<Uuid>,
}

/// Decides a command given the aggregate id and its events so far (committed and earlier in the batch).
pub type Decide = Box<
    dyn FnOnce(Uuid, Vec<StoredEvent>) -> BoxFuture<'static, Result<Decision, StoreError>> + Send,
>;

/// Which aggregate a command addresses.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A creation command: the log assigns a new UUIDv7 id.
    New,
    Existing(Uuid),
}

/// One command on its way to the log.
pub struct WriteJob {
    pub aggregate_type: &'static str,
    pub target: Target,
    pub expected_version: Option<u64>,
    pub command_hash: Vec<u8>,
    pub context: CommandContext,
    pub decide: Decide,
    pub reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// What the writer publishes after each durable batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub size: u64,
    pub root: Option<Hash>,
}

pub(crate) fn spawn(
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    head: watch::Sender<Head>,
) -> mpsc::Sender<WriteJob> {
    let (tx, mut rx) = mpsc::channel::<WriteJob>(MAX_BATCH * 4);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            run_batch(backend.as_ref(), clock.as_ref(), &head, batch).await;
        }
        tracing::debug!("event log writer stopped: every command sender is gone");
    });
    tx
}

/// The state of one batch while its commands are decided.
struct Batch {
    next_position: u64,
    events: Vec<StoredEvent>,
    requests: Vec<RequestRecord>,
    /// Events of this batch per stream, so a later command in the batch sees an earlier one's.
    pending: HashMap<(&'static str, Uuid), Vec<StoredEvent>>,
    recorded_at: String,
}

async fn run_batch(
    backend: &dyn Backend,
    clock: &dyn Clock,
    head: &watch::Sender<Head>,
    jobs: Vec<WriteJob>,
) {
    let size = jobs.len();
    let mut tx = match backend.begin_append().await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::warn!(error = %e, "could not begin an append transaction");
            let message = match &e {
                StoreError::Unavailable(m) | StoreError::Internal(m) => m.clone(),
                other => other.to_string(),
            };
            for job in jobs {
                let _ = job
                    .reply
                    .send(Err(StoreError::Unavailable(message.clone())));
            }
            return;
        }
    };
    let last = match tx.last_position().await {
        Ok(last) => last,
        Err(e) => return fail_all(jobs, e),
    };
    let mut batch = Batch {
        next_position: last + 1,
        events: Vec::new(),
        requests: Vec::new(),
        pending: HashMap::new(),
        recorded_at: format_timestamp(clock.now()),
    };
    let mut replies = Vec::with_capacity(size);
    for job in jobs {
        let result = decide_one(
            tx.as_mut(),
            &mut batch,
            job.aggregate_type,
            job.target,
            job.expected_version,
            &job.command_hash,
            &job.context,
            job.decide,
        )
        .await;
        replies.push((job.reply, result));
    }

    let committed = commit(tx, &batch, last).await;
    match committed {
        Ok(root) => {
            if !batch.events.is_empty() {
                head.send_replace(Head {
                    size: batch.next_position - 1,
                    root: Some(root),
                });
            }
            for (reply, result) in replies {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, commands = size, "append batch failed; nothing was committed");
            for (reply, result) in replies {
                // A command that was refused on its own merits keeps its answer; the accepted ones
                // were not committed and get the store's error.
                let _ = reply.send(match result {
                    Ok(_) => Err(match &e {
                        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
                        StoreError::Internal(m) => StoreError::Internal(m.clone()),
                        other => StoreError::Internal(other.to_string()),
                    }),
                    Err(refused) => Err(refused),
                });
            }
        }
    }
}

fn fail_all(jobs: Vec<WriteJob>, e: StoreError) {
    tracing::warn!(error = %e, "append transaction failed before deciding");
    for job in jobs {
        let _ = job.reply.send(Err(StoreError::Unavailable(e.to_string())));
    }
}

/// Inserts the batch and its tree hashes, commits, and returns the new root.
async fn commit(
    mut tx: Box<dyn AppendTx>,
    batch: &Batch,
    old_size: u64,
) -> Result<Hash, StoreError> {
    let leaves: Vec<Hash> = batch.events.iter().map(|e| leaf_hash(&e.leaf())).collect();
    let needed = tree::indexes_for_append(old_size).map_err(internal)?;
    let stored: HashMap<u64, Hash> = tx.read_tree_hashes(&needed).await?.into_iter().collect();
    let appended = tree::append(old_size, &leaves, &stored).map_err(internal)?;
    tx.insert(&batch.events, &batch.requests, &appended.hashes)
        .await?;
    tx.commit().await?;
    Ok(appended.root)
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn decide_one(
    tx: &mut dyn AppendTx,
    batch: &mut Batch,
    aggregate_type: &'static str,
    target: Target,
    expected_version: Option<u64>,
    command_hash: &[u8],
    context: &CommandContext,
    decide: Decide,
) -> Result<Outcome, StoreError> {
    let principal = context.actor.principal.as_str();
    let request_id = context.request_id.as_str();

    // Idempotency: this batch first, then the durable record.
    let earlier = match batch
        .requests
        .iter()
        .find(|r| r.principal == principal && r.request_id == request_id)
    {
        Some(r) => Some(r.clone()),
        None => tx.find_request(principal, request_id).await?,
    };
    if let Some(record) = earlier {
        if record.command_hash != command_hash {
            return Err(StoreError::RequestIdReused {
                request_id: request_id.to_owned(),
            });
        }
        let mut outcome: Outcome = serde_json::from_slice(&record.outcome).map_err(internal)?;
        outcome.replayed = true;
        return Ok(outcome);
    }

    let aggregate_id = match target {
        Target::New => Uuid::now_v7(),
        Target::Existing(id) => id,
    };
    let id_text = aggregate_id.to_string();
    let mut history = tx.load_stream(aggregate_type, &id_text).await?;
    if let Some(pending) = batch.pending.get(&(aggregate_type, aggregate_id)) {
        history.extend(pending.iter().cloned());
    }
    let version = history.len() as u64;
    if let Some(expected) = expected_version
        && expected != version
    {
        return Err(StoreError::Conflict {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id,
            expected,
            actual: version,
        });
    }

    let decision = decide(aggregate_id, history).await?;
    let metadata = serde_json::to_vec(&Metadata {
        actor: context.actor.clone(),
        acting_authority_id: decision.acting_authority_id,
        correlation_id: context.correlation_id.clone(),
        causation_id: context.causation_id.clone(),
        request_id: Some(context.request_id.clone()),
        source: context.source.clone(),
    })
    .map_err(internal)?;

    // Refused before anything of the command enters the batch, so the rest of the batch goes on.
    for e in &decision.events {
        let size = e.payload.len().saturating_add(metadata.len());
        if size > MAX_EVENT_BYTES {
            return Err(StoreError::EventTooLarge {
                event_type: e.event_type.to_owned(),
                size,
                limit: MAX_EVENT_BYTES,
            });
        }
    }

    let first_position = batch.next_position;
    let mut event_ids = Vec::with_capacity(decision.events.len());
    let mut stored = Vec::with_capacity(decision.events.len());
    for (i, e) in decision.events.into_iter().enumerate() {
        let event_id = Uuid::now_v7();
        event_ids.push(event_id);
        stored.push(StoredEvent {
            position: first_position + i as u64,
            event_id,
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: id_text.clone(),
            aggregate_version: version + 1 + i as u64,
            event_type: e.event_type.to_owned(),
            schema_version: e.schema_version,
            occurred_at: format_timestamp(e.occurred_at),
            recorded_at: batch.recorded_at.clone(),
            payload: e.payload,
            metadata: metadata.clone(),
        });
    }
    let count = stored.len() as u64;
    let outcome = Outcome {
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id,
        first_position,
        last_position: first_position + count.saturating_sub(1),
        aggregate_version: version + count,
        event_ids,
        breaches: decision.breaches,
        replayed: false,
    };
    batch.next_position += count;
    batch
        .pending
        .entry((aggregate_type, aggregate_id))
        .or_default()
        .extend(stored.iter().cloned());
    batch.events.extend(stored);
    batch.requests.push(RequestRecord {
        principal: principal.to_owned(),
        request_id: request_id.to_owned(),
        command_hash: command_hash.to_vec(),
        outcome: serde_json::to_vec(&outcome).map_err(internal)?,
        recorded_at: batch.recorded_at.clone(),
    });
    Ok(outcome)
}
