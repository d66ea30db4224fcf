//! The leaf of an event: the byte-exact `leaf_input` encoding of integrity.md, its leaf hash, and the
//! canonical timestamp text (RFC 3339 UTC, six fractional digits, `Z`) that the leaf covers.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::hash::{Hash, hash_leaf};

/// The domain-separation text that starts every leaf input.
pub const LEAF_DOMAIN: &str = "kcn-ledger/event/v1";

/// Every field of an event that its leaf covers, borrowed from wherever the event is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafFields<'a> {
    /// Global position: 1 for the first event ever appended; leaf index is `position - 1`.
    pub position: u64,
    /// The event's id, encoded as its 16 raw bytes.
    pub event_id: Uuid,
    /// The aggregate's name, e.g. `Park`.
    pub aggregate_type: &'a str,
    /// The aggregate id's text form (lowercase hyphenated UUID).
    pub aggregate_id: &'a str,
    /// The event's sequence number within its aggregate, starting at 1.
    pub aggregate_version: u64,
    /// The bare catalogue name, e.g. `ParkRegistered`.
    pub event_type: &'a str,
    /// The payload's schema version.
    pub schema_version: u64,
    /// Stored text of the occurrence instant (see [`format_timestamp`]).
    pub occurred_at: &'a str,
    /// Stored text of the recording instant (see [`format_timestamp`]).
    pub recorded_at: &'a str,
    /// The exact payload bytes stored (UTF-8 JSON), never re-serialised.
    pub payload: &'a [u8],
    /// The exact metadata bytes stored (UTF-8 JSON object), never re-serialised.
    pub metadata: &'a [u8],
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_blob(out: &mut Vec<u8>, bytes: &[u8]) {
    // Never reached by a caller's bytes: the log refuses events above 256 KiB before hashing them,
    // and neither SQLite nor PostgreSQL stores a value of 4 GiB (both stop at 1 GB).
    let len = u32::try_from(bytes.len()).expect("a leaf field is shorter than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put_blob(out, text.as_bytes());
}

/// The leaf input of integrity.md:
///
/// ```text
/// text("kcn-ledger/event/v1") || u64(position) || blob(event_id)
/// || text(aggregate_type) || text(aggregate_id) || u64(aggregate_version)
/// || text(event_type) || u64(schema_version) || text(occurred_at) || text(recorded_at)
/// || blob(payload) || blob(metadata)
/// ```
///
/// where `u64` is 8 bytes big-endian and `blob`/`text` is a 4-byte big-endian length and the bytes.
///
/// # Panics
///
/// Panics if a field is 4 GiB or longer, which a 4-byte length cannot encode.
pub fn leaf_input(fields: &LeafFields<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        128 + fields.aggregate_type.len()
            + fields.aggregate_id.len()
            + fields.event_type.len()
            + fields.payload.len()
            + fields.metadata.len(),
    );
    put_text(&mut out, LEAF_DOMAIN);
    put_u64(&mut out, fields.position);
    put_blob(&mut out, fields.event_id.as_bytes());
    put_text(&mut out, fields.aggregate_type);
    put_text(&mut out, fields.aggregate_id);
    put_u64(&mut out, fields.aggregate_version);
    put_text(&mut out, fields.event_type);
    put_u64(&mut out, fields.schema_version);
    put_text(&mut out, fields.occurred_at);
    put_text(&mut out, fields.recorded_at);
    put_blob(&mut out, fields.payload);
    put_blob(&mut out, fields.metadata);
    out
}

/// The leaf hash: `SHA-256(0x00 || leaf_input(fields))`.
///
/// # Panics
///
/// As [`leaf_input`].
pub fn leaf_hash(fields: &LeafFields<'_>) -> Hash {
    hash_leaf(&leaf_input(fields))
}

/// Drops precision finer than a microsecond; never rounds (`…999_999_999` ns stays in its microsecond).
pub fn truncate_to_micros(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant.trunc_subsecs(6)
}

