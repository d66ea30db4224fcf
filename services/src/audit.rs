//! The audit service: the raw log as stored (every leaf field, exact bytes), subject timelines, the
//! read models' standing, and the transparency log: signed checkpoints, the verifier key, inclusion
//! and consistency proofs.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use kcn_eventstore::checkpoint::IssuedCheckpoint;
use kcn_eventstore::{StoredEvent, TransparencyError};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::fields::Fields;
use crate::proto::{self, audit_service_server::AuditService};
use crate::{Ledger, error};

mod subscription;
mod timeline;

/// Events per read of the log while streaming.
const READ_CHUNK: u32 = 1_000;
/// Payload and metadata bytes per read of the log while streaming (a page holds at most this plus
/// one event). A stream keeps at most two pages in memory (one being sent, the next read ahead),
/// so this, not the count of events, is what many slow readers of large events cost: with the
/// largest events (256 KiB) a page holds one or two.
const READ_BUDGET_BYTES: u64 = 256 * 1024;
/// Positions one `GetEvents` call may name.
const MAX_EVENTS_POSITIONS: usize = 100;
/// Payload and metadata bytes one `GetEvents` answer holds at most (plus its first event, whatever
/// its size): well under the default message limit with the largest events (256 KiB each).
const EVENTS_BUDGET_BYTES: usize = 1024 * 1024;

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Audit(pub Ledger);

/// A stored event as the wire's `LogEvent`, bytes untouched.
pub fn log_event(e: StoredEvent) -> proto::LogEvent {
    proto::LogEvent {
        position: e.position,
        event_id: e.event_id.to_string(),
        aggregate_type: e.aggregate_type,
        aggregate_id: e.aggregate_id,
        aggregate_version: e.aggregate_version,
        event_type: e.event_type,
        schema_version: e.schema_version,
        occurred_at: e.occurred_at,
        recorded_at: e.recorded_at,
        payload: e.payload,
        metadata: e.metadata,
    }
}

