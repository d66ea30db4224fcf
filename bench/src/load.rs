//! The command load: closed-loop callers, each sending its next command as soon as the last one is
//! answered, over `ceil(c / 16)` HTTP/2 connections with TCP_NODELAY. The command is
//! `RegistryService/RegisterCompany` with a fresh 10-digit enterprise code (`3800000000 + n`) and a
//! fresh request id each time, so callers never conflict (no two commands touch one aggregate or
//! one unique code). The very same code drives the no-op server, so the ratio of the two is the
//! ledger's cost alone. Also the latency statistics every figure shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kcn_ledger::client::AuthChannel;
use kcn_services::proto::{self, registry_service_client::RegistryServiceClient};

/// The first enterprise code of the benchmark's companies.
pub const FIRST_CODE: u64 = 3_800_000_000;

/// 2025-04-01T02:10:00Z, the business time of every benchmark command (a fixed past instant).
const OCCURRED_AT: i64 = 1_743_473_400;

/// Callers per HTTP/2 connection.
const CALLERS_PER_CONNECTION: usize = 16;

/// Sorted latencies, for percentiles.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut all: Vec<Duration>) -> Self {
        all.sort_unstable();
        Self(all)
    }

    /// The `q` quantile (0.5, 0.99), by the nearest-rank method.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.5)
    }

    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// One concurrency level's result.
#[derive(Debug, Clone)]
pub struct Level {
    pub concurrency: usize,
    pub commands: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub latencies: Latencies,
    /// Some of the companies registered (their ids), for the audit questions.
    pub company_ids: Vec<String>,
}

impl Level {
    /// Answered commands per second.
    pub fn throughput(&self) -> f64 {
        per_second(self.commands, self.elapsed)
    }
}

/// `n` per `elapsed`, per second.
#[allow(clippy::cast_precision_loss)]
pub fn per_second(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 { 0.0 } else { n as f64 / secs }
}

/// The connections of one level: one per 16 callers.
pub async fn channels(
    url: &str,
    token: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<AuthChannel>> {
    let mut all = Vec::new();
    for _ in 0..concurrency.div_ceil(CALLERS_PER_CONNECTION).max(1) {
        all.push(crate::server::connect(url, token).await?);
    }
    Ok(all)
}

/// A `RegisterCompany` with the enterprise code `code` and a fresh request id.
pub fn register_company(code: u64) -> proto::RegisterCompanyRequest {
    proto::RegisterCompanyRequest {
        header: Some(proto::CommandHeader {
            request_id: uuid::Uuid::now_v7().to_string(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: OCCURRED_AT,
                nanos: 0,
            }),
            ..Default::default()
        }),
        enterprise_code: code.to_string(),
        name: format!("CTCP Hạ tầng Đo tải {code}"),
        address: "Thuận An, Bình Dương".to_owned(),
    }
}

/// Runs `concurrency` callers until `commands` are answered or `max` has passed, each command with
/// the next code of `codes`; answers the level's figures.
pub async fn run_level(
    channels: &[AuthChannel],
    concurrency: usize,
    commands: u64,
    max: Duration,
    codes: &Arc<AtomicU64>,
) -> anyhow::Result<Level> {
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + max;
    let mut tasks = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let mut client = RegistryServiceClient::new(channels[i % channels.len()].clone());
        let issued = issued.clone();
        let codes = codes.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut ids = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < commands && Instant::now() < deadline {
                let code = codes.fetch_add(1, Ordering::Relaxed);
                let request = register_company(code);
                let sent = Instant::now();
                match client.register_company(request).await {
                    Ok(answer) => {
                        latencies.push(sent.elapsed());
                        if ids.len() < 64
                            && let Some(outcome) = answer.into_inner().outcome
                        {
                            ids.push(outcome.aggregate_id);
                        }
                    }
                    Err(status) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{status:?}"));
                    }
                }
            }
            (latencies, errors, first_error, ids)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut company_ids = Vec::new();
    for task in tasks {
        let (latencies, e, first, ids) = task.await.context("a caller panicked")?;
        all.extend(latencies);
        errors += e;
        first_error = first_error.or(first);
        company_ids.extend(ids);
    }
    let elapsed = started.elapsed();
    let answered = all.len() as u64;
    anyhow::ensure!(
        answered > 0,
        "no command was answered at concurrency {concurrency}: {}",
        first_error.unwrap_or_default()
    );
    Ok(Level {
        concurrency,
        commands: answered,
        errors,
        first_error,
        elapsed,
        latencies: Latencies::new(all),
        company_ids,
    })
}

/// Warms a level up (connections, the server's caches and pools), then measures it.
pub async fn measure_level(
    url: &str,
    token: &str,
    concurrency: usize,
    warmup: u64,
    commands: u64,
    max: Duration,
    codes: &Arc<AtomicU64>,
) -> anyhow::Result<Level> {
    let channels = channels(url, token, concurrency).await?;
    if warmup > 0 {
        run_level(
            &channels,
            concurrency,
            warmup,
            Duration::from_secs(5),
            codes,
        )
        .await?;
    }
    run_level(&channels, concurrency, commands, max, codes).await
}
