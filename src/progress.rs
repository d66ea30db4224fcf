//! Progress of long work (verification, rebuilds, imports): a progress bar on a terminal, structured
//! `tracing` logs every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the log form reports.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// A progress reporter for `what` (such as "verifying" or "rebuilding inspections").
#[derive(Debug)]
pub enum Progress {
    Bar(indicatif::ProgressBar),
    Log {
        what: String,
        total: u64,
        last: Instant,
    },
}

impl Progress {
    /// A bar when `show` and standard error is a terminal, logs otherwise.
    pub fn new(what: &str, unit: &str, total: u64, show: bool) -> Self {
        if show && std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            let template = format!(
                "{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            Self::Bar(bar)
        } else {
            tracing::info!(total, "{what}");
            Self::Log {
                what: what.to_owned(),
                total,
                last: Instant::now(),
            }
        }
    }

    /// Moves to `done`.
    pub fn set(&mut self, done: u64) {
        match self {
            Self::Bar(bar) => bar.set_position(done),
            Self::Log { what, total, last } => {
                if last.elapsed() >= LOG_EVERY {
                    *last = Instant::now();
                    tracing::info!(done, total = *total, "{what}");
                }
            }
        }
    }

    /// Changes the total (work that grows while it runs, such as a log still being appended to).
    pub fn set_total(&mut self, new_total: u64) {
        match self {
            Self::Bar(bar) => bar.set_length(new_total),
            Self::Log { total, .. } => *total = new_total,
        }
    }

    /// Ends the bar (the log form says it is done).
    pub fn finish(&self) {
        match self {
            Self::Bar(bar) => bar.finish_and_clear(),
            Self::Log { what, total, .. } => tracing::info!(total, "{what}: done"),
        }
    }
}
