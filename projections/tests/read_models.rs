//! The read side on both backends, through the one engine: several engines on one database apply
//! every event exactly once to every read model, a rebuild (into an empty database, or beside the
//! live tables while the engine runs and events arrive) gives the rows of the live read model, and on
//! PostgreSQL one elected process runs the engine while a follower still reads its own writes and
//! takes over when the leader's session dies.
//!
//! PostgreSQL needs `KCN_TEST_DATABASE_URL` (a server URL whose user may create databases, for
//! example `postgres://postgres@127.0.0.1:5432/postgres`); without it the PostgreSQL tests fail,
//! unless `KCN_TEST_SKIP_POSTGRES=1`, which skips them with a printed note.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use kcn_domain::LegalRules;
use kcn_domain::authority::{Authority, AuthorityCommand, AuthorityEstablished, AuthorityKind};
use kcn_domain::company::{CompanyCommand, CompanyRegistered, InfrastructureCompany};
use kcn_domain::values::{EnterpriseCode, Text};
use kcn_eventstore::SystemClock;
use kcn_eventstore::{Actor, Backend, CommandContext, EventStore, Outcome, Target};
use kcn_projections::models::Generation;
use kcn_projections::{Engine, ReadDatabase, ReadSide, TimelineSnapshot, models};
use kcn_testkit::TestDatabase;
use uuid::Uuid;

/// The timeline's name, the model these scenarios count rows of.
const TIMELINE: &str = "timeline";

/// One "process" on `db`: a backend with its own pool, the read models' database on it, and an
/// event store with its own writer.
async fn process(db: &TestDatabase) -> (Arc<dyn Backend>, ReadDatabase, EventStore) {
    let (backend, read) = common::open(db).await;
    let store = EventStore::start(
        backend.clone(),
        Arc::new(SystemClock),
        LegalRules::default(),
    )
    .await
    .unwrap();
    (backend, read, store)
}

// ---------------------------------------------------------------------------------------------
// Commands: authorities concern no timeline subject, companies are one.
// ---------------------------------------------------------------------------------------------

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn context(request_id: &str) -> CommandContext {
    CommandContext {
        scope: Default::default(),
        occurred_at: None,
        actor: Actor {
            principal: "tester".to_owned(),
            organisation: None,
            role: None,
            authentication: "local_principal".to_owned(),
        },
        request_id: request_id.to_owned(),
        correlation_id: None,
        causation_id: None,
        source: None,
    }
}

async fn establish(store: &EventStore, request_id: &str) -> Outcome {
    let event = AuthorityEstablished {
        name: Text::name(&format!("Board {request_id}")).unwrap(),
        kind: AuthorityKind::IndustrialParksBoard,
        jurisdiction: Text::name("Bình Dương").unwrap(),
        decision_no: Text::name("QĐ-01/2006").unwrap(),
        effective_from: NaiveDate::from_ymd_opt(2006, 1, 1).unwrap(),
    };
    store
        .execute::<Authority, _>(
            Target::New,
            None,
            move |authority_id| AuthorityCommand::Establish {
                authority_id,
                occurred_at: at("2025-04-11T02:30:00Z"),
                event: event.clone(),
            },
            context(request_id),
        )
        .await
        .unwrap()
}

async fn register(store: &EventStore, request_id: &str) -> Outcome {
    let code = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        request_id.hash(&mut h);
        (3_700_000_000 + h.finish() % 100_000_000).to_string()
    };
    let event = CompanyRegistered {
        enterprise_code: EnterpriseCode::parse(&code).unwrap(),
        name: Text::name(&format!("Company {request_id}")).unwrap(),
        address: None,
    };
    store
        .execute::<InfrastructureCompany, _>(
            Target::New,
            None,
            move |company_id| CompanyCommand::Register {
                company_id,
                occurred_at: at("2025-04-11T02:40:00Z"),
                event: event.clone(),
            },
            context(request_id),
        )
        .await
        .unwrap()
}

