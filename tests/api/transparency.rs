//! The transparency log through the real server: signed checkpoints and proofs that verify with
//! `kcn_integrity` alone, the offline verifier naming the first altered position after an attacker
//! with file access changed the database, the online audit catching a server whose history no
//! longer extends a trusted checkpoint, one read of stored hashes per checkpoint or proof, the
//! same on PostgreSQL (which must be given its origin and key), and the independent Python verifier
//! over 10,000 events.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcn_eventstore::checkpoint::archive::Archive;
use kcn_eventstore::{Backend, Checkpointer, EventStore, LogIdentity, StoredEvent};
use kcn_integrity::{
    Checkpoint, Hash, LeafFields, MemoryTree, Verifier, leaf_hash, open_checkpoint,
    verify_consistency, verify_inclusion,
};
use kcn_ledger::audit_cli::{self, Verdict};
use kcn_ledger::verify::{self, Problem, Report, Signed, Source};
use kcn_services::proto;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tonic::Code;

use crate::harness::{TestServer, header, seed, violated_fields, wait_until};

fn company(i: usize) -> proto::RegisterCompanyRequest {
    proto::RegisterCompanyRequest {
        header: header("2025-04-01T02:10:00Z"),
        enterprise_code: crate::harness::fresh_enterprise_code(),
        name: format!("Công ty số {i}"),
        address: "Thuận An".into(),
    }
}

/// Appends `n` events with `workers` concurrent clients; returns the last position.
async fn append_companies(server: &TestServer, n: usize, workers: usize) -> u64 {
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let mut registry = server.registry();
        tasks.spawn(async move {
            let mut last = 0;
            for i in (w..n).step_by(workers) {
                let outcome = registry
                    .register_company(company(i))
                    .await
                    .unwrap()
                    .into_inner()
                    .outcome
                    .unwrap();
                last = last.max(outcome.last_position);
            }
            last
        });
    }
    let mut last = 0;
    while let Some(done) = tasks.join_next().await {
        last = last.max(done.unwrap());
    }
    last
}

