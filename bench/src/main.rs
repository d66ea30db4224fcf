//! `kcn-bench`: the ledger's benchmark, run with `scripts/bench` (which builds `--release` first).
//!
//! In one run, on SQLite (WAL, synchronous=FULL) and on PostgreSQL, against the real release
//! server as a child process, each figure beside the ceiling it is judged against, measured in the
//! same run with the same client code:
//! 1. commands through gRPC at 1, 16, 64 and 256 callers (throughput, p50, p99), beside a no-op
//!    tonic server (`noop.rs`), raw batched inserts (`ceilings.rs`) and stock cqrs-es on the same
//!    database settings (`peer.rs`, `bench/cqrs-peer`);
//! 2. the log filled to N events by the province generator (`kcn_ledger::generate`), and the read
//!    models catching up, beside the command rate;
//! 3. `ReadLog` replaying the whole log over one stream, beside a raw scan of the events table;
//! 4. every audit question and proof at N events, one caller, p50 and p99 (`queries.rs`);
//! 5. the server's peak memory; then, with the server stopped, `projections rebuild` and `verify`
//!    timed as processes, `verify` beside an in-process SHA-256 ceiling.
//!
//! The report (`report.rs`) goes to `target/bench/report.md` and standard output.

mod ceilings;
mod child;
mod load;
mod noop;
mod peer;
mod queries;
mod report;
mod server;

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kcn_ledger::client::AuthChannel;
use kcn_ledger::progress::Progress;
use kcn_services::proto::{self, audit_service_client::AuditServiceClient};
use sqlx::Connection as _;
use tokio_stream::StreamExt as _;

use crate::ceilings::{Rows, Scratch};
use crate::load::Level;
use crate::report::Run;
use crate::server::{ADMIN_TOKEN, ServerProcess, Storage};

#[derive(Debug, Parser)]
#[command(
    name = "kcn-bench",
    about = "The ledger's benchmark: the release server on SQLite and PostgreSQL, each figure \
             beside its ceiling (run it with scripts/bench)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Hidden>,
    /// Events the province generator adds to the log after the command load, before the replay,
    /// catch-up, query, rebuild and verify figures.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Commands measured per concurrency level (after the warm-up), unless --level-seconds runs
    /// out first.
    #[arg(long, default_value_t = 20_000)]
    commands: u64,
    /// The longest a concurrency level is measured.
    #[arg(long, default_value_t = 20)]
    level_seconds: u64,
    /// Unmeasured commands before each level.
    #[arg(long, default_value_t = 500)]
    warmup: u64,
    /// The concurrency levels of the command load.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    levels: Vec<usize>,
    /// Calls of each audit question.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// The generator's callers (commands in flight at once while filling).
    #[arg(long, default_value_t = 16)]
    fill_callers: usize,
    /// The longest each raw insert batch size is measured, in seconds.
    #[arg(long, default_value_t = 3)]
    raw_seconds: u64,
    /// Leaves hashed per thread for the SHA-256 ceiling.
    #[arg(long, default_value_t = 1_000_000)]
    sha_leaves: u64,
    /// Leave PostgreSQL out.
    #[arg(long)]
    skip_postgres: bool,
    /// Leave SQLite out.
    #[arg(long)]
    skip_sqlite: bool,
    /// A PostgreSQL server's admin URL: the benchmark creates its databases there and drops them.
    #[arg(
        long,
        env = "KCN_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Where the report and the benchmark's data directories go.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Hidden {
    /// The no-op ceiling server (started by the harness itself).
    #[command(hide = true)]
    NoopServer,
    /// Only the command load, against a server already running (for profiling the server while
    /// it answers): the callers, throughput, p50 and p99 printed.
    Load {
        /// The server's URL, such as http://127.0.0.1:50051.
        #[arg(long)]
        url: String,
        /// A file holding an administrator's token.
        #[arg(long)]
        token_file: PathBuf,
        #[arg(long, default_value_t = 64)]
        callers: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// The first enterprise code (codes must be fresh on the server).
        #[arg(long, default_value_t = load::FIRST_CODE)]
        first_code: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match &cli.command {
        Some(Hidden::NoopServer) => return runtime.block_on(noop::serve()),
        Some(Hidden::Load {
            url,
            token_file,
            callers,
            seconds,
            first_code,
        }) => {
            let token = std::fs::read_to_string(token_file)?;
            let codes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(*first_code));
            let level = runtime.block_on(load::measure_level(
                url,
                token.trim(),
                *callers,
                200,
                u64::MAX,
                Duration::from_secs(*seconds),
                &codes,
            ))?;
            println!(
                "{} callers: {:.0} cmd/s, p50 {:?}, p99 {:?}, {} errors",
                level.concurrency,
                level.throughput(),
                level.latencies.p50(),
                level.latencies.p99(),
                level.errors
            );
            return Ok(());
        }
        None => {}
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    runtime.block_on(run(cli))
}

