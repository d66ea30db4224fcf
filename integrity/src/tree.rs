//! The RFC 9162 Merkle tree over the event log, with its node hashes persisted as "stored hashes" so
//! that appending, a root, an inclusion proof and a consistency proof each need ONE batched read.
//!
//! # Layout
//!
//! Every hash of a complete subtree is stored once, at a gap-free `u64` "stored hash index" (the
//! layout of Go's `golang.org/x/mod/sumdb/tlog`, from Crosby and Wallach's paper, and the one that
//! tlog-tiles serves). Appending leaf `n` stores its leaf hash at [`stored_hash_index`]`(0, n)`
//! followed by the hashes of the subtrees it completes, so a tree of `N` leaves has exactly
//! [`stored_hash_count`]`(N)` stored hashes at indexes `0..stored_hash_count(N)`, and the next
//! append writes from `stored_hash_count(N)` on. A database keeps them as rows `(idx, hash)`.
//!
//! # Two steps per operation
//!
//! A database read is asynchronous while this crate is pure, so each operation is split in two:
//!
//! 1. `indexes_for_*` says which stored hashes the operation needs (at most about `2 log₂ N`);
//!    the caller fetches them with one query, `SELECT idx, hash FROM tree_hashes WHERE idx IN (…)`;
//! 2. the operation itself ([`append`], [`root`], [`inclusion_proof`], [`consistency_proof`]) runs
//!    over what was fetched, through the [`StoredHashes`] trait (implemented for `HashMap`,
//!    `BTreeMap`, and for a dense `[Hash]` / `Vec<Hash>` indexed by stored hash index).
//!
//! ```
//! use std::collections::HashMap;
//! use kcn_integrity::{tree, hash_leaf, Hash};
//!
//! // Stand-in for the table `tree_hashes(idx, hash)` and `SELECT … WHERE idx IN (…)`.
//! let mut table: HashMap<u64, Hash> = HashMap::new();
//! let select = |table: &HashMap<u64, Hash>, idx: &[u64]| -> HashMap<u64, Hash> {
//!     idx.iter().map(|i| (*i, table[i])).collect()
//! };
//!
//! // Append three events in one transaction: one read, then insert every returned row.
//! let leaves: Vec<Hash> = [b"a", b"b", b"c"].iter().map(|d| hash_leaf(*d)).collect();
//! let fetched = select(&table, &tree::indexes_for_append(0)?);
//! let appended = tree::append(0, &leaves, &fetched)?;
//! table.extend(appended.hashes.iter().copied());
//! assert_eq!(appended.root, tree::root_of(&leaves));
//!
//! // Root, inclusion proof and consistency proof: one read each.
//! let root3 = tree::root(3, &select(&table, &tree::indexes_for_root(3)?))?;
//! let proof = tree::inclusion_proof(1, 3, &select(&table, &tree::indexes_for_inclusion(1, 3)?))?;
//! tree::verify_inclusion(&leaves[1], 1, 3, &proof, &root3).unwrap();
//! let root2 = tree::root(2, &select(&table, &tree::indexes_for_root(2)?))?;
//! let proof = tree::consistency_proof(2, 3, &select(&table, &tree::indexes_for_consistency(2, 3)?))?;
//! tree::verify_consistency(2, 3, &root2, &root3, &proof).unwrap();
//! # Ok::<(), kcn_integrity::TreeError>(())
//! ```
//!
//! # Why `tlog_tiles`
//!
//! The stored-hash arithmetic, root, proofs and proof checks come from the `tlog_tiles` crate
//! (Cloudflare's port of Go's `sumdb/tlog`, which Go's checksum database and Sunlight use), whose
//! `tree_hash`, `prove_record` and `prove_tree` each make exactly one `read_hashes` call. Its
//! private index planners are reached by running the same functions once over a reader that only
//! records the indexes asked for (`IndexRecorder`), so the list handed to the database is by
//! construction exactly what the second step reads. [`root_of`] and [`Frontier`] are written
//! independently here (plain RFC 9162 recursion and a compact range) as references for tests and
//! for offline verification that streams leaves.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use thiserror::Error;
use tlog_tiles::tlog;

