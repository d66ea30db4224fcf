//! Reproduces every value of `tests/fixtures/integrity-vectors.json` (the contract's test vectors)
//! byte for byte: leaves, roots, proofs through the stored-hash API, keys, the signed checkpoint,
//! and the RFC 9162 / Certificate Transparency reference roots; plus the negative cases.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kcn_integrity::{
    Checkpoint, EMPTY_ROOT, Hash, LeafFields, MemoryTree, NoteError, ProofError, Signer, Verifier,
    append, consistency_proof, format_timestamp, hash_leaf, inclusion_proof, indexes_for_append,
    indexes_for_consistency, indexes_for_inclusion, indexes_for_root, leaf_hash, leaf_input,
    open_checkpoint, parse_timestamp, root, root_of, verify_consistency, verify_inclusion,
};
use serde::Deserialize;
use uuid::Uuid;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/integrity-vectors.json"
));

#[derive(Deserialize)]
struct Vectors {
    events: Vec<Event>,
    roots_hex_by_tree_size: BTreeMap<u64, String>,
    inclusion_proofs: Vec<InclusionVector>,
    consistency_proofs: Vec<ConsistencyVector>,
    signing: Signing,
    rfc9162_tree: Rfc9162Tree,
}

#[derive(Deserialize)]
struct Event {
    position: u64,
    event_id: Uuid,
    aggregate_type: String,
    aggregate_id: String,
    aggregate_version: u64,
    event_type: String,
    schema_version: u64,
    occurred_at: String,
    recorded_at: String,
    payload_base64: String,
    metadata_base64: String,
    leaf_input_hex: String,
    leaf_hash_hex: String,
}

#[derive(Deserialize)]
struct InclusionVector {
    position: u64,
    leaf_index: u64,
    tree_size: u64,
    proof_hex: Vec<String>,
}

#[derive(Deserialize)]
struct ConsistencyVector {
    first_size: u64,
    second_size: u64,
    proof_hex: Vec<String>,
}

#[derive(Deserialize)]
struct Signing {
    ed25519_private_seed_hex: String,
    public_key_hex: String,
    key_name: String,
    key_id_hex: String,
    verifier_key: String,
    origin: String,
    checkpoint_note: String,
}

#[derive(Deserialize)]
struct Rfc9162Tree {
    leaf_inputs_hex: Vec<String>,
    roots_hex_by_tree_size: BTreeMap<u64, String>,
}

fn vectors() -> Vectors {
    serde_json::from_str(VECTORS).expect("the vectors fixture parses")
}

fn h(hex: &str) -> Hash {
    Hash::from_hex(hex).expect("vector hashes are 64 hex digits")
}

fn hashes(hexes: &[String]) -> Vec<Hash> {
    hexes.iter().map(|x| h(x)).collect()
}

fn event_leaf_hashes(v: &Vectors) -> Vec<Hash> {
    v.events.iter().map(|e| h(&e.leaf_hash_hex)).collect()
}

/// A store filled only through the append API, one batch per event (as separate transactions
/// would), each append reading only the hashes `indexes_for_append` names.
fn store_from_appends(leaves: &[Hash]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let old = i as u64;
        let reads = indexes_for_append(old).unwrap();
        let fetched = fetch(tree.stored(), &reads);
        let appended = append(old, std::slice::from_ref(leaf), &fetched).unwrap();
        let mine = tree.append(std::slice::from_ref(leaf)).unwrap();
        assert_eq!(appended, mine);
    }
    tree
}

/// What `SELECT idx, hash FROM tree_hashes WHERE idx IN (...)` returns.
fn fetch(stored: &[Hash], indexes: &[u64]) -> HashMap<u64, Hash> {
    indexes
        .iter()
        .map(|&i| (i, stored[usize::try_from(i).unwrap()]))
        .collect()
}

