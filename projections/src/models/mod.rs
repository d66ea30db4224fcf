//! The read models: each is a [`ReadModel`], a set of tables that the one engine
//! ([`crate::runner`]) feeds from the log, written once in SQL that runs on both SQLite and PostgreSQL
//! through sqlx's `Any` driver (`$1`-style placeholders, `INTEGER`/`BIGINT`, `TEXT`, `ON CONFLICT`).
//!
//! A model sees each event once, decoded into the catalogue's typed [`Event`] (an [`Envelope`]), and
//! matches on its variants: renaming an event breaks the models that use it at compile time.
//!
//! Tables are versioned by a [`Generation`]: a rebuild replays the log into a new generation's tables
//! while queries keep reading the current one, then switches the current generation in one
//! transaction; the old tables are dropped later, in the background. Every table and index name is
//! therefore built with [`Generation::table`], never written literally.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kcn_domain::{Event, LegalRules};
use kcn_eventstore::StoredEvent;
use sqlx::AnyConnection;

use crate::error::ProjectionError;

pub mod alerts;
pub mod annual_reports;
pub mod breaches;
pub mod consultations;
pub mod directory;
pub mod exchanges;
pub mod incidents;
pub mod inspections;
pub mod procedures;
pub mod registry;
pub mod responsibility;
pub mod timeline;

pub(crate) mod sql;
pub(crate) mod stored;

/// One generation of a read model's tables, such as `g1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Generation(pub u32);

impl Generation {
    /// The physical name of a table or index of this generation: `inspections` → `inspections_g1`.
    pub fn table(&self, base: &str) -> String {
        format!("{base}_g{}", self.0)
    }
}

/// One event of the log as every read model sees it: the stored record, decoded once by the engine.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The event as stored: position, stream, times, payload and metadata bytes.
    pub stored: StoredEvent,
    /// Its business time.
    pub occurred_at: DateTime<Utc>,
    /// Its typed body.
    pub event: Event,
}

impl Envelope {
    /// Decodes a stored event, or says why it cannot be read (an event type this server does not
    /// know, a payload that does not parse): a read model cannot apply what it cannot read.
    pub fn decode(stored: StoredEvent) -> Result<Self, ProjectionError> {
        let event = Event::decode(
            &stored.aggregate_type,
            &stored.event_type,
            stored.schema_version,
            &stored.payload,
        )
        .map_err(|e| ProjectionError::Apply {
            position: stored.position,
            reason: format!("cannot decode the event: {e}"),
        })?;
        let occurred_at =
            kcn_integrity::leaf::parse_timestamp(&stored.occurred_at).map_err(|e| {
                ProjectionError::Apply {
                    position: stored.position,
                    reason: format!("occurred_at: {e}"),
                }
            })?;
        Ok(Self {
            stored,
            occurred_at,
            event,
        })
    }

    /// The event's global position.
    pub fn position(&self) -> u64 {
        self.stored.position
    }

    /// The event's position as a column value.
    pub fn position_i64(&self) -> i64 {
        i64::try_from(self.stored.position).unwrap_or(i64::MAX)
    }

    /// The id of the aggregate the event belongs to, as stored.
    pub fn aggregate_id(&self) -> &str {
        &self.stored.aggregate_id
    }

    /// An apply error at this event, naming it.
    pub fn error(&self, reason: impl std::fmt::Display) -> ProjectionError {
        ProjectionError::Apply {
            position: self.stored.position,
            reason: format!("{}: {reason}", self.stored.event_type),
        }
    }
}

/// The registrations of infrastructure companies that open `events`, consecutive (as the command
/// path writes a burst of them): a model inserting a row per registration writes such a run with
/// one multi-row statement. Nothing else happens between them, so the rows are as if inserted
/// one by one.
pub(crate) fn company_run(
    events: &[Envelope],
) -> Vec<(&Envelope, &kcn_domain::company::CompanyRegistered)> {
    events
        .iter()
        .map_while(|e| match &e.event {
            Event::InfrastructureCompany(kcn_domain::company::CompanyEvent::CompanyRegistered(
                c,
            )) => Some((e, c)),
            _ => None,
        })
        .collect()
}

