//! `kcn-ledger export`: the events of a business period (or a range of positions) with their
//! proofs, in one file an auditor can archive and check offline with `kcn-ledger verify-export` or
//! `verifier/verify.py --export`, trusting nothing but the log's published verifier key.
//!
//! The file is JSON Lines (one JSON object per line, UTF-8, `\n` after each), written in one pass
//! in position order and holding one page of the log in memory at a time:
//!
//! 1. a header ([`Header`]): the format, the log's origin and verifier key, what was selected, and
//!    the signed checkpoint note every proof leads to;
//! 2. one line per event ([`ExportedEvent`]): every field of its leaf (`integrity.md`), payload and
//!    metadata as base64 of the exact stored bytes, the leaf hash, and the RFC 9162 inclusion proof
//!    at the checkpoint's tree size;
//! 3. an end line ([`End`]) with the number of events, so that a file cut short is told from a
//!    complete one.
//!
//! The export proves against the latest stored checkpoint, which must cover every selected event;
//! it checks each event's leaf and proof against that checkpoint before writing it, so it never
//! hands an auditor a file that does not verify (a store that no longer proves an event is named,
//! for `kcn-ledger verify`). It is written beside the destination and renamed into place when
//! complete.

pub mod check;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::NaiveDate;
use kcn_eventstore::checkpoint::IdentityConfig;
use kcn_eventstore::checkpoint::archive::{Archive, RawEvent};
use kcn_integrity::tree::{self, leaf_stored_index};
use kcn_integrity::{
    Checkpoint, Hash, LeafFields, Verifier, format_timestamp, leaf_hash, open_checkpoint,
    verify_inclusion,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::progress::Progress;
use crate::verify::{Source, log_key};

/// The `format` of the header: the version of this file layout.
pub const FORMAT: &str = "kcn-ledger/export/v1";

/// Business dates are local dates in Vietnam: the offset the period's dates are read in.
pub const UTC_OFFSET: &str = "+07:00";

/// Events read per page. A page is what the export holds in memory (at most 256 KiB each), and
/// its proofs are read in one query of stored hashes.
const EVENT_PAGE: u32 = 128;

/// One line of an export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header(Header),
    Event(ExportedEvent),
    End(End),
}

/// The first line: which log, what was selected, and the checkpoint every proof leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// The log's origin, as the checkpoint names it.
    pub origin: String,
    /// The log's verifier key (`<name>+<hex id>+<base64 key>`), for information: an auditor checks
    /// the checkpoint with the key the log publishes, not with this one.
    pub verifier_key: String,
    /// What the export holds.
    pub selection: Selection,
    /// The checkpoint's tree size: every proof is at this size.
    pub tree_size: u64,
    /// The signed checkpoint note (C2SP signed-note), byte for byte as the log stored it.
    pub checkpoint: String,
    /// When the export was written (canonical RFC 3339 UTC), for information.
    pub exported_at: String,
}

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Selection {
    /// Every event the checkpoint covers whose business time (`occurred_at`) falls on a local date
    /// from `from_date` to `to_date`, both included, in `utc_offset` (always [`UTC_OFFSET`]).
    Period {
        from_date: NaiveDate,
        to_date: NaiveDate,
        utc_offset: Offset,
    },
    /// Every event from `from_position` to `to_position`, both included.
    Positions {
        from_position: u64,
        to_position: u64,
    },
}

/// The offset of the local dates, spelt out in the file; only Vietnam's is written or accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Offset {
    #[serde(rename = "+07:00")]
    Vietnam,
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Period {
                from_date, to_date, ..
            } => write!(
                f,
                "events that happened from {from_date} to {to_date} (UTC{UTC_OFFSET})"
            ),
            Self::Positions {
                from_position,
                to_position,
            } => write!(f, "positions {from_position} to {to_position}"),
        }
    }
}

