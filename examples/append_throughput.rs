//! Measures the command path with group commit: how many commands per second the log accepts from
//! many concurrent callers, and their latency, on SQLite (full durability) and, when a URL is given,
//! on PostgreSQL. Every command is decided by its aggregate and committed with its idempotency record
//! and tree hashes, exactly as the server does; gRPC is left out to measure the log itself.
//!
//! ```text
//! cargo run --release --example append_throughput                       # SQLite, 64 callers x 200
//! cargo run --release --example append_throughput -- --callers 256 --each 100
//! cargo run --release --example append_throughput -- --postgres postgres://postgres@127.0.0.1:5432/kcn_bench
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use kcn_domain::LegalRules;
use kcn_domain::company::{CompanyCommand, CompanyRegistered, InfrastructureCompany};
use kcn_domain::values::{EnterpriseCode, Text};
use kcn_eventstore::SystemClock;
use kcn_eventstore::{
    Actor, Backend, CommandContext, EventStore, PostgresBackend, SqliteBackend, SqliteDurability,
    Target,
};

struct Args {
    callers: usize,
    each: usize,
    postgres: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        callers: 64,
        each: 200,
        postgres: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--callers" => a.callers = value.parse().expect("--callers N"),
            "--each" => a.each = value.parse().expect("--each N"),
            "--postgres" => a.postgres = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

async fn run(
    name: &str,
    backend: Arc<dyn Backend>,
    callers: usize,
    each: usize,
) -> anyhow::Result<()> {
    let store = EventStore::start(backend, Arc::new(SystemClock), LegalRules::default()).await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(each);
            for i in 0..each {
                let context = CommandContext {
                    scope: Default::default(),
                    occurred_at: None,
                    actor: Actor {
                        principal: "bench".into(),
                        organisation: None,
                        role: None,
                        authentication: "local_principal".into(),
                    },
                    request_id: format!("bench-{c}-{i}-{}", uuid::Uuid::now_v7()),
                    correlation_id: None,
                    causation_id: None,
                    source: None,
                };
                let t = Instant::now();
                store
                    .execute::<InfrastructureCompany, _>(
                        Target::New,
                        None,
                        move |company_id| CompanyCommand::Register {
                            company_id,
                            occurred_at: NaiveDate::from_ymd_opt(2025, 4, 1)
                                .unwrap()
                                .and_hms_opt(2, 0, 0)
                                .unwrap()
                                .and_utc(),
                            event: CompanyRegistered {
                                enterprise_code: EnterpriseCode::parse("3700146225").unwrap(),
                                name: Text::name(&format!("Company {c}-{i}")).unwrap(),
                                address: None,
                            },
                        },
                        context,
                    )
                    .await
                    .expect("the command commits");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let n = latencies.len();
    let pct = |p: f64| latencies[((n as f64 * p) as usize).min(n - 1)];
    println!(
        "{name}: {n} commands from {callers} callers in {:.2} s = {:.0} commands/s; latency p50 {:.1} ms, p99 {:.1} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args();
    let dir = tempfile::tempdir()?;
    let sqlite =
        SqliteBackend::open(&dir.path().join("bench.sqlite"), SqliteDurability::Full).await?;
    run(
        "sqlite (synchronous=FULL)",
        Arc::new(sqlite),
        a.callers,
        a.each,
    )
    .await?;
    if let Some(url) = a.postgres {
        let pg = PostgresBackend::connect(&url, 10).await?;
        run("postgresql", Arc::new(pg), a.callers, a.each).await?;
    }
    Ok(())
}
