//! `kcn-ledger verify`: the offline check of a stored log. It streams every event from the database
//! (a SQLite file or a PostgreSQL URL), recomputes each leaf and the tree as it goes (in `O(log N)`
//! memory), and compares them with the tree hashes stored at commit time and with every signed
//! checkpoint's root and signature; it names the first position whose stored bytes no longer match
//! what was signed.
//!
//! How a finding becomes a position:
//! - an event whose bytes changed hashes to another leaf than the one stored when it was appended
//!   ([`Problem::LeafMismatch`]), and the first signed checkpoint covering it no longer verifies;
//! - a deleted event leaves a hole in the positions ([`Problem::Missing`]); the tree goes on with the
//!   stored leaf hash, so the checkpoints after it are still checked;
//! - two swapped events each hash differently from what was stored at their positions;
//! - when an attacker also rewrote the stored tree hashes, the signed checkpoints remain: the
//!   interval between the last checkpoint that still verifies and the first that does not is named
//!   ([`Report::suspect_range`]);
//! - a checkpoint whose root disagrees with events that a later, verifying checkpoint vouches for
//!   was itself altered (its root forged, or its bytes changed and signed again):
//!   [`Problem::CheckpointForged`] names it and blames no event.

use crate::progress::Progress;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kcn_eventstore::checkpoint::archive::{Archive, RawCheckpoint, RawEvent};
use kcn_eventstore::checkpoint::{IdentityConfig, LogIdentity};
use kcn_integrity::tree::{Frontier, stored_hash_count};
use kcn_integrity::{
    Checkpoint, EMPTY_ROOT, Hash, LeafFields, Verifier, hash_children, leaf_hash, open_checkpoint,
    parse_timestamp,
};
use uuid::Uuid;

/// Events read per query.
const EVENT_PAGE: u32 = 2_000;
/// Stored tree hashes read per query (about two per event).
const HASH_PAGE: u32 = 8_000;
/// Checkpoints read per query.
const CHECKPOINT_PAGE: u32 = 500;
/// Findings kept in the report; the rest are only counted.
const MAX_PROBLEMS: usize = 1_000;

/// Where the log to verify is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Source {
    /// A `postgres://` or `postgresql://` URL, a SQLite file, or a data directory (its
    /// `kcn-ledger.sqlite`).
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Self::Postgres(text.to_owned());
        }
        let path = PathBuf::from(text);
        if path.is_dir() {
            Self::Sqlite(path.join("kcn-ledger.sqlite"))
        } else {
            Self::Sqlite(path)
        }
    }

    /// The data directory the key and origin files may be in (SQLite only).
    fn data_dir(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(path) => path.parent(),
            Self::Postgres(_) => None,
        }
    }

    /// Opens the stored log read-only: a SQLite file that must exist, or PostgreSQL sessions that
    /// cannot write.
    ///
    /// # Errors
    ///
    /// No such file, no connection.
    pub async fn open(&self) -> anyhow::Result<Archive> {
        match self {
            Self::Sqlite(path) => Archive::open_sqlite(path)
                .await
                .with_context(|| format!("cannot open {}", path.display())),
            Self::Postgres(url) => Archive::open_postgres(url)
                .await
                .context("cannot connect to the PostgreSQL database"),
        }
    }
}

/// What to verify, and against which key.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: Source,
    /// The verifier key to check checkpoint signatures with. Without it, the key is derived from
    /// the configured seed or the data directory's key file; an auditor should pass the published
    /// key, since whoever could alter the database could also replace that file.
    pub verifier_key: Option<String>,
    /// The expected origin of every checkpoint; defaults to the identity's, or the first
    /// checkpoint's when only a verifier key is given.
    pub origin: Option<String>,
    /// The configured identity (seed, origin, key name), used when no verifier key is given.
    pub identity: IdentityConfig,
    /// Show a progress bar on a terminal (structured logs otherwise).
    pub progress: bool,
}

impl Options {
    /// Verify `source` with the key kept beside it, quietly.
    pub fn new(source: Source) -> Self {
        Self {
            source,
            verifier_key: None,
            origin: None,
            identity: IdentityConfig::default(),
            progress: false,
        }
    }
}