#[test]
fn every_leaf_input_and_leaf_hash() {
    let v = vectors();
    assert_eq!(v.events.len(), 7);
    for (i, e) in v.events.iter().enumerate() {
        assert_eq!(
            e.position,
            i as u64 + 1,
            "positions start at 1 without gaps"
        );
        let payload = BASE64.decode(&e.payload_base64).unwrap();
        let metadata = BASE64.decode(&e.metadata_base64).unwrap();
        let fields = LeafFields {
            position: e.position,
            event_id: e.event_id,
            aggregate_type: &e.aggregate_type,
            aggregate_id: &e.aggregate_id,
            aggregate_version: e.aggregate_version,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            occurred_at: &e.occurred_at,
            recorded_at: &e.recorded_at,
            payload: &payload,
            metadata: &metadata,
        };
        let input = leaf_input(&fields);
        assert_eq!(
            hex::encode(&input),
            e.leaf_input_hex,
            "leaf input {}",
            e.position
        );
        assert_eq!(
            leaf_hash(&fields).to_hex(),
            e.leaf_hash_hex,
            "leaf hash {}",
            e.position
        );
        assert_eq!(hash_leaf(&input).to_hex(), e.leaf_hash_hex);
        // The timestamps are in the canonical stored form.
        for text in [&e.occurred_at, &e.recorded_at] {
            assert_eq!(format_timestamp(parse_timestamp(text).unwrap()), *text);
        }
    }
}

#[test]
fn root_at_every_size() {
    let v = vectors();
    let leaves = event_leaf_hashes(&v);
    let tree = store_from_appends(&leaves);
    assert_eq!(v.roots_hex_by_tree_size.len(), leaves.len());
    assert_eq!(root(0, tree.stored()).unwrap(), EMPTY_ROOT);
    for (&size, want) in &v.roots_hex_by_tree_size {
        let want = h(want);
        let fetched = fetch(tree.stored(), &indexes_for_root(size).unwrap());
        assert_eq!(root(size, &fetched).unwrap(), want, "root at {size}");
        assert_eq!(
            root_of(&leaves[..size as usize]),
            want,
            "reference root at {size}"
        );
    }
}

#[test]
fn one_batch_append_gives_the_same_store_and_root() {
    let v = vectors();
    let leaves = event_leaf_hashes(&v);
    let one_by_one = store_from_appends(&leaves);
    for split in 0..=leaves.len() {
        let mut tree = MemoryTree::new();
        tree.append(&leaves[..split]).unwrap();
        let fetched = fetch(tree.stored(), &indexes_for_append(split as u64).unwrap());
        let appended = append(split as u64, &leaves[split..], &fetched).unwrap();
        assert_eq!(appended.new_size, 7);
        assert_eq!(appended.root, h(&v.roots_hex_by_tree_size[&7]));
        tree.append(&leaves[split..]).unwrap();
        assert_eq!(tree, one_by_one);
    }
}

