//! What an operator of the real binary sees: one JSON log line per RPC with its method, request
//! id, status code, duration and a refusal's rule code; and OpenTelemetry traces, posted over
//! OTLP/HTTP to a receiver in this test when `otlp_endpoint` is set, and to nothing when it is not.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kcn_services::proto;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use serde_json::Value as Json;

use crate::server::{ServerProcess, Storage};

/// How long to wait for something the server does on its own.
const DEADLINE: Duration = Duration::from_secs(30);

fn ts(rfc3339: &str) -> Option<prost_types::Timestamp> {
    let t: chrono::DateTime<chrono::Utc> = rfc3339.parse().unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn header(request_id: &str) -> Option<proto::CommandHeader> {
    Some(proto::CommandHeader {
        request_id: request_id.to_owned(),
        occurred_at: ts("2025-04-01T02:00:00Z"),
        ..Default::default()
    })
}

/// The caller's trace context sent with the first command (W3C Trace Context).
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const CALLER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

/// Six RPCs: three accepted commands, one refused by a rule, one malformed, one streamed read.
async fn six_rpcs(server: &ServerProcess) {
    let mut registry = server.registry();
    // The first call continues a caller's trace.
    let mut establish = tonic::Request::new(proto::EstablishAuthorityRequest {
        header: header("ops-board"),
        name: "Ban quản lý các khu công nghiệp".into(),
        kind: proto::AuthorityKind::IndustrialParksBoard as i32,
        jurisdiction: "Bình Dương".into(),
        decision_no: "QĐ-01/2006".into(),
        effective_from: "2006-01-01".into(),
    });
    establish
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().unwrap());
    let board = registry
        .establish_authority(establish)
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let park = registry
        .register_park(proto::RegisterParkRequest {
            header: header("ops-park"),
            code: "DONGAN-1".into(),
            name: "KCN Đồng An".into(),
            area_ha: "138.7".into(),
            location: "Thuận An".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let assign = |request_id: &str, from: &str| proto::AssignJurisdictionRequest {
        header: header(request_id),
        park_id: park.clone(),
        authority_id: board.clone(),
        effective_from: from.into(),
    };
    registry
        .assign_jurisdiction(assign("ops-assign", "2006-01-01"))
        .await
        .unwrap();
    let refused = registry
        .assign_jurisdiction(assign("ops-twice", "2006-01-01"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    let malformed = registry
        .register_company(proto::RegisterCompanyRequest::default())
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::InvalidArgument);
    let mut log = server
        .audit()
        .read_log(proto::ReadLogRequest {
            from_position: 1,
            to_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    while log.message().await.unwrap().is_some() {}
}

/// The per-RPC records among a server's JSON log lines.
fn rpc_lines(server: &ServerProcess) -> Vec<Json> {
    server
        .lines()
        .iter()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|r| r["target"] == "kcn_ledger::rpc" && r["fields"]["message"] == "rpc")
        .collect()
}

#[tokio::test]
async fn every_rpc_writes_one_json_line_with_method_request_id_status_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn("logs", dir.path(), &Storage::Sqlite, "logs").await;
    six_rpcs(&server).await;
    // The lines are written as the calls end; the last one may still be on its way.
    let end = tokio::time::Instant::now() + DEADLINE;
    while rpc_lines(&server).len() < 6 && tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = rpc_lines(&server);
    let by_method = |method: &str| -> Vec<&Json> {
        lines
            .iter()
            .filter(|r| r["fields"]["method"] == format!("/kcn.ledger.v1.{method}"))
            .collect()
    };
    let one = |method: &str, request_id: Option<&str>| -> Json {
        let found: Vec<&Json> = by_method(method)
            .into_iter()
            .filter(|r| r["span"]["request_id"].as_str() == request_id)
            .collect();
        assert_eq!(found.len(), 1, "{method} {request_id:?}: {lines:#?}");
        let record = found[0].clone();
        assert!(record["fields"]["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(
            record["span"]["peer"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        assert!(
            record["span"]["principal"]
                .as_str()
                .is_some_and(|p| !p.is_empty()),
            "the line names the authenticated principal: {record}"
        );
        record
    };
    let ok = one("RegistryService/EstablishAuthority", Some("ops-board"));
    assert_eq!(ok["fields"]["code"], "OK");
    assert_eq!(ok["level"], "INFO");
    assert_eq!(
        one("RegistryService/RegisterPark", Some("ops-park"))["fields"]["code"],
        "OK"
    );
    assert_eq!(
        one("RegistryService/AssignJurisdiction", Some("ops-assign"))["fields"]["code"],
        "OK"
    );
    let refused = one("RegistryService/AssignJurisdiction", Some("ops-twice"));
    assert_eq!(refused["fields"]["code"], "FAILED_PRECONDITION");
    assert_eq!(
        refused["fields"]["rule"],
        "JURISDICTION_ALREADY_ASSIGNED_ON"
    );
    let malformed = one("RegistryService/RegisterCompany", None);
    assert_eq!(malformed["fields"]["code"], "INVALID_ARGUMENT");
    assert_eq!(one("AuditService/ReadLog", None)["fields"]["code"], "OK");

    // One line per RPC and no more: every call above had its answer, which leaves the server
    // only after its line was written.
    assert_eq!(lines.len(), 6, "{lines:#?}");
    server.terminate().await;
}

/// Requests a collector received: path and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A stand-in OpenTelemetry collector: an HTTP server that keeps every request's path and body.
struct Collector {
    addr: SocketAddr,
    received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Received::default();
        let keep = received.clone();
        let app = axum::Router::new().fallback(
            move |uri: http::Uri, body: axum::body::Bytes| async move {
                keep.lock()
                    .unwrap()
                    .push((uri.path().to_owned(), body.to_vec()));
                http::StatusCode::OK
            },
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            received,
            task,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn traces_are_posted_over_otlp_to_the_configured_endpoint() {
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = collector.endpoint();
    let server = ServerProcess::spawn_with_env(
        "traces",
        dir.path(),
        &Storage::Sqlite,
        "traces",
        &[("KCN_OTLP_ENDPOINT", &endpoint)],
    )
    .await;
    six_rpcs(&server).await;
    // A clean stop sends what the exporter's batch still holds.
    server.terminate().await;
    let end = tokio::time::Instant::now() + DEADLINE;
    while collector.received().is_empty() && tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = collector.received();
    assert!(!received.is_empty(), "the collector received nothing");
    let mut spans = Vec::new();
    for (path, body) in &received {
        assert_eq!(path, "/v1/traces");
        let export = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for resource in export.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.clone());
            assert_eq!(service, Some(Value::StringValue("kcn-ledger".into())));
            spans.extend(resource.scope_spans.into_iter().flat_map(|s| s.spans));
        }
    }
    let board = spans
        .iter()
        .find(|s| s.name == "/kcn.ledger.v1.RegistryService/EstablishAuthority")
        .unwrap_or_else(|| {
            panic!(
                "no span of the command among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(board.kind, SpanKind::Server as i32);
    // It continues the caller's trace, as a child of the caller's span.
    assert_eq!(hex::encode(&board.trace_id), CALLER_TRACE_ID);
    assert_eq!(hex::encode(&board.parent_span_id), CALLER_SPAN_ID);
    let request_id = board
        .attributes
        .iter()
        .find(|a| a.key == "request_id")
        .and_then(|a| a.value.as_ref()?.value.clone());
    assert_eq!(request_id, Some(Value::StringValue("ops-board".into())));
    assert!(
        spans
            .iter()
            .any(|s| s.name == "/kcn.ledger.v1.AuditService/ReadLog")
    );
}

#[tokio::test]
async fn without_an_otlp_endpoint_nothing_is_exported() {
    // The standard OpenTelemetry variables name a collector, but the server was not told to
    // export: it must not.
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = collector.endpoint();
    let traces = format!("{endpoint}/v1/traces");
    let server = ServerProcess::spawn_with_env(
        "no-traces",
        dir.path(),
        &Storage::Sqlite,
        "no-traces",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces),
        ],
    )
    .await;
    six_rpcs(&server).await;
    // Anything batched would have been sent by the time a clean stop has finished.
    server.terminate().await;
    assert!(collector.received().is_empty());
}
