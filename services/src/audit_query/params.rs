//! The parameters the audit questions share, parsed at the edge: page sizes, `as_of_date`, date
//! ranges, enum filters, and the way stored enum names and dates go back on the wire.

use chrono::NaiveDate;
use kcn_domain::LegalRules;
use kcn_domain::time::local_date;

use crate::Ledger;
use crate::fields::{self, Fields};

/// The page size when the caller gives none, and the largest allowed.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

/// The legal rules the audit queries judge against: the server's configured ones.
pub(crate) fn rules(ledger: &Ledger) -> &LegalRules {
    &ledger.rules
}

/// Checks `page_size` (0 means the default).
pub(crate) fn page_size(f: &mut Fields, raw: u32) -> u32 {
    if raw > MAX_PAGE {
        f.violation("page_size", format!("must be at most {MAX_PAGE}"));
    }
    if raw == 0 {
        DEFAULT_PAGE
    } else {
        raw.min(MAX_PAGE)
    }
}

/// An optional `as_of_date`: empty means today's local date by the server's clock.
pub(crate) fn as_of_date(ledger: &Ledger, f: &mut Fields, raw: &str) -> Option<NaiveDate> {
    f.check("as_of_date", fields::optional_date(raw))
        .map(|d| d.unwrap_or_else(|| local_date(ledger.clock.now())))
}

/// A date range of a request: both optional, the end not before the start.
pub(crate) fn date_range(
    f: &mut Fields,
    (from_field, from): (&str, &str),
    (to_field, to): (&str, &str),
) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
    let from = f.check(from_field, fields::optional_date(from));
    let to = f.check(to_field, fields::optional_date(to));
    if let (Some(Some(a)), Some(Some(b))) = (from, to)
        && b < a
    {
        f.violation(to_field, format!("must not be before {from_field}"));
    }
    Some((from?, to?))
}

/// An optional enum filter: UNSPECIFIED (0) means none; an unknown number is a violation.
pub(crate) fn enum_filter<E>(
    f: &mut Fields,
    field: &str,
    raw: i32,
    name: fn(&E) -> &'static str,
) -> Option<String>
where
    E: TryFrom<i32>,
{
    if raw == 0 {
        return None;
    }
    match E::try_from(raw) {
        Ok(v) => Some(name(&v).to_owned()),
        Err(_) => {
            f.violation(field, format!("{raw} is not a known value"));
            None
        }
    }
}

/// The proto enum number of a stored enum name, or 0 (UNSPECIFIED) for a name this build lacks.
pub(crate) fn enum_number<E: Into<i32>>(name: Option<&str>, parse: fn(&str) -> Option<E>) -> i32 {
    name.and_then(parse).map_or(0, Into::into)
}

pub(crate) fn date_text(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}