/// One event: every field its leaf covers, and its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEvent {
    pub position: u64,
    /// Lowercase hyphenated; the leaf holds its 16 raw bytes.
    pub event_id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub aggregate_version: u64,
    pub event_type: String,
    pub schema_version: u64,
    /// The stored text the leaf covers (`2025-04-11T02:30:00.000000Z`).
    pub occurred_at: String,
    pub recorded_at: String,
    /// Standard base64 (with padding) of the exact stored payload bytes.
    pub payload_base64: String,
    /// Standard base64 of the exact stored metadata bytes.
    pub metadata_base64: String,
    /// Base64 of the leaf hash (`SHA-256(0x00 || leaf_input)`), which a verifier recomputes; it
    /// tells an altered event from an altered proof.
    pub leaf_hash_base64: String,
    /// The RFC 9162 audit path of leaf `position - 1` in the checkpoint's tree, from the leaf's
    /// sibling up, each hash in base64.
    pub inclusion_proof_base64: Vec<String>,
}

/// The last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    /// How many event lines precede it.
    pub events: u64,
}

/// What to export, from where, to where.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: Source,
    /// The file to write; it must not exist.
    pub out: PathBuf,
    pub selection: Selection,
    /// The log's verifier key, when it is neither configured nor kept beside the store.
    pub verifier_key: Option<String>,
    /// The configured identity (PostgreSQL's origin and seed).
    pub identity: IdentityConfig,
    /// Show a progress bar on a terminal (structured logs otherwise).
    pub progress: bool,
}

impl Options {
    /// Exports `selection` of `source` into `out` with the key kept beside the store, quietly.
    pub fn new(source: Source, out: PathBuf, selection: Selection) -> Self {
        Self {
            source,
            out,
            selection,
            verifier_key: None,
            identity: IdentityConfig::default(),
            progress: false,
        }
    }
}

/// An export written.
#[derive(Debug, Clone)]
pub struct Summary {
    pub out: PathBuf,
    pub selection: Selection,
    pub events: u64,
    pub tree_size: u64,
    pub root: Hash,
}

impl Summary {
    /// One sentence for the operator.
    pub fn summary(&self) -> String {
        format!(
            "exported {} events ({}) to {}, proven against the checkpoint at tree size {} (root {})",
            self.events,
            self.selection,
            self.out.display(),
            self.tree_size,
            self.root
        )
    }
}

/// The canonical `occurred_at` texts bounding a period: from the first instant of `from` (local)
/// to the first instant after `to`, excluded. Stored timestamps are canonical and of one width, so
/// comparing their text compares the instants.
///
/// # Errors
///
/// `to` before `from`, or a date at the end of the calendar.
pub fn period_bounds(from: NaiveDate, to: NaiveDate) -> anyhow::Result<(String, String)> {
    anyhow::ensure!(
        from <= to,
        "the period ends ({to}) before it begins ({from})"
    );
    let start = kcn_domain::time::start_of_local_day(from)
        .with_context(|| format!("{from} has no start of day"))?;
    let end = to
        .succ_opt()
        .and_then(kcn_domain::time::start_of_local_day)
        .with_context(|| format!("{to} is the last day of the calendar"))?;
    Ok((format_timestamp(start), format_timestamp(end)))
}

/// The message for a selection the latest checkpoint does not reach.
fn not_covered(position: u64, tree_size: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "the latest signed checkpoint covers positions 1 to {tree_size}, but position {position} is \
         in the export: no signed checkpoint covers it yet; let the server sign one (a running \
         server signs its head within about checkpoint_interval_ms of the last commit; start one \
         on this store if none runs), then export again"
    )
}

