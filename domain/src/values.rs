//! Value types whose constructors validate: once a value is inside the domain, it is valid.
//!
//! Each constructor returns a [`ValueError`] that says what is wrong in words a caller can act on; the
//! gRPC edge attaches the field name.

use std::fmt;

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

impl Text {
    /// Accepts text of 1 to `max` characters after trimming; refuses control characters other than
    /// line breaks and tabs.
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
        Ok(Self(trimmed.to_owned()))
    }

    /// A short name or title (at most 300 characters).
    pub fn name(raw: &str) -> Result<Self, ValueError> {
        Self::parse(raw, 300)
    }

    /// A body of text (at most 20,000 characters).
    pub fn body(raw: &str) -> Result<Self, ValueError> {
        Self::parse(raw, 20_000)
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

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
    fn digests_are_normalised_to_lower_case() {
        let d = Sha256Hex::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(d.as_str(), "ab".repeat(32));
        assert!(Sha256Hex::parse("abc").is_err());
    }
}
