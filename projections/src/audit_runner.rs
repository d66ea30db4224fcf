//! The runner of the audit read models ([`crate::models`]): one projector per model, each with its own
//! checkpoint row in `projection_checkpoints`, applying batches exactly once under that row's lock
//! (SQLite's write lock, PostgreSQL's `FOR UPDATE`), only while this process leads; read-your-writes
//! by model; and rebuilds that replay the log into a new generation of tables while queries keep
//! reading the current one, then switch generations in one transaction.
//!
//! The SQL here is portable (sqlx's `Any` driver), like the models', so one code path serves both
//! backends; only the lock statement differs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kcn_eventstore::{Backend, EventStore, StoredEvent};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions as _, Connection as _, Row, Transaction};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::ProjectionStatus;
use crate::database::ReadDatabase;
use crate::error::ProjectionError;
use crate::models::{self, Generation, ReadModel, sql};
use crate::projector::ProjectorState;

/// Events applied per transaction.
const BATCH: u32 = 500;
/// How long to wait before retrying after a failure.
const RETRY: Duration = Duration::from_secs(2);
/// How often a projector looks for events other processes appended.
const POLL: Duration = Duration::from_millis(200);
/// How long an old generation's tables stay after a switch, for queries that had already read the
/// generation number.
pub const DROP_AFTER: Duration = Duration::from_secs(5);

/// The advisory-lock key that serialises the read models' set-up on PostgreSQL ("kcn-rmd1").
const SETUP_LOCK_KEY: i64 = 0x6B63_6E2D_726D_6431;

/// Which dialect the pool speaks, for the one statement that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The audit read models of one process: the handle queries use.
#[derive(Debug, Clone)]
pub struct AuditModels {
    pool: AnyPool,
    dialect: Dialect,
    models: Arc<Vec<Arc<dyn ReadModel>>>,
    states: Arc<HashMap<&'static str, watch::Sender<ProjectorState>>>,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).expect("positions stay below 2^63")
}

fn internal(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Store(kcn_eventstore::StoreError::Internal(e.to_string()))
}