async fn rename(store: &EventStore, company: Uuid, request_id: &str) -> Outcome {
    let name = Text::name(&format!("Renamed {request_id}")).unwrap();
    store
        .execute::<InfrastructureCompany, _>(
            Target::Existing(company),
            None,
            move |company_id| CompanyCommand::ChangeDetails {
                company_id,
                occurred_at: at("2025-05-01T00:00:00Z"),
                name: Some(name.clone()),
                address: None,
            },
            context(request_id),
        )
        .await
        .unwrap()
}

/// Appends `n` commands from as many concurrent writers: every third one establishes an authority,
/// the others register a company. Returns how many companies were registered.
async fn write_concurrently(store: &EventStore, tag: &str, n: usize) -> usize {
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = store.clone();
        let request = format!("{tag}-{i}");
        tasks.push(tokio::spawn(async move {
            if i % 3 == 0 {
                establish(&store, &request).await;
                0
            } else {
                register(&store, &request).await;
                1
            }
        }));
    }
    let mut companies = 0;
    for t in tasks {
        companies += t.await.unwrap();
    }
    companies
}

/// Polls `check` until it holds, failing the test after `deadline`.
async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The timeline of `engine` once it is at the log's head, checked for exactly-once in every model:
/// each checkpoint at `head`, with `head` events applied since its generation was built.
async fn caught_up_snapshot(engine: &Engine, head: u64) -> TimelineSnapshot {
    for name in engine.names() {
        assert_eq!(
            engine.checkpoint(name).await.unwrap(),
            (head, head),
            "{name}: the checkpoint is at the log's head, every event applied exactly once"
        );
    }
    ReadSide::over(engine.clone())
        .timeline()
        .snapshot()
        .await
        .unwrap()
}

/// The read models replayed from position 0 of `log` into a fresh, empty database like `db` (the
/// rebuild of an empty database).
async fn replayed(db: &TestDatabase, log: &Arc<dyn Backend>) -> TimelineSnapshot {
    let fresh = db.another().await;
    let (_, read, _) = process(&fresh).await;
    let engine = Engine::open(&read, log.clone(), models::all())
        .await
        .unwrap();
    engine.catch_up().await.unwrap();
    caught_up_snapshot(&engine, log.head().await.unwrap()).await
}

// ---------------------------------------------------------------------------------------------
// The scenarios, each on both backends.
// ---------------------------------------------------------------------------------------------

/// Two "processes" append 240 commands while six engines (three per process, each with its own
/// pool) catch up with the same read models again and again: at the end every event was applied
/// exactly once to every model.
async fn concurrent_engines_apply_every_event_exactly_once(db: TestDatabase) {
    let (log_a, read_a, store_a) = process(&db).await;
    let (log_b, read_b, store_b) = process(&db).await;
    // The first opening applies the read models' migrations.
    let engine_a = Engine::open(&read_a, log_a.clone(), models::all())
        .await
        .unwrap();
    let writers = {
        let (a, b) = (store_a.clone(), store_b.clone());
        tokio::spawn(async move {
            let (x, y) = tokio::join!(
                write_concurrently(&a, "a", 120),
                write_concurrently(&b, "b", 120)
            );
            x + y
        })
    };
    let mut engines = Vec::new();
    for (log, read) in [(&log_a, &read_a), (&log_b, &read_b)] {
        for _ in 0..3 {
            let (log, read) = (log.clone(), read.clone());
            engines.push(tokio::spawn(async move {
                let engine = Engine::open(&read, log, models::all()).await.unwrap();
                for _ in 0..40 {
                    engine
                        .catch_up()
                        .await
                        .expect("an engine never fails, even beside five others");
                    tokio::task::yield_now().await;
                }
            }));
        }
    }
    let companies = writers.await.unwrap();
    for e in engines {
        e.await.unwrap();
    }
    let head = log_a.head().await.unwrap();
    assert_eq!(head, 240);
    engine_a.catch_up().await.unwrap();
    let engine_b = Engine::open(&read_b, log_b.clone(), models::all())
        .await
        .unwrap();
    let snapshot = caught_up_snapshot(&engine_b, head).await;
    // One entry per event: a company on its own timeline, an authority on its own.
    assert_eq!(companies, 160);
    assert_eq!(
        snapshot.entries.len(),
        240,
        "one timeline entry per registered company and per established authority"
    );
}

