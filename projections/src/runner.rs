//! The one engine that runs every read model ([`crate::models`]).
//!
//! - **Exactly once.** Each model has its own checkpoint row in `projection_checkpoints`. A step reads
//!   a batch of the log once, decodes it once, and applies it to every model that is behind inside one
//!   transaction holding the checkpoints' lock (SQLite's write lock, PostgreSQL's rows `FOR UPDATE`),
//!   each model in its own savepoint, moving each checkpoint with its rows. However many processes
//!   run the engine, every event is applied once to every model.
//! - **Stop exactly before a bad event.** When a model cannot apply an event (an error, a panic, a
//!   statement the database refuses), its savepoint is rolled back, the events before the bad one are
//!   applied one by one, and the model stops there with the position and the reason in its checkpoint
//!   row; the other models go on. A stopped model is tried again now and then on its own. A database
//!   that is unavailable (busy, disk full) stops nothing: the step is retried as a whole.
//! - **Generations.** A rebuild replays the log into a new generation of tables beside the live one,
//!   which keeps serving and being fed, then switches the current generation in one transaction under
//!   the live checkpoints' lock. The replaced generation is retired and dropped in the background
//!   after a grace period, for queries that had already picked it.
//! - **Leader gate.** On SQLite this process runs the engine; on PostgreSQL only the elected leader
//!   does ([`crate::leader`]), and the others follow the checkpoint rows.
//! - **Read your writes.** [`Engine::wait_for`] waits until a model has applied a position.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use kcn_eventstore::{Backend, EventStore, PostgresBackend, SqliteBackend, StoreError};
use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions as _, Connection as _, Row};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ProjectionError;
use crate::models::sql::{Args, sql};
use crate::models::{Envelope, Generation, ReadModel};

/// Events read from the log per step.
const BATCH: u32 = 1_000;
/// How long a stopped model waits before it is tried again.
const RETRY: Duration = Duration::from_secs(5);
/// How long to wait before retrying a step that failed for the database's sake.
const BACKOFF: Duration = Duration::from_secs(1);
/// How often the engine looks for events other processes appended (its own appends wake it at once).
const POLL: Duration = Duration::from_millis(200);
/// The longest pause between two reads of the checkpoint rows while a follower waits for a position.
const FOLLOWER_WAIT_POLL: Duration = Duration::from_millis(50);
/// How long a retired generation stays before it is dropped: longer than any query runs.
pub const RETIRE_GRACE: Duration = Duration::from_secs(60);
/// How often the engine looks for retired generations to drop.
const DROP_EVERY: Duration = Duration::from_secs(10);
/// The advisory-lock key that serialises the read models' set-up on PostgreSQL ("kcn-rmd1").
const SETUP_LOCK_KEY: i64 = 0x6B63_6E2D_726D_6431;

/// Which SQL dialect the read models' database speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Where the read models live: the log's own database.
#[derive(Debug, Clone)]
pub struct ReadDatabase {
    url: String,
    dialect: Dialect,
}

impl ReadDatabase {
    /// The read models of the database at `url` (`sqlite://…` or `postgres://…`).
    pub fn new(url: impl Into<String>, dialect: Dialect) -> Self {
        Self {
            url: url.into(),
            dialect,
        }
    }

    /// The database's URL (for the other tables kept in it, such as delivery progress).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dialect of the database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// The read models of an embedded log live in a file of their own beside it
/// (`kcn-ledger.read.sqlite` beside `kcn-ledger.sqlite`): SQLite has one writer per file, and the
/// projector's transactions must never make the log's writer wait (ADR 12). They are rebuilt from
/// the log, so the file needs no backup of its own.
impl From<&SqliteBackend> for ReadDatabase {
    fn from(backend: &SqliteBackend) -> Self {
        let log = backend
            .pool()
            .connect_options()
            .get_filename()
            .to_path_buf();
        Self::new(
            format!("sqlite://{}?mode=rwc", read_file(&log).display()),
            Dialect::Sqlite,
        )
    }
}

/// The read models' file beside a log's SQLite file: `x.sqlite` → `x.read.sqlite`.
pub fn read_file(log: &std::path::Path) -> std::path::PathBuf {
    let stem = log
        .file_stem()
        .map_or_else(|| "kcn-ledger".into(), |s| s.to_string_lossy().into_owned());
    let extension = log
        .extension()
        .map_or_else(|| "sqlite".into(), |s| s.to_string_lossy().into_owned());
    log.with_file_name(format!("{stem}.read.{extension}"))
}

impl From<&PostgresBackend> for ReadDatabase {
    fn from(backend: &PostgresBackend) -> Self {
        Self::new(
            backend.pool().connect_options().to_url_lossy().to_string(),
            Dialect::Postgres,
        )
    }
}

/// Where one read model stands, as this process knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub position: u64,
    pub error: Option<String>,
}

/// One read model's standing, for the status API, health and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    pub name: String,
    /// The last position the model applied.
    pub position: u64,
    /// The log's last position when the status was read.
    pub log_head: u64,
    /// Why the model stopped, if it did; it stopped exactly before `error_position`.
    pub error: Option<String>,
    pub error_position: Option<u64>,
    /// The generation of tables queries read, and the model version it was built with.
    pub generation: u32,
    pub version: u32,
}

/// What a rebuild did to one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub name: &'static str,
    /// The checkpoint of the new generation when it was switched in.
    pub position: u64,
    /// The generation it replaced, now retired.
    pub previous: Generation,
    pub generation: Generation,
}

/// A model and where a step applies it: its live tables under its own checkpoint, or a rebuild's
/// new generation under a shadow checkpoint.
#[derive(Debug, Clone)]
struct Target {
    model: Arc<dyn ReadModel>,
    checkpoint: String,
    /// `None`: the current generation, read under the lock.
    generation: Option<Generation>,
}

