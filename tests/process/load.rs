//! The load the process tests drive: concurrent clients sending a mix of commands with their own
//! request ids, and the checks of what a server stored: every acknowledged command's events at the
//! positions it was told, positions exactly 1..N, and read models that reached the head with each
//! event applied once and the same rows a rebuild from scratch gives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kcn_eventstore::Backend;
use kcn_ledger::client::AuthChannel as Channel;
use kcn_projections::{Engine, ReadDatabase, ReadSide, models};
use kcn_services::proto;
use kcn_services::proto::registry_service_client::RegistryServiceClient;

use crate::server::{ServerProcess, Storage, empty_like};

/// One command, kept whole so that a command whose outcome is unknown can be sent again as is.
#[derive(Debug, Clone)]
pub enum Command {
    Park(proto::RegisterParkRequest),
    Company(proto::RegisterCompanyRequest),
    Rename(proto::ChangeCompanyDetailsRequest),
    Tenant(proto::RegisterTenantRequest),
    Authority(proto::EstablishAuthorityRequest),
}

impl Command {
    /// How many timeline entries the command's one event makes: a park, a company and its renames
    /// are on their own timelines, a tenant on its own and its park's, an authority on its own.
    pub fn timeline_entries(&self) -> usize {
        match self {
            Self::Park(_) | Self::Company(_) | Self::Rename(_) | Self::Authority(_) => 1,
            Self::Tenant(_) => 2,
        }
    }

    pub async fn send(
        &self,
        reg: &mut RegistryServiceClient<Channel>,
    ) -> Result<proto::CommandOutcome, tonic::Status> {
        let outcome = match self.clone() {
            Self::Park(r) => reg.register_park(r).await?.into_inner().outcome,
            Self::Company(r) => reg.register_company(r).await?.into_inner().outcome,
            Self::Rename(r) => reg.change_company_details(r).await?.into_inner().outcome,
            Self::Tenant(r) => reg.register_tenant(r).await?.into_inner().outcome,
            Self::Authority(r) => reg.establish_authority(r).await?.into_inner().outcome,
        };
        Ok(outcome.expect("a command answers with its outcome"))
    }
}

fn header(request_id: &str, occurred_at: &str) -> Option<proto::CommandHeader> {
    let t: chrono::DateTime<chrono::Utc> = occurred_at.parse().unwrap();
    Some(proto::CommandHeader {
        request_id: request_id.to_owned(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: 0,
        }),
        ..Default::default()
    })
}

/// A ten-digit enterprise code of the request: a retried request is the same command, and two
/// requests register two codes (codes are unique).
fn code_of(request_id: &str, base: u64) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    request_id.hash(&mut h);
    (base + h.finish() % 100_000_000).to_string()
}

pub fn park(request_id: &str) -> Command {
    Command::Park(proto::RegisterParkRequest {
        header: header(request_id, "2025-04-01T02:20:00Z"),
        code: "DONGAN-1".into(),
        name: "KCN Đồng An".into(),
        area_ha: "138.7".into(),
        location: "Thuận An, Bình Dương".into(),
    })
}

/// The `k`-th command of a client: companies, renames of the client's last company, tenants of the
/// park and authorities, in turn.
pub fn nth(request_id: &str, k: usize, park_id: &str, last_company: Option<&str>) -> Command {
    match (k % 4, last_company) {
        (1, Some(company)) => Command::Rename(proto::ChangeCompanyDetailsRequest {
            header: header(request_id, "2025-06-01T00:00:00Z"),
            company_id: company.to_owned(),
            name: Some(format!("Renamed {request_id}")),
            address: None,
        }),
        (2, _) => Command::Tenant(proto::RegisterTenantRequest {
            header: header(request_id, "2025-04-02T03:00:00Z"),
            park_id: park_id.to_owned(),
            enterprise_code: code_of(request_id, 3_800_000_000),
            name: format!("Tenant {request_id}"),
            investment_registration_no: "9876543210".into(),
            vsic_codes: vec![proto::VsicCode {
                code: "1610".into(),
                version: "2018".into(),
            }],
            foreign_invested: false,
        }),
        (3, _) => Command::Authority(proto::EstablishAuthorityRequest {
            header: header(request_id, "2025-04-01T02:00:00Z"),
            name: format!("Board {request_id}"),
            kind: proto::AuthorityKind::IndustrialParksBoard as i32,
            jurisdiction: "Bình Dương".into(),
            decision_no: "QĐ-01/2006".into(),
            effective_from: "2006-01-01".into(),
        }),
        _ => Command::Company(proto::RegisterCompanyRequest {
            header: header(request_id, "2025-04-01T02:10:00Z"),
            enterprise_code: code_of(request_id, 3_700_000_000),
            name: format!("Company {request_id}"),
            address: String::new(),
        }),
    }
}

/// What the clients learned: the acknowledged commands with their outcomes, and the commands whose
/// outcome is unknown (in flight when the server died).
#[derive(Debug, Default)]
pub struct Ledger {
    pub acked: Vec<(Command, proto::CommandOutcome)>,
    pub unknown: Vec<Command>,
}

