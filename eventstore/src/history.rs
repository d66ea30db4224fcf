//! Point-in-time history (audit question 11): the state of any aggregate as of a past position or
//! recorded time, and who did what to it, read straight from the log.

use kcn_domain::AggregateKind;
use kcn_domain::agreement::CoordinationAgreement;
use kcn_domain::annual_plan::AnnualPlan;
use kcn_domain::authority::Authority;
use kcn_domain::company::InfrastructureCompany;
use kcn_domain::consultation::IndustryConsultation;
use kcn_domain::dissemination::Dissemination;
use kcn_domain::incident::Incident;
use kcn_domain::information_exchange::InformationExchange;
use kcn_domain::inspection::Inspection;
use kcn_domain::monitoring::MonitoringAlert;
use kcn_domain::park::Park;
use kcn_domain::procedure::AdministrativeProcedure;
use kcn_domain::tenant::Tenant;

use crate::error::StoreError;
use crate::record::{Metadata, StoredEvent};
use crate::{LedgerAggregate, fold};

/// What "as of" means for a history query: what the ledger knew then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Everything committed.
    Now,
    /// Events at or before this global position.
    AtPosition(u64),
    /// Events recorded at or before this instant (canonical RFC 3339 text, compared as stored).
    RecordedBy(String),
    /// Events that happened (business time) before this instant, whenever they were recorded: what
    /// is known, now, to have happened by then (canonical text, compared as stored).
    HappenedBefore(String),
}

impl Known {
    /// Whether the ledger knew this event at that point.
    pub fn includes(&self, e: &StoredEvent) -> bool {
        match self {
            Self::Now => true,
            Self::AtPosition(p) => e.position <= *p,
            Self::RecordedBy(t) => e.recorded_at.as_str() <= t.as_str(),
            Self::HappenedBefore(t) => e.occurred_at.as_str() < t.as_str(),
        }
    }
}

fn json_of<A: LedgerAggregate>(events: &[StoredEvent]) -> Result<serde_json::Value, StoreError> {
    let state = fold::<A>(events)?;
    serde_json::to_value(&state).map_err(|e| StoreError::Internal(e.to_string()))
}

/// The state of an aggregate after `events`, as JSON of its state type.
pub fn state_json(
    kind: AggregateKind,
    events: &[StoredEvent],
) -> Result<serde_json::Value, StoreError> {
    // Every aggregate kind has its arm: adding a kind without one does not compile.
    match kind {
        AggregateKind::Authority => json_of::<Authority>(events),
        AggregateKind::InfrastructureCompany => json_of::<InfrastructureCompany>(events),
        AggregateKind::Park => json_of::<Park>(events),
        AggregateKind::Tenant => json_of::<Tenant>(events),
        AggregateKind::CoordinationAgreement => json_of::<CoordinationAgreement>(events),
        AggregateKind::AnnualPlan => json_of::<AnnualPlan>(events),
        AggregateKind::InformationExchange => json_of::<InformationExchange>(events),
        AggregateKind::IndustryConsultation => json_of::<IndustryConsultation>(events),
        AggregateKind::Inspection => json_of::<Inspection>(events),
        AggregateKind::Incident => json_of::<Incident>(events),
        AggregateKind::MonitoringAlert => json_of::<MonitoringAlert>(events),
        AggregateKind::Dissemination => json_of::<Dissemination>(events),
        AggregateKind::AdministrativeProcedure => json_of::<AdministrativeProcedure>(events),
        AggregateKind::Principal => json_of::<kcn_domain::principal::Principal>(events),
        AggregateKind::DeliveryEndpoint => {
            json_of::<kcn_domain::delivery::DeliveryEndpoint>(events)
        }
    }
}

/// One event of an aggregate's history with who did it.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub event: StoredEvent,
    /// The envelope metadata, parsed; `None` if the stored bytes are not valid metadata JSON.
    pub metadata: Option<Metadata>,
}

/// An aggregate's state and history as known at a point.
#[derive(Debug, Clone)]
pub struct History {
    pub version: u64,
    pub state: serde_json::Value,
    pub entries: Vec<HistoryEntry>,
}

/// Builds the history of an aggregate from its stream, keeping what was known at `known`.
pub fn history(
    kind: AggregateKind,
    stream: Vec<StoredEvent>,
    known: &Known,
) -> Result<History, StoreError> {
    let events: Vec<StoredEvent> = stream.into_iter().filter(|e| known.includes(e)).collect();
    let state = state_json(kind, &events)?;
    let entries = events
        .into_iter()
        .map(|event| HistoryEntry {
            metadata: serde_json::from_slice(&event.metadata).ok(),
            event,
        })
        .collect::<Vec<_>>();
    Ok(History {
        version: entries.len() as u64,
        state,
        entries,
    })
}
