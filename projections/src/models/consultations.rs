//! Audit question 4: industry consultations by VSIC code and park, with the pollution level, the
//! Board's determination and the days it took, and a flag on every favourable determination (suitable,
//! or suitable with conditions) for an industry that the park's rules in force on the determination
//! date exclude, or whose pollution level exceeds the park's highest allowed.
//!
//! The park's rules are effective-dated (`ParkIndustryRulesSet`) and may be recorded after the
//! determinations they govern (rules effective from January recorded in June). The flag is therefore
//! stored per consultation and judged again, for that park's consultations determined on or after
//! the new rules' `effective_from`, whenever rules arrive: it always reflects every event applied.
//!
//! **VSIC matching rule.** A consultation's code is excluded when an excluded code of the *same
//! classification version* is the code itself or one of its ancestors: a digit code excludes every
//! code it is a prefix of (`25` excludes `259`, `2592` and `25920`), and a section letter excludes the
//! codes of its divisions (`C` excludes `10` to `33` and everything below them). Codes of different
//! versions are never compared (the ledger holds no concordance between VSIC 2007 and 2018), and an
//! excluded code below the consultation's (`2592` against a consultation on `25`) does not exclude it.
//! The allowed list is matched the same way and reported, but does not raise the flag.

use async_trait::async_trait;
use chrono::NaiveDate;
use kcn_domain::Event;
use kcn_domain::consultation::{ConsultationEvent, PollutionLevel, Suitability};
use kcn_domain::park::ParkEvent;
use kcn_domain::time::{lag_days, local_date};
use kcn_domain::values::VsicCode;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::sql::{Args, limit, sql};
use super::stored::{corrupt, day, enum_name, instant, opt_day, parse_day};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// The read model of audit question 4.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsultationsModel;

impl Named for ConsultationsModel {
    const NAME: &'static str = "consultations";
}

const TABLES: &[&str] = &["consultations", "consultation_park_rules"];

/// The sections of VSIC (2007 and 2018 share them, after ISIC Rev. 4) and their divisions.
const SECTIONS: &[(&str, u8, u8)] = &[
    ("A", 1, 3),
    ("B", 5, 9),
    ("C", 10, 33),
    ("D", 35, 35),
    ("E", 36, 39),
    ("F", 41, 43),
    ("G", 45, 47),
    ("H", 49, 53),
    ("I", 55, 56),
    ("J", 58, 63),
    ("K", 64, 66),
    ("L", 68, 68),
    ("M", 69, 75),
    ("N", 77, 82),
    ("O", 84, 84),
    ("P", 85, 85),
    ("Q", 86, 88),
    ("R", 90, 93),
    ("S", 94, 96),
    ("T", 97, 98),
    ("U", 99, 99),
];

/// The section letter a digit code belongs to.
fn section_of(code: &str) -> Option<&'static str> {
    let division: u8 = code.get(..2)?.parse().ok()?;
    SECTIONS
        .iter()
        .find(|(_, lo, hi)| (*lo..=*hi).contains(&division))
        .map(|(s, _, _)| *s)
}

/// Whether `rule` is `code` or one of its ancestors, in the same classification version (the
/// matching rule of this module's documentation).
pub fn covers(rule: &VsicCode, code: &VsicCode) -> bool {
    if rule.version != code.version {
        return false;
    }
    let rule_is_section = rule.code.len() == 1;
    let code_is_section = code.code.len() == 1;
    match (rule_is_section, code_is_section) {
        (true, true) => rule.code == code.code,
        (true, false) => section_of(&code.code) == Some(rule.code.as_str()),
        (false, true) => false,
        (false, false) => code.code.starts_with(&rule.code),
    }
}

/// Severity rank of a pollution level (NONE 0 … I 3), so that "exceeds" is a comparison.
fn rank(level: PollutionLevel) -> i64 {
    match level {
        PollutionLevel::None => 0,
        PollutionLevel::III => 1,
        PollutionLevel::II => 2,
        PollutionLevel::I => 3,
    }
}

fn t(g: &Generation, base: &str) -> String {
    g.table(base)
}