async fn verifier(server: &TestServer) -> Verifier {
    let key = server
        .audit()
        .get_verifier_key(proto::GetVerifierKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    key.verifier_key.parse().unwrap()
}

/// The newest checkpoint once it covers everything committed so far. Right after commits it may
/// lag the head: asking has the writer sign its head with its next batch (at once when idle), so a
/// few asks get there.
async fn latest_checkpoint(server: &TestServer) -> proto::GetCheckpointResponse {
    checkpoint_covering(&mut server.audit(), None).await
}

/// Asks for the newest checkpoint until it covers `size` (default: the log's head).
pub(crate) async fn checkpoint_covering(
    audit: &mut proto::audit_service_client::AuditServiceClient<crate::harness::Channel>,
    size: Option<u64>,
) -> proto::GetCheckpointResponse {
    let head = match size {
        Some(size) => size,
        None => {
            audit
                .get_projection_status(proto::GetProjectionStatusRequest {})
                .await
                .unwrap()
                .into_inner()
                .projections[0]
                .log_head
        }
    };
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let latest = audit
            .get_checkpoint(proto::GetCheckpointRequest { tree_size: 0 })
            .await
            .unwrap()
            .into_inner();
        if latest.tree_size >= head {
            return latest;
        }
        assert!(
            Instant::now() < end,
            "no checkpoint covered {head} within 20 s: {latest:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn leaf_of(e: &proto::LogEvent) -> Hash {
    leaf_hash(&LeafFields {
        position: e.position,
        event_id: e.event_id.parse().unwrap(),
        aggregate_type: &e.aggregate_type,
        aggregate_id: &e.aggregate_id,
        aggregate_version: e.aggregate_version,
        event_type: &e.event_type,
        schema_version: u64::from(e.schema_version),
        occurred_at: &e.occurred_at,
        recorded_at: &e.recorded_at,
        payload: &e.payload,
        metadata: &e.metadata,
    })
}

fn hashes(raw: &[Vec<u8>]) -> Vec<Hash> {
    raw.iter().map(|h| Hash::from_slice(h).unwrap()).collect()
}

/// The database of a stopped server, opened for writing as an attacker with file access would.
pub(crate) async fn attacker(dir: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::new().filename(dir.join("kcn-ledger.sqlite"));
    let pool = SqlitePool::connect_with(options).await.unwrap();
    for trigger in ["events_are_immutable_update", "events_are_immutable_delete"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TRIGGER IF EXISTS {trigger}"
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool
}

async fn verify_dir(dir: &Path) -> Report {
    let options = verify::Options::new(Source::parse(dir.to_str().unwrap()));
    verify::verify(&options).await.unwrap()
}

/// A server with 20 events (6 from the seed, 14 companies) and a checkpoint issued at 20.
async fn twenty_events() -> (TestServer, proto::GetCheckpointResponse) {
    let server = TestServer::start().await;
    seed(&server).await;
    append_companies(&server, 14, 1).await;
    let checkpoint = latest_checkpoint(&server).await;
    assert_eq!(checkpoint.tree_size, 20);
    (server, checkpoint)
}

/// Stops the server, asserts its database verifies, and hands back the directory.
async fn stopped_and_verified(server: TestServer) -> tempfile::TempDir {
    let dir = server.stop().await;
    let clean = verify_dir(dir.path()).await;
    assert!(clean.is_ok(), "{:?}", clean.problems);
    assert_eq!(clean.tree_size, 20);
    assert!(clean.checkpoints_verified >= 1);
    dir
}

#[tokio::test]
async fn every_event_has_an_inclusion_proof_leading_to_the_signed_checkpoint() {
    let server = TestServer::start().await;
    seed(&server).await;
    append_companies(&server, 11, 3).await;
    let verifier = verifier(&server).await;
    let latest = latest_checkpoint(&server).await;
    let checkpoint = open_checkpoint(&latest.note, &verifier).unwrap();
    assert_eq!(checkpoint.size, 17);
    assert_eq!(latest.tree_size, 17);
    assert_eq!(latest.root_hash, checkpoint.root.as_bytes());
    assert_eq!(latest.origin, checkpoint.origin);

    let log = server.read_log().await;
    assert_eq!(log.len(), 17);
    for event in &log {
        let proof = server
            .audit()
            .get_inclusion_proof(proto::GetInclusionProofRequest {
                position: event.position,
                tree_size: checkpoint.size,
            })
            .await
            .unwrap()
            .into_inner();
        let leaf = leaf_of(event);
        assert_eq!(proof.leaf_index, event.position - 1);
        assert_eq!(
            proof.leaf_hash,
            leaf.as_bytes(),
            "position {}",
            event.position
        );
        verify_inclusion(
            &leaf,
            proof.leaf_index,
            checkpoint.size,
            &hashes(&proof.hashes),
            &checkpoint.root,
        )
        .unwrap_or_else(|e| panic!("position {}: {e}", event.position));
    }
    // A proof for another leaf's hash does not verify: the check can fail.
    let proof = server
        .audit()
        .get_inclusion_proof(proto::GetInclusionProofRequest {
            position: 3,
            tree_size: 17,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        verify_inclusion(
            &leaf_of(&log[3]),
            2,
            17,
            &hashes(&proof.hashes),
            &checkpoint.root
        )
        .is_err()
    );
}

#[tokio::test]
async fn consistency_proofs_link_an_earlier_checkpoint_to_the_latest() {
    let server = TestServer::start().await;
    seed(&server).await;
    let verifier = verifier(&server).await;
    let first = latest_checkpoint(&server).await;
    let old = open_checkpoint(&first.note, &verifier).unwrap();
    assert_eq!(old.size, 6);
    append_companies(&server, 25, 4).await;
    let second = latest_checkpoint(&server).await;
    let new = open_checkpoint(&second.note, &verifier).unwrap();
    assert_eq!(new.size, 31);

    let proof = server
        .audit()
        .get_consistency_proof(proto::GetConsistencyProofRequest {
            old_size: 6,
            new_size: 31,
        })
        .await
        .unwrap()
        .into_inner();
    verify_consistency(6, 31, &old.root, &new.root, &hashes(&proof.hashes)).unwrap();
    // Against another old root it fails: the proof binds the history.
    let forged = Hash::new([7; 32]);
    assert!(verify_consistency(6, 31, &forged, &new.root, &hashes(&proof.hashes)).is_err());

    // The checkpoint issued at 6 is kept, byte for byte, for auditors who hold it.
    let kept = server
        .audit()
        .get_checkpoint(proto::GetCheckpointRequest { tree_size: 6 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.note, first.note);
    // Every size pair up to the head has a proof that verifies against the recomputed roots.
    let log = server.read_log().await;
    let leaves: Vec<Hash> = log.iter().map(leaf_of).collect();
    for (a, b) in [(1, 2), (3, 7), (8, 16), (13, 31), (31, 31), (0, 5)] {
        let proof = server
            .audit()
            .get_consistency_proof(proto::GetConsistencyProofRequest {
                old_size: a,
                new_size: b,
            })
            .await
            .unwrap()
            .into_inner();
        let root = |n: u64| kcn_integrity::root_of(&leaves[..n as usize]);
        verify_consistency(a, b, &root(a), &root(b), &hashes(&proof.hashes))
            .unwrap_or_else(|e| panic!("{a} -> {b}: {e}"));
    }
}

#[tokio::test]
async fn checkpoints_are_issued_after_commits_without_being_asked() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    // Asking for exactly this size never issues one: only the checkpointer's own task can.
    let issued = wait_until(Duration::from_secs(5), || async {
        server
            .audit()
            .get_checkpoint(proto::GetCheckpointRequest {
                tree_size: p.last_position,
            })
            .await
            .is_ok()
    })
    .await;
    assert!(
        issued,
        "no checkpoint was issued for tree size {}",
        p.last_position
    );
}

/// The newest checkpoint is served without waiting for the log's write lock: with the lock held
/// by another connection (as the writer and the projectors hold it under load) and a commit not
/// yet covered by a checkpoint, the answer still comes, and it is the newest one already signed.
/// Before, the request signed and stored a new checkpoint itself and waited behind the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_checkpoint_is_served_while_the_write_lock_is_held() {
    // No checkpoint after commits for an hour: only asking or a trailing one.
    let server = TestServer::start_configured(tempfile::tempdir().unwrap(), None, |c| {
        c.checkpoint_interval_ms = 3_600_000
    })
    .await;
    seed(&server).await;
    assert_eq!(latest_checkpoint(&server).await.tree_size, 6);
    append_companies(&server, 1, 1).await;

    let options = SqliteConnectOptions::new().filename(server.dir.path().join("kcn-ledger.sqlite"));
    let other = SqlitePool::connect_with(options).await.unwrap();
    let lock = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    // A command now waits for the lock in the writer.
    let mut registry = server.registry();
    let waiting = tokio::spawn(async move { registry.register_company(company(99)).await });

    // Not asked with a timeout: if the request waited for the lock it would fail after the
    // database's busy timeout, or hang, since the lock is released only after the answer.
    let answer = server
        .audit()
        .get_checkpoint(proto::GetCheckpointRequest { tree_size: 0 })
        .await
        .expect("the newest checkpoint is served while the write lock is held")
        .into_inner();
    assert!(!waiting.is_finished(), "the command waits for the lock");
    assert!(answer.tree_size == 6 || answer.tree_size == 7, "{answer:?}");
    open_checkpoint(&answer.note, &verifier(&server).await).unwrap();

    lock.rollback().await.unwrap();
    other.close().await;
    let outcome = waiting
        .await
        .unwrap()
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(outcome.first_position, 8);
    // Asking again soon gets the head signed, without waiting for the hour.
    assert_eq!(latest_checkpoint(&server).await.tree_size, 8);
}

#[tokio::test]
async fn proof_requests_outside_the_log_name_the_field() {
    let server = TestServer::start().await;
    seed(&server).await;
    let mut audit = server.audit();
    let inclusion = |position, tree_size| proto::GetInclusionProofRequest {
        position,
        tree_size,
    };
    let status = audit
        .get_inclusion_proof(inclusion(7, 6))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["position"]);
    let status = audit
        .get_inclusion_proof(inclusion(0, 6))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["position"]);
    let status = audit
        .get_inclusion_proof(inclusion(1, 7))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["tree_size"]);
    assert!(status.message().contains("size 6"), "{}", status.message());

    let consistency = |old_size, new_size| proto::GetConsistencyProofRequest { old_size, new_size };
    let status = audit
        .get_consistency_proof(consistency(5, 4))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["old_size"]);
    let status = audit
        .get_consistency_proof(consistency(2, 9))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["new_size"]);

    let status = audit
        .get_checkpoint(proto::GetCheckpointRequest { tree_size: 3 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

/// Tree sizes no log can reach (past the tree's limit of 2^61, past i64 at 2^63, u64::MAX) are
/// caller errors naming the field, never a panic or INTERNAL, and the server carries on.
#[tokio::test]
async fn absurd_tree_sizes_are_invalid_arguments_and_the_server_carries_on() {
    let server = TestServer::start().await;
    seed(&server).await;
    let mut audit = server.audit();
    for size in [1 << 40, (1 << 61) + 1, 1 << 63, u64::MAX - 1, u64::MAX] {
        let status = audit
            .get_checkpoint(proto::GetCheckpointRequest { tree_size: size })
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["tree_size"],
            "checkpoint at {size}"
        );
        assert!(status.message().contains("size 6"), "{}", status.message());
        let status = audit
            .get_inclusion_proof(proto::GetInclusionProofRequest {
                position: 1,
                tree_size: size,
            })
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["tree_size"],
            "inclusion at {size}"
        );
        let status = audit
            .get_inclusion_proof(proto::GetInclusionProofRequest {
                position: size,
                tree_size: size,
            })
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["tree_size"],
            "inclusion of {size}"
        );
        for (old_size, new_size) in [(1, size), (size, size), (6, size)] {
            let status = audit
                .get_consistency_proof(proto::GetConsistencyProofRequest { old_size, new_size })
                .await
                .unwrap_err();
            assert_eq!(
                violated_fields(&status),
                ["new_size"],
                "consistency {old_size} -> {new_size}"
            );
        }
    }
    // Still serving, with the same answers as before.
    let latest = latest_checkpoint(&server).await;
    assert_eq!(latest.tree_size, 6);
    let proof = audit
        .get_consistency_proof(proto::GetConsistencyProofRequest {
            old_size: 3,
            new_size: 6,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!proof.hashes.is_empty());
}

