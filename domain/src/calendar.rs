//! Working days: Vietnam's public holidays and the official make-up days, as data.
//!
//! Administrative procedures count working days (a dossier's promised processing time), and with
//! `rules.calendar_days = false` every day-counted legal limit does. A working day is a Monday to
//! Friday that is not a holiday, or a Saturday or Sunday the Government made a working day in
//! exchange for a swapped one. The days ship in `domain/data/vn-calendar.json` (2024–2027, each
//! with its source decision) and an operator can replace them with an updated file
//! (`rules.calendar_file`) without a new build. Outside the years a calendar covers only weekends
//! are rest days: [`Calendar::covers`] says which years those are.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The calendar shipped with the build.
const BUILT_IN: &str = include_str!("../data/vn-calendar.json");

/// What a listed day is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A day off: a public holiday, its compensatory day, or a working day swapped away.
    Holiday,
    /// A Saturday or Sunday worked in exchange for a swapped day.
    Workday,
}

/// One listed day, with the decision it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarDay {
    pub date: NaiveDate,
    pub kind: DayKind,
    pub name: String,
    pub source: String,
    /// Set where no notice was at hand and the day follows the Labour Code and the lunar calendar.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    first_year: i32,
    last_year: i32,
    days: Vec<CalendarDay>,
}

/// The working-day calendar: which days are off and which weekend days are worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Calendar {
    first_year: i32,
    last_year: i32,
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
    provisional: usize,
}

impl Default for Calendar {
    /// The built-in calendar (its data are checked by this crate's tests).
    fn default() -> Self {
        Self::parse(BUILT_IN).unwrap_or_else(|_| Self::weekends_only())
    }
}

impl Calendar {
    /// Reads a calendar file: refuses unknown fields, a day outside the years it declares, a day
    /// listed twice, a holiday on a weekend and a make-up day on a weekday (each is a typo).
    pub fn parse(json: &str) -> Result<Self, String> {
        let file: CalendarFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if file.first_year > file.last_year {
            return Err(format!(
                "first_year {} is after last_year {}",
                file.first_year, file.last_year
            ));
        }
        let mut calendar = Self {
            first_year: file.first_year,
            last_year: file.last_year,
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
            provisional: 0,
        };
        for day in file.days {
            let d = day.date;
            if !(file.first_year..=file.last_year).contains(&d.year()) {
                return Err(format!(
                    "{d} lies outside the years the file covers ({}–{})",
                    file.first_year, file.last_year
                ));
            }
            let new = match day.kind {
                DayKind::Holiday if is_weekend(d) => {
                    return Err(format!(
                        "{d} is a {:?}: a holiday on a weekly rest day is given as its compensatory working day",
                        d.weekday()
                    ));
                }
                DayKind::Workday if !is_weekend(d) => {
                    return Err(format!(
                        "{d} is a {:?}: a make-up workday is a Saturday or Sunday",
                        d.weekday()
                    ));
                }
                DayKind::Holiday => calendar.holidays.insert(d),
                DayKind::Workday => calendar.workdays.insert(d),
            };
            if !new {
                return Err(format!("{d} is listed twice"));
            }
            calendar.provisional += usize::from(day.provisional);
        }
        Ok(calendar)
    }

    /// A calendar with no holidays: only weekends are rest days.
    pub fn weekends_only() -> Self {
        Self {
            first_year: 0,
            last_year: -1,
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
            provisional: 0,
        }
    }

    /// The years whose holidays the calendar lists, if any.
    pub fn covers(&self) -> Option<(i32, i32)> {
        (self.first_year <= self.last_year).then_some((self.first_year, self.last_year))
    }

