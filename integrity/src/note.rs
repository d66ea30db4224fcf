//! Checkpoints (C2SP tlog-checkpoint bodies) and their Ed25519 signed notes (C2SP signed-note):
//! the [`Signer`] the log signs with, the [`Verifier`] an auditor holds, and [`open_checkpoint`].
//!
//! Signing and signature verification go through the `signed_note` crate (Cloudflare's port of
//! Go's `golang.org/x/mod/sumdb/note`); this module adds the checkpoint body, keys built from a
//! 32-byte seed, and a strict structural check of notes so that a malformed note is rejected with
//! an error that says what is wrong rather than a bare "malformed note".

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use thiserror::Error;

use crate::hash::Hash;

/// Signature type byte of Ed25519 keys in C2SP signed notes.
const ALG_ED25519: u8 = 0x01;
/// Largest note [`open_checkpoint`] accepts, in bytes (as Go's `sumdb/note`).
pub const MAX_NOTE_LEN: usize = 1_000_000;
/// Most signature lines [`open_checkpoint`] accepts (as Go's `sumdb/note`).
pub const MAX_SIGNATURES: usize = 100;

/// A tree head: the log's origin, its size and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, e.g. `kcn-ledger.test/log`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// The root of the tree of `size` leaves.
    pub root: Hash,
}

/// Why a text is not a checkpoint body (or an origin is not usable in one).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// The body is not exactly three lines each ending in a line feed.
    #[error("checkpoint body must be exactly three lines each ending in a line feed, got {0}")]
    LineCount(String),
    /// The origin line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// The origin holds a control character (line feed included).
    #[error("checkpoint origin contains a control character")]
    OriginControlCharacter,
    /// The size line is not a decimal number without leading zeros that fits in 64 bits.
    #[error("checkpoint size {0:?} is not a decimal number without leading zeros")]
    Size(String),
    /// The root line is not standard padded base64 of 32 bytes.
    #[error("checkpoint root {0:?} is not standard base64 of 32 bytes")]
    Root(String),
}

/// Checks that `origin` can be a checkpoint's first line: non-empty, no control characters.
///
/// # Errors
///
/// [`CheckpointError::EmptyOrigin`], [`CheckpointError::OriginControlCharacter`].
pub fn validate_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() {
        return Err(CheckpointError::EmptyOrigin);
    }
    if origin.chars().any(char::is_control) {
        return Err(CheckpointError::OriginControlCharacter);
    }
    Ok(())
}

impl Checkpoint {
    /// The note body: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        )
    }

    /// Parses a note body, strictly: exactly three lines each ending in a line feed (no extension
    /// lines), a non-empty origin, a decimal size without leading zeros, and a root in standard
    /// padded base64 of 32 bytes.
    ///
    /// # Errors
    ///
    /// A [`CheckpointError`] naming the first rule broken.
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        let lines: Vec<&str> = body.split('\n').collect();
        // Three lines each ending in '\n' split into four pieces, the last one empty.
        let [origin, size, root, ""] = lines.as_slice() else {
            let n = lines.len().saturating_sub(1);
            let why = if body.ends_with('\n') {
                format!("{n} lines")
            } else {
                "a last line without a line feed".to_owned()
            };
            return Err(CheckpointError::LineCount(why));
        };
        validate_origin(origin)?;
        let canonical_size = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (*size == "0" || !size.starts_with('0'));
        let size_value = canonical_size
            .then(|| size.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| CheckpointError::Size((*size).to_owned()))?;
        let root_hash =
            Hash::from_base64(root).map_err(|_| CheckpointError::Root((*root).to_owned()))?;
        Ok(Self {
            origin: (*origin).to_owned(),
            size: size_value,
            root: root_hash,
        })
    }
}

impl FromStr for Checkpoint {
    type Err = CheckpointError;

    fn from_str(body: &str) -> Result<Self, Self::Err> {
        Self::parse(body)
    }
}

