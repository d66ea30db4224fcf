//! Signed checkpoints and proofs over the stored Merkle tree: the [`Checkpointer`] checks the stored
//! log at start, hands the log's key to the writer, which signs a C2SP checkpoint inside its append
//! transactions (after commits, at most about once per interval, and on demand) and stores it with
//! the events it covers; the checkpointer serves the newest one without waiting, any stored one by
//! size, and inclusion and consistency proofs.
//!
//! Every operation after an append is logarithmic: it asks `kcn_integrity` which stored hashes it
//! needs (`indexes_for_*`), fetches them with ONE [`Backend::read_tree_hashes`], and computes the
//! result; nothing ever rehashes the log. [`Checkpointer::hash_reads`] counts those reads, so a
//! test or a benchmark can hold the code to it.

pub mod archive;
pub mod identity;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kcn_integrity::tree::{self, leaf_stored_index, stored_hash_count};
use kcn_integrity::{Checkpoint, EMPTY_ROOT, Hash, TreeError, Verifier, open_checkpoint};
use thiserror::Error;

use crate::EventStore;
use crate::backend::Backend;
use crate::error::StoreError;
use crate::writer::{Seal, Sealed};

pub use identity::{IdentityConfig, IdentityError, KeySeed, LogIdentity};

/// The default least time between two checkpoints issued after commits.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// A checkpoint the log issued: the parsed body and the signed note, byte for byte as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: String,
}

/// An RFC 9162 inclusion proof with the leaf hash it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// `position - 1`.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The leaf hash stored when the event was appended.
    pub leaf_hash: Hash,
    /// The audit path, from the leaf's sibling up to the root's child.
    pub hashes: Vec<Hash>,
}

