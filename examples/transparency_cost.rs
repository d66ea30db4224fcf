//! Measures what a checkpoint and proofs cost right after an append, at 1,000 and at 100,000 events,
//! to show that the cost follows `log N` and not `N`: each operation makes ONE batched read of stored
//! tree hashes (counted by the checkpointer) and never rehashes the log.
//!
//! ```text
//! cargo run --release --example transparency_cost            # 1,000 and 100,000 events
//! cargo run --release --example transparency_cost -- 1000 1000000 --rounds 100
//! ```
//!
//! The log is filled with synthetic events straight through the append transaction (the same
//! statements the writer uses, in batches of 2,000), on SQLite with full durability in a temporary
//! directory. Then, `--rounds` times: append one event, have the writer sign the head (a
//! transaction of its own: one hash read, sign, store), ask for an inclusion proof of a random
//! position and a consistency proof from the previous checkpoint. It prints the median time of each
//! operation, and fails if a proof made more than one read of stored hashes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kcn_domain::LegalRules;
use kcn_domain::time::Clock;
use kcn_eventstore::SystemClock;
use kcn_eventstore::checkpoint::LogIdentity;
use kcn_eventstore::{
    Backend, Checkpointer, EventStore, SqliteBackend, SqliteDurability, StoredEvent,
};
use kcn_integrity::leaf::{format_timestamp, leaf_hash};
use kcn_integrity::{Hash, Signer, tree, verify_consistency, verify_inclusion};
use uuid::Uuid;

const BATCH: u64 = 2_000;