#[tokio::test]
async fn the_log_keeps_its_origin_and_key_across_restarts_with_an_owner_only_key_file() {
    let server = TestServer::start().await;
    seed(&server).await;
    let key = verifier(&server).await;
    let before = latest_checkpoint(&server).await;
    assert!(
        before.origin.starts_with("kcn-ledger.local/"),
        "{}",
        before.origin
    );
    let dir = server.stop().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("checkpoint-signing-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = TestServer::start_in(dir).await;
    assert_eq!(verifier(&again).await, key);
    let after = latest_checkpoint(&again).await;
    assert_eq!(after.note, before.note);
    assert_eq!(after.origin, before.origin);
}

#[tokio::test]
async fn verify_names_the_event_whose_payload_lost_a_byte() {
    let (server, _) = twenty_events().await;
    let dir = stopped_and_verified(server).await;
    let db = attacker(dir.path()).await;
    // One byte of one payload: the first character of its JSON text, from `{` to `[`.
    sqlx::query(
        "UPDATE events SET payload = CAST('[' || substr(payload, 2) AS BLOB) WHERE position = 7",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert!(!report.is_ok());
    assert_eq!(report.first_bad_position, Some(7), "{}", report.verdict());
    assert!(report.problems.iter().any(|p| matches!(
        p,
        Problem::LeafMismatch {
            position: 7,
            signed: Signed::Contradicted,
            ..
        }
    )));
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::CheckpointRoot { tree_size: 20, .. }))
    );
    assert!(report.verdict().contains("is 7"), "{}", report.verdict());
}

