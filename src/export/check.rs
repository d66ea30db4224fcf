//! `kcn-ledger verify-export`: the offline check of an export file, with no store and no server.
//! Given the log's published verifier key, it checks the checkpoint's Ed25519 signature and origin,
//! recomputes every event's leaf from the exported fields (`integrity.md`), checks every inclusion
//! proof against the signed root, checks that each event belongs to the selection (its local date
//! in the period, or the range's positions, gap-free), and that the file is complete (its end
//! line counts the events). It reads one line at a time.

use std::io::{BufRead as _, Read as _};
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kcn_integrity::{Checkpoint, Hash, LeafFields, Verifier, leaf_hash, open_checkpoint};
use uuid::Uuid;

use super::{ExportedEvent, FORMAT, Header, Line, Selection};
use crate::progress::Progress;

/// The longest line read: an event's payload and metadata are at most 256 KiB (about 350 KiB in
/// base64), a checkpoint note at most 1 MB; a longer line is not an export's.
const MAX_LINE: u64 = 4 << 20;
/// Findings kept in the report; the rest are only counted.
const MAX_FINDINGS: usize = 1_000;

/// What to check, against which key.
#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    /// The log's published verifier key.
    pub verifier: Verifier,
    /// The origin the checkpoint must name (default: the one the export names, which the
    /// signature then vouches for).
    pub origin: Option<String>,
    /// Show a progress bar on a terminal (structured logs otherwise).
    pub progress: bool,
}

/// One thing wrong with an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The file is not an export this verifier reads (no header, another format, bad JSON).
    NotAnExport { line: u64, reason: String },
    /// The checkpoint does not verify (signature, origin, size): nothing in the file is proven.
    Checkpoint { reason: String },
    /// An event that is not what the log signed, or not what the selection says.
    Event { position: u64, reason: String },
    /// A line that is not an event line where one was expected.
    Line { line: u64, reason: String },
    /// The file is cut short or has lines after its end.
    Incomplete { reason: String },
}

impl Finding {
    /// The event position the finding names, if it names one.
    pub fn position(&self) -> Option<u64> {
        match self {
            Self::Event { position, .. } => Some(*position),
            _ => None,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAnExport { line, reason } => {
                write!(f, "line {line}: not a kcn-ledger export: {reason}")
            }
            Self::Checkpoint { reason } => write!(f, "checkpoint: {reason}"),
            Self::Event { position, reason } => write!(f, "position {position}: {reason}"),
            Self::Line { line, reason } => write!(f, "line {line}: {reason}"),
            Self::Incomplete { reason } => write!(f, "incomplete: {reason}"),
        }
    }
}

/// What the check found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Event lines read.
    pub events: u64,
    /// Events whose leaf and proof lead to the signed root.
    pub proven: u64,
    /// The header, when the file has one.
    pub header: Option<Header>,
    /// The checkpoint as signed, when its signature verified.
    pub checkpoint: Option<Checkpoint>,
    /// The first findings, in file order (at most 1,000).
    pub findings: Vec<Finding>,
    /// How many findings there were in all.
    pub finding_count: u64,
}

impl Report {
    /// True when nothing was found.
    pub fn is_ok(&self) -> bool {
        self.finding_count == 0
    }

    /// The lowest event position a finding names.
    pub fn first_bad_position(&self) -> Option<u64> {
        self.findings.iter().filter_map(Finding::position).min()
    }

    /// One sentence for the auditor.
    pub fn verdict(&self) -> String {
        if let (true, Some(h), Some(c)) = (self.is_ok(), &self.header, &self.checkpoint) {
            return format!(
                "ok: {} events ({}) proven against the checkpoint of {} at tree size {}, root {}",
                self.proven, h.selection, c.origin, c.size, c.root
            );
        }
        let mut text = format!("FAILED: {} problem(s)", self.finding_count);
        if let Some(p) = self.first_bad_position() {
            text.push_str(&format!("; the first bad position is {p}"));
        }
        if let Some(first) = self.findings.first() {
            text.push_str(&format!("; first: {first}"));
        }
        text
    }
}