use crate::hash::{EMPTY_ROOT, Hash, hash_children};

/// Largest tree size this crate handles through stored hashes (stored indexes stay below `2^63`).
pub const MAX_TREE_SIZE: u64 = 1 << 61;

/// Why a stored-hash operation could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TreeError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {leaf_index} is not in a tree of size {tree_size}")]
    LeafNotInTree {
        /// The leaf index asked for.
        leaf_index: u64,
        /// The tree size asked for.
        tree_size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizesOutOfOrder {
        /// The old (first) size.
        old_size: u64,
        /// The new (second) size.
        new_size: u64,
    },
    /// The tree would be larger than [`MAX_TREE_SIZE`].
    #[error("tree size {0} is larger than the supported maximum")]
    TooLarge(u64),
    /// The caller's [`StoredHashes`] did not hold a hash the operation needs.
    #[error("stored hash {0} is missing")]
    MissingStoredHash(u64),
    /// `tlog_tiles` reported an error it should not have for valid input.
    #[error("merkle tree error: {0}")]
    Tlog(String),
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {leaf_index} is not in a tree of size {tree_size}")]
    LeafNotInTree {
        /// The leaf index of the proof.
        leaf_index: u64,
        /// The tree size of the proof.
        tree_size: u64,
    },
    /// The old size is larger than the new size.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizesOutOfOrder {
        /// The old (first) size.
        old_size: u64,
        /// The new (second) size.
        new_size: u64,
    },
    /// The proof has the wrong number of hashes for its sizes.
    #[error("proof has {actual} hashes, expected {expected}")]
    WrongLength {
        /// How many hashes RFC 9162 prescribes for these sizes.
        expected: usize,
        /// How many the proof has.
        actual: usize,
    },
    /// The proof does not lead to the given root(s).
    #[error("proof does not match the root hash")]
    RootMismatch,
}

/// Read access to stored hashes by stored hash index, for the second step of each operation.
pub trait StoredHashes {
    /// The hash stored at `index`, if this source holds it.
    fn stored_hash(&self, index: u64) -> Option<Hash>;
}

impl<S: BuildHasher> StoredHashes for HashMap<u64, Hash, S> {
    fn stored_hash(&self, index: u64) -> Option<Hash> {
        self.get(&index).copied()
    }
}

impl StoredHashes for BTreeMap<u64, Hash> {
    fn stored_hash(&self, index: u64) -> Option<Hash> {
        self.get(&index).copied()
    }
}

/// A dense store: the hash at stored hash index `i` is element `i`.
impl StoredHashes for [Hash] {
    fn stored_hash(&self, index: u64) -> Option<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.get(i))
            .copied()
    }
}

/// A dense store: the hash at stored hash index `i` is element `i`.
impl StoredHashes for Vec<Hash> {
    fn stored_hash(&self, index: u64) -> Option<Hash> {
        self.as_slice().stored_hash(index)
    }
}

impl<T: StoredHashes + ?Sized> StoredHashes for &T {
    fn stored_hash(&self, index: u64) -> Option<Hash> {
        (**self).stored_hash(index)
    }
}

/// The stored hash index of the hash of the complete subtree at `level` (0 for leaves) whose
/// leaves are `n << level .. (n + 1) << level`.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    tlog::stored_hash_index(level, n)
}

/// The inverse of [`stored_hash_index`]: `(level, n)` of a stored hash index.
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    tlog::split_stored_hash_index(index)
}

/// The number of stored hashes of a tree of `tree_size` leaves, which is also the index the next
/// append writes its first hash (the new leaf's hash) to.
pub fn stored_hash_count(tree_size: u64) -> u64 {
    tlog::stored_hash_count(tree_size)
}