#[tokio::test]
async fn verify_names_the_position_where_a_deleted_event_breaks_the_sequence() {
    let (server, _) = twenty_events().await;
    let dir = stopped_and_verified(server).await;
    let db = attacker(dir.path()).await;
    sqlx::query("DELETE FROM events WHERE position = 5")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert_eq!(report.first_bad_position, Some(5), "{}", report.verdict());
    assert_eq!(
        report.problems[0],
        Problem::Missing {
            position: 5,
            count: 1
        }
    );
    assert_eq!(report.events, 19);
}

#[tokio::test]
async fn verify_names_the_last_event_when_it_was_cut_off() {
    let (server, _) = twenty_events().await;
    let dir = stopped_and_verified(server).await;
    let db = attacker(dir.path()).await;
    sqlx::query("DELETE FROM events WHERE position >= 19")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert_eq!(report.first_bad_position, Some(19), "{}", report.verdict());
    assert_eq!(
        report.problems[0],
        Problem::Missing {
            position: 19,
            count: 2
        }
    );
}

#[tokio::test]
async fn verify_names_the_first_of_two_swapped_events() {
    let (server, _) = twenty_events().await;
    let dir = stopped_and_verified(server).await;
    let db = attacker(dir.path()).await;
    // Each row moves to the other's position, every byte of it kept.
    let mut tx = db.begin().await.unwrap();
    for sql in [
        "CREATE TEMP TABLE swapped AS SELECT * FROM events WHERE position IN (9, 15)",
        "DELETE FROM events WHERE position IN (9, 15)",
        "UPDATE swapped SET position = 24 - position",
        "INSERT INTO events SELECT * FROM swapped",
    ] {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert_eq!(report.first_bad_position, Some(9), "{}", report.verdict());
    let changed: Vec<u64> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::LeafMismatch { position, .. } => Some(*position),
            _ => None,
        })
        .collect();
    assert_eq!(changed, [9, 15]);
}

#[tokio::test]
async fn verify_names_the_event_whose_timestamp_changed() {
    let (server, _) = twenty_events().await;
    let dir = stopped_and_verified(server).await;
    let db = attacker(dir.path()).await;
    // Still a canonical timestamp, one second earlier than what was recorded.
    sqlx::query("UPDATE events SET occurred_at = '2025-04-01T02:29:59.000000Z' WHERE position = 4")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert_eq!(report.first_bad_position, Some(4), "{}", report.verdict());
    assert!(
        !report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Malformed { .. })),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn verify_rejects_a_checkpoint_whose_signature_was_forged() {
    let (server, checkpoint) = twenty_events().await;
    let dir = stopped_and_verified(server).await;
    let db = attacker(dir.path()).await;
    // The attacker alters the signature bytes (past the 4-byte key id), keeping the line well-formed.
    let (body, signature) = checkpoint.note.split_once("\n\n").unwrap();
    let (name_part, sig64) = signature.trim_end().rsplit_once(' ').unwrap();
    let mut sig: Vec<u8> = sig64.bytes().collect();
    sig[20] = if sig[20] == b'A' { b'B' } else { b'A' };
    let forged = format!(
        "{body}\n\n{name_part} {}\n",
        String::from_utf8(sig).unwrap()
    );
    sqlx::query("UPDATE checkpoints SET note = ?1 WHERE tree_size = 20")
        .bind(&forged)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert!(!report.is_ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::CheckpointSignature { tree_size: 20, .. })),
        "{:?}",
        report.problems
    );
    assert_eq!(report.first_bad_position, None, "no event was changed");
}

/// Replaces the stored checkpoint at `size` with one signed by the log's own key (from the data
/// directory) over a forged root, note and root column alike: only the events can tell.
async fn forge_checkpoint(dir: &Path, db: &SqlitePool, size: u64) {
    let identity = LogIdentity::load_existing(Some(dir), &Default::default())
        .unwrap()
        .unwrap();
    let forged = Checkpoint {
        origin: identity.origin().to_owned(),
        size,
        root: Hash::new([0x5a; 32]),
    };
    let note = identity.signer().sign(&forged).unwrap();
    let changed =
        sqlx::query("UPDATE checkpoints SET note = ?1, root_hash = ?2 WHERE tree_size = ?3")
            .bind(&note)
            .bind(forged.root.as_bytes().to_vec())
            .bind(size as i64)
            .execute(db)
            .await
            .unwrap()
            .rows_affected();
    assert_eq!(changed, 1, "a checkpoint is stored at {size}");
}

/// Checkpoints signed at exactly 6, 12 and 20 events, and the stopped server's directory.
async fn checkpoints_at_6_12_20() -> tempfile::TempDir {
    let server = TestServer::start().await;
    seed(&server).await;
    assert_eq!(latest_checkpoint(&server).await.tree_size, 6);
    append_companies(&server, 6, 1).await;
    assert_eq!(latest_checkpoint(&server).await.tree_size, 12);
    append_companies(&server, 8, 1).await;
    assert_eq!(latest_checkpoint(&server).await.tree_size, 20);
    stopped_and_verified(server).await
}