type LogStream = Pin<Box<dyn Stream<Item = Result<proto::ReadLogResponse, Status>> + Send>>;
type SubscriptionStream =
    Pin<Box<dyn Stream<Item = Result<proto::SubscribeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AuditService for Audit {
    type ReadLogStream = LogStream;
    type SubscribeStream = SubscriptionStream;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<SubscriptionStream>, Status> {
        let head = self.0.store.head().await.map_err(error::store)?;
        let filter = subscription::Filter::parse(request.into_inner(), head)?;
        let permit = self.0.subscriptions.clone().try_acquire_owned().map_err(|_| {
            Status::with_error_details(
                Code::ResourceExhausted,
                "as many subscriptions are open as the server allows (max_subscriptions); retry later",
                ErrorDetails::with_error_info(
                    "TOO_MANY_SUBSCRIPTIONS",
                    error::ERROR_DOMAIN,
                    std::collections::HashMap::new(),
                ),
            )
        })?;
        Ok(Response::new(Box::pin(subscription::stream(
            self.0.clone(),
            filter,
            permit,
        ))))
    }

    async fn read_log(
        &self,
        request: Request<proto::ReadLogRequest>,
    ) -> Result<Response<LogStream>, Status> {
        let r = request.into_inner();
        let from = r.from_position.max(1);
        let head = self.0.store.head().await.map_err(error::store)?;
        let to = if r.to_position == 0 {
            head
        } else {
            r.to_position.min(head)
        };
        if r.to_position != 0 && r.to_position < from {
            let mut f = Fields::default();
            f.violation("to_position", "must not be before from_position");
            f.finish()?;
        }
        let store = self.0.store.clone();
        let stream = async_stream(store, from, to);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_events(
        &self,
        request: Request<proto::GetEventsRequest>,
    ) -> Result<Response<proto::GetEventsResponse>, Status> {
        let mut positions = request.into_inner().positions;
        let head = self.0.store.head().await.map_err(error::store)?;
        let mut f = Fields::default();
        if positions.is_empty() {
            f.violation("positions", "name at least one position");
        }
        if positions.len() > MAX_EVENTS_POSITIONS {
            f.violation(
                "positions",
                format!("name at most {MAX_EVENTS_POSITIONS} positions per call"),
            );
        }
        if let Some(p) = positions.iter().find(|&&p| p == 0 || p > head) {
            f.violation(
                "positions",
                format!("position {p} is not in the log, whose positions are 1 to {head}"),
            );
        }
        f.finish()?;
        positions.sort_unstable();
        positions.dedup();
        let stored = self
            .0
            .store
            .backend()
            .read_positions(&positions)
            .await
            .map_err(error::store)?;
        let mut events = Vec::with_capacity(stored.len());
        let mut remaining_positions = Vec::new();
        let mut bytes = 0usize;
        for e in stored {
            let size = e.payload.len().saturating_add(e.metadata.len());
            if !remaining_positions.is_empty()
                || (!events.is_empty() && bytes.saturating_add(size) > EVENTS_BUDGET_BYTES)
            {
                remaining_positions.push(e.position);
                continue;
            }
            bytes = bytes.saturating_add(size);
            events.push(log_event(e));
        }
        Ok(Response::new(proto::GetEventsResponse {
            events,
            remaining_positions,
        }))
    }

    async fn get_timeline(
        &self,
        request: Request<proto::GetTimelineRequest>,
    ) -> Result<Response<proto::GetTimelineResponse>, Status> {
        timeline::get(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_projection_status(
        &self,
        _request: Request<proto::GetProjectionStatusRequest>,
    ) -> Result<Response<proto::GetProjectionStatusResponse>, Status> {
        let statuses = self.0.read.status().await.map_err(error::projection)?;
        Ok(Response::new(proto::GetProjectionStatusResponse {
            projections: statuses
                .into_iter()
                .map(|s| proto::ProjectionStatus {
                    lag: s.log_head.saturating_sub(s.position),
                    name: s.name,
                    position: s.position,
                    log_head: s.log_head,
                    error: s.error.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        let size = request.into_inner().tree_size;
        let checkpoints = &self.0.checkpoints;
        let issued = if size == 0 {
            checkpoints.latest().await.map(Some)
        } else {
            checkpoints.at_size(size).await
        }
        .map_err(|e| transparency(e, "tree_size"))?;
        match issued {
            Some(issued) => Ok(Response::new(checkpoint_response(issued))),
            None => Err(Status::with_error_details(
                Code::NotFound,
                format!(
                    "no checkpoint was issued at tree size {size}; ask for the latest (tree_size 0) \
                     and a consistency proof from the size you hold"
                ),
                ErrorDetails::with_resource_info(
                    "kcn.ledger.v1.Checkpoint",
                    size.to_string(),
                    "",
                    "no checkpoint was issued at this tree size",
                ),
            )),
        }
    }

    async fn get_verifier_key(
        &self,
        _request: Request<proto::GetVerifierKeyRequest>,
    ) -> Result<Response<proto::GetVerifierKeyResponse>, Status> {
        let identity = self.0.checkpoints.identity();
        Ok(Response::new(proto::GetVerifierKeyResponse {
            verifier_key: identity.verifier_key(),
            origin: identity.origin().to_owned(),
            key_name: identity.signer().name().to_owned(),
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<proto::GetInclusionProofRequest>,
    ) -> Result<Response<proto::GetInclusionProofResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        if r.position == 0 {
            f.violation("position", "must be at least 1");
        }
        if r.tree_size == 0 {
            f.violation("tree_size", "must be at least 1 (a checkpoint's tree size)");
        }
        f.finish()?;
        let proof = self
            .0
            .checkpoints
            .inclusion_proof(r.position, r.tree_size)
            .await
            .map_err(|e| transparency(e, "tree_size"))?;
        Ok(Response::new(proto::GetInclusionProofResponse {
            position: r.position,
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
            leaf_hash: proof.leaf_hash.as_bytes().to_vec(),
            hashes: proof.hashes.iter().map(|h| h.as_bytes().to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<proto::GetConsistencyProofRequest>,
    ) -> Result<Response<proto::GetConsistencyProofResponse>, Status> {
        let r = request.into_inner();
        let hashes = self
            .0
            .checkpoints
            .consistency_proof(r.old_size, r.new_size)
            .await
            .map_err(|e| transparency(e, "new_size"))?;
        Ok(Response::new(proto::GetConsistencyProofResponse {
            old_size: r.old_size,
            new_size: r.new_size,
            hashes: hashes.iter().map(|h| h.as_bytes().to_vec()).collect(),
        }))
    }
}

/// A checkpoint as the wire's answer: the note byte for byte, and its body's fields.
fn checkpoint_response(issued: IssuedCheckpoint) -> proto::GetCheckpointResponse {
    proto::GetCheckpointResponse {
        origin: issued.checkpoint.origin,
        tree_size: issued.checkpoint.size,
        root_hash: issued.checkpoint.root.as_bytes().to_vec(),
        note: issued.note,
    }
}

/// Maps a transparency-log failure; `size_field` names the request field holding the tree size
/// that a "beyond the log" refusal is about.
fn transparency(e: TransparencyError, size_field: &str) -> Status {
    let (field, description) = match e {
        TransparencyError::PositionZero => ("position", "must be at least 1".to_owned()),
        TransparencyError::PositionBeyondTree {
            position,
            tree_size,
        } => (
            "position",
            format!("position {position} is beyond tree_size {tree_size}"),
        ),
        TransparencyError::TreeSizeBeyondLog { log_size, .. } => (
            size_field,
            format!("is beyond the log's current size {log_size}"),
        ),
        TransparencyError::SizesOutOfOrder { .. } => {
            ("old_size", "must not be larger than new_size".to_owned())
        }
        TransparencyError::Store(s) => return error::store(s),
        TransparencyError::Inconsistent(detail) => {
            return error::store(kcn_eventstore::StoreError::Internal(detail));
        }
    };
    error::invalid(vec![tonic_types::FieldViolation::new(field, description)])
}

/// Streams `from..=to` in pages bounded by count and by bytes ([`READ_BUDGET_BYTES`]). A task
/// reads (and encodes) the next page while the current one is being sent, so the database and the
/// connection work at once; it reads a page only when the one before has been taken, so a large
/// range, or a slow reader, never holds more than two pages in memory. The task ends when the
/// range does, or when the reader goes away.
fn async_stream(
    store: kcn_eventstore::EventStore,
    from: u64,
    to: u64,
) -> impl Stream<Item = Result<proto::ReadLogResponse, Status>> + Send {
    type Page = Result<Vec<proto::ReadLogResponse>, Status>;
    let (tx, rx) = tokio::sync::mpsc::channel::<Page>(1);
    tokio::spawn(async move {
        let mut next = from;
        while next <= to {
            // The slot first: nothing is read while the reader still has a page waiting.
            let Ok(slot) = tx.reserve().await else {
                return;
            };
            let limit = READ_CHUNK.min(u32::try_from(to - next + 1).unwrap_or(READ_CHUNK));
            match store.read_page(next, limit, READ_BUDGET_BYTES).await {
                Ok(events) if events.is_empty() => return,
                Ok(events) => {
                    next = events.last().map_or(to + 1, |e| e.position + 1);
                    slot.send(Ok(events
                        .into_iter()
                        .map(|e| proto::ReadLogResponse {
                            event: Some(log_event(e)),
                        })
                        .collect()));
                }
                Err(e) => {
                    slot.send(Err(error::store(e)));
                    return;
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).flat_map(|page| {
        let items: Vec<Result<proto::ReadLogResponse, Status>> = match page {
            Ok(events) => events.into_iter().map(Ok).collect(),
            Err(status) => vec![Err(status)],
        };
        futures::stream::iter(items)
    })
}
