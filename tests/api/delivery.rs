//! Delivery to an e-government endpoint through the real server, received by a real HTTP receiver
//! on loopback (axum) that verifies every signature (Standard Webhooks) and fails, hangs past the
//! client's timeout, answers slowly and recovers: every event arrives, in log order, exactly once
//! after deduplication on `webhook-id`, as a CloudEvent naming the event; the same across a restart,
//! and on PostgreSQL with two servers delivering, one of which stops. An endpoint that keeps failing is paused at the event, shown as such, redriven, and
//! an event is skipped explicitly, which the log records.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use kcn_ledger::config::Config;
use kcn_ledger::delivery::EndpointConfig;
use kcn_services::proto;
use kcn_services::proto::delivery_service_client::DeliveryServiceClient;
use serde_json::Value;

use crate::harness::{TestServer, header, seed};

/// A Standard Webhooks secret for the tests ("whsec_" and a base64 key).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Fail,
    /// Longer than the client's timeout.
    Hang,
    Slow,
    Ok,
}

#[derive(Default)]
struct Received {
    script: VecDeque<Answer>,
    /// A position the receiver always refuses.
    refuse: Option<u64>,
    /// Every request answered 2xx: (webhook-id, position, the CloudEvent).
    accepted: Vec<(String, u64, Value)>,
    bad_signatures: usize,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<Received>>,
}

