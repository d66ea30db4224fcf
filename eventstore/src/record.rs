//! The shapes of what the log stores and answers: a stored event with every leaf field in its exact
//! form, the metadata envelope, a command's context and its outcome.

use kcn_domain::Breach;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One event as stored: every field of the transparency-log leaf, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub position: u64,
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub aggregate_version: u64,
    pub event_type: String,
    pub schema_version: u32,
    /// RFC 3339 UTC with exactly six fractional digits, as stored and hashed.
    pub occurred_at: String,
    /// RFC 3339 UTC with exactly six fractional digits, as stored and hashed.
    pub recorded_at: String,
    /// The exact payload bytes (the event message's proto3 JSON).
    pub payload: Vec<u8>,
    /// The exact metadata bytes (see [`Metadata`]).
    pub metadata: Vec<u8>,
}

impl StoredEvent {
    /// The fields of this event as a transparency-log leaf.
    pub fn leaf(&self) -> kcn_integrity::leaf::LeafFields<'_> {
        kcn_integrity::leaf::LeafFields {
            position: self.position,
            event_id: self.event_id,
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            aggregate_version: self.aggregate_version,
            event_type: &self.event_type,
            schema_version: u64::from(self.schema_version),
            occurred_at: &self.occurred_at,
            recorded_at: &self.recorded_at,
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }
}

/// Who acted: the principal, the organisation it acts for and its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// How the actor was established: `bearer_token` (a principal's token), `embedded` (the
    /// in-process identity of a program embedding the server) or `first_start` (the first
    /// administrator, created by the server itself). Older events say `local_principal`: the
    /// server's configured principal, not a verified caller.
    pub authentication: String,
}

/// The system a command came from, and its own identifier for the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// The envelope fields that are not leaf fields; stored as the event's metadata JSON so that the
/// Merkle tree covers them. A field without a value is left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_authority_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// What the caller says about a command besides the command itself.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub actor: Actor,
    /// Whom the actor acts for: the command path refuses an act outside it
    /// ([`kcn_domain::scope::check`]).
    pub scope: kcn_domain::scope::Scope,
    /// The command's business time, as its header gives it: the scope is checked on its date
    /// before the command is decided, as well as on its events' dates after.
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The idempotency key, scoped to `actor.principal`.
    pub request_id: String,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub source: Option<Source>,
}

/// What an accepted command committed. A retry with the same request id returns this again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    pub first_position: u64,
    pub last_position: u64,
    pub aggregate_version: u64,
    pub event_ids: Vec<Uuid>,
    pub breaches: Vec<Breach>,
    /// True when this outcome is the stored answer to an earlier identical request.
    #[serde(skip)]
    pub replayed: bool,
}
