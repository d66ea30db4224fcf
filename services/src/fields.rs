//! Parsing at the edge: every request field becomes a validated domain value, and every malformed
//! field is reported at once, by name, as a `google.rpc.BadRequest` field violation. These are the
//! field-level parsers; `wire/` composes them into one conversion per command.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kcn_domain::time::truncate_micros;
use kcn_domain::values::ValueError;
use tonic::Status;
use tonic_types::FieldViolation;
use uuid::Uuid;

use crate::error;

/// The longest description of one violation: a description may quote what the caller sent, and a
/// hostile caller may send a megabyte; the answer must still fit in a gRPC trailer.
const MAX_DESCRIPTION: usize = 80;

/// Cuts a description to [`MAX_DESCRIPTION`] characters, marking the cut.
fn bounded(description: String) -> String {
    if description.chars().count() <= MAX_DESCRIPTION {
        return description;
    }
    let mut cut: String = description.chars().take(MAX_DESCRIPTION).collect();
    cut.push('…');
    cut
}

/// The most violations one answer lists: a list of a thousand malformed items would otherwise make
/// a trailer no client accepts. The rest are counted in a last violation.
const MAX_VIOLATIONS: usize = 20;

/// Collects field violations while a request is parsed.
#[derive(Debug, Default)]
pub struct Fields {
    violations: Vec<FieldViolation>,
    /// Violations found beyond [`MAX_VIOLATIONS`], counted, not kept.
    more: usize,
}

impl Fields {
    /// Keeps the value, or records the violation under `field`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, ValueError>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.violation(field, e.0);
                None
            }
        }
    }

    /// Records a violation.
    pub fn violation(&mut self, field: &str, description: impl Into<String>) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations
                .push(FieldViolation::new(field, bounded(description.into())));
        } else {
            self.more += 1;
        }
    }

    /// A message field the command cannot do without: parsed by `parse`, or a violation saying
    /// what it must hold.
    pub fn required<M, T>(
        &mut self,
        field: &str,
        raw: Option<&M>,
        what: &str,
        parse: impl FnOnce(&mut Self, &M) -> Option<T>,
    ) -> Option<T> {
        match raw {
            Some(m) => parse(self, m),
            None => {
                self.violation(field, format!("is required: {what}"));
                None
            }
        }
    }

    /// A required instant (`detected_at`, `measured_at`).
    pub fn instant(
        &mut self,
        field: &str,
        raw: Option<&prost_types::Timestamp>,
        what: &str,
    ) -> Option<DateTime<Utc>> {
        self.required(field, raw, what, |f, ts| f.check(field, instant(ts)))
    }

    /// A repeated field of `min` to `max` items, each parsed by `item` under the name
    /// `field[i]`. A list longer than `max` is refused as a whole, without reading its items.
    pub fn list<M, T>(
        &mut self,
        field: &str,
        raw: &[M],
        (min, max): (usize, usize),
        mut item: impl FnMut(&mut Self, &str, &M) -> Option<T>,
    ) -> Option<Vec<T>> {
        if raw.len() > max {
            self.violation(
                field,
                format!("must have at most {max} items (got {})", raw.len()),
            );
            return None;
        }
        if raw.len() < min {
            let plural = if min == 1 { "" } else { "s" };
            self.violation(field, format!("must have at least {min} item{plural}"));
        }
        let parsed: Vec<Option<T>> = raw
            .iter()
            .enumerate()
            .map(|(i, m)| item(self, &format!("{field}[{i}]"), m))
            .collect();
        if raw.len() < min {
            return None;
        }
        parsed.into_iter().collect()
    }

    /// `INVALID_ARGUMENT` naming every violation, if there was any.
    pub fn finish(mut self) -> Result<(), Status> {
        if self.violations.is_empty() {
            return Ok(());
        }
        if self.more > 0 {
            let more = format!("{} more violations are not listed", self.more);
            self.violations.push(FieldViolation::new("", more));
        }
        Err(error::invalid(self.violations))
    }
}

/// Takes the parsed values out once [`Fields::finish`] has confirmed all are present.
#[macro_export]
macro_rules! take {
    ($($v:ident),+ $(,)?) => {
        $(let $v = $v.expect("finish() returned Ok, so every checked field parsed");)+
    };
}

fn value_error(msg: impl Into<String>) -> ValueError {
    ValueError(msg.into())
}

/// A required UUID in canonical text form.
pub fn uuid(raw: &str) -> Result<Uuid, ValueError> {
    if raw.trim().is_empty() {
        return Err(value_error("is required"));
    }
    Uuid::try_parse(raw.trim()).map_err(|_| value_error(format!("must be a UUID (got {raw:?})")))
}

/// An optional UUID: empty means absent.
pub fn optional_uuid(raw: &str) -> Result<Option<Uuid>, ValueError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        uuid(raw).map(Some)
    }
}

/// A required business date, `YYYY-MM-DD` with a four-digit year ([`kcn_domain::values::date`]).
pub fn date(raw: &str) -> Result<NaiveDate, ValueError> {
    if raw.trim().is_empty() {
        return Err(value_error("is required (YYYY-MM-DD)"));
    }
    kcn_domain::values::date(raw)
}

/// An optional business date: empty means absent.
pub fn optional_date(raw: &str) -> Result<Option<NaiveDate>, ValueError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        date(raw).map(Some)
    }
}

/// A protobuf timestamp as a UTC instant, truncated to microseconds, whose year and local date's
/// year are 1900 to 9999.
pub fn instant(ts: &prost_types::Timestamp) -> Result<DateTime<Utc>, ValueError> {
    let nanos = u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| value_error("nanos must be between 0 and 999,999,999"))?;
    let t = DateTime::from_timestamp(ts.seconds, nanos)
        .ok_or_else(|| value_error("is outside the representable range"))?;
    // Both the instant and its business date (in UTC+7) must lie in the years dates may have:
    // 9999-12-31T20:00Z is already 10000-01-01 in Vietnam, a date no field could name.
    let years = kcn_domain::values::YEARS;
    for year in [t.year(), kcn_domain::time::local_date(t).year()] {
        if !years.contains(&year) {
            return Err(value_error(format!(
                "lies in year {year} (UTC or UTC+7), outside {}-{}",
                years.start(),
                years.end()
            )));
        }
    }
    Ok(truncate_micros(t))
}

/// An optional protobuf timestamp.
pub fn optional_instant(
    ts: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, ValueError> {
    ts.map(instant).transpose()
}

/// An instant as a protobuf timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// An identifier chosen by a caller (request ids, correlation ids): 1 to 128 visible ASCII characters.
pub fn token(raw: &str, required: bool) -> Result<Option<String>, ValueError> {
    if raw.is_empty() {
        return if required {
            Err(value_error("is required"))
        } else {
            Ok(None)
        };
    }
    if raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(value_error(
            "must be 1 to 128 visible ASCII characters (no spaces)",
        ));
    }
    Ok(Some(raw.to_owned()))
}

/// Text that may be left empty: empty (or blank) means absent.
pub fn optional_text(
    raw: &str,
    max: usize,
) -> Result<Option<kcn_domain::values::Text>, ValueError> {
    optional(raw, |t| kcn_domain::values::Text::parse(t, max))
}

/// A field that may be left empty: empty (or blank) means absent, anything else is parsed.
pub fn optional<T>(
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, ValueError>,
) -> Result<Option<T>, ValueError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        parse(raw).map(Some)
    }
}