/// The stored hash index of the leaf hash of leaf `leaf_index` (position `leaf_index + 1`).
pub fn leaf_stored_index(leaf_index: u64) -> u64 {
    tlog::stored_hash_index(0, leaf_index)
}

fn to_tlog(hash: Hash) -> tlog::Hash {
    tlog::Hash(hash.0)
}

fn from_tlog(hash: tlog::Hash) -> Hash {
    Hash(hash.0)
}

fn check_size(size: u64) -> Result<(), TreeError> {
    if size > MAX_TREE_SIZE {
        Err(TreeError::TooLarge(size))
    } else {
        Ok(())
    }
}

/// A `tlog_tiles` reader that records the indexes asked for and answers with zero hashes: the
/// index plans of `tlog_tiles` depend only on the sizes, never on hash values.
#[derive(Default)]
struct IndexRecorder {
    asked: RefCell<Vec<u64>>,
}

impl tlog::HashReader for IndexRecorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog::Hash>, tlog::Error> {
        self.asked.borrow_mut().extend_from_slice(indexes);
        Ok(vec![tlog::Hash::default(); indexes.len()])
    }
}

/// A `tlog_tiles` reader over the caller's [`StoredHashes`] (and, while appending, the hashes of
/// the batch so far), remembering the first missing index for a precise error.
struct Reader<'a, S: StoredHashes + ?Sized> {
    stored: &'a S,
    batch: Option<&'a RefCell<HashMap<u64, Hash>>>,
    missing: Cell<Option<u64>>,
}

impl<'a, S: StoredHashes + ?Sized> Reader<'a, S> {
    fn new(stored: &'a S) -> Self {
        Self {
            stored,
            batch: None,
            missing: Cell::new(None),
        }
    }

    fn error(&self, error: &tlog::Error) -> TreeError {
        match self.missing.get() {
            Some(index) => TreeError::MissingStoredHash(index),
            None => TreeError::Tlog(error.to_string()),
        }
    }
}

impl<S: StoredHashes + ?Sized> tlog::HashReader for Reader<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog::Hash>, tlog::Error> {
        let mut out = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let found = self
                .batch
                .and_then(|batch| batch.borrow().get(&index).copied())
                .or_else(|| self.stored.stored_hash(index));
            match found {
                Some(hash) => out.push(to_tlog(hash)),
                None => {
                    self.missing.set(Some(index));
                    return Err(tlog::Error::IndexesNotInTree);
                }
            }
        }
        Ok(out)
    }
}

/// The stored hashes [`append`] reads when the tree has `old_size` leaves: the roots of the
/// complete subtrees that make up the old tree (at most `1 + log₂ old_size`, the same set
/// [`indexes_for_root`] gives). Hashes of leaves appended in the same batch are never read back.
///
/// # Errors
///
/// [`TreeError::TooLarge`] past [`MAX_TREE_SIZE`].
pub fn indexes_for_append(old_size: u64) -> Result<Vec<u64>, TreeError> {
    indexes_for_root(old_size)
}

/// The result of [`append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The tree size after the append.
    pub new_size: u64,
    /// Every `(stored hash index, hash)` to insert, in increasing index order, starting at
    /// [`stored_hash_count`]`(old_size)` and gap-free up to [`stored_hash_count`]`(new_size)`.
    pub hashes: Vec<(u64, Hash)>,
    /// The root of the tree of `new_size` leaves.
    pub root: Hash,
}

