//! The read side of kcn-ledger: read models that one engine ([`runner`]) feeds from the event log,
//! and the audit queries that read them. Projections never write events; each read model keeps its
//! own checkpoint, reports its lag and errors, and can be rebuilt from position 0 beside its live
//! tables.
//!
//! Queries go through typed handles ([`ReadSide::timeline`], [`ReadSide::incidents`], …): each
//! method waits until its read model has reached the caller's position (read-your-writes), picks the
//! generation of tables to read and answers with plain Rust values, so no pool, generation or SQL type
//! leaves this crate.

pub mod error;
pub mod leader;
pub mod models;
pub mod runner;

use std::marker::PhantomData;
use std::time::Duration;

use kcn_eventstore::EventStore;

pub use error::ProjectionError;
pub use models::timeline::{Subject, TimelineQuery, TimelineRow, TimelineSnapshot};
pub use runner::{Dialect, Engine, ProjectionStatus, ReadDatabase, Rebuilt, read_file};

/// How long a query waits for its read model to reach the caller's position.
pub const READ_YOUR_WRITES_DEADLINE: Duration = Duration::from_secs(5);

/// The read side of one process: the engine, and the typed query handles over its read models.
#[derive(Debug, Clone)]
pub struct ReadSide {
    engine: Engine,
    deadline: Duration,
}

/// A read model's name, for the handles that query it.
pub trait Named {
    const NAME: &'static str;
}

/// The queries of one read model `M`; the model's file implements its methods.
#[derive(Debug)]
pub struct Queries<'a, M> {
    read: &'a ReadSide,
    model: PhantomData<M>,
}

impl<M: Named> Queries<'_, M> {
    /// A connection to read `M` with, once it has applied `min_position` (0: at once).
    pub(crate) async fn reader(
        &self,
        min_position: u64,
    ) -> Result<runner::Reader, ProjectionError> {
        self.read
            .engine
            .reader(M::NAME, min_position, self.read.deadline)
            .await
    }
}

impl ReadSide {
    /// Opens the read models in the log's database and starts the engine.
    pub async fn start(store: &EventStore, db: &ReadDatabase) -> Result<Self, ProjectionError> {
        Ok(Self::over(Engine::start(store, db).await?))
    }

    /// The read side over an engine that is already open.
    pub fn over(engine: Engine) -> Self {
        Self {
            engine,
            deadline: READ_YOUR_WRITES_DEADLINE,
        }
    }

    /// The engine, for status, rebuilds and tools.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops the engine after its current step, and gives up the leadership.
    pub fn stop(&self) {
        self.engine.stop();
    }

    /// Where each read model stands against the log's head.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        self.engine.status().await
    }

    fn queries<M>(&self) -> Queries<'_, M> {
        Queries {
            read: self,
            model: PhantomData,
        }
    }

    /// Audit question 1: subjects' timelines.
    pub fn timeline(&self) -> Queries<'_, models::timeline::Timeline> {
        self.queries()
    }

    /// Audit questions 2 and 3: inspections.
    pub fn inspections(&self) -> Queries<'_, models::inspections::Inspections> {
        self.queries()
    }

    /// Audit question 4: consultations.
    pub fn consultations(&self) -> Queries<'_, models::consultations::ConsultationsModel> {
        self.queries()
    }

    /// Audit question 5: incidents.
    pub fn incidents(&self) -> Queries<'_, models::incidents::Incidents> {
        self.queries()
    }

    /// Audit question 6: information exchanges.
    pub fn exchanges(&self) -> Queries<'_, models::exchanges::ExchangesModel> {
        self.queries()
    }

    /// Audit question 7: monitoring alerts.
    pub fn alerts(&self) -> Queries<'_, models::alerts::Alerts> {
        self.queries()
    }

    /// Audit question 8: who was responsible for a park.
    pub fn responsibility(&self) -> Queries<'_, models::responsibility::ResponsibilityModel> {
        self.queries()
    }

    /// Audit question 9: annual reports.
    pub fn annual_reports(&self) -> Queries<'_, models::annual_reports::AnnualReportsModel> {
        self.queries()
    }

    /// The directory: authorities, companies, parks and tenants by code, name or park.
    pub fn directory(&self) -> Queries<'_, models::directory::Directory> {
        self.queries()
    }

    /// The register of breaches.
    pub fn breaches(&self) -> Queries<'_, models::breaches::BreachesModel> {
        self.queries()
    }

    /// Audit question 10: administrative procedures.
    pub fn procedures(&self) -> Queries<'_, models::procedures::ProceduresModel> {
        self.queries()
    }
}