impl Target {
    fn live(model: &Arc<dyn ReadModel>) -> Self {
        Self {
            model: model.clone(),
            checkpoint: model.name().to_owned(),
            generation: None,
        }
    }

    fn shadow_name(model: &dyn ReadModel) -> String {
        format!("{}@rebuild", model.name())
    }
}

/// How a step ended for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reached {
    position: u64,
    /// Set when the target stopped before an event it cannot apply.
    stopped: Option<(u64, String)>,
}

/// The engine of one process: the handle the read side's queries and tools use.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    dialect: Dialect,
    log: Arc<dyn Backend>,
    models: Vec<Arc<dyn ReadModel>>,
    states: HashMap<&'static str, watch::Sender<State>>,
    /// Whether this process runs the engine now (always, on SQLite).
    leader: Arc<watch::Sender<bool>>,
    stop: watch::Sender<bool>,
}

fn to_i64(v: u64) -> Result<i64, ProjectionError> {
    i64::try_from(v).map_err(|_| internal(format!("position {v} does not fit a column")))
}

fn to_u64(v: i64) -> Result<u64, ProjectionError> {
    u64::try_from(v).map_err(|_| internal(format!("negative position {v} in a checkpoint")))
}

fn internal(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Store(StoreError::Internal(e.to_string()))
}

