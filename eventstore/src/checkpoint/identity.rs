//! The log's identity: one origin and one Ed25519 signing key. On SQLite both are generated on first
//! start into the data directory (the key owner-only) and read back on every later start, unless the
//! operator configures them; on PostgreSQL, where several servers share one log, they must be
//! configured (see [`LogIdentity::from_config`]). The seed is a secret: it is never logged, and its
//! `Debug` form is redacted.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use kcn_integrity::{CheckpointError, KeyError, Signer, Verifier, validate_origin};
use thiserror::Error;
use uuid::Uuid;

/// File in the data directory holding the signing key's seed as 64 hex digits (mode 0600).
pub const KEY_FILE: &str = "checkpoint-signing-key";
/// File in the data directory holding the log's origin line.
pub const ORIGIN_FILE: &str = "checkpoint-origin";
/// Prefix of a generated origin; a random suffix makes every new log's origin its own.
pub const GENERATED_ORIGIN_PREFIX: &str = "kcn-ledger.local/";

/// A 32-byte Ed25519 private seed. Its `Debug` form never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySeed([u8; 32]);

impl fmt::Debug for KeySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySeed(<redacted>)")
    }
}

impl KeySeed {
    /// Wraps raw seed bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits, ignoring surrounding whitespace (a trailing line feed in a file).
    ///
    /// # Errors
    ///
    /// [`IdentityError::SeedFormat`] naming `from` (where the text came from, never the text).
    pub fn from_hex(text: &str, from: &str) -> Result<Self, IdentityError> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| IdentityError::SeedFormat {
            from: from.to_owned(),
        })?;
        Ok(Self(seed))
    }

    /// Reads a seed file: 64 hex digits.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Io`], [`IdentityError::SeedFormat`], and [`IdentityError::KeyFileOpen`]
    /// if the file can be read by its group or others.
    pub fn read_file(path: &Path) -> Result<Self, IdentityError> {
        check_owner_only(path)?;
        let text = fs::read_to_string(path).map_err(|source| IdentityError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_hex(&text, &path.display().to_string())
    }

    fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What the operator configured about the log's identity; every part is optional on SQLite.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityConfig {
    /// The origin line of every checkpoint (`checkpoint_origin`).
    pub origin: Option<String>,
    /// The signing key's name (`checkpoint_key_name`); defaults to the origin.
    pub key_name: Option<String>,
    /// The seed itself, from the environment (`KCN_CHECKPOINT_KEY_SEED`).
    pub seed: Option<KeySeed>,
    /// A file holding the seed (`checkpoint_key_seed_file`).
    pub seed_file: Option<PathBuf>,
}

/// Why the log's identity could not be established.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A seed is not 64 hex digits (the text itself is never shown).
    #[error("the checkpoint signing key seed from {from} must be 64 hex digits")]
    SeedFormat { from: String },
    /// The key file is readable by others than its owner.
    #[error(
        "the checkpoint signing key file {path} has mode {mode:o}; it must be readable by its owner only (chmod 600)"
    )]
    KeyFileOpen { path: PathBuf, mode: u32 },
    /// The seed was given twice.
    #[error(
        "the checkpoint signing key seed is given both by KCN_CHECKPOINT_KEY_SEED and by checkpoint_key_seed_file; keep one"
    )]
    SeedTwice,
    /// A part that must be configured (PostgreSQL) is missing.
    #[error("{0} must be configured: servers that share a log must share its origin and key")]
    NotConfigured(&'static str),
    /// The origin cannot be a checkpoint's first line.
    #[error("checkpoint origin {origin:?} is unusable: {source}")]
    Origin {
        origin: String,
        #[source]
        source: CheckpointError,
    },
    /// The key name is unusable (it defaults to the origin, which may hold a space or `+`).
    #[error(
        "checkpoint key name {name:?} is unusable ({source}); set checkpoint_key_name to a name without spaces or '+'"
    )]
    KeyName {
        name: String,
        #[source]
        source: KeyError,
    },
}

/// The log's origin and signing key.
#[derive(Debug, Clone)]
pub struct LogIdentity {
    origin: String,
    signer: Signer,
}