/// The stored text of an instant: RFC 3339 UTC with exactly six fractional digits and `Z`, for
/// example `2025-04-11T02:30:00.000000Z`. Finer precision is truncated, never rounded.
///
/// Years outside 0000–9999 cannot be written in RFC 3339; chrono then writes a signed year, which
/// [`parse_timestamp`] rejects.
pub fn format_timestamp(instant: DateTime<Utc>) -> String {
    truncate_to_micros(instant).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Why a text is not a canonical stored timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimestampError {
    /// Not RFC 3339 at all.
    #[error("timestamp {text:?} is not rfc 3339: {reason}")]
    NotRfc3339 {
        /// The text given.
        text: String,
        /// What chrono said.
        reason: String,
    },
    /// RFC 3339, but not the canonical form `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    #[error("timestamp {text:?} is not in the canonical form {canonical:?}")]
    NotCanonical {
        /// The text given.
        text: String,
        /// The canonical text of the same instant (truncated to microseconds).
        canonical: String,
    },
}

/// Parses a stored timestamp, accepting only the canonical form that [`format_timestamp`] writes,
/// so that parsing and formatting again gives back the very bytes the leaf covers.
///
/// # Errors
///
/// [`TimestampError::NotRfc3339`] for text that is no timestamp, [`TimestampError::NotCanonical`]
/// for a timestamp in another form (another offset, fewer or more fractional digits, lowercase).
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, TimestampError> {
    let instant = DateTime::parse_from_rfc3339(text)
        .map_err(|e| TimestampError::NotRfc3339 {
            text: text.to_owned(),
            reason: e.to_string(),
        })?
        .with_timezone(&Utc);
    let canonical = format_timestamp(instant);
    if canonical != text {
        return Err(TimestampError::NotCanonical {
            text: text.to_owned(),
            canonical,
        });
    }
    Ok(instant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, nanos).unwrap()
    }

    #[test]
    fn timestamps_have_six_digits_and_z() {
        assert_eq!(
            format_timestamp(at(1_744_338_600, 0)),
            "2025-04-11T02:30:00.000000Z"
        );
        assert_eq!(
            format_timestamp(at(1_744_338_601, 123_456_000)),
            "2025-04-11T02:30:01.123456Z"
        );
    }

    #[test]
    fn finer_precision_is_truncated_not_rounded() {
        let t = at(1_744_338_601, 123_456_999);
        assert_eq!(format_timestamp(t), "2025-04-11T02:30:01.123456Z");
        assert_eq!(truncate_to_micros(t), at(1_744_338_601, 123_456_000));
        let almost = at(1_744_338_601, 999_999_999);
        assert_eq!(format_timestamp(almost), "2025-04-11T02:30:01.999999Z");
        // Before 1970 too: truncation moves towards the start of the microsecond.
        let old = at(-1, 999_999_999);
        assert_eq!(format_timestamp(old), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn parse_accepts_only_the_canonical_form() {
        let text = "2025-04-11T02:30:01.123456Z";
        let t = parse_timestamp(text).unwrap();
        assert_eq!(format_timestamp(t), text);
        for bad in [
            "2025-04-11T02:30:01.123Z",
            "2025-04-11T02:30:01.1234567Z",
            "2025-04-11T09:30:01.123456+07:00",
            "2025-04-11t02:30:01.123456z",
            "2025-04-11T02:30:01Z",
        ] {
            assert!(
                matches!(
                    parse_timestamp(bad),
                    Err(TimestampError::NotCanonical { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_timestamp("yesterday"),
            Err(TimestampError::NotRfc3339 { .. })
        ));
    }

    #[test]
    fn leaf_input_layout() {
        let id = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let fields = LeafFields {
            position: 2,
            event_id: id,
            aggregate_type: "P",
            aggregate_id: "a",
            aggregate_version: 3,
            event_type: "E",
            schema_version: 1,
            occurred_at: "o",
            recorded_at: "r",
            payload: b"{}",
            metadata: b"",
        };
        let mut want = Vec::new();
        want.extend_from_slice(&[0, 0, 0, 19]);
        want.extend_from_slice(b"kcn-ledger/event/v1");
        want.extend_from_slice(&2u64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 16]);
        want.extend_from_slice(id.as_bytes());
        want.extend_from_slice(&[0, 0, 0, 1, b'P', 0, 0, 0, 1, b'a']);
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 1, b'E']);
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 1, b'o', 0, 0, 0, 1, b'r']);
        want.extend_from_slice(&[0, 0, 0, 2, b'{', b'}', 0, 0, 0, 0]);
        assert_eq!(leaf_input(&fields), want);
        assert_eq!(leaf_hash(&fields), hash_leaf(&want));
    }
}