#[tokio::test]
async fn verify_names_a_checkpoint_whose_root_was_forged_over_unchanged_events() {
    let dir = checkpoints_at_6_12_20().await;
    let db = attacker(dir.path()).await;
    let (note, root): (String, Vec<u8>) =
        sqlx::query_as("SELECT note, root_hash FROM checkpoints WHERE tree_size = 12")
            .fetch_one(&db)
            .await
            .unwrap();
    forge_checkpoint(dir.path(), &db, 12).await;
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert!(!report.is_ok());
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert!(
        matches!(
            report.problems[0],
            Problem::CheckpointForged {
                tree_size: 12,
                confirmed_by: 20,
                ..
            }
        ),
        "{:?}",
        report.problems
    );
    assert_eq!(report.first_bad_position, None, "no event is blamed");
    assert_eq!(report.suspect_range, None, "no event is suspected");
    let verdict = report.verdict();
    assert!(verdict.contains("checkpoint at tree size 12"), "{verdict}");
    assert!(verdict.contains("forged"), "{verdict}");
    assert!(verdict.contains("events are as signed"), "{verdict}");

    // The newest one forged instead: nothing later vouches for the events, and the verdict says
    // both what it may be and where.
    let db = attacker(dir.path()).await;
    sqlx::query("UPDATE checkpoints SET note = ?1, root_hash = ?2 WHERE tree_size = 12")
        .bind(note)
        .bind(root)
        .execute(&db)
        .await
        .unwrap();
    forge_checkpoint(dir.path(), &db, 20).await;
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::CheckpointRoot { tree_size: 20, .. })),
        "{:?}",
        report.problems
    );
    assert_eq!(report.first_bad_position, None);
    assert_eq!(report.suspect_range, Some((13, 20)));
    assert!(
        report.verdict().contains("root was forged"),
        "{}",
        report.verdict()
    );
}

/// Deletes the events after `keep`, as an attacker with file access would (the immutability
/// triggers dropped first).
async fn cut_events_after(dir: &Path, keep: u64) {
    let db = attacker(dir).await;
    sqlx::query("DELETE FROM events WHERE position > ?1")
        .bind(keep as i64)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
}

