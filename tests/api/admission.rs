//! What the server admits at once (issue 11): a principal past its rate, calls past the
//! concurrency limit and messages past the size limit are refused with a status a caller can act
//! on, and other principals are served meanwhile.

use std::time::Duration;

use kcn_services::proto;
use kcn_services::proto::principal_service_client::PrincipalServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{Channel, TestServer, header, with_token};

const ADMIN: &str = "kcn_admission-test-first-administrator-token-0000";

async fn start(configure: impl FnOnce(&mut kcn_ledger::config::Config)) -> TestServer {
    TestServer::with_first_administrator(ADMIN, configure).await
}

async fn whoami(channel: &Channel) -> Result<(), tonic::Status> {
    PrincipalServiceClient::new(channel.clone())
        .get_caller(proto::GetCallerRequest {})
        .await
        .map(drop)
}

fn exhausted(status: &tonic::Status, reason: &str) -> Duration {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(status.get_details_error_info().unwrap().reason, reason);
    let retry = status.get_details_retry_info().expect("RetryInfo");
    retry.retry_delay.expect("a delay")
}

#[tokio::test]
async fn a_principal_past_its_rate_waits_and_the_others_are_served() {
    let server = start(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 3;
    })
    .await;
    let admin = with_token(&server.raw_channel, Some(ADMIN));
    let mut refused = None;
    for _ in 0..10 {
        if let Err(status) = whoami(&server.channel).await {
            refused = Some(status);
            break;
        }
    }
    let status = refused.expect("the embedded principal is limited within ten calls");
    let delay = exhausted(&status, "RATE_LIMITED");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );
    // Another principal has a bucket of its own.
    whoami(&admin).await.expect("the administrator is served");
    // After the delay the limited principal is served again.
    tokio::time::sleep(delay).await;
    whoami(&server.channel).await.expect("served after waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_the_concurrency_limit_are_shed_at_once_with_a_retry_delay() {
    let server = start(|c| c.max_concurrent_calls = 1).await;
    // A token's call reads its credential and principal from the database: it holds its place.
    let admin = with_token(&server.raw_channel, Some(ADMIN));
    let calls: Vec<_> = (0..64)
        .map(|_| {
            let channel = admin.clone();
            tokio::spawn(async move { whoami(&channel).await })
        })
        .collect();
    let mut served = 0;
    let mut shed = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(()) => served += 1,
            Err(status) => {
                exhausted(&status, "TOO_MANY_CALLS");
                shed += 1;
            }
        }
    }
    assert!(served >= 1, "none served");
    assert!(
        shed >= 1,
        "none of 64 concurrent calls was shed with one admitted at a time"
    );
}

#[tokio::test]
async fn a_message_past_the_size_limit_is_refused_and_records_nothing() {
    let server = start(|c| c.max_message_bytes = 4096).await;
    let p = crate::harness::seed(&server).await;
    let before = server.read_log().await.len();
    let status = proto::incident_service_client::IncidentServiceClient::new(server.channel.clone())
        .report_incident(proto::ReportIncidentRequest {
            header: header("2025-06-01T02:00:00Z"),
            park_id: p.park.clone(),
            description: "x".repeat(8192),
            ..Default::default()
        })
        .await
        .unwrap_err();
    // Refused as the caller's bad argument, with tonic's description naming the limit.
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(crate::harness::violated_fields(&status), ["request"]);
    assert!(status.message().contains("4096"), "{status:?}");
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn the_server_ends_a_call_at_the_callers_deadline() {
    let server = start(|_| {}).await;
    let addr = server.running.as_ref().unwrap().addr;
    // A raw HTTP/2 client (tonic's own would enforce the deadline itself): a deadline of 300 ms,
    // and a request body that never comes.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{addr}/kcn.ledger.v1.PrincipalService/GetCaller"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "300m")
        .header(
            "authorization",
            format!("Bearer {}", crate::harness::EMBEDDED_TOKEN),
        )
        .body(())
        .unwrap();
    let started = std::time::Instant::now();
    let (response, _body_never_sent) = client.send_request(request, false).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("the server answered before the test's own bound")
        .unwrap();
    let (parts, mut body) = response.into_parts();
    let status = match parts.headers.get("grpc-status") {
        Some(s) => s.to_str().unwrap().to_owned(),
        None => body
            .trailers()
            .await
            .unwrap()
            .and_then(|t| t.get("grpc-status").map(|s| s.to_str().unwrap().to_owned()))
            .expect("a grpc-status"),
    };
    let elapsed = started.elapsed();
    // tonic's server answers CANCELLED ("Timeout expired") when a call's deadline passes.
    assert_eq!(status, "1", "grpc-status");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}"
    );
}