/// Why a key name, seed or verifier key is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// Key names must be non-empty, without spaces (any Unicode space) or `+`.
    #[error("key name {0:?} is empty or contains a space or a plus sign")]
    InvalidName(String),
    /// A verifier key is `<name>+<8 hex digits>+<base64>`.
    #[error("verifier key is not <name>+<8 lowercase hex digits>+<base64 key>")]
    VerifierKeyFormat,
    /// The key part is not standard base64.
    #[error("verifier key data is not standard base64")]
    VerifierKeyBase64,
    /// The key is not of type 0x01 (Ed25519).
    #[error("verifier key type {0:#04x} is not ed25519 (0x01)")]
    UnsupportedAlgorithm(u8),
    /// An Ed25519 key is 32 bytes after its type byte.
    #[error("ed25519 public key must be 32 bytes, got {0}")]
    PublicKeyLength(usize),
    /// The 32 bytes are not a valid Ed25519 point.
    #[error("ed25519 public key is not a valid curve point")]
    InvalidPublicKey,
    /// The key id does not match the name and key.
    #[error("verifier key id {given} does not match its name and key (expected {expected})")]
    KeyIdMismatch {
        /// The id in the verifier key.
        given: String,
        /// The id computed from name and key.
        expected: String,
    },
    /// A seed in hex is not 64 hex digits.
    #[error("signing key seed must be 64 hex digits")]
    SeedHex,
    /// The operating system's random source failed.
    #[error("no randomness for a new signing key: {0}")]
    Random(String),
    /// `signed_note` refused a key this module had accepted.
    #[error("signed-note library rejected the key: {0}")]
    Library(String),
}

/// The key id: first 4 bytes of `SHA-256(name || "\n" || 0x01 || public key)`, as a big-endian u32.
fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut encoded = [0u8; 33];
    encoded[0] = ALG_ED25519;
    encoded[1..].copy_from_slice(public_key);
    signed_note::key_id(name, &encoded)
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if signed_note::is_key_name_valid(name) {
        Ok(())
    } else {
        Err(KeyError::InvalidName(name.to_owned()))
    }
}

/// The log's signing key: an Ed25519 key from a 32-byte seed, with its key name.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key_id: u32,
    signing_key: SigningKey,
    inner: StandardSigner,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl Signer {
    /// The signer for key `name` with Ed25519 private key `seed` (RFC 8032's 32-byte secret).
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidName`] if the name is empty or has a space or `+`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let signing_key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, signing_key.verifying_key().as_bytes());
        let mut private = Vec::with_capacity(33);
        private.push(ALG_ED25519);
        private.extend_from_slice(seed);
        let skey = format!(
            "PRIVATE+KEY+{name}+{key_id:08x}+{}",
            BASE64.encode(&private)
        );
        let inner = StandardSigner::new(&skey).map_err(|e| KeyError::Library(e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            key_id,
            signing_key,
            inner,
        })
    }

    /// As [`Signer::from_seed`], with the seed as 64 hex digits.
    ///
    /// # Errors
    ///
    /// [`KeyError::SeedHex`], [`KeyError::InvalidName`].
    pub fn from_seed_hex(name: &str, seed_hex: &str) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_hex, &mut seed).map_err(|_| KeyError::SeedHex)?;
        Self::from_seed(name, &seed)
    }

    /// A new signer with a random seed from the operating system. Persist [`Signer::seed`] to
    /// keep signing with the same key.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidName`], [`KeyError::Random`].
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Self::from_seed(name, &seed)
    }

    /// The 32-byte private seed, to persist (keep it secret: anyone holding it can sign).
    pub fn seed(&self) -> [u8; 32] {
        self.signing_key.to_bytes()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (first 4 bytes of `SHA-256(name || "\n" || 0x01 || public key)`, big-endian).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key.verifying_key().to_bytes()
    }

    /// The published verifier key: `<name>+<8 hex key id>+<base64(0x01 || public key)>`.
    pub fn verifier_key(&self) -> String {
        signed_note::new_ed25519_verifier_key(&self.name, &self.signing_key.verifying_key())
    }

    /// The verifier for this key.
    ///
    /// # Panics
    ///
    /// Never: a signer's own verifier key always parses.
    pub fn verifier(&self) -> Verifier {
        self.verifier_key()
            .parse()
            .expect("a signer's own verifier key parses")
    }

    /// Signs the checkpoint's body: the whole note, body, empty line and one signature line
    /// `— <name> <base64(key id || signature)>\n`. Ed25519 is deterministic, so the same checkpoint
    /// always gives the same note.
    ///
    /// # Errors
    ///
    /// [`NoteError::Checkpoint`] if the origin is empty or has a control character.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, NoteError> {
        validate_origin(&checkpoint.origin)?;
        let body = checkpoint.body();
        let mut note =
            Note::new(body.as_bytes(), &[]).map_err(|e| NoteError::Library(e.to_string()))?;
        note.add_sigs(&[&self.inner])
            .map_err(|e| NoteError::Library(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| NoteError::Library(e.to_string()))
    }
}

/// A log's public key as auditors hold it, parsed from its verifier key text.
#[derive(Clone)]
pub struct Verifier {
    name: String,
    key_id: u32,
    public_key: [u8; 32],
    inner: StandardVerifier,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({self})")
    }
}

