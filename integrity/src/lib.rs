//! kcn-ledger's transparency-log format, byte for byte as `integrity.md` states it: the leaf of an
//! event ([`leaf`]), the RFC 9162 Merkle tree with persisted node hashes and its proofs ([`tree`]),
//! and signed C2SP checkpoints ([`note`]).
//!
//! Everything here is pure: no database, no async runtime, no IO. The storage layer keeps the
//! tree's stored hashes in a table `tree_hashes(idx, hash)` and, for every operation, asks this
//! crate which indexes it needs, fetches them in one query, and lets this crate compute the result.

pub mod hash;
pub mod leaf;
pub mod note;
pub mod tree;

pub use hash::{EMPTY_ROOT, HASH_LEN, Hash, HashParseError, hash_children, hash_leaf};
pub use leaf::{
    LEAF_DOMAIN, LeafFields, TimestampError, format_timestamp, leaf_hash, leaf_input,
    parse_timestamp, truncate_to_micros,
};
pub use note::{
    Checkpoint, CheckpointError, KeyError, NoteError, Signer, Verifier, open_checkpoint,
    validate_origin,
};
pub use tree::{
    Appended, Frontier, MemoryTree, ProofError, StoredHashes, TreeError, append, consistency_proof,
    inclusion_proof, indexes_for_append, indexes_for_consistency, indexes_for_inclusion,
    indexes_for_root, root, root_of, verify_consistency, verify_inclusion,
};