/// Writes the export of `options.selection` from `options.source` into `options.out`.
///
/// # Errors
///
/// No database, no key, no checkpoint covering the selection, a selection beyond the log, a store
/// that no longer proves a selected event (run `kcn-ledger verify`), a file that cannot be written.
/// Nothing is left at `options.out` then.
pub async fn export(options: &Options) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        !options.out.exists(),
        "{} exists: an export never overwrites a file",
        options.out.display()
    );
    let archive = options.source.open().await?;
    let (verifier, origin) = match log_key(
        &options.source,
        options.verifier_key.as_deref(),
        &options.identity,
    ) {
        Ok(key) => key,
        Err(e) => {
            archive.close().await;
            return Err(e);
        }
    };
    let partial = partial_path(&options.out);
    let file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
    {
        Ok(file) => file,
        Err(e) => {
            archive.close().await;
            return Err(e).with_context(|| {
                format!(
                    "cannot create {} (if no other export is writing it, an earlier one was \
                     interrupted: remove it)",
                    partial.display()
                )
            });
        }
    };
    let result = write(
        &archive,
        options,
        &verifier,
        origin.as_deref(),
        file,
        &partial,
    )
    .await;
    archive.close().await;
    match result {
        Ok(summary) => {
            std::fs::rename(&partial, &options.out).with_context(|| {
                format!(
                    "cannot move {} to {}",
                    partial.display(),
                    options.out.display()
                )
            })?;
            tracing::info!(
                out = %options.out.display(),
                events = summary.events,
                tree_size = summary.tree_size,
                "export written"
            );
            Ok(summary)
        }
        Err(e) => {
            // Best effort: the error is what the operator needs; a partial file is never the answer.
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Where the export is written until it is complete.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

/// The latest stored checkpoint, its signature and origin checked.
async fn latest_checkpoint(
    archive: &Archive,
    verifier: &Verifier,
    origin: Option<&str>,
) -> anyhow::Result<(Checkpoint, String)> {
    let stored = archive.latest_checkpoint().await?.context(
        "the store holds no signed checkpoint: start the server on it (it signs its head at start), \
         then export again",
    )?;
    let checkpoint = open_checkpoint(&stored.note, verifier).with_context(|| {
        format!(
            "the latest stored checkpoint (tree size {}) does not verify with the log's key {verifier}; \
             run `kcn-ledger verify` on the store",
            stored.tree_size
        )
    })?;
    if let Some(origin) = origin {
        anyhow::ensure!(
            checkpoint.origin == origin,
            "the latest stored checkpoint names origin {:?}, not the log's {origin:?}",
            checkpoint.origin
        );
    }
    anyhow::ensure!(
        u64::try_from(stored.tree_size).ok() == Some(checkpoint.size),
        "the latest stored checkpoint is stored under tree size {} but signs {}; run `kcn-ledger verify`",
        stored.tree_size,
        checkpoint.size
    );
    Ok((checkpoint, stored.note))
}

/// What to read: the page queries of the selection, within the checkpoint.
enum Pages {
    Positions {
        next: u64,
        to: u64,
    },
    Period {
        from: String,
        until: String,
        after: u64,
        up_to: u64,
    },
}

impl Pages {
    async fn next(&mut self, archive: &Archive) -> anyhow::Result<Vec<RawEvent>> {
        Ok(match self {
            Self::Positions { next, to } => {
                if *next > *to {
                    return Ok(Vec::new());
                }
                let limit = EVENT_PAGE.min(u32::try_from(*to - *next + 1).unwrap_or(EVENT_PAGE));
                let page = archive.events(*next, limit).await?;
                *next += u64::from(limit);
                page
            }
            Self::Period {
                from,
                until,
                after,
                up_to,
            } => {
                let page = archive
                    .events_occurred_in(from, until, *after, *up_to, EVENT_PAGE)
                    .await?;
                if let Some(last) = page.last() {
                    *after = u64::try_from(last.position).unwrap_or(u64::MAX);
                }
                page
            }
        })
    }
}

async fn write(
    archive: &Archive,
    options: &Options,
    verifier: &Verifier,
    origin: Option<&str>,
    file: std::fs::File,
    partial: &Path,
) -> anyhow::Result<Summary> {
    let (checkpoint, note) = latest_checkpoint(archive, verifier, origin).await?;
    let tree_size = checkpoint.size;
    // What the selection holds, checked against the checkpoint before anything is written.
    let (mut pages, total) = match options.selection {
        Selection::Positions {
            from_position,
            to_position,
        } => {
            anyhow::ensure!(from_position >= 1, "positions start at 1");
            anyhow::ensure!(
                from_position <= to_position,
                "the range ends ({to_position}) before it begins ({from_position})"
            );
            let head = archive.head().await?;
            anyhow::ensure!(
                to_position <= head,
                "position {to_position} is beyond the log, which holds {head} events"
            );
            if to_position > tree_size {
                return Err(not_covered(to_position, tree_size));
            }
            (
                Pages::Positions {
                    next: from_position,
                    to: to_position,
                },
                to_position - from_position + 1,
            )
        }
        Selection::Period {
            from_date, to_date, ..
        } => {
            let (from, until) = period_bounds(from_date, to_date)?;
            let (count, last) = archive.count_occurred_in(&from, &until).await?;
            if last > tree_size {
                return Err(not_covered(last, tree_size));
            }
            (
                Pages::Period {
                    from,
                    until,
                    after: 0,
                    up_to: tree_size,
                },
                count,
            )
        }
    };

    let mut out = std::io::BufWriter::new(file);
    let header = Line::Header(Header {
        format: FORMAT.to_owned(),
        origin: checkpoint.origin.clone(),
        verifier_key: verifier.to_string(),
        selection: options.selection,
        tree_size,
        checkpoint: note,
        exported_at: format_timestamp(chrono::Utc::now()),
    });
    write_line(&mut out, &header)?;

    let mut progress = Progress::new("exporting", "events", total, options.progress);
    let mut events = 0u64;
    let mut expected = match options.selection {
        Selection::Positions { from_position, .. } => Some(from_position),
        Selection::Period { .. } => None,
    };
    loop {
        let page = pages.next(archive).await?;
        if page.is_empty() {
            break;
        }
        let proven = prove_page(archive, &checkpoint, &options.selection, &page).await?;
        for line in proven {
            if let Some(want) = expected.as_mut() {
                // A position range is gap-free: a hole is a deleted event, never a quiet omission.
                anyhow::ensure!(
                    line.position == *want,
                    "position {want} holds no event although the checkpoint covers it: the store \
                     was altered; run `kcn-ledger verify` on it"
                );
                *want += 1;
            }
            write_line(&mut out, &Line::Event(line))?;
            events += 1;
        }
        progress.set(events);
    }
    if let (Some(next), Selection::Positions { to_position, .. }) = (expected, options.selection)
        && next <= to_position
    {
        bail!(
            "position {next} holds no event although the checkpoint covers it: the store was \
             altered; run `kcn-ledger verify` on it"
        );
    }
    write_line(&mut out, &Line::End(End { events }))?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", partial.display()))?;
    progress.finish();
    Ok(Summary {
        out: options.out.clone(),
        selection: options.selection,
        events,
        tree_size,
        root: checkpoint.root,
    })
}

fn write_line(out: &mut impl std::io::Write, line: &Line) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, line).context("cannot write the export")?;
    out.write_all(b"\n").context("cannot write the export")?;
    Ok(())
}