/// Whether a task watching `stop` should end: asked to, or nobody left to ask.
fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Whether an error is the database's (retry the whole step later) rather than the event's.
fn transient(e: &ProjectionError) -> bool {
    matches!(e, ProjectionError::Store(StoreError::Unavailable(_)))
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Applies events to a model, turning a panic into an apply error at the first event, with a memo
/// of the registry's reads for the batch ([`crate::models::registry::memoised`]).
async fn apply_caught(
    model: &dyn ReadModel,
    conn: &mut AnyConnection,
    g: &Generation,
    events: &[Envelope],
) -> Result<(), ProjectionError> {
    match AssertUnwindSafe(crate::models::registry::memoised(
        model.apply(conn, g, events),
    ))
    .catch_unwind()
    .await
    {
        Ok(result) => result,
        Err(panic) => Err(ProjectionError::Apply {
            position: events.first().map_or(0, Envelope::position),
            reason: format!("the read model panicked: {}", panic_text(panic.as_ref())),
        }),
    }
}

impl Engine {
    /// Connects to the read models' database, applies their migrations, registers the given models
    /// (creating the tables of new ones) without starting anything: for tools and tests.
    pub async fn open(
        db: &ReadDatabase,
        log: Arc<dyn Backend>,
        models: Vec<Arc<dyn ReadModel>>,
    ) -> Result<Self, ProjectionError> {
        sqlx::any::install_default_drivers();
        let dialect = db.dialect;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            // A connection whose commit or rollback failed (a full disk) never goes back to work.
            .after_release(kcn_eventstore::pool::never_reuse_mid_transaction::<Any>)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // Wait for the log's writer rather than failing at once when it holds the
                        // lock. Read models are rebuilt from the log, so their commits need not wait
                        // for the disk the way the log's do: a power loss costs a re-application.
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        // Readers of the models never wait for the projector, nor it for them.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    } else {
                        // Plans for the arguments and tables as they are, not a generic plan cached
                        // while the tables were empty (as the log's pool does).
                        sqlx::query("SET plan_cache_mode = force_custom_plan")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&db.url)
            .await?;
        migrate(&pool, dialect).await?;
        let mut states = HashMap::new();
        {
            // Several processes may start at once on one PostgreSQL database: the set-up runs under a
            // transaction-scoped advisory lock there (and under SQLite's write lock), so concurrent
            // `CREATE TABLE IF NOT EXISTS` never race.
            let mut conn = pool.acquire().await?;
            let mut tx = match dialect {
                Dialect::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
                Dialect::Postgres => {
                    let mut tx = conn.begin().await?;
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(SETUP_LOCK_KEY)
                        .execute(&mut *tx)
                        .await?;
                    tx
                }
            };
            for model in &models {
                let name = model.name();
                let known: Option<i64> = sqlx::query_scalar(
                    "SELECT generation FROM read_model_generations WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
                let g = match known {
                    Some(g) => Generation(u32::try_from(g).map_err(internal)?),
                    None => {
                        // A model new to this database starts from position 0, whatever a checkpoint
                        // row of the same name (left by an older engine) says.
                        sqlx::query(
                            "INSERT INTO read_model_generations (name, generation, version) \
                             VALUES ($1, 1, $2)",
                        )
                        .bind(name)
                        .bind(i64::from(model.version()))
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
                            .bind(name)
                            .execute(&mut *tx)
                            .await?;
                        Generation(1)
                    }
                };
                sqlx::query(
                    "INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .execute(&mut *tx)
                .await?;
                for ddl in model.create(&g) {
                    sqlx::query(sql(ddl)).execute(&mut *tx).await?;
                }
                let position: i64 = sqlx::query_scalar(
                    "SELECT position FROM projection_checkpoints WHERE name = $1",
                )
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
                states.insert(
                    name,
                    watch::Sender::new(State {
                        position: to_u64(position)?,
                        error: None,
                    }),
                );
            }
            tx.commit().await?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                dialect,
                log,
                models,
                states,
                leader: Arc::new(watch::Sender::new(false)),
                stop: watch::Sender::new(false),
            }),
        })
    }

    /// Opens every read model and starts the engine: at once on SQLite, under leader election on
    /// PostgreSQL. Models whose version changed are rebuilt beside their live tables, in the
    /// background, by whichever process leads.
    pub async fn start(store: &EventStore, db: &ReadDatabase) -> Result<Self, ProjectionError> {
        let engine = Self::open(
            db,
            store.backend().clone(),
            crate::models::with_rules(store.rules()),
        )
        .await?;
        match db.dialect {
            Dialect::Sqlite => {
                engine.inner.leader.send_replace(true);
            }
            Dialect::Postgres => {
                let options: sqlx::postgres::PgConnectOptions = db.url.parse()?;
                tokio::spawn(crate::leader::supervise(
                    options,
                    engine.inner.leader.clone(),
                    engine.inner.stop.subscribe(),
                ));
            }
        }
        tokio::spawn(engine.clone().run(store.subscribe()));
        tokio::spawn(engine.clone().upkeep());
        Ok(engine)
    }

    /// Stops the engine after its current step, and gives up the leadership.
    pub fn stop(&self) {
        let _ = self.inner.stop.send(true);
    }

    /// Whether this process runs the engine now.
    pub fn is_leader(&self) -> bool {
        *self.inner.leader.borrow()
    }

    /// The names of the read models, in the order they are applied.
    pub fn names(&self) -> Vec<&'static str> {
        self.inner.models.iter().map(|m| m.name()).collect()
    }

    fn model(&self, name: &str) -> Result<Arc<dyn ReadModel>, ProjectionError> {
        self.inner
            .models
            .iter()
            .find(|m| m.name() == name)
            .cloned()
            .ok_or_else(|| ProjectionError::UnknownModel {
                name: name.to_owned(),
                known: self.names().join(", "),
            })
    }

    /// The engine's loop: a step whenever the log grows, while this process leads, until stopped.
    async fn run(self, mut head: watch::Receiver<kcn_eventstore::Head>) {
        let mut stop = self.inner.stop.subscribe();
        let mut leader = self.inner.leader.subscribe();
        // Models stopped at an event, and when each may be tried again.
        let mut held: BTreeMap<&'static str, Instant> = BTreeMap::new();
        loop {
            if stopped(&stop) {
                return;
            }
            if !*leader.borrow_and_update() {
                tokio::select! {
                    _ = leader.changed() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let now = Instant::now();
            let (due, healthy): (Vec<_>, Vec<_>) = self
                .inner
                .models
                .iter()
                .filter(|m| held.get(m.name()).is_none_or(|at| *at <= now))
                .map(Target::live)
                .partition(|t| held.contains_key(t.model.name()));
            // Stopped models try again alone, so that one far behind does not hold the others back.
            let mut groups: Vec<Vec<Target>> = due.into_iter().map(|t| vec![t]).collect();
            groups.insert(0, healthy);
            let mut more = false;
            let mut failed = false;
            for group in groups.into_iter().filter(|g| !g.is_empty()) {
                match self.step(&group).await {
                    Ok(outcome) => {
                        for (name, reached) in outcome.reached {
                            match reached.stopped {
                                Some(_) => {
                                    held.insert(name, Instant::now() + RETRY);
                                }
                                None => {
                                    held.remove(name);
                                }
                            }
                        }
                        more |= outcome.more;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "read models could not take a step; retrying");
                        failed = true;
                    }
                }
            }
            if more && !failed {
                continue;
            }
            let wait = if failed { BACKOFF } else { POLL };
            let retry_at = held.values().min().copied();
            tokio::select! {
                _ = head.changed(), if !failed => {}
                _ = tokio::time::sleep(wait) => {}
                _ = async {
                    match retry_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
                _ = stop.changed() => {}
                _ = leader.changed() => {}
            }
        }
    }

    /// Background work of the leader: rebuilds models whose version changed, and drops retired
    /// generations after their grace period.
    async fn upkeep(self) {
        let mut stop = self.inner.stop.subscribe();
        let mut leader = self.inner.leader.subscribe();
        let mut versions_checked = false;
        loop {
            if stopped(&stop) {
                return;
            }
            if *leader.borrow_and_update() {
                if !versions_checked {
                    match self.rebuild_outdated().await {
                        Ok(_) => versions_checked = true,
                        Err(e) => {
                            tracing::error!(error = %e, "rebuild of outdated read models failed; retrying later")
                        }
                    }
                }
                if let Err(e) = self.drop_retired(RETIRE_GRACE).await {
                    tracing::warn!(error = %e, "cannot drop retired read-model generations");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(DROP_EVERY) => {}
                _ = stop.changed() => {}
                _ = leader.changed() => {}
            }
        }
    }

    /// Rebuilds, beside their live tables, the models whose current generation another version of
    /// their code built (an upgrade that changes what a model answers); returns what it rebuilt,
    /// nothing when every model is current.
    pub async fn rebuild_outdated(&self) -> Result<Vec<Rebuilt>, ProjectionError> {
        let names = self.outdated().await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        tracing::info!(read_models = ?names, "read models built by another version: rebuilding beside the live ones");
        self.rebuild(&names, &|_, _| {}).await
    }

    /// The models whose current generation was built by another version of their code.
    async fn outdated(&self) -> Result<Vec<&'static str>, ProjectionError> {
        let rows = sqlx::query("SELECT name, version FROM read_model_generations")
            .fetch_all(&self.inner.pool)
            .await?;
        let mut stored = HashMap::new();
        for r in rows {
            stored.insert(r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?);
        }
        Ok(self
            .inner
            .models
            .iter()
            .filter(|m| stored.get(m.name()) != Some(&i64::from(m.version())))
            .map(|m| m.name())
            .collect())
    }

    /// Begins a transaction holding the checkpoint lock of every named checkpoint, and returns the
    /// committed positions when the lock was granted.
    async fn begin_locked<'c>(
        &self,
        conn: &'c mut AnyConnection,
        names: &[&str],
    ) -> Result<(sqlx::Transaction<'c, Any>, HashMap<String, u64>), ProjectionError> {
        let mut tx = match self.inner.dialect {
            // IMMEDIATE takes the write lock now: nobody else moves a checkpoint until commit.
            Dialect::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            // READ COMMITTED gives each statement a fresh snapshot, so after the row locks are
            // granted the checkpoints and rows are read as the previous holder committed them.
            // The step's commit does not wait for the disk (`synchronous_commit = off`, as the
            // SQLite read file's `synchronous = NORMAL`): a crash can lose only whole steps, rows
            // and checkpoints together, which the engine applies again from the log; the log's
            // own appends stay synchronous. One round trip for all three statements.
            Dialect::Postgres => {
                conn.begin_with(
                    "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '10s'; \
                     SET LOCAL synchronous_commit = off",
                )
                .await?
            }
        };
        let mut sorted: Vec<&str> = names.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        // One statement for every checkpoint; on PostgreSQL the rows are locked in name order, so
        // that two engines asking for overlapping sets cannot deadlock.
        let mut args = Args::default();
        let list: Vec<String> = sorted.iter().map(|n| args.text(*n)).collect();
        let statement = format!(
            "SELECT name, position FROM projection_checkpoints WHERE name IN ({}) ORDER BY name{}",
            list.join(", "),
            match self.inner.dialect {
                Dialect::Sqlite => "",
                Dialect::Postgres => " FOR UPDATE",
            }
        );
        let mut at = HashMap::new();
        for row in args.fetch_all(&mut tx, statement).await? {
            let name: String = row.try_get(0)?;
            at.insert(name, to_u64(row.try_get(1)?)?);
        }
        if let Some(missing) = sorted.iter().find(|n| !at.contains_key(**n)) {
            return Err(internal(format!(
                "read model checkpoint {missing} is missing"
            )));
        }
        Ok((tx, at))
    }

    /// The committed positions of the named checkpoints.
    async fn positions(&self, names: &[&str]) -> Result<HashMap<String, u64>, ProjectionError> {
        let rows = sqlx::query("SELECT name, position FROM projection_checkpoints")
            .fetch_all(&self.inner.pool)
            .await?;
        let mut out = HashMap::new();
        for r in rows {
            let name: String = r.try_get(0)?;
            if names.contains(&name.as_str()) {
                out.insert(name, to_u64(r.try_get(1)?)?);
            }
        }
        Ok(out)
    }

    /// Reads and decodes the next batch after `from`. An event that cannot be decoded ends the batch
    /// and is returned as the failure at its position.
    async fn read_batch(
        &self,
        from: u64,
    ) -> Result<(Vec<Envelope>, Option<ProjectionError>), ProjectionError> {
        let stored = self.inner.log.read_range(from, BATCH).await?;
        let mut events = Vec::with_capacity(stored.len());
        for e in stored {
            match Envelope::decode(e) {
                Ok(env) => events.push(env),
                Err(bad) => return Ok((events, Some(bad))),
            }
        }
        Ok((events, None))
    }

    /// One step for a group of targets: the next batch after the group's lowest checkpoint, applied to
    /// each target that is behind, in one transaction.
    async fn step(&self, targets: &[Target]) -> Result<StepOutcome, ProjectionError> {
        let names: Vec<&str> = targets.iter().map(|t| t.checkpoint.as_str()).collect();
        let seen = self.positions(&names).await?;
        let Some(low) = names.iter().filter_map(|n| seen.get(*n)).min().copied() else {
            return Ok(StepOutcome::default());
        };
        let (events, undecodable) = self.read_batch(low + 1).await?;
        if events.is_empty() && undecodable.is_none() {
            return Ok(StepOutcome::default());
        }
        let mut conn = self.inner.pool.acquire().await?;
        let result = self
            .apply_locked(&mut conn, targets, &names, &events, undecodable.as_ref())
            .await;
        // A failed step, a failed COMMIT above all, may leave the connection inside a
        // transaction: never give it back to the pool.
        let tx_reached = match result {
            Ok(r) => r,
            Err(e) => {
                conn.close_on_drop();
                return Err(e);
            }
        };
        let mut outcome = StepOutcome::default();
        for (target, reached) in targets.iter().zip(tx_reached) {
            if let Some(reached) = reached {
                self.publish(target, &reached);
                let moved = seen.get(&target.checkpoint) != Some(&reached.position);
                outcome.more |= moved && reached.stopped.is_none();
                outcome.reached.push((target.model.name(), reached));
            }
        }
        Ok(outcome)
    }

    /// The work of a step under the lock, committed: returns, per target, where it got (or `None`
    /// when the batch did not concern it).
    ///
    /// The step is first tried without a savepoint per model: a step costs a constant number of
    /// statements besides the models' own (the checkpoints and generations read in one statement
    /// each, every checkpoint moved by one). When a model cannot apply the batch, that transaction
    /// is rolled back and the step is done again carefully, each model in its own savepoint, so that
    /// the failing one stops exactly before its bad event and the others go on.
    async fn apply_locked(
        &self,
        conn: &mut PoolConnection<Any>,
        targets: &[Target],
        names: &[&str],
        events: &[Envelope],
        undecodable: Option<&ProjectionError>,
    ) -> Result<Vec<Option<Reached>>, ProjectionError> {
        if let Some(out) = self
            .apply_once(conn, targets, names, events, undecodable, false)
            .await?
        {
            return Ok(out);
        }
        let out = self
            .apply_once(conn, targets, names, events, undecodable, true)
            .await?;
        out.ok_or_else(|| internal("a careful step gave up"))
    }

    /// One try of a step in one transaction. Without `careful`, `None` when a model could not
    /// apply its events (the transaction rolled back, nothing moved).
    async fn apply_once(
        &self,
        conn: &mut PoolConnection<Any>,
        targets: &[Target],
        names: &[&str],
        events: &[Envelope],
        undecodable: Option<&ProjectionError>,
        careful: bool,
    ) -> Result<Option<Vec<Option<Reached>>>, ProjectionError> {
        let (mut tx, at) = self.begin_locked(conn, names).await?;
        let generations = self.generations(&mut tx, targets).await?;
        let mut out = Vec::with_capacity(targets.len());
        let mut moved = Vec::with_capacity(targets.len());
        for target in targets {
            let at = at.get(&target.checkpoint).copied().unwrap_or(0);
            // The batch is in log order: the events after the checkpoint are its tail.
            let fresh = &events[events.partition_point(|e| e.position() <= at)..];
            // What stops this target after the fresh events, if anything: the log's next event
            // cannot be decoded, or the batch does not start right after the checkpoint (a gap).
            let next = at + 1 + fresh.len() as u64;
            let blocked = match (fresh.first(), undecodable) {
                (Some(first), _) if first.position() != at + 1 => {
                    Some((at + 1, "the log has a gap before this position".to_owned()))
                }
                (_, Some(ProjectionError::Apply { position, reason })) if *position == next => {
                    Some((*position, reason.clone()))
                }
                _ => None,
            };
            if fresh.is_empty() && blocked.is_none() {
                out.push(None);
                continue;
            }
            let mut reached = match &blocked {
                Some((p, _)) if *p == at + 1 => Reached {
                    position: at,
                    stopped: None,
                },
                _ => {
                    let g = match &target.generation {
                        Some(g) => g.clone(),
                        None => generations
                            .get(target.model.name())
                            .cloned()
                            .ok_or_else(|| {
                                internal(format!(
                                    "read model {} has no generation",
                                    target.model.name()
                                ))
                            })?,
                    };
                    if careful {
                        self.apply_target(&mut tx, target, &g, at, fresh).await?
                    } else {
                        match apply_caught(target.model.as_ref(), &mut tx, &g, fresh).await {
                            Ok(()) => Reached {
                                position: fresh.last().map_or(at, Envelope::position),
                                stopped: None,
                            },
                            Err(e) if transient(&e) => return Err(e),
                            Err(_) => {
                                tx.rollback().await?;
                                return Ok(None);
                            }
                        }
                    }
                }
            };
            if reached.stopped.is_none() {
                reached.stopped = blocked;
            }
            moved.push((target, at, reached.clone()));
            out.push(Some(reached));
        }
        self.record(&mut tx, &moved).await?;
        tx.commit().await?;
        Ok(Some(out))
    }

    /// The current generation of each live target's model, read under the lock in one statement.
    async fn generations(
        &self,
        tx: &mut AnyConnection,
        targets: &[Target],
    ) -> Result<HashMap<String, Generation>, ProjectionError> {
        let live: Vec<&str> = targets
            .iter()
            .filter(|t| t.generation.is_none())
            .map(|t| t.model.name())
            .collect();
        let mut found = HashMap::new();
        if live.is_empty() {
            return Ok(found);
        }
        let mut args = Args::default();
        let list: Vec<String> = live.iter().map(|n| args.text(*n)).collect();
        let statement = format!(
            "SELECT name, generation FROM read_model_generations WHERE name IN ({})",
            list.join(", ")
        );
        for row in args.fetch_all(tx, statement).await? {
            let name: String = row.try_get(0)?;
            let g: i64 = row.try_get(1)?;
            found.insert(name, Generation(u32::try_from(g).map_err(internal)?));
        }
        Ok(found)
    }

    /// Applies fresh events to one target in a savepoint; on an event it cannot apply, finds that
    /// event and applies only those before it.
    async fn apply_target(
        &self,
        tx: &mut AnyConnection,
        target: &Target,
        g: &Generation,
        at: u64,
        fresh: &[Envelope],
    ) -> Result<Reached, ProjectionError> {
        if fresh.is_empty() {
            return Ok(Reached {
                position: at,
                stopped: None,
            });
        }
        let model = target.model.as_ref();
        savepoint(tx, "SAVEPOINT read_model").await?;
        match apply_caught(model, tx, g, fresh).await {
            Ok(()) => {
                savepoint(tx, "RELEASE SAVEPOINT read_model").await?;
                return Ok(Reached {
                    position: fresh.last().map_or(at, Envelope::position),
                    stopped: None,
                });
            }
            Err(e) if transient(&e) => return Err(e),
            Err(_) => savepoint(tx, "ROLLBACK TO SAVEPOINT read_model").await?,
        }
        savepoint(tx, "RELEASE SAVEPOINT read_model").await?;
        // One at a time, to stop exactly before the event that fails.
        let mut position = at;
        for event in fresh {
            savepoint(tx, "SAVEPOINT read_model_event").await?;
            match apply_caught(model, tx, g, std::slice::from_ref(event)).await {
                Ok(()) => {
                    savepoint(tx, "RELEASE SAVEPOINT read_model_event").await?;
                    position = event.position();
                }
                Err(e) if transient(&e) => return Err(e),
                Err(e) => {
                    savepoint(tx, "ROLLBACK TO SAVEPOINT read_model_event").await?;
                    savepoint(tx, "RELEASE SAVEPOINT read_model_event").await?;
                    let reason = match e {
                        ProjectionError::Apply { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    tracing::error!(
                        read_model = model.name(),
                        checkpoint = %target.checkpoint,
                        position = event.position(),
                        reason = %reason,
                        "read model stopped before an event it cannot apply"
                    );
                    return Ok(Reached {
                        position,
                        stopped: Some((event.position(), reason)),
                    });
                }
            }
        }
        // The batch failed as a whole but every event applies alone: keep what applied.
        Ok(Reached {
            position,
            stopped: None,
        })
    }

    /// Moves the targets' checkpoints (and their stop reasons) in the step's transaction, in one
    /// statement: each target with the position it started from and where it got.
    async fn record(
        &self,
        tx: &mut AnyConnection,
        moved: &[(&Target, u64, Reached)],
    ) -> Result<(), ProjectionError> {
        if moved.is_empty() {
            return Ok(());
        }
        let mut args = Args::default();
        let mut rows = Vec::with_capacity(moved.len());
        for (target, at, reached) in moved {
            let applied = reached.position.saturating_sub(*at);
            let (error, error_position) = match &reached.stopped {
                Some((p, reason)) => (
                    Some(bounded(&format!(
                        "cannot apply the event at position {p}: {reason}"
                    ))),
                    Some(to_i64(*p)?),
                ),
                None => (None, None),
            };
            rows.push(format!(
                "({}, {}, {}, {}, {})",
                args.text(target.checkpoint.as_str()),
                args.int(to_i64(reached.position)?),
                args.int(to_i64(applied)?),
                args.opt_text(error),
                args.opt_int(error_position),
            ));
        }
        // A CTE of values joined by name: both databases run it as one statement.
        let statement = format!(
            "WITH moved (name, position, applied, error, error_position) AS (VALUES {}) \
             UPDATE projection_checkpoints SET position = moved.position, \
             events_applied = projection_checkpoints.events_applied + moved.applied, \
             error = moved.error, error_position = moved.error_position, \
             updated_at = CURRENT_TIMESTAMP FROM moved WHERE projection_checkpoints.name = moved.name",
            rows.join(", ")
        );
        args.execute(tx, statement).await
    }

    /// Tells this process's waiters where a live target got.
    fn publish(&self, target: &Target, reached: &Reached) {
        if target.generation.is_some() {
            return;
        }
        if let Some(state) = self.inner.states.get(target.model.name()) {
            state.send_if_modified(|s| {
                let next = State {
                    position: reached.position.max(s.position),
                    error: reached.stopped.as_ref().map(|(_, r)| r.clone()),
                };
                let changed = *s != next;
                *s = next;
                changed
            });
        }
    }

    /// Applies every batch up to the log's head for every model, as the engine would (for tests and
    /// tools). A model that stops at an event stays there, and the others go on. Returns each
    /// model's checkpoint.
    pub async fn catch_up(&self) -> Result<HashMap<&'static str, u64>, ProjectionError> {
        let mut targets: Vec<Target> = self.inner.models.iter().map(Target::live).collect();
        loop {
            let outcome = self.step(&targets).await?;
            let stopped: Vec<&str> = outcome
                .reached
                .iter()
                .filter(|(_, r)| r.stopped.is_some())
                .map(|(n, _)| *n)
                .collect();
            targets.retain(|t| !stopped.contains(&t.model.name()));
            if !outcome.more && stopped.is_empty() || targets.is_empty() {
                break;
            }
        }
        let names = self.names();
        let positions = self.positions(&names).await?;
        Ok(names
            .into_iter()
            .map(|n| (n, positions.get(n).copied().unwrap_or(0)))
            .collect())
    }

    /// Waits until read model `name` has applied `position`, or fails after `deadline`. The leader
    /// waits for its own engine; a follower polls the checkpoint row the leader commits.
    pub async fn wait_for(
        &self,
        name: &str,
        position: u64,
        deadline: Duration,
    ) -> Result<(), ProjectionError> {
        let model = self.model(name)?;
        let name = model.name();
        let end = Instant::now() + deadline;
        let state = self
            .inner
            .states
            .get(name)
            .ok_or_else(|| internal(format!("read model {name} has no state")))?;
        let mut state = state.subscribe();
        let mut leader = self.inner.leader.subscribe();
        let mut pause = Duration::from_millis(5);
        loop {
            let (at, error) = {
                let s = state.borrow_and_update();
                (s.position, s.error.clone())
            };
            if at >= position {
                return Ok(());
            }
            if let Some(reason) = error {
                // Stopped before an event it cannot apply: waiting would not help.
                return Err(ProjectionError::Stopped {
                    name: name.to_owned(),
                    at,
                    reason,
                });
            }
            let not_yet = |at| ProjectionError::NotCaughtUp {
                name: name.to_owned(),
                at,
                wanted: position,
            };
            if *leader.borrow_and_update() {
                tokio::select! {
                    _ = state.changed() => {}
                    _ = leader.changed() => {}
                    _ = tokio::time::sleep_until(end) => return Err(not_yet(at)),
                }
                continue;
            }
            let committed = self
                .positions(&[name])
                .await?
                .get(name)
                .copied()
                .unwrap_or(0);
            if committed >= position {
                if let Some(s) = self.inner.states.get(name) {
                    s.send_if_modified(|s| {
                        let moved = committed > s.position;
                        s.position = s.position.max(committed);
                        moved
                    });
                }
                return Ok(());
            }
            let now = Instant::now();
            if now >= end {
                return Err(not_yet(committed));
            }
            tokio::select! {
                _ = tokio::time::sleep(pause.min(end - now)) => {}
                _ = leader.changed() => {}
            }
            pause = (pause * 2).min(FOLLOWER_WAIT_POLL);
        }
    }

    /// A connection for a query of read model `name`, once it has applied `min_position`, with the
    /// generation of tables to read. A position beyond the log's head is refused at once.
    pub(crate) async fn reader(
        &self,
        name: &str,
        min_position: u64,
        deadline: Duration,
    ) -> Result<Reader, ProjectionError> {
        if min_position > 0 {
            let head = self.inner.log.head().await?;
            if min_position > head {
                return Err(ProjectionError::BeyondHead {
                    wanted: min_position,
                    head,
                });
            }
            self.wait_for(name, min_position, deadline).await?;
        }
        let mut conn = self.inner.pool.acquire().await?;
        let generation = current_generation(&mut conn, name).await?;
        Ok(Reader {
            conn,
            generation,
            log: self.inner.log.clone(),
        })
    }

    /// Where every read model stands against the log's head, from the committed checkpoint rows.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let log_head = self.inner.log.head().await?;
        let rows = sqlx::query(
            "SELECT c.name, c.position, c.error, c.error_position, g.generation, g.version \
             FROM projection_checkpoints c JOIN read_model_generations g ON g.name = c.name",
        )
        .fetch_all(&self.inner.pool)
        .await?;
        let mut by_name = HashMap::new();
        for r in rows {
            let name: String = r.try_get(0)?;
            let error_position: Option<i64> = r.try_get(3)?;
            by_name.insert(
                name.clone(),
                ProjectionStatus {
                    name,
                    position: to_u64(r.try_get(1)?)?,
                    log_head,
                    error: r.try_get(2)?,
                    error_position: error_position.map(to_u64).transpose()?,
                    generation: u32::try_from(r.try_get::<i64, _>(4)?).map_err(internal)?,
                    version: u32::try_from(r.try_get::<i64, _>(5)?).map_err(internal)?,
                },
            );
        }
        Ok(self
            .names()
            .into_iter()
            .filter_map(|n| by_name.remove(n))
            .collect())
    }

    /// Rebuilds the named models (every model when `names` is empty): replays the whole log once
    /// into a new generation of each model's tables while the live ones keep serving, then switches
    /// them all in one transaction under the live checkpoints' lock and retires the replaced
    /// generations. `progress` is told the position reached and the head after every batch.
    pub async fn rebuild(
        &self,
        names: &[&str],
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<Vec<Rebuilt>, ProjectionError> {
        let models: Vec<Arc<dyn ReadModel>> = if names.is_empty() {
            self.inner.models.clone()
        } else {
            names
                .iter()
                .map(|n| self.model(n))
                .collect::<Result<_, _>>()?
        };
        // Prepare a new generation of each, with a shadow checkpoint at 0.
        let mut targets = Vec::new();
        let mut previous = Vec::new();
        for model in &models {
            let name = model.name();
            let old = {
                let mut conn = self.inner.pool.acquire().await?;
                current_generation(&mut conn, name).await?
            };
            let new = Generation(self.next_generation(name).await?);
            drop_tables(&self.inner.pool, model.as_ref(), &new).await?;
            for ddl in model.create(&new) {
                sqlx::query(sql(ddl)).execute(&self.inner.pool).await?;
            }
            let shadow = Target::shadow_name(model.as_ref());
            sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
                .bind(&shadow)
                .execute(&self.inner.pool)
                .await?;
            sqlx::query("INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0)")
                .bind(&shadow)
                .execute(&self.inner.pool)
                .await?;
            targets.push(Target {
                model: model.clone(),
                checkpoint: shadow,
                generation: Some(new),
            });
            previous.push(old);
        }
        // Replay the log once into every new generation.
        loop {
            let head = self.inner.log.head().await?;
            let outcome = self.step(&targets).await?;
            if let Some((name, r)) = outcome.reached.iter().find(|(_, r)| r.stopped.is_some()) {
                let (position, reason) = r.stopped.clone().unwrap_or_default();
                return Err(ProjectionError::RebuildStopped {
                    name: (*name).to_owned(),
                    position,
                    reason,
                });
            }
            let names: Vec<&str> = targets.iter().map(|t| t.checkpoint.as_str()).collect();
            let low = self
                .positions(&names)
                .await?
                .values()
                .min()
                .copied()
                .unwrap_or(0);
            progress(low, head.max(low));
            if !outcome.more {
                break;
            }
        }
        // Switch, under the live checkpoints' lock: apply what arrived since, then move the pointers.
        let mut conn = self.inner.pool.acquire().await?;
        let result = self.switch(&mut conn, &targets, &previous).await;
        if result.is_err() {
            conn.close_on_drop();
        }
        let rebuilt = result?;
        for r in &rebuilt {
            tracing::info!(
                read_model = r.name,
                generation = r.generation.0,
                retired = r.previous.0,
                position = r.position,
                "read model rebuilt and switched"
            );
            if let Some(state) = self.inner.states.get(r.name) {
                state.send_modify(|s| {
                    s.position = s.position.max(r.position);
                    s.error = None;
                });
            }
        }
        Ok(rebuilt)
    }

    async fn switch(
        &self,
        conn: &mut PoolConnection<Any>,
        targets: &[Target],
        previous: &[Generation],
    ) -> Result<Vec<Rebuilt>, ProjectionError> {
        let mut names: Vec<&str> = targets.iter().map(|t| t.model.name()).collect();
        names.extend(targets.iter().map(|t| t.checkpoint.as_str()));
        let (mut tx, at) = self.begin_locked(conn, &names).await?;
        let mut rebuilt = Vec::new();
        for (target, old) in targets.iter().zip(previous) {
            let g = target.generation.clone().unwrap_or(Generation(0));
            let mut reached = at.get(&target.checkpoint).copied().unwrap_or(0);
            loop {
                let (events, undecodable) = self.read_batch(reached + 1).await?;
                let r = self
                    .apply_target(&mut tx, target, &g, reached, &events)
                    .await?;
                if let Some((position, reason)) = r.stopped.or(match undecodable {
                    Some(ProjectionError::Apply { position, reason }) => Some((position, reason)),
                    _ => None,
                }) {
                    return Err(ProjectionError::RebuildStopped {
                        name: target.model.name().to_owned(),
                        position,
                        reason,
                    });
                }
                if r.position == reached {
                    break;
                }
                reached = r.position;
            }
            let name = target.model.name();
            sqlx::query(
                "UPDATE read_model_generations SET generation = $2, version = $3 WHERE name = $1",
            )
            .bind(name)
            .bind(i64::from(g.0))
            .bind(i64::from(target.model.version()))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE projection_checkpoints SET position = $2, events_applied = $2, error = NULL, \
                 error_position = NULL, updated_at = CURRENT_TIMESTAMP WHERE name = $1",
            )
            .bind(name)
            .bind(to_i64(reached)?)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
                .bind(&target.checkpoint)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO read_model_retired (name, generation, retired_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name, generation) DO NOTHING",
            )
            .bind(name)
            .bind(i64::from(old.0))
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
            rebuilt.push(Rebuilt {
                name,
                position: reached,
                previous: old.clone(),
                generation: g,
            });
        }
        tx.commit().await?;
        Ok(rebuilt)
    }

    /// A read model's committed checkpoint and the number of events applied since its generation
    /// was built (equal when every event was applied exactly once).
    pub async fn checkpoint(&self, name: &str) -> Result<(u64, u64), ProjectionError> {
        let row = sqlx::query(
            "SELECT position, events_applied FROM projection_checkpoints WHERE name = $1",
        )
        .bind(self.model(name)?.name())
        .fetch_one(&self.inner.pool)
        .await?;
        Ok((to_u64(row.try_get(0)?)?, to_u64(row.try_get(1)?)?))
    }

    /// The generation of `name`'s tables that queries read now.
    pub async fn generation(&self, name: &str) -> Result<Generation, ProjectionError> {
        let mut conn = self.inner.pool.acquire().await?;
        current_generation(&mut conn, self.model(name)?.name()).await
    }

    /// A generation number no table of `name` uses yet.
    async fn next_generation(&self, name: &str) -> Result<u32, ProjectionError> {
        let current: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM read_model_generations WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.inner.pool)
                .await?;
        let retired: Option<i64> =
            sqlx::query_scalar("SELECT MAX(generation) FROM read_model_retired WHERE name = $1")
                .bind(name)
                .fetch_one(&self.inner.pool)
                .await?;
        let top = current.unwrap_or(0).max(retired.unwrap_or(0));
        u32::try_from(top + 1).map_err(internal)
    }

    /// Drops the tables of generations retired more than `grace` ago, logging each.
    pub async fn drop_retired(&self, grace: Duration) -> Result<usize, ProjectionError> {
        let cutoff = now_millis() - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT name, generation FROM read_model_retired WHERE retired_at <= $1 \
             ORDER BY name, generation",
        )
        .bind(cutoff)
        .fetch_all(&self.inner.pool)
        .await?;
        let mut dropped = 0;
        for r in rows {
            let name: String = r.try_get(0)?;
            let g = Generation(u32::try_from(r.try_get::<i64, _>(1)?).map_err(internal)?);
            if let Ok(model) = self.model(&name) {
                drop_tables(&self.inner.pool, model.as_ref(), &g).await?;
                tracing::info!(read_model = %name, generation = g.0, "retired read-model generation dropped");
            }
            sqlx::query("DELETE FROM read_model_retired WHERE name = $1 AND generation = $2")
                .bind(&name)
                .bind(i64::from(g.0))
                .execute(&self.inner.pool)
                .await?;
            dropped += 1;
        }
        Ok(dropped)
    }
}