impl LogIdentity {
    /// An identity from an origin and a signer.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Origin`] if the origin cannot be a checkpoint's first line.
    pub fn new(origin: &str, signer: Signer) -> Result<Self, IdentityError> {
        validate_origin(origin).map_err(|source| IdentityError::Origin {
            origin: origin.to_owned(),
            source,
        })?;
        Ok(Self {
            origin: origin.to_owned(),
            signer,
        })
    }

    /// The identity of a log whose servers share it (PostgreSQL): origin and seed must be
    /// configured; nothing is read from or written to disk besides the configured seed file.
    ///
    /// # Errors
    ///
    /// [`IdentityError::NotConfigured`] when the origin or the seed is missing, and the errors of
    /// reading the seed.
    pub fn from_config(config: &IdentityConfig) -> Result<Self, IdentityError> {
        let origin = config
            .origin
            .as_deref()
            .ok_or(IdentityError::NotConfigured("checkpoint_origin"))?;
        let seed = configured_seed(config)?.ok_or(IdentityError::NotConfigured(
            "the checkpoint signing key (KCN_CHECKPOINT_KEY_SEED or checkpoint_key_seed_file)",
        ))?;
        Self::build(origin, config.key_name.as_deref(), &seed)
    }

    /// The identity of a single-server log (SQLite): configured parts win; the rest is read from
    /// the data directory, or generated there on first start (the seed in [`KEY_FILE`] with mode
    /// 0600, the origin `kcn-ledger.local/<random>` in [`ORIGIN_FILE`]) and kept for every later
    /// start.
    ///
    /// # Errors
    ///
    /// The errors of reading or writing those files, and unusable configured values.
    pub fn load_or_create(data_dir: &Path, config: &IdentityConfig) -> Result<Self, IdentityError> {
        let seed = match configured_seed(config)? {
            Some(seed) => seed,
            None => {
                let path = data_dir.join(KEY_FILE);
                if path.exists() {
                    KeySeed::read_file(&path)?
                } else {
                    let name = config.key_name.as_deref().unwrap_or("kcn-ledger");
                    let fresh =
                        Signer::generate(name).map_err(|source| IdentityError::KeyName {
                            name: name.to_owned(),
                            source,
                        })?;
                    let seed = KeySeed(fresh.seed());
                    write_private(&path, format!("{}\n", hex::encode(seed.as_bytes())))?;
                    tracing::info!(path = %path.display(), "generated the log's checkpoint signing key");
                    seed
                }
            }
        };
        let origin = match &config.origin {
            Some(origin) => origin.clone(),
            None => {
                let path = data_dir.join(ORIGIN_FILE);
                match fs::read_to_string(&path) {
                    Ok(text) => text.trim_end_matches('\n').to_owned(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let origin = format!(
                            "{GENERATED_ORIGIN_PREFIX}{}",
                            &Uuid::now_v7().simple().to_string()[16..]
                        );
                        write_file(&path, format!("{origin}\n"), 0o644)?;
                        tracing::info!(%origin, "generated the log's checkpoint origin");
                        origin
                    }
                    Err(source) => return Err(IdentityError::Io { path, source }),
                }
            }
        };
        Self::build(&origin, config.key_name.as_deref(), &seed)
    }

    /// The identity kept in a data directory (or configured), without creating anything: for the
    /// offline verifier, which must not invent a key. `None` when there is no key to be found.
    ///
    /// # Errors
    ///
    /// The errors of reading what is there.
    pub fn load_existing(
        data_dir: Option<&Path>,
        config: &IdentityConfig,
    ) -> Result<Option<Self>, IdentityError> {
        let seed = match (configured_seed(config)?, data_dir) {
            (Some(seed), _) => seed,
            (None, Some(dir)) if dir.join(KEY_FILE).exists() => {
                KeySeed::read_file(&dir.join(KEY_FILE))?
            }
            (None, _) => return Ok(None),
        };
        let origin = match (&config.origin, data_dir) {
            (Some(origin), _) => origin.clone(),
            (None, Some(dir)) => {
                let path = dir.join(ORIGIN_FILE);
                match fs::read_to_string(&path) {
                    Ok(text) => text.trim_end_matches('\n').to_owned(),
                    Err(source) => return Err(IdentityError::Io { path, source }),
                }
            }
            (None, None) => return Err(IdentityError::NotConfigured("checkpoint_origin")),
        };
        Self::build(&origin, config.key_name.as_deref(), &seed).map(Some)
    }