/// Whether the checkpoints covering a changed leaf confirm the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// No checkpoint covers the position yet.
    NotYet,
    /// The first checkpoint covering the position no longer verifies: the event is not what was
    /// signed.
    Contradicted,
    /// The checkpoints covering it still verify over the event as stored: the event is intact and
    /// the stored leaf hash is what was altered.
    Confirmed,
}

/// One finding of the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The event's stored bytes hash to another leaf than the one stored when it was appended.
    LeafMismatch {
        position: u64,
        recomputed: Hash,
        stored: Hash,
        signed: Signed,
    },
    /// Positions `position..position + count` hold no event although later ones do, or the
    /// tree records them (events deleted).
    Missing { position: u64, count: u64 },
    /// An event's stored field is not in the form the log writes (not JSON, not a canonical
    /// timestamp, not a 16-byte id, a negative number).
    Malformed {
        position: u64,
        field: &'static str,
        reason: String,
    },
    /// An event is stored for which the tree has no leaf: it was not appended through the log.
    NotInTree { position: u64 },
    /// A stored hash of a subtree disagrees with the events below it although each leaf agrees:
    /// the stored tree (and maybe an event with it) was rewritten somewhere in these positions.
    TreeHashMismatch {
        index: u64,
        first_position: u64,
        last_position: u64,
    },
    /// A stored checkpoint's signature does not verify with the log's key (forged or altered).
    CheckpointSignature { tree_size: u64, reason: String },
    /// A stored checkpoint is signed but names another origin, or its row disagrees with its note.
    CheckpointMismatch { tree_size: u64, reason: String },
    /// The events as stored no longer give the root this checkpoint signed, and no later
    /// checkpoint vouches for them: either the events and the stored tree were rewritten together,
    /// or this checkpoint's root was forged.
    CheckpointRoot {
        tree_size: u64,
        signed: Hash,
        recomputed: Hash,
    },
    /// The checkpoint's root disagrees with the events, but a later checkpoint that verifies covers
    /// every one of its positions: the events are as signed, and this checkpoint's root was forged
    /// (or its bytes altered and signed again) after it was issued.
    CheckpointForged {
        tree_size: u64,
        signed: Hash,
        recomputed: Hash,
        confirmed_by: u64,
    },
    /// A checkpoint was signed for more events than the log (and its tree) holds: the end was cut.
    CheckpointBeyondLog { tree_size: u64, log_size: u64 },
}

impl Problem {
    /// The first event position the finding names with certainty, if it names one.
    pub fn position(&self) -> Option<u64> {
        match self {
            Self::LeafMismatch {
                position, signed, ..
            } if *signed != Signed::Confirmed => Some(*position),
            Self::Missing { position, .. }
            | Self::Malformed { position, .. }
            | Self::NotInTree { position } => Some(*position),
            _ => None,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LeafMismatch {
                position,
                recomputed,
                stored,
                signed,
            } => {
                write!(
                    f,
                    "position {position}: the stored event hashes to leaf {recomputed}, not to the leaf {stored} recorded when it was appended"
                )?;
                match signed {
                    Signed::Contradicted => f.write_str(" (a signed checkpoint covering it no longer verifies)"),
                    Signed::Confirmed => f.write_str(" (the signed checkpoints still verify over the event: the stored leaf hash was altered, not the event)"),
                    Signed::NotYet => f.write_str(" (no checkpoint covers it yet)"),
                }
            }
            Self::Missing { position, count: 1 } => {
                write!(f, "position {position}: no event is stored (deleted)")
            }
            Self::Missing { position, count } => write!(
                f,
                "positions {position} to {}: no events are stored (deleted)",
                position + count - 1
            ),
            Self::Malformed {
                position,
                field,
                reason,
            } => write!(f, "position {position}: {field} {reason}"),
            Self::NotInTree { position } => write!(
                f,
                "position {position}: the event has no leaf in the tree; it was not appended through the log"
            ),
            Self::TreeHashMismatch {
                index,
                first_position,
                last_position,
            } => write!(
                f,
                "stored tree hash {index} (over positions {first_position} to {last_position}) disagrees with the events"
            ),
            Self::CheckpointSignature { tree_size, reason } => write!(
                f,
                "checkpoint at tree size {tree_size}: signature does not verify: {reason}"
            ),
            Self::CheckpointMismatch { tree_size, reason } => {
                write!(f, "checkpoint at tree size {tree_size}: {reason}")
            }
            Self::CheckpointRoot {
                tree_size,
                signed,
                recomputed,
            } => write!(
                f,
                "checkpoint at tree size {tree_size}: signed root {signed}, but the stored events give {recomputed}; \
                 no later checkpoint vouches for the events, so either they were rewritten together with the \
                 stored tree or this checkpoint's root was forged"
            ),
            Self::CheckpointForged {
                tree_size,
                signed,
                recomputed,
                confirmed_by,
            } => write!(
                f,
                "checkpoint at tree size {tree_size}: signed root {signed}, but the events give {recomputed}, \
                 and the checkpoint at tree size {confirmed_by} verifies over those same events: the events \
                 are as signed; this checkpoint's root was forged or its bytes altered and signed again"
            ),
            Self::CheckpointBeyondLog {
                tree_size,
                log_size,
            } => write!(
                f,
                "checkpoint at tree size {tree_size}: signed for more events than the log holds ({log_size})"
            ),
        }
    }
}