async fn start_refused(dir: &Path) -> String {
    let config = kcn_ledger::Config {
        data_dir: dir.to_path_buf(),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let clock = Arc::new(kcn_eventstore::SystemClock);
    let err = kcn_ledger::start(config, listener, clock)
        .await
        .expect_err("the server must refuse to start");
    format!("{err:#}")
}

/// With the log's tail deleted below its latest signed checkpoint, the server refuses to start and
/// names both sizes; deleted only past it, the stored tree betrays the cut and it refuses too
/// (before, it started, served the old checkpoint and answered appends with INTERNAL).
#[tokio::test]
async fn a_server_refuses_to_start_when_the_events_stop_short_of_the_signed_log() {
    let dir = checkpoints_at_6_12_20().await;
    cut_events_after(dir.path(), 17).await;
    let err = start_refused(dir.path()).await;
    assert!(err.contains("end at position 17"), "{err}");
    assert!(err.contains("tree size 20"), "{err}");

    let dir = checkpoints_at_6_12_20().await;
    let db = attacker(dir.path()).await;
    sqlx::query("DELETE FROM checkpoints WHERE tree_size > 12")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    cut_events_after(dir.path(), 15).await;
    let err = start_refused(dir.path()).await;
    assert!(err.contains("end at position 15"), "{err}");
    assert!(err.contains("stored tree records more leaves"), "{err}");
}

/// Rewrites the stored tree from the events as they now are: the thorough attacker.
async fn rebuild_tree(dir: &Path, db: &SqlitePool) {
    let archive = Archive::open_sqlite(&dir.join("kcn-ledger.sqlite"))
        .await
        .unwrap();
    let events = archive.events(1, 1_000_000).await.unwrap();
    archive.close().await;
    let leaves: Vec<Hash> = events
        .iter()
        .map(|e| {
            leaf_hash(&LeafFields {
                position: e.position as u64,
                event_id: uuid::Uuid::from_slice(&e.event_id).unwrap(),
                aggregate_type: &e.aggregate_type,
                aggregate_id: &e.aggregate_id,
                aggregate_version: e.aggregate_version as u64,
                event_type: &e.event_type,
                schema_version: e.schema_version as u64,
                occurred_at: &e.occurred_at,
                recorded_at: &e.recorded_at,
                payload: &e.payload,
                metadata: &e.metadata,
            })
        })
        .collect();
    let mut tree = MemoryTree::new();
    tree.append(&leaves).unwrap();
    let mut tx = db.begin().await.unwrap();
    sqlx::query("DELETE FROM tree_hashes")
        .execute(&mut *tx)
        .await
        .unwrap();
    for (i, hash) in tree.stored().iter().enumerate() {
        sqlx::query("INSERT INTO tree_hashes (idx, hash) VALUES (?1, ?2)")
            .bind(i as i64)
            .bind(hash.as_bytes().to_vec())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn verify_bounds_the_change_when_the_tree_was_rewritten_with_the_events() {
    let server = TestServer::start().await;
    seed(&server).await;
    latest_checkpoint(&server).await; // signed at 6
    append_companies(&server, 6, 1).await;
    latest_checkpoint(&server).await; // signed at 12
    append_companies(&server, 8, 1).await;
    latest_checkpoint(&server).await; // signed at 20
    let dir = stopped_and_verified(server).await;
    let db = attacker(dir.path()).await;
    // Still valid JSON, so that nothing but the signed roots can tell.
    sqlx::query(
        "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'Thuận An', 'Thủ Đức') AS BLOB) \
         WHERE position = 9",
    )
        .execute(&db)
        .await
        .unwrap();
    rebuild_tree(dir.path(), &db).await;
    db.close().await;
    let report = verify_dir(dir.path()).await;
    assert!(!report.is_ok());
    // The stored tree agrees with the events; only the signatures still tell.
    assert_eq!(report.first_bad_position, None, "{:?}", report.problems);
    assert_eq!(report.suspect_range, Some((7, 12)), "{}", report.verdict());
    assert_eq!(report.last_verified_checkpoint, Some(6));
}

#[tokio::test]
async fn a_server_refuses_to_sign_over_a_tree_that_contradicts_its_latest_checkpoint() {
    let (server, _) = twenty_events().await;
    let dir = stopped_and_verified(server).await;
    let db = attacker(dir.path()).await;
    sqlx::query(
        "UPDATE events SET payload = CAST('[' || substr(payload, 2) AS BLOB) WHERE position = 2",
    )
    .execute(&db)
    .await
    .unwrap();
    rebuild_tree(dir.path(), &db).await;
    db.close().await;
    let config = kcn_ledger::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let clock = Arc::new(kcn_eventstore::SystemClock);
    let err = kcn_ledger::start(config, listener, clock)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("disagrees with its signed checkpoints"),
        "{err:#}"
    );
}

#[tokio::test]
async fn the_audit_catches_a_server_whose_history_no_longer_extends_a_trusted_checkpoint() {
    let (server, trusted) = twenty_events().await;
    let key = verifier(&server).await;
    let url = format!("http://{}", server.running.as_ref().unwrap().addr);

    // While the log only grows, the audit passes.
    append_companies(&server, 3, 1).await;
    latest_checkpoint(&server).await;
    let mut client = audit_cli::connect(&url, Some(crate::harness::EMBEDDED_TOKEN))
        .await
        .unwrap();
    let audit = audit_cli::audit(&mut client, Some(&trusted.note), &key)
        .await
        .unwrap();
    assert_eq!(audit.verdict, Verdict::Grew, "{}", audit.summary());
    assert_eq!(audit.latest.size, 23);
    drop(client);

    // An operator with file access rewrites event 2 and the tree, removes the checkpoints that
    // would betray it, and restarts: the server signs the rewritten history with the real key.
    let dir = server.stop().await;
    let db = attacker(dir.path()).await;
    sqlx::query(
        "UPDATE events SET payload = CAST('[' || substr(payload, 2) AS BLOB) WHERE position = 2",
    )
    .execute(&db)
    .await
    .unwrap();
    rebuild_tree(dir.path(), &db).await;
    sqlx::query("DELETE FROM checkpoints")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let server = TestServer::start_in(dir).await;
    append_companies(&server, 2, 1).await;
    latest_checkpoint(&server).await;
    let url = format!("http://{}", server.running.as_ref().unwrap().addr);
    let mut client = audit_cli::connect(&url, Some(crate::harness::EMBEDDED_TOKEN))
        .await
        .unwrap();
    let audit = audit_cli::audit(&mut client, Some(&trusted.note), &key)
        .await
        .unwrap();
    assert!(!audit.is_consistent(), "{}", audit.summary());
    assert!(matches!(audit.verdict, Verdict::Inconsistent(_)));
    assert_eq!(
        audit.latest.size, 25,
        "the server's checkpoint is validly signed"
    );
    let Checkpoint { size, .. } = open_checkpoint(&audit.latest_note, &key).unwrap();
    assert_eq!(size, 25);
}

/// Appends `n` synthetic events through the append transaction, as the writer does (for a
/// backend the server does not open yet).
async fn append_synthetic(backend: &dyn Backend, n: u64) {
    let mut tx = backend.begin_append().await.unwrap();
    let last = tx.last_position().await.unwrap();
    let now = kcn_integrity::format_timestamp(chrono::Utc::now());
    let events: Vec<StoredEvent> = (1..=n)
        .map(|i| StoredEvent {
            position: last + i,
            event_id: uuid::Uuid::now_v7(),
            aggregate_type: "Company".into(),
            aggregate_id: uuid::Uuid::now_v7().to_string(),
            aggregate_version: 1,
            event_type: "CompanyRegistered".into(),
            schema_version: 1,
            occurred_at: now.clone(),
            recorded_at: now.clone(),
            payload: format!(r#"{{"name":"Công ty {i}"}}"#).into_bytes(),
            metadata: br#"{"actor":{"principal":"t","authentication":"local_principal"}}"#.to_vec(),
        })
        .collect();
    let leaves: Vec<Hash> = events.iter().map(|e| leaf_hash(&e.leaf())).collect();
    let needed = kcn_integrity::indexes_for_append(last).unwrap();
    let stored: std::collections::HashMap<u64, Hash> = tx
        .read_tree_hashes(&needed)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let appended = kcn_integrity::append(last, &leaves, &stored).unwrap();
    tx.insert(&events, &[], &appended.hashes).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_checkpoint_or_a_proof_after_an_append_reads_stored_hashes_once() {
    let dir = tempfile::tempdir().unwrap();
    let backend = kcn_eventstore::SqliteBackend::open(
        &dir.path().join("kcn-ledger.sqlite"),
        kcn_eventstore::SqliteDurability::NormalWeaker,
    )
    .await
    .unwrap();
    append_synthetic(&backend, 3_000).await;
    let clock: Arc<dyn kcn_domain::time::Clock> = Arc::new(kcn_eventstore::SystemClock);
    let store = EventStore::start(Arc::new(backend.clone()), clock.clone(), Default::default())
        .await
        .unwrap();
    let signer = kcn_integrity::Signer::from_seed("reads.example", &[2; 32]).unwrap();
    let identity = LogIdentity::new("reads.example/log", signer).unwrap();
    let checkpoints = Checkpointer::start(&store, identity, Duration::from_secs(3_600))
        .await
        .unwrap();
    for round in 0..5 {
        append_synthetic(&backend, 1).await;
        let size = 3_001 + round;
        let before = checkpoints.hash_reads();
        // The writer signs the root its own transaction computes (that read is the append's):
        // the checkpointer reads nothing for it.
        assert_eq!(checkpoints.sign_head().await.unwrap().checkpoint.size, size);
        assert_eq!(checkpoints.hash_reads(), before, "the checkpoint");
        checkpoints
            .inclusion_proof(1 + round * 599, size)
            .await
            .unwrap();
        assert_eq!(checkpoints.hash_reads(), before + 1, "the inclusion proof");
        checkpoints.consistency_proof(size - 1, size).await.unwrap();
        assert_eq!(
            checkpoints.hash_reads(),
            before + 2,
            "the consistency proof"
        );
        // Serving the latest again costs no read at all.
        assert_eq!(checkpoints.latest().await.unwrap().checkpoint.size, size);
        assert_eq!(checkpoints.hash_reads(), before + 2);
    }
}

#[tokio::test]
async fn a_postgres_log_needs_its_origin_and_key_and_verifies_offline_by_url() {
    let Some(db) = kcn_testkit::PgTestDatabase::create("transparency").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = kcn_ledger::Config {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(kcn_ledger::config::DatabaseUrl::new(db.url())),
        database_max_connections: 5,
        ..kcn_ledger::Config::default()
    };
    let clock: Arc<dyn kcn_domain::time::Clock> = Arc::new(kcn_eventstore::SystemClock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Several servers share a PostgreSQL log: none may invent its own key.
    let err = kcn_ledger::start(config.clone(), listener, clock.clone())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("checkpoint_origin must be configured"),
        "{err:#}"
    );
    assert!(!dir.path().join("checkpoint-signing-key").exists());

    let seed_bytes = [4; 32];
    let config = kcn_ledger::Config {
        checkpoint_origin: Some("pg.example/log".into()),
        checkpoint_key_name: Some("pg.example".into()),
        checkpoint_key_seed: Some(kcn_eventstore::checkpoint::KeySeed::new(seed_bytes)),
        embedded_token: Some(crate::harness::EMBEDDED_TOKEN.to_owned()),
        ..config
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = kcn_ledger::start(config, listener, clock).await.unwrap();
    let raw = tonic::transport::Channel::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = crate::harness::with_token(&raw, Some(crate::harness::EMBEDDED_TOKEN));
    let mut registry = proto::registry_service_client::RegistryServiceClient::new(channel.clone());
    for i in 0..40 {
        registry.register_company(company(i)).await.unwrap();
    }
    let mut audit = proto::audit_service_client::AuditServiceClient::new(channel);
    let expected = kcn_integrity::Signer::from_seed("pg.example", &seed_bytes)
        .unwrap()
        .verifier_key();
    let key = audit
        .get_verifier_key(proto::GetVerifierKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (key.verifier_key.as_str(), key.origin.as_str()),
        (expected.as_str(), "pg.example/log")
    );
    let verifier: Verifier = expected.parse().unwrap();
    let latest = checkpoint_covering(&mut audit, Some(40)).await;
    let checkpoint = open_checkpoint(&latest.note, &verifier).unwrap();
    assert_eq!(checkpoint.size, 40);
    let proof = audit
        .get_inclusion_proof(proto::GetInclusionProofRequest {
            position: 17,
            tree_size: 40,
        })
        .await
        .unwrap()
        .into_inner();
    verify_inclusion(
        &Hash::from_slice(&proof.leaf_hash).unwrap(),
        16,
        40,
        &hashes(&proof.hashes),
        &checkpoint.root,
    )
    .unwrap();
    running.shutdown().await.unwrap();

    let url = db.url().to_owned();
    let options = verify::Options {
        verifier_key: Some(expected),
        ..verify::Options::new(Source::parse(&url))
    };
    assert_eq!(options.source, Source::Postgres(url.clone()));
    let clean = verify::verify(&options).await.unwrap();
    assert!(clean.is_ok(), "{}", clean.verdict());
    assert_eq!(clean.tree_size, 40);

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("DROP TRIGGER events_are_immutable_update ON events")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE events SET occurred_at = '2020-01-01T00:00:00.000000Z' WHERE position = 17",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let report = verify::verify(&options).await.unwrap();
    assert_eq!(report.first_bad_position, Some(17), "{}", report.verdict());
}

/// Where the Python of the verifier's virtual environment is, or why the test cannot run.
pub(crate) fn python() -> Option<std::path::PathBuf> {
    match std::env::var_os("KCN_TEST_PYTHON") {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            // A venv directory or its python executable.
            Some(if path.is_dir() {
                path.join("bin").join("python")
            } else {
                path
            })
        }
        None if std::env::var("KCN_TEST_SKIP_PYTHON").as_deref() == Ok("1") => {
            eprintln!(
                "skipping the independent Python verifier: KCN_TEST_PYTHON is unset and KCN_TEST_SKIP_PYTHON=1"
            );
            None
        }
        None => panic!(
            "KCN_TEST_PYTHON is not set: the independent verifier test needs the python of a virtual \
             environment made with `pip install -r verifier/requirements.txt` (scripts/python-env prints \
             one); set KCN_TEST_SKIP_PYTHON=1 to skip it deliberately"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_independent_python_verifier_checks_ten_thousand_events() {
    let Some(python) = python() else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("verifier/verify.py");
    // First, offline: the verifier reproduces the contract's test vectors.
    let vectors =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/integrity-vectors.json");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg("--vectors")
        .arg(&vectors)
        .output()
        .await
        .expect("the venv's python runs");
    assert!(
        output.status.success(),
        "verify.py does not reproduce the test vectors:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let started = Instant::now();
    let server = TestServer::start().await;
    seed(&server).await;
    let halfway = append_companies(&server, 5_000, 64).await;
    let trusted = latest_checkpoint(&server).await;
    assert!(trusted.tree_size >= halfway);
    let last = append_companies(&server, 5_000, 64).await;
    assert_eq!(last, 10_006);
    let appended = started.elapsed();
    // The newest checkpoint may lag the last commits by an interval; the verifier is run once one
    // covers them all.
    assert_eq!(latest_checkpoint(&server).await.tree_size, 10_006);

    let dir = tempfile::tempdir().unwrap();
    let trusted_file = dir.path().join("trusted.note");
    std::fs::write(&trusted_file, &trusted.note).unwrap();
    let key = verifier(&server).await.to_string();
    let addr = server.running.as_ref().unwrap().addr;
    let run = |key: &str, extra: &[&str]| {
        let mut command = tokio::process::Command::new(&python);
        command
            .arg(&script)
            .env("KCN_TOKEN", crate::harness::EMBEDDED_TOKEN)
            .args(["--server", &format!("http://{addr}"), "--verifier-key", key])
            .args(["--seed", "1"])
            .args(extra);
        command.output()
    };
    let trusted_arg = trusted_file.display().to_string();
    let output = run(&key, &["--trusted-checkpoint", &trusted_arg])
        .await
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "verify.py failed:\n{stdout}\n{stderr}"
    );
    eprintln!("verify.py:\n{stdout}");
    assert!(stdout.contains("size 10006"), "{stdout}");
    assert!(stdout.contains("ok: "), "{stdout}");

    // The same verifier rejects a key that is not the log's: the check can fail.
    let name = key.split('+').next().unwrap();
    let other = kcn_integrity::Signer::from_seed(name, &[9; 32])
        .unwrap()
        .verifier_key();
    let output = run(&other, &["--inclusion-sample", "4"]).await.unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // A rollback and a fork are findings (exit 1), not failures to run (exit 2). A second log with
    // the same identity (origin and key copied) holds only the seed's 6 events: served as the
    // first one, it is the first rolled back past the trusted checkpoint...
    let copy = tempfile::tempdir().unwrap();
    for file in [
        kcn_eventstore::checkpoint::identity::KEY_FILE,
        kcn_eventstore::checkpoint::identity::ORIGIN_FILE,
    ] {
        std::fs::copy(server.dir.path().join(file), copy.path().join(file)).unwrap();
    }
    let other = TestServer::start_in(copy).await;
    seed(&other).await;
    let forked = latest_checkpoint(&other).await;
    assert_eq!(forked.tree_size, 6);
    let other_addr = format!("http://{}", other.running.as_ref().unwrap().addr);
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .env("KCN_TOKEN", crate::harness::EMBEDDED_TOKEN)
        .args(["--server", &other_addr, "--verifier-key", &key])
        .args(["--trusted-checkpoint", &trusted_arg])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "a rollback:\n{stdout}");
    assert!(stdout.contains("rolled back"), "{stdout}");
    // ...and its checkpoint, held by an auditor, is a fork of the first log.
    let forked_file = dir.path().join("forked.note");
    std::fs::write(&forked_file, &forked.note).unwrap();
    let forked_arg = forked_file.display().to_string();
    let output = run(
        &key,
        &[
            "--trusted-checkpoint",
            &forked_arg,
            "--inclusion-sample",
            "4",
        ],
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "a fork:\n{stdout}");
    eprintln!(
        "appended 10,006 events in {:.1?}; whole test {:.1?}",
        appended,
        started.elapsed()
    );
}
