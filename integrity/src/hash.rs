//! The 32-byte SHA-256 [`Hash`](struct@Hash) of leaves, tree nodes and roots, its hex and base64 forms, and the two
//! RFC 9162 hashing rules: `SHA-256(0x00 || leaf)` and `SHA-256(0x01 || left || right)`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Length of a [`Hash`](struct@Hash) in bytes.
pub const HASH_LEN: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
///
/// `Display`, `Debug` and [`FromStr`] use lowercase hex; checkpoints use [`Hash::to_base64`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

/// Why a text or byte slice is not a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashParseError {
    /// The text is not hexadecimal.
    #[error("hash is not hexadecimal: {0}")]
    Hex(String),
    /// The text is not standard base64 with padding.
    #[error("hash is not standard base64 with padding: {0}")]
    Base64(String),
    /// The decoded bytes are not 32 long.
    #[error("hash must be {HASH_LEN} bytes, got {0}")]
    Length(usize),
}

impl Hash {
    /// Wraps 32 bytes.
    pub const fn new(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }

    /// The hash's bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Copies a slice that must be exactly 32 bytes long.
    ///
    /// # Errors
    ///
    /// [`HashParseError::Length`] for any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashParseError> {
        <[u8; HASH_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HashParseError::Length(bytes.len()))
    }

    /// Parses 64 hex digits (either case).
    ///
    /// # Errors
    ///
    /// [`HashParseError::Hex`] for non-hex text, [`HashParseError::Length`] for other lengths.
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        let bytes = hex::decode(text).map_err(|e| HashParseError::Hex(e.to_string()))?;
        Self::from_slice(&bytes)
    }

    /// The 64 lowercase hex digits of the hash.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses standard base64 with padding (the form a checkpoint uses).
    ///
    /// # Errors
    ///
    /// [`HashParseError::Base64`] for non-canonical base64, [`HashParseError::Length`] for other
    /// lengths.
    pub fn from_base64(text: &str) -> Result<Self, HashParseError> {
        let bytes = BASE64
            .decode(text)
            .map_err(|e| HashParseError::Base64(e.to_string()))?;
        Self::from_slice(&bytes)
    }

    /// Standard base64 with padding (the form a checkpoint uses).
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }
}

impl From<[u8; HASH_LEN]> for Hash {
    fn from(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }
}

impl From<Hash> for [u8; HASH_LEN] {
    fn from(hash: Hash) -> Self {
        hash.0
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = HashParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_hex(text)
    }
}

/// The root of the empty tree: SHA-256 of no bytes (RFC 9162, section 2.1.1).
pub const EMPTY_ROOT: Hash = Hash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// The hash of a leaf: `SHA-256(0x00 || leaf_input)`.
pub fn hash_leaf(leaf_input: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(leaf_input);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn hash_children(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_round_trip() {
        let h = hash_leaf(b"");
        assert_eq!(
            h.to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(h.to_string().parse::<Hash>(), Ok(h));
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()), Ok(h));
    }

    #[test]
    fn wrong_lengths_and_alphabets_are_rejected() {
        assert_eq!(Hash::from_hex("00"), Err(HashParseError::Length(1)));
        assert!(matches!(Hash::from_hex("zz"), Err(HashParseError::Hex(_))));
        assert!(matches!(
            Hash::from_base64("not base64!"),
            Err(HashParseError::Base64(_))
        ));
        assert_eq!(Hash::from_base64("AAAA"), Err(HashParseError::Length(3)));
        assert_eq!(Hash::from_slice(&[0; 31]), Err(HashParseError::Length(31)));
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, Hash(Sha256::digest(b"").into()));
    }
}