/// What the verifier found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Events read.
    pub events: u64,
    /// The tree size verified (the last position, including missing ones the tree records).
    pub tree_size: u64,
    /// The root recomputed over the events (with stored leaf hashes standing in for missing ones).
    pub root: Hash,
    /// Checkpoints checked, and how many verified in full.
    pub checkpoints: u64,
    pub checkpoints_verified: u64,
    /// The largest checkpoint size that verified, signature and root.
    pub last_verified_checkpoint: Option<u64>,
    /// The first findings, in the order found (at most 1,000).
    pub problems: Vec<Problem>,
    /// How many findings there were in all.
    pub problem_count: u64,
    /// The first position whose stored bytes no longer match what was signed, when the findings
    /// name one.
    pub first_bad_position: Option<u64>,
    /// When the stored tree was rewritten along with the events, the positions between the last
    /// verified checkpoint and the first failing one, inclusive: the first change is in there.
    pub suspect_range: Option<(u64, u64)>,
}

impl Report {
    /// True when nothing was found.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    /// One sentence for the operator.
    pub fn verdict(&self) -> String {
        if self.is_ok() {
            return format!(
                "ok: {} events, {} checkpoints verified, root {}",
                self.events, self.checkpoints_verified, self.root
            );
        }
        let mut text = format!("FAILED: {} problem(s)", self.problem_count);
        match (self.first_bad_position, self.suspect_range) {
            (Some(p), _) => text.push_str(&format!(
                "; the first position whose stored bytes no longer match what was signed is {p}"
            )),
            (None, Some((a, b))) => text.push_str(&format!(
                "; the events agree with the stored tree but not with a signed checkpoint: either the \
                 events and the tree were rewritten together, the first altered event being at a position \
                 from {a} to {b}, or that checkpoint's root was forged"
            )),
            (None, None) => {}
        }
        if let Some(first) = self.problems.first() {
            text.push_str(&format!("; first finding: {first}"));
        }
        text
    }
}

/// Resolves the key to check signatures with: the given verifier key, else the configured or
/// kept identity.
fn resolve_verifier(options: &Options) -> anyhow::Result<(Verifier, Option<String>)> {
    let (verifier, origin) = log_key(
        &options.source,
        options.verifier_key.as_deref(),
        &options.identity,
    )?;
    Ok((verifier, options.origin.clone().or(origin)))
}

