//! Memory stays flat with many slow readers: a log of the largest events the log stores (256 KiB of
//! payload and metadata each), read by 100 concurrent `ReadLog` streams whose clients grant only
//! HTTP/2's minimum window and stop reading, as clients on a slow network do. The server's peak
//! resident memory (`VmHWM` in `/proc/<pid>/status`, reset before the readers start) must stay under
//! the bound derived in the README ("Memory with many slow readers").
//!
//! Each stream holds at most two pages of the log (the one being sent and the one read ahead;
//! `READ_BUDGET_BYTES`, 256 KiB, plus one event, each), tonic's encoding buffer (one message) and
//! hyper's send buffer (400 KiB, plus one chunk): about 1.9 MiB. Before pages were bounded by bytes, each stream read 500 events at once: here the whole
//! 16 MiB log, 1.6 GiB for the 100 readers.

use std::sync::Arc;
use std::time::Duration;

use kcn_domain::LegalRules;
use kcn_domain::company::{CompanyCommand, CompanyRegistered, InfrastructureCompany};
use kcn_domain::values::{EnterpriseCode, Text};
use kcn_eventstore::SystemClock;
use kcn_eventstore::{
    Actor, CommandContext, EventStore, MAX_EVENT_BYTES, SqliteBackend, SqliteDurability, Target,
};
use kcn_services::proto;
use kcn_services::proto::audit_service_client::AuditServiceClient;
use tokio::sync::Barrier;
use tonic::transport::Endpoint;

use crate::server::{ServerProcess, Storage, note};

/// Events in the log, each close to the largest the log stores.
const EVENTS: usize = 64;
/// Concurrent slow readers.
const READERS: usize = 100;
/// The bound on what the readers may add to the server's resident memory, per reader, in KiB:
/// two pages (256 KiB plus one 256 KiB event each), one encoded message (256 KiB) and hyper's send
/// buffer (400 KiB plus one chunk) make about 1.9 MiB; the rest is the allocator's slack.
const PER_READER_KIB: u64 = 2_560;

/// A field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Fills a fresh SQLite log with `EVENTS` company registrations of close to `MAX_EVENT_BYTES`
/// each, through the event store (the domain's own name limit is bypassed, the store's is not).
async fn fill(dir: &std::path::Path) {
    let backend = SqliteBackend::open(&dir.join("kcn-ledger.sqlite"), SqliteDurability::Full)
        .await
        .unwrap();
    let pool = backend.pool().clone();
    let store = EventStore::start(
        Arc::new(backend),
        Arc::new(SystemClock),
        LegalRules::default(),
    )
    .await
    .unwrap();
    let name = Text::parse(&"n".repeat(MAX_EVENT_BYTES - 1_024), usize::MAX).unwrap();
    for i in 0..EVENTS {
        let event = CompanyRegistered {
            enterprise_code: EnterpriseCode::parse(&format!("{}", 3_700_000_000u64 + i as u64))
                .unwrap(),
            name: name.clone(),
            address: None,
        };
        let context = CommandContext {
            scope: Default::default(),
            occurred_at: None,
            actor: Actor {
                principal: "filler".into(),
                organisation: None,
                role: None,
                authentication: "local_principal".into(),
            },
            request_id: format!("fill-{i}"),
            correlation_id: None,
            causation_id: None,
            source: None,
        };
        store
            .execute::<InfrastructureCompany, _>(
                Target::New,
                None,
                move |company_id| CompanyCommand::Register {
                    company_id,
                    occurred_at: "2025-04-01T02:10:00Z".parse().unwrap(),
                    event: event.clone(),
                },
                context,
            )
            .await
            .unwrap();
    }
    drop(store);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_with_a_hundred_slow_readers_of_the_largest_events() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path()).await;
    let server =
        ServerProcess::spawn("reader server", dir.path(), &Storage::Sqlite, "memory").await;
    let pid = server.pid();
    // The read models catch up first (they read the log too), so that what follows is the readers'.
    let mut audit = server.audit();
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = audit
            .get_projection_status(proto::GetProjectionStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if status
            .projections
            .iter()
            .all(|p| p.position == EVENTS as u64 + crate::load::FIRST_START_EVENTS)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "{status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let baseline = status_kib(pid, "VmRSS:");
    // Reset the high-water mark to now, so that VmHWM is the peak while the readers read.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();

    let url = format!("http://{}", server.addr);
    let paused = Arc::new(Barrier::new(READERS + 1));
    let resume = Arc::new(Barrier::new(READERS + 1));
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..READERS {
        // Its own connection, granting the minimum window: the server may send 64 KiB before the
        // reader takes something, as with a reader on a slow link.
        let channel = Endpoint::from_shared(url.clone())
            .unwrap()
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .unwrap();
        let (paused, resume) = (paused.clone(), resume.clone());
        readers.spawn(async move {
            let channel = tonic::service::interceptor::InterceptedService::new(
                channel,
                kcn_ledger::client::Bearer::new(Some(crate::server::ADMIN_TOKEN)).unwrap(),
            );
            let mut client = AuditServiceClient::new(channel).max_decoding_message_size(1 << 20);
            let mut stream = client
                .read_log(proto::ReadLogRequest {
                    from_position: 1,
                    to_position: 0,
                })
                .await
                .unwrap()
                .into_inner();
            let mut positions = Vec::new();
            let first = stream.message().await.unwrap().unwrap();
            positions.push(first.event.unwrap().position);
            // Everyone has a stream open and stops reading: the server's buffers fill up.
            paused.wait().await;
            resume.wait().await;
            while let Some(item) = stream.message().await.unwrap() {
                positions.push(item.event.unwrap().position);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            positions
        });
    }
    paused.wait().await;
    // Let the server fill every stream's buffers while nobody reads: it stops when each stream's
    // window and send buffer are full, whatever the time. Wait until resident memory has not
    // grown for a while, without a fixed sleep deciding the outcome.
    let mut last = status_kib(pid, "VmRSS:");
    let mut steady = 0;
    let settle_by = tokio::time::Instant::now() + Duration::from_secs(60);
    while steady < 10 && tokio::time::Instant::now() < settle_by {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = status_kib(pid, "VmRSS:");
        steady = if now > last + 1_024 { 0 } else { steady + 1 };
        last = last.max(now);
    }
    let while_paused = status_kib(pid, "VmHWM:");
    resume.wait().await;
    while let Some(positions) = readers.join_next().await {
        assert_eq!(
            positions.unwrap(),
            (1..=EVENTS as u64 + crate::load::FIRST_START_EVENTS).collect::<Vec<_>>(),
            "every reader got the whole log in order (with the first administrator after it)"
        );
    }
    let peak = status_kib(pid, "VmHWM:");
    note(&format!(
        "server RSS: {} MiB before the readers, {} MiB peak with {READERS} paused readers, \
         {} MiB peak after they read the {} MiB log",
        baseline / 1024,
        while_paused / 1024,
        peak / 1024,
        (EVENTS * MAX_EVENT_BYTES) >> 20
    ));
    let bound = baseline + READERS as u64 * PER_READER_KIB;
    assert!(
        peak <= bound,
        "the server's resident memory peaked at {} MiB with {READERS} slow readers, above the \
         bound of {} MiB ({} MiB before them plus {PER_READER_KIB} KiB per reader)",
        peak / 1024,
        bound / 1024,
        baseline / 1024
    );
    server.terminate().await;
}
