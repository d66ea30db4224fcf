//! The domain of kcn-ledger: aggregates, their commands and events, and the rules of the coordination
//! regulation between the Industrial Parks Management Board and the infrastructure companies.
//!
//! Everything here is pure: no gRPC, no SQL, no IO. Aggregates implement cqrs-es's [`cqrs_es::Aggregate`];
//! every business rule lives in `handle`, `apply` only assigns. What the domain needs from the outside
//! world (does this park exist?) reaches it through the [`Lookups`] trait in [`Deps`].

pub mod agreement;
pub mod annual_plan;
pub mod authority;
pub mod calendar;
pub mod catalogue;
pub mod company;
pub mod consultation;
pub mod delivery;
pub mod deps;
pub mod dissemination;
pub mod error;
pub mod event;
pub mod governing;
pub mod incident;
pub mod information_exchange;
pub mod inspection;
pub mod limits;
pub mod monitoring;
pub mod park;
pub mod principal;
pub mod procedure;
pub mod scope;
pub mod tenant;
pub mod time;
pub mod values;

#[cfg(test)]
pub(crate) mod testing;

pub use catalogue::Event;
pub use deps::{Breach, Deps, LegalRules, Lookups};
pub use error::DomainError;
pub use event::{
    AggregateKind, DecodeError, EventBody, EventPayload, LedgerAggregate, Timed, UniqueKey,
};