/// What one step did.
#[derive(Debug, Default)]
struct StepOutcome {
    reached: Vec<(&'static str, Reached)>,
    /// Whether there may be more to do at once.
    more: bool,
}

/// A connection for one query, with the generation of the model's tables to read.
#[derive(Debug)]
pub(crate) struct Reader {
    pub conn: PoolConnection<Any>,
    pub generation: Generation,
    /// The log, for the stored fields of the events an answer shows (on SQLite it is another
    /// file than the read models').
    pub log: Arc<dyn Backend>,
}

/// Milliseconds since the Unix epoch by this machine's clock (retirement times).
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A stop reason as stored: bounded, for a status line.
fn bounded(reason: &str) -> String {
    const MAX: usize = 2_000;
    if reason.chars().count() <= MAX {
        reason.to_owned()
    } else {
        reason.chars().take(MAX).collect::<String>() + "…"
    }
}

async fn savepoint(
    conn: &mut AnyConnection,
    statement: &'static str,
) -> Result<(), ProjectionError> {
    sqlx::query(statement).execute(&mut *conn).await?;
    Ok(())
}

async fn current_generation(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Generation, ProjectionError> {
    let g: Option<i64> =
        sqlx::query_scalar("SELECT generation FROM read_model_generations WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    let g = g.ok_or_else(|| internal(format!("read model {name} has no generation")))?;
    Ok(Generation(u32::try_from(g).map_err(internal)?))
}

async fn drop_tables(
    pool: &AnyPool,
    model: &dyn ReadModel,
    g: &Generation,
) -> Result<(), ProjectionError> {
    for table in model.tables() {
        sqlx::query(sql(format!("DROP TABLE IF EXISTS {}", g.table(table))))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Applies the read models' migrations (versions 1000 and up; the log's are not ours to know).
async fn migrate(pool: &AnyPool, dialect: Dialect) -> Result<(), ProjectionError> {
    let mut migrator = match dialect {
        Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.set_ignore_missing(true);
    migrator.run(pool).await.map_err(StoreError::from)?;
    Ok(())
}

/// Applies the read models' migrations on the database at `db` without starting anything (for
/// `kcn-ledger migrate`).
pub async fn migrate_only(db: &ReadDatabase) -> Result<(), ProjectionError> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await?;
    migrate(&pool, db.dialect).await?;
    pool.close().await;
    Ok(())
}