#[async_trait]
impl ReadModel for ConsultationsModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// 2: an industry outside the allowed list is flagged too (stored in `flagged`).
    fn version(&self) -> u32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    /// Indexes, one per filter path of [`list_consultations`] (all ordered by `(opened_at,
    /// consultation_id)`, the keyset): `by_opened` (no filter), `by_park` (park), `by_code`
    /// (code range within a version, then park or determination on the rows found), `by_flag` (only
    /// flagged), `by_determination` (determination); `by_park_decided` serves the re-judging of a
    /// park's consultations when its rules change.
    fn create(&self, g: &Generation) -> Vec<String> {
        let c = t(g, "consultations");
        let r = t(g, "consultation_park_rules");
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {c} (consultation_id TEXT PRIMARY KEY, park_id TEXT NOT NULL, \
                 company_id TEXT NOT NULL, prospective_investor TEXT NOT NULL, project TEXT, \
                 vsic_code TEXT NOT NULL, vsic_version TEXT NOT NULL, pollution_level TEXT NOT NULL, \
                 pollution_rank BIGINT NOT NULL, opened_at TEXT NOT NULL, opened_on TEXT NOT NULL, \
                 determination TEXT, decided_on TEXT, days_to_decision BIGINT, legal_basis TEXT, \
                 document_no TEXT, conditions TEXT, withdrawn_on TEXT, tenant_id TEXT, \
                 rules_effective_from TEXT, excluded_by_code TEXT, excluded_by_version TEXT, \
                 outside_allowed BIGINT NOT NULL DEFAULT 0, highest_allowed TEXT, \
                 pollution_exceeds BIGINT NOT NULL DEFAULT 0, flagged BIGINT NOT NULL DEFAULT 0)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {c} (opened_at, consultation_id)",
                t(g, "consultations_by_opened")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {c} (park_id, opened_at, consultation_id)",
                t(g, "consultations_by_park")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {c} (vsic_version, vsic_code, opened_at)",
                t(g, "consultations_by_code")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {c} (flagged, opened_at, consultation_id)",
                t(g, "consultations_by_flag")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {c} (determination, opened_at, consultation_id)",
                t(g, "consultations_by_determination")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {c} (park_id, decided_on)",
                t(g, "consultations_by_park_decided")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {r} (park_id TEXT NOT NULL, effective_from TEXT NOT NULL, \
                 allowed TEXT NOT NULL, excluded TEXT NOT NULL, highest_level TEXT NOT NULL, \
                 highest_rank BIGINT NOT NULL, legal_basis TEXT, PRIMARY KEY (park_id, effective_from))"
            ),
        ]
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        for e in events {
            apply_one(conn, g, e).await?;
        }
        Ok(())
    }
}

