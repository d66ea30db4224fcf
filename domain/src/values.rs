//! Value types whose constructors validate: once a value is inside the domain, it is valid.
//!
//! Each constructor returns a [`ValueError`] that says what is wrong in words a caller can act on; the
//! gRPC edge attaches the field name.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use serde::{Deserialize, Serialize};

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(msg.into()))
}

/// Free text that must say something: trimmed, non-empty, at most `MAX` characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(String);

/// The longest text of each kind, in characters (Unicode scalar values). They are chosen so that the
/// largest command a caller may send still makes an event well under the event store's cap of
/// 256 KiB, even when every character takes four bytes in UTF-8.
pub mod max_chars {
    /// A short name, title, subject, location or legal basis.
    pub const NAME: usize = 300;
    /// A body of text: a description, an answer, a rationale, a summary.
    pub const BODY: usize = 20_000;
    /// A note, a reason, an action, a scope or a requirement.
    pub const NOTE: usize = 2_000;
    /// A document's number (`decision_no`, `permit_no`, `certificate_no`).
    pub const NUMBER: usize = 100;
    /// An identifier or short code chosen by a caller (`task_id`, `finding_id`, `station_id`).
    pub const CODE: usize = 64;
    /// A unit of measurement (`mg/L`, `m3/day`).
    pub const UNIT: usize = 32;
    /// A postal address.
    pub const ADDRESS: usize = 500;
    /// The audience of a training.
    pub const AUDIENCE: usize = 1_000;
    /// One condition of a conditional suitability determination.
    pub const CONDITION: usize = 500;
    /// The description of one annual task.
    pub const TASK_DESCRIPTION: usize = 300;
}

/// Whether a character is invisible or reorders what is around it, so that what an auditor reads
/// could differ from what is stored: the bidirectional embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069), the zero-width characters and directional marks (U+200B–U+200F,
/// U+2060, U+FEFF), and every other format character (Unicode category Cf: soft hyphens, tags,
/// invisible operators). Vietnamese needs none of them, not even the zero-width joiners.
pub fn is_hidden(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
        || c.general_category() == GeneralCategory::Format
}