/// Checks the export file; `Ok` carries the findings (check [`Report::is_ok`]), `Err` means the
/// file could not be read at all.
///
/// # Errors
///
/// The file cannot be opened or read.
pub fn verify_export(options: &Options) -> anyhow::Result<Report> {
    let file = std::fs::File::open(&options.file)
        .with_context(|| format!("cannot open {}", options.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = std::io::BufReader::new(file);
    let mut check = Check {
        options,
        report: Report {
            events: 0,
            proven: 0,
            header: None,
            checkpoint: None,
            findings: Vec::new(),
            finding_count: 0,
        },
        root: None,
        last_position: None,
    };
    let mut progress = Progress::new("verifying the export", "bytes", size, options.progress);
    let mut buf = Vec::new();
    let mut number = 0u64;
    let mut read = 0u64;
    let mut ended: Option<u64> = None;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", options.file.display()))?;
        if n == 0 {
            break;
        }
        number += 1;
        read += n as u64;
        if buf.last() != Some(&b'\n') {
            if n as u64 > MAX_LINE {
                check.finding(Finding::Line {
                    line: number,
                    reason: format!("longer than {MAX_LINE} bytes"),
                });
                break;
            }
            check.finding(Finding::Incomplete {
                reason: format!("line {number} does not end with a line feed: the file was cut"),
            });
        }
        if let Some(end_line) = ended {
            check.finding(Finding::Incomplete {
                reason: format!("line {number} follows the end line (line {end_line})"),
            });
            break;
        }
        let line = match serde_json::from_slice::<Line>(&buf) {
            Ok(line) => line,
            Err(e) if number == 1 => {
                check.finding(Finding::NotAnExport {
                    line: 1,
                    reason: e.to_string(),
                });
                break;
            }
            Err(e) => {
                let reason = format!("not an export line: {e}");
                // Name the event when its position can still be read.
                match serde_json::from_slice::<serde_json::Value>(&buf)
                    .ok()
                    .and_then(|v| v.get("position").and_then(serde_json::Value::as_u64))
                {
                    Some(position) => check.finding(Finding::Event { position, reason }),
                    None => check.finding(Finding::Line {
                        line: number,
                        reason,
                    }),
                }
                continue;
            }
        };
        match (number, line) {
            (1, Line::Header(header)) => check.header(header),
            (1, _) => {
                check.finding(Finding::NotAnExport {
                    line: 1,
                    reason: "the first line is not the header".to_owned(),
                });
                break;
            }
            (_, Line::Header(_)) => check.finding(Finding::Line {
                line: number,
                reason: "a second header".to_owned(),
            }),
            (_, Line::Event(event)) => {
                check.report.events += 1;
                check.event(&event);
            }
            (_, Line::End(end)) => {
                ended = Some(number);
                if end.events != check.report.events {
                    check.finding(Finding::Incomplete {
                        reason: format!(
                            "the end line counts {} events, the file holds {}",
                            end.events, check.report.events
                        ),
                    });
                }
            }
        }
        progress.set(read);
    }
    if number == 0 {
        check.finding(Finding::NotAnExport {
            line: 1,
            reason: "the file is empty".to_owned(),
        });
    } else if ended.is_none() && check.report.header.is_some() {
        check.finding(Finding::Incomplete {
            reason: "the file has no end line: it was cut short".to_owned(),
        });
    }
    check.positions_complete();
    progress.finish();
    tracing::info!(
        events = check.report.events,
        proven = check.report.proven,
        findings = check.report.finding_count,
        "export checked"
    );
    Ok(check.report)
}

/// The state of one check.
struct Check<'a> {
    options: &'a Options,
    report: Report,
    /// The root every proof must lead to (the signed one, or the unverified body's when the
    /// signature failed, so that events are still judged).
    root: Option<(u64, Hash)>,
    last_position: Option<u64>,
}