fn say(text: &str) {
    eprintln!("bench: {text}");
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cli.out_dir)?;
    let started = Instant::now();
    let command = format!(
        "scripts/bench {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    )
    .trim()
    .to_owned();
    let mut run = Run {
        command,
        date: date(),
        machine: report::machine(),
        events: cli.events,
        levels: cli.levels.clone(),
        commands: cli.commands,
        level_seconds: cli.level_seconds,
        warmup: cli.warmup,
        queries: cli.queries,
        load_before: report::load_average(),
        ..Run::default()
    };

    say("the no-op ceiling server");
    let noop = noop::spawn().await?;
    let codes = Arc::new(AtomicU64::new(load::FIRST_CODE));
    run.noop = measure_levels(&cli, &noop.url, &codes, "no-op").await?;
    noop.stop().await;

    let work = cli.out_dir.join("work");
    std::fs::create_dir_all(&work)?;
    if !cli.skip_sqlite {
        run.backends
            .push(backend(&cli, &work, None).await.context("SQLite")?);
    }
    if !cli.skip_postgres {
        run.backends.push(
            backend(&cli, &work, Some(&cli.postgres_url))
                .await
                .context("PostgreSQL")?,
        );
    }

    // The hashing ceiling, with leaves the size of the log's (fields and bytes), after the
    // servers are gone.
    let leaf = run
        .backends
        .first()
        .map_or(600, |b| b.scan.mean_bytes() + 150);
    let leaf = usize::try_from(leaf).unwrap_or(600);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    say(&format!(
        "SHA-256 ceiling: {} leaves of {leaf} bytes per core",
        cli.sha_leaves
    ));
    let leaves = cli.sha_leaves;
    let (one, all) = tokio::task::spawn_blocking(move || {
        (
            ceilings::sha256_rate(leaf, leaves, 1),
            ceilings::sha256_rate(leaf, leaves, cores),
        )
    })
    .await?;
    run.sha256 = Some(report::Sha {
        leaf_bytes: leaf,
        one_core: one,
        all_cores: all,
        cores,
    });
    run.took = started.elapsed();
    run.load_after = report::load_average();

    let text = report::render(&run);
    let path = cli.out_dir.join("report.md");
    std::fs::write(&path, &text)?;
    println!("{text}");
    say(&format!("report written to {}", path.display()));
    Ok(())
}