#[test]
fn every_inclusion_proof() {
    let v = vectors();
    let leaves = event_leaf_hashes(&v);
    let tree = store_from_appends(&leaves);
    for p in &v.inclusion_proofs {
        assert_eq!(p.leaf_index, p.position - 1);
        let fetched = fetch(
            tree.stored(),
            &indexes_for_inclusion(p.leaf_index, p.tree_size).unwrap(),
        );
        let proof = inclusion_proof(p.leaf_index, p.tree_size, &fetched).unwrap();
        assert_eq!(
            proof,
            hashes(&p.proof_hex),
            "inclusion {} in {}",
            p.position,
            p.tree_size
        );
        let root = h(&v.roots_hex_by_tree_size[&p.tree_size]);
        let leaf = leaves[p.leaf_index as usize];
        verify_inclusion(&leaf, p.leaf_index, p.tree_size, &proof, &root).unwrap();

        // A flipped bit anywhere in the proof, the leaf or the root fails.
        for k in 0..proof.len() {
            for bit in [0, 7] {
                let mut bad = proof.clone();
                bad[k].0[k] ^= 1 << bit;
                assert_eq!(
                    verify_inclusion(&leaf, p.leaf_index, p.tree_size, &bad, &root),
                    Err(ProofError::RootMismatch)
                );
            }
        }
        let mut bad_leaf = leaf;
        bad_leaf.0[31] ^= 1;
        assert!(verify_inclusion(&bad_leaf, p.leaf_index, p.tree_size, &proof, &root).is_err());
        let mut bad_root = root;
        bad_root.0[0] ^= 0x80;
        assert!(verify_inclusion(&leaf, p.leaf_index, p.tree_size, &proof, &bad_root).is_err());
        // A proof with a hash too many or too few fails.
        let mut longer = proof.clone();
        longer.push(root);
        assert!(verify_inclusion(&leaf, p.leaf_index, p.tree_size, &longer, &root).is_err());
        if !proof.is_empty() {
            assert!(
                verify_inclusion(&leaf, p.leaf_index, p.tree_size, &proof[1..], &root).is_err()
            );
        }
    }
}

#[test]
fn every_consistency_proof() {
    let v = vectors();
    let leaves = event_leaf_hashes(&v);
    let tree = store_from_appends(&leaves);
    for p in &v.consistency_proofs {
        let (m, n) = (p.first_size, p.second_size);
        let fetched = fetch(tree.stored(), &indexes_for_consistency(m, n).unwrap());
        let proof = consistency_proof(m, n, &fetched).unwrap();
        assert_eq!(proof, hashes(&p.proof_hex), "consistency {m} to {n}");
        let old_root = h(&v.roots_hex_by_tree_size[&m]);
        let new_root = h(&v.roots_hex_by_tree_size[&n]);
        verify_consistency(m, n, &old_root, &new_root, &proof).unwrap();

        for k in 0..proof.len() {
            let mut bad = proof.clone();
            bad[k].0[31 - k] ^= 1;
            assert_eq!(
                verify_consistency(m, n, &old_root, &new_root, &bad),
                Err(ProofError::RootMismatch)
            );
        }
        let mut bad_old = old_root;
        bad_old.0[5] ^= 4;
        assert!(verify_consistency(m, n, &bad_old, &new_root, &proof).is_err());
        let mut bad_new = new_root;
        bad_new.0[5] ^= 4;
        assert!(verify_consistency(m, n, &old_root, &bad_new, &proof).is_err());
        let mut longer = proof.clone();
        longer.push(new_root);
        assert!(verify_consistency(m, n, &old_root, &new_root, &longer).is_err());
    }
}

#[test]
fn every_size_pair_proves_and_verifies() {
    let v = vectors();
    let leaves = event_leaf_hashes(&v);
    let tree = store_from_appends(&leaves);
    for n in 1..=7u64 {
        let root_n = h(&v.roots_hex_by_tree_size[&n]);
        for i in 0..n {
            let proof = tree.inclusion_proof(i, n).unwrap();
            verify_inclusion(&leaves[i as usize], i, n, &proof, &root_n).unwrap();
        }
        for m in 1..=n {
            let proof = tree.consistency_proof(m, n).unwrap();
            let root_m = h(&v.roots_hex_by_tree_size[&m]);
            verify_consistency(m, n, &root_m, &root_n, &proof).unwrap();
        }
    }
}

#[test]
fn signing_key_and_verifier_key() {
    let v = vectors();
    let s = &v.signing;
    let signer = Signer::from_seed_hex(&s.key_name, &s.ed25519_private_seed_hex).unwrap();
    assert_eq!(hex::encode(signer.seed()), s.ed25519_private_seed_hex);
    assert_eq!(hex::encode(signer.public_key()), s.public_key_hex);
    assert_eq!(format!("{:08x}", signer.key_id()), s.key_id_hex);
    assert_eq!(signer.verifier_key(), s.verifier_key);
    let verifier: Verifier = s.verifier_key.parse().unwrap();
    assert_eq!(verifier.name(), s.key_name);
    assert_eq!(format!("{:08x}", verifier.key_id()), s.key_id_hex);
    assert_eq!(hex::encode(verifier.public_key()), s.public_key_hex);
    assert_eq!(verifier.to_string(), s.verifier_key);
    assert_eq!(verifier, signer.verifier());
}

