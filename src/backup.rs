//! `kcn-ledger backup`: an online, consistent copy of the SQLite store while the server serves
//! (SQLite's `VACUUM INTO`: the database as of one moment, taken in one read transaction), written
//! into a new data directory with the log's origin and, unless told otherwise, its signing key,
//! then verified with the same checks as `kcn-ledger verify`. Restoring it is starting a server
//! with that directory as its data directory.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kcn_eventstore::checkpoint::archive::Archive;
use kcn_eventstore::checkpoint::identity::{KEY_FILE, ORIGIN_FILE};
use kcn_eventstore::checkpoint::{IdentityConfig, LogIdentity};

use crate::progress::Progress;
use crate::verify::{self, Report, Source};

/// The database file's name in a data directory.
const DATABASE_FILE: &str = "kcn-ledger.sqlite";

/// What to back up, and where to.
#[derive(Debug, Clone)]
pub struct Options {
    /// The live data directory: its `kcn-ledger.sqlite` and the log's key and origin files.
    pub data_dir: PathBuf,
    /// The new data directory to write (it must not exist, or be empty).
    pub dest: PathBuf,
    /// The configured identity, when the origin and key are not kept in the data directory.
    pub identity: IdentityConfig,
    /// Copy the signing key file into the backup (the default), so that a server restored from it
    /// can extend the log; without it the key must be put back from where it is kept.
    pub with_key: bool,
    /// Show a progress bar on a terminal (structured logs otherwise).
    pub progress: bool,
}

/// A backup written and checked.
#[derive(Debug, Clone)]
pub struct Backup {
    /// The copied database file.
    pub database: PathBuf,
    /// The identity files copied beside it.
    pub copied: Vec<PathBuf>,
    /// What verifying the copy found.
    pub report: Report,
}

impl Backup {
    /// One sentence for the operator.
    pub fn summary(&self) -> String {
        let dir = self
            .database
            .parent()
            .map_or_else(String::new, |d| d.display().to_string());
        if self.report.is_ok() {
            format!(
                "backup written to {dir} and verified: {} events, {} checkpoints, root {}",
                self.report.events, self.report.checkpoints_verified, self.report.root
            )
        } else {
            format!(
                "backup written to {dir}, but it does not verify: {}",
                self.report.verdict()
            )
        }
    }
}

/// Refuses a destination that holds anything: a backup never mixes with other files.
fn prepare(dest: &Path) -> anyhow::Result<()> {
    if dest.exists() {
        let mut entries = std::fs::read_dir(dest)
            .with_context(|| format!("{} exists and is not a directory", dest.display()))?;
        anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: a backup is written into a new or empty directory",
            dest.display()
        );
    } else {
        std::fs::create_dir_all(dest)
            .with_context(|| format!("cannot create {}", dest.display()))?;
    }
    Ok(())
}

/// Copies the live store into `options.dest` while it serves, copies the log's identity files,
/// and verifies the copy against the log's own verifier key.
///
/// # Errors
///
/// No database or no identity in the data directory, a destination that is not empty, a failed
/// copy. A copy that does not verify is not an error: see [`Backup::report`].
pub async fn backup(options: &Options) -> anyhow::Result<Backup> {
    let source = options.data_dir.join(DATABASE_FILE);
    prepare(&options.dest)?;
    let identity = LogIdentity::load_existing(Some(&options.data_dir), &options.identity)
        .context("cannot read the log's identity")?
        .with_context(|| {
            format!(
                "no checkpoint signing key in {} nor configured: nothing to verify the copy with",
                options.data_dir.display()
            )
        })?;
    let database = options.dest.join(DATABASE_FILE);

    let mut progress = Progress::new("backing up the store", "steps", 2, options.progress);
    let archive = Archive::open_sqlite(&source)
        .await
        .with_context(|| format!("cannot open {}", source.display()))?;
    let copied = archive.copy_sqlite_into(&database).await;
    archive.close().await;
    copied.with_context(|| {
        format!(
            "cannot copy {} into {}",
            source.display(),
            database.display()
        )
    })?;
    progress.set(1);

    let mut files = vec![ORIGIN_FILE];
    if options.with_key {
        files.push(KEY_FILE);
    }
    let mut copied = Vec::new();
    for file in files {
        let from = options.data_dir.join(file);
        if !from.exists() {
            // Configured rather than kept in the data directory.
            continue;
        }
        let to = options.dest.join(file);
        // `fs::copy` keeps the permissions: the key stays readable by its owner only.
        std::fs::copy(&from, &to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        copied.push(to);
    }
    progress.set(2);
    progress.finish();

    let report = verify::verify(&verify::Options {
        source: Source::Sqlite(database.clone()),
        verifier_key: Some(identity.verifier_key()),
        origin: Some(identity.origin().to_owned()),
        identity: IdentityConfig::default(),
        progress: options.progress,
    })
    .await
    .context("cannot verify the copy")?;
    tracing::info!(
        database = %database.display(),
        events = report.events,
        checkpoints = report.checkpoints_verified,
        ok = report.is_ok(),
        "backup written and verified"
    );
    Ok(Backup {
        database,
        copied,
        report,
    })
}
