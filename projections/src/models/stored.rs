//! How the read models store values, and how they read them back: local dates as `YYYY-MM-DD` and
//! instants as canonical RFC 3339 text (both sort as text), domain enums under their proto names.
//! A stored value that does not read back is a defect of the model, not of the caller.

use chrono::{DateTime, NaiveDate, Utc};
use kcn_eventstore::StoreError;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::ProjectionError;

/// A local date as stored: `YYYY-MM-DD`, which sorts as text.
pub(crate) fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An instant as stored: canonical RFC 3339 with six fractional digits, which sorts as text.
pub(crate) fn instant(t: DateTime<Utc>) -> String {
    kcn_integrity::leaf::format_timestamp(t)
}

/// A stored local date read back.
pub(crate) fn parse_day(text: &str) -> Result<NaiveDate, ProjectionError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| corrupt(format!("date {text:?}: {e}")))
}

/// An optional stored local date read back.
pub(crate) fn opt_day(v: Option<String>) -> Result<Option<NaiveDate>, ProjectionError> {
    v.as_deref().map(parse_day).transpose()
}

/// A stored instant read back.
pub(crate) fn parse_instant(text: &str) -> Result<DateTime<Utc>, ProjectionError> {
    kcn_integrity::leaf::parse_timestamp(text).map_err(|e| corrupt(e.to_string()))
}

/// A nullable `YYYY-MM-DD` column.
pub(crate) fn date_column(
    row: &AnyRow,
    index: usize,
) -> Result<Option<NaiveDate>, ProjectionError> {
    let text: Option<String> = row.try_get(index)?;
    opt_day(text)
}

/// A read-model row that this code did not write the way it reads it.
pub(crate) fn corrupt(detail: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Store(StoreError::Internal(format!("read model row: {detail}")))
}

/// The proto enum name a domain enum serialises to (`INSPECTION_KIND_PLANNED`).
pub(crate) fn enum_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}