fn signer_and_checkpoint(v: &Vectors) -> (Signer, Checkpoint) {
    let s = &v.signing;
    let signer = Signer::from_seed_hex(&s.key_name, &s.ed25519_private_seed_hex).unwrap();
    let size = v.events.len() as u64;
    let tree = store_from_appends(&event_leaf_hashes(v));
    let checkpoint = Checkpoint {
        origin: s.origin.clone(),
        size,
        root: tree.root(size).unwrap(),
    };
    (signer, checkpoint)
}

#[test]
fn signed_checkpoint_byte_for_byte() {
    let v = vectors();
    let (signer, checkpoint) = signer_and_checkpoint(&v);
    let note = signer.sign(&checkpoint).unwrap();
    assert_eq!(note, v.signing.checkpoint_note);
    let (body, _) = v.signing.checkpoint_note.split_once("\n\n").unwrap();
    assert_eq!(checkpoint.body(), format!("{body}\n"));
    assert_eq!(
        Checkpoint::parse(&checkpoint.body()),
        Ok(checkpoint.clone())
    );

    let verifier: Verifier = v.signing.verifier_key.parse().unwrap();
    let opened = open_checkpoint(&v.signing.checkpoint_note, &verifier).unwrap();
    assert_eq!(opened, checkpoint);
    assert_eq!(opened.root, h(&v.roots_hex_by_tree_size[&7]));
}

#[test]
fn a_witness_signature_line_is_ignored() {
    let v = vectors();
    let verifier: Verifier = v.signing.verifier_key.parse().unwrap();
    let witness = Signer::from_seed("witness.example", &[9; 32]).unwrap();
    let (_, checkpoint) = signer_and_checkpoint(&v);
    let witness_note = witness.sign(&checkpoint).unwrap();
    let witness_line = witness_note.rsplit_once("\n\n").unwrap().1;
    // After and before the log's own line.
    let after = format!("{}{witness_line}", v.signing.checkpoint_note);
    assert_eq!(open_checkpoint(&after, &verifier), Ok(checkpoint.clone()));
    let (body, log_line) = v.signing.checkpoint_note.split_once("\n\n").unwrap();
    let before = format!("{body}\n\n{witness_line}{log_line}");
    assert_eq!(open_checkpoint(&before, &verifier), Ok(checkpoint.clone()));
    // An unknown key's line with garbage signature bytes is ignored too.
    let junk = format!(
        "{}\u{2014} other.example AAAAAAAAAAAAAAAA\n",
        v.signing.checkpoint_note
    );
    assert_eq!(open_checkpoint(&junk, &verifier), Ok(checkpoint));
}

#[test]
fn a_note_signed_only_by_an_unknown_key_is_rejected() {
    let v = vectors();
    let verifier: Verifier = v.signing.verifier_key.parse().unwrap();
    let (_, checkpoint) = signer_and_checkpoint(&v);
    // Another key, and also a different key under the very same name.
    for stranger in [
        Signer::from_seed("witness.example", &[9; 32]).unwrap(),
        Signer::from_seed(&v.signing.key_name, &[9; 32]).unwrap(),
    ] {
        let note = stranger.sign(&checkpoint).unwrap();
        assert_eq!(
            open_checkpoint(&note, &verifier),
            Err(NoteError::NotSignedByKey {
                name: v.signing.key_name.clone(),
                key_id: verifier.key_id()
            })
        );
    }
}