/// A replay into an empty database gives exactly the rows the live read models hold; so do
/// rebuilds beside the live tables while this process's engine keeps running and more events
/// arrive, each switching to a new generation.
async fn a_rebuild_gives_the_rows_of_the_live_read_model(db: TestDatabase) {
    let (log, read_db, store) = process(&db).await;
    let read = ReadSide::start(&store, &read_db).await.unwrap();
    let mut last = 0;
    for i in 0..30 {
        let company = register(&store, &format!("c-{i}")).await;
        last = if i % 2 == 0 {
            rename(&store, company.aggregate_id, &format!("r-{i}"))
                .await
                .last_position
        } else {
            establish(&store, &format!("a-{i}")).await.last_position
        };
    }
    let engine = read.engine();
    engine
        .wait_for(TIMELINE, last, Duration::from_secs(10))
        .await
        .unwrap();
    // Every model, not only the timeline, before comparing.
    for name in engine.names() {
        engine
            .wait_for(name, last, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let live = caught_up_snapshot(engine, last).await;
    assert_eq!(
        live.entries.len(),
        60,
        "30 registrations, 15 renames and 15 authorities"
    );
    assert_eq!(replayed(&db, &log).await, live);

    // Beside the live tables, while the engine keeps running and more events arrive: the switch
    // takes whatever arrived meanwhile.
    for (round, generation) in [(0, 2), (1, 3)] {
        let before = register(&store, &format!("before-{round}"))
            .await
            .last_position;
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut last = 0;
                for i in 0..5 {
                    last = register(&store, &format!("during-{round}-{i}"))
                        .await
                        .last_position;
                }
                last
            })
        };
        let rebuilt = engine.rebuild(&[], &|_, _| {}).await.unwrap();
        assert_eq!(rebuilt.len(), engine.names().len(), "every model");
        assert!(rebuilt.iter().all(|r| r.position >= before), "{rebuilt:?}");
        let during = writer.await.unwrap();
        for name in engine.names() {
            engine
                .wait_for(name, during, Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(
                engine.generation(name).await.unwrap(),
                Generation(generation),
                "{name}"
            );
        }
        let rebuilt = caught_up_snapshot(engine, during).await;
        assert_eq!(rebuilt.entries.len(), 60 + 6 * (round + 1));
        assert_eq!(replayed(&db, &log).await, rebuilt);
    }
    read.stop();
}

macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$scenario(kcn_testkit::TestDatabase::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some(db) = kcn_testkit::TestDatabase::postgres(stringify!($scenario)).await {
                    super::$scenario(db).await;
                }
            }
        }
    )+};
}

on_both_backends!(
    concurrent_engines_apply_every_event_exactly_once,
    a_rebuild_gives_the_rows_of_the_live_read_model,
);

// ---------------------------------------------------------------------------------------------
// Leadership, on PostgreSQL only: SQLite has one process.
// ---------------------------------------------------------------------------------------------

mod postgres {
    use std::str::FromStr as _;

    use kcn_projections::leader::LEADER_LOCK_KEY;
    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use sqlx::{ConnectOptions as _, Connection as _};

    use super::*;

    /// The sessions of this database holding the leadership lock (`pg_locks` spans the whole
    /// cluster, where other tests' databases have leaders of their own).
    async fn holders(conn: &mut PgConnection) -> Vec<i32> {
        sqlx::query_scalar(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND ((classid::bigint << 32) | objid::bigint) = $1",
        )
        .bind(LEADER_LOCK_KEY)
        .fetch_all(conn)
        .await
        .unwrap()
    }