/// The log's verifier: `verifier_key` when given (and no origin: the checkpoints name it), else
/// the configured identity or the one kept beside a SQLite store, with its origin.
///
/// # Errors
///
/// A key that does not parse, an identity that cannot be read, or no key at all.
pub(crate) fn log_key(
    source: &Source,
    verifier_key: Option<&str>,
    identity: &IdentityConfig,
) -> anyhow::Result<(Verifier, Option<String>)> {
    if let Some(vkey) = verifier_key {
        let verifier: Verifier = vkey
            .trim()
            .parse()
            .context("the verifier key is not <name>+<hex id>+<base64 key>")?;
        return Ok((verifier, None));
    }
    let identity = LogIdentity::load_existing(source.data_dir(), identity)
        .context("cannot read the log's identity")?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no verifier key: pass --verifier-key (the key the log publishes), or configure the signing key"
            )
        })?;
    Ok((identity.verifier(), Some(identity.origin().to_owned())))
}

/// Verifies the stored log; `Ok` carries the findings (check [`Report::is_ok`]), `Err` means the
/// verification itself could not run (no database, no key).
///
/// # Errors
///
/// The database cannot be opened or read, or no verifier key can be found.
pub async fn verify(options: &Options) -> anyhow::Result<Report> {
    let archive = options.source.open().await?;
    let (verifier, origin) = match resolve_verifier(options) {
        Ok(found) => found,
        Err(e) => {
            archive.close().await;
            return Err(e);
        }
    };
    let result = Verification::new(&archive, verifier, origin, options.progress)
        .await?
        .run()
        .await;
    archive.close().await;
    result
}

/// Pages of rows read ahead by a task of their own, so that the database reads the next page while
/// the verifier hashes the current one: the reads, not SHA-256, bound a verification. At most two
/// pages wait at once; the task ends with the rows, at the first error, or when the reader is dropped.
struct ReadAhead<T> {
    pages: tokio::sync::mpsc::Receiver<anyhow::Result<Vec<T>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Reads `fetch(from)` pages from `start` on: each page's `next` gives where the following one
    /// starts; a page shorter than `limit` is the last.
    fn start<F, Fut>(start: u64, limit: u32, fetch: F, next: fn(&T) -> Option<u64>) -> Self
    where
        F: Fn(u64) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Vec<T>>> + Send,
    {
        let (tx, pages) = tokio::sync::mpsc::channel(2);
        let task = tokio::spawn(async move {
            let mut from = start;
            loop {
                let page = fetch(from).await;
                let last = match &page {
                    Ok(rows) if rows.len() >= limit as usize => rows.last().and_then(next),
                    _ => None,
                };
                if tx.send(page).await.is_err() {
                    return;
                }
                match last {
                    Some(n) => from = n,
                    None => {
                        let _ = tx.send(Ok(Vec::new())).await;
                        return;
                    }
                }
            }
        });
        Self { pages, task }
    }

    /// The next page; empty when the rows have ended.
    async fn next(&mut self) -> anyhow::Result<Vec<T>> {
        self.pages.recv().await.unwrap_or_else(|| Ok(Vec::new()))
    }
}

impl<T> Drop for ReadAhead<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Stored tree hashes, read in pages in index order.
struct HashCursor {
    pages: ReadAhead<(i64, Vec<u8>)>,
    page: VecDeque<(u64, Vec<u8>)>,
    exhausted: bool,
}

impl HashCursor {
    fn new(archive: &Archive) -> Self {
        let archive = archive.clone();
        let fetch = move |from: u64| {
            let archive = archive.clone();
            async move { Ok(archive.tree_hashes(from, HASH_PAGE).await?) }
        };
        // A negative index cannot be a stored hash: such rows are skipped below, and the read goes
        // on after the largest index read (the rest is checked by index).
        let next = |row: &(i64, Vec<u8>)| u64::try_from(row.0).ok().map(|i| i + 1);
        Self {
            pages: ReadAhead::start(0, HASH_PAGE, fetch, next),
            page: VecDeque::new(),
            exhausted: false,
        }
    }

