//! Group commit: one writer task per process takes the commands that arrive together, decides each on
//! the freshest state inside one append transaction, commits them as one batch with few statements,
//! and only then answers each caller. A command that fails its checks fails alone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kcn_domain::Breach;
use kcn_domain::time::Clock;
use kcn_integrity::leaf::{format_timestamp, leaf_hash};
use kcn_integrity::tree;
use kcn_integrity::{EMPTY_ROOT, Hash};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use uuid::Uuid;

use crate::backend::{AppendTx, Backend, BatchKeys, BatchRows, CheckpointRow, RequestRecord};
use crate::cache::StreamCache;
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
    /// The unique keys the events claim; the command is refused if another aggregate holds one.
    pub claims: Vec<kcn_domain::UniqueKey>,
}

/// Decides a command given the aggregate id and its events so far (committed and earlier in the batch).
pub type Decide = Box<
    dyn FnOnce(
            Uuid,
            Vec<StoredEvent>,
            DateTime<Utc>,
        ) -> BoxFuture<'static, Result<Decision, StoreError>>
        + Send,
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
    /// (scope, key) of the unique keys the command is expected to claim, read with the batch's
    /// other reads; a claim not expected is looked up when it is made.
    pub expected_claims: Vec<(String, String)>,
    pub decide: Decide,
    pub reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// What the writer publishes after each durable batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub size: u64,
    pub root: Option<Hash>,
}

/// Signs the checkpoint of a tree size and root, returning the signed note: the log's identity,
/// handed to the writer by the checkpointer.
pub type Seal = Arc<dyn Fn(u64, &Hash) -> Result<String, StoreError> + Send + Sync>;

/// A checkpoint the writer signed and committed in the same transaction as the events it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub size: u64,
    pub root: Hash,
    /// The signed note, byte for byte as stored.
    pub note: String,
}

/// What the writer's channel carries. Commands are nearly all of it, so they are not boxed to
/// shrink the rare other jobs.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Job {
    Command(WriteJob),
    /// From now on, sign checkpoints (see [`Sealing`]), the newest stored one being `latest`.
    Sealer {
        seal: Seal,
        interval: Duration,
        latest: Option<Sealed>,
    },
    /// Sign a checkpoint at the head in the next batch, at once when the writer is idle. The
    /// answer, if asked for, is sent once the checkpoint is durable.
    SealNow(Option<oneshot::Sender<Result<Sealed, StoreError>>>),
}

/// How the writer issues checkpoints. A checkpoint is signed inside an append transaction, from the
/// root that transaction computes, and stored with its events: it never waits for the log's write
/// lock on its own, nor reads the tree again. The writer signs the first batch after at least
/// `interval` since its last checkpoint, a trailing one `interval` after the last commit of a
/// burst, and one in the next batch whenever asked ([`Job::SealNow`]).
struct Sealing {
    seal: Seal,
    interval: Duration,
    latest: Option<Sealed>,
    last_at: Option<Instant>,
    /// A committed head no checkpoint covers yet.
    behind: bool,
    /// After a failed attempt, the next one waits until then.
    retry_at: Option<Instant>,
}

impl Sealing {
    /// Whether a batch that commits events is due to be signed.
    fn due(&self, now: Instant) -> bool {
        self.last_at.is_none_or(|t| now >= t + self.interval)
            && self.retry_at.is_none_or(|t| now >= t)
    }

    /// When to sign the head no batch signed, if there is one.
    fn trailing_deadline(&self) -> Option<Instant> {
        if !self.behind {
            return None;
        }
        let after_last = self.last_at.map(|t| t + self.interval);
        after_last
            .max(self.retry_at)
            .or_else(|| Some(Instant::now()))
    }
}