/// Today's date and time (UTC), from `date`.
fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// `admin_url` with another database name.
fn with_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (scheme, rest) = admin_url
        .split_once("://")
        .context("the PostgreSQL URL has no scheme")?;
    let (authority, query) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path.split_once('?').map(|(_, q)| q)),
        None => (rest, None),
    };
    Ok(match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

async fn admin_sql(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    let mut conn =
        sqlx::PgConnection::connect_with(&sqlx::postgres::PgConnectOptions::from_str(admin_url)?)
            .await
            .with_context(
                || "cannot connect to PostgreSQL (is it running? see scripts/postgres)",
            )?;
    // Only the harness's own statements (database names it made up) come here.
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// One backend's run, with its fresh databases dropped afterwards whatever happened.
async fn backend(
    cli: &Cli,
    work: &Path,
    postgres: Option<&str>,
) -> anyhow::Result<report::Backend> {
    let dir = tempfile::Builder::new()
        .prefix("kcn-bench-")
        .tempdir_in(work)?;
    let Some(admin) = postgres else {
        let raw = Scratch::Sqlite(ceilings::scratch_sqlite(&dir.path().join("raw.sqlite")).await?);
        let peer = peer::PeerStore::Sqlite(dir.path().join("cqrs-es.sqlite"));
        return measure_backend(
            cli,
            dir.path(),
            &Storage::Sqlite,
            raw,
            &peer,
            "WAL, synchronous=FULL".to_owned(),
        )
        .await;
    };
    let stamp = std::process::id();
    let log_db = format!("kcn_bench_{stamp}");
    let raw_db = format!("kcn_bench_{stamp}_raw");
    let peer_db = format!("kcn_bench_{stamp}_cqrs");
    for db in [&log_db, &raw_db, &peer_db] {
        admin_sql(admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await?;
        admin_sql(admin, &format!("CREATE DATABASE {db}")).await?;
    }
    let result = async {
        let url = with_database(admin, &log_db)?;
        let raw_pool = ceilings::scratch_postgres(&with_database(admin, &raw_db)?).await?;
        let settings = ceilings::postgres_settings(&raw_pool).await?;
        let raw = Scratch::Postgres(raw_pool.clone());
        let peer = peer::PeerStore::Postgres(with_database(admin, &peer_db)?);
        let result = measure_backend(
            cli,
            dir.path(),
            &Storage::Postgres { url },
            raw,
            &peer,
            settings,
        )
        .await;
        raw_pool.close().await;
        result
    }
    .await;
    for db in [&log_db, &raw_db, &peer_db] {
        if let Err(e) =
            admin_sql(admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await
        {
            say(&format!("could not drop the database {db}: {e:#}"));
        }
    }
    result
}

/// The command load at every level of `--levels` against the server at `url`, each level said
/// as it ends.
async fn measure_levels(
    cli: &Cli,
    url: &str,
    codes: &Arc<AtomicU64>,
    label: &str,
) -> anyhow::Result<Vec<Level>> {
    let mut levels = Vec::with_capacity(cli.levels.len());
    for &c in &cli.levels {
        let level = load::measure_level(
            url,
            ADMIN_TOKEN,
            c,
            cli.warmup,
            cli.commands,
            Duration::from_secs(cli.level_seconds),
            codes,
        )
        .await?;
        say(&format!(
            "{label} c={c}: {}, p50 {}, p99 {}, {} errors",
            report::rate(level.throughput(), "cmd"),
            report::ms(level.latencies.p50()),
            report::ms(level.latencies.p99()),
            level.errors
        ));
        levels.push(level);
    }
    Ok(levels)
}

/// The read models' positions: the log's head and the lowest model's position.
async fn projection_status(channel: &AuthChannel) -> anyhow::Result<(u64, u64)> {
    let all = AuditServiceClient::new(channel.clone())
        .get_projection_status(proto::GetProjectionStatusRequest {})
        .await?
        .into_inner()
        .projections;
    if let Some(stopped) = all.iter().find(|p| !p.error.is_empty()) {
        anyhow::bail!("the read model {} stopped: {}", stopped.name, stopped.error);
    }
    let head = all.iter().map(|p| p.log_head).max().unwrap_or(0);
    let lowest = all.iter().map(|p| p.position).min().unwrap_or(0);
    Ok((head, lowest))
}

#[allow(clippy::too_many_lines)]
async fn measure_backend(
    cli: &Cli,
    dir: &Path,
    storage: &Storage,
    raw: Scratch,
    peer_store: &peer::PeerStore,
    settings: String,
) -> anyhow::Result<report::Backend> {
    let name = storage.name();
    say(&format!("{name}: starting the server"));
    let server = ServerProcess::spawn(dir, storage).await?;
    let url = server.url();
    let admin = server::connect(&url, ADMIN_TOKEN).await?;
    let mut out = report::Backend {
        name,
        settings,
        ..report::Backend::default()
    };

    // 1. Commands through gRPC.
    let codes = Arc::new(AtomicU64::new(load::FIRST_CODE));
    out.levels = measure_levels(cli, &url, &codes, name)
        .await
        .with_context(|| server.tail(20))?;
    let mut company_ids: Vec<String> = out
        .levels
        .iter()
        .flat_map(|l| l.company_ids.iter().cloned())
        .collect();

    // The raw insert ceiling, the server idle, with copies of a real event.
    let log = match storage {
        Storage::Sqlite => {
            Scratch::Sqlite(ceilings::open_log_sqlite(&dir.join("kcn-ledger.sqlite")).await?)
        }
        Storage::Postgres { url } => Scratch::Postgres(ceilings::open_log_postgres(url).await?),
    };
    let sample = ceilings::sample(&log).await?;
    for &c in &cli.levels {
        let batch = c as u64;
        let rows = ceilings::raw_insert(
            &raw,
            &sample,
            batch,
            u64::MAX,
            Duration::from_secs(cli.raw_seconds),
        )
        .await?;
        say(&format!(
            "{name} raw insert, {batch} rows per transaction: {}",
            report::rate(rows.per_second(), "rows")
        ));
        out.raw_inserts.push((batch, rows));
    }

    // The stock cqrs-es peer, the server idle, on a database of its own with the same settings.
    match peer::binary() {
        Some(binary) => {
            let peer = peer::spawn(&binary, peer_store).await?;
            out.cqrs =
                measure_levels(cli, &peer.url, &codes, &format!("{name} stock cqrs-es")).await?;
            peer.stop().await;
        }
        None => say("NOTE: the cqrs-es peer (target/release/kcn-cqrs-peer) is not built; skipped"),
    }

    // 2. The fill, and the read models catching up.
    let (head_before, _) = projection_status(&admin).await?;
    say(&format!("{name}: filling the log to {} events", cli.events));
    let fill_started = Instant::now();
    let options = kcn_ledger::generate::Options {
        events: cli.events,
        callers: cli.fill_callers,
        show_progress: true,
        ..Default::default()
    };
    let ids = match kcn_ledger::generate::run(&url, ADMIN_TOKEN, &options).await {
        Ok(generated) => {
            out.fill_commands = generated.commands;
            out.fill_by = "the province generator (kcn_ledger::generate)".to_owned();
            queries::Ids::from_generated(&generated)
        }
        Err(e) => {
            let note = format!(
                "the generator failed ({e:#}); filling with the RegisterCompany load at \
                 {} callers instead",
                cli.fill_callers
            );
            say(&format!("NOTE: {note}"));
            out.fill_by = format!("FALLBACK: {note}");
            // What the generator wrote before it failed counts towards the events asked for.
            let (now, _) = projection_status(&admin).await?;
            let missing = cli.events.saturating_sub(now - head_before);
            let channels = load::channels(&url, ADMIN_TOKEN, cli.fill_callers).await?;
            let fill = fallback_fill(&channels, cli.fill_callers, missing, &codes).await?;
            out.fill_commands = fill.commands;
            company_ids.extend(fill.company_ids);
            queries::Ids {
                companies: company_ids,
                ..queries::Ids::default()
            }
        }
    };
    out.fill_elapsed = fill_started.elapsed();
    let (head, lowest) = projection_status(&admin).await?;
    out.fill_events = head - head_before;
    out.lag_at_fill_end = head - lowest.min(head);
    let caught_up = loop {
        let (_, lowest) = projection_status(&admin).await?;
        if lowest >= head {
            break fill_started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    out.catch_up_elapsed = caught_up;
    say(&format!(
        "{name}: {} events in {} ({}), read models at the head {} after the fill ended",
        out.fill_events,
        report::secs(out.fill_elapsed),
        report::rate(
            load::per_second(out.fill_events, out.fill_elapsed),
            "events"
        ),
        report::secs(caught_up.saturating_sub(out.fill_elapsed))
    ));

    // 3. The replay over gRPC, beside the raw scan.
    out.replay = replay(&admin, head).await?;
    say(&format!(
        "{name} ReadLog: {}",
        report::rate(out.replay.per_second(), "events")
    ));
    out.scan = ceilings::raw_scan(&log).await?;
    say(&format!(
        "{name} raw scan: {}",
        report::rate(out.scan.per_second(), "rows")
    ));
    match &log {
        Scratch::Sqlite(pool) => pool.close().await,
        Scratch::Postgres(pool) => pool.close().await,
    }

    // 4. The audit questions, as an auditor.
    let (_, auditor_token) = kcn_ledger::principals_cli::add(
        admin.clone(),
        kcn_ledger::principals_cli::NewPrincipal {
            name: "Kiểm toán viên đo tải".to_owned(),
            role: kcn_domain::principal::Role::Auditor,
            organisation_id: None,
            expires_at: None,
            certificate: None,
        },
    )
    .await?;
    let auditor = server::connect(&url, &auditor_token).await?;
    say(&format!(
        "{name}: asking every audit question {} times",
        cli.queries
    ));
    out.questions = queries::ask_all(&auditor, &ids, cli.queries).await?;
    for q in &out.questions {
        say(&format!(
            "{name} {}: p50 {}, p99 {}, {} errors{}",
            q.name,
            report::ms(q.latencies.p50()),
            report::ms(q.latencies.p99()),
            q.errors,
            q.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ));
    }
    let verifier_key = AuditServiceClient::new(admin.clone())
        .get_verifier_key(proto::GetVerifierKeyRequest {})
        .await?
        .into_inner()
        .verifier_key;

    // 5. Peak memory, then the offline commands on the stopped server's store.
    let (head, _) = projection_status(&admin).await?;
    out.head = head;
    out.peak_memory = server.peak_memory()?;
    drop(admin);
    drop(auditor);
    server.terminate().await?;
    let store: Vec<String> = match storage {
        Storage::Sqlite => vec!["--data-dir".to_owned(), dir.display().to_string()],
        Storage::Postgres { url } => vec!["--database-url".to_owned(), url.clone()],
    };
    let mut rebuild = vec!["projections".to_owned(), "rebuild".to_owned()];
    rebuild.extend(store);
    say(&format!("{name}: projections rebuild of {head} events"));
    out.rebuild = server::run_timed(dir, storage, &rebuild).await?;
    let source = match storage {
        Storage::Sqlite => dir.display().to_string(),
        Storage::Postgres { url } => url.clone(),
    };
    say(&format!("{name}: verify of {head} events"));
    out.verify = server::run_timed(
        dir,
        storage,
        &[
            "verify".to_owned(),
            source,
            "--verifier-key".to_owned(),
            verifier_key,
        ],
    )
    .await?;
    say(&format!(
        "{name}: rebuild {} ({}), verify {} ({})",
        report::secs(out.rebuild),
        report::rate(load::per_second(head, out.rebuild), "events"),
        report::secs(out.verify),
        report::rate(load::per_second(head, out.verify), "events"),
    ));
    Ok(out)
}

/// The fallback fill: the command load, untimed, until `missing` more commands are answered.
async fn fallback_fill(
    channels: &[AuthChannel],
    callers: usize,
    missing: u64,
    codes: &Arc<AtomicU64>,
) -> anyhow::Result<Level> {
    if missing == 0 {
        return Ok(Level {
            concurrency: callers,
            commands: 0,
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            latencies: load::Latencies::default(),
            company_ids: Vec::new(),
        });
    }
    load::run_level(
        channels,
        callers,
        missing,
        Duration::from_secs(86_400),
        codes,
    )
    .await
}

/// `ReadLog` from position 1 to `head` over one stream.
async fn replay(channel: &AuthChannel, head: u64) -> anyhow::Result<Rows> {
    let mut progress = Progress::new("replaying the log over ReadLog", "events", head, true);
    let started = Instant::now();
    let mut stream = AuditServiceClient::new(channel.clone())
        .read_log(proto::ReadLogRequest {
            from_position: 1,
            to_position: head,
        })
        .await?
        .into_inner();
    let mut rows = 0_u64;
    let mut bytes = 0_u64;
    while let Some(message) = stream.next().await {
        let event = message?
            .event
            .context("a ReadLog message without an event")?;
        bytes += (event.payload.len() + event.metadata.len()) as u64;
        rows += 1;
        if rows.is_multiple_of(4096) {
            progress.set(rows);
        }
    }
    progress.set(rows);
    progress.finish();
    anyhow::ensure!(rows == head, "ReadLog returned {rows} events of {head}");
    Ok(Rows {
        rows,
        bytes,
        elapsed: started.elapsed(),
    })
}
