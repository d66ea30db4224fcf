//! The audit read models (audit questions 2 to 10): each is a [`ReadModel`], a set of tables that its
//! own projector feeds from the log, written once in SQL that runs on both SQLite and PostgreSQL through
//! sqlx's `Any` driver (`$1`-style placeholders, `INTEGER`/`BIGINT`, `TEXT`, `ON CONFLICT`).
//!
//! Tables are versioned by a [`Generation`]: a rebuild replays the log into a new generation's tables
//! while queries keep reading the current one, then switches the current generation in one
//! transaction and drops the old tables. Every table and index name is therefore built with
//! [`Generation::table`], never written literally.

use async_trait::async_trait;
use kcn_eventstore::StoredEvent;
use sqlx::AnyConnection;

use crate::error::ProjectionError;

pub mod alerts;
pub mod annual_reports;
pub mod consultations;
pub mod exchanges;
pub mod incidents;
pub mod inspections;
pub mod procedures;
pub mod responsibility;

pub use crate::audit_runner::AuditModels;

/// One generation of a read model's tables, such as `g1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Generation(pub u32);

impl Generation {
    /// The physical name of a table or index of this generation: `inspections` → `inspections_g1`.
    pub fn table(&self, base: &str) -> String {
        format!("{base}_g{}", self.0)
    }
}

/// A read model fed from the log.
#[async_trait]
pub trait ReadModel: Send + Sync + std::fmt::Debug + 'static {
    /// A stable name: its checkpoint row, its status line, `kcn-ledger projections rebuild NAME`.
    fn name(&self) -> &'static str;

    /// The base names of its tables, for dropping an old generation.
    fn tables(&self) -> &'static [&'static str];

    /// Portable DDL creating this generation's tables and indexes (`CREATE TABLE IF NOT EXISTS …`),
    /// names built with [`Generation::table`].
    fn create(&self, g: &Generation) -> Vec<String>;

    /// Applies a batch of events, in log order, inside the projector's transaction (which also moves
    /// the checkpoint). Events this model does not care about are skipped. An event it cannot apply
    /// is an error: the projector stops there and reports it, it never skips.
    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError>;
}

/// Parses an event's payload as JSON, naming the position when it is not.
pub fn payload(e: &StoredEvent) -> Result<serde_json::Value, ProjectionError> {
    serde_json::from_slice(&e.payload).map_err(|err| ProjectionError::Apply {
        position: e.position,
        reason: format!("payload is not JSON: {err}"),
    })
}

/// A string field of a payload, or an apply error naming it.
pub fn text<'a>(
    e: &StoredEvent,
    v: &'a serde_json::Value,
    field: &str,
) -> Result<&'a str, ProjectionError> {
    v.get(field)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ProjectionError::Apply {
            position: e.position,
            reason: format!("{} has no string field {field}", e.event_type),
        })
}

/// Runs a statement built at run time (table names from a [`Generation`]); the SQL text never holds
/// caller data, which is always bound.
pub fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// Every audit read model, in the order their projectors start. Each model file adds its line here.
pub fn all() -> Vec<std::sync::Arc<dyn ReadModel>> {
    vec![
        std::sync::Arc::new(inspections::Inspections),
        std::sync::Arc::new(incidents::Incidents),
        std::sync::Arc::new(alerts::Alerts),
        std::sync::Arc::new(consultations::ConsultationsModel),
        std::sync::Arc::new(exchanges::ExchangesModel),
        std::sync::Arc::new(responsibility::ResponsibilityModel),
        std::sync::Arc::new(annual_reports::AnnualReportsModel::default()),
        std::sync::Arc::new(procedures::ProceduresModel),
    ]
}