async fn apply_one(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
) -> Result<(), ProjectionError> {
    let c = t(g, "consultations");
    let id = e.aggregate_id();
    match &e.event {
        Event::Park(ParkEvent::ParkIndustryRulesSet(p)) => {
            let json = |codes: &[VsicCode]| serde_json::to_string(codes).unwrap_or_default();
            sqlx::query(sql(format!(
                "INSERT INTO {} (park_id, effective_from, allowed, excluded, highest_level, \
                 highest_rank, legal_basis) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (park_id, effective_from) DO UPDATE SET allowed = excluded.allowed, \
                 excluded = excluded.excluded, highest_level = excluded.highest_level, \
                 highest_rank = excluded.highest_rank, legal_basis = excluded.legal_basis",
                t(g, "consultation_park_rules")
            )))
            .bind(id)
            .bind(day(p.effective_from))
            .bind(json(&p.allowed_vsic_codes))
            .bind(json(&p.excluded_vsic_codes))
            .bind(enum_name(&p.highest_pollution_level))
            .bind(rank(p.highest_pollution_level))
            .bind(p.legal_basis.as_ref().map(|b| b.as_str().to_owned()))
            .execute(&mut *conn)
            .await?;
            // Judge again the park's determinations that these rules now govern.
            let rows = sqlx::query(sql(format!(
                "SELECT consultation_id FROM {c} WHERE park_id = $1 AND decided_on >= $2"
            )))
            .bind(id)
            .bind(day(p.effective_from))
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                let consultation: String = row.try_get(0)?;
                judge(conn, g, &consultation).await?;
            }
        }
        Event::IndustryConsultation(ConsultationEvent::ConsultationOpened(p)) => {
            let at = e.occurred_at;
            sqlx::query(sql(format!(
                "INSERT INTO {c} (consultation_id, park_id, company_id, prospective_investor, project, \
                 vsic_code, vsic_version, pollution_level, pollution_rank, opened_at, opened_on) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (consultation_id) DO NOTHING"
            )))
            .bind(id)
            .bind(p.park_id.to_string())
            .bind(p.company_id.to_string())
            .bind(p.prospective_investor.as_str())
            .bind(p.project.as_ref().map(|x| x.as_str().to_owned()))
            .bind(p.vsic_code.code.clone())
            .bind(p.vsic_code.version.clone())
            .bind(enum_name(&p.pollution_level))
            .bind(rank(p.pollution_level))
            .bind(instant(at))
            .bind(day(local_date(at)))
            .execute(&mut *conn)
            .await?;
        }
        Event::IndustryConsultation(ConsultationEvent::SuitabilityDetermined(p)) => {
            let opened_on: Option<String> = sqlx::query(sql(format!(
                "SELECT opened_on FROM {c} WHERE consultation_id = $1"
            )))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
            let Some(opened_on) = opened_on else {
                return Err(e.error(format!("unknown consultation {id}")));
            };
            let days = lag_days(parse_day(&opened_on)?, p.decided_on);
            let conditions: Vec<&str> = p.conditions.iter().map(|c| c.as_str()).collect();
            sqlx::query(sql(format!(
                "UPDATE {c} SET determination = $2, decided_on = $3, days_to_decision = $4, \
                 legal_basis = $5, document_no = $6, conditions = $7 WHERE consultation_id = $1"
            )))
            .bind(id)
            .bind(enum_name(&p.determination))
            .bind(day(p.decided_on))
            .bind(days)
            .bind(p.legal_basis.as_str())
            .bind(p.document_no.as_ref().map(|d| d.as_str().to_owned()))
            .bind(serde_json::to_string(&conditions).unwrap_or_default())
            .execute(&mut *conn)
            .await?;
            judge(conn, g, id).await?;
        }
        Event::IndustryConsultation(ConsultationEvent::ConsultationWithdrawn(_)) => {
            sqlx::query(sql(format!(
                "UPDATE {c} SET withdrawn_on = $2 WHERE consultation_id = $1"
            )))
            .bind(id)
            .bind(day(local_date(e.occurred_at)))
            .execute(&mut *conn)
            .await?;
        }
        Event::IndustryConsultation(ConsultationEvent::ConsultationLinkedToTenant(p)) => {
            sqlx::query(sql(format!(
                "UPDATE {c} SET tenant_id = $2 WHERE consultation_id = $1"
            )))
            .bind(id)
            .bind(p.tenant_id.to_string())
            .execute(&mut *conn)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Judges one determined consultation against its park's rules in force on the determination date,
/// and stores the verdict.
async fn judge(
    conn: &mut AnyConnection,
    g: &Generation,
    consultation_id: &str,
) -> Result<(), ProjectionError> {
    let c = t(g, "consultations");
    let Some(row) = sqlx::query(sql(format!(
        "SELECT park_id, vsic_code, vsic_version, pollution_rank, determination, decided_on \
         FROM {c} WHERE consultation_id = $1"
    )))
    .bind(consultation_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(());
    };
    let park_id: String = row.try_get(0)?;
    let code = VsicCode {
        code: row.try_get(1)?,
        version: row.try_get(2)?,
    };
    let level_rank: i64 = row.try_get(3)?;
    let determination: Option<String> = row.try_get(4)?;
    let decided_on: Option<String> = row.try_get(5)?;
    let (Some(determination), Some(decided_on)) = (determination, decided_on) else {
        return Ok(());
    };
    let rules = sqlx::query(sql(format!(
        "SELECT effective_from, allowed, excluded, highest_level, highest_rank FROM {} \
         WHERE park_id = $1 AND effective_from <= $2 ORDER BY effective_from DESC LIMIT 1",
        t(g, "consultation_park_rules")
    )))
    .bind(&park_id)
    .bind(&decided_on)
    .fetch_optional(&mut *conn)
    .await?;
    let favourable = determination == enum_name(&Suitability::Suitable)
        || determination == enum_name(&Suitability::Conditional);
    let verdict = match rules {
        None => Verdict::default(),
        Some(r) => {
            let codes = |text: String| {
                serde_json::from_str::<Vec<VsicCode>>(&text)
                    .map_err(|e| corrupt(format!("rule codes {text:?}: {e}")))
            };
            let allowed = codes(r.try_get(1)?)?;
            let excluded = codes(r.try_get(2)?)?;
            let highest_rank: i64 = r.try_get(4)?;
            Verdict {
                rules_effective_from: Some(r.try_get(0)?),
                excluded_by: excluded.into_iter().find(|x| covers(x, &code)),
                outside_allowed: !allowed.is_empty() && !allowed.iter().any(|a| covers(a, &code)),
                highest_allowed: Some(r.try_get(3)?),
                pollution_exceeds: level_rank > highest_rank,
            }
        }
    };
    // "Not in line with planning": an industry the rules exclude, one outside the industries they
    // allow, or one more polluting than the park admits.
    let flagged = favourable
        && (verdict.excluded_by.is_some() || verdict.outside_allowed || verdict.pollution_exceeds);
    sqlx::query(sql(format!(
        "UPDATE {c} SET rules_effective_from = $2, excluded_by_code = $3, excluded_by_version = $4, \
         outside_allowed = $5, highest_allowed = $6, pollution_exceeds = $7, flagged = $8 \
         WHERE consultation_id = $1"
    )))
    .bind(consultation_id)
    .bind(verdict.rules_effective_from)
    .bind(verdict.excluded_by.as_ref().map(|x| x.code.clone()))
    .bind(verdict.excluded_by.as_ref().map(|x| x.version.clone()))
    .bind(i64::from(verdict.outside_allowed))
    .bind(verdict.highest_allowed)
    .bind(i64::from(verdict.pollution_exceeds))
    .bind(i64::from(flagged))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default)]
struct Verdict {
    rules_effective_from: Option<String>,
    excluded_by: Option<VsicCode>,
    outside_allowed: bool,
    highest_allowed: Option<String>,
    pollution_exceeds: bool,
}

/// Filters of [`list_consultations`]; each is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsultationFilter {
    pub park_id: Option<String>,
    /// The code and every code below it, in the same version (a section letter: its divisions).
    pub vsic_code: Option<VsicCode>,
    /// `SUITABILITY_SUITABLE`, `SUITABILITY_CONDITIONAL` or `SUITABILITY_UNSUITABLE`.
    pub determination: Option<Suitability>,
    /// Only favourable determinations the park's rules exclude or whose level exceeds them.
    pub only_flagged: bool,
}