async fn receive(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let webhook = standardwebhooks::Webhook::new(SECRET).unwrap();
    if webhook.verify(&body, &headers).is_err() {
        state.lock().unwrap().bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    let position = event["data"]["position"].as_u64().unwrap();
    let answer = {
        let mut s = state.lock().unwrap();
        if s.refuse == Some(position) {
            Answer::Fail
        } else {
            s.script.pop_front().unwrap_or(Answer::Ok)
        }
    };
    match answer {
        Answer::Fail => return StatusCode::SERVICE_UNAVAILABLE,
        Answer::Hang => tokio::time::sleep(Duration::from_millis(800)).await,
        Answer::Slow => tokio::time::sleep(Duration::from_millis(100)).await,
        Answer::Ok => {}
    }
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    state.lock().unwrap().accepted.push((id, position, event));
    StatusCode::NO_CONTENT
}

impl Receiver {
    async fn start(script: &[Answer]) -> Self {
        let state = Arc::new(Mutex::new(Received {
            script: script.iter().copied().collect(),
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/events", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    /// The positions received, deduplicated on `webhook-id`, in the order first received.
    fn positions(&self) -> Vec<u64> {
        let s = self.state.lock().unwrap();
        let mut seen = HashSet::new();
        s.accepted
            .iter()
            .filter(|(id, _, _)| seen.insert(id.clone()))
            .map(|(_, p, _)| *p)
            .collect()
    }

    async fn wait_for(&self, head: u64) -> Vec<u64> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.positions();
            if got.len() as u64 >= head {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "received {got:?}, waiting for {head}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn endpoint(url: &str) -> impl Fn(&mut Config) + Clone {
    let url = url.to_owned();
    move |c: &mut Config| {
        c.deliveries = vec![EndpointConfig {
            name: "egov-binhduong".into(),
            url: url.clone(),
            secret: Some(SECRET.into()),
            secret_file: None,
            aggregate_types: Vec::new(),
            event_types: Vec::new(),
            max_attempts: 40,
            timeout_ms: 300,
        }];
        c.delivery_retry_base_ms = 10;
        c.delivery_retry_max_ms = 80;
        c.delivery_lease_ms = 1_000;
    }
}

async fn more(server: &TestServer, from: u32, n: u32) {
    crate::subscription::write_companies(server, from, n).await;
}

async fn start(
    dir: tempfile::TempDir,
    postgres: Option<Arc<kcn_testkit::PgTestDatabase>>,
    receiver: &Receiver,
) -> TestServer {
    TestServer::start_configured(dir, postgres, endpoint(&receiver.url)).await
}

async fn every_event_arrives_once_in_order_across_failures_and_a_restart(postgres: bool) {
    let receiver = Receiver::start(&[
        Answer::Fail,
        Answer::Fail,
        Answer::Hang,
        Answer::Slow,
        Answer::Ok,
        Answer::Fail,
        Answer::Slow,
    ])
    .await;
    let db = if postgres {
        match kcn_testkit::PgTestDatabase::create("delivery_restart").await {
            Some(db) => Some(Arc::new(db)),
            None => return,
        }
    } else {
        None
    };
    let server = start(tempfile::tempdir().unwrap(), db.clone(), &receiver).await;
    seed(&server).await;
    more(&server, 0, 15).await;
    let head = server.read_log().await.len() as u64;
    let got = receiver.wait_for(head).await;
    assert_eq!(got, (1..=head).collect::<Vec<_>>());
    // Restarted on the same database: it goes on from where it was, sending nothing twice that it
    // had recorded as delivered.
    let dir = server.stop().await;
    let server = start(dir, db, &receiver).await;
    more(&server, 100, 10).await;
    let head = server.read_log().await.len() as u64;
    let got = receiver.wait_for(head).await;
    assert_eq!(got, (1..=head).collect::<Vec<_>>());
    let log = server.read_log().await;
    let s = receiver.state.lock().unwrap();
    assert_eq!(s.bad_signatures, 0);
    // The CloudEvent names the event.
    let (_, _, first) = &s.accepted[0];
    assert_eq!(first["specversion"], "1.0");
    assert_eq!(first["id"], log[0].event_id);
    assert_eq!(
        first["type"],
        format!("vn.kcn.ledger.{}", log[0].event_type)
    );
    assert_eq!(
        first["subject"],
        format!("{}/{}", log[0].aggregate_type, log[0].aggregate_id)
    );
    let instant = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(
        instant(first["time"].as_str().unwrap()),
        instant(&log[0].occurred_at)
    );
    assert_eq!(first["data"]["occurred_at"], log[0].occurred_at);
    assert_eq!(
        first["data"]["payload"],
        serde_json::from_slice::<Value>(&log[0].payload).unwrap()
    );
}

#[tokio::test]
async fn every_event_arrives_once_in_order_across_failures_and_a_restart_on_sqlite() {
    every_event_arrives_once_in_order_across_failures_and_a_restart(false).await;
}

#[tokio::test]
async fn every_event_arrives_once_in_order_across_failures_and_a_restart_on_postgres() {
    every_event_arrives_once_in_order_across_failures_and_a_restart(true).await;
}

/// Two servers of one PostgreSQL database deliver one endpoint, one at a time (the lease on its
/// row): every event arrives once, in order. When one stops, the other goes on from the last
/// position recorded. (A stopping server hands its lease over at once; one that dies leaves it to
/// run out, `delivery_lease_ms`, a path this in-process test does not kill a server to reach.)
#[tokio::test]
async fn two_servers_deliver_one_endpoint_and_one_goes_on_when_the_other_stops() {
    let receiver = Receiver::start(&[]).await;
    let Some(db) = kcn_testkit::PgTestDatabase::create("delivery_takeover").await else {
        return;
    };
    let db = Arc::new(db);
    let a = start(tempfile::tempdir().unwrap(), Some(db.clone()), &receiver).await;
    let b = start(tempfile::tempdir().unwrap(), Some(db.clone()), &receiver).await;
    seed(&a).await;
    more(&b, 0, 10).await;
    let head = a.read_log().await.len() as u64;
    assert_eq!(
        receiver.wait_for(head).await,
        (1..=head).collect::<Vec<_>>()
    );
    // Whichever was delivering, stop it; the other goes on.
    drop(a.stop().await);
    more(&b, 100, 10).await;
    let head = b.read_log().await.len() as u64;
    assert_eq!(
        receiver.wait_for(head).await,
        (1..=head).collect::<Vec<_>>()
    );
}

fn control(server: &TestServer) -> DeliveryServiceClient<crate::harness::Channel> {
    DeliveryServiceClient::new(server.channel.clone())
}

/// An endpoint that refuses one event is paused at it after max_attempts, and nothing after it is
/// sent; the status shows it; a redrive tries again; a skip is recorded in the log and delivery goes
/// on past the event.
#[tokio::test]
async fn a_failing_endpoint_is_paused_redriven_and_an_event_skipped_on_the_record() {
    let receiver = Receiver::start(&[]).await;
    let refused = 3;
    receiver.state.lock().unwrap().refuse = Some(refused);
    let server = TestServer::start_configured(tempfile::tempdir().unwrap(), None, |c| {
        endpoint(&receiver.url)(c);
        c.deliveries[0].max_attempts = 3;
    })
    .await;
    seed(&server).await;
    let status = loop {
        let list = control(&server)
            .list_deliveries(proto::ListDeliveriesRequest {})
            .await
            .unwrap()
            .into_inner();
        let s = list.deliveries[0].clone();
        if s.paused_position != 0 {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.paused_position, refused);
    assert_eq!(status.delivered_position, refused - 1);
    assert_eq!(status.attempts, 3);
    assert!(status.last_error.contains("503"), "{status:?}");
    assert_eq!(receiver.positions(), [1, 2]);
    // Health names the paused endpoint.
    let health = tonic_health::pb::health_client::HealthClient::new(server.raw_channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "kcn.ledger.v1.DeliveryService/egov-binhduong".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    // A redrive tries again: paused again at the same event.
    control(&server)
        .redrive_delivery(proto::RedriveDeliveryRequest {
            endpoint: "egov-binhduong".into(),
        })
        .await
        .unwrap();
    // A skip of another position is refused; of the paused one, recorded.
    let log = server.read_log().await;
    let wrong = control(&server)
        .skip_delivery_event(proto::SkipDeliveryEventRequest {
            header: header("2026-01-01T00:00:00Z"),
            endpoint: "egov-binhduong".into(),
            position: refused + 1,
            reason: "the platform rejects this event".into(),
            event_id: log[refused as usize].event_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::FailedPrecondition, "{wrong:?}");
    let status = loop {
        let s = control(&server)
            .list_deliveries(proto::ListDeliveriesRequest {})
            .await
            .unwrap()
            .into_inner()
            .deliveries[0]
            .clone();
        if s.paused_position != 0 {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let outcome = control(&server)
        .skip_delivery_event(proto::SkipDeliveryEventRequest {
            header: header("2026-01-01T00:00:00Z"),
            endpoint: "egov-binhduong".into(),
            position: refused,
            reason: "the platform rejects this event".into(),
            event_id: status.paused_event_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let head = outcome.last_position;
    let log = server.read_log().await;
    let skipped = log.last().unwrap();
    assert_eq!(skipped.event_type, "DeliveryEventSkipped");
    let payload: Value = serde_json::from_slice(&skipped.payload).unwrap();
    assert_eq!(payload["position"], refused);
    assert_eq!(payload["event_id"], status.paused_event_id);
    // Delivery goes on past it, up to the skip itself.
    let got = receiver.wait_for(head - 1).await;
    let expected: Vec<u64> = (1..=head).filter(|p| *p != refused).collect();
    assert_eq!(got, expected);
}