/// Appends `leaf_hashes` (leaf indexes `old_size..`) to a tree of `old_size` leaves.
///
/// `stored` must hold the hashes at [`indexes_for_append`]`(old_size)` (it may hold more), so a
/// caller does one query for those few rows, calls this, and inserts [`Appended::hashes`] in the
/// same transaction. The new root comes along, so issuing a checkpoint needs no further read.
///
/// # Errors
///
/// [`TreeError::MissingStoredHash`] if `stored` lacks a needed hash; [`TreeError::TooLarge`] past
/// [`MAX_TREE_SIZE`].
pub fn append<S: StoredHashes + ?Sized>(
    old_size: u64,
    leaf_hashes: &[Hash],
    stored: &S,
) -> Result<Appended, TreeError> {
    let added = u64::try_from(leaf_hashes.len()).map_err(|_| TreeError::TooLarge(u64::MAX))?;
    let new_size = old_size
        .checked_add(added)
        .ok_or(TreeError::TooLarge(u64::MAX))?;
    check_size(new_size)?;

    let batch = RefCell::new(HashMap::new());
    let reader = Reader {
        stored,
        batch: Some(&batch),
        missing: Cell::new(None),
    };
    let mut hashes = Vec::with_capacity(leaf_hashes.len() * 2);
    for (leaf_index, leaf_hash) in (old_size..).zip(leaf_hashes) {
        let new = tlog::stored_hashes_for_record_hash(leaf_index, to_tlog(*leaf_hash), &reader)
            .map_err(|e| reader.error(&e))?;
        let first = stored_hash_index(0, leaf_index);
        let mut batch = batch.borrow_mut();
        for (index, hash) in (first..).zip(new) {
            let hash = from_tlog(hash);
            batch.insert(index, hash);
            hashes.push((index, hash));
        }
    }
    let root = tlog::tree_hash(new_size, &reader).map_err(|e| reader.error(&e))?;
    Ok(Appended {
        new_size,
        hashes,
        root: from_tlog(root),
    })
}

/// The stored hashes [`root`] reads for a tree of `tree_size` leaves (at most `1 + log₂ tree_size`).
///
/// # Errors
///
/// [`TreeError::TooLarge`] past [`MAX_TREE_SIZE`].
pub fn indexes_for_root(tree_size: u64) -> Result<Vec<u64>, TreeError> {
    check_size(tree_size)?;
    Ok(tlog::sub_tree_index(0, tree_size, Vec::new()))
}

/// The root (RFC 9162 MTH) of the tree of `tree_size` leaves; [`EMPTY_ROOT`] for 0.
///
/// # Errors
///
/// [`TreeError::MissingStoredHash`] if `stored` lacks one of [`indexes_for_root`]`(tree_size)`;
/// [`TreeError::TooLarge`] past [`MAX_TREE_SIZE`].
pub fn root<S: StoredHashes + ?Sized>(tree_size: u64, stored: &S) -> Result<Hash, TreeError> {
    check_size(tree_size)?;
    let reader = Reader::new(stored);
    tlog::tree_hash(tree_size, &reader)
        .map(from_tlog)
        .map_err(|e| reader.error(&e))
}

fn check_leaf(leaf_index: u64, tree_size: u64) -> Result<(), TreeError> {
    check_size(tree_size)?;
    if leaf_index >= tree_size {
        return Err(TreeError::LeafNotInTree {
            leaf_index,
            tree_size,
        });
    }
    Ok(())
}

/// The stored hashes [`inclusion_proof`] reads for leaf `leaf_index` in a tree of `tree_size`.
///
/// # Errors
///
/// [`TreeError::LeafNotInTree`] unless `leaf_index < tree_size`; [`TreeError::TooLarge`].
pub fn indexes_for_inclusion(leaf_index: u64, tree_size: u64) -> Result<Vec<u64>, TreeError> {
    check_leaf(leaf_index, tree_size)?;
    let recorder = IndexRecorder::default();
    tlog::prove_record(tree_size, leaf_index, &recorder)
        .map_err(|e| TreeError::Tlog(e.to_string()))?;
    Ok(recorder.asked.into_inner())
}