pub(crate) fn spawn(
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    head: watch::Sender<Head>,
    sealed: watch::Sender<Option<Sealed>>,
    cache: Arc<StreamCache>,
) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(MAX_BATCH * 4);
    tokio::spawn(async move {
        let mut sealing: Option<Sealing> = None;
        let mut kept = Kept {
            frontier: None,
            cache,
        };
        loop {
            let trailing = sealing.as_ref().and_then(Sealing::trailing_deadline);
            let first = match trailing {
                Some(at) => tokio::select! {
                    job = rx.recv() => job,
                    () = tokio::time::sleep_until(at) => Some(Job::SealNow(None)),
                },
                None => rx.recv().await,
            };
            let Some(first) = first else {
                break;
            };
            let mut round = Round::default();
            round.take(first, &mut sealing, &sealed);
            while round.commands.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => round.take(job, &mut sealing, &sealed),
                    Err(_) => break,
                }
            }
            if round.commands.is_empty() && !round.seal_asked {
                continue;
            }
            run_batch(
                backend.as_ref(),
                clock.as_ref(),
                &head,
                &sealed,
                sealing.as_mut(),
                &mut kept,
                round,
            )
            .await;
        }
        tracing::debug!("event log writer stopped: every command sender is gone");
    });
    tx
}

/// The jobs one batch takes from the channel.
#[derive(Default)]
struct Round {
    commands: Vec<WriteJob>,
    seal_asked: bool,
    waiters: Vec<oneshot::Sender<Result<Sealed, StoreError>>>,
}

impl Round {
    fn take(
        &mut self,
        job: Job,
        sealing: &mut Option<Sealing>,
        published: &watch::Sender<Option<Sealed>>,
    ) {
        match job {
            Job::Command(job) => self.commands.push(job),
            Job::Sealer {
                seal,
                interval,
                latest,
            } => {
                if latest.is_some() {
                    published.send_replace(latest.clone());
                }
                *sealing = Some(Sealing {
                    seal,
                    interval,
                    latest,
                    last_at: None,
                    behind: false,
                    retry_at: None,
                });
            }
            Job::SealNow(waiter) => {
                self.seal_asked = true;
                self.waiters.extend(waiter);
            }
        }
    }
}

/// The state of one batch while its commands are decided.
struct Batch {
    next_position: u64,
    events: Vec<StoredEvent>,
    requests: Vec<RequestRecord>,
    /// Events of this batch per stream, so a later command in the batch sees an earlier one's.
    pending: HashMap<(&'static str, Uuid), Vec<StoredEvent>>,
    /// The unique keys this batch claims: (scope, key, aggregate id).
    unique: Vec<(String, String, String)>,
    /// The batch's time: every event's `recorded_at`, and the "today" of the callers' scopes.
    now: DateTime<Utc>,
    recorded_at: String,
}

/// What a batch's commands read from the store, read once for the whole batch.
#[derive(Default)]
struct Prefetched {
    /// Idempotency records by (principal, request id).
    requests: HashMap<(String, String), RequestRecord>,
    /// Events by (aggregate type, aggregate id), in version order.
    streams: HashMap<(String, String), Vec<StoredEvent>>,
    /// The committed holder of each expected unique key (scope, key), `None` when it is free.
    unique: HashMap<(String, String), Option<String>>,
}

/// The store's error for a command or a checkpoint that a failed batch carried.
fn batch_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Internal(m) => StoreError::Internal(m.clone()),
        other => StoreError::Internal(other.to_string()),
    }
}

