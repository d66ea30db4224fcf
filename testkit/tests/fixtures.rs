//! The test kit on both backends: fixtures built from domain structs are stored exactly as the
//! server's writer stores events (positions, stream versions, payload bytes, types, schema versions,
//! metadata, one Merkle tree the writer goes on extending), raw payloads are stored verbatim, and a
//! PostgreSQL test database lives exactly as long as its guard.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use kcn_domain::agreement::{AgreementEvent, AgreementSigned, ServiceLevels};
use kcn_domain::authority::{Authority, AuthorityCommand, AuthorityEstablished, AuthorityKind};
use kcn_domain::park::{JurisdictionAssigned, Park, ParkEvent, ParkRegistered};
use kcn_domain::values::{Decimal, ParkCode, Sha256Hex, Text};
use kcn_domain::{AggregateKind, LegalRules};
use kcn_eventstore::SystemClock;
use kcn_eventstore::{
    Actor, Backend, CommandContext, EventStore, Metadata, PostgresBackend, StoredEvent, Target,
};
use kcn_integrity::Hash;
use kcn_integrity::leaf::leaf_hash;
use kcn_integrity::tree;
use kcn_testkit::log::{FIXTURE_PRINCIPAL, append_stored};
use kcn_testkit::{Fixtures, Opened, PgTestDatabase, TestDatabase};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};
use uuid::Uuid;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn backend(opened: Opened) -> Arc<dyn Backend> {
    match opened {
        Opened::Sqlite(b) => Arc::new(b),
        Opened::Postgres(b) => Arc::new(b),
    }
}

fn registered() -> ParkRegistered {
    ParkRegistered {
        code: ParkCode::parse("DONGAN-1").unwrap(),
        name: Text::name("KCN Đồng An").unwrap(),
        area_ha: Decimal::parse("138.7", 4).unwrap(),
        location: Text::name("Thuận An, Bình Dương").unwrap(),
    }
}

fn signed(authority: Uuid) -> AgreementSigned {
    AgreementSigned {
        authority_id: authority,
        company_ids: vec![Uuid::from_u128(0xc1)],
        version: Text::name("2025").unwrap(),
        title: Text::name("Quy chế phối hợp").unwrap(),
        document_no: None,
        signed_on: date("2025-04-11"),
        effective_from: date("2025-04-11"),
        document_sha256: Sha256Hex::parse(&"1f".repeat(32)).unwrap(),
        service_levels: ServiceLevels {
            incident_notification_hours: 2,
            information_answer_days: 7,
            infrastructure_information_days: None,
            consultation_answer_days: None,
            quarterly_report_due_day: None,
        },
    }
}

