//! The Prometheus endpoint, scraped over HTTP after real RPCs: per-RPC counts and latency
//! histograms by method and status code, append batches and commit latency, each read model's
//! position and lag, the latest checkpoint, and the process's memory.
//!
//! The `metrics` facade has one recorder per process and every server of this test binary records
//! into it, so the test checks the series its own calls must have made and counts at least as
//! large as its own.

use std::net::SocketAddr;
use std::time::Duration;

use kcn_services::proto;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{TestServer, header, seed, wait_until};

/// `GET /metrics` over HTTP/1.1: the status line, the headers and the body.
async fn scrape(addr: SocketAddr) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: kcn-ledger\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|(_, value)| value.parse().ok())
}

const REGISTER_COMPANY: &str = "/kcn.ledger.v1.RegistryService/RegisterCompany";

#[tokio::test]
async fn the_metrics_endpoint_serves_rpcs_appends_read_models_checkpoints_and_memory() {
    let server = TestServer::start_configured(tempfile::tempdir().unwrap(), None, |c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = server.running.as_ref().unwrap().metrics_addr.unwrap();
    let province = seed(&server).await;
    // A refused call, a streamed read and a path that is no method of the server.
    let refused = server
        .registry()
        .register_company(proto::RegisterCompanyRequest {
            header: header("2025-04-01T02:10:00Z"),
            enterprise_code: "not a code".into(),
            name: "X".into(),
            address: "Y".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(server.read_log().await.len() as u64, province.last_position);
    let mut grpc = tonic::client::Grpc::new(server.channel.clone());
    grpc.ready().await.unwrap();
    let unknown = grpc
        .unary::<(), (), _>(
            tonic::Request::new(()),
            "/kcn.ledger.v1.NoSuchService/Anything".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unimplemented);

    // The sampled gauges appear within a second or two of the start.
    let complete = wait_until(Duration::from_secs(20), || async {
        let body = scrape(addr).await.1;
        sample(
            &body,
            "kcn_read_model_position",
            &[("read_model", "timeline")],
        )
        .is_some_and(|p| p >= province.last_position as f64)
            && sample(&body, "kcn_checkpoint_size", &[]).is_some_and(|n| n >= 1.0)
    })
    .await;
    assert!(
        complete,
        "the gauges never appeared:\n{}",
        scrape(addr).await.1
    );

    let (head, body) = scrape(addr).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase().contains("content-type: text/plain"),
        "{head}"
    );
    let count = |code: &str| {
        sample(
            &body,
            "kcn_rpc_requests_total",
            &[("method", REGISTER_COMPANY), ("code", code)],
        )
        .unwrap_or(0.0)
    };
    assert!(count("OK") >= 1.0, "{body}");
    assert!(count("INVALID_ARGUMENT") >= 1.0, "{body}");
    let read_log = [
        ("method", "/kcn.ledger.v1.AuditService/ReadLog"),
        ("code", "OK"),
    ];
    assert!(sample(&body, "kcn_rpc_requests_total", &read_log).is_some_and(|n| n >= 1.0));
    assert!(
        sample(
            &body,
            "kcn_rpc_requests_total",
            &[("method", "unknown"), ("code", "UNIMPLEMENTED")]
        )
        .is_some_and(|n| n >= 1.0),
        "{body}"
    );
    assert!(
        !body.contains("NoSuchService"),
        "a caller's path is never a label"
    );
    // Latency histograms with buckets, by method and code.
    let ok = [("method", REGISTER_COMPANY), ("code", "OK")];
    assert!(
        sample(&body, "kcn_rpc_duration_seconds_count", &ok).is_some_and(|n| n >= 1.0),
        "{body}"
    );
    assert!(
        sample(
            &body,
            "kcn_rpc_duration_seconds_bucket",
            &[ok[0], ok[1], ("le", "+Inf")]
        )
        .is_some_and(|n| n >= 1.0)
    );
    // Group commit: batches of at least one command each, and their commit times.
    assert!(sample(&body, "kcn_append_batch_commands_count", &[]).is_some_and(|n| n >= 6.0));
    assert!(sample(&body, "kcn_append_batch_commands_bucket", &[("le", "1")]).is_some());
    assert!(sample(&body, "kcn_append_commit_seconds_count", &[]).is_some_and(|n| n >= 6.0));
    // Every read model's position and lag, the log's head, the checkpoint and the memory.
    for name in [
        "kcn_read_model_position",
        "kcn_read_model_lag",
        "kcn_read_model_stopped",
    ] {
        assert!(
            sample(&body, name, &[("read_model", "timeline")]).is_some(),
            "{name}:\n{body}"
        );
    }
    assert!(sample(&body, "kcn_log_head", &[]).is_some());
    assert!(sample(&body, "kcn_checkpoint_size", &[]).is_some_and(|n| n >= 1.0));
    assert!(sample(&body, "kcn_checkpoint_timestamp_seconds", &[]).is_some_and(|t| t > 0.0));
    assert!(sample(&body, "process_resident_memory_bytes", &[]).is_some_and(|b| b > 1e6));
    server.stop().await;
}

#[tokio::test]
async fn there_is_no_metrics_endpoint_unless_one_is_configured() {
    let server = TestServer::start().await;
    assert_eq!(server.running.as_ref().unwrap().metrics_addr, None);
    server.stop().await;
}