/// Where a page of [`list_consultations`] ended: the last row's `(opened_at, consultation_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultationCursor {
    pub opened_at: String,
    pub consultation_id: String,
}

/// One consultation as audit question 4 shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultationRow {
    pub consultation_id: String,
    pub park_id: String,
    pub company_id: String,
    pub prospective_investor: String,
    pub project: Option<String>,
    pub vsic_code: VsicCode,
    /// The proto enum name, such as `POLLUTION_LEVEL_II`.
    pub pollution_level: String,
    pub opened_at: String,
    pub opened_on: NaiveDate,
    /// The proto enum name, such as `SUITABILITY_SUITABLE`; `None` while undetermined.
    pub determination: Option<String>,
    pub decided_on: Option<NaiveDate>,
    /// Local date of the determination minus local date of the opening.
    pub days_to_decision: Option<i64>,
    pub legal_basis: Option<String>,
    pub document_no: Option<String>,
    pub conditions: Vec<String>,
    pub withdrawn_on: Option<NaiveDate>,
    pub tenant_id: Option<String>,
    /// The `effective_from` of the park's rules in force on the determination date, if any.
    pub rules_effective_from: Option<NaiveDate>,
    /// The excluded code that covers this one, if any.
    pub excluded_by: Option<VsicCode>,
    /// The rules name allowed codes and none covers this one.
    pub outside_allowed: bool,
    /// The park's highest allowed pollution level then, as a proto enum name.
    pub highest_allowed: Option<String>,
    pub pollution_exceeds: bool,
    /// A favourable determination for an excluded industry or an exceeding pollution level.
    pub flagged: bool,
}

fn succ(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    String::from_utf8(bytes).unwrap_or_default()
}

impl Queries<'_, ConsultationsModel> {
    /// Audit question 4: a page of consultations in opening order, after `after`, once the model
    /// has applied `min_position`.
    pub async fn list(
        &self,
        min_position: u64,
        filter: &ConsultationFilter,
        after: Option<&ConsultationCursor>,
        page_size: u32,
    ) -> Result<Vec<ConsultationRow>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        list_consultations(&mut r.conn, &r.generation, filter, after, page_size).await
    }
}