impl PartialEq for Verifier {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.key_id == other.key_id
            && self.public_key == other.public_key
    }
}

impl Eq for Verifier {}

impl Verifier {
    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, big-endian.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }
}

/// The verifier key text `<name>+<8 hex key id>+<base64(0x01 || public key)>`.
impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(&self.public_key);
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(key)
        )
    }
}

impl FromStr for Verifier {
    type Err = KeyError;

    /// Parses `<name>+<8 lowercase hex digits>+<base64(0x01 || 32-byte Ed25519 key)>`, checking
    /// that the key id matches the name and key.
    fn from_str(vkey: &str) -> Result<Self, Self::Err> {
        // The base64 key may itself contain '+'; the name and the hex id cannot.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::VerifierKeyFormat);
        };
        check_name(name)?;
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(KeyError::VerifierKeyFormat);
        }
        let given_id = u32::from_str_radix(id_hex, 16).map_err(|_| KeyError::VerifierKeyFormat)?;
        let key = BASE64
            .decode(key64)
            .map_err(|_| KeyError::VerifierKeyBase64)?;
        let (&alg, public) = key.split_first().ok_or(KeyError::VerifierKeyFormat)?;
        if alg != ALG_ED25519 {
            return Err(KeyError::UnsupportedAlgorithm(alg));
        }
        let public_key: [u8; 32] = public
            .try_into()
            .map_err(|_| KeyError::PublicKeyLength(public.len()))?;
        ed25519_dalek::VerifyingKey::from_bytes(&public_key)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        let expected_id = key_id(name, &public_key);
        if given_id != expected_id {
            return Err(KeyError::KeyIdMismatch {
                given: id_hex.to_owned(),
                expected: format!("{expected_id:08x}"),
            });
        }
        let inner = StandardVerifier::new(vkey).map_err(|e| KeyError::Library(e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            key_id: given_id,
            public_key,
            inner,
        })
    }
}

/// Why a signed checkpoint note was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// The note is longer than [`MAX_NOTE_LEN`].
    #[error("note is {0} bytes, more than the {MAX_NOTE_LEN} accepted")]
    TooLarge(usize),
    /// A control character other than line feed appears in the note.
    #[error("note contains a control character other than line feed")]
    ControlCharacter,
    /// The note does not end with a line feed.
    #[error("note does not end with a line feed")]
    MissingFinalNewline,
    /// No empty line separates the text from signature lines.
    #[error("note has no empty line before its signature lines")]
    MissingSignatureBlock,
    /// A signature line is not `— <name> <base64(4-byte key id || signature)>`.
    #[error("signature line {line} is malformed: {reason}")]
    MalformedSignatureLine {
        /// 1-based number of the line within the signature block.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signature lines")]
    TooManySignatures,
    /// A signature line from the verifier's key does not verify: forged or altered note.
    #[error("signature from key {name}+{key_id:08x} does not verify")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature line is from the verifier's key (lines from other keys are ignored).
    #[error("note has no signature from key {name}+{key_id:08x}")]
    NotSignedByKey {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The signed text is not a checkpoint body.
    #[error("signed text is not a checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// `signed_note` refused a note this module had accepted.
    #[error("signed-note library rejected the note: {0}")]
    Library(String),
}

/// Checks the note's structure as `signed_note` will parse it, with precise errors; returns the
/// signed text (body and its final line feed).
fn split_note(note: &str) -> Result<&str, NoteError> {
    if note.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge(note.len()));
    }
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter);
    }
    if !note.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    // As Go's and signed_note's parsers, the LAST empty line separates text from signatures.
    let (text, signatures) = note
        .rsplit_once("\n\n")
        .ok_or(NoteError::MissingSignatureBlock)?;
    let signatures = signatures
        .strip_suffix('\n')
        .ok_or(NoteError::MissingSignatureBlock)?;
    for (i, line) in signatures.split('\n').enumerate() {
        let number = i + 1;
        if number > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let malformed = |reason| NoteError::MalformedSignatureLine {
            line: number,
            reason,
        };
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| malformed("it does not start with an em dash and a space"))?;
        let (name, signature) = rest
            .split_once(' ')
            .ok_or_else(|| malformed("no space between key name and signature"))?;
        if !signed_note::is_key_name_valid(name) {
            return Err(malformed("key name is empty or contains a plus sign"));
        }
        let bytes = BASE64
            .decode(signature)
            .map_err(|_| malformed("signature is not standard base64"))?;
        if bytes.len() < 5 {
            return Err(malformed("signature is shorter than a key id and one byte"));
        }
    }
    // The text is everything before the separating empty line, with its own final line feed.
    Ok(&note[..=text.len()])
}