/// The RFC 9162 inclusion proof (audit path, section 2.1.3) of leaf `leaf_index` in the tree of
/// `tree_size` leaves, from the stored hashes at [`indexes_for_inclusion`].
///
/// # Errors
///
/// [`TreeError::LeafNotInTree`], [`TreeError::MissingStoredHash`], [`TreeError::TooLarge`].
pub fn inclusion_proof<S: StoredHashes + ?Sized>(
    leaf_index: u64,
    tree_size: u64,
    stored: &S,
) -> Result<Vec<Hash>, TreeError> {
    check_leaf(leaf_index, tree_size)?;
    let reader = Reader::new(stored);
    let proof = tlog::prove_record(tree_size, leaf_index, &reader).map_err(|e| reader.error(&e))?;
    Ok(proof.into_iter().map(from_tlog).collect())
}

fn check_sizes(old_size: u64, new_size: u64) -> Result<(), TreeError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(TreeError::SizesOutOfOrder { old_size, new_size });
    }
    Ok(())
}

/// The stored hashes [`consistency_proof`] reads between trees of `old_size` and `new_size`.
/// Empty when `old_size` is 0 or equals `new_size` (the proof is then empty).
///
/// # Errors
///
/// [`TreeError::SizesOutOfOrder`] if `old_size > new_size`; [`TreeError::TooLarge`].
pub fn indexes_for_consistency(old_size: u64, new_size: u64) -> Result<Vec<u64>, TreeError> {
    check_sizes(old_size, new_size)?;
    if old_size == 0 {
        return Ok(Vec::new());
    }
    let recorder = IndexRecorder::default();
    tlog::prove_tree(new_size, old_size, &recorder).map_err(|e| TreeError::Tlog(e.to_string()))?;
    Ok(recorder.asked.into_inner())
}

/// The RFC 9162 consistency proof (section 2.1.4) that the tree of `new_size` leaves extends the
/// tree of `old_size` leaves, from the stored hashes at [`indexes_for_consistency`]. Empty when
/// `old_size` is 0 (every tree extends the empty one) or equals `new_size`.
///
/// # Errors
///
/// [`TreeError::SizesOutOfOrder`], [`TreeError::MissingStoredHash`], [`TreeError::TooLarge`].
pub fn consistency_proof<S: StoredHashes + ?Sized>(
    old_size: u64,
    new_size: u64,
    stored: &S,
) -> Result<Vec<Hash>, TreeError> {
    check_sizes(old_size, new_size)?;
    if old_size == 0 {
        return Ok(Vec::new());
    }
    let reader = Reader::new(stored);
    let proof = tlog::prove_tree(new_size, old_size, &reader).map_err(|e| reader.error(&e))?;
    Ok(proof.into_iter().map(from_tlog).collect())
}

/// The largest power of two strictly smaller than `n` (`n >= 2`): RFC 9162's split point.
fn split_point(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// How many hashes RFC 9162 puts in the inclusion proof of `leaf_index` in a tree of `tree_size`.
fn inclusion_proof_len(leaf_index: u64, tree_size: u64) -> usize {
    let (mut lo, mut hi, mut len) = (0, tree_size, 0);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if leaf_index < lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        len += 1;
    }
    len
}

/// How many hashes RFC 9162 puts in the consistency proof from `old_size` to `new_size`
/// (`0 < old_size <= new_size`).
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let (mut lo, mut hi, mut len) = (0, new_size, 0);
    while old_size != hi {
        let k = split_point(hi - lo);
        if old_size <= lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        len += 1;
    }
    if lo != 0 {
        len += 1;
    }
    len
}

/// Verifies an RFC 9162 inclusion proof (section 2.1.3.2): that `leaf_hash` is leaf `leaf_index`
/// of the tree of `tree_size` leaves whose root is `root`.
///
/// # Errors
///
/// [`ProofError::LeafNotInTree`], [`ProofError::WrongLength`], [`ProofError::RootMismatch`].
pub fn verify_inclusion(
    leaf_hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::LeafNotInTree {
            leaf_index,
            tree_size,
        });
    }
    let expected = inclusion_proof_len(leaf_index, tree_size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    let proof: Vec<tlog::Hash> = proof.iter().copied().map(to_tlog).collect();
    tlog::check_record(
        &proof,
        tree_size,
        to_tlog(*root),
        leaf_index,
        to_tlog(*leaf_hash),
    )
    .map_err(|_| ProofError::RootMismatch)
}

