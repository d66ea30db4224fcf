//! Audit question 10 at the edge: median processing days per administrative procedure before and
//! after a date, from the `procedures` read model.

use kcn_projections::models::procedures::{ProcedureTimes, ProcessingStats};
use tonic::Status;

use super::params::page_size;
use crate::fields::{self, Fields};
use crate::page;
use crate::{Ledger, error, proto, take};

fn stats(s: ProcessingStats) -> proto::ProcessingTimeStats {
    proto::ProcessingTimeStats {
        decided_count: s.decided,
        median_days: s.median_days.unwrap_or_default(),
        min_days: s.min_days,
        max_days: s.max_days,
    }
}

fn times(t: ProcedureTimes) -> proto::ProcedureProcessingTimes {
    proto::ProcedureProcessingTimes {
        procedure_code: t.procedure_code,
        before: Some(stats(t.before)),
        after: Some(stats(t.after)),
    }
}

/// `GetProcedureProcessingTimes`: audit question 10.
pub(super) async fn get(
    ledger: &Ledger,
    r: proto::GetProcedureProcessingTimesRequest,
) -> Result<proto::GetProcedureProcessingTimesResponse, Status> {
    let mut f = Fields::default();
    let split = f.check("split_date", fields::date(&r.split_date));
    let code = r.procedure_code.trim();
    if code.len() > 100 || code.chars().any(char::is_control) {
        f.violation(
            "procedure_code",
            "must be a procedure code of at most 100 characters",
        );
    }
    let size = page_size(&mut f, r.page_size);
    let query = page::query(&["procedure_processing_times", &r.split_date, code]);
    let from: Option<String> = ledger.pages.open(&mut f, &r.page_token, &query);
    f.finish()?;
    take!(split);
    let rows = ledger
        .read
        .procedures()
        .processing_times(
            r.min_position,
            split,
            (!code.is_empty()).then_some(code),
            from.as_deref(),
            size + 1,
        )
        .await
        .map_err(error::projection)?;
    let (rows, next) = page::split(rows, size, |last| last.procedure_code.clone());
    Ok(proto::GetProcedureProcessingTimesResponse {
        next_page_token: ledger.pages.issue(&query, next.as_ref()),
        procedures: rows.into_iter().map(times).collect(),
        split_date: split.to_string(),
    })
}