/// Opens a signed checkpoint note: checks its structure, requires at least one valid signature by
/// `verifier`'s key (signature lines from other keys, such as witnesses' cosignatures, are
/// ignored), then parses the signed text as a checkpoint.
///
/// The caller still compares the checkpoint's origin with the log's expected origin.
///
/// # Errors
///
/// A [`NoteError`] saying what is wrong: structure, a signature by the key that does not verify
/// ([`NoteError::InvalidSignature`]), no signature by the key ([`NoteError::NotSignedByKey`]), or
/// a signed text that is not a checkpoint body.
pub fn open_checkpoint(note: &str, verifier: &Verifier) -> Result<Checkpoint, NoteError> {
    let text = split_note(note)?;
    let parsed =
        Note::from_bytes(note.as_bytes()).map_err(|e| NoteError::Library(e.to_string()))?;
    let known = VerifierList::new(vec![Box::new(verifier.inner.clone())]);
    match parsed.verify(&known) {
        Ok(_) => {}
        Err(signed_note::NoteError::UnverifiedNote) => {
            return Err(NoteError::NotSignedByKey {
                name: verifier.name.clone(),
                key_id: verifier.key_id,
            });
        }
        Err(signed_note::NoteError::InvalidSignature { name, id }) => {
            return Err(NoteError::InvalidSignature { name, key_id: id });
        }
        Err(e) => return Err(NoteError::Library(e.to_string())),
    }
    debug_assert_eq!(parsed.text(), text.as_bytes());
    Ok(Checkpoint::parse(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "example.test/log".to_owned(),
            size: 42,
            root: crate::hash::hash_leaf(b"x"),
        }
    }

    #[test]
    fn body_round_trips() {
        let c = checkpoint();
        let body = c.body();
        assert_eq!(body.lines().count(), 3);
        assert!(body.ends_with('\n'));
        assert_eq!(Checkpoint::parse(&body), Ok(c.clone()));
        let zero = Checkpoint { size: 0, ..c };
        assert_eq!(zero.body().parse::<Checkpoint>(), Ok(zero));
    }

    #[test]
    fn malformed_bodies_say_why() {
        let root = checkpoint().root.to_base64();
        let cases = [
            (format!("o\n1\n{root}"), "line feed"),
            (format!("o\n1\n{root}\next\n"), "4 lines"),
            ("o\n1\n".to_owned(), "2 lines"),
            (format!("\n1\n{root}\n"), "origin is empty"),
            (format!("o\n01\n{root}\n"), "\"01\""),
            (format!("o\n+1\n{root}\n"), "\"+1\""),
            (format!("o\n\n{root}\n"), "\"\""),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                "18446744073709551616",
            ),
            ("o\n1\nAAAA\n".to_owned(), "\"AAAA\""),
            (format!("o\n1\n{}\n", root.trim_end_matches('=')), "base64"),
            (format!("o\t\n1\n{root}\n"), "control character"),
        ];
        for (body, want) in cases {
            let err = Checkpoint::parse(&body).unwrap_err().to_string();
            assert!(err.contains(want), "{body:?}: {err}");
        }
    }

    #[test]
    fn sign_then_open() {
        let signer = Signer::from_seed("example.test", &[7; 32]).unwrap();
        let note = signer.sign(&checkpoint()).unwrap();
        assert!(note.starts_with(&checkpoint().body()));
        let verifier: Verifier = signer.verifier_key().parse().unwrap();
        assert_eq!(verifier, signer.verifier());
        assert_eq!(verifier.to_string(), signer.verifier_key());
        assert_eq!(open_checkpoint(&note, &verifier), Ok(checkpoint()));
    }

    #[test]
    fn generated_keys_differ_and_restore_from_their_seed() {
        let a = Signer::generate("example.test").unwrap();
        let b = Signer::generate("example.test").unwrap();
        assert_ne!(a.seed(), b.seed());
        let restored = Signer::from_seed("example.test", &a.seed()).unwrap();
        assert_eq!(restored.verifier_key(), a.verifier_key());
        assert_eq!(restored.sign(&checkpoint()), a.sign(&checkpoint()));
        assert!(!format!("{a:?}").contains(&hex::encode(a.seed())));
    }

    #[test]
    fn bad_names_and_keys_are_rejected() {
        for name in ["", "a b", "a+b", "a\u{2003}b"] {
            assert!(matches!(
                Signer::from_seed(name, &[1; 32]),
                Err(KeyError::InvalidName(_))
            ));
        }
        let vkey = Signer::from_seed("k", &[1; 32]).unwrap().verifier_key();
        let (prefix, key64) = vkey.rsplit_once('+').unwrap();
        let (name, id) = prefix.split_once('+').unwrap();
        // Everything after the second '+' is the key, which base64 may itself write with a '+'.
        assert_eq!(
            "k+00000000+x+y".parse::<Verifier>(),
            Err(KeyError::VerifierKeyBase64)
        );
        let with_plus = (0..=u8::MAX)
            .map(|i| Signer::from_seed("k", &[i; 32]).unwrap().verifier_key())
            .find(|v| v.matches('+').count() > 2)
            .expect("some key's base64 has a '+'");
        assert!(with_plus.parse::<Verifier>().is_ok(), "{with_plus}");
        assert_eq!(
            format!("{name}+ABCDEF01+{key64}").parse::<Verifier>(),
            Err(KeyError::VerifierKeyFormat)
        );
        assert_eq!(
            format!("{name}+{id}0+{key64}").parse::<Verifier>(),
            Err(KeyError::VerifierKeyFormat)
        );
        assert_eq!(
            format!("{name}+{id}+***").parse::<Verifier>(),
            Err(KeyError::VerifierKeyBase64)
        );
        let mut key = BASE64.decode(key64).unwrap();
        key[0] = 2;
        assert_eq!(
            format!("{name}+{id}+{}", BASE64.encode(&key)).parse::<Verifier>(),
            Err(KeyError::UnsupportedAlgorithm(2))
        );
        assert_eq!(
            format!("{name}+{id}+{}", BASE64.encode(&key[..20])).parse::<Verifier>(),
            Err(KeyError::UnsupportedAlgorithm(2))
        );
        key[0] = 1;
        assert_eq!(
            format!("{name}+{id}+{}", BASE64.encode(&key[..20])).parse::<Verifier>(),
            Err(KeyError::PublicKeyLength(19))
        );
        assert!(matches!(
            format!("other+{id}+{key64}").parse::<Verifier>(),
            Err(KeyError::KeyIdMismatch { .. })
        ));
        assert_eq!(
            Signer::from_seed_hex("k", "00").unwrap_err(),
            KeyError::SeedHex
        );
    }

    #[test]
    fn malformed_notes_say_why() {
        let signer = Signer::from_seed("example.test", &[7; 32]).unwrap();
        let verifier = signer.verifier();
        let note = signer.sign(&checkpoint()).unwrap();
        let body = checkpoint().body();
        let sig_line = note.strip_prefix(&format!("{body}\n")).unwrap();
        let open = |text: &str| open_checkpoint(text, &verifier).unwrap_err();

        assert_eq!(open(note.trim_end()), NoteError::MissingFinalNewline);
        assert_eq!(open(&body), NoteError::MissingSignatureBlock);
        assert_eq!(
            open(&note.replace("log", "l\rg")),
            NoteError::ControlCharacter
        );
        assert_eq!(
            open(&"x".repeat(MAX_NOTE_LEN + 1)),
            NoteError::TooLarge(MAX_NOTE_LEN + 1)
        );
        assert!(matches!(
            open(&format!("{body}\n- example.test AAAAAAAA\n")),
            NoteError::MalformedSignatureLine { line: 1, .. }
        ));
        assert!(matches!(
            open(&format!("{note}\u{2014} example.test\n")),
            NoteError::MalformedSignatureLine { line: 2, .. }
        ));
        assert!(matches!(
            open(&format!("{note}\u{2014} w AAAA\n")),
            NoteError::MalformedSignatureLine { line: 2, .. }
        ));
        assert!(matches!(
            open(&format!("{note}\u{2014} w a+b\n")),
            NoteError::MalformedSignatureLine { line: 2, .. }
        ));
        assert!(matches!(
            open(&format!("{note}\u{2014} w+x AAAAAAAA\n")),
            NoteError::MalformedSignatureLine { line: 2, .. }
        ));
        assert_eq!(
            open(&format!("{note}{}", sig_line.repeat(MAX_SIGNATURES))),
            NoteError::TooManySignatures
        );
        // A correctly signed text that is not a checkpoint.
        let mut other = Note::new(b"just text\n", &[]).unwrap();
        other.add_sigs(&[&signer.inner]).unwrap();
        let other = String::from_utf8(other.to_bytes()).unwrap();
        assert!(matches!(open(&other), NoteError::Checkpoint(_)));
    }
}