#[test]
fn a_forged_or_altered_note_is_rejected() {
    let v = vectors();
    let verifier: Verifier = v.signing.verifier_key.parse().unwrap();
    let note = &v.signing.checkpoint_note;
    let invalid = Err(NoteError::InvalidSignature {
        name: v.signing.key_name.clone(),
        key_id: verifier.key_id(),
    });

    // The signed body altered: a bigger size, another root.
    let altered_size = note.replacen("\n7\n", "\n8\n", 1);
    assert_eq!(open_checkpoint(&altered_size, &verifier), invalid);
    let (_, checkpoint) = signer_and_checkpoint(&v);
    let mut other_root = checkpoint.root;
    other_root.0[0] ^= 1;
    let altered_root = note.replace(&checkpoint.root.to_base64(), &other_root.to_base64());
    assert_eq!(open_checkpoint(&altered_root, &verifier), invalid);

    // Every bit of the signature flipped in turn (the key id kept).
    let (body, line) = note.split_once("\n\n").unwrap();
    let b64 = line
        .strip_prefix(&format!("\u{2014} {} ", v.signing.key_name))
        .unwrap()
        .trim_end();
    let raw = BASE64.decode(b64).unwrap();
    assert_eq!(raw.len(), 68);
    for bit in (32..raw.len() * 8).step_by(29) {
        let mut forged = raw.clone();
        forged[bit / 8] ^= 1 << (bit % 8);
        let forged_note = format!(
            "{body}\n\n\u{2014} {} {}\n",
            v.signing.key_name,
            BASE64.encode(&forged)
        );
        assert_eq!(
            open_checkpoint(&forged_note, &verifier),
            invalid,
            "bit {bit}"
        );
    }

    // A signature made with another key but carrying the log's key name and id.
    let stranger = Signer::from_seed(&v.signing.key_name, &[9; 32]).unwrap();
    let stranger_note = stranger.sign(&checkpoint).unwrap();
    let stranger_raw = BASE64
        .decode(stranger_note.rsplit_once(' ').unwrap().1.trim_end())
        .unwrap();
    let mut spoofed = raw[..4].to_vec();
    spoofed.extend_from_slice(&stranger_raw[4..]);
    let spoofed_note = format!(
        "{body}\n\n\u{2014} {} {}\n",
        v.signing.key_name,
        BASE64.encode(&spoofed)
    );
    assert_eq!(open_checkpoint(&spoofed_note, &verifier), invalid);

    // A forged line for the log's key is not excused by a witness line.
    let witness = Signer::from_seed("witness.example", &[9; 32]).unwrap();
    let witness_line = witness.sign(&checkpoint).unwrap();
    let witness_line = witness_line.rsplit_once("\n\n").unwrap().1;
    assert_eq!(
        open_checkpoint(&format!("{altered_size}{witness_line}"), &verifier),
        invalid
    );
}

#[test]
fn rfc9162_reference_roots() {
    let v = vectors();
    let inputs: Vec<Vec<u8>> = v
        .rfc9162_tree
        .leaf_inputs_hex
        .iter()
        .map(|x| hex::decode(x).unwrap())
        .collect();
    let leaves: Vec<Hash> = inputs.iter().map(|i| hash_leaf(i)).collect();
    let mut tree = MemoryTree::new();
    tree.append(&leaves).unwrap();
    assert_eq!(v.rfc9162_tree.roots_hex_by_tree_size.len(), 8);
    for (&size, want) in &v.rfc9162_tree.roots_hex_by_tree_size {
        let want = h(want);
        assert_eq!(tree.root(size).unwrap(), want, "stored-hash root at {size}");
        assert_eq!(
            root_of(&leaves[..size as usize]),
            want,
            "reference root at {size}"
        );
        let mut frontier = kcn_integrity::Frontier::new();
        leaves[..size as usize]
            .iter()
            .for_each(|l| frontier.push(*l));
        assert_eq!(frontier.root(), want, "frontier root at {size}");
    }
}
