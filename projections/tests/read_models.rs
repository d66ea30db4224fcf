//! The read models on both backends: several projectors on one database apply every event exactly
//! once, a rebuild from position 0 gives the same rows as the live read model, and on PostgreSQL one
//! elected process runs the projectors while a follower still reads its own writes and takes over
//! when the leader's session dies.
//!
//! PostgreSQL needs `KCN_TEST_DATABASE_URL` (a server URL whose user may create databases, for
//! example `postgres://postgres@127.0.0.1:5432/postgres`); without it the PostgreSQL tests fail,
//! unless `KCN_TEST_SKIP_POSTGRES=1`, which skips them with a printed note.

use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use kcn_domain::LegalRules;
use kcn_domain::authority::{Authority, AuthorityCommand, AuthorityEstablished, AuthorityKind};
use kcn_domain::company::{CompanyCommand, CompanyRegistered, InfrastructureCompany};
use kcn_domain::time::SystemClock;
use kcn_domain::values::{EnterpriseCode, Text};
use kcn_eventstore::{
    Actor, Backend, CommandContext, EventStore, Outcome, PostgresBackend, SqliteBackend,
    SqliteDurability, Target,
};
use kcn_projections::leader::LEADER_LOCK_KEY;
use kcn_projections::{ReadDatabase, ReadModels, TimelineSnapshot};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Databases: a fresh SQLite file or a fresh PostgreSQL database, opened as often as a test needs
// (each opening is one "process": its own pool).
// ---------------------------------------------------------------------------------------------

fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "note: {message}");
}

/// The PostgreSQL server to test against, or `None` when PostgreSQL is deliberately skipped.
fn postgres_server_url(test: &str) -> Option<String> {
    match std::env::var("KCN_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("KCN_TEST_SKIP_POSTGRES").as_deref() == Ok("1") => {
            note(&format!(
                "skipping {test}: KCN_TEST_DATABASE_URL is unset and KCN_TEST_SKIP_POSTGRES=1"
            ));
            None
        }
        _ => panic!(
            "KCN_TEST_DATABASE_URL is not set: the PostgreSQL read-model tests need a server URL \
             whose user may create databases (for example \
             postgres://postgres@127.0.0.1:5432/postgres); set KCN_TEST_SKIP_POSTGRES=1 to skip \
             them deliberately"
        ),
    }
}

/// The URL of database `name` on the server of `server_url`.
fn database_url(server_url: &str, name: &str) -> String {
    let (scheme, rest) = server_url.split_once("://").expect("a postgres:// URL");
    let (main, query) = match rest.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (rest, None),
    };
    let authority = main.split_once('/').map_or(main, |(a, _)| a);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

async fn admin(server_url: &str) -> PgConnection {
    PgConnectOptions::from_str(server_url)
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to KCN_TEST_DATABASE_URL: {e}"))
}

enum Db {
    Sqlite(tempfile::TempDir),
    Postgres { server_url: String, name: String },
}

impl Db {
    fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres(test: &str) -> Option<Self> {
        let server_url = postgres_server_url(test)?;
        let name = format!("kcn_test_{}", Uuid::now_v7().simple());
        let mut conn = admin(&server_url).await;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        Some(Self::Postgres { server_url, name })
    }

    /// One "process" on this database: a backend with its own pool, the read-model database on it,
    /// and an event store with its own writer.
    async fn open(&self) -> (Arc<dyn Backend>, ReadDatabase, EventStore) {
        let (backend, db): (Arc<dyn Backend>, ReadDatabase) = match self {
            Self::Sqlite(dir) => {
                let b = SqliteBackend::open(&dir.path().join("ledger.db"), SqliteDurability::Full)
                    .await
                    .unwrap();
                let db = ReadDatabase::from(&b);
                (Arc::new(b), db)
            }
            Self::Postgres { server_url, name } => {
                let b = PostgresBackend::connect(&database_url(server_url, name), 4)
                    .await
                    .unwrap();
                let db = ReadDatabase::from(&b);
                (Arc::new(b), db)
            }
        };
        let store = EventStore::start(
            backend.clone(),
            Arc::new(SystemClock),
            LegalRules::default(),
        )
        .await
        .unwrap();
        (backend, db, store)
    }

    /// Another, empty database of the same kind (the target of a rebuild).
    async fn another(&self, test: &str) -> Self {
        match self {
            Self::Sqlite(_) => Self::sqlite(),
            Self::Postgres { .. } => Self::postgres(test).await.unwrap(),
        }
    }
}