async fn run_batch(
    backend: &dyn Backend,
    clock: &dyn Clock,
    head: &watch::Sender<Head>,
    published: &watch::Sender<Option<Sealed>>,
    mut sealing: Option<&mut Sealing>,
    kept: &mut Kept,
    round: Round,
) {
    let Round {
        commands: jobs,
        seal_asked,
        waiters,
    } = round;
    let size = jobs.len();
    // What every command of the batch reads, read for all of them at once: the idempotency
    // records of their request ids and the streams they address.
    let request_keys: Vec<(String, String)> = jobs
        .iter()
        .map(|j| {
            (
                j.context.actor.principal.clone(),
                j.context.request_id.clone(),
            )
        })
        .collect();
    let mut stream_keys: Vec<(String, String)> = jobs
        .iter()
        .filter_map(|j| match j.target {
            Target::Existing(id) => Some((j.aggregate_type.to_owned(), id.to_string())),
            Target::New => None,
        })
        .collect();
    stream_keys.sort_unstable();
    stream_keys.dedup();
    // The streams the cache holds need no read, if it is still valid for the log under the lock.
    let mut cached = Vec::new();
    stream_keys.retain(|k| match kept.cache.stream(&k.0, &k.1) {
        Some(stream) => {
            cached.push((k.clone(), stream));
            false
        }
        None => true,
    });
    let mut unique_keys: Vec<(String, String)> = jobs
        .iter()
        .flat_map(|j| j.expected_claims.iter().cloned())
        .collect();
    unique_keys.sort_unstable();
    unique_keys.dedup();
    let result = async {
        let mut tx = backend.begin_append().await.map_err(|e| {
            tracing::warn!(error = %e, "could not begin an append transaction");
            StoreError::Unavailable(match &e {
                StoreError::Unavailable(m) | StoreError::Internal(m) => m.clone(),
                other => other.to_string(),
            })
        })?;
        let failed = |e: StoreError| {
            tracing::warn!(error = %e, "append transaction failed before deciding");
            StoreError::Unavailable(e.to_string())
        };
        let reads = tx
            .open_batch(&BatchKeys {
                requests: &request_keys,
                streams: &stream_keys,
                unique: &unique_keys,
            })
            .await
            .map_err(failed)?;
        let last = reads.last_position;
        let mut read = Prefetched::default();
        read.unique
            .extend(unique_keys.iter().map(|k| (k.clone(), None)));
        for (scope, key, holder) in reads.unique {
            read.unique.insert((scope, key), Some(holder));
        }
        for r in reads.requests {
            read.requests
                .insert((r.principal.clone(), r.request_id.clone()), r);
        }
        let mut loaded = reads.streams;
        let valid = kept.cache.begin(last);
        if !valid && !cached.is_empty() {
            // Another process appended since: the cached streams are read again.
            let again: Vec<(String, String)> = cached.iter().map(|(k, _)| k.clone()).collect();
            loaded.extend(tx.load_streams(&again).await.map_err(failed)?);
            stream_keys.extend(again);
        } else {
            for (k, stream) in cached {
                read.streams.insert(k, stream.as_ref().clone());
            }
        }
        for k in &stream_keys {
            read.streams.entry(k.clone()).or_default();
        }
        for e in loaded {
            read.streams
                .entry((e.aggregate_type.clone(), e.aggregate_id.clone()))
                .or_default()
                .push(e);
        }
        for k in &stream_keys {
            if let Some(stream) = read.streams.get(k) {
                let mut stream = stream.clone();
                stream.sort_by_key(|e| e.aggregate_version);
                kept.cache.keep_stream(&k.0, &k.1, Arc::new(stream));
            }
        }
        Ok((tx, last, read))
    }
    .await;
    let (mut tx, last, read) = match result {
        Ok(started) => started,
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(batch_error(&e)));
            }
            for waiter in waiters {
                let _ = waiter.send(Err(batch_error(&e)));
            }
            if let Some(sealing) = sealing {
                sealing.retry_at = Some(Instant::now() + sealing.interval);
            }
            return;
        }
    };
    let batch_now = clock.now();
    let mut batch = Batch {
        next_position: last + 1,
        events: Vec::new(),
        requests: Vec::new(),
        pending: HashMap::new(),
        unique: Vec::new(),
        now: batch_now,
        recorded_at: format_timestamp(batch_now),
    };
    let mut replies = Vec::with_capacity(size);
    for job in jobs {
        let result = decide_one(
            tx.as_mut(),
            &read,
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

    // Sign this batch's head if asked, or if it commits events and a checkpoint is due, unless a
    // checkpoint already covers it.
    let now = Instant::now();
    let new_size = batch.next_position - 1;
    let seal = sealing.as_deref().filter(|s| {
        let wanted = seal_asked || (!batch.events.is_empty() && s.due(now));
        wanted && s.latest.as_ref().is_none_or(|l| new_size > l.size)
    });
    let sign = seal.map(|s| (s.seal.clone(), format_timestamp(clock.now())));

    let committing = std::time::Instant::now();
    let committed = commit(tx, &batch, last, sign, &mut kept.frontier).await;
    metrics::histogram!("kcn_append_commit_seconds").record(committing.elapsed().as_secs_f64());
    metrics::histogram!("kcn_append_batch_commands").record(size as f64);
    match &committed {
        Ok(_) => kept.cache.committed(&batch.events, new_size),
        Err(_) => kept.cache.failed(),
    }
    match committed {
        Ok((root, signed)) => {
            if new_size > last {
                head.send_replace(Head {
                    size: new_size,
                    root: Some(root),
                });
            }
            for (reply, result) in replies {
                let _ = reply.send(result);
            }
            if let Some(sealing) = sealing.as_deref_mut() {
                if let Some(signed) = signed {
                    tracing::debug!(tree_size = signed.size, root = %signed.root, "checkpoint issued");
                    metrics::gauge!("kcn_checkpoint_size").set(signed.size as f64);
                    metrics::gauge!("kcn_checkpoint_timestamp_seconds")
                        .set(clock.now().timestamp() as f64);
                    sealing.latest = Some(signed.clone());
                    sealing.last_at = Some(now);
                    sealing.retry_at = None;
                    sealing.behind = false;
                    published.send_replace(Some(signed));
                } else if !batch.events.is_empty() {
                    sealing.behind = true;
                }
                for waiter in waiters {
                    let _ = waiter.send(sealing.latest.clone().ok_or_else(|| {
                        StoreError::Internal("no checkpoint was issued".to_owned())
                    }));
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, commands = size, "append batch failed; nothing was committed");
            for (reply, result) in replies {
                // A command that was refused on its own merits keeps its answer; the accepted ones
                // were not committed and get the store's error.
                let _ = reply.send(match result {
                    Ok(_) => Err(batch_error(&e)),
                    Err(refused) => Err(refused),
                });
            }
            for waiter in waiters {
                let _ = waiter.send(Err(batch_error(&e)));
            }
            if let Some(sealing) = sealing {
                sealing.retry_at = Some(Instant::now() + sealing.interval);
                sealing.behind |= seal_asked;
            }
        }
    }
}

/// What the writer keeps from one batch for the next: the tree's frontier and the committed
/// streams deciding read.
struct Kept {
    frontier: Option<Frontier>,
    cache: Arc<StreamCache>,
}

/// The stored tree hashes the next append needs ([`tree::indexes_for_append`]), kept by the
/// writer from the batch it committed last, so that a batch appending to the tree it left reads
/// none. A batch finding another size under the lock (another process appended) reads them.
pub(crate) struct Frontier {
    size: u64,
    hashes: HashMap<u64, Hash>,
}

/// Inserts the batch and its tree hashes, and the checkpoint of the new head when `sign` is
/// given, commits, and returns the new root (and the checkpoint). Keeps `frontier` for the next
/// batch when it commits, and forgets it when it does not.
async fn commit(
    mut tx: Box<dyn AppendTx>,
    batch: &Batch,
    old_size: u64,
    sign: Option<(Seal, String)>,
    frontier: &mut Option<Frontier>,
) -> Result<(Hash, Option<Sealed>), StoreError> {
    let kept = frontier.take().filter(|f| f.size == old_size);
    let leaves: Vec<Hash> = batch.events.iter().map(|e| leaf_hash(&e.leaf())).collect();
    let new_size = batch.next_position - 1;
    let (root, hashes, mut known) = if old_size == 0 && leaves.is_empty() {
        (EMPTY_ROOT, Vec::new(), HashMap::new())
    } else {
        let needed = tree::indexes_for_append(old_size).map_err(internal)?;
        let stored: HashMap<u64, Hash> = match kept {
            Some(f) if needed.iter().all(|i| f.hashes.contains_key(i)) => f.hashes,
            _ => tx.read_tree_hashes(&needed).await?.into_iter().collect(),
        };
        let appended = tree::append(old_size, &leaves, &stored).map_err(internal)?;
        (appended.root, appended.hashes, stored)
    };
    let signed = match sign {
        Some((seal, issued_at)) => {
            let note = seal(new_size, &root)?;
            Some((
                Sealed {
                    size: new_size,
                    root,
                    note,
                },
                issued_at,
            ))
        }
        None => None,
    };
    tx.write_batch(&BatchRows {
        events: &batch.events,
        requests: &batch.requests,
        tree_hashes: &hashes,
        unique: &batch.unique,
        checkpoint: signed.as_ref().map(|(s, issued_at)| CheckpointRow {
            tree_size: s.size,
            root: &s.root,
            note: &s.note,
            issued_at,
        }),
    })
    .await?;
    tx.commit().await?;
    // What the next append needs, from what this one read and wrote.
    known.extend(hashes.iter().copied());
    if let Ok(next) = tree::indexes_for_append(new_size) {
        let hashes: Option<HashMap<u64, Hash>> = next
            .iter()
            .map(|i| known.get(i).map(|h| (*i, *h)))
            .collect();
        *frontier = hashes.map(|hashes| Frontier {
            size: new_size,
            hashes,
        });
    }
    Ok((root, signed.map(|(s, _)| s)))
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn decide_one(
    tx: &mut dyn AppendTx,
    read: &Prefetched,
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
        None => read
            .requests
            .get(&(principal.to_owned(), request_id.to_owned()))
            .cloned(),
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
    // A new aggregate's fresh UUIDv7 has no events; an existing one's were read with the batch.
    let mut history = match target {
        Target::New => Vec::new(),
        Target::Existing(_) => read
            .streams
            .get(&(aggregate_type.to_owned(), id_text.clone()))
            .cloned()
            .unwrap_or_default(),
    };
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

    let decision = decide(aggregate_id, history, batch.now).await?;
    let metadata = serde_json::to_vec(&Metadata {
        actor: context.actor.clone(),
        acting_authority_id: decision.acting_authority_id,
        correlation_id: context.correlation_id.clone(),
        causation_id: context.causation_id.clone(),
        request_id: Some(context.request_id.clone()),
        source: context.source.clone(),
    })
    .map_err(internal)?;

    // Unique keys: held in this batch or by a committed aggregate (read under the log's write
    // lock, so a concurrent registration in another process has committed or waits for us).
    let mut claimed = Vec::with_capacity(decision.claims.len());
    for claim in &decision.claims {
        let held = match batch
            .unique
            .iter()
            .find(|(s, k, _)| s == claim.scope && *k == claim.key)
        {
            Some((_, _, holder)) => Some(holder.clone()),
            None => match read
                .unique
                .get(&(claim.scope.to_owned(), claim.key.clone()))
            {
                Some(prefetched) => prefetched.clone(),
                None => tx.find_unique(claim.scope, &claim.key).await?,
            },
        };
        match held {
            Some(holder) if holder != id_text => {
                return Err(StoreError::KeyTaken {
                    scope: claim.scope.to_owned(),
                    field: claim.field.to_owned(),
                    key: claim.key.clone(),
                    existing_id: holder,
                });
            }
            Some(_) => {}
            None => claimed.push((claim.scope.to_owned(), claim.key.clone(), id_text.clone())),
        }
    }

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
    batch.unique.extend(claimed);
    batch.requests.push(RequestRecord {
        principal: principal.to_owned(),
        request_id: request_id.to_owned(),
        command_hash: command_hash.to_vec(),
        outcome: serde_json::to_vec(&outcome).map_err(internal)?,
        recorded_at: batch.recorded_at.clone(),
    });
    Ok(outcome)
}