/// Audit question 4: a page of consultations in opening order, after `after`.
async fn list_consultations(
    conn: &mut AnyConnection,
    g: &Generation,
    filter: &ConsultationFilter,
    after: Option<&ConsultationCursor>,
    page_size: u32,
) -> Result<Vec<ConsultationRow>, ProjectionError> {
    let mut args = Args::default();
    let mut clauses = Vec::new();
    if let Some(p) = &filter.park_id {
        clauses.push(format!("park_id = {}", args.text(p.clone())));
    }
    if let Some(code) = &filter.vsic_code {
        let version = args.text(code.version.clone());
        let range = if code.code.len() == 1 {
            match SECTIONS.iter().find(|(s, _, _)| *s == code.code) {
                Some((_, lo, hi)) => format!(
                    "vsic_code = {} OR (vsic_code >= {} AND vsic_code < {})",
                    args.text(code.code.clone()),
                    args.text(format!("{lo:02}")),
                    args.text(succ(&format!("{hi:02}")))
                ),
                None => format!("vsic_code = {}", args.text(code.code.clone())),
            }
        } else {
            format!(
                "vsic_code >= {} AND vsic_code < {}",
                args.text(code.code.clone()),
                args.text(succ(&code.code))
            )
        };
        clauses.push(format!("vsic_version = {version} AND ({range})"));
    }
    if let Some(d) = filter.determination {
        clauses.push(format!("determination = {}", args.text(enum_name(&d))));
    }
    if filter.only_flagged {
        clauses.push("flagged = 1".to_owned());
    }
    if let Some(a) = after {
        let at = args.text(a.opened_at.clone());
        let id = args.text(a.consultation_id.clone());
        clauses.push(format!(
            "(opened_at > {at} OR (opened_at = {at} AND consultation_id > {id}))"
        ));
    }
    let filter_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let n = args.int(limit(page_size));
    let text = format!(
        "SELECT consultation_id, park_id, company_id, prospective_investor, project, vsic_code, \
         vsic_version, pollution_level, opened_at, opened_on, determination, decided_on, \
         days_to_decision, legal_basis, document_no, conditions, withdrawn_on, tenant_id, \
         rules_effective_from, excluded_by_code, excluded_by_version, outside_allowed, \
         highest_allowed, pollution_exceeds, flagged FROM {} {filter_sql} \
         ORDER BY opened_at, consultation_id LIMIT {n}",
        t(g, "consultations")
    );
    let rows = args
        .bind(sqlx::query(sql(text)))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(consultation_row).collect()
}

fn consultation_row(r: &AnyRow) -> Result<ConsultationRow, ProjectionError> {
    let opened_on: String = r.try_get(9)?;
    let conditions: Option<String> = r.try_get(15)?;
    let excluded_code: Option<String> = r.try_get(19)?;
    let excluded_version: Option<String> = r.try_get(20)?;
    Ok(ConsultationRow {
        consultation_id: r.try_get(0)?,
        park_id: r.try_get(1)?,
        company_id: r.try_get(2)?,
        prospective_investor: r.try_get(3)?,
        project: r.try_get(4)?,
        vsic_code: VsicCode {
            code: r.try_get(5)?,
            version: r.try_get(6)?,
        },
        pollution_level: r.try_get(7)?,
        opened_at: r.try_get(8)?,
        opened_on: parse_day(&opened_on)?,
        determination: r.try_get(10)?,
        decided_on: opt_day(r.try_get(11)?)?,
        days_to_decision: r.try_get(12)?,
        legal_basis: r.try_get(13)?,
        document_no: r.try_get(14)?,
        conditions: match conditions {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| corrupt(format!("conditions {text:?}: {e}")))?,
            None => Vec::new(),
        },
        withdrawn_on: opt_day(r.try_get(16)?)?,
        tenant_id: r.try_get(17)?,
        rules_effective_from: opt_day(r.try_get(18)?)?,
        excluded_by: match (excluded_code, excluded_version) {
            (Some(code), Some(version)) => Some(VsicCode { code, version }),
            _ => None,
        },
        outside_allowed: r.try_get::<i64, _>(21)? != 0,
        highest_allowed: r.try_get(22)?,
        pollution_exceeds: r.try_get::<i64, _>(23)? != 0,
        flagged: r.try_get::<i64, _>(24)? != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(code: &str) -> VsicCode {
        VsicCode {
            code: code.to_owned(),
            version: "2018".to_owned(),
        }
    }

    #[test]
    fn an_excluded_code_covers_itself_and_the_codes_below_it() {
        assert!(covers(&v("20"), &v("2023")));
        assert!(covers(&v("2023"), &v("2023")));
        assert!(covers(&v("202"), &v("20231")));
        assert!(!covers(&v("2023"), &v("20")));
        assert!(!covers(&v("21"), &v("2023")));
    }

    #[test]
    fn a_section_letter_covers_its_divisions() {
        assert!(covers(&v("C"), &v("1610")));
        assert!(covers(&v("C"), &v("33")));
        assert!(!covers(&v("C"), &v("35")));
        assert!(covers(&v("C"), &v("C")));
        assert!(!covers(&v("1610"), &v("C")));
    }

    #[test]
    fn codes_of_different_versions_are_never_compared() {
        let old = VsicCode {
            code: "20".to_owned(),
            version: "2007".to_owned(),
        };
        assert!(!covers(&old, &v("2023")));
    }

    #[test]
    fn the_successor_of_a_prefix_bounds_its_range() {
        assert_eq!(succ("16"), "17");
        assert_eq!(succ("19"), "1:");
        assert!("1999".as_bytes() < succ("19").as_bytes());
    }
}