    fn build(origin: &str, key_name: Option<&str>, seed: &KeySeed) -> Result<Self, IdentityError> {
        let name = key_name.unwrap_or(origin);
        let signer =
            Signer::from_seed(name, seed.as_bytes()).map_err(|source| IdentityError::KeyName {
                name: name.to_owned(),
                source,
            })?;
        Self::new(origin, signer)
    }

    /// The origin line of every checkpoint.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The signing key.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The verifier auditors hold.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// The published verifier key text, `<name>+<hex key id>+<base64 key>`.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }
}

fn configured_seed(config: &IdentityConfig) -> Result<Option<KeySeed>, IdentityError> {
    match (&config.seed, &config.seed_file) {
        (Some(_), Some(_)) => Err(IdentityError::SeedTwice),
        (Some(seed), None) => Ok(Some(seed.clone())),
        (None, Some(path)) => KeySeed::read_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// Refuses a key file that its group or others may read.
fn check_owner_only(path: &Path) -> Result<(), IdentityError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = fs::metadata(path).map_err(|source| IdentityError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::KeyFileOpen {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn write_private(path: &Path, contents: String) -> Result<(), IdentityError> {
    write_file(path, contents, 0o600)
}

/// Writes a new file atomically: a temporary file created with `mode` from the start (so the
/// secret is never readable by others, not even briefly), synced, then renamed into place.
fn write_file(path: &Path, contents: String, mode: u32) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_identity_is_kept_and_its_key_file_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = LogIdentity::load_or_create(dir.path(), &IdentityConfig::default()).unwrap();
        assert!(first.origin().starts_with(GENERATED_ORIGIN_PREFIX));
        let again = LogIdentity::load_or_create(dir.path(), &IdentityConfig::default()).unwrap();
        assert_eq!(again.origin(), first.origin());
        assert_eq!(again.verifier_key(), first.verifier_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().unwrap();
        let fresh = LogIdentity::load_or_create(other.path(), &IdentityConfig::default()).unwrap();
        assert_ne!(fresh.origin(), first.origin());
        assert_ne!(fresh.verifier_key(), first.verifier_key());
    }

    #[test]
    fn configured_parts_win_and_the_seed_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let seed = KeySeed::from_hex(&"ab".repeat(32), "test").unwrap();
        let config = IdentityConfig {
            origin: Some("example.test/log".into()),
            key_name: Some("example.test".into()),
            seed: Some(seed.clone()),
            seed_file: None,
        };
        let identity = LogIdentity::load_or_create(dir.path(), &config).unwrap();
        assert_eq!(identity.origin(), "example.test/log");
        assert!(identity.verifier_key().starts_with("example.test+"));
        assert!(!dir.path().join(KEY_FILE).exists());
        let shown = format!("{config:?} {identity:?}");
        assert!(!shown.contains(&"ab".repeat(32)), "{shown}");
        assert_eq!(
            LogIdentity::from_config(&config).unwrap().verifier_key(),
            identity.verifier_key()
        );
    }

    #[test]
    fn a_shared_log_refuses_to_start_without_configuration() {
        let err = LogIdentity::from_config(&IdentityConfig {
            origin: Some("example.test/log".into()),
            ..IdentityConfig::default()
        })
        .unwrap_err();
        assert!(matches!(err, IdentityError::NotConfigured(_)), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed");
        fs::write(&path, "cd".repeat(32)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            KeySeed::read_file(&path),
            Err(IdentityError::KeyFileOpen { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(KeySeed::read_file(&path).is_ok());
    }

    #[test]
    fn a_malformed_seed_is_refused_without_echoing_it() {
        let err = KeySeed::from_hex("secret-but-not-hex", "KCN_CHECKPOINT_KEY_SEED").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