impl AuditModels {
    /// Connects to the read models' database (the log's own), creates what is missing, and starts one
    /// projector per model that runs while `leader` is true, until `stop`.
    pub async fn start(
        store: EventStore,
        db: &ReadDatabase,
        leader: watch::Receiver<bool>,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, ProjectionError> {
        let models = Self::open(db, models::all()).await?;
        for model in models.models.iter() {
            tokio::spawn(run(
                store.clone(),
                models.clone(),
                model.clone(),
                leader.clone(),
                stop.clone(),
            ));
        }
        Ok(models)
    }

    /// Connects and prepares the given models without starting projectors (for rebuilds and tests).
    pub async fn open(
        db: &ReadDatabase,
        list: Vec<Arc<dyn ReadModel>>,
    ) -> Result<Self, ProjectionError> {
        sqlx::any::install_default_drivers();
        let (url, dialect) = match db {
            ReadDatabase::Sqlite(pool) => (pool.connect_options().to_url_lossy(), Dialect::Sqlite),
            ReadDatabase::Postgres(pool) => {
                (pool.connect_options().to_url_lossy(), Dialect::Postgres)
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // Wait for the log's writer rather than failing at once when it holds the lock.
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url.as_str())
            .await?;
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
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS read_model_generations (\
             name TEXT PRIMARY KEY NOT NULL, generation BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let mut states = HashMap::new();
        for model in &list {
            let name = model.name();
            sqlx::query(
                "INSERT INTO read_model_generations (name, generation) VALUES ($1, 1) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .execute(&mut *tx)
            .await?;
            let g: i64 =
                sqlx::query_scalar("SELECT generation FROM read_model_generations WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
            let g = Generation(u32::try_from(g).map_err(internal)?);
            for ddl in model.create(&g) {
                sqlx::query(sql(ddl)).execute(&mut *tx).await?;
            }
            let position = checkpoint_in(&mut tx, name).await?.0;
            states.insert(
                name,
                watch::Sender::new(ProjectorState {
                    position,
                    error: None,
                }),
            );
        }
        tx.commit().await?;
        drop(conn);
        Ok(Self {
            pool,
            dialect,
            models: Arc::new(list),
            states: Arc::new(states),
        })
    }

    /// The pool the models' queries run on.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The names of the audit read models.
    pub fn names(&self) -> Vec<&'static str> {
        self.models.iter().map(|m| m.name()).collect()
    }

    /// The generation of `name`'s tables that queries read now.
    pub async fn generation(&self, name: &str) -> Result<Generation, ProjectionError> {
        current_generation(&self.pool, name).await
    }

    /// Waits until read model `name` has applied `position`, or fails after `deadline`.
    pub async fn wait_for(
        &self,
        name: &str,
        position: u64,
        deadline: Duration,
    ) -> Result<(), ProjectionError> {
        let end = Instant::now() + deadline;
        let mut pause = Duration::from_millis(5);
        let mut state = self.states.get(name).map(|s| s.subscribe());
        loop {
            if state
                .as_mut()
                .is_some_and(|s| s.borrow_and_update().position >= position)
            {
                return Ok(());
            }
            // Another process may lead: its commits show in the checkpoint row.
            let (at, _) = checkpoint(&self.pool, name).await?;
            if at >= position {
                return Ok(());
            }
            let now = Instant::now();
            if now >= end {
                return Err(ProjectionError::NotCaughtUp {
                    name: name.to_owned(),
                    at,
                    wanted: position,
                });
            }
            let sleep = tokio::time::sleep(pause.min(end - now));
            match state.as_mut() {
                Some(s) => {
                    tokio::select! {
                        _ = s.changed() => {}
                        _ = sleep => {}
                    }
                }
                None => sleep.await,
            }
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Where each audit read model stands.
    pub async fn status(&self, log_head: u64) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let mut out = Vec::new();
        for model in self.models.iter() {
            let (position, error) = checkpoint(&self.pool, model.name()).await?;
            out.push(ProjectionStatus {
                name: model.name().to_owned(),
                position,
                log_head,
                error,
            });
        }
        Ok(out)
    }

    /// Replays the whole log into a new generation of `name`'s tables while the current generation
    /// keeps serving, then switches to it in one transaction under the live checkpoint's lock and
    /// returns. `progress` is told the position reached and the head after every batch. Queries that
    /// read the generation number just before the switch may still use the old tables for a moment:
    /// drop them with [`AuditModels::drop_generation`] after [`DROP_AFTER`].
    pub async fn rebuild(
        &self,
        log: &dyn Backend,
        name: &str,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<Rebuilt, ProjectionError> {
        let model = self
            .models
            .iter()
            .find(|m| m.name() == name)
            .cloned()
            .ok_or_else(|| {
                internal(format!(
                    "no read model named {name:?}; known: {}",
                    self.names().join(", ")
                ))
            })?;
        let old = current_generation(&self.pool, name).await?;
        let new = Generation(old.0 + 1);
        let shadow = format!("{name}@rebuild");
        // Leftovers of an earlier rebuild: the generation before the current one, and a half-built next.
        if old.0 > 1 {
            drop_tables(&self.pool, model.as_ref(), &Generation(old.0 - 1)).await?;
        }
        drop_tables(&self.pool, model.as_ref(), &new).await?;
        create_tables(&self.pool, model.as_ref(), &new).await?;
        sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
            .bind(&shadow)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0)")
            .bind(&shadow)
            .execute(&self.pool)
            .await?;
        // Replay into the new generation; the live projector keeps feeding the old one meanwhile.
        loop {
            let head = log.head().await?;
            let step = step(
                log,
                &self.pool,
                self.dialect,
                model.as_ref(),
                &shadow,
                Some(&new),
            )
            .await?;
            progress(step.position, head);
            if !step.more && step.position >= head {
                break;
            }
        }
        // Switch: under the live checkpoint's lock, apply what arrived since, then move the pointer.
        let mut conn = self.pool.acquire().await?;
        let (mut tx, at) = begin_locked(&mut conn, self.dialect, name).await?;
        let (mut reached, _) = checkpoint_in(&mut tx, &shadow).await?;
        loop {
            let events = log.read_range(reached + 1, BATCH).await?;
            if events.is_empty() {
                break;
            }
            model.apply(&mut tx, &new, &events).await?;
            reached = events.last().map_or(reached, |e| e.position);
        }
        sqlx::query("UPDATE read_model_generations SET generation = $2 WHERE name = $1")
            .bind(name)
            .bind(i64::from(new.0))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE projection_checkpoints SET position = $2, events_applied = $2, error = NULL, \
             error_position = NULL, updated_at = CURRENT_TIMESTAMP WHERE name = $1",
        )
        .bind(name)
        .bind(to_i64(reached))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
            .bind(&shadow)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        drop(conn);
        tracing::info!(
            read_model = name,
            generation = new.0,
            position = reached,
            previous_checkpoint = at,
            "read model rebuilt and switched"
        );
        if let Some(state) = self.states.get(name) {
            state.send_modify(|s| s.position = s.position.max(reached));
        }
        Ok(Rebuilt {
            position: reached,
            previous: old,
        })
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The checkpoint of the new generation when it was switched in.
    pub position: u64,
    /// The generation it replaced, whose tables are still there.
    pub previous: Generation,
}

impl AuditModels {
    /// Drops one generation of a model's tables (the one a rebuild replaced).
    pub async fn drop_generation(&self, name: &str, g: &Generation) -> Result<(), ProjectionError> {
        let model = self
            .models
            .iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| internal(format!("no read model named {name:?}")))?;
        if *g == current_generation(&self.pool, name).await? {
            return Err(internal(format!(
                "generation {} of {name} is the current one",
                g.0
            )));
        }
        drop_tables(&self.pool, model.as_ref(), g).await
    }
}

async fn current_generation(pool: &AnyPool, name: &str) -> Result<Generation, ProjectionError> {
    let g: Option<i64> =
        sqlx::query_scalar("SELECT generation FROM read_model_generations WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    let g = g.ok_or_else(|| internal(format!("read model {name} has no generation")))?;
    Ok(Generation(u32::try_from(g).map_err(internal)?))
}

async fn create_tables(
    pool: &AnyPool,
    model: &dyn ReadModel,
    g: &Generation,
) -> Result<(), ProjectionError> {
    for ddl in model.create(g) {
        sqlx::query(sql(ddl)).execute(pool).await?;
    }
    Ok(())
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

async fn checkpoint(pool: &AnyPool, name: &str) -> Result<(u64, Option<String>), ProjectionError> {
    let row = sqlx::query("SELECT position, error FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => Ok((
            u64::try_from(r.try_get::<i64, _>(0)?).map_err(internal)?,
            r.try_get(1)?,
        )),
        None => Ok((0, None)),
    }
}

async fn checkpoint_in(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<(u64, Option<String>), ProjectionError> {
    let row = sqlx::query("SELECT position, error FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => Ok((
            u64::try_from(r.try_get::<i64, _>(0)?).map_err(internal)?,
            r.try_get(1)?,
        )),
        None => Ok((0, None)),
    }
}

/// Begins a transaction on `conn` holding checkpoint `name`'s lock; returns it with the committed
/// position. Dropping the transaction without committing rolls it back and releases the lock.
async fn begin_locked<'c>(
    conn: &'c mut AnyConnection,
    dialect: Dialect,
    name: &str,
) -> Result<(Transaction<'c, Any>, u64), ProjectionError> {
    match dialect {
        Dialect::Sqlite => {
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let at = checkpoint_in(&mut tx, name).await?.0;
            Ok((tx, at))
        }
        Dialect::Postgres => {
            let mut tx = conn
                .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
                .await?;
            let at: Option<i64> = sqlx::query_scalar(
                "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE",
            )
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            Ok((tx, u64::try_from(at.unwrap_or(0)).map_err(internal)?))
        }
    }
}

/// How far one step went.
struct Step {
    position: u64,
    more: bool,
}

/// Applies the next batch after checkpoint `checkpoint_name` to `generation` (or, when `None`, to the
/// current generation as read under the lock), moving the checkpoint in the same transaction.
async fn step(
    log: &dyn Backend,
    pool: &AnyPool,
    dialect: Dialect,
    model: &dyn ReadModel,
    checkpoint_name: &str,
    generation: Option<&Generation>,
) -> Result<Step, ProjectionError> {
    let (seen, _) = checkpoint(pool, checkpoint_name).await?;
    let events = log.read_range(seen + 1, BATCH).await?;
    if events.is_empty() {
        return Ok(Step {
            position: seen,
            more: false,
        });
    }
    let mut conn = pool.acquire().await?;
    let (mut tx, at) = begin_locked(&mut conn, dialect, checkpoint_name).await?;
    match apply_locked(
        &mut tx,
        model,
        checkpoint_name,
        generation,
        at,
        events.clone(),
    )
    .await
    {
        Ok(step) => {
            tx.commit().await?;
            Ok(step)
        }
        Err(ProjectionError::Apply { position, reason }) => {
            // Stop exactly at the event that cannot be applied: apply the events before it, so
            // the checkpoint names the last good position and the next batch starts with it.
            drop(tx);
            let good: Vec<StoredEvent> = events
                .into_iter()
                .filter(|e| e.position < position)
                .collect();
            if good.iter().all(|e| e.position <= at) {
                return Err(ProjectionError::Apply { position, reason });
            }
            let (mut tx, at) = begin_locked(&mut conn, dialect, checkpoint_name).await?;
            let step = apply_locked(&mut tx, model, checkpoint_name, generation, at, good).await?;
            tx.commit().await?;
            Ok(step)
        }
        Err(e) => Err(e),
    }
}

async fn apply_locked(
    conn: &mut AnyConnection,
    model: &dyn ReadModel,
    checkpoint_name: &str,
    generation: Option<&Generation>,
    at: u64,
    events: Vec<StoredEvent>,
) -> Result<Step, ProjectionError> {
    let fresh: Vec<StoredEvent> = events.into_iter().filter(|e| e.position > at).collect();
    let Some(last) = fresh.last().map(|e| e.position) else {
        return Ok(Step {
            position: at,
            more: true,
        });
    };
    if fresh[0].position != at + 1 {
        return Err(ProjectionError::Apply {
            position: at + 1,
            reason: "the log has a gap before this position".into(),
        });
    }
    let g = match generation {
        Some(g) => g.clone(),
        None => {
            let g: i64 =
                sqlx::query_scalar("SELECT generation FROM read_model_generations WHERE name = $1")
                    .bind(model.name())
                    .fetch_one(&mut *conn)
                    .await?;
            Generation(u32::try_from(g).map_err(internal)?)
        }
    };
    model.apply(conn, &g, &fresh).await?;
    sqlx::query(
        "UPDATE projection_checkpoints SET position = $2, events_applied = events_applied + $3, \
         error = NULL, error_position = NULL, updated_at = CURRENT_TIMESTAMP WHERE name = $1",
    )
    .bind(checkpoint_name)
    .bind(to_i64(last))
    .bind(fresh.len() as i64)
    .execute(&mut *conn)
    .await?;
    Ok(Step {
        position: last,
        more: true,
    })
}

/// Applies every batch up to the log's head for every model (for tests and tools).
pub async fn catch_up(models: &AuditModels, log: &dyn Backend) -> Result<(), ProjectionError> {
    for model in models.models.iter() {
        loop {
            let s = step(
                log,
                &models.pool,
                models.dialect,
                model.as_ref(),
                model.name(),
                None,
            )
            .await?;
            if !s.more {
                break;
            }
        }
    }
    Ok(())
}

/// One model's projector: runs while this process leads, until stopped.
async fn run(
    store: EventStore,
    models: AuditModels,
    model: Arc<dyn ReadModel>,
    mut leader: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let name = model.name();
    let mut head = store.subscribe();
    let state = models.states.get(name).cloned();
    loop {
        if crate::stopped(&stop) {
            return;
        }
        if !*leader.borrow_and_update() {
            tokio::select! {
                _ = leader.changed() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        match step(
            store.backend().as_ref(),
            &models.pool,
            models.dialect,
            model.as_ref(),
            name,
            None,
        )
        .await
        {
            Ok(done) => {
                if let Some(state) = &state {
                    state.send_if_modified(|s| {
                        let changed = s.position != done.position || s.error.is_some();
                        s.position = done.position;
                        s.error = None;
                        changed
                    });
                }
                if done.more {
                    continue;
                }
                tokio::select! {
                    _ = head.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(projection = name, error = %message, "projector stopped at an event; retrying later");
                if let ProjectionError::Apply { position, .. } = &e {
                    let _ = sqlx::query(
                        "UPDATE projection_checkpoints SET error = $2, error_position = $3, \
                         updated_at = CURRENT_TIMESTAMP WHERE name = $1",
                    )
                    .bind(name)
                    .bind(&message)
                    .bind(to_i64(*position))
                    .execute(&models.pool)
                    .await;
                }
                if let Some(state) = &state {
                    state.send_modify(|s| s.error = Some(message));
                }
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}
