//! `AuditService/Subscribe` through the real server: a subscriber that disconnects at random points
//! and resumes while commands are being written sees every event exactly once and in log order, on
//! both backends and, on PostgreSQL, moving between two servers of one database while both write;
//! the filters by type, park and company; a request out of range; and the end of a stream when the
//! server shuts down, naming where to resume.

use std::time::Duration;

use kcn_services::proto;
use tokio_stream::StreamExt as _;

use crate::harness::{TestServer, header, on_both_backends, seed};

fn subscribe(after: u64) -> proto::SubscribeRequest {
    proto::SubscribeRequest {
        after_position: after,
        ..Default::default()
    }
}

/// Registers `n` companies through `server`, one at a time, each a new event.
pub(crate) async fn write_companies(server: &TestServer, from: u32, n: u32) {
    let mut registry = server.registry();
    for i in from..from + n {
        registry
            .register_company(proto::RegisterCompanyRequest {
                header: header("2025-04-03T02:00:00Z"),
                enterprise_code: format!("{}", 3_800_000_000u64 + u64::from(i)),
                name: format!("Công ty Hạ tầng số {i}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

/// A deterministic sequence of small numbers: where the subscriber disconnects.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Follows `servers` in turn, dropping the stream after a random number of messages and resuming
/// after the last event received, until it has passed `until`; answers every event position seen.
async fn follow(servers: &[&TestServer], until: u64, seed: u64) -> Vec<u64> {
    let mut rng = Lcg(seed);
    let mut seen = Vec::new();
    let mut after = 0;
    let mut turn = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while after < until {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck after {after}"
        );
        let server = servers[turn % servers.len()];
        turn += 1;
        let mut stream = server
            .audit()
            .subscribe(subscribe(after))
            .await
            .unwrap()
            .into_inner();
        let take = 1 + rng.next(12);
        for _ in 0..take {
            let Some(message) = stream.next().await else {
                break;
            };
            match message.unwrap().item.unwrap() {
                proto::subscribe_response::Item::Event(e) => {
                    seen.push(e.position);
                    after = e.position;
                }
                proto::subscribe_response::Item::Heartbeat(h) => {
                    assert!(h.after_position >= after);
                    assert!(h.head_position >= h.after_position);
                    after = h.after_position;
                    if after >= until {
                        break;
                    }
                }
            }
        }
        // Dropped here: a disconnection at a random point.
    }
    seen
}

async fn a_resumed_subscription_sees_every_event_once_and_in_order(server: TestServer) {
    seed(&server).await;
    let writes = 60;
    let before = server.read_log().await.len() as u64;
    let servers = [&server];
    let (_, seen) = tokio::join!(
        write_companies(&server, 0, writes),
        follow(&servers, before + u64::from(writes), 7)
    );
    let expected: Vec<u64> = (1..=before + u64::from(writes)).collect();
    assert_eq!(seen, expected);
}

async fn filters_by_type_park_and_company(server: TestServer) {
    let p = seed(&server).await;
    let other = crate::harness::seed_another(&server, 1).await;
    let head = server.read_log().await.len() as u64;
    let collect = |request: proto::SubscribeRequest| {
        let server = &server;
        async move {
            let mut stream = server
                .audit()
                .subscribe(request)
                .await
                .unwrap()
                .into_inner();
            let mut got = Vec::new();
            while let Some(m) = stream.next().await {
                match m.unwrap().item.unwrap() {
                    proto::subscribe_response::Item::Event(e) => {
                        got.push((e.aggregate_type, e.aggregate_id, e.event_type))
                    }
                    proto::subscribe_response::Item::Heartbeat(h) if h.after_position >= head => {
                        break;
                    }
                    proto::subscribe_response::Item::Heartbeat(_) => {}
                }
            }
            got
        }
    };
    let parks = collect(proto::SubscribeRequest {
        aggregate_types: vec!["Park".into()],
        ..subscribe(0)
    })
    .await;
    assert!(parks.iter().all(|(t, _, _)| t == "Park"));
    assert_eq!(
        parks
            .iter()
            .filter(|(_, _, e)| e == "ParkRegistered")
            .count(),
        2
    );
    let registered = collect(proto::SubscribeRequest {
        event_types: vec!["TenantRegistered".into()],
        ..subscribe(0)
    })
    .await;
    let tenants: Vec<&str> = registered.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(tenants, [p.tenant.as_str(), other.tenant.as_str()]);
    // The park's timeline: the park's own events and its tenant's, not the other park's.
    crate::harness::read_models_at_head(&server).await;
    let on_park = collect(proto::SubscribeRequest {
        park_ids: vec![p.park.clone()],
        ..subscribe(0)
    })
    .await;
    assert!(on_park.iter().any(|(_, id, _)| id == &p.park));
    assert!(on_park.iter().any(|(_, id, _)| id == &p.tenant));
    assert!(
        !on_park
            .iter()
            .any(|(_, id, _)| id == &other.park || id == &other.tenant)
    );
    // The company: its registration, and its park's assignment (which names it).
    let on_company = collect(proto::SubscribeRequest {
        company_ids: vec![p.company.clone()],
        event_types: vec![
            "CompanyRegistered".into(),
            "InfrastructureCompanyAssigned".into(),
        ],
        ..subscribe(0)
    })
    .await;
    let kinds: Vec<&str> = on_company.iter().map(|(_, _, e)| e.as_str()).collect();
    assert_eq!(
        kinds,
        ["CompanyRegistered", "InfrastructureCompanyAssigned"]
    );
}

on_both_backends!(
    a_resumed_subscription_sees_every_event_once_and_in_order,
    filters_by_type_park_and_company,
);

/// Two servers of one PostgreSQL database both write, and the subscriber moves between them at
/// random points: each event committed by either is seen once, in log order.
#[tokio::test]
async fn two_servers_of_one_database_serve_one_subscription() {
    let Some(a) = TestServer::start_postgres("two_servers_subscription").await else {
        return;
    };
    let b = TestServer::start_with(tempfile::tempdir().unwrap(), a.postgres.clone()).await;
    seed(&a).await;
    let before = a.read_log().await.len() as u64;
    let servers = [&a, &b];
    let (_, _, seen) = tokio::join!(
        write_companies(&a, 0, 30),
        write_companies(&b, 100, 30),
        follow(&servers, before + 60, 11)
    );
    let expected: Vec<u64> = (1..=before + 60).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_subscription_out_of_range_is_refused_by_field() {
    let server = TestServer::start().await;
    seed(&server).await;
    let status = server
        .audit()
        .subscribe(proto::SubscribeRequest {
            after_position: 1_000,
            aggregate_types: vec!["Parc".into()],
            event_types: vec!["ParkOpened".into()],
            park_ids: vec!["not-a-uuid".into()],
            company_ids: Vec::new(),
        })
        .await
        .unwrap_err();
    let mut fields = crate::harness::violated_fields(&status);
    fields.sort();
    fields.dedup();
    assert_eq!(
        fields,
        [
            "after_position",
            "aggregate_types",
            "event_types",
            "park_ids"
        ]
    );
}

/// A shutdown ends every open subscription, naming the position to resume after, and the server
/// finishes.
#[tokio::test]
async fn a_shutdown_ends_a_subscription_with_where_to_resume() {
    let mut server = TestServer::start().await;
    seed(&server).await;
    let head = server.read_log().await.len() as u64;
    let mut stream = server
        .audit()
        .subscribe(subscribe(0))
        .await
        .unwrap()
        .into_inner();
    let mut last = 0;
    while let proto::subscribe_response::Item::Event(e) =
        stream.next().await.unwrap().unwrap().item.unwrap()
    {
        last = e.position;
    }
    assert_eq!(last, head);
    let running = server.running.take().unwrap();
    let stopped = tokio::spawn(running.shutdown());
    let status = loop {
        match stream.next().await {
            Some(Err(status)) => break status,
            Some(Ok(_)) => {}
            None => panic!("the stream ended without a status"),
        }
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains(&format!("after_position {head}")),
        "{status:?}"
    );
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server finishes with a subscription open")
        .unwrap()
        .unwrap();
}
