//! The audit service: the raw log as stored (every leaf field, exact bytes), subject timelines, the
//! read models' standing, and the transparency log: signed checkpoints, the verifier key, inclusion
//! and consistency proofs.

use std::pin::Pin;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::{Stream, StreamExt};
use kcn_eventstore::checkpoint::IssuedCheckpoint;
use kcn_eventstore::{StoredEvent, TransparencyError};
use kcn_integrity::leaf::{format_timestamp, parse_timestamp};
use kcn_projections::{Subject, TimelineQuery};
use query_fingerprint::fingerprint;
use serde::{Deserialize, Serialize};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::fields::{self, Fields};
use crate::proto::{self, audit_service_server::AuditService};
use crate::{Ledger, error, take};

/// Events per read of the log while streaming.
const READ_CHUNK: u32 = 500;
/// Payload and metadata bytes per read of the log while streaming (a page holds at most this plus
/// one event). A stream keeps one page in memory while its reader takes it, so this, not the
/// count of events, is what many slow readers of large events cost: with the largest events
/// (256 KiB) a page holds two.
const READ_BUDGET_BYTES: u64 = 512 * 1024;
/// How long a read-your-writes query waits for its read model.
const READ_YOUR_WRITES_DEADLINE: Duration = Duration::from_secs(5);

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Audit(pub Ledger);

/// A small, dependency-free fingerprint of a query's filters, so that a page token is only accepted
/// for the query that issued it.
mod query_fingerprint {
    use std::hash::{DefaultHasher, Hash, Hasher};

    pub fn fingerprint(parts: &[&str]) -> u64 {
        let mut h = DefaultHasher::new();
        parts.hash(&mut h);
        h.finish()
    }
}

/// The opaque page token of a timeline: where the last page ended, and which query it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct PageToken {
    at: String,
    position: u64,
    query: u64,
}

fn encode_token(t: &PageToken) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(t).expect("page tokens serialise"))
}

fn decode_token(raw: &str) -> Option<PageToken> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    serde_json::from_slice(&bytes).ok()
}

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

#[tonic::async_trait]
impl AuditService for Audit {
    type ReadLogStream = LogStream;

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

    async fn get_timeline(
        &self,
        request: Request<proto::GetTimelineRequest>,
    ) -> Result<Response<proto::GetTimelineResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let subject = match proto::SubjectType::try_from(r.subject_type) {
            Ok(proto::SubjectType::Park) => Some(Subject::Park),
            Ok(proto::SubjectType::Company) => Some(Subject::Company),
            Ok(proto::SubjectType::Tenant) => Some(Subject::Tenant),
            _ => {
                f.violation(
                    "subject_type",
                    "must be SUBJECT_TYPE_PARK, SUBJECT_TYPE_COMPANY or SUBJECT_TYPE_TENANT",
                );
                None
            }
        };
        let subject_id = f.check("subject_id", fields::uuid(&r.subject_id));
        let from = f.check("from_time", fields::optional_instant(r.from_time.as_ref()));
        let to = f.check("to_time", fields::optional_instant(r.to_time.as_ref()));
        if let (Some(Some(a)), Some(Some(b))) = (&from, &to)
            && b < a
        {
            f.violation("to_time", "must not be before from_time");
        }
        if r.page_size > 1_000 {
            f.violation("page_size", "must be at most 1000");
        }
        for (i, t) in r.event_types.iter().enumerate() {
            if t.is_empty() || t.len() > 100 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                f.violation(
                    &format!("event_types[{i}]"),
                    "must be an event type name such as InformationRequested",
                );
            }
        }
        let from = from.flatten().map(format_timestamp);
        let to = to.flatten().map(format_timestamp);
        let mut event_types = r.event_types.clone();
        event_types.sort();
        let query_fp = fingerprint(&[
            &r.subject_type.to_string(),
            &r.subject_id,
            from.as_deref().unwrap_or(""),
            to.as_deref().unwrap_or(""),
            &event_types.join(","),
        ]);
        let after = if r.page_token.is_empty() {
            None
        } else {
            match decode_token(&r.page_token) {
                Some(t) if t.query == query_fp && parse_timestamp(&t.at).is_ok() => {
                    Some((t.at, t.position))
                }
                Some(_) => {
                    f.violation(
                        "page_token",
                        "belongs to a different query; keep the filters of the first page",
                    );
                    None
                }
                None => {
                    f.violation("page_token", "is not a token this server issued");
                    None
                }
            }
        };
        f.finish()?;
        take!(subject, subject_id);
        if r.min_position > 0 {
            self.0
                .read
                .wait_for(r.min_position, READ_YOUR_WRITES_DEADLINE)
                .await
                .map_err(error::projection)?;
        }
        let page_size = if r.page_size == 0 { 100 } else { r.page_size };
        let rows = self
            .0
            .read
            .timeline(&TimelineQuery {
                subject,
                subject_id: subject_id.to_string(),
                from,
                to,
                event_types,
                limit: page_size + 1,
                after,
            })
            .await
            .map_err(error::projection)?;
        let more = rows.len() > page_size as usize;
        let rows = &rows[..rows.len().min(page_size as usize)];
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => encode_token(&PageToken {
                at: last.occurred_at.clone(),
                position: last.position,
                query: query_fp,
            }),
            _ => String::new(),
        };
        let entries = rows
            .iter()
            .map(|row| {
                let ts = |s: &str| parse_timestamp(s).ok().map(fields::timestamp);
                proto::TimelineEntry {
                    position: row.position,
                    occurred_at: ts(&row.occurred_at),
                    recorded_at: ts(&row.recorded_at),
                    event_type: row.event_type.clone(),
                    aggregate_type: row.aggregate_type.clone(),
                    aggregate_id: row.aggregate_id.clone(),
                    payload_json: String::from_utf8_lossy(&row.payload).into_owned(),
                }
            })
            .collect();
        Ok(Response::new(proto::GetTimelineResponse {
            entries,
            next_page_token,
        }))
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

/// Streams `from..=to` in pages bounded by count and by bytes ([`READ_BUDGET_BYTES`]), reading
/// the next page only when the reader has taken the previous one, so a large range, or a slow
/// reader, never holds more than one page in memory.
fn async_stream(
    store: kcn_eventstore::EventStore,
    from: u64,
    to: u64,
) -> impl Stream<Item = Result<proto::ReadLogResponse, Status>> + Send {
    futures::stream::unfold(Some(from), move |next| {
        let store = store.clone();
        async move {
            let next = next?;
            if next > to {
                return None;
            }
            let limit = READ_CHUNK.min(u32::try_from(to - next + 1).unwrap_or(READ_CHUNK));
            match store.read_page(next, limit, READ_BUDGET_BYTES).await {
                Ok(events) if events.is_empty() => None,
                Ok(events) => {
                    let after = events.last().map(|e| e.position + 1);
                    let items: Vec<Result<proto::ReadLogResponse, Status>> = events
                        .into_iter()
                        .map(|e| {
                            Ok(proto::ReadLogResponse {
                                event: Some(log_event(e)),
                            })
                        })
                        .collect();
                    Some((futures::stream::iter(items), after))
                }
                Err(e) => Some((futures::stream::iter(vec![Err(error::store(e))]), None)),
            }
        }
    })
    .flatten()
}
