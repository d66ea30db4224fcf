//! Time rules of the domain: business dates are local dates in Vietnam (UTC+7), instants are UTC with
//! microsecond precision, lags are differences of local dates and durations count days inclusively.

use chrono::{DateTime, FixedOffset, NaiveDate, SubsecRound, Utc};

/// Vietnam's offset from UTC. Asia/Ho_Chi_Minh has had no daylight saving time since 1975.
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("a seven-hour offset is in range")
}

/// The local (Vietnam) calendar date of an instant: 2025-01-15T20:00Z is 16 January.
pub fn local_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&vietnam()).date_naive()
}

/// The first instant of a local (Vietnam) calendar date: 15 January begins at 2025-01-14T17:00Z.
/// `None` only where chrono's calendar ends.
pub fn start_of_local_day(date: NaiveDate) -> Option<DateTime<Utc>> {
    date.and_hms_opt(0, 0, 0)?
        .and_local_timezone(vietnam())
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Truncates an instant to microseconds; finer precision from a caller is dropped, never rounded.
pub fn truncate_micros(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant.trunc_subsecs(6)
}

/// A lag in days as the difference of local calendar dates (issued on the 1st, delivered on the 6th: 5).
pub fn lag_days(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

/// A duration in days counted inclusively (started on the 9th, concluded on the 15th: 7).
pub fn inclusive_days(start: NaiveDate, end: NaiveDate) -> i64 {
    (end - start).num_days() + 1
}

/// The one source of server time (`recorded_at`, "now" for overdue judgements), so tests control it.
/// The domain never reads a clock itself: the system's clock is `kcn_eventstore::SystemClock`.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_evening_in_utc_is_the_next_local_day() {
        assert_eq!(
            local_date(at("2025-01-15T20:00:00Z")),
            NaiveDate::from_ymd_opt(2025, 1, 16).unwrap()
        );
        assert_eq!(
            local_date(at("2025-01-15T16:59:59Z")),
            NaiveDate::from_ymd_opt(2025, 1, 15).unwrap()
        );
    }

    #[test]
    fn a_local_day_begins_at_five_in_the_afternoon_utc_the_day_before() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap();
        let start = start_of_local_day(d).unwrap();
        assert_eq!(start, at("2025-01-14T17:00:00Z"));
        assert_eq!(local_date(start), d);
        assert_eq!(
            local_date(start - chrono::Duration::microseconds(1)),
            d.pred_opt().unwrap()
        );
    }

    #[test]
    fn lags_are_date_differences_and_durations_are_inclusive() {
        let d = |day| NaiveDate::from_ymd_opt(2025, 3, day).unwrap();
        assert_eq!(lag_days(d(1), d(6)), 5);
        assert_eq!(inclusive_days(d(9), d(15)), 7);
    }

    #[test]
    fn truncation_never_rounds_up() {
        let t = at("2025-04-11T02:30:00.123456999Z");
        assert_eq!(truncate_micros(t), at("2025-04-11T02:30:00.123456Z"));
    }
}