/// Typed fixtures land with the positions, versions, names, schema versions and bytes the server's
/// writer gives them, in the order added (here against business time), and the domain folds them.
async fn typed_fixtures_are_stored_as_the_server_stores_events(db: TestDatabase) {
    let log = backend(db.open().await.unwrap());
    let park = Uuid::from_u128(0xb1);
    let agreement = Uuid::from_u128(0xa61);
    let authority = Uuid::from_u128(0xa1);
    let jurisdiction = JurisdictionAssigned {
        authority_id: authority,
        effective_from: date("2006-01-01"),
    };
    let mut fixtures = Fixtures::new();
    fixtures
        .event(
            park,
            at("2025-04-01T02:20:00Z"),
            ParkEvent::from(registered()),
        )
        .event(
            agreement,
            at("2025-04-11T02:00:00Z"),
            AgreementEvent::from(signed(authority)),
        )
        // Recorded after the agreement, though it happened before it.
        .record_at(at("2025-05-01T00:00:00Z"))
        .event(
            park,
            at("2025-04-01T02:30:00Z"),
            ParkEvent::from(jurisdiction.clone()),
        );
    assert_eq!(fixtures.len(), 3);
    assert_eq!(fixtures.append_to(log.as_ref()).await.unwrap(), [1, 2, 3]);

    let stored = log.read_range(1, 10).await.unwrap();
    let brief: Vec<_> = stored
        .iter()
        .map(|e| {
            (
                e.position,
                e.aggregate_type.as_str(),
                e.aggregate_version,
                e.event_type.as_str(),
                e.schema_version,
            )
        })
        .collect();
    assert_eq!(
        brief,
        [
            (1, "Park", 1, "ParkRegistered", 1),
            (2, "CoordinationAgreement", 1, "AgreementSigned", 2),
            (3, "Park", 2, "JurisdictionAssigned", 1),
        ]
    );
    assert_eq!(stored[0].aggregate_id, park.to_string());
    assert_eq!(
        stored[0].payload,
        serde_json::to_vec(&registered()).unwrap()
    );
    assert_eq!(
        String::from_utf8(stored[0].payload.clone()).unwrap(),
        r#"{"code":"DONGAN-1","name":"KCN Đồng An","area_ha":"138.7","location":"Thuận An, Bình Dương"}"#,
        "the bytes the server stores for the same registration"
    );
    assert_eq!(
        stored[1].payload,
        serde_json::to_vec(&signed(authority)).unwrap()
    );
    assert_eq!(stored[2].occurred_at, "2025-04-01T02:30:00.000000Z");
    assert_eq!(
        (
            stored[0].recorded_at.as_str(),
            stored[2].recorded_at.as_str()
        ),
        ("2025-04-01T02:20:00.000000Z", "2025-05-01T00:00:00.000000Z")
    );
    let metadata: Metadata = serde_json::from_slice(&stored[2].metadata).unwrap();
    assert_eq!(metadata.actor.principal, FIXTURE_PRINCIPAL);

    // The domain reads the stream back as the server would.
    let store = EventStore::start(log.clone(), Arc::new(SystemClock), LegalRules::default())
        .await
        .unwrap();
    let (state, version) = store.load::<Park>(park).await.unwrap().unwrap();
    assert_eq!(version, 2);
    assert_eq!(state.registered, Some(registered()));
    assert_eq!(state.jurisdictions, [(date("2006-01-01"), authority)]);

    // A later append goes on after the head and after the stream's last version.
    let mut more = Fixtures::new();
    more.event(
        park,
        at("2025-08-06T03:00:00Z"),
        ParkEvent::from(JurisdictionAssigned {
            effective_from: date("2025-07-28"),
            ..jurisdiction
        }),
    );
    assert_eq!(more.append_to(log.as_ref()).await.unwrap(), [4]);
    assert_eq!(log.read_range(4, 1).await.unwrap()[0].aggregate_version, 3);
}

fn context(request_id: &str) -> CommandContext {
    CommandContext {
        scope: Default::default(),
        occurred_at: None,
        actor: Actor {
            principal: "tester".into(),
            organisation: None,
            role: None,
            authentication: "local_principal".into(),
        },
        request_id: request_id.into(),
        correlation_id: None,
        causation_id: None,
        source: None,
    }
}

/// The root over the stored hashes of the log, and the reference root over its events' leaves.
async fn roots(log: &dyn Backend) -> (Hash, Hash) {
    let size = log.head().await.unwrap();
    let events = log.read_range(1, 10_000).await.unwrap();
    let leaves: Vec<Hash> = events.iter().map(|e| leaf_hash(&e.leaf())).collect();
    let stored: HashMap<u64, Hash> = log
        .read_tree_hashes(&tree::indexes_for_root(size).unwrap())
        .await
        .unwrap()
        .into_iter()
        .collect();
    (tree::root(size, &stored).unwrap(), tree::root_of(&leaves))
}