    /// The stored hash at `index`, if there is one; indexes must be asked in increasing order.
    async fn take(&mut self, index: u64) -> anyhow::Result<Option<Vec<u8>>> {
        loop {
            while let Some((i, _)) = self.page.front() {
                if *i < index {
                    self.page.pop_front();
                } else {
                    break;
                }
            }
            if let Some((i, _)) = self.page.front() {
                return Ok(if *i == index {
                    self.page.pop_front().map(|(_, h)| h)
                } else {
                    None
                });
            }
            if self.exhausted {
                return Ok(None);
            }
            let rows = self.pages.next().await?;
            self.exhausted = rows.is_empty();
            for (i, h) in rows {
                if let Ok(i) = u64::try_from(i) {
                    self.page.push_back((i, h));
                }
            }
        }
    }
}

/// The streaming state of one verification.
struct Verification<'a> {
    archive: &'a Archive,
    verifier: Verifier,
    origin: Option<String>,
    hashes: HashCursor,
    /// Checkpoints not yet reached, in size order.
    checkpoints: VecDeque<RawCheckpoint>,
    checkpoints_after: Option<u64>,
    checkpoints_exhausted: bool,
    /// The tree over the leaves so far: the reference frontier for roots...
    frontier: Frontier,
    /// ...and the complete subtrees with their levels, to compare every stored interior hash.
    subtrees: Vec<(u32, Hash)>,
    report: Report,
    /// Problems with these indexes are leaf mismatches awaiting a checkpoint's word.
    pending_leaves: Vec<usize>,
    /// The highest position of a leaf mismatch, to tell consequences from new findings.
    last_leaf_mismatch: u64,
    /// Checkpoints whose root disagreed with the events: the problem's index, and the positions
    /// their failure puts under suspicion.
    root_failures: Vec<(usize, (u64, u64))>,
    progress: Progress,
}

impl<'a> Verification<'a> {
    async fn new(
        archive: &'a Archive,
        verifier: Verifier,
        origin: Option<String>,
        progress: bool,
    ) -> anyhow::Result<Self> {
        let head = archive.head().await?;
        Ok(Self {
            archive,
            verifier,
            origin,
            hashes: HashCursor::new(archive),
            checkpoints: VecDeque::new(),
            checkpoints_after: None,
            checkpoints_exhausted: false,
            frontier: Frontier::new(),
            subtrees: Vec::new(),
            report: Report {
                events: 0,
                tree_size: 0,
                root: EMPTY_ROOT,
                checkpoints: 0,
                checkpoints_verified: 0,
                last_verified_checkpoint: None,
                problems: Vec::new(),
                problem_count: 0,
                first_bad_position: None,
                suspect_range: None,
            },
            pending_leaves: Vec::new(),
            last_leaf_mismatch: 0,
            root_failures: Vec::new(),
            progress: Progress::new("verifying the stored log", "events", head, progress),
        })
    }

    fn problem(&mut self, problem: Problem) {
        if let Some(p) = problem.position() {
            self.report.first_bad_position =
                Some(self.report.first_bad_position.map_or(p, |q| q.min(p)));
        }
        self.report.problem_count += 1;
        if self.report.problems.len() < MAX_PROBLEMS {
            if matches!(problem, Problem::LeafMismatch { .. }) {
                self.pending_leaves.push(self.report.problems.len());
            }
            self.report.problems.push(problem);
        }
    }

