//! `kcn-ledger projections rebuild [NAME]`: replays the log into a read model from position 0.
//!
//! Every read model rebuilds without downtime: the log is replayed into fresh tables while the live
//! ones keep serving queries (a running server's projector keeps feeding them), then the switch
//! happens in one transaction under the model's checkpoint lock. The audit read models switch to a
//! new generation of tables (the old one is dropped a few seconds later); the timeline's live tables
//! take the rebuilt content in that transaction, so readers see the old timeline or the new one,
//! never a partial one.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use kcn_projections::ReadDatabase;
use kcn_projections::audit_runner::{AuditModels, DROP_AFTER};
use kcn_projections::models;

use crate::config::Config;
use crate::progress::Progress;

/// The name of the timeline read model.
const TIMELINE: &str = "timeline";

/// The names `rebuild` accepts.
pub fn names() -> Vec<&'static str> {
    let mut all = vec![TIMELINE];
    all.extend(models::all().iter().map(|m| m.name()));
    all
}

/// Rebuilds one read model, or all of them.
pub async fn rebuild(config: &Config, name: Option<&str>) -> anyhow::Result<()> {
    let known = names();
    let chosen: Vec<&str> = match name {
        Some(n) if known.contains(&n) => vec![n],
        Some(n) => anyhow::bail!("no read model named {n:?}; known: {}", known.join(", ")),
        None => known.clone(),
    };
    let (log, db) = crate::open_storage(config).await?;
    db.migrate().await?;
    let audit = AuditModels::open(&db, models::all()).await?;
    for name in chosen {
        if name == TIMELINE {
            rebuild_timeline(log.as_ref(), &db).await?;
            continue;
        }
        let head = log.head().await?;
        let progress = Arc::new(Mutex::new(Progress::new(
            &format!("rebuilding {name}"),
            "events",
            head,
            true,
        )));
        let p = progress.clone();
        let report = move |done: u64, total: u64| {
            if let Ok(mut p) = p.lock() {
                p.set_total(total);
                p.set(done);
            }
        };
        let rebuilt = audit
            .rebuild(log.as_ref(), name, &report)
            .await
            .with_context(|| {
                format!("rebuilding {name} failed; the current generation keeps serving")
            })?;
        if let Ok(p) = progress.lock() {
            p.finish();
        }
        tracing::info!(
            read_model = name,
            position = rebuilt.position,
            "switched to the rebuilt tables"
        );
        // Queries that read the old generation number just before the switch finish first.
        tokio::time::sleep(DROP_AFTER).await;
        audit.drop_generation(name, &rebuilt.previous).await?;
    }
    Ok(())
}

async fn rebuild_timeline(
    log: &dyn kcn_eventstore::Backend,
    db: &ReadDatabase,
) -> anyhow::Result<()> {
    let head = log.head().await?;
    let progress = Arc::new(Mutex::new(Progress::new(
        "rebuilding timeline",
        "events",
        head,
        true,
    )));
    let p = progress.clone();
    let report = move |done: u64, total: u64| {
        if let Ok(mut p) = p.lock() {
            p.set_total(total);
            p.set(done);
        }
    };
    let reached = kcn_projections::rebuild_beside(log, db, &report).await?;
    if let Ok(p) = progress.lock() {
        p.finish();
    }
    tracing::info!(
        read_model = TIMELINE,
        position = reached,
        "timeline rebuilt and switched"
    );
    Ok(())
}