impl Ledger {
    /// The timeline entries the acknowledged commands make.
    pub fn timeline_entries(&self) -> usize {
        self.acked.iter().map(|(c, _)| c.timeline_entries()).sum()
    }
}

/// Runs `clients` concurrent clients spread over `servers`, each sending up to `per_client`
/// commands, or until `stop` turns true or its server stops answering. `acked` counts the
/// acknowledgements as they come.
pub async fn drive(
    servers: &[&ServerProcess],
    clients: usize,
    per_client: usize,
    tag: &str,
    park_id: &str,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> tokio::task::JoinSet<Ledger> {
    let mut set = tokio::task::JoinSet::new();
    for c in 0..clients {
        let mut reg = servers[c % servers.len()].registry();
        let (tag, park_id, stop, acked) = (
            tag.to_owned(),
            park_id.to_owned(),
            stop.clone(),
            acked.clone(),
        );
        set.spawn(async move {
            let mut ledger = Ledger::default();
            let mut last_company: Option<String> = None;
            for k in 0..per_client {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let command = nth(
                    &format!("{tag}-c{c}-{k}"),
                    k,
                    &park_id,
                    last_company.as_deref(),
                );
                match command.send(&mut reg).await {
                    Ok(outcome) => {
                        if matches!(command, Command::Company(_)) {
                            last_company = Some(outcome.aggregate_id.clone());
                        }
                        acked.fetch_add(1, Ordering::SeqCst);
                        ledger.acked.push((command, outcome));
                    }
                    Err(_) => {
                        // The server is gone (or going): whether this one committed is unknown.
                        ledger.unknown.push(command);
                        break;
                    }
                }
            }
            ledger
        });
    }
    set
}

/// Collects what every client learned.
pub async fn collect(mut set: tokio::task::JoinSet<Ledger>, into: &mut Ledger) {
    while let Some(ledger) = set.join_next().await {
        let ledger = ledger.unwrap();
        into.acked.extend(ledger.acked);
        into.unknown.extend(ledger.unknown);
    }
}

/// Checks the stored log against what was acknowledged: positions exactly 1..N, and every
/// acknowledged command's events at the positions its outcome named. Returns N.
/// The events a fresh log holds before any command: the first administrator's `PrincipalIssued`.
pub const FIRST_START_EVENTS: u64 = 1;

/// Checks the log against the acknowledged commands and answers its head.
pub async fn check_log(log: &dyn Backend, ledger: &Ledger) -> u64 {
    let head = log.head().await.unwrap();
    let events = log
        .read_range(1, u32::try_from(head + 1).unwrap())
        .await
        .unwrap();
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        (1..=head).collect::<Vec<_>>(),
        "positions are 1..N"
    );
    for (command, outcome) in &ledger.acked {
        assert_eq!(
            outcome.last_position + 1 - outcome.first_position,
            outcome.event_ids.len() as u64
        );
        for (i, id) in outcome.event_ids.iter().enumerate() {
            let stored = events
                .get((outcome.first_position - 1) as usize + i)
                .unwrap_or_else(|| {
                    panic!("acknowledged {command:?} at {outcome:?} is missing from the log")
                });
            assert_eq!(
                stored.event_id.to_string(),
                *id,
                "acknowledged {command:?} is at its position"
            );
        }
    }
    head
}

/// Waits until every given server reports the timeline at `head`, then checks the read model in
/// `db`: checkpoint at `head`, every event applied once, the expected number of timeline entries,
/// and exactly the rows a rebuild from position 0 into an empty database gives.
pub async fn check_read_models(
    servers: &[&ServerProcess],
    log: &Arc<dyn Backend>,
    db: &ReadDatabase,
    storage: &Storage,
    head: u64,
    entries: usize,
) {
    for server in servers {
        let mut audit = server.audit();
        let end = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let status = audit
                .get_projection_status(proto::GetProjectionStatusRequest {})
                .await
                .unwrap()
                .into_inner();
            let timeline = &status.projections[0];
            assert!(timeline.error.is_empty(), "{}: {timeline:?}", server.name);
            if timeline.position == head && timeline.log_head == head {
                break;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "{} did not report the timeline at {head}: {timeline:?}",
                server.name
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let engine = Engine::open(db, log.clone(), models::all()).await.unwrap();
    for name in engine.names() {
        let (position, applied) = engine.checkpoint(name).await.unwrap();
        assert_eq!(position, head, "{name}: the checkpoint is at the head");
        assert_eq!(applied, head, "{name}: each event was applied exactly once");
    }
    let live = ReadSide::over(engine).timeline().snapshot().await.unwrap();
    assert_eq!(live.entries.len(), entries, "the timeline's entries");
    let (fresh, _guard) = empty_like(storage).await;
    let rebuilt = Engine::open(&fresh, log.clone(), models::all())
        .await
        .unwrap();
    let reached = rebuilt.catch_up().await.unwrap();
    assert!(reached.values().all(|p| *p == head), "{reached:?}");
    let rebuilt = ReadSide::over(rebuilt).timeline().snapshot().await.unwrap();
    assert_eq!(
        rebuilt, live,
        "the live read model equals a rebuild from scratch"
    );
}