/// Verifies an RFC 9162 consistency proof (section 2.1.4.2): that the tree of `new_size` leaves
/// with root `new_root` extends the tree of `old_size` leaves with root `old_root`.
///
/// When `old_size` is 0 the proof must be empty and `old_root` must be [`EMPTY_ROOT`]; when the
/// sizes are equal the proof must be empty and the roots equal.
///
/// # Errors
///
/// [`ProofError::SizesOutOfOrder`], [`ProofError::WrongLength`], [`ProofError::RootMismatch`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old_size, new_size });
    }
    let expected = if old_size == 0 {
        0
    } else {
        consistency_proof_len(old_size, new_size)
    };
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if old_size == 0 {
        return if *old_root == EMPTY_ROOT {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let proof: Vec<tlog::Hash> = proof.iter().copied().map(to_tlog).collect();
    tlog::check_tree(
        &proof,
        new_size,
        to_tlog(*new_root),
        old_size,
        to_tlog(*old_root),
    )
    .map_err(|_| ProofError::RootMismatch)
}

/// The RFC 9162 Merkle tree hash (MTH) of a list of leaf hashes, computed in memory by the plain
/// recursive definition; [`EMPTY_ROOT`] for no leaves. A reference independent of the stored-hash
/// code, for tests and offline verification.
pub fn root_of(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => EMPTY_ROOT,
        1 => leaf_hashes[0],
        n => {
            let k = 1usize << (n - 1).ilog2();
            hash_children(&root_of(&leaf_hashes[..k]), &root_of(&leaf_hashes[k..]))
        }
    }
}

/// A compact range over leaves `0..size`: the roots of the complete subtrees that make up the
/// tree, largest first. Lets an offline verifier stream every leaf of a large log and compare the
/// root at any size with a checkpoint in `O(log N)` memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Roots of the complete subtrees, left to right (the sizes are the set bits of `size`).
    subtrees: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the next leaf hash.
    ///
    /// # Panics
    ///
    /// Never: the frontier holds one subtree per set bit of its size.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut hash = leaf_hash;
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self
                .subtrees
                .pop()
                .expect("one subtree per set bit of the size");
            hash = hash_children(&left, &hash);
            size >>= 1;
        }
        self.subtrees.push(hash);
        self.size += 1;
    }

    /// The root (MTH) of the leaves pushed so far; [`EMPTY_ROOT`] if none.
    pub fn root(&self) -> Hash {
        let mut hashes = self.subtrees.iter().rev();
        match hashes.next() {
            None => EMPTY_ROOT,
            Some(last) => hashes.fold(*last, |right, left| hash_children(left, &right)),
        }
    }
}

