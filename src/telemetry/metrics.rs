//! Prometheus metrics: the process's recorder behind the `metrics` facade, the HTTP endpoint that
//! serves it (`GET /metrics` on `metrics_listen`), and the gauges sampled every second (each read
//! model's position and lag, the process's memory).
//!
//! What is measured where: per-RPC counts and latencies in [`super::rpc`]; append batch sizes and
//! commit latency in the event store's writer; checkpoint size and time where a checkpoint is
//! issued. Delivery backlogs will join once deliveries exist.

use std::net::SocketAddr;
use std::sync::OnceLock;

use anyhow::Context as _;
use kcn_projections::ProjectionStatus;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Latency buckets, in seconds: sub-millisecond reads to slow commits under load.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Commands per append batch (group commit).
const BATCH: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The process's recorder. The `metrics` facade has one per process, so every server started in
/// this process (the tests start many) records into the same one.
static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's Prometheus recorder, installed as the `metrics` facade's on first use.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("kcn_append_batch_commands".to_owned()),
                        BATCH,
                    )
                })
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())?;
            describe();
            Ok(handle)
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))
}

fn describe() {
    describe_counter!(
        "kcn_rpc_requests_total",
        "RPCs that ended, by method and gRPC status code"
    );
    describe_histogram!(
        "kcn_rpc_duration_seconds",
        Unit::Seconds,
        "time from a request's arrival to its status, by method and gRPC status code"
    );
    describe_histogram!(
        "kcn_append_batch_commands",
        Unit::Count,
        "commands decided in one append transaction (group commit)"
    );
    describe_histogram!(
        "kcn_append_commit_seconds",
        Unit::Seconds,
        "time to write and commit one append batch"
    );
    describe_gauge!(
        "kcn_log_head",
        "the log's last position, as the read models' status last saw it"
    );
    describe_gauge!(
        "kcn_read_model_position",
        "the last log position a read model has applied"
    );
    describe_gauge!(
        "kcn_read_model_lag",
        "events in the log that a read model has not applied yet"
    );
    describe_gauge!(
        "kcn_read_model_stopped",
        "1 while a read model is stopped at an event it cannot apply"
    );
    describe_gauge!(
        "kcn_checkpoint_size",
        "the tree size of the latest signed checkpoint this process issued"
    );
    describe_gauge!(
        "kcn_checkpoint_timestamp_seconds",
        Unit::Seconds,
        "when the latest checkpoint was issued (Unix time); its age is time() minus this"
    );
    describe_gauge!(
        "process_resident_memory_bytes",
        Unit::Bytes,
        "the process's resident memory"
    );
}

/// Binds the metrics endpoint's address (before anything is served, so a bad address fails the
/// start).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))
}

/// Serves `GET /metrics` in the Prometheus text format on `listener` until the task is aborted.
pub fn serve(listener: TcpListener, handle: PrometheusHandle) -> JoinHandle<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics endpoint failed");
        }
    })
}

/// Records each read model's position, lag and whether it is stopped.
pub fn record_read_models(all: &[ProjectionStatus]) {
    if let Some(first) = all.first() {
        metrics::gauge!("kcn_log_head").set(first.log_head as f64);
    }
    for status in all {
        let name = status.name.clone();
        metrics::gauge!("kcn_read_model_position", "read_model" => name.clone())
            .set(status.position as f64);
        metrics::gauge!("kcn_read_model_lag", "read_model" => name.clone())
            .set(status.log_head.saturating_sub(status.position) as f64);
        metrics::gauge!("kcn_read_model_stopped", "read_model" => name)
            .set(if status.error.is_some() { 1.0 } else { 0.0 });
    }
}

/// Records the process's resident memory (Linux: `VmRSS` of `/proc/self/status`; elsewhere
/// nothing).
pub fn record_memory() {
    if let Some(bytes) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(resident_bytes)
    {
        metrics::gauge!("process_resident_memory_bytes").set(bytes as f64);
    }
}

/// The `VmRSS` line of a `/proc/<pid>/status` text, in bytes.
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_the_vmrss_line() {
        let status = "Name:\tkcn-ledger\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t8\n";
        assert_eq!(resident_bytes(status), Some(12345 * 1024));
        assert_eq!(resident_bytes("Name:\tx\n"), None);
    }
}
