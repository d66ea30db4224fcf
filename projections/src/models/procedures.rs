//! Audit question 10: median processing days per administrative procedure code, before and after a
//! date, with counts.
//!
//! A dossier's processing days are `decided_on − received_on`, a difference of local dates (received
//! on the 1st and decided on the 6th is 5 days). The split is by `received_on`: a dossier received
//! before the date counts "before", one received on or after it counts "after".
//!
//! Medians must stay cheap at millions of dossiers, so besides one row per dossier the model keeps a
//! histogram: how many dossiers of a procedure, received on a date, took a given number of days. A
//! median then reads the histogram of the code's date range (a few rows per day at most, through the
//! primary key) and is computed in Rust; it is exact, and a half when the count is even.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use kcn_domain::Event;
use kcn_domain::LegalRules;
use kcn_domain::limits::dossier_days;
use kcn_domain::procedure::ProcedureEvent;
use sqlx::{AnyConnection, Row};

use super::sql::{Args, limit, sql};
use super::stored::{day, enum_name, parse_day};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// The read model of audit question 10.
#[derive(Debug, Default, Clone)]
pub struct ProceduresModel {
    /// The calendar processing days are counted with (working days).
    pub rules: LegalRules,
}

impl Named for ProceduresModel {
    const NAME: &'static str = "procedures";
}

const TABLES: &[&str] = &["procedure_dossiers", "procedure_day_counts"];

fn t(g: &Generation, base: &str) -> String {
    g.table(base)
}

#[async_trait]
impl ReadModel for ProceduresModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// 2: processing days are working days; with a fingerprint of the calendar counted with.
    fn version(&self) -> u32 {
        super::rules_versioned(2, &self.rules)
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    /// Indexes: the histogram's primary key `(procedure_code, received_on, processing_days)` serves
    /// both halves of a code's medians (a range on `received_on`) and the page of codes (keyset on
    /// `procedure_code`); the dossiers' primary key serves the decision that completes a dossier.
    fn create(&self, g: &Generation) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {} (dossier_id TEXT PRIMARY KEY, procedure_code TEXT NOT NULL, \
                 authority_id TEXT NOT NULL, tenant_id TEXT NOT NULL, park_id TEXT NOT NULL, \
                 received_on TEXT NOT NULL, promised_days BIGINT, decided_on TEXT, outcome TEXT, \
                 processing_days BIGINT)",
                t(g, "procedure_dossiers")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (procedure_code TEXT NOT NULL, received_on TEXT NOT NULL, \
                 processing_days BIGINT NOT NULL, dossiers BIGINT NOT NULL, \
                 PRIMARY KEY (procedure_code, received_on, processing_days))",
                t(g, "procedure_day_counts")
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
            apply_one(conn, g, &self.rules, e).await?;
        }
        Ok(())
    }
}

async fn apply_one(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    e: &Envelope,
) -> Result<(), ProjectionError> {
    let d = t(g, "procedure_dossiers");
    let id = e.aggregate_id();
    match &e.event {
        Event::AdministrativeProcedure(ProcedureEvent::DossierReceived(p)) => {
            sqlx::query(sql(format!(
                "INSERT INTO {d} (dossier_id, procedure_code, authority_id, tenant_id, park_id, \
                 received_on, promised_days) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (dossier_id) DO NOTHING"
            )))
            .bind(id)
            .bind(p.procedure_code.as_str())
            .bind(p.authority_id.to_string())
            .bind(p.tenant_id.to_string())
            .bind(p.park_id.to_string())
            .bind(day(p.received_on))
            .bind(p.promised_days.map(i64::from))
            .execute(&mut *conn)
            .await?;
        }
        Event::AdministrativeProcedure(ProcedureEvent::DossierDecided(p)) => {
            let row = sqlx::query(sql(format!(
                "SELECT procedure_code, received_on, decided_on FROM {d} WHERE dossier_id = $1"
            )))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else {
                return Err(e.error(format!("unknown dossier {id}")));
            };
            let code: String = row.try_get(0)?;
            let received_on: String = row.try_get(1)?;
            let already: Option<String> = row.try_get(2)?;
            if already.is_some() {
                // A dossier is decided once; never count it twice.
                return Ok(());
            }
            let days = dossier_days(rules, parse_day(&received_on)?, p.decided_on);
            sqlx::query(sql(format!(
                "UPDATE {d} SET decided_on = $2, outcome = $3, processing_days = $4 WHERE dossier_id = $1"
            )))
            .bind(id)
            .bind(day(p.decided_on))
            .bind(enum_name(&p.outcome))
            .bind(days)
            .execute(&mut *conn)
            .await?;
            sqlx::query(sql(format!(
                "INSERT INTO {h} (procedure_code, received_on, processing_days, dossiers) \
                 VALUES ($1, $2, $3, 1) ON CONFLICT (procedure_code, received_on, processing_days) \
                 DO UPDATE SET dossiers = {h}.dossiers + 1",
                h = t(g, "procedure_day_counts")
            )))
            .bind(code)
            .bind(received_on)
            .bind(days)
            .execute(&mut *conn)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Decided dossiers of one side of the split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessingStats {
    pub decided: u64,
    /// The median in days as an exact decimal (`6` or `6.5`); `None` without decided dossiers.
    pub median_days: Option<String>,
    pub min_days: Option<i64>,
    pub max_days: Option<i64>,
}

/// One procedure's processing times before and after the split date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcedureTimes {
    pub procedure_code: String,
    /// Dossiers received before the split date.
    pub before: ProcessingStats,
    /// Dossiers received on or after it.
    pub after: ProcessingStats,
}

/// The median of a histogram of `(value, count)` in increasing value order, as an exact decimal.
pub fn median(histogram: &[(i64, u64)]) -> Option<String> {
    let n: u64 = histogram.iter().map(|(_, c)| c).sum();
    if n == 0 {
        return None;
    }
    // The values at zero-based ranks (n-1)/2 and n/2: the same one when n is odd.
    let at = |rank: u64| {
        let mut seen = 0;
        for (v, c) in histogram {
            seen += c;
            if rank < seen {
                return *v;
            }
        }
        histogram.last().map_or(0, |(v, _)| *v)
    };
    let sum = at((n - 1) / 2) + at(n / 2);
    Some(if sum % 2 == 0 {
        (sum / 2).to_string()
    } else {
        let half = sum.div_euclid(2);
        format!("{half}.5")
    })
}

fn stats(histogram: &[(i64, u64)]) -> ProcessingStats {
    ProcessingStats {
        decided: histogram.iter().map(|(_, c)| c).sum(),
        median_days: median(histogram),
        min_days: histogram.first().map(|(v, _)| *v),
        max_days: histogram.last().map(|(v, _)| *v),
    }
}

impl Queries<'_, ProceduresModel> {
    /// Audit question 10: a page of procedure codes (after `after`, in code order; only `code` when
    /// given) with their processing times before and after `split`, once the model has applied
    /// `min_position`.
    pub async fn processing_times(
        &self,
        min_position: u64,
        split: NaiveDate,
        code: Option<&str>,
        after: Option<&str>,
        page_size: u32,
    ) -> Result<Vec<ProcedureTimes>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        processing_times(&mut r.conn, &r.generation, split, code, after, page_size).await
    }
}