/// An in-memory dense store of stored hashes, filled through [`append`]: for tests, tools and as
/// the model of what a database table `tree_hashes(idx, hash)` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    size: u64,
    hashes: Vec<Hash>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// All stored hashes; element `i` is at stored hash index `i`.
    pub fn stored(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends leaf hashes in one batch and returns what a database would insert.
    ///
    /// # Errors
    ///
    /// [`TreeError::TooLarge`] past [`MAX_TREE_SIZE`].
    pub fn append(&mut self, leaf_hashes: &[Hash]) -> Result<Appended, TreeError> {
        let appended = append(self.size, leaf_hashes, self.hashes.as_slice())?;
        for &(index, hash) in &appended.hashes {
            debug_assert_eq!(
                index,
                self.hashes.len() as u64,
                "stored indexes are gap-free"
            );
            self.hashes.push(hash);
        }
        self.size = appended.new_size;
        Ok(appended)
    }

    /// The root at `tree_size` (any size up to the current one).
    ///
    /// # Errors
    ///
    /// [`TreeError::MissingStoredHash`] if `tree_size` exceeds the current size.
    pub fn root(&self, tree_size: u64) -> Result<Hash, TreeError> {
        root(tree_size, self.hashes.as_slice())
    }

    /// The inclusion proof of `leaf_index` at `tree_size`.
    ///
    /// # Errors
    ///
    /// As [`inclusion_proof`].
    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, TreeError> {
        inclusion_proof(leaf_index, tree_size, self.hashes.as_slice())
    }

    /// The consistency proof from `old_size` to `new_size`.
    ///
    /// # Errors
    ///
    /// As [`consistency_proof`].
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, TreeError> {
        consistency_proof(old_size, new_size, self.hashes.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_leaf;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| hash_leaf(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// Keeps only the given indexes of a dense store, as a database query would return them.
    fn fetch(store: &[Hash], indexes: &[u64]) -> HashMap<u64, Hash> {
        indexes
            .iter()
            .map(|&i| (i, store[usize::try_from(i).unwrap()]))
            .collect()
    }

    const N: u64 = 70;

    #[test]
    fn appends_one_at_a_time_match_the_reference_root() {
        let all = leaves(N);
        let mut tree = MemoryTree::new();
        let mut frontier = Frontier::new();
        assert_eq!(tree.root(0).unwrap(), EMPTY_ROOT);
        assert_eq!(frontier.root(), EMPTY_ROOT);
        for (i, leaf) in all.iter().enumerate() {
            let size = i as u64;
            let reads = indexes_for_append(size).unwrap();
            let fetched = fetch(tree.stored(), &reads);
            let appended = append(size, &[*leaf], &fetched).unwrap();
            assert_eq!(appended.hashes[0].0, stored_hash_count(size));
            assert_eq!(appended.hashes[0].1, *leaf);
            tree.append(&[*leaf]).unwrap();
            assert_eq!(tree.stored().len() as u64, stored_hash_count(size + 1));
            frontier.push(*leaf);
            let want = root_of(&all[..=i]);
            assert_eq!(appended.root, want);
            assert_eq!(frontier.root(), want);
            assert_eq!(frontier.size(), size + 1);
        }
    }

    #[test]
    fn batched_appends_read_only_the_old_frontier() {
        let all = leaves(N);
        let mut reference = MemoryTree::new();
        reference.append(&all).unwrap();
        for old in 0..N {
            for new in old..=N {
                let mut tree = MemoryTree::new();
                tree.append(&all[..old as usize]).unwrap();
                let reads = indexes_for_append(old).unwrap();
                assert!(reads.len() as u32 <= 1 + old.max(1).ilog2());
                let fetched = fetch(tree.stored(), &reads);
                let appended = append(old, &all[old as usize..new as usize], &fetched).unwrap();
                assert_eq!(appended.new_size, new);
                assert_eq!(appended.root, root_of(&all[..new as usize]));
                let want: Vec<(u64, Hash)> = (stored_hash_count(old)..stored_hash_count(new))
                    .map(|i| (i, reference.stored()[i as usize]))
                    .collect();
                assert_eq!(appended.hashes, want);
            }
        }
    }

    #[test]
    fn append_without_the_frontier_says_which_hash_is_missing() {
        let all = leaves(3);
        let empty: HashMap<u64, Hash> = HashMap::new();
        let err = append(3, &all[..1], &empty).unwrap_err();
        assert!(matches!(err, TreeError::MissingStoredHash(_)), "{err}");
        assert_eq!(
            root(2, &empty).unwrap_err(),
            TreeError::MissingStoredHash(indexes_for_root(2).unwrap()[0])
        );
    }

    #[test]
    fn proofs_from_one_read_verify_and_corruption_fails() {
        let all = leaves(N);
        let mut tree = MemoryTree::new();
        tree.append(&all).unwrap();
        for size in 1..=N {
            let root_reads = indexes_for_root(size).unwrap();
            let root_here = root(size, &fetch(tree.stored(), &root_reads)).unwrap();
            assert_eq!(root_here, root_of(&all[..size as usize]));
            for leaf in 0..size {
                let reads = indexes_for_inclusion(leaf, size).unwrap();
                let mut proof = inclusion_proof(leaf, size, &fetch(tree.stored(), &reads)).unwrap();
                assert_eq!(proof.len(), inclusion_proof_len(leaf, size));
                let leaf_hash = all[leaf as usize];
                verify_inclusion(&leaf_hash, leaf, size, &proof, &root_here).unwrap();
                for k in 0..proof.len() {
                    proof[k].0[k % 32] ^= 1;
                    assert_eq!(
                        verify_inclusion(&leaf_hash, leaf, size, &proof, &root_here),
                        Err(ProofError::RootMismatch)
                    );
                    proof[k].0[k % 32] ^= 1;
                }
                if leaf + 1 < size {
                    assert!(
                        verify_inclusion(&leaf_hash, leaf + 1, size, &proof, &root_here).is_err()
                    );
                }
            }
            for old in 0..=size {
                let reads = indexes_for_consistency(old, size).unwrap();
                let mut proof =
                    consistency_proof(old, size, &fetch(tree.stored(), &reads)).unwrap();
                let old_root = root_of(&all[..old as usize]);
                verify_consistency(old, size, &old_root, &root_here, &proof).unwrap();
                for k in 0..proof.len() {
                    proof[k].0[31 - k % 32] ^= 0x80;
                    assert_eq!(
                        verify_consistency(old, size, &old_root, &root_here, &proof),
                        Err(ProofError::RootMismatch)
                    );
                    proof[k].0[31 - k % 32] ^= 0x80;
                }
                if old > 0 && old < size {
                    let wrong_old = root_of(&all[..old as usize - 1]);
                    assert!(verify_consistency(old, size, &wrong_old, &root_here, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_rejected_precisely() {
        let all = leaves(5);
        let mut tree = MemoryTree::new();
        tree.append(&all).unwrap();
        let r5 = tree.root(5).unwrap();
        assert_eq!(
            tree.inclusion_proof(5, 5),
            Err(TreeError::LeafNotInTree {
                leaf_index: 5,
                tree_size: 5
            })
        );
        assert_eq!(
            tree.consistency_proof(6, 5),
            Err(TreeError::SizesOutOfOrder {
                old_size: 6,
                new_size: 5
            })
        );
        assert_eq!(
            indexes_for_root(MAX_TREE_SIZE + 1),
            Err(TreeError::TooLarge(MAX_TREE_SIZE + 1))
        );
        let proof = tree.inclusion_proof(0, 5).unwrap();
        assert_eq!(
            verify_inclusion(&all[0], 0, 5, &proof[..2], &r5),
            Err(ProofError::WrongLength {
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(
            verify_inclusion(&all[0], 5, 5, &proof, &r5),
            Err(ProofError::LeafNotInTree {
                leaf_index: 5,
                tree_size: 5
            })
        );
        assert_eq!(
            verify_consistency(5, 4, &r5, &r5, &[]),
            Err(ProofError::SizesOutOfOrder {
                old_size: 5,
                new_size: 4
            })
        );
        assert_eq!(
            verify_consistency(5, 5, &r5, &all[0], &[]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(verify_consistency(0, 5, &EMPTY_ROOT, &r5, &[]), Ok(()));
        assert_eq!(
            verify_consistency(0, 5, &r5, &r5, &[]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(0, 5, &EMPTY_ROOT, &r5, &[r5]),
            Err(ProofError::WrongLength {
                expected: 0,
                actual: 1
            })
        );
    }

    #[test]
    fn stored_indexes_are_gap_free_and_split_back() {
        let mut next = 0;
        for n in 0..200u64 {
            assert_eq!(leaf_stored_index(n), next);
            next = stored_hash_count(n + 1);
        }
        for index in 0..500 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index);
        }
    }
}