/// A read model fed from the log.
#[async_trait]
pub trait ReadModel: Send + Sync + std::fmt::Debug + 'static {
    /// A stable name: its checkpoint row, its status line, `kcn-ledger projections rebuild NAME`.
    fn name(&self) -> &'static str;

    /// The version of the model's tables and answers. When the code's version differs from the
    /// version the current generation was built with, the engine rebuilds the model beside the live
    /// one at start, so an upgrade that changes what a model answers never serves stale answers for
    /// longer than the rebuild takes.
    fn version(&self) -> u32 {
        1
    }

    /// The base names of its tables, for dropping an old generation.
    fn tables(&self) -> &'static [&'static str];

    /// Portable DDL creating this generation's tables and indexes (`CREATE TABLE IF NOT EXISTS …`),
    /// names built with [`Generation::table`].
    fn create(&self, g: &Generation) -> Vec<String>;

    /// Applies a batch of events, in log order, inside the engine's transaction (which also moves
    /// the checkpoint). Events this model does not care about are skipped. An event it cannot apply
    /// is an error ([`Envelope::error`]): the engine stops the model exactly before it and reports it,
    /// it never skips. A panic is caught and treated the same way.
    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError>;
}

/// Every read model, judging with the statutory rules.
pub fn all() -> Vec<Arc<dyn ReadModel>> {
    with_rules(&LegalRules::default())
}

/// A model's own version with a fingerprint of the rules it judges with, so that a model built with
/// other rules (another calendar, other limits) is rebuilt at start.
pub(crate) fn rules_versioned(version: u32, rules: &LegalRules) -> u32 {
    use sha2::{Digest, Sha256};
    let mut bytes = serde_json::to_vec(rules).unwrap_or_default();
    bytes.extend(serde_json::to_vec(&rules.calendar).unwrap_or_default());
    let digest = Sha256::digest(&bytes);
    let print = u32::from_be_bytes([digest[0], digest[1], digest[2], 0]) >> 8;
    version * 100_000_000 + print % 100_000_000
}

/// Every read model, in the order the engine applies them, judging legal limits with `rules` (the
/// server's configured ones). Each model file adds its line here.
pub fn with_rules(rules: &LegalRules) -> Vec<Arc<dyn ReadModel>> {
    vec![
        Arc::new(timeline::Timeline),
        Arc::new(inspections::Inspections),
        Arc::new(incidents::Incidents),
        Arc::new(alerts::Alerts),
        Arc::new(consultations::ConsultationsModel),
        Arc::new(exchanges::ExchangesModel {
            rules: rules.clone(),
        }),
        Arc::new(responsibility::ResponsibilityModel),
        Arc::new(annual_reports::AnnualReportsModel::default()),
        Arc::new(procedures::ProceduresModel {
            rules: rules.clone(),
        }),
        Arc::new(directory::Directory),
        Arc::new(breaches::BreachesModel::new(rules.clone())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table a model creates is one it lists (so that a rebuild drops it with the old
    /// generation), and every name carries the generation.
    #[test]
    fn every_created_table_is_listed_and_versioned() {
        let g = Generation(7);
        for m in all() {
            let mut created: Vec<String> = Vec::new();
            for ddl in m.create(&g) {
                let name = ddl
                    .split_whitespace()
                    .skip_while(|w| *w != "EXISTS")
                    .nth(1)
                    .unwrap()
                    .to_owned();
                assert!(
                    name.ends_with("_g7"),
                    "{name} of {} has no generation",
                    m.name()
                );
                if ddl.starts_with("CREATE TABLE") {
                    created.push(name.trim_end_matches("_g7").to_owned());
                }
            }
            let mut listed: Vec<String> = m.tables().iter().map(|t| (*t).to_owned()).collect();
            created.sort();
            listed.sort();
            assert_eq!(created, listed, "tables of {}", m.name());
        }
    }

    /// Model names are unique: each is a checkpoint row.
    #[test]
    fn every_model_has_its_own_name() {
        let mut names: Vec<&str> = all().iter().map(|m| m.name()).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
