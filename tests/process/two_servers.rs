//! Two server processes on one PostgreSQL database: concurrent writers against both get one gap-free
//! order, one elected process applies every event to the read models exactly once, both answer
//! read-your-writes queries, and when the leader is killed the other takes the projectors over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use kcn_services::proto;

use crate::load::{self, Command, Ledger};
use kcn_testkit::PgTestDatabase;

use crate::server::{LEADING, ServerProcess, Storage, note, open, with_secret};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_database_share_one_order_and_project_each_event_once() {
    let Some(db) = PgTestDatabase::create("two_servers_on_one_postgres_database").await else {
        return;
    };
    let (url, secret) = with_secret(db.url()).await;
    let storage = Storage::Postgres {
        url,
        via_env: false,
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both start at once: migrations and the leader election race, as in a real roll-out.
    let (a, b) = tokio::join!(
        ServerProcess::spawn("server A", dir_a.path(), &storage, "two-servers"),
        ServerProcess::spawn("server B", dir_b.path(), &storage, "two-servers"),
    );
    let (log, read_db) = open(dir_a.path(), &storage).await;
    if secret.is_none() {
        note("the database URL has no password the test could check the logs for");
    }
    for server in [&a, &b] {
        assert!(
            server.logged("event log opened"),
            "{} names its database",
            server.name
        );
        if let Some(secret) = &secret {
            let leaked: Vec<String> = server
                .lines()
                .into_iter()
                .filter(|l| l.contains(secret.as_str()))
                .collect();
            assert!(
                leaked.is_empty(),
                "the database password was logged: {leaked:?}"
            );
        }
    }

    let mut ledger = Ledger::default();
    let park_command = load::park("park");
    let park = park_command.send(&mut a.registry()).await.unwrap();
    ledger.acked.push((park_command, park.clone()));

    // 16 clients, 8 on each server, 25 commands each.
    let clients = load::drive(
        &[&a, &b],
        16,
        25,
        "load",
        &park.aggregate_id,
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    load::collect(clients, &mut ledger).await;
    assert!(ledger.unknown.is_empty(), "every command was answered");
    assert_eq!(ledger.acked.len(), 401);
    let head = load::check_log(log.as_ref(), &ledger).await;
    assert_eq!(
        head,
        401 + load::FIRST_START_EVENTS,
        "one event per command, after the first administrator"
    );
    load::check_read_models(
        &[&a, &b],
        &log,
        &read_db,
        &storage,
        head,
        ledger.timeline_entries(),
    )
    .await;
    let leaders: Vec<&ServerProcess> = [&a, &b].into_iter().filter(|s| s.logged(LEADING)).collect();
    assert_eq!(leaders.len(), 1, "exactly one process runs the projectors");

    // The leader dies: the follower takes over, and reads its own writes.
    let (leader, follower) = if a.logged(LEADING) { (a, b) } else { (b, a) };
    leader.kill().await;
    let mut last = 0;
    for i in 0..20 {
        let command = load::nth(&format!("after-{i}"), 0, &park.aggregate_id, None);
        let outcome = command.send(&mut follower.registry()).await.unwrap();
        last = outcome.last_position;
        ledger.acked.push((command, outcome));
    }
    let page = tokio::time::timeout(
        Duration::from_secs(20),
        follower.audit().get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Company as i32,
            subject_id: ledger.acked.last().unwrap().1.aggregate_id.clone(),
            min_position: last,
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .expect("the surviving server catches up and answers");
    assert_eq!(page.into_inner().entries.len(), 1);
    assert!(follower.logged(LEADING), "the follower took the lead");
    let head = load::check_log(log.as_ref(), &ledger).await;
    assert_eq!(head, 421 + load::FIRST_START_EVENTS);
    load::check_read_models(
        &[&follower],
        &log,
        &read_db,
        &storage,
        head,
        ledger.timeline_entries(),
    )
    .await;
    assert!(matches!(ledger.acked[1].0, Command::Company(_)));
    follower.terminate().await;
}
