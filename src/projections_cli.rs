//! `kcn-ledger projections rebuild [NAME]` and `kcn-ledger projections status`.
//!
//! A rebuild replays the log once into a new generation of every chosen read model's tables while
//! the live ones keep serving queries (a running server keeps feeding them), then switches them all in
//! one transaction under their checkpoints' lock: readers see the old answers or the new ones, never a
//! partial table. The replaced generation is retired; a running server drops it after a grace period,
//! in the background, so the command returns as soon as the switch commits.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use kcn_projections::Engine;

use crate::config::Config;
use crate::progress::Progress;

/// Opens the read models of the configured database without starting them.
async fn engine(config: &Config) -> anyhow::Result<Engine> {
    let (log, db) = crate::open_storage(config).await?;
    Ok(Engine::open(&db, log, kcn_projections::models::with_rules(&config.rules)).await?)
}

/// The names `rebuild` accepts.
pub fn names() -> Vec<&'static str> {
    kcn_projections::models::all()
        .iter()
        .map(|m| m.name())
        .collect()
}

/// Rebuilds one read model, or all of them in one replay of the log.
pub async fn rebuild(config: &Config, name: Option<&str>) -> anyhow::Result<()> {
    let known = names();
    let chosen: Vec<&str> = match name {
        Some(n) if known.contains(&n) => vec![n],
        Some(n) => anyhow::bail!("no read model named {n:?}; known: {}", known.join(", ")),
        None => Vec::new(),
    };
    let engine = engine(config).await?;
    let label = match name {
        Some(n) => format!("rebuilding {n}"),
        None => "rebuilding every read model".to_owned(),
    };
    let progress = Arc::new(Mutex::new(Progress::new(&label, "events", 0, true)));
    let p = progress.clone();
    let report = move |done: u64, total: u64| {
        if let Ok(mut p) = p.lock() {
            p.set_total(total);
            p.set(done);
        }
    };
    let rebuilt = engine
        .rebuild(&chosen, &report)
        .await
        .context("the rebuild failed; the current generation keeps serving")?;
    if let Ok(p) = progress.lock() {
        p.finish();
    }
    for r in rebuilt {
        tracing::info!(
            read_model = r.name,
            generation = r.generation.0,
            retired = r.previous.0,
            position = r.position,
            "switched to the rebuilt tables"
        );
    }
    Ok(())
}

/// Prints where each read model stands: position, lag behind the log, and why it stopped, if it
/// did. Returns whether every read model is healthy (none stopped).
pub async fn status(config: &Config, json: bool) -> anyhow::Result<bool> {
    let engine = engine(config).await?;
    let all = engine.status().await?;
    let healthy = all.iter().all(|s| s.error.is_none());
    if json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "position": s.position,
                    "log_head": s.log_head,
                    "lag": s.log_head.saturating_sub(s.position),
                    "generation": s.generation,
                    "version": s.version,
                    "stopped_before": s.error_position,
                    "error": s.error,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(healthy);
    }
    println!(
        "{:<16} {:>12} {:>12} {:>10}  state",
        "read model", "position", "log head", "lag"
    );
    for s in &all {
        let state = match (&s.error, s.error_position) {
            (Some(e), Some(p)) => format!("stopped before position {p}: {e}"),
            (Some(e), None) => format!("stopped: {e}"),
            (None, _) if s.position >= s.log_head => "caught up".to_owned(),
            (None, _) => "catching up".to_owned(),
        };
        println!(
            "{:<16} {:>12} {:>12} {:>10}  {state}",
            s.name,
            s.position,
            s.log_head,
            s.log_head.saturating_sub(s.position)
        );
    }
    Ok(healthy)
}
