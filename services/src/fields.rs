//! Parsing at the edge: every request field becomes a validated domain value, and every malformed
//! field is reported at once, by name, as a `google.rpc.BadRequest` field violation.

use chrono::{DateTime, NaiveDate, Utc};
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

/// Collects field violations while a request is parsed.
#[derive(Debug, Default)]
pub struct Fields {
    violations: Vec<FieldViolation>,
}

impl Fields {
    /// Keeps the value, or records the violation under `field`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, ValueError>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.violations
                    .push(FieldViolation::new(field, bounded(e.0)));
                None
            }
        }
    }

    /// Records a violation.
    pub fn violation(&mut self, field: &str, description: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(field, bounded(description.into())));
    }

    /// `INVALID_ARGUMENT` naming every violation, if there was any.
    pub fn finish(self) -> Result<(), Status> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(error::invalid(self.violations))
        }
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

/// A required business date, `YYYY-MM-DD`.
pub fn date(raw: &str) -> Result<NaiveDate, ValueError> {
    if raw.trim().is_empty() {
        return Err(value_error("is required (YYYY-MM-DD)"));
    }
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| value_error(format!("must be a date as YYYY-MM-DD (got {raw:?})")))
}

/// An optional business date: empty means absent.
pub fn optional_date(raw: &str) -> Result<Option<NaiveDate>, ValueError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        date(raw).map(Some)
    }
}

/// A protobuf timestamp as a UTC instant, truncated to microseconds.
pub fn instant(ts: &prost_types::Timestamp) -> Result<DateTime<Utc>, ValueError> {
    let nanos = u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| value_error("nanos must be between 0 and 999,999,999"))?;
    let t = DateTime::from_timestamp(ts.seconds, nanos)
        .ok_or_else(|| value_error("is outside the representable range"))?;
    let year = chrono::Datelike::year(&t);
    if !(1900..=9999).contains(&year) {
        return Err(value_error(format!("year {year} is outside 1900-9999")));
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
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        kcn_domain::values::Text::parse(raw, max).map(Some)
    }
}

/// A required party: an authority or an infrastructure company, by kind and id.
pub fn organisation(
    f: &mut Fields,
    field: &str,
    raw: Option<&crate::proto::OrganisationRef>,
) -> Option<kcn_domain::information_exchange::OrganisationRef> {
    use crate::proto::OrganisationKind as P;
    use kcn_domain::information_exchange::{OrganisationKind, OrganisationRef};
    let Some(r) = raw else {
        f.violation(field, "is required: an organisation kind and id");
        return None;
    };
    let kind = match P::try_from(r.kind) {
        Ok(P::Authority) => Some(OrganisationKind::Authority),
        Ok(P::InfrastructureCompany) => Some(OrganisationKind::InfrastructureCompany),
        _ => {
            f.violation(
                &format!("{field}.kind"),
                "must be ORGANISATION_KIND_AUTHORITY or ORGANISATION_KIND_INFRASTRUCTURE_COMPANY",
            );
            None
        }
    };
    let id = f.check(&format!("{field}.id"), uuid(&r.id));
    Some(OrganisationRef {
        kind: kind?,
        id: id?,
    })
}

/// A party as the wire's `OrganisationRef`.
pub fn organisation_to_proto(
    o: &kcn_domain::information_exchange::OrganisationRef,
) -> crate::proto::OrganisationRef {
    use crate::proto::OrganisationKind as P;
    use kcn_domain::information_exchange::OrganisationKind;
    crate::proto::OrganisationRef {
        kind: match o.kind {
            OrganisationKind::Authority => P::Authority,
            OrganisationKind::InfrastructureCompany => P::InfrastructureCompany,
        } as i32,
        id: o.id.to_string(),
    }
}

/// Declares the two conversions between a proto enum and the domain enum whose variants have the
/// same names: from the wire (refusing `*_UNSPECIFIED` and unknown numbers, naming the prefix a
/// caller must use) and to the wire.
#[macro_export]
macro_rules! wire_enum {
    ($from:ident, $to:ident, $proto:path, $domain:ident, $prefix:literal, [$($variant:ident),+ $(,)?]) => {
        fn $from(raw: i32) -> Result<$domain, kcn_domain::values::ValueError> {
            use $proto as P;
            match P::try_from(raw) {
                $(Ok(P::$variant) => Ok($domain::$variant),)+
                _ => Err(kcn_domain::values::ValueError(
                    concat!("must be a known ", $prefix, "_* value").into(),
                )),
            }
        }

        #[allow(dead_code)]
        fn $to(value: $domain) -> $proto {
            use $proto as P;
            match value {
                $($domain::$variant => P::$variant,)+
            }
        }
    };
}
