//! The markdown report: the machine (cores, CPU model, memory, OS), the exact command, the date and
//! the sizes, then the table of the targets (each figure beside its ceiling or peer, the
//! ratio, the target and whether it is met), then the detailed tables (every concurrency level,
//! every question). Written to `target/bench/report.md` and printed.

use std::fmt::Write as _;
use std::time::Duration;

use crate::ceilings::Rows;
use crate::load::{Level, per_second};
use crate::queries::Question;

/// A markdown table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        out.push_str(&line(&self.header));
        out.push_str(&line(&vec!["---".to_owned(); self.header.len()]));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// A rate with thousands separators: `12,345/s`.
pub fn rate(per_second: f64, unit: &str) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = per_second.round().max(0.0) as u64;
    format!("{} {unit}/s", thousands(n))
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A ratio as a percentage.
pub fn percent(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{:.1}%", ratio * 100.0)
    } else {
        format!("{:.0}%", ratio * 100.0)
    }
}

/// A ratio as a multiple: `2.4×`.
pub fn times(ratio: f64) -> String {
    format!("{ratio:.1}×")
}

pub fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.0} MiB")
}

pub fn met(yes: bool) -> String {
    if yes {
        "yes".to_owned()
    } else {
        "**no**".to_owned()
    }
}

/// The load average (1, 5 and 15 minutes), to show what else ran beside the benchmark.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" / ")
}

/// What this machine is.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| {
            l.trim_start_matches("MemTotal:")
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or_else(|| "unknown".to_owned(), |kib| mib(kib * 1024));
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or("unknown", |n| n.trim_matches('"'))
        .to_owned();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut out = String::new();
    let _ = writeln!(out, "- CPU: {cores} cores (`nproc`), {model}");
    let _ = writeln!(out, "- Memory: {memory}");
    let _ = writeln!(out, "- OS: {os}, Linux {kernel}");
    out
}

/// The SHA-256 ceiling.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha {
    pub leaf_bytes: usize,
    pub one_core: f64,
    pub all_cores: f64,
    pub cores: usize,
}

/// One backend's figures.
#[derive(Debug, Default)]
pub struct Backend {
    pub name: &'static str,
    /// The database's durability settings.
    pub settings: String,
    pub levels: Vec<Level>,
    /// The stock cqrs-es peer at the same levels (empty when it was not built).
    pub cqrs: Vec<Level>,
    /// Raw inserts: rows per transaction, and the rate.
    pub raw_inserts: Vec<(u64, Rows)>,
    /// How the log was filled.
    pub fill_by: String,
    pub fill_commands: u64,
    pub fill_events: u64,
    pub fill_elapsed: Duration,
    /// How far the slowest read model was behind when the fill ended.
    pub lag_at_fill_end: u64,
    /// From the fill's start until every read model was at the head.
    pub catch_up_elapsed: Duration,
    pub replay: Rows,
    pub scan: Rows,
    pub questions: Vec<Question>,
    /// The log's head at the end (what rebuild and verify go through).
    pub head: u64,
    pub peak_memory: u64,
    pub rebuild: Duration,
    pub verify: Duration,
}

impl Backend {
    fn level(&self, c: usize) -> Option<&Level> {
        self.levels.iter().find(|l| l.concurrency == c)
    }

    fn cqrs(&self, c: usize) -> Option<&Level> {
        self.cqrs.iter().find(|l| l.concurrency == c)
    }

    fn fill_rate(&self) -> f64 {
        per_second(self.fill_events, self.fill_elapsed)
    }

    fn catch_up_rate(&self) -> f64 {
        per_second(self.fill_events, self.catch_up_elapsed)
    }
}

/// The whole run.
#[derive(Debug, Default)]
pub struct Run {
    pub command: String,
    pub date: String,
    pub machine: String,
    pub events: u64,
    pub levels: Vec<usize>,
    /// --commands, --level-seconds, --warmup and --queries.
    pub commands: u64,
    pub level_seconds: u64,
    pub warmup: u64,
    pub queries: usize,
    pub noop: Vec<Level>,
    pub backends: Vec<Backend>,
    pub sha256: Option<Sha>,
    pub took: Duration,
    /// The load average at the start and at the end.
    pub load_before: String,
    pub load_after: String,
}