/// Drops a PostgreSQL test database even when its test panicked: on a thread of its own, since a
/// `Drop` cannot await (and the test's runtime may be the one unwinding).
impl Drop for Db {
    fn drop(&mut self) {
        let Self::Postgres { server_url, name } = self else {
            return;
        };
        let (server_url, db_name) = (server_url.clone(), name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = admin(&server_url).await;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            note(&format!("could not drop the test database {name}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands: authorities concern no timeline subject, companies are one.
// ---------------------------------------------------------------------------------------------

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn context(request_id: &str) -> CommandContext {
    CommandContext {
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
    let event = CompanyRegistered {
        enterprise_code: EnterpriseCode::parse("3700123456").unwrap(),
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

/// Appends `n` commands from `tasks` concurrent writers: every third one establishes an authority,
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

/// The live read model of `db` after it reached the log's head, checked for exactly-once.
async fn caught_up_snapshot(db: &ReadDatabase, head: u64) -> TimelineSnapshot {
    let snapshot = kcn_projections::snapshot(db).await.unwrap();
    assert_eq!(
        snapshot.position, head,
        "the checkpoint is at the log's head"
    );
    assert_eq!(
        snapshot.events_applied, head,
        "every event was applied exactly once"
    );
    snapshot
}

// ---------------------------------------------------------------------------------------------
// The tests, each on both backends.
// ---------------------------------------------------------------------------------------------

/// Two "processes" append 240 commands while six projectors (three per process) run against the
/// same read model: at the end every event was applied exactly once.
async fn concurrent_projectors_apply_every_event_exactly_once(db: &Db) {
    let (log_a, read_a, store_a) = db.open().await;
    let (log_b, read_b, store_b) = db.open().await;
    read_a.migrate().await.unwrap();
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
    let mut projectors = Vec::new();
    for (log, read) in [(&log_a, &read_a), (&log_b, &read_b)] {
        for _ in 0..3 {
            let (log, read) = (log.clone(), read.clone());
            projectors.push(tokio::spawn(async move {
                for _ in 0..40 {
                    kcn_projections::catch_up(log.as_ref(), &read)
                        .await
                        .expect("a projector never fails, even beside five others");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }));
        }
    }
    let companies = writers.await.unwrap();
    for p in projectors {
        p.await.unwrap();
    }
    kcn_projections::catch_up(log_a.as_ref(), &read_a)
        .await
        .unwrap();
    let head = log_a.head().await.unwrap();
    assert_eq!(head, 240);
    let snapshot = caught_up_snapshot(&read_b, head).await;
    assert_eq!(
        snapshot.entries.len(),
        companies,
        "one timeline entry per registered company"
    );
}

/// A rebuild into an empty database, and one in place beside the running projector, give exactly
/// the rows the live read model holds.
async fn a_rebuild_gives_the_rows_of_the_live_read_model(db: &Db, target: &Db) {
    let (log, read_db, store) = db.open().await;
    let read = ReadModels::start(store.clone(), read_db.clone())
        .await
        .unwrap();
    let mut last = 0;
    for i in 0..30 {
        let company = register(&store, &format!("c-{i}")).await;
        if i % 2 == 0 {
            last = rename(&store, company.aggregate_id, &format!("r-{i}"))
                .await
                .last_position;
        } else {
            last = establish(&store, &format!("a-{i}")).await.last_position;
        }
    }
    read.wait_for(last, Duration::from_secs(10)).await.unwrap();
    let live = caught_up_snapshot(&read_db, last).await;
    assert_eq!(live.entries.len(), 45, "30 registrations and 15 renames");

    let (_, fresh, _) = target.open().await;
    let reached = kcn_projections::rebuild(log.as_ref(), &fresh)
        .await
        .unwrap();
    assert_eq!(reached, last);
    assert_eq!(kcn_projections::snapshot(&fresh).await.unwrap(), live);

    // In place, while this process's projector keeps running and more events arrive.
    let more = register(&store, "after").await.last_position;
    kcn_projections::rebuild(log.as_ref(), &read_db)
        .await
        .unwrap();
    read.wait_for(more, Duration::from_secs(10)).await.unwrap();
    let rebuilt = caught_up_snapshot(&read_db, more).await;
    assert_eq!(rebuilt.entries.len(), 46);
    kcn_projections::rebuild(log.as_ref(), &fresh)
        .await
        .unwrap();
    assert_eq!(kcn_projections::snapshot(&fresh).await.unwrap(), rebuilt);

    // Beside the live timeline, while its projector keeps running and more events arrive: the
    // switch takes whatever arrived meanwhile.
    let during = register(&store, "during").await.last_position;
    let reached = kcn_projections::rebuild_beside(log.as_ref(), &read_db, &|_, _| {})
        .await
        .unwrap();
    assert!(reached >= during);
    read.wait_for(during, Duration::from_secs(10))
        .await
        .unwrap();
    let beside = caught_up_snapshot(&read_db, during).await;
    assert_eq!(beside.entries.len(), 47);
    kcn_projections::rebuild(log.as_ref(), &fresh)
        .await
        .unwrap();
    assert_eq!(kcn_projections::snapshot(&fresh).await.unwrap(), beside);
    read.stop();
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_projectors_apply_every_event_exactly_once() {
        super::concurrent_projectors_apply_every_event_exactly_once(&Db::sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rebuild_gives_the_rows_of_the_live_read_model() {
        super::a_rebuild_gives_the_rows_of_the_live_read_model(&Db::sqlite(), &Db::sqlite()).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_projectors_apply_every_event_exactly_once() {
        let Some(db) = Db::postgres("concurrent_projectors_apply_every_event_exactly_once").await
        else {
            return;
        };
        super::concurrent_projectors_apply_every_event_exactly_once(&db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rebuild_gives_the_rows_of_the_live_read_model() {
        let Some(db) = Db::postgres("a_rebuild_gives_the_rows_of_the_live_read_model").await else {
            return;
        };
        let target = db.another("rebuild target").await;
        super::a_rebuild_gives_the_rows_of_the_live_read_model(&db, &target).await;
    }

    /// Two "processes" start read models on one database: exactly one leads, the follower reads its
    /// own writes by polling the checkpoint, and when the leader's session is killed the follower
    /// takes over and the read model stays exact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_process_leads_and_a_follower_takes_over_when_its_session_dies() {
        let Some(db) =
            Db::postgres("one_process_leads_and_a_follower_takes_over_when_its_session_dies").await
        else {
            return;
        };
        let (_, read_a, store_a) = db.open().await;
        let (_, read_b, store_b) = db.open().await;
        let a = ReadModels::start(store_a.clone(), read_a.clone())
            .await
            .unwrap();
        let b = ReadModels::start(store_b.clone(), read_b.clone())
            .await
            .unwrap();
        wait_until("one process leads", Duration::from_secs(10), || async {
            a.is_leader() || b.is_leader()
        })
        .await;
        // Let the other try the lock at least once more: it must stay a follower.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(a.is_leader() != b.is_leader(), "exactly one leader");
        let (leader, follower, follower_store) = if a.is_leader() {
            (&a, &b, &store_b)
        } else {
            (&b, &a, &store_a)
        };

        // Read-your-writes in the follower: its own write, applied by the other process.
        let mut last = 0;
        for i in 0..20 {
            last = register(follower_store, &format!("f-{i}"))
                .await
                .last_position;
        }
        follower
            .wait_for(last, Duration::from_secs(10))
            .await
            .expect("the follower sees the leader's progress");
        assert_eq!(follower.status().await.unwrap()[0].position, last);

        // Kill the leader's lock session, as a lost connection would: someone leads again (either
        // process may win the lock) and the read model goes on exactly.
        let url = match &db {
            Db::Postgres { server_url, name } => database_url(server_url, name),
            Db::Sqlite(_) => unreachable!(),
        };
        let mut conn = admin(&url).await;
        // pg_locks spans the whole cluster, where other tests' databases have leaders of their own:
        // count only this database's holders.
        let holders = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND ((classid::bigint << 32) | objid::bigint) = $1";
        let before: Vec<i32> = sqlx::query_scalar(holders)
            .bind(LEADER_LOCK_KEY)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(before.len(), 1, "one session holds the leadership lock");
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(before[0])
            .execute(&mut conn)
            .await
            .unwrap();
        let end = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let now: Vec<i32> = sqlx::query_scalar(holders)
                .bind(LEADER_LOCK_KEY)
                .fetch_all(&mut conn)
                .await
                .unwrap();
            if now.len() == 1 && now != before && a.is_leader() != b.is_leader() {
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
        follower
            .wait_for(last, Duration::from_secs(10))
            .await
            .unwrap();
        leader
            .wait_for(last, Duration::from_secs(10))
            .await
            .unwrap();

        // The leading process ends: the other takes over.
        let (ending, staying, staying_store) = if a.is_leader() {
            (&a, &b, &store_b)
        } else {
            (&b, &a, &store_a)
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
        staying
            .wait_for(last, Duration::from_secs(10))
            .await
            .unwrap();
        let snapshot = caught_up_snapshot(&read_a, last).await;
        assert_eq!(snapshot.entries.len(), 60);

        a.stop();
        b.stop();
        let _ = conn.close().await;
    }
}