    /// How many times a session of this database other than `except` has tried the leadership lock
    /// since `since` (its last statement was the try, and it ran after `since`).
    async fn tries_since(conn: &mut PgConnection, except: &[i32], since: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND query LIKE 'SELECT pg_try_advisory_lock%' AND NOT (pid = ANY($1)) \
             AND state_change > $2::timestamptz",
        )
        .bind(except)
        .bind(since)
        .fetch_one(conn)
        .await
        .unwrap()
    }

    /// Two "processes" start the read side on one database: exactly one leads, the follower reads
    /// its own writes by polling the checkpoints, and when the leader's session is killed someone
    /// takes over and the read models stay exact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_process_leads_and_a_follower_takes_over_when_its_session_dies() {
        let Some(db) = TestDatabase::postgres(
            "one_process_leads_and_a_follower_takes_over_when_its_session_dies",
        )
        .await
        else {
            return;
        };
        let TestDatabase::Postgres(pg) = &db else {
            unreachable!()
        };
        let (_, read_a, store_a) = process(&db).await;
        let (_, read_b, store_b) = process(&db).await;
        let a = ReadSide::start(&store_a, &read_a).await.unwrap();
        let b = ReadSide::start(&store_b, &read_b).await.unwrap();
        let (ea, eb) = (a.engine().clone(), b.engine().clone());
        wait_until("one process leads", Duration::from_secs(10), || async {
            ea.is_leader() || eb.is_leader()
        })
        .await;
        let mut conn = PgConnectOptions::from_str(pg.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        // The other process tries the lock again, twice, and stays a follower.
        let since: String = sqlx::query_scalar("SELECT now()::text")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let leading = holders(&mut conn).await;
        assert_eq!(leading.len(), 1, "one session holds the leadership lock");
        let end = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut since = since;
        for _ in 0..2 {
            while tries_since(&mut conn, &leading, &since).await == 0 {
                assert!(
                    tokio::time::Instant::now() < end,
                    "the follower never tried the lock again"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            since = sqlx::query_scalar("SELECT now()::text")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        }
        assert!(ea.is_leader() != eb.is_leader(), "exactly one leader");
        assert_eq!(holders(&mut conn).await, leading);
        let (leader, follower, follower_store) = if ea.is_leader() {
            (&ea, &eb, &store_b)
        } else {
            (&eb, &ea, &store_a)
        };

        // Read-your-writes in the follower: its own write, applied by the other process.
        let mut last = 0;
        for i in 0..20 {
            last = register(follower_store, &format!("f-{i}"))
                .await
                .last_position;
        }
        follower
            .wait_for(TIMELINE, last, Duration::from_secs(10))
            .await
            .expect("the follower sees the leader's progress");
        let timeline = follower.status().await.unwrap();
        assert_eq!(
            timeline
                .iter()
                .find(|s| s.name == TIMELINE)
                .unwrap()
                .position,
            last
        );

        // Kill the leader's lock session, as a lost connection would: someone leads again (either
        // process may win the lock) and the read models go on exactly.
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(leading[0])
            .execute(&mut conn)
            .await
            .unwrap();
        let end = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let now = holders(&mut conn).await;
            if now.len() == 1 && now != leading && ea.is_leader() != eb.is_leader() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "nobody took the leadership over"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for i in 0..20 {
            last = register(follower_store, &format!("g-{i}"))
                .await
                .last_position;
        }
        for engine in [follower, leader] {
            engine
                .wait_for(TIMELINE, last, Duration::from_secs(10))
                .await
                .unwrap();
        }

        // The leading process ends: the other takes over.
        let (ending, staying, staying_store) = if ea.is_leader() {
            (&a, &eb, &store_b)
        } else {
            (&b, &ea, &store_a)
        };
        ending.stop();
        wait_until(
            "the other process leads",
            Duration::from_secs(15),
            || async { staying.is_leader() },
        )
        .await;
        for i in 0..20 {
            last = register(staying_store, &format!("h-{i}"))
                .await
                .last_position;
        }
        for name in staying.names() {
            staying
                .wait_for(name, last, Duration::from_secs(10))
                .await
                .unwrap();
        }
        let snapshot = caught_up_snapshot(staying, last).await;
        assert_eq!(snapshot.entries.len(), 60);

        a.stop();
        b.stop();
        let _ = conn.close().await;
    }
}