impl Run {
    fn noop(&self, c: usize) -> Option<&Level> {
        self.noop.iter().find(|l| l.concurrency == c)
    }
}

/// The report's markdown.
#[allow(clippy::too_many_lines)]
pub fn render(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# kcn-ledger benchmark report\n");
    let _ = writeln!(
        out,
        "Measured on {} with `{}`; the run took {}.\n",
        run.date,
        run.command,
        secs(run.took)
    );
    let _ = writeln!(out, "## Machine\n\n{}", run.machine);
    let _ = writeln!(
        out,
        "- Load average (1 / 5 / 15 min): {} at the start, {} at the end (anything above \
         the benchmark's own load means something else ran beside it)",
        run.load_before, run.load_after
    );
    for b in &run.backends {
        let _ = writeln!(out, "- {}: {}", b.name, b.settings);
    }
    let _ = writeln!(out, "\n## Size\n");
    for b in &run.backends {
        let _ = writeln!(
            out,
            "- {}: {} events in the log at the end: {} from the command load, then {} \
             ({} asked with --events) by {}",
            b.name,
            thousands(b.head),
            thousands(b.head.saturating_sub(b.fill_events)),
            thousands(b.fill_events),
            thousands(run.events),
            b.fill_by
        );
    }
    let _ = writeln!(
        out,
        "- commands: {} callers; each level {} unmeasured commands, then {} commands or {} s, \
         whichever ends first",
        run.levels
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        thousands(run.warmup),
        thousands(run.commands),
        run.level_seconds
    );
    let _ = writeln!(
        out,
        "- audit questions: {} calls each, one caller, after 5 unmeasured ones",
        run.queries
    );

    // The targets.
    let mut t = Table::new(&[
        "Figure",
        "Backend",
        "Measured",
        "Ceiling or peer",
        "Ratio",
        "Target",
        "Met",
    ]);
    for b in &run.backends {
        let (share, target) = if b.name == "SQLite" {
            (0.5, "≥ 50% of the no-op ceiling")
        } else {
            (0.3, "≥ 30% of the no-op ceiling")
        };
        if let (Some(l), Some(n)) = (b.level(64), run.noop(64)) {
            let ratio = l.throughput() / n.throughput();
            t.row(vec![
                "Commands through gRPC, 64 callers".to_owned(),
                b.name.to_owned(),
                rate(l.throughput(), "cmd"),
                format!(
                    "no-op gRPC server, 64 callers: {}",
                    rate(n.throughput(), "cmd")
                ),
                percent(ratio),
                target.to_owned(),
                met(ratio >= share),
            ]);
        }
        if b.name == "SQLite"
            && let Some(l) = b.level(1)
        {
            let row = match b.cqrs(1) {
                Some(p) => {
                    let ratio = l.throughput() / p.throughput();
                    [
                        format!(
                            "stock cqrs-es (sqlite-es), 1 caller: {}",
                            rate(p.throughput(), "cmd")
                        ),
                        times(ratio),
                        met(ratio >= 3.0),
                    ]
                }
                None => [
                    "stock cqrs-es: not measured".to_owned(),
                    "—".to_owned(),
                    "not measured".to_owned(),
                ],
            };
            let [peer, ratio, is_met] = row;
            t.row(vec![
                "Commands through gRPC, 1 caller".to_owned(),
                b.name.to_owned(),
                rate(l.throughput(), "cmd"),
                peer,
                ratio,
                "≥ 3× stock cqrs-es".to_owned(),
                is_met,
            ]);
        }
    }
    for b in &run.backends {
        let ratio = b.replay.per_second() / b.scan.per_second();
        t.row(vec![
            "ReadLog, one stream".to_owned(),
            b.name.to_owned(),
            rate(b.replay.per_second(), "events"),
            format!(
                "raw scan of the events table: {}",
                rate(b.scan.per_second(), "rows")
            ),
            percent(ratio),
            "≥ 70% of the raw scan".to_owned(),
            met(ratio >= 0.7),
        ]);
    }
    for b in &run.backends {
        let r = per_second(b.head, b.rebuild);
        t.row(vec![
            "Projections rebuild, all models".to_owned(),
            b.name.to_owned(),
            rate(r, "events"),
            format!("raw scan: {}", rate(b.scan.per_second(), "rows")),
            percent(r / b.scan.per_second()),
            "≥ 100,000 events/s".to_owned(),
            met(r >= 100_000.0),
        ]);
    }
    for b in &run.backends {
        let ratio = b.catch_up_rate() / b.fill_rate();
        t.row(vec![
            "Read models catching up (fill start to all at the head)".to_owned(),
            b.name.to_owned(),
            rate(b.catch_up_rate(), "events"),
            format!(
                "command rate of the fill: {}",
                rate(b.fill_rate(), "events")
            ),
            percent(ratio),
            "≥ the command rate".to_owned(),
            // Polled every 20 ms: within 2% is keeping up.
            met(ratio >= 0.98),
        ]);
    }
    for b in &run.backends {
        let r = per_second(b.head, b.verify);
        let (peer, ratio) = run.sha256.map_or(("—".to_owned(), "—".to_owned()), |s| {
            (
                format!(
                    "SHA-256 of {}-byte leaves, {} cores: {}",
                    s.leaf_bytes,
                    s.cores,
                    rate(s.all_cores, "leaves")
                ),
                percent(r / s.all_cores),
            )
        });
        t.row(vec![
            "Full verify".to_owned(),
            b.name.to_owned(),
            rate(r, "events"),
            peer,
            ratio,
            "≥ 500,000 events/s".to_owned(),
            met(r >= 500_000.0),
        ]);
    }
    for b in &run.backends {
        let worst = b.questions.iter().max_by_key(|q| q.latencies.p99());
        let under = b
            .questions
            .iter()
            .filter(|q| q.latencies.p99() < Duration::from_millis(5))
            .count();
        let Some(worst) = worst else { continue };
        let floor = run.noop(1).map_or("—".to_owned(), |n| {
            format!(
                "no-op gRPC round trip, 1 caller: p99 {}",
                ms(n.latencies.p99())
            )
        });
        t.row(vec![
            "Audit query and proof latency, 1 caller (worst p99)".to_owned(),
            b.name.to_owned(),
            format!(
                "{} ({}); {under} of {} under 5 ms",
                ms(worst.latencies.p99()),
                worst.name,
                b.questions.len()
            ),
            floor,
            "—".to_owned(),
            "p99 < 5 ms for every question".to_owned(),
            met(under == b.questions.len()),
        ]);
    }
    for b in &run.backends {
        t.row(vec![
            "Server peak memory (VmHWM)".to_owned(),
            b.name.to_owned(),
            mib(b.peak_memory),
            "—".to_owned(),
            "—".to_owned(),
            "< 200 MiB".to_owned(),
            met(b.peak_memory < 200 * 1024 * 1024),
        ]);
    }
    let _ = writeln!(out, "\n## The issue's targets\n\n{}", t.render());

    // Every level.
    for b in &run.backends {
        let mut t = Table::new(&[
            "Callers",
            "Ledger",
            "p50",
            "p99",
            "Errors",
            "No-op server",
            "No-op p50",
            "No-op p99",
            "Ledger / no-op",
            "Raw insert (rows/tx = callers)",
            "Ledger / raw insert",
            "Stock cqrs-es",
            "Ledger / cqrs-es",
        ]);
        for l in &b.levels {
            let n = run.noop(l.concurrency);
            let raw = b
                .raw_inserts
                .iter()
                .find(|(batch, _)| *batch == l.concurrency as u64)
                .map(|(_, r)| r.per_second());
            t.row(vec![
                l.concurrency.to_string(),
                rate(l.throughput(), "cmd"),
                ms(l.latencies.p50()),
                ms(l.latencies.p99()),
                l.errors.to_string(),
                n.map_or("—".to_owned(), |n| rate(n.throughput(), "cmd")),
                n.map_or("—".to_owned(), |n| ms(n.latencies.p50())),
                n.map_or("—".to_owned(), |n| ms(n.latencies.p99())),
                n.map_or("—".to_owned(), |n| {
                    percent(l.throughput() / n.throughput())
                }),
                raw.map_or("—".to_owned(), |r| rate(r, "rows")),
                raw.map_or("—".to_owned(), |r| percent(l.throughput() / r)),
                b.cqrs(l.concurrency)
                    .map_or("—".to_owned(), |p| rate(p.throughput(), "cmd")),
                b.cqrs(l.concurrency)
                    .map_or("—".to_owned(), |p| times(l.throughput() / p.throughput())),
            ]);
        }
        let measured: u64 = b.levels.iter().map(|l| l.commands).sum();
        let _ = writeln!(
            out,
            "## Commands through gRPC: {} (RegisterCompany, {} measured)\n\n{}",
            b.name,
            thousands(measured),
            t.render()
        );
        if let Some(e) = b.levels.iter().find_map(|l| l.first_error.as_ref()) {
            let _ = writeln!(out, "First error: `{e}`\n");
        }
    }

    // Every question.
    if let Some(first) = run.backends.first() {
        let mut header = vec!["Question".to_owned()];
        for b in &run.backends {
            header.push(format!("{} p50", b.name));
            header.push(format!("{} p99", b.name));
            header.push(format!("{} errors", b.name));
        }
        let mut t = Table {
            header,
            rows: Vec::new(),
        };
        for (i, q) in first.questions.iter().enumerate() {
            let mut row = vec![q.name.to_owned()];
            for b in &run.backends {
                match b.questions.get(i) {
                    Some(q) => {
                        row.push(ms(q.latencies.p50()));
                        row.push(ms(q.latencies.p99()));
                        row.push(format!("{} of {}", q.errors, q.latencies.len()));
                    }
                    None => row.extend(["—".to_owned(), "—".to_owned(), "—".to_owned()]),
                }
            }
            t.row(row);
        }
        let _ = writeln!(
            out,
            "## Audit questions and proofs (1 caller, at the filled log)\n\n{}",
            t.render()
        );
        for b in &run.backends {
            for q in &b.questions {
                if let Some(e) = &q.first_error {
                    let _ = writeln!(out, "- {} {}: first error `{e}`", b.name, q.name);
                }
            }
        }
    }

    // The long phases.
    let mut header = vec!["Phase".to_owned()];
    header.extend(run.backends.iter().map(|b| b.name.to_owned()));
    let mut t = Table {
        header,
        rows: Vec::new(),
    };
    let mut row = |name: &str, f: &dyn Fn(&Backend) -> String| {
        let mut cells = vec![name.to_owned()];
        cells.extend(run.backends.iter().map(f));
        t.row(cells);
    };
    row("Fill: events, time, rate", &|b| {
        format!(
            "{} in {} ({}), {} commands",
            thousands(b.fill_events),
            secs(b.fill_elapsed),
            rate(b.fill_rate(), "events"),
            thousands(b.fill_commands)
        )
    });
    row(
        "Read models: lag at the fill's end, then at the head after",
        &|b| {
            format!(
                "{} events, {}",
                thousands(b.lag_at_fill_end),
                secs(b.catch_up_elapsed.saturating_sub(b.fill_elapsed))
            )
        },
    );
    row("ReadLog, one stream", &|b| {
        format!(
            "{} events in {} ({}), {} bytes per event",
            thousands(b.replay.rows),
            secs(b.replay.elapsed),
            rate(b.replay.per_second(), "events"),
            b.replay.mean_bytes()
        )
    });
    row("Raw scan", &|b| {
        format!(
            "{} rows in {} ({})",
            thousands(b.scan.rows),
            secs(b.scan.elapsed),
            rate(b.scan.per_second(), "rows")
        )
    });
    row("Projections rebuild (process)", &|b| {
        format!(
            "{} events in {} ({})",
            thousands(b.head),
            secs(b.rebuild),
            rate(per_second(b.head, b.rebuild), "events")
        )
    });
    row("verify (process)", &|b| {
        format!(
            "{} events in {} ({})",
            thousands(b.head),
            secs(b.verify),
            rate(per_second(b.head, b.verify), "events")
        )
    });
    row("Server peak memory (VmHWM)", &|b| mib(b.peak_memory));
    let _ = writeln!(out, "\n## Fill, replay, rebuild, verify\n\n{}", t.render());
    if let Some(s) = run.sha256 {
        let _ = writeln!(
            out,
            "SHA-256 ceiling ({}-byte leaves, in process): {} on one core, {} on {} cores.\n",
            s.leaf_bytes,
            rate(s.one_core, "leaves"),
            rate(s.all_cores, "leaves"),
            s.cores
        );
    }
    out
}