impl Text {
    /// Accepts text of 1 to `max` characters after trimming; refuses control characters other than
    /// line breaks and tabs, and the invisible characters of [`is_hidden`].
    pub fn parse(raw: &str, max: usize) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return err("must not be empty");
        }
        let count = trimmed.chars().count();
        if count > max {
            return err(format!("must be at most {max} characters, got {count}"));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return err("must not contain control characters");
        }
        if let Some((i, c)) = trimmed.chars().enumerate().find(|(_, c)| is_hidden(*c)) {
            return err(format!(
                "must not contain invisible or direction-changing characters (U+{:04X} at character {})",
                u32::from(c),
                i + 1
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// A short name or title (at most [`max_chars::NAME`] characters).
    pub fn name(raw: &str) -> Result<Self, ValueError> {
        Self::parse(raw, max_chars::NAME)
    }

    /// A body of text (at most [`max_chars::BODY`] characters).
    pub fn body(raw: &str) -> Result<Self, ValueError> {
        Self::parse(raw, max_chars::BODY)
    }

    /// A note or reason (at most [`max_chars::NOTE`] characters).
    pub fn note(raw: &str) -> Result<Self, ValueError> {
        Self::parse(raw, max_chars::NOTE)
    }

    /// A document's number (at most [`max_chars::NUMBER`] characters).
    pub fn number(raw: &str) -> Result<Self, ValueError> {
        Self::parse(raw, max_chars::NUMBER)
    }

    /// An identifier or short code chosen by a caller (at most [`max_chars::CODE`] characters).
    pub fn code(raw: &str) -> Result<Self, ValueError> {
        Self::parse(raw, max_chars::CODE)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The years a business date or an instant may fall in: four-digit years, as timestamps allow.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// A business date written `YYYY-MM-DD`, with a four-digit year in [`YEARS`] and two-digit month and
/// day (`2025-6-2`, `+99999-01-01` and `0000-01-01` are refused).
pub fn date(raw: &str) -> Result<NaiveDate, ValueError> {
    let s = raw.trim();
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    let parsed = shaped
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten();
    let Some(d) = parsed else {
        return err(format!("must be a date as YYYY-MM-DD (got {s:?})"));
    };
    if !YEARS.contains(&d.year()) {
        return err(format!(
            "year {} is outside {}-{}",
            d.year(),
            YEARS.start(),
            YEARS.end()
        ));
    }
    Ok(d)
}

/// Declares a whole number of the domain with the inclusive range it may take, so that the range is
/// written once: the gRPC edge parses into it, and its doc comment is what the contract documents.
macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident: $min:literal..=$max:literal $unit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(u32);

        impl $name {
            /// The smallest value accepted.
            pub const MIN: u32 = $min;
            /// The largest value accepted.
            pub const MAX: u32 = $max;

            /// Accepts a value from [`Self::MIN`] to [`Self::MAX`].
            pub fn parse(raw: u32) -> Result<Self, ValueError> {
                if (Self::MIN..=Self::MAX).contains(&raw) {
                    Ok(Self(raw))
                } else {
                    err(format!(
                        "must be from {} to {} {} (got {raw})",
                        Self::MIN,
                        Self::MAX,
                        $unit
                    ))
                }
            }

            /// The number.
            pub fn get(self) -> u32 {
                self.0
            }
        }
    };
}

bounded!(
    /// Hours an agreement allows from an incident's detection to its first notification: up to 30
    /// days.
    NotificationHours: 1..=720 "hours"
);
bounded!(
    /// Days an agreement or a regulation allows for an act (to answer a request, deliver
    /// information, determine a consultation, process a dossier): up to a year.
    ServiceDays: 1..=365 "days"
);
bounded!(
    /// A day of the month that exists in every month.
    DayOfMonth: 1..=28 "(a day that every month has)"
);
bounded!(
    /// Days an inspection is extended by. The law allows 7 or 15; more is accepted and judged as a
    /// breach, up to a year.
    ExtensionDays: 1..=365 "days"
);
bounded!(
    /// How many people attended a training.
    AttendeeCount: 0..=100000 "attendees"
);
bounded!(
    /// Progress on a task.
    Percent: 0..=100 "percent"
);
bounded!(
    /// The calendar year a plan or an annual report covers; a report is filed in the year after,
    /// so the last is 9998.
    ReportYear: 1990..=9998 "(a calendar year)"
);
bounded!(
    /// A wastewater flow or a treatment plant's capacity, in m³ per day. The largest plants in the
    /// country treat a few hundred thousand m³ a day.
    CubicMetresPerDay: 0..=10000000 "m³/day"
);

/// The most items of each list a command carries. Like [`max_chars`], they keep the largest event
/// well under the event store's cap.
pub mod max_items {
    /// VSIC codes of one tenant.
    pub const TENANT_VSIC_CODES: usize = 100;
    /// Allowed, and separately excluded, VSIC codes of a park's industry rules (VSIC 2018 has
    /// fewer than 800 codes at its finest level).
    pub const PARK_VSIC_CODES: usize = 1_000;
    /// Infrastructure companies that sign one agreement.
    pub const AGREEMENT_COMPANIES: usize = 100;
    /// Tenants inspected by one inspection.
    pub const INSPECTED_TENANTS: usize = 200;
    /// Parks one training or guidance document is addressed to.
    pub const PARKS: usize = 200;
    /// Predecessors merged in one succession.
    pub const PREDECESSORS: usize = 50;
    /// Attachments of one answer or opinion.
    pub const ATTACHMENTS: usize = 50;
    /// Tasks of one annual plan.
    pub const TASKS: usize = 50;
    /// Conditions of one conditional determination.
    pub const CONDITIONS: usize = 20;
}

/// A Vietnamese enterprise code (mã số doanh nghiệp): 10 digits, or 10 digits, a hyphen and 3 digits
/// for a dependent unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnterpriseCode(String);

impl EnterpriseCode {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim();
        let (main, branch) = match s.split_once('-') {
            Some((m, b)) => (m, Some(b)),
            None => (s, None),
        };
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(main, 10) || branch.is_some_and(|b| !digits(b, 3)) {
            return err(format!(
                "must be 10 digits, or 10 digits, '-' and 3 digits (got {s:?})"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A park's short code, such as `VSIP-1`: 1 to 32 upper-case letters, digits and hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParkCode(String);

impl ParkCode {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim();
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if !ok {
            return err(format!(
                "must be 1 to 32 upper-case letters, digits or hyphens, not starting with a hyphen (got {s:?})"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An industry code of the Vietnam Standard Industrial Classification with the version of the
/// classification it belongs to (Decision 27/2018 is version `2018`).
///
/// Level 1 is a section letter (`C`); levels 2 to 5 are 2 to 5 digits (`25`, `259`, `2592`, `25920`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VsicCode {
    pub code: String,
    pub version: String,
}

/// VSIC versions this ledger knows. Older codes stay valid in history; new ones are added here.
pub const VSIC_VERSIONS: &[&str] = &["2007", "2018"];

impl VsicCode {
    pub fn parse(code: &str, version: &str) -> Result<Self, ValueError> {
        let code = code.trim();
        let section = code.len() == 1 && code.bytes().all(|b| (b'A'..=b'U').contains(&b));
        let digits = (2..=5).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
        if !section && !digits {
            return err(format!(
                "must be a VSIC section letter A-U or 2 to 5 digits (got {code:?})"
            ));
        }
        let version = version.trim();
        if !VSIC_VERSIONS.contains(&version) {
            return err(format!(
                "version must be one of {} (got {version:?})",
                VSIC_VERSIONS.join(", ")
            ));
        }
        Ok(Self {
            code: code.to_owned(),
            version: version.to_owned(),
        })
    }

    /// The classification level: 1 for a section letter, otherwise the number of digits.
    pub fn level(&self) -> usize {
        if self.code.len() == 1 {
            1
        } else {
            self.code.len()
        }
    }
}

/// A SHA-256 digest as 64 lower-case hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim().to_ascii_lowercase();
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return err("must be a SHA-256 digest as 64 hexadecimal digits");
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A decimal quantity kept as text so that it is stored exactly (never a float): digits, optionally a
/// point and up to `scale` decimals, such as an area of `138.7` hectares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Decimal(String);

impl Decimal {
    pub fn parse(raw: &str, scale: usize) -> Result<Self, ValueError> {
        let s = raw.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let ok = !int.is_empty()
            && int.len() <= 12
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.len() <= scale
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(s.contains('.') && frac.is_empty());
        if !ok {
            return err(format!(
                "must be a non-negative decimal number with at most {scale} decimals, such as \"138.7\" (got {s:?})"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Like [`Decimal::parse`], and refuses a value above `max` (or, with `positive`, a zero).
    pub fn parse_bounded(
        raw: &str,
        scale: usize,
        max: u64,
        positive: bool,
    ) -> Result<Self, ValueError> {
        let d = Self::parse(raw, scale)?;
        let (int, frac) = d.0.split_once('.').unwrap_or((&d.0, ""));
        let frac_zero = frac.bytes().all(|b| b == b'0');
        // At most 12 digits, so the integer part always fits.
        let int: u64 = int.parse().unwrap_or(u64::MAX);
        if int > max || (int == max && !frac_zero) {
            return err(format!("must be at most {max} (got {})", d.0));
        }
        if positive && int == 0 && frac_zero {
            return err("must be more than 0");
        }
        Ok(d)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The largest area of a park, in hectares (the largest economic zones are a few tens of thousands).
pub const MAX_AREA_HA: u64 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enterprise_codes_are_ten_digits_with_an_optional_branch() {
        assert!(EnterpriseCode::parse("3700146225").is_ok());
        assert!(EnterpriseCode::parse("3700146225-001").is_ok());
        assert!(EnterpriseCode::parse("370014622").is_err());
        assert!(EnterpriseCode::parse("37001462250").is_err());
        assert!(EnterpriseCode::parse("3700146225-01").is_err());
        assert!(EnterpriseCode::parse("37001462a5").is_err());
    }

    #[test]
    fn vsic_codes_have_a_level_and_a_known_version() {
        assert_eq!(VsicCode::parse("2592", "2018").unwrap().level(), 4);
        assert_eq!(VsicCode::parse("C", "2018").unwrap().level(), 1);
        assert!(VsicCode::parse("259201", "2018").is_err());
        assert!(VsicCode::parse("2", "2018").is_err());
        assert!(VsicCode::parse("25a", "2018").is_err());
        assert!(VsicCode::parse("25", "2030").is_err());
    }

    #[test]
    fn decimals_refuse_floats_in_disguise() {
        assert!(Decimal::parse("138.7", 4).is_ok());
        assert!(Decimal::parse("500", 4).is_ok());
        assert!(Decimal::parse("1e3", 4).is_err());
        assert!(Decimal::parse("-1", 4).is_err());
        assert!(Decimal::parse("1.", 4).is_err());
        assert!(Decimal::parse("1.23456", 4).is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(
            Text::name("  KCN Đồng An ").unwrap().as_str(),
            "KCN Đồng An"
        );
        assert!(Text::name("   ").is_err());
        assert!(Text::parse("abcd", 3).is_err());
        assert!(Text::name("a\u{0}b").is_err());
    }

    #[test]
    fn text_refuses_invisible_and_direction_changing_characters() {
        for c in [
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{200F}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            let e = Text::name(&format!("KCN {c}Đồng An")).unwrap_err();
            assert!(e.0.contains("invisible"), "{c:?}: {e}");
        }
        assert!(Text::name("Khu công nghiệp Mỹ Phước 3 – giai đoạn 2").is_ok());
    }

    #[test]
    fn dates_have_a_four_digit_year_and_two_digit_month_and_day() {
        assert_eq!(date("2025-06-02").unwrap().to_string(), "2025-06-02");
        assert!(date("1900-01-01").is_ok());
        assert!(date("9999-12-31").is_ok());
        for bad in [
            "2025-6-2",
            "0000-01-01",
            "-001-01-01",
            "+99999-01-01",
            "1899-12-31",
            "2025-02-30",
            "20250602",
            "",
        ] {
            assert!(date(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bounded_numbers_name_their_range() {
        assert_eq!(NotificationHours::parse(720).unwrap().get(), 720);
        assert!(NotificationHours::parse(0).is_err());
        let e = ServiceDays::parse(100_000_000).unwrap_err();
        assert_eq!(e.0, "must be from 1 to 365 days (got 100000000)");
        assert!(AttendeeCount::parse(0).is_ok());
        assert!(AttendeeCount::parse(100_001).is_err());
    }

    #[test]
    fn bounded_decimals_refuse_values_above_their_maximum() {
        assert!(Decimal::parse_bounded("100", 2, 100, false).is_ok());
        assert!(Decimal::parse_bounded("100.00", 2, 100, false).is_ok());
        assert!(Decimal::parse_bounded("100.01", 2, 100, false).is_err());
        assert!(Decimal::parse_bounded("999999999999", 2, 100, false).is_err());
        assert!(Decimal::parse_bounded("0.0", 4, 100, true).is_err());
        assert!(Decimal::parse_bounded("0.0001", 4, 100, true).is_ok());
    }

    #[test]
    fn digests_are_normalised_to_lower_case() {
        let d = Sha256Hex::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(d.as_str(), "ab".repeat(32));
        assert!(Sha256Hex::parse("abc").is_err());
    }
}