/// Audit question 10: a page of procedure codes (after `after`, in code order; only `code` when
/// given) with their processing times before and after `split`.
async fn processing_times(
    conn: &mut AnyConnection,
    g: &Generation,
    split: NaiveDate,
    code: Option<&str>,
    after: Option<&str>,
    page_size: u32,
) -> Result<Vec<ProcedureTimes>, ProjectionError> {
    let h = t(g, "procedure_day_counts");
    let mut args = Args::default();
    let mut clauses = Vec::new();
    if let Some(c) = code {
        clauses.push(format!("procedure_code = {}", args.text(c)));
    }
    if let Some(a) = after {
        clauses.push(format!("procedure_code > {}", args.text(a)));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let n = args.int(limit(page_size));
    let codes = args
        .bind(sqlx::query(sql(format!(
            "SELECT DISTINCT procedure_code FROM {h} {filter} ORDER BY procedure_code LIMIT {n}"
        ))))
        .fetch_all(&mut *conn)
        .await?;
    let codes: Vec<String> = codes
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    // Both sides' histograms of every code of the page in one statement: side 0 is before the
    // split, side 1 from it on.
    let mut args = Args::default();
    let split = args.text(day(split));
    let list: Vec<String> = codes.iter().map(|c| args.text(c.as_str())).collect();
    let rows = args
        .fetch_all(
            conn,
            format!(
                "SELECT procedure_code, \
                 CAST(CASE WHEN received_on < {split} THEN 0 ELSE 1 END AS BIGINT) AS side, \
                 processing_days, CAST(SUM(dossiers) AS BIGINT) FROM {h} \
                 WHERE procedure_code IN ({}) \
                 GROUP BY procedure_code, side, processing_days \
                 ORDER BY procedure_code, side, processing_days",
                list.join(", ")
            ),
        )
        .await?;
    let mut histograms: BTreeMap<(String, i64), Vec<(i64, u64)>> = BTreeMap::new();
    for r in rows {
        let code: String = r.try_get(0)?;
        let side: i64 = r.try_get(1)?;
        let days: i64 = r.try_get(2)?;
        let count: i64 = r.try_get(3)?;
        histograms
            .entry((code, side))
            .or_default()
            .push((days, u64::try_from(count).unwrap_or(0)));
    }
    let mut out = Vec::with_capacity(codes.len());
    for code in codes {
        let mut side = |s: i64| {
            histograms
                .remove(&(code.clone(), s))
                .map_or_else(|| stats(&[]), |h| stats(&h))
        };
        let before = side(0);
        let after = side(1);
        out.push(ProcedureTimes {
            procedure_code: code,
            before,
            after,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        // 3, 5, 5, 9, 12 → 5
        assert_eq!(
            median(&[(3, 1), (5, 2), (9, 1), (12, 1)]).as_deref(),
            Some("5")
        );
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        // 4, 7, 8, 15 → (7 + 8) / 2 = 7.5
        assert_eq!(
            median(&[(4, 1), (7, 1), (8, 1), (15, 1)]).as_deref(),
            Some("7.5")
        );
        // 6, 6 → 6
        assert_eq!(median(&[(6, 2)]).as_deref(), Some("6"));
        assert_eq!(median(&[]), None);
    }
}