    async fn run(mut self) -> anyhow::Result<Report> {
        self.check_checkpoints_at(0).await?;
        let mut next_position = 1u64;
        let archive = self.archive.clone();
        let fetch = move |from: u64| {
            let archive = archive.clone();
            async move { Ok(archive.events(from, EVENT_PAGE).await?) }
        };
        let after = |e: &RawEvent| u64::try_from(e.position).ok().map(|p| p + 1);
        let mut pages = ReadAhead::start(next_position, EVENT_PAGE, fetch, after);
        loop {
            let page = pages.next().await?;
            if page.is_empty() {
                break;
            }
            // The leaves (the costly part: the canonical encoding, SHA-256 and the JSON checks)
            // on every core; the tree and the comparisons then follow in log order.
            let leaves: Vec<Option<(Hash, Vec<Problem>)>> = {
                use rayon::prelude::*;
                page.par_iter()
                    .map(|event| {
                        u64::try_from(event.position)
                            .ok()
                            .map(|position| leaf_of(position, event))
                    })
                    .collect()
            };
            for (event, leaf) in page.iter().zip(leaves) {
                let Some((leaf, problems)) = leaf else {
                    continue;
                };
                let position = u64::try_from(event.position).unwrap_or_default();
                if position > next_position {
                    self.missing(next_position, position - next_position)
                        .await?;
                }
                for problem in problems {
                    self.problem(problem);
                }
                self.event(position, leaf).await?;
                next_position = position + 1;
            }
            self.progress.set(next_position - 1);
        }
        // Events deleted from the end: the tree still records their leaves.
        let mut cut = 0;
        loop {
            let position = next_position + cut;
            let stored = self.take_leaf_hashes(position).await?;
            let Some(leaf) = stored.first().copied().flatten() else {
                break;
            };
            if cut == 0 {
                self.problem(Problem::Missing { position, count: 0 });
            }
            cut += 1;
            self.push_leaf(position, leaf, &stored);
            self.check_checkpoints_at(position).await?;
        }
        if cut > 0 {
            // The count is known only now; the finding was recorded first to keep the order.
            for p in &mut self.report.problems {
                if let Problem::Missing { position, count } = p
                    && *position == next_position
                {
                    *count = cut;
                }
            }
        }
        self.judge_root_failures();
        let log_size = self.frontier.size();
        loop {
            let Some(c) = self.next_checkpoint().await? else {
                break;
            };
            self.report.checkpoints += 1;
            self.problem(Problem::CheckpointBeyondLog {
                tree_size: u64::try_from(c.tree_size).unwrap_or(0),
                log_size,
            });
            self.report.suspect_range.get_or_insert((
                self.report.last_verified_checkpoint.unwrap_or(0) + 1,
                log_size + 1,
            ));
        }
        self.report.tree_size = log_size;
        self.report.root = self.frontier.root();
        self.progress.finish();
        tracing::info!(
            events = self.report.events,
            tree_size = self.report.tree_size,
            checkpoints = self.report.checkpoints,
            problems = self.report.problem_count,
            "verification finished"
        );
        Ok(self.report)
    }

    /// A checkpoint whose root disagrees with the events is judged by the later ones: a change to
    /// an event at position `p` makes every checkpoint of size `p` or more disagree, so a later
    /// checkpoint that verifies clears the events up to its size, and the disagreeing checkpoint
    /// itself is what was altered. Otherwise the positions since the last verified checkpoint are
    /// under suspicion.
    fn judge_root_failures(&mut self) {
        let confirmed = self.report.last_verified_checkpoint;
        for (index, range) in std::mem::take(&mut self.root_failures) {
            let Some(Problem::CheckpointRoot {
                tree_size,
                signed,
                recomputed,
            }) = self.report.problems.get(index).cloned()
            else {
                continue;
            };
            match confirmed {
                Some(later) if later > tree_size => {
                    self.report.problems[index] = Problem::CheckpointForged {
                        tree_size,
                        signed,
                        recomputed,
                        confirmed_by: later,
                    };
                }
                _ => {
                    self.report.suspect_range.get_or_insert(range);
                }
            }
        }
    }

    /// Positions `from..from + count` hold no event: the tree goes on with the stored leaf hashes.
    async fn missing(&mut self, from: u64, count: u64) -> anyhow::Result<()> {
        self.problem(Problem::Missing {
            position: from,
            count,
        });
        for position in from..from + count {
            let stored = self.take_leaf_hashes(position).await?;
            // Neither event nor leaf: a zero leaf keeps the positions after it in their place (the
            // checkpoints from here on will not verify, and say so).
            let leaf = stored.first().copied().flatten().unwrap_or_default();
            self.push_leaf(position, leaf, &stored);
            self.check_checkpoints_at(position).await?;
        }
        Ok(())
    }