    /// How many listed days are provisional.
    pub fn provisional_days(&self) -> usize {
        self.provisional
    }

    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.workdays.contains(&d) {
            return true;
        }
        !is_weekend(d) && !self.holidays.contains(&d)
    }

    /// The working days after `from` up to and including `to` (negative when `to` comes first):
    /// a lag in working days, as a lag in calendar days is the difference of the dates. Counted in
    /// constant time per listed day, whatever the span.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        use std::ops::Bound::{Excluded, Included};
        if to < from {
            return -self.working_days_between(to, from);
        }
        let span = (Excluded(from), Included(to));
        let listed_off = self.holidays.range(span).count() as i64;
        let listed_on = self.workdays.range(span).count() as i64;
        weekdays_between(from, to) - listed_off + listed_on
    }

    /// The working days from `start` to `end`, both included (a duration: 0 when `end` comes first).
    pub fn working_days_inclusive(&self, start: NaiveDate, end: NaiveDate) -> i64 {
        if end < start {
            return 0;
        }
        i64::from(self.is_working_day(start)) + self.working_days_between(start, end)
    }

    /// The `n`th working day after `from` (`from` itself for 0), or `None` past the end of dates.
    /// Jumps whole weeks first, so a large `n` costs no more than a small one.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> Option<NaiveDate> {
        if n == 0 {
            return Some(from);
        }
        let target = i64::from(n);
        let mut d = from.checked_add_days(chrono::Days::new(u64::from(n / 5) * 7))?;
        let mut counted = self.working_days_between(from, d);
        while counted > target {
            counted -= i64::from(self.is_working_day(d));
            d = d.pred_opt()?;
        }
        while counted < target {
            d = d.succ_opt()?;
            counted += i64::from(self.is_working_day(d));
        }
        while !self.is_working_day(d) && d > from {
            d = d.pred_opt()?;
        }
        Some(d)
    }

    /// The last day of a duration of `n` working days starting on `start` (counted inclusively):
    /// the `n`th working day from `start` on, `start` counting when it is one.
    pub fn last_working_day_of(&self, start: NaiveDate, n: u32) -> Option<NaiveDate> {
        if n == 0 {
            return start.pred_opt();
        }
        let counted = u32::from(self.is_working_day(start));
        if counted >= n {
            return Some(start);
        }
        self.add_working_days(start, n - counted)
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The Mondays to Fridays after `from` up to and including `to` (`from <= to`).
fn weekdays_between(from: NaiveDate, to: NaiveDate) -> i64 {
    let days = (to - from).num_days();
    let (weeks, rest) = (days / 7, days % 7);
    let mut n = weeks * 5;
    let mut d = from;
    for _ in 0..rest {
        d = d.succ_opt().unwrap_or(d);
        n += i64::from(!is_weekend(d));
    }
    n
}

/// How a legal limit counts days: calendar days, or working days of a calendar.
#[derive(Debug, Clone, Copy)]
pub enum DayCount<'a> {
    Calendar,
    Working(&'a Calendar),
}

impl DayCount<'_> {
    /// A lag: the days after `from` up to `to` (issued on the 1st, delivered on the 6th: 5).
    pub fn lag(self, from: NaiveDate, to: NaiveDate) -> i64 {
        match self {
            Self::Calendar => (to - from).num_days(),
            Self::Working(c) => c.working_days_between(from, to),
        }
    }

    /// A duration counted inclusively (started on the 9th, concluded on the 15th: 7 calendar days).
    pub fn inclusive(self, start: NaiveDate, end: NaiveDate) -> i64 {
        match self {
            Self::Calendar => (end - start).num_days() + 1,
            Self::Working(c) => c.working_days_inclusive(start, end),
        }
    }

    /// The last day of a lag of `n` days after `from`.
    pub fn add(self, from: NaiveDate, n: u32) -> Option<NaiveDate> {
        match self {
            Self::Calendar => from.checked_add_days(chrono::Days::new(u64::from(n))),
            Self::Working(c) => c.add_working_days(from, n),
        }
    }

    /// The last day of a duration of `n` days starting on `start`, counted inclusively.
    pub fn last_of(self, start: NaiveDate, n: u32) -> Option<NaiveDate> {
        match self {
            Self::Calendar => {
                start.checked_add_days(chrono::Days::new(u64::from(n.saturating_sub(1))))
            }
            Self::Working(c) => c.last_working_day_of(start, n),
        }
    }

    /// The unit, in words, for a breach's wording.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Calendar => "days",
            Self::Working(_) => "working days",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_built_in_calendar_reads_and_covers_2024_to_2027() {
        let c = Calendar::parse(BUILT_IN).expect("the shipped calendar is valid");
        assert_eq!(c.covers(), Some((2024, 2027)));
        assert_eq!(c, Calendar::default());
        assert!(c.provisional_days() > 0);
    }

    #[test]
    fn holidays_and_make_up_days_decide_working_days() {
        let c = Calendar::default();
        // Tết Ất Tỵ: off 27–31 January 2025, worked on Saturday 15 February.
        assert!(!c.is_working_day(d("2025-01-27")));
        assert!(!c.is_working_day(d("2025-01-31")));
        assert!(c.is_working_day(d("2025-02-03")));
        assert!(c.is_working_day(d("2025-02-15")));
        assert!(!c.is_working_day(d("2025-02-16")));
        // 30 April – 2 May 2025 off, Saturday 26 April worked.
        assert!(c.is_working_day(d("2025-04-26")));
        assert!(!c.is_working_day(d("2025-05-02")));
    }

    #[test]
    fn working_days_are_counted_across_tet() {
        let c = Calendar::default();
        // Received Thursday 23 January 2025: 24 Jan (Fri) is 1; 27–31 off, 1–2 Feb weekend;
        // 3 Feb (Mon) is 2, … 7 Feb is 6, 10 Feb is 7.
        assert_eq!(
            c.add_working_days(d("2025-01-23"), 7),
            Some(d("2025-02-10"))
        );
        assert_eq!(c.working_days_between(d("2025-01-23"), d("2025-02-10")), 7);
        assert_eq!(c.working_days_between(d("2025-02-10"), d("2025-01-23")), -7);
        // Started Friday 25 April 2025, 7 working days inclusive: 25, 26 (make-up Saturday), 28,
        // 29, then 30 Apr – 2 May off and the weekend, 5, 6, 7 May.
        assert_eq!(
            c.last_working_day_of(d("2025-04-25"), 7),
            Some(d("2025-05-07"))
        );
        assert_eq!(
            c.working_days_inclusive(d("2025-04-25"), d("2025-05-07")),
            7
        );
        let counted = DayCount::Working(&c);
        assert_eq!(counted.lag(d("2025-01-23"), d("2025-02-10")), 7);
        assert_eq!(DayCount::Calendar.lag(d("2025-01-23"), d("2025-02-10")), 18);
    }

    #[test]
    fn counting_agrees_with_walking_the_days_and_stays_cheap_for_any_span() {
        let c = Calendar::default();
        let start = d("2023-12-20");
        let mut walked = 0;
        let mut day = start;
        for _ in 0..1_600 {
            day = day.succ_opt().unwrap();
            walked += i64::from(c.is_working_day(day));
            assert_eq!(c.working_days_between(start, day), walked, "{day}");
            if c.is_working_day(day) {
                assert_eq!(c.add_working_days(start, walked as u32), Some(day), "{day}");
            }
        }
        assert!(c.add_working_days(d("2025-05-01"), u32::MAX).is_none());
        assert!(c.add_working_days(NaiveDate::MAX, 1).is_none());
        assert!(c.working_days_between(NaiveDate::MIN, NaiveDate::MAX) > 0);
    }

    #[test]
    fn a_file_with_a_typo_is_refused_with_the_day_named() {
        let file =
            |days: &str| format!(r#"{{"first_year": 2025, "last_year": 2025, "days": [{days}]}}"#);
        let day = |date: &str, kind: &str| {
            format!(r#"{{"date": "{date}", "kind": "{kind}", "name": "x", "source": "y"}}"#)
        };
        let weekend_holiday = Calendar::parse(&file(&day("2025-02-01", "holiday"))).unwrap_err();
        assert!(weekend_holiday.contains("2025-02-01"), "{weekend_holiday}");
        let weekday_workday = Calendar::parse(&file(&day("2025-02-03", "workday"))).unwrap_err();
        assert!(weekday_workday.contains("2025-02-03"), "{weekday_workday}");
        let twice = format!(
            "{},{}",
            day("2025-02-03", "holiday"),
            day("2025-02-03", "holiday")
        );
        assert!(
            Calendar::parse(&file(&twice))
                .unwrap_err()
                .contains("twice")
        );
        let outside = Calendar::parse(&file(&day("2026-02-03", "holiday"))).unwrap_err();
        assert!(outside.contains("outside"), "{outside}");
        assert!(Calendar::parse("{\"first_year\": 2025}").is_err());
    }
}