/// Fixtures, raw payloads and stored events extend the log's one Merkle tree, which the server's
/// writer then extends in turn; raw bytes are stored as given.
async fn every_append_extends_the_one_tree(db: TestDatabase) {
    let log = backend(db.open().await.unwrap());
    let park = Uuid::from_u128(0xb2);
    let mut fixtures = Fixtures::new();
    for minute in 0..5 {
        fixtures.event(
            park,
            at(&format!("2025-04-01T02:{minute:02}:00Z")),
            ParkEvent::from(registered()),
        );
    }
    fixtures.raw_payload(
        AggregateKind::Park,
        park,
        "OccupancyReported",
        1,
        at("2025-05-01T00:00:00Z"),
        b"not json".to_vec(),
    );
    // Two appends, so that the second starts from a tree that is not empty.
    for chunk in fixtures.as_slice().chunks(4) {
        kcn_testkit::log::append(log.as_ref(), chunk).await.unwrap();
    }
    let (stored, reference) = roots(log.as_ref()).await;
    assert_eq!(stored, reference);
    let raw = &log.read_range(6, 1).await.unwrap()[0];
    assert_eq!(
        (raw.payload.as_slice(), raw.aggregate_version),
        (&b"not json"[..], 6)
    );

    let exact = append_stored(
        log.as_ref(),
        vec![StoredEvent {
            position: 0,
            event_id: Uuid::now_v7(),
            aggregate_version: 42,
            ..raw.clone()
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        (exact[0].position, exact[0].aggregate_version),
        (7, 42),
        "positioned after the head, every other field as given"
    );
    assert_eq!(log.read_range(7, 1).await.unwrap(), exact);

    // The server's writer goes on with the same tree.
    let store = EventStore::start(log.clone(), Arc::new(SystemClock), LegalRules::default())
        .await
        .unwrap();
    let outcome = store
        .execute::<Authority, _>(
            Target::New,
            None,
            |authority_id| AuthorityCommand::Establish {
                authority_id,
                occurred_at: at("2025-04-01T00:00:00Z"),
                event: AuthorityEstablished {
                    name: Text::name("Ban quản lý các KCN Bình Dương").unwrap(),
                    kind: AuthorityKind::IndustrialParksBoard,
                    jurisdiction: Text::name("Bình Dương").unwrap(),
                    decision_no: Text::name("QĐ-01/2006").unwrap(),
                    effective_from: date("2006-01-01"),
                },
            },
            context("after-fixtures"),
        )
        .await
        .unwrap();
    assert_eq!(outcome.first_position, 8);
    let (stored, reference) = roots(log.as_ref()).await;
    assert_eq!(stored, reference);
    assert_eq!(store.subscribe().borrow().root, Some(reference));
}

macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn on_sqlite() {
                super::$name(kcn_testkit::TestDatabase::sqlite()).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                if let Some(db) = kcn_testkit::TestDatabase::postgres(stringify!($name)).await {
                    super::$name(db).await;
                }
            }
        }
    )+};
}

on_both_backends!(
    typed_fixtures_are_stored_as_the_server_stores_events,
    every_append_extends_the_one_tree,
);

async fn database_exists(server_url: &str, name: &str) -> bool {
    let mut admin = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(server_url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    found.is_some()
}

/// A PostgreSQL test database is fresh, is what its URL names, and is gone once its guard is dropped,
/// even with a pool still open on it.
#[tokio::test]
async fn a_postgres_test_database_lives_as_long_as_its_guard() {
    let Some(db) =
        PgTestDatabase::create("a_postgres_test_database_lives_as_long_as_its_guard").await
    else {
        return;
    };
    let (server, name) = (db.server_url().to_owned(), db.name().to_owned());
    assert!(name.starts_with("kcn_test_"), "{name}");
    assert!(database_exists(&server, &name).await);
    let backend = PostgresBackend::connect(db.url(), 2).await.unwrap();
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(backend.pool())
        .await
        .unwrap();
    assert_eq!(current, name);
    assert_eq!(backend.head().await.unwrap(), 0, "a fresh log");
    drop(db);
    assert!(
        !database_exists(&server, &name).await,
        "dropped WITH (FORCE)"
    );
    let _ = sqlx::raw_sql(AssertSqlSafe("SELECT 1".to_owned()))
        .execute(backend.pool())
        .await
        .expect_err("its sessions were ended");
}