    /// The stored hashes appending leaf `position` wrote: its leaf hash, then the subtrees it
    /// completed.
    async fn take_leaf_hashes(&mut self, position: u64) -> anyhow::Result<Vec<Option<Hash>>> {
        let n = position - 1;
        let mut out = Vec::new();
        for index in stored_hash_count(n)..stored_hash_count(n + 1) {
            let bytes = self.hashes.take(index).await?;
            out.push(bytes.and_then(|b| Hash::from_slice(&b).ok()));
        }
        Ok(out)
    }

    async fn event(&mut self, position: u64, leaf: Hash) -> anyhow::Result<()> {
        self.report.events += 1;
        let stored = self.take_leaf_hashes(position).await?;
        match stored.first().cloned().flatten() {
            None => {
                self.last_leaf_mismatch = position;
                self.problem(Problem::NotInTree { position });
            }
            Some(recorded) if recorded != leaf => {
                self.last_leaf_mismatch = position;
                self.problem(Problem::LeafMismatch {
                    position,
                    recomputed: leaf,
                    stored: recorded,
                    signed: Signed::NotYet,
                });
            }
            Some(_) => {}
        }
        self.push_leaf(position, leaf, &stored);
        self.check_checkpoints_at(position).await
    }

    /// Adds the leaf to the tree, comparing every subtree hash it completes with the stored one.
    fn push_leaf(&mut self, position: u64, leaf: Hash, stored: &[Option<Hash>]) {
        let first_index = stored_hash_count(position - 1);
        let mut hash = leaf;
        let mut level = 0u32;
        while let Some(&(l, left)) = self.subtrees.last() {
            if l != level {
                break;
            }
            self.subtrees.pop();
            hash = hash_children(&left, &hash);
            level += 1;
            let first_position = position + 1 - (1u64 << level);
            let index = first_index + u64::from(level);
            let agrees = stored.get(level as usize).copied().flatten() == Some(hash);
            // A changed leaf below explains a differing subtree; report only unexplained ones.
            if !agrees && self.last_leaf_mismatch < first_position {
                self.problem(Problem::TreeHashMismatch {
                    index,
                    first_position,
                    last_position: position,
                });
            }
        }
        self.subtrees.push((level, hash));
        self.frontier.push(leaf);
    }

    async fn next_checkpoint(&mut self) -> anyhow::Result<Option<RawCheckpoint>> {
        if self.checkpoints.is_empty() && !self.checkpoints_exhausted {
            let page = self
                .archive
                .checkpoints(self.checkpoints_after, CHECKPOINT_PAGE)
                .await?;
            self.checkpoints_exhausted = page.len() < CHECKPOINT_PAGE as usize;
            if let Some(last) = page.last() {
                self.checkpoints_after = Some(u64::try_from(last.tree_size).unwrap_or(0));
            }
            self.checkpoints.extend(page);
        }
        Ok(self.checkpoints.pop_front())
    }

    /// Checks every stored checkpoint of tree size `size` (the tree now has `size` leaves).
    async fn check_checkpoints_at(&mut self, size: u64) -> anyhow::Result<()> {
        loop {
            if self.checkpoints.is_empty() && !self.checkpoints_exhausted {
                let Some(c) = self.next_checkpoint().await? else {
                    return Ok(());
                };
                self.checkpoints.push_front(c);
            }
            let Some(front) = self.checkpoints.front() else {
                return Ok(());
            };
            if u64::try_from(front.tree_size).unwrap_or(0) > size {
                return Ok(());
            }
            let c = self.checkpoints.pop_front().expect("front exists");
            self.check_checkpoint(&c, size);
        }
    }