impl Check<'_> {
    fn finding(&mut self, finding: Finding) {
        self.report.finding_count += 1;
        if self.report.findings.len() < MAX_FINDINGS {
            self.report.findings.push(finding);
        }
    }

    fn checkpoint_finding(&mut self, reason: String) {
        self.finding(Finding::Checkpoint { reason });
    }

    fn header(&mut self, header: Header) {
        if header.format != FORMAT {
            self.finding(Finding::NotAnExport {
                line: 1,
                reason: format!("format {:?}, not {FORMAT:?}", header.format),
            });
        }
        let key = &self.options.verifier;
        if header.verifier_key != key.to_string() {
            self.checkpoint_finding(format!(
                "the export names the verifier key {}, not the given {key}",
                header.verifier_key
            ));
        }
        let checkpoint = match open_checkpoint(&header.checkpoint, key) {
            Ok(c) => {
                self.report.checkpoint = Some(c.clone());
                Some(c)
            }
            Err(e) => {
                self.checkpoint_finding(format!(
                    "the signed note does not verify with the key {key}: {e}; no event of the \
                     export is proven"
                ));
                // Judge the events against what the note claims, to name them too.
                header
                    .checkpoint
                    .split_once("\n\n")
                    .and_then(|(body, _)| Checkpoint::parse(&format!("{body}\n")).ok())
            }
        };
        match &checkpoint {
            Some(c) => {
                let want = self.options.origin.as_deref().unwrap_or(&header.origin);
                if c.origin != want {
                    self.checkpoint_finding(format!(
                        "it names origin {:?}, not {want:?}",
                        c.origin
                    ));
                }
                if c.origin != header.origin {
                    self.checkpoint_finding(format!(
                        "it names origin {:?}, the header {:?}",
                        c.origin, header.origin
                    ));
                }
                if c.size != header.tree_size {
                    self.checkpoint_finding(format!(
                        "it signs tree size {}, the header says {}",
                        c.size, header.tree_size
                    ));
                }
                self.root = Some((c.size, c.root));
            }
            None => self.checkpoint_finding("the note holds no checkpoint body".to_owned()),
        }
        if let Selection::Positions {
            from_position,
            to_position,
        } = header.selection
            && (from_position == 0 || from_position > to_position)
        {
            self.finding(Finding::NotAnExport {
                line: 1,
                reason: format!("the range {from_position} to {to_position} is empty"),
            });
        }
        if let Selection::Period {
            from_date, to_date, ..
        } = header.selection
            && from_date > to_date
        {
            self.finding(Finding::NotAnExport {
                line: 1,
                reason: format!("the period {from_date} to {to_date} is empty"),
            });
        }
        self.report.header = Some(header);
    }

    fn event(&mut self, e: &ExportedEvent) {
        let position = e.position;
        let bad = |check: &mut Self, reason: String| {
            check.finding(Finding::Event { position, reason });
        };
        let Some(selection) = self.report.header.as_ref().map(|h| h.selection) else {
            return;
        };
        // Order and selection.
        match self.last_position {
            Some(last) if position <= last => {
                bad(self, format!("out of order or repeated (after {last})"));
            }
            _ => {}
        }
        match selection {
            Selection::Positions {
                from_position,
                to_position,
            } => {
                let expected = self.last_position.map_or(from_position, |p| p + 1);
                if position > expected {
                    self.finding(Finding::Event {
                        position: expected,
                        reason: format!(
                            "missing from the export (the next event is at {position})"
                        ),
                    });
                }
                if !(from_position..=to_position).contains(&position) {
                    bad(
                        self,
                        format!("outside the range {from_position} to {to_position}"),
                    );
                }
            }
            Selection::Period {
                from_date, to_date, ..
            } => match kcn_integrity::parse_timestamp(&e.occurred_at) {
                Ok(at) => {
                    let date = kcn_domain::time::local_date(at);
                    if date < from_date || date > to_date {
                        bad(
                            self,
                            format!(
                                "occurred_at {} is on the local date {date}, outside the period \
                                 {from_date} to {to_date}",
                                e.occurred_at
                            ),
                        );
                    }
                }
                Err(err) => bad(self, format!("occurred_at: {err}")),
            },
        }
        self.last_position = Some(self.last_position.map_or(position, |p| p.max(position)));

        // The leaf, from the exported fields alone.
        let Some((tree_size, root)) = self.root else {
            return;
        };
        if position == 0 || position > tree_size {
            return bad(
                self,
                format!("not in the checkpoint's tree of size {tree_size}"),
            );
        }
        let event_id = match Uuid::parse_str(&e.event_id) {
            Ok(id) if id.to_string() == e.event_id => id,
            _ => {
                return bad(
                    self,
                    format!(
                        "event_id {:?} is not a lowercase hyphenated UUID",
                        e.event_id
                    ),
                );
            }
        };
        let (payload, metadata) = match (
            BASE64.decode(&e.payload_base64),
            BASE64.decode(&e.metadata_base64),
        ) {
            (Ok(p), Ok(m)) => (p, m),
            (Err(err), _) => return bad(self, format!("payload_base64 is not base64: {err}")),
            (_, Err(err)) => return bad(self, format!("metadata_base64 is not base64: {err}")),
        };
        let proof: Result<Vec<Hash>, _> = e
            .inclusion_proof_base64
            .iter()
            .map(|h| Hash::from_base64(h))
            .collect();
        let Ok(proof) = proof else {
            return bad(
                self,
                "inclusion_proof_base64 holds a hash that is not 32 bytes of base64".to_owned(),
            );
        };
        let leaf = leaf_hash(&LeafFields {
            position,
            event_id,
            aggregate_type: &e.aggregate_type,
            aggregate_id: &e.aggregate_id,
            aggregate_version: e.aggregate_version,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            occurred_at: &e.occurred_at,
            recorded_at: &e.recorded_at,
            payload: &payload,
            metadata: &metadata,
        });
        let exported_leaf = Hash::from_base64(&e.leaf_hash_base64).ok();
        match kcn_integrity::verify_inclusion(&leaf, position - 1, tree_size, &proof, &root) {
            Ok(()) if exported_leaf == Some(leaf) => self.report.proven += 1,
            Ok(()) => bad(
                self,
                format!(
                    "the event is proven, but its exported leaf hash {} is not its leaf {}",
                    e.leaf_hash_base64,
                    leaf.to_base64()
                ),
            ),
            Err(err) if exported_leaf != Some(leaf) => bad(
                self,
                format!(
                    "the event was altered: its fields hash to the leaf {}, not to the \
                     exported leaf hash {}, and the proof does not lead to the signed root ({err})",
                    leaf.to_base64(),
                    e.leaf_hash_base64
                ),
            ),
            Err(err) => bad(
                self,
                format!(
                    "its inclusion proof does not lead from its leaf to the signed root at tree \
                     size {tree_size}: the proof was altered ({err})"
                ),
            ),
        }
    }

    /// A range export holds every position of its range.
    fn positions_complete(&mut self) {
        let Some(Selection::Positions {
            from_position,
            to_position,
        }) = self.report.header.as_ref().map(|h| h.selection)
        else {
            return;
        };
        let next = self.last_position.map_or(from_position, |p| p + 1);
        if next <= to_position {
            self.finding(Finding::Event {
                position: next,
                reason: format!(
                    "missing from the export: the range ends at {to_position}, the file at {}",
                    next - 1
                ),
            });
        }
    }
}