/// Why a checkpoint or a proof could not be produced.
#[derive(Debug, Error)]
pub enum TransparencyError {
    /// Positions start at 1.
    #[error("position must be at least 1")]
    PositionZero,
    /// The position is not a leaf of the tree asked for.
    #[error("position {position} is not in the tree of size {tree_size}")]
    PositionBeyondTree { position: u64, tree_size: u64 },
    /// A proof was asked for a tree larger than the log.
    #[error("tree size {tree_size} is beyond the log's size {log_size}")]
    TreeSizeBeyondLog { tree_size: u64, log_size: u64 },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("old size {old_size} is larger than new size {new_size}")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    /// What is stored contradicts the log's own signed checkpoints or key: the server refuses to
    /// go on signing over it.
    #[error("the stored log disagrees with its signed checkpoints: {0}")]
    Inconsistent(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn internal(e: impl std::fmt::Display) -> TransparencyError {
    TransparencyError::Store(StoreError::Internal(e.to_string()))
}

/// Splits a stored note into its checkpoint body without checking the signature (the server
/// serves what it stored; clients check signatures).
fn parse_note(note: &str) -> Result<Checkpoint, TransparencyError> {
    let (body, _) = note
        .split_once("\n\n")
        .ok_or_else(|| internal("a stored checkpoint note has no signature block"))?;
    Checkpoint::parse(&format!("{body}\n")).map_err(internal)
}

struct Inner {
    backend: Arc<dyn Backend>,
    store: EventStore,
    identity: Arc<LogIdentity>,
    verifier: Verifier,
    hash_reads: AtomicU64,
}

/// Serves the log's signed checkpoints and its proofs. The checkpoints themselves are signed by the
/// writer inside its append transactions (see `writer::Sealing` and ADR 5): serving the newest
/// one never waits for the log's write lock.
#[derive(Clone)]
pub struct Checkpointer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("origin", &self.inner.identity.origin())
            .field("verifier_key", &self.inner.identity.verifier_key())
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// Checks the stored log against its latest signed checkpoint, hands the log's signing key to
    /// the writer, which from then on signs a checkpoint with its commits (the first batch after at
    /// least `interval` since the last checkpoint, a trailing one `interval` after a burst, and
    /// whenever asked), and has the current head signed if the latest checkpoint is older.
    ///
    /// # Errors
    ///
    /// [`TransparencyError::Inconsistent`] when the stored events stop short of the latest stored
    /// checkpoint's size or of the stored tree (events removed from the end), or when that
    /// checkpoint was not signed by this identity, names another origin, or has a root the stored
    /// tree does not give: signing on would hide that. Store errors otherwise.
    pub async fn start(
        store: &EventStore,
        identity: LogIdentity,
        interval: Duration,
    ) -> Result<Self, TransparencyError> {
        let identity = Arc::new(identity);
        let inner = Arc::new(Inner {
            backend: store.backend().clone(),
            store: store.clone(),
            verifier: identity.verifier(),
            identity: identity.clone(),
            hash_reads: AtomicU64::new(0),
        });
        let latest = inner.check_stored().await?;
        let head = inner.backend.head().await?;
        let seal: Seal = Arc::new(move |size, root| {
            let checkpoint = Checkpoint {
                origin: identity.origin().to_owned(),
                size,
                root: *root,
            };
            identity
                .signer()
                .sign(&checkpoint)
                .map_err(|e| StoreError::Internal(format!("cannot sign a checkpoint: {e}")))
        });
        let stored = latest.as_ref().map(|l| Sealed {
            size: l.checkpoint.size,
            root: l.checkpoint.root,
            note: l.note.clone(),
        });
        store.install_sealer(seal, interval, stored).await?;
        if latest.is_none_or(|l| l.checkpoint.size < head) {
            store.seal_now().await?;
        }
        Ok(Self { inner })
    }

    /// The log's identity (origin and key).
    pub fn identity(&self) -> &LogIdentity {
        &self.inner.identity
    }

    /// The newest signed checkpoint, at once: it never waits for a new one. It covers the head,
    /// or lags it by at most about one checkpoint interval (plus one batch) under write load; when
    /// it lags, the writer is asked to sign its head with its next batch, at once when idle, so
    /// that asking again soon gets a checkpoint covering it.
    ///
    /// # Errors
    ///
    /// [`TransparencyError::Store`] if no checkpoint was ever signed (the writer has stopped).
    pub async fn latest(&self) -> Result<IssuedCheckpoint, TransparencyError> {
        let newest = self.inner.store.sealed().borrow().clone();
        let head = self.inner.store.subscribe().borrow().size;
        let sealed = newest.ok_or_else(|| {
            StoreError::Unavailable("no checkpoint has been signed yet".to_owned())
        })?;
        if sealed.size < head {
            self.inner.store.ask_for_seal();
        }
        Ok(self.inner.issued(sealed))
    }

    /// Has the writer sign a checkpoint at the current head with its next batch (at once when it
    /// is idle) and waits until it is stored: for tools and tests that need a checkpoint covering
    /// exactly what was committed, and can wait for the log's write lock as a command does.
    ///
    /// # Errors
    ///
    /// Store errors of the batch.
    pub async fn sign_head(&self) -> Result<IssuedCheckpoint, TransparencyError> {
        let sealed = self.inner.store.seal_now().await?;
        Ok(self.inner.issued(sealed))
    }

    /// The checkpoint issued for exactly `tree_size`, if one was.
    ///
    /// # Errors
    ///
    /// [`TransparencyError::TreeSizeBeyondLog`] when no checkpoint was issued at `tree_size`
    /// because the log is smaller; store errors, or a stored note that is not a checkpoint.
    pub async fn at_size(
        &self,
        tree_size: u64,
    ) -> Result<Option<IssuedCheckpoint>, TransparencyError> {
        if let Some(newest) = self.inner.store.sealed().borrow().clone()
            && newest.size == tree_size
        {
            return Ok(Some(self.inner.issued(newest)));
        }
        match self.inner.backend.checkpoint(Some(tree_size)).await? {
            None => {
                let log_size = self.inner.backend.head().await?;
                if tree_size > log_size {
                    return Err(TransparencyError::TreeSizeBeyondLog {
                        tree_size,
                        log_size,
                    });
                }
                Ok(None)
            }
            Some((_, note)) => Ok(Some(IssuedCheckpoint {
                checkpoint: parse_note(&note)?,
                note,
            })),
        }
    }

    /// The inclusion proof of the event at `position` in the tree of `tree_size` leaves, with
    /// the stored leaf hash: one read of stored hashes.
    ///
    /// # Errors
    ///
    /// [`TransparencyError::PositionZero`], [`TransparencyError::PositionBeyondTree`],
    /// [`TransparencyError::TreeSizeBeyondLog`], store errors.
    pub async fn inclusion_proof(
        &self,
        position: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, TransparencyError> {
        if position == 0 {
            return Err(TransparencyError::PositionZero);
        }
        if position > tree_size {
            return Err(TransparencyError::PositionBeyondTree {
                position,
                tree_size,
            });
        }
        self.inner.within_reach(tree_size).await?;
        let leaf_index = position - 1;
        let mut indexes = tree::indexes_for_inclusion(leaf_index, tree_size).map_err(internal)?;
        indexes.push(leaf_stored_index(leaf_index));
        let stored = self.inner.read_for_size(tree_size, indexes).await?;
        let hashes = tree::inclusion_proof(leaf_index, tree_size, &stored).map_err(internal)?;
        let leaf_hash = *stored.get(&leaf_stored_index(leaf_index)).ok_or_else(|| {
            internal(format!(
                "the stored leaf hash of position {position} is missing"
            ))
        })?;
        Ok(InclusionProof {
            leaf_index,
            tree_size,
            leaf_hash,
            hashes,
        })
    }

    /// The consistency proof from the tree of `old_size` leaves to the tree of `new_size`
    /// leaves: one read of stored hashes.
    ///
    /// # Errors
    ///
    /// [`TransparencyError::SizesOutOfOrder`], [`TransparencyError::TreeSizeBeyondLog`], store
    /// errors.
    pub async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, TransparencyError> {
        if old_size > new_size {
            return Err(TransparencyError::SizesOutOfOrder { old_size, new_size });
        }
        self.inner.within_reach(new_size).await?;
        let indexes = tree::indexes_for_consistency(old_size, new_size).map_err(internal)?;
        let stored = self.inner.read_for_size(new_size, indexes).await?;
        tree::consistency_proof(old_size, new_size, &stored).map_err(internal)
    }

    /// How many batched reads of stored hashes this checkpointer has made: one per proof, one per
    /// root checked at start. (A checkpoint costs none here: the writer signs the root its append
    /// transaction computed.)
    pub fn hash_reads(&self) -> u64 {
        self.inner.hash_reads.load(Ordering::Relaxed)
    }
}

impl Inner {
    /// A checkpoint the writer signed, as served.
    fn issued(&self, sealed: Sealed) -> IssuedCheckpoint {
        IssuedCheckpoint {
            checkpoint: Checkpoint {
                origin: self.identity.origin().to_owned(),
                size: sealed.size,
                root: sealed.root,
            },
            note: sealed.note,
        }
    }

    /// Refuses a tree size no log can reach ([`tree::MAX_TREE_SIZE`], far beyond any real log and
    /// below `2^63`), as beyond this log, before any tree arithmetic or column conversion sees it.
    /// Sizes within reach but beyond the log are found out by [`Inner::read_for_size`].
    async fn within_reach(&self, tree_size: u64) -> Result<(), TransparencyError> {
        if tree_size <= tree::MAX_TREE_SIZE {
            return Ok(());
        }
        Err(TransparencyError::TreeSizeBeyondLog {
            tree_size,
            log_size: self.backend.head().await?,
        })
    }

    /// Reads `indexes` plus the last stored hash of a tree of `tree_size` leaves in ONE query.
    /// Stored hashes are written gap-free in index order, so that last one being there means the
    /// whole tree is; its absence means the log is smaller than `tree_size`.
    async fn read_for_size(
        &self,
        tree_size: u64,
        mut indexes: Vec<u64>,
    ) -> Result<HashMap<u64, Hash>, TransparencyError> {
        if tree_size == 0 {
            return Ok(HashMap::new());
        }
        let last = stored_hash_count(tree_size) - 1;
        indexes.push(last);
        indexes.sort_unstable();
        indexes.dedup();
        self.hash_reads.fetch_add(1, Ordering::Relaxed);
        let stored: HashMap<u64, Hash> = self
            .backend
            .read_tree_hashes(&indexes)
            .await?
            .into_iter()
            .collect();
        if !stored.contains_key(&last) {
            // Only on this error path: the log's size, for a message the caller can act on.
            let log_size = self.backend.head().await?;
            return Err(TransparencyError::TreeSizeBeyondLog {
                tree_size,
                log_size,
            });
        }
        Ok(stored)
    }

    /// The root of the tree of `tree_size` leaves, from stored hashes (one read).
    async fn root_at(&self, tree_size: u64) -> Result<Hash, TransparencyError> {
        if tree_size == 0 {
            return Ok(EMPTY_ROOT);
        }
        let indexes = tree::indexes_for_root(tree_size).map_err(internal)?;
        let stored = self.read_for_size(tree_size, indexes).await?;
        tree::root(tree_size, &stored).map_err(|e| match e {
            TreeError::MissingStoredHash(i) => internal(format!("stored tree hash {i} is missing")),
            other => internal(other),
        })
    }

    /// At start: the stored events must reach the stored tree and the latest stored checkpoint,
    /// which must be this log's (key and origin) and agree with the stored tree. Returns it.
    async fn check_stored(&self) -> Result<Option<IssuedCheckpoint>, TransparencyError> {
        let hint = "run `kcn-ledger verify` on the database to find what changed";
        let head = self.backend.head().await?;
        let latest = self.backend.checkpoint(None).await?;
        if let Some((size, _)) = &latest
            && head < *size
        {
            return Err(TransparencyError::Inconsistent(format!(
                "the stored events end at position {head}, but the latest signed checkpoint is at \
                 tree size {size}: events were removed from the end of the log; {hint}"
            )));
        }
        // The stored tree holds exactly the hashes of `head` leaves; one more means its events are
        // gone, and the next append would collide with it.
        if !self
            .backend
            .read_tree_hashes(&[stored_hash_count(head)])
            .await?
            .is_empty()
        {
            return Err(TransparencyError::Inconsistent(format!(
                "the stored events end at position {head}, but the stored tree records more \
                 leaves: events were removed from the end of the log; {hint}"
            )));
        }
        let Some((size, note)) = latest else {
            return Ok(None);
        };
        let checkpoint = open_checkpoint(&note, &self.verifier).map_err(|e| {
            TransparencyError::Inconsistent(format!(
                "the latest stored checkpoint (tree size {size}) does not verify with this log's key {}: {e}; \
                 either the signing key changed or the checkpoint was altered; {hint}",
                self.identity.verifier_key()
            ))
        })?;
        if checkpoint.origin != self.identity.origin() || checkpoint.size != size {
            return Err(TransparencyError::Inconsistent(format!(
                "the latest stored checkpoint names origin {:?} and size {}, but this log's origin is {:?} \
                 (stored under size {size})",
                checkpoint.origin,
                checkpoint.size,
                self.identity.origin()
            )));
        }
        let root = match self.root_at(size).await {
            Ok(root) => root,
            Err(TransparencyError::TreeSizeBeyondLog { log_size, .. }) => {
                return Err(TransparencyError::Inconsistent(format!(
                    "the log holds {log_size} events but its latest checkpoint was signed at tree size {size}; {hint}"
                )));
            }
            Err(e) => return Err(e),
        };
        if root != checkpoint.root {
            return Err(TransparencyError::Inconsistent(format!(
                "the stored tree's root at size {size} is {root}, but the signed checkpoint says {}; {hint}",
                checkpoint.root
            )));
        }
        Ok(Some(IssuedCheckpoint { checkpoint, note }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_note_parses_to_its_checkpoint() {
        let signer = kcn_integrity::Signer::from_seed("example.test", &[3; 32]).unwrap();
        let checkpoint = Checkpoint {
            origin: "example.test/log".into(),
            size: 7,
            root: kcn_integrity::hash_leaf(b"x"),
        };
        let note = signer.sign(&checkpoint).unwrap();
        assert_eq!(parse_note(&note).unwrap(), checkpoint);
        assert!(parse_note("no signature block\n").is_err());
    }
}
