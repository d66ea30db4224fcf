//! Delivery to an e-government endpoint across the death of the delivering server: two server
//! processes on one PostgreSQL database, one endpoint, a real HTTP receiver in the test that checks
//! every Standard Webhooks signature. The server holding the endpoint's lease is killed with
//! SIGKILL mid-delivery; the other takes the endpoint over when the lease runs out and the receiver
//! gets every event of the log, in log order, exactly once after deduplication on `webhook-id`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use kcn_ledger::delivery::DELIVERING;
use kcn_testkit::PgTestDatabase;

use crate::load::{self, Ledger};
use crate::server::{ServerProcess, Storage, open, with_secret};

/// A Standard Webhooks secret for the test ("whsec_" and a base64 key).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct Received {
    /// Every request answered 2xx, in arrival order: (webhook-id, position).
    accepted: Vec<(String, u64)>,
    bad_signatures: usize,
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
    // Slow enough that the kill lands mid-delivery.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let position = event["data"]["position"].as_u64().unwrap();
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    state.lock().unwrap().accepted.push((id, position));
    StatusCode::NO_CONTENT
}

/// The positions received, first arrivals only (deduplicated on `webhook-id`), in arrival order.
fn deduplicated(received: &Received) -> Vec<u64> {
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut positions = Vec::new();
    for (id, position) in &received.accepted {
        match seen.get(id.as_str()) {
            Some(p) => assert_eq!(p, position, "one webhook-id names one event"),
            None => {
                seen.insert(id, *position);
                positions.push(*position);
            }
        }
    }
    positions
}

/// Polls `done` every 50 ms until it holds or `deadline` passes; answers whether it held.
async fn wait_for(deadline: Duration, done: impl Fn() -> bool) -> bool {
    let until = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < until {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_goes_on_in_order_when_the_delivering_server_dies() {
    let Some(db) = PgTestDatabase::create("delivery_goes_on_when_the_server_dies").await else {
        return;
    };
    let state = Arc::new(Mutex::new(Received::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/events", axum::routing::post(receive))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("kcn-ledger.toml");
    std::fs::write(
        &config,
        format!(
            "delivery_lease_ms = 1500\ndelivery_retry_base_ms = 50\n\n\
             [[deliveries]]\nname = \"province\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (db_url, _) = with_secret(db.url()).await;
    let storage = Storage::Postgres {
        url: db_url,
        via_env: false,
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = [("KCN_CONFIG", config)];
    let (a, b) = tokio::join!(
        ServerProcess::spawn_with_env("server A", dir_a.path(), &storage, "delivery", &env),
        ServerProcess::spawn_with_env("server B", dir_b.path(), &storage, "delivery", &env),
    );
    let (log, _read_db) = open(dir_a.path(), &storage).await;

    let mut ledger = Ledger::default();
    let park_command = load::park("park");
    let park = park_command.send(&mut a.registry()).await.unwrap();
    ledger.acked.push((park_command, park.clone()));
    let clients = load::drive(
        &[&a, &b],
        4,
        40,
        "before",
        &park.aggregate_id,
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    load::collect(clients, &mut ledger).await;
    assert!(ledger.unknown.is_empty(), "every command was answered");

    // Kill the delivering server while it is part way through the log.
    let started = wait_for(Duration::from_secs(30), || {
        state.lock().unwrap().accepted.len() >= 20
    })
    .await;
    assert!(started, "delivery started");
    let (delivering, other) = match (a.logged(DELIVERING), b.logged(DELIVERING)) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        both => panic!("exactly one server delivers to the endpoint: {both:?}"),
    };
    let delivered_before = state.lock().unwrap().accepted.len();
    delivering.kill().await;
    let head_at_kill = 1 + ledger.acked.len();

    // The survivor takes the endpoint over and goes on, with new events too.
    let clients = load::drive(
        &[&other],
        2,
        20,
        "after",
        &park.aggregate_id,
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    load::collect(clients, &mut ledger).await;
    assert!(ledger.unknown.is_empty(), "every command was answered");
    let head = load::check_log(log.as_ref(), &ledger).await;
    let complete = wait_for(Duration::from_secs(60), || {
        deduplicated(&state.lock().unwrap()).len() as u64 >= head
    })
    .await;
    let (positions, bad_signatures) = {
        let received = state.lock().unwrap();
        (deduplicated(&received), received.bad_signatures)
    };
    assert!(
        complete,
        "{} of {head} events arrived ({delivered_before} before the kill)",
        positions.len()
    );
    assert_eq!(
        positions,
        (1..=head).collect::<Vec<u64>>(),
        "every event, in log order, exactly once after deduplication"
    );
    assert_eq!(bad_signatures, 0, "every signature is valid");
    assert!(
        other.logged(DELIVERING),
        "the survivor took the endpoint over"
    );
    assert!(
        delivered_before < head_at_kill,
        "the kill came part way through the delivery ({delivered_before} of {head_at_kill})"
    );
    other.terminate().await;
}