/// The export lines of one page: each event's leaf recomputed from its stored fields, and its
/// inclusion proof from the stored tree (one read of stored hashes for the whole page), both
/// checked against the signed checkpoint before they are written.
async fn prove_page(
    archive: &Archive,
    checkpoint: &Checkpoint,
    selection: &Selection,
    page: &[RawEvent],
) -> anyhow::Result<Vec<ExportedEvent>> {
    let tree_size = checkpoint.size;
    let altered = |position: u64, what: &str| {
        anyhow::anyhow!(
            "position {position}: {what}; the store no longer proves what was signed: run \
             `kcn-ledger verify` on it"
        )
    };
    let mut wanted = BTreeSet::new();
    let mut positions = Vec::with_capacity(page.len());
    for e in page {
        let position = u64::try_from(e.position)
            .ok()
            .filter(|p| (1..=tree_size).contains(p))
            .ok_or_else(|| {
                altered(
                    e.position.max(0) as u64,
                    "a stored position outside the tree",
                )
            })?;
        wanted.extend(tree::indexes_for_inclusion(position - 1, tree_size)?);
        wanted.insert(leaf_stored_index(position - 1));
        positions.push(position);
    }
    let wanted: Vec<u64> = wanted.into_iter().collect();
    let mut stored = HashMap::with_capacity(wanted.len());
    for (idx, bytes) in archive.tree_hashes_at(&wanted).await? {
        if let (Ok(idx), Ok(hash)) = (u64::try_from(idx), Hash::from_slice(&bytes)) {
            stored.insert(idx, hash);
        }
    }
    let mut lines = Vec::with_capacity(page.len());
    for (e, position) in page.iter().zip(positions) {
        if let Selection::Period {
            from_date, to_date, ..
        } = selection
        {
            // The query compared text; the local date of the instant is what the period means.
            let date = kcn_integrity::parse_timestamp(&e.occurred_at)
                .map(kcn_domain::time::local_date)
                .map_err(|err| altered(position, &format!("occurred_at {err}")))?;
            if date < *from_date || date > *to_date {
                return Err(altered(
                    position,
                    &format!("occurred_at {} is not in the period", e.occurred_at),
                ));
            }
        }
        let event_id = Uuid::from_slice(&e.event_id)
            .map_err(|_| altered(position, "the stored event id is not 16 bytes"))?;
        let aggregate_version = u64::try_from(e.aggregate_version)
            .map_err(|_| altered(position, "the stored aggregate version is negative"))?;
        let schema_version = u64::try_from(e.schema_version)
            .map_err(|_| altered(position, "the stored schema version is negative"))?;
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
        if stored.get(&leaf_stored_index(position - 1)) != Some(&leaf) {
            return Err(altered(
                position,
                "the stored event does not hash to the leaf recorded when it was appended",
            ));
        }
        let proof = tree::inclusion_proof(position - 1, tree_size, &stored)
            .map_err(|err| altered(position, &format!("no inclusion proof: {err}")))?;
        verify_inclusion(&leaf, position - 1, tree_size, &proof, &checkpoint.root).map_err(
            |err| {
                altered(
                    position,
                    &format!("the stored tree does not lead to the signed root ({err})"),
                )
            },
        )?;
        lines.push(ExportedEvent {
            position,
            event_id: event_id.to_string(),
            aggregate_type: e.aggregate_type.clone(),
            aggregate_id: e.aggregate_id.clone(),
            aggregate_version,
            event_type: e.event_type.clone(),
            schema_version,
            occurred_at: e.occurred_at.clone(),
            recorded_at: e.recorded_at.clone(),
            payload_base64: BASE64.encode(&e.payload),
            metadata_base64: BASE64.encode(&e.metadata),
            leaf_hash_base64: leaf.to_base64(),
            inclusion_proof_base64: proof.iter().map(Hash::to_base64).collect(),
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_runs_from_local_midnight_to_the_local_midnight_after_its_last_day() {
        let (from, until) = period_bounds(date("2025-06-01"), date("2025-06-30")).unwrap();
        assert_eq!(from, "2025-05-31T17:00:00.000000Z");
        assert_eq!(until, "2025-06-30T17:00:00.000000Z");
        // One day is a period too; a period that ends before it begins is not.
        let (from, until) = period_bounds(date("2025-06-01"), date("2025-06-01")).unwrap();
        assert_eq!(
            (from.as_str(), until.as_str()),
            ("2025-05-31T17:00:00.000000Z", "2025-06-01T17:00:00.000000Z")
        );
        assert!(period_bounds(date("2025-06-02"), date("2025-06-01")).is_err());
    }

    #[test]
    fn the_selection_is_written_with_its_offset() {
        let period = Selection::Period {
            from_date: date("2025-06-01"),
            to_date: date("2025-06-30"),
            utc_offset: Offset::Vietnam,
        };
        assert_eq!(
            serde_json::to_string(&period).unwrap(),
            r#"{"by":"period","from_date":"2025-06-01","to_date":"2025-06-30","utc_offset":"+07:00"}"#
        );
        let wrong = r#"{"by":"period","from_date":"2025-06-01","to_date":"2025-06-30","utc_offset":"+00:00"}"#;
        assert!(serde_json::from_str::<Selection>(wrong).is_err());
        let header = Line::Header(Header {
            format: FORMAT.to_owned(),
            origin: "example.test/log".to_owned(),
            verifier_key: "k+00000000+AQ==".to_owned(),
            selection: period,
            tree_size: 7,
            checkpoint: "example.test/log\n7\nAAAA\n\n".to_owned(),
            exported_at: "2026-01-01T00:00:00.000000Z".to_owned(),
        });
        let text = serde_json::to_string(&header).unwrap();
        assert!(text.starts_with(r#"{"type":"header","format":"kcn-ledger/export/v1""#));
        assert_eq!(serde_json::from_str::<Line>(&text).unwrap(), header);
        // A field this verifier does not know is refused, not ignored.
        let extra = text.replacen(r#""tree_size""#, r#""unchecked":1,"tree_size""#, 1);
        assert!(serde_json::from_str::<Line>(&extra).is_err());
        let line = Line::End(End { events: 3 });
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"type":"end","events":3}"#
        );
    }
}