    fn check_checkpoint(&mut self, c: &RawCheckpoint, size: u64) {
        self.report.checkpoints += 1;
        let tree_size = u64::try_from(c.tree_size).unwrap_or(0);
        let checkpoint: Checkpoint = match open_checkpoint(&c.note, &self.verifier) {
            Ok(cp) => cp,
            Err(e) => {
                return self.problem(Problem::CheckpointSignature {
                    tree_size,
                    reason: e.to_string(),
                });
            }
        };
        let origin = self
            .origin
            .get_or_insert_with(|| checkpoint.origin.clone())
            .clone();
        let mismatch = if checkpoint.origin != origin {
            Some(format!(
                "names origin {:?}, not the log's {origin:?}",
                checkpoint.origin
            ))
        } else if checkpoint.size != tree_size || tree_size != size {
            Some(format!(
                "is stored under size {tree_size} but signs size {}",
                checkpoint.size
            ))
        } else if c.root_hash != checkpoint.root.as_bytes() {
            Some("its stored root column differs from the signed root".to_owned())
        } else {
            None
        };
        if let Some(reason) = mismatch {
            return self.problem(Problem::CheckpointMismatch { tree_size, reason });
        }
        let recomputed = self.frontier.root();
        let verified = recomputed == checkpoint.root;
        // The checkpoint's word on the leaf mismatches it covers.
        let verdict = if verified {
            Signed::Confirmed
        } else {
            Signed::Contradicted
        };
        for i in std::mem::take(&mut self.pending_leaves) {
            if let Some(Problem::LeafMismatch {
                position, signed, ..
            }) = self.report.problems.get_mut(i)
            {
                if *position <= tree_size {
                    *signed = verdict;
                } else {
                    self.pending_leaves.push(i);
                }
            }
        }
        if verified {
            self.report.checkpoints_verified += 1;
            self.report.last_verified_checkpoint = Some(tree_size);
            // Leaf mismatches the signed root vouches against no longer name an altered event.
            self.report.first_bad_position = self
                .report
                .problems
                .iter()
                .filter_map(Problem::position)
                .min();
        } else {
            if self.report.problems.len() < MAX_PROBLEMS {
                self.root_failures.push((
                    self.report.problems.len(),
                    (
                        self.report.last_verified_checkpoint.unwrap_or(0) + 1,
                        tree_size,
                    ),
                ));
            }
            self.problem(Problem::CheckpointRoot {
                tree_size,
                signed: checkpoint.root,
                recomputed,
            });
        }
    }
}

/// Recomputes the leaf hash from the stored columns, with the fields not in the log's form.
fn leaf_of(position: u64, e: &RawEvent) -> (Hash, Vec<Problem>) {
    let mut problems = Vec::new();
    let event_id = match Uuid::from_slice(&e.event_id) {
        Ok(id) => id,
        Err(_) => {
            problems.push(Problem::Malformed {
                position,
                field: "event_id",
                reason: format!("is {} bytes, not 16", e.event_id.len()),
            });
            Uuid::nil()
        }
    };
    let mut unsigned = |field: &'static str, v: i64| match u64::try_from(v) {
        Ok(v) if v >= 1 => v,
        _ => {
            problems.push(Problem::Malformed {
                position,
                field,
                reason: format!("is {v}, not a positive number"),
            });
            v as u64
        }
    };
    let aggregate_version = unsigned("aggregate_version", e.aggregate_version);
    let schema_version = unsigned("schema_version", e.schema_version);
    for (field, text) in [
        ("occurred_at", &e.occurred_at),
        ("recorded_at", &e.recorded_at),
    ] {
        if let Err(err) = parse_timestamp(text) {
            problems.push(Problem::Malformed {
                position,
                field,
                reason: err.to_string(),
            });
        }
    }
    // Checked for form only: nothing of the values is kept.
    if let Err(err) = serde_json::from_slice::<
        std::collections::BTreeMap<String, serde::de::IgnoredAny>,
    >(&e.metadata)
    {
        problems.push(Problem::Malformed {
            position,
            field: "metadata",
            reason: format!("is not a JSON object: {err}"),
        });
    }
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(&e.payload) {
        problems.push(Problem::Malformed {
            position,
            field: "payload",
            reason: format!("is not JSON: {err}"),
        });
    }
    let leaf = leaf_hash(&LeafFields {
        position,
        event_id,
        aggregate_type: &e.aggregate_type,
        aggregate_id: &e.aggregate_id,
        aggregate_version,
        event_type: &e.event_type,
        schema_version,
        occurred_at: &e.occurred_at,
        recorded_at: &e.recorded_at,
        payload: &e.payload,
        metadata: &e.metadata,
    });
    (leaf, problems)
}
