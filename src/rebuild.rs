//! `kcn-ledger projections rebuild [NAME]`: replays the log into a read model from position 0.
//!
//! The audit read models rebuild without downtime: the log is replayed into a new generation of their
//! tables while the current one keeps serving queries (a running server's projector keeps feeding
//! it), then the generation is switched in one transaction under the model's checkpoint lock and the
//! old tables are dropped. The timeline is rebuilt in place under its checkpoint lock: while that runs
//! its queries see a partial timeline (see the README).

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
    let progress = Progress::new("rebuilding timeline", "events", head, true);
    let reached = kcn_projections::rebuild(log, db).await?;
    progress.finish();
    tracing::info!(
        read_model = TIMELINE,
        position = reached,
        "timeline rebuilt"
    );
    Ok(())
}