/// Appends `count` synthetic events in batches, as the writer does: one read of the stored hashes
/// the append needs, then the events and the new hashes in the same transaction.
async fn append(backend: &dyn Backend, count: u64) -> anyhow::Result<()> {
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH);
        let mut tx = backend.begin_append().await?;
        let last = tx.last_position().await?;
        let now = format_timestamp(SystemClock.now());
        let events: Vec<StoredEvent> = (1..=n)
            .map(|i| StoredEvent {
                position: last + i,
                event_id: Uuid::now_v7(),
                aggregate_type: "Company".into(),
                aggregate_id: Uuid::now_v7().to_string(),
                aggregate_version: 1,
                event_type: "CompanyRegistered".into(),
                schema_version: 1,
                occurred_at: now.clone(),
                recorded_at: now.clone(),
                payload: format!(
                    r#"{{"enterprise_code":"{:010}","name":"Công ty {}"}}"#,
                    last + i,
                    last + i
                )
                .into_bytes(),
                metadata: br#"{"actor":{"principal":"bench","authentication":"local_principal"}}"#
                    .to_vec(),
            })
            .collect();
        let leaves: Vec<Hash> = events.iter().map(|e| leaf_hash(&e.leaf())).collect();
        let needed = tree::indexes_for_append(last)?;
        let stored: HashMap<u64, Hash> = tx.read_tree_hashes(&needed).await?.into_iter().collect();
        let appended = tree::append(last, &leaves, &stored)?;
        tx.insert(&events, &[], &appended.hashes).await?;
        tx.commit().await?;
        left -= n;
    }
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Median times of (checkpoint, inclusion proof, consistency proof) after an append at `size`, and
/// the time of a full offline verification (which does rehash everything), for contrast.
async fn measure(size: u64, rounds: u32) -> anyhow::Result<[Duration; 4]> {
    let dir = tempfile::tempdir()?;
    let backend = SqliteBackend::open(
        &dir.path().join("kcn-ledger.sqlite"),
        SqliteDurability::Full,
    )
    .await?;
    let fill = Instant::now();
    append(&backend, size).await?;
    let filled = fill.elapsed();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = EventStore::start(
        Arc::new(backend.clone()),
        clock.clone(),
        LegalRules::default(),
    )
    .await?;
    let signer = Signer::from_seed("bench.example", &[5; 32])?;
    let vkey = signer.verifier_key();
    let identity = LogIdentity::new("bench.example/log", signer)?;
    let verifier = identity.verifier();
    // A long interval: only on-demand checkpoints, so that each round measures one issuance.
    let checkpoints = Checkpointer::start(&store, identity, Duration::from_secs(3_600)).await?;
    let mut previous = checkpoints.latest().await?.checkpoint;

    let (mut issue, mut inclusion, mut consistency) = (Vec::new(), Vec::new(), Vec::new());
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..rounds {
        append(&backend, 1).await?;
        let reads = checkpoints.hash_reads();
        let t = Instant::now();
        // The writer signs the head in a transaction of its own (its one read of stored hashes
        // is the append's, not the checkpointer's).
        let latest = checkpoints.sign_head().await?;
        issue.push(t.elapsed());
        let cp = kcn_integrity::open_checkpoint(&latest.note, &verifier)?;
        let size = cp.size;

        // xorshift: a random position without another dependency.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let position = 1 + seed % size;
        let t = Instant::now();
        let proof = checkpoints.inclusion_proof(position, size).await?;
        inclusion.push(t.elapsed());
        verify_inclusion(
            &proof.leaf_hash,
            position - 1,
            size,
            &proof.hashes,
            &cp.root,
        )?;

        let t = Instant::now();
        let hashes = checkpoints.consistency_proof(previous.size, size).await?;
        consistency.push(t.elapsed());
        verify_consistency(previous.size, size, &previous.root, &cp.root, &hashes)?;

        let used = checkpoints.hash_reads() - reads;
        if used != 2 {
            bail!(
                "at {size} events one round of proofs made {used} reads of stored hashes, not 2 (one per proof)"
            );
        }
        previous = cp;
    }
    eprintln!(
        "{size} events filled in {filled:.1?}; {rounds} checkpoints issued, {} hash reads in all",
        checkpoints.hash_reads()
    );
    drop(checkpoints);
    drop(store);
    backend.pool().close().await;

    let options = kcn_ledger::verify::Options {
        verifier_key: Some(vkey),
        ..kcn_ledger::verify::Options::new(kcn_ledger::verify::Source::Sqlite(
            dir.path().join("kcn-ledger.sqlite"),
        ))
    };
    let t = Instant::now();
    let report = kcn_ledger::verify::verify(&options).await?;
    let verified = t.elapsed();
    if !report.is_ok() {
        bail!("the benchmark's log does not verify: {}", report.verdict());
    }
    Ok([
        median(issue),
        median(inclusion),
        median(consistency),
        verified,
    ])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut sizes = Vec::new();
    let mut rounds = 200u32;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rounds" {
            rounds = args.next().context("--rounds needs a number")?.parse()?;
        } else {
            sizes.push(
                arg.parse::<u64>()
                    .with_context(|| format!("{arg:?} is not a size"))?,
            );
        }
    }
    if sizes.is_empty() {
        sizes = vec![1_000, 100_000];
    }
    let mut results = Vec::new();
    for &size in &sizes {
        results.push((size, measure(size, rounds).await?));
    }
    println!(
        "| events | checkpoint (median) | inclusion proof (median) | consistency proof (median) \
         | hash reads per operation | full offline verify |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (size, [c, i, k, v]) in &results {
        println!("| {size} | {c:.1?} | {i:.1?} | {k:.1?} | 1 | {v:.1?} |");
    }
    if let (Some((small, a)), Some((large, b))) = (results.first(), results.last()) {
        for (name, x, y) in [
            ("checkpoint", a[0], b[0]),
            ("inclusion proof", a[1], b[1]),
            ("consistency proof", a[2], b[2]),
        ] {
            let ratio = y.as_secs_f64() / x.as_secs_f64();
            let verdict = if ratio <= 2.0 { "within" } else { "NOT within" };
            println!(
                "{name}: {ratio:.2}x the cost at {large} events compared with {small} ({verdict} 2x)"
            );
        }
    }
    Ok(())
}
