//! Every legal limit and service level of the regulation, written once as pure functions: the command
//! path's `judge` (the breaches named in a command's answer) and the read models (the breaches and
//! figures an auditor reads) call the same functions, so the two can never disagree, and a breach's
//! code and wording come from here alone.
//!
//! All arithmetic on stored or configured values is checked: a limit whose date or instant falls
//! outside the calendar is "never reached", never a panic.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::deps::{Breach, LegalRules};
use crate::time::{lag_days, local_date, start_of_local_day};

fn breach(limit: &str, detail: String) -> Breach {
    Breach {
        limit: limit.to_owned(),
        detail,
    }
}

/// Days an act on `on` came after its last on-time date `due_on` (negative when early).
pub fn days_late(due_on: NaiveDate, on: NaiveDate) -> i64 {
    lag_days(due_on, on)
}

// ---------------------------------------------------------------------------------------------
// Inspections.
// ---------------------------------------------------------------------------------------------

/// The duration limits of an inspection: the base, and the most one extension may count for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectionLimits {
    pub base_days: u32,
    pub extension_cap: u32,
}

impl InspectionLimits {
    /// The limits of an inspection of `entities` entities: one entity 7 days extendable by 7,
    /// several 30 extendable by 15 (verified; configurable in [`LegalRules`]).
    pub fn for_entities(rules: &LegalRules, entities: usize) -> Self {
        if entities > 1 {
            Self {
                base_days: rules.inspection_several_entities_days,
                extension_cap: rules.inspection_several_entities_extension_days,
            }
        } else {
            Self {
                base_days: rules.inspection_one_entity_days,
                extension_cap: rules.inspection_one_entity_extension_days,
            }
        }
    }

    /// The longest lawful duration: the base plus the counted extension days.
    pub fn limit_days(&self, counted_extension_days: u32) -> u32 {
        self.base_days.saturating_add(counted_extension_days)
    }
}

/// What an inspection's extensions count for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedExtensions {
    /// Per extension, in order, the days it counts for.
    pub counted: Vec<u32>,
    /// Days requested by every extension together.
    pub requested: u32,
    /// Days that count towards the limit.
    pub counted_total: u32,
}

/// Counts extensions of `days` each, in order: the first counts up to the cap; a second one extends
/// nothing.
pub fn extensions(limits: InspectionLimits, days: &[u32]) -> CountedExtensions {
    let mut out = CountedExtensions {
        counted: Vec::with_capacity(days.len()),
        requested: 0,
        counted_total: 0,
    };
    for (n, d) in days.iter().enumerate() {
        let counted = if n == 0 {
            (*d).min(limits.extension_cap)
        } else {
            0
        };
        out.requested = out.requested.saturating_add(*d);
        out.counted_total = out.counted_total.saturating_add(counted);
        out.counted.push(counted);
    }
    out
}

/// The breach of the extension at `index` (0 for the first) of `days` granted on `extended_on`: a
/// first one beyond the cap, or any second one.
pub fn extension_breach(
    limits: InspectionLimits,
    index: usize,
    days: u32,
    extended_on: NaiveDate,
) -> Option<Breach> {
    let cap = limits.extension_cap;
    if index == 0 && days > cap {
        Some(breach(
            "inspection_extension_too_long",
            format!(
                "an extension of {days} days on {extended_on} exceeds the {cap} allowed; it counts for {cap}"
            ),
        ))
    } else if index > 0 {
        Some(breach(
            "second_extension",
            format!(
                "extension {} of {days} days on {extended_on}: an inspection may be extended once; it extends nothing",
                index + 1
            ),
        ))
    } else {
        None
    }
}

/// How an inspection decision's delivery stands against its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Days from issuance to delivery (local dates), once delivered.
    pub lag_days: Option<i64>,
    /// The limit in days.
    pub limit_days: u32,
    /// Whether the limit applies (not to an unannounced inspection).
    pub judged: bool,
    pub breach: Option<Breach>,
}

/// A decision reaches the inspected entity within 5 days of issuance (verified), unless the
/// inspection is unannounced. Delivered late is a breach; with `as_of`, not delivered by a date past
/// the limit is one too.
pub fn decision_delivery(
    rules: &LegalRules,
    unannounced: bool,
    issued_on: NaiveDate,
    delivered_on: Option<NaiveDate>,
    as_of: Option<NaiveDate>,
) -> Delivery {
    let limit = rules.inspection_decision_delivery_days;
    let allowed = i64::from(limit);
    let judged = !unannounced;
    let count = rules.days();
    let unit = count.unit();
    let lag = delivered_on.map(|d| count.lag(issued_on, d));
    let breach = match (delivered_on, as_of) {
        (Some(delivered), _) => {
            let lag = count.lag(issued_on, delivered);
            (judged && lag > allowed).then(|| {
                breach(
                    "inspection_decision_delivered_late",
                    format!(
                        "issued on {issued_on} and delivered on {delivered}, {lag} {unit} later; the limit is {allowed}"
                    ),
                )
            })
        }
        (None, Some(as_of)) if judged && count.lag(issued_on, as_of) > allowed => Some(breach(
            "inspection_decision_delivery_overdue",
            format!(
                "issued on {issued_on} and not delivered by {as_of}, {} {unit} later; the limit is {allowed}",
                count.lag(issued_on, as_of)
            ),
        )),
        (None, _) => None,
    };
    Delivery {
        lag_days: lag,
        limit_days: limit,
        judged,
        breach,
    }
}

/// An unannounced inspection must record its grounds (verified).
pub fn unannounced_grounds(unannounced: bool, grounds_recorded: bool) -> Option<Breach> {
    (unannounced && !grounds_recorded).then(|| {
        breach(
            "unannounced_without_grounds",
            "an unannounced inspection's decision records no grounds".to_owned(),
        )
    })
}

/// A consultation determined after the days the coordination agreement gives the Board
/// (`consultation_answer_days`), counted from its opening's local date.
pub fn consultation_determined_late(
    rules: &LegalRules,
    opened_on: NaiveDate,
    decided_on: NaiveDate,
    days: u32,
) -> Option<Breach> {
    let count = rules.days();
    let lag = count.lag(opened_on, decided_on);
    (lag > i64::from(days)).then(|| {
        breach(
            "consultation_determined_late",
            format!(
                "opened on {opened_on} and determined on {decided_on}, {lag} {} later; the coordination agreement allows {days}",
                count.unit()
            ),
        )
    })
}

/// A consultation not determined by `as_of`, past the agreement's days.
pub fn consultation_overdue(
    opened_on: NaiveDate,
    due_on: NaiveDate,
    as_of: NaiveDate,
) -> Option<Breach> {
    (as_of > due_on).then(|| {
        breach(
            "consultation_determination_overdue",
            format!(
                "opened on {opened_on}, due by {due_on} under the coordination agreement, and not determined by {as_of}"
            ),
        )
    })
}

/// Infrastructure information (`EnvironmentalInfrastructureReported`) delivered more than the
/// agreement's `infrastructure_information_days` after the date it describes.
pub fn infrastructure_information_late(
    rules: &LegalRules,
    as_of: NaiveDate,
    reported_on: NaiveDate,
    days: u32,
) -> Option<Breach> {
    let count = rules.days();
    let lag = count.lag(as_of, reported_on);
    (lag > i64::from(days)).then(|| {
        breach(
            "infrastructure_information_late",
            format!(
                "infrastructure as of {as_of} reported on {reported_on}, {lag} {} later; the coordination agreement allows {days}",
                count.unit()
            ),
        )
    })
}

/// The code of an announced inspection that started before its decision reached the inspected
/// entity.
pub const STARTED_BEFORE_DELIVERY: &str = "inspection_started_before_delivery";

/// An announced inspection starts only once its decision is delivered (the decision reaches the
/// entity within 5 days of issue so that it can prepare). One that started earlier is recorded and
/// named here, whichever of the start and the delivery is recorded second.
pub fn started_before_delivery(
    announced: bool,
    started_on: NaiveDate,
    delivered_on: NaiveDate,
) -> Option<Breach> {
    (announced && started_on < delivered_on).then(|| {
        breach(
            STARTED_BEFORE_DELIVERY,
            format!(
                "the announced inspection started on {started_on}, before its decision was \
                 delivered on {delivered_on}"
            ),
        )
    })
}

/// How long an inspection lasted, or has lasted so far, against its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionDuration {
    /// Local days counted inclusively from start to conclusion (or to the as-of date while under way).
    pub days: Option<i64>,
    pub under_way: bool,
    pub breach: Option<Breach>,
}

/// An inspection lasts at most its limit, counted inclusively in local days from its start to its
/// conclusion; with `as_of`, one still under way past its limit is overrunning.
pub fn inspection_duration(
    rules: &LegalRules,
    limits: InspectionLimits,
    counted_extension_days: u32,
    started_on: NaiveDate,
    concluded_on: Option<NaiveDate>,
    as_of: Option<NaiveDate>,
) -> InspectionDuration {
    let limit = limits.limit_days(counted_extension_days);
    let base = limits.base_days;
    let count = rules.days();
    let unit = count.unit();
    match (concluded_on, as_of) {
        (Some(concluded), _) => {
            let days = count.inclusive(started_on, concluded);
            InspectionDuration {
                days: Some(days),
                under_way: false,
                breach: (days > i64::from(limit)).then(|| {
                    breach(
                        "inspection_too_long",
                        format!(
                            "started on {started_on} and concluded on {concluded}, {days} {unit}; the limit is {limit} ({base} plus {counted_extension_days} of extension)"
                        ),
                    )
                }),
            }
        }
        (None, Some(as_of)) if as_of >= started_on => {
            let days = count.inclusive(started_on, as_of);
            InspectionDuration {
                days: Some(days),
                under_way: true,
                breach: (days > i64::from(limit)).then(|| {
                    breach(
                        "inspection_overrunning",
                        format!(
                            "started on {started_on} and not concluded by {as_of}, {days} {unit}; the limit is {limit}"
                        ),
                    )
                }),
            }
        }
        (None, _) => InspectionDuration {
            days: None,
            under_way: false,
            breach: None,
        },
    }
}

/// Days a remediation is overdue on `as_of`: after its due date, not verified by then.
pub fn remediation_overdue_days(due_on: NaiveDate, as_of: NaiveDate) -> Option<u32> {
    (as_of > due_on).then(|| u32::try_from(lag_days(due_on, as_of)).unwrap_or(u32::MAX))
}

// ---------------------------------------------------------------------------------------------
// Incidents.
// ---------------------------------------------------------------------------------------------

/// The instant by which an incident detected at `detected_at` must first be notified, `hours`
/// later; `None` when that lies beyond the calendar.
pub fn notification_deadline(detected_at: DateTime<Utc>, hours: u32) -> Option<DateTime<Utc>> {
    detected_at.checked_add_signed(Duration::try_hours(i64::from(hours))?)
}

/// An incident's first notification against the hours allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub deadline: Option<DateTime<Utc>>,
    /// From detection to the first notification.
    pub lag: Option<Duration>,
    /// Notified after the deadline.
    pub late: bool,
    /// Not notified, and `as_of` is past the deadline.
    pub overdue: bool,
    pub breach: Option<Breach>,
}

/// Judges the first notification of an incident detected at `detected_at` against `hours` allowed
/// (`source` names who set them), as instants; with `as_of`, a missing one past the deadline is
/// overdue.
pub fn notification(
    detected_at: DateTime<Utc>,
    hours: u32,
    source: &str,
    first_notified_at: Option<DateTime<Utc>>,
    as_of: Option<DateTime<Utc>>,
) -> Notification {
    let deadline = notification_deadline(detected_at, hours);
    let lag = first_notified_at.map(|n| n - detected_at);
    let late = match (first_notified_at, deadline) {
        (Some(n), Some(d)) => n > d,
        _ => false,
    };
    let overdue = match (first_notified_at, deadline, as_of) {
        (None, Some(d), Some(as_of)) => as_of > d,
        _ => false,
    };
    let breach = match (late, first_notified_at, lag) {
        (true, Some(first), Some(lag)) => Some(breach(
            "incident_notification_late",
            format!(
                "detected at {detected_at} and first notified at {first}, {} hours {} minutes later; the limit is {hours} hours, set by {source}",
                lag.num_hours(),
                lag.num_minutes() % 60,
            ),
        )),
        _ => None,
    };
    Notification {
        deadline,
        lag,
        late,
        overdue,
        breach,
    }
}

// ---------------------------------------------------------------------------------------------
// Information exchanges.
// ---------------------------------------------------------------------------------------------

/// When an answer to an information request is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerDue {
    /// The last local date on which an answer is on time.
    pub due_on: NaiveDate,
    /// The first instant at which an answer is late.
    pub late_from: DateTime<Utc>,
}

/// A request with its own `due_at`: an answer at `due_at` is on time, one a microsecond later is late.
pub fn answer_due_by_request(due_at: DateTime<Utc>) -> Option<AnswerDue> {
    Some(AnswerDue {
        due_on: local_date(due_at),
        late_from: due_at.checked_add_signed(Duration::microseconds(1))?,
    })
}

/// A request without a `due_at`, under an agreement that gives `days` to answer: the answer is due by
/// the local date `requested_on + days`, so it is late from the start of the next local day. `None`
/// when that lies beyond the calendar.
pub fn answer_due_by_agreement(
    rules: &LegalRules,
    requested_on: NaiveDate,
    days: u32,
) -> Option<AnswerDue> {
    let due_on = rules.days().add(requested_on, days)?;
    Some(AnswerDue {
        due_on,
        late_from: start_of_next_local_day(due_on)?,
    })
}

/// The first instant of the local (UTC+7) day after `date`.
pub fn start_of_next_local_day(date: NaiveDate) -> Option<DateTime<Utc>> {
    start_of_local_day(date.succ_opt()?)
}

// ---------------------------------------------------------------------------------------------
// Annual reports, tasks, dossiers.
// ---------------------------------------------------------------------------------------------

/// The last on-time local date of an annual report covering `year`: `due_day` of January of the next
/// year (verified: 15 for tenants, 20 for infrastructure companies).
pub fn annual_report_due(year: u32, due_day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?.checked_add(1)?, 1, due_day)
}

/// Who files an annual report, for the breach's code and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFiler {
    Tenant,
    Park,
}

/// A tenant's or a park's annual report submitted after its due date.
pub fn annual_report_late(
    filer: ReportFiler,
    rules: &LegalRules,
    year: u32,
    submitted_on: NaiveDate,
) -> Option<Breach> {
    let (day, limit, whose) = match filer {
        ReportFiler::Tenant => (
            rules.tenant_annual_report_due_day,
            "tenant_annual_report_late",
            "the annual environmental report",
        ),
        ReportFiler::Park => (
            rules.park_annual_report_due_day,
            "park_annual_report_late",
            "the park's annual environmental report",
        ),
    };
    let due = annual_report_due(year, day)?;
    (submitted_on > due).then(|| {
        breach(
            limit,
            format!("{whose} for {year} was due by {due} and was submitted on {submitted_on}"),
        )
    })
}

/// An annual task completed after its due date (local dates).
pub fn task_completed_late(
    task_id: &str,
    due_on: NaiveDate,
    completed_on: NaiveDate,
) -> Option<Breach> {
    (completed_on > due_on).then(|| {
        breach(
            "task_completed_late",
            format!("task {task_id} was due on {due_on} and completed on {completed_on}"),
        )
    })
}

/// A dossier's processing days: the working days after its received local date up to its decided
/// one (administrative procedures count working days).
pub fn dossier_days(rules: &LegalRules, received_on: NaiveDate, decided_on: NaiveDate) -> i64 {
    rules.procedure_days().lag(received_on, decided_on)
}

/// A dossier decided after the processing time promised at receipt.
pub fn dossier_decided_late(
    rules: &LegalRules,
    procedure_code: &str,
    promised_days: u32,
    received_on: NaiveDate,
    decided_on: NaiveDate,
) -> Option<Breach> {
    let days = dossier_days(rules, received_on, decided_on);
    (days > i64::from(promised_days)).then(|| {
        breach(
            "dossier_decided_late",
            format!(
                "procedure {procedure_code} promises {promised_days} working days; the dossier took {days} (received {received_on}, decided {decided_on})"
            ),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// What is still owed on a date: the breaches an auditor finds open, worded once.
// ---------------------------------------------------------------------------------------------

/// An incident not notified by `as_of`, past its deadline.
pub fn notification_overdue(
    detected_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    as_of: DateTime<Utc>,
) -> Option<Breach> {
    (as_of > deadline).then(|| {
        breach(
            "incident_notification_overdue",
            format!(
                "detected at {detected_at} and not notified by {as_of}; it was due by {deadline}"
            ),
        )
    })
}

/// An information request answered after the first instant it was late from.
pub fn answered_late(late_from: DateTime<Utc>, answered_at: DateTime<Utc>) -> Option<Breach> {
    (answered_at >= late_from).then(|| {
        breach(
            "information_answered_late",
            format!("answered at {answered_at}; an answer was late from {late_from}"),
        )
    })
}

/// An information request not answered by `as_of`, past its due time.
pub fn answer_overdue(late_from: DateTime<Utc>, as_of: DateTime<Utc>) -> Option<Breach> {
    (as_of >= late_from).then(|| {
        breach(
            "information_answer_overdue",
            format!("not answered by {as_of}; an answer was late from {late_from}"),
        )
    })
}

/// A remediation verified after its due date.
pub fn remediation_verified_late(
    finding_id: &str,
    due_on: NaiveDate,
    verified_on: NaiveDate,
) -> Option<Breach> {
    (verified_on > due_on).then(|| {
        breach(
            "remediation_verified_late",
            format!("finding {finding_id}'s remediation was due by {due_on} and verified on {verified_on}"),
        )
    })
}

/// A remediation not verified by `as_of`, past its due date.
pub fn remediation_overdue(
    finding_id: &str,
    due_on: NaiveDate,
    as_of: NaiveDate,
) -> Option<Breach> {
    remediation_overdue_days(due_on, as_of).map(|days| {
        breach(
            "remediation_overdue",
            format!("finding {finding_id}'s remediation was due by {due_on}; not verified by {as_of}, {days} days later"),
        )
    })
}

/// An annual task not completed by `as_of`, past its due date.
pub fn task_overdue(task_id: &str, due_on: NaiveDate, as_of: NaiveDate) -> Option<Breach> {
    (as_of > due_on).then(|| {
        breach(
            "task_overdue",
            format!("task {task_id} was due on {due_on} and not completed by {as_of}"),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Quarterly reports (the coordination agreement's `quarterly_report_due_day`).
// ---------------------------------------------------------------------------------------------

/// The first and last local dates of quarter `quarter` (1–4) of `year`; `None` for another quarter
/// or a year beyond the calendar.
pub fn quarter_bounds(year: i32, quarter: u32) -> Option<(NaiveDate, NaiveDate)> {
    if !(1..=4).contains(&quarter) {
        return None;
    }
    let first = NaiveDate::from_ymd_opt(year, quarter * 3 - 2, 1)?;
    let next = match quarter {
        4 => NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?,
        q => NaiveDate::from_ymd_opt(year, q * 3 + 1, 1)?,
    };
    Some((first, next.pred_opt()?))
}

/// The last on-time date of the quarterly report on quarter `quarter` of `year`: day `due_day`
/// (1–28) of the month after the quarter, as the coordination agreement sets it (a day of the
/// month, not a count of days, so working days do not enter).
pub fn quarterly_report_due(year: i32, quarter: u32, due_day: u32) -> Option<NaiveDate> {
    let (_, last) = quarter_bounds(year, quarter)?;
    let next = last.succ_opt()?;
    NaiveDate::from_ymd_opt(next.year(), next.month(), due_day)
}

/// A quarterly report on a task filed after the agreement's due day.
pub fn quarterly_report_late(
    task_id: &str,
    year: i32,
    quarter: u32,
    due_day: u32,
    reported_on: NaiveDate,
) -> Option<Breach> {
    let due_on = quarterly_report_due(year, quarter, due_day)?;
    let late = days_late(due_on, reported_on);
    (late > 0).then(|| {
        breach(
            "quarterly_report_late",
            format!(
                "the report on task {task_id} for Q{quarter} {year} was due on {due_on} (day \
                 {due_day} of the agreement) and filed on {reported_on}, {late} day{s} late",
                s = if late == 1 { "" } else { "s" }
            ),
        )
    })
}

/// A quarterly report on a task not filed by `as_of`, past its due date.
pub fn quarterly_report_overdue(
    task_id: &str,
    year: i32,
    quarter: u32,
    due_on: NaiveDate,
    as_of: NaiveDate,
) -> Option<Breach> {
    (as_of > due_on).then(|| {
        breach(
            "quarterly_report_overdue",
            format!(
                "the report on task {task_id} for Q{quarter} {year} was due on {due_on} and not \
                 filed by {as_of}"
            ),
        )
    })
}

/// The last on-time date of a dossier promised in `promised_days`; `None` beyond the calendar.
pub fn dossier_due(
    rules: &LegalRules,
    received_on: NaiveDate,
    promised_days: u32,
) -> Option<NaiveDate> {
    rules.procedure_days().add(received_on, promised_days)
}

/// A dossier not decided by `as_of`, past its promised processing time.
pub fn dossier_overdue(
    rules: &LegalRules,
    procedure_code: &str,
    promised_days: u32,
    received_on: NaiveDate,
    as_of: NaiveDate,
) -> Option<Breach> {
    let due = dossier_due(rules, received_on, promised_days)?;
    (as_of > due).then(|| {
        breach(
            "dossier_overdue",
            format!("procedure {procedure_code} promises {promised_days} working days; the dossier received {received_on} was not decided by {as_of}"),
        )
    })
}

/// The last local date on which an inspection of `limit_days` started on `started_on` may be
/// concluded (the duration counts both ends); `None` beyond the calendar.
pub fn inspection_last_day(
    rules: &LegalRules,
    started_on: NaiveDate,
    limit_days: u32,
) -> Option<NaiveDate> {
    rules.days().last_of(started_on, limit_days)
}

/// The last local date on which a decision issued on `issued_on` is delivered on time.
pub fn delivery_last_day(rules: &LegalRules, issued_on: NaiveDate) -> Option<NaiveDate> {
    rules
        .days()
        .add(issued_on, rules.inspection_decision_delivery_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_quarterly_report_is_due_on_the_agreements_day_of_the_month_after_the_quarter() {
        assert_eq!(
            quarter_bounds(2025, 4),
            Some((d("2025-10-01"), d("2025-12-31")))
        );
        assert_eq!(
            quarter_bounds(2024, 1),
            Some((d("2024-01-01"), d("2024-03-31")))
        );
        assert_eq!(quarter_bounds(2025, 5), None);
        assert_eq!(quarter_bounds(i32::MAX, 4), None);
        assert_eq!(quarterly_report_due(2025, 2, 10), Some(d("2025-07-10")));
        assert_eq!(quarterly_report_due(2025, 4, 10), Some(d("2026-01-10")));
        // Filed on the 10th is on time, the 11th a day late.
        assert_eq!(
            quarterly_report_late("T-01", 2025, 2, 10, d("2025-07-10")),
            None
        );
        let late = quarterly_report_late("T-01", 2025, 2, 10, d("2025-07-11")).unwrap();
        assert_eq!(late.limit, "quarterly_report_late");
        assert!(late.detail.contains("1 day late"), "{}", late.detail);
        assert_eq!(
            quarterly_report_overdue("T-01", 2025, 2, d("2025-07-10"), d("2025-07-11"))
                .unwrap()
                .limit,
            "quarterly_report_overdue"
        );
    }

    #[test]
    fn the_first_extension_counts_up_to_its_cap_and_a_second_extends_nothing() {
        let limits = InspectionLimits::for_entities(&LegalRules::default(), 1);
        let c = extensions(limits, &[9, 3]);
        assert_eq!(c.counted, vec![7, 0]);
        assert_eq!((c.requested, c.counted_total), (12, 7));
        assert_eq!(limits.limit_days(c.counted_total), 14);
        let on = d("2025-05-20");
        assert_eq!(
            extension_breach(limits, 0, 9, on).unwrap().limit,
            "inspection_extension_too_long"
        );
        assert_eq!(extension_breach(limits, 0, 7, on), None);
        assert_eq!(
            extension_breach(limits, 1, 1, on).unwrap().limit,
            "second_extension"
        );
    }

    #[test]
    fn a_delivery_on_the_fifth_day_is_on_time_and_on_the_sixth_late_unless_unannounced() {
        let r = LegalRules::default();
        let on_time = decision_delivery(&r, false, d("2025-03-01"), Some(d("2025-03-06")), None);
        assert_eq!((on_time.lag_days, on_time.breach), (Some(5), None));
        let late = decision_delivery(&r, false, d("2025-03-01"), Some(d("2025-03-07")), None);
        assert_eq!(
            late.breach.unwrap().limit,
            "inspection_decision_delivered_late"
        );
        let unannounced = decision_delivery(&r, true, d("2025-03-01"), Some(d("2025-03-20")), None);
        assert!(!unannounced.judged && unannounced.breach.is_none());
        let overdue = decision_delivery(&r, false, d("2025-03-01"), None, Some(d("2025-03-09")));
        assert_eq!(
            overdue.breach.unwrap().limit,
            "inspection_decision_delivery_overdue"
        );
    }

    #[test]
    fn durations_count_both_ends() {
        let limits = InspectionLimits::for_entities(&LegalRules::default(), 1);
        let ok = inspection_duration(
            &LegalRules::default(),
            limits,
            0,
            d("2025-05-09"),
            Some(d("2025-05-15")),
            None,
        );
        assert_eq!((ok.days, ok.breach), (Some(7), None));
        let long = inspection_duration(
            &LegalRules::default(),
            limits,
            0,
            d("2025-05-09"),
            Some(d("2025-05-16")),
            None,
        );
        assert_eq!(long.breach.unwrap().limit, "inspection_too_long");
        let running = inspection_duration(
            &LegalRules::default(),
            limits,
            7,
            d("2025-05-09"),
            None,
            Some(d("2025-05-30")),
        );
        assert!(running.under_way);
        assert_eq!(running.breach.unwrap().limit, "inspection_overrunning");
    }

    #[test]
    fn a_notification_at_the_deadline_is_on_time() {
        let detected = at("2025-06-02T01:00:00Z");
        let on_time = notification(detected, 4, "x", Some(at("2025-06-02T05:00:00Z")), None);
        assert!(!on_time.late && on_time.breach.is_none());
        let late = notification(detected, 4, "x", Some(at("2025-06-02T05:00:01Z")), None);
        assert!(late.late);
        assert_eq!(late.breach.unwrap().limit, "incident_notification_late");
        let overdue = notification(detected, 4, "x", None, Some(at("2025-06-03T00:00:00Z")));
        assert!(overdue.overdue);
    }

    #[test]
    fn limits_beyond_the_calendar_are_never_reached_and_never_panic() {
        let detected = at("2025-06-02T01:00:00Z");
        assert!(notification_deadline(detected, 1_000_000).is_some());
        // 2^32 hours is about 490,000 years: beyond the calendar.
        assert_eq!(notification_deadline(detected, u32::MAX), None);
        let far = at("+262000-01-01T00:00:00Z");
        assert_eq!(notification_deadline(far, u32::MAX), None);
        let n = notification(far, u32::MAX, "x", Some(far), Some(far));
        assert!(!n.late && !n.overdue);
        assert_eq!(
            answer_due_by_agreement(&LegalRules::default(), d("2025-05-01"), u32::MAX),
            None
        );
        assert_eq!(
            answer_due_by_agreement(&LegalRules::default(), NaiveDate::MAX, 0),
            None
        );
        assert_eq!(annual_report_due(u32::MAX, 15), None);
        assert!(remediation_overdue_days(NaiveDate::MIN, NaiveDate::MAX).is_some());
        assert_eq!(
            remediation_overdue_days(NaiveDate::MAX, NaiveDate::MIN),
            None
        );
    }

    #[test]
    fn what_is_still_owed_is_named_only_past_its_date() {
        let due = d("2025-05-10");
        assert_eq!(remediation_overdue("F-1", due, due), None);
        assert_eq!(
            remediation_overdue("F-1", due, d("2025-05-13"))
                .unwrap()
                .limit,
            "remediation_overdue"
        );
        assert_eq!(
            task_overdue("T-1", due, d("2025-05-11")).unwrap().limit,
            "task_overdue"
        );
        // Working days: 1–2 May 2025 are holidays and 3–4 a weekend, so the 15th working day after
        // 1 May is Friday 23 May.
        let r = LegalRules::default();
        assert_eq!(dossier_due(&r, d("2025-05-01"), 15), Some(d("2025-05-23")));
        assert!(dossier_overdue(&r, "P", 15, d("2025-05-01"), d("2025-05-23")).is_none());
        assert!(dossier_overdue(&r, "P", 15, d("2025-05-01"), d("2025-05-24")).is_some());
        // Seven days from the 9th end on the 15th; five days after the 1st is the 6th.
        assert_eq!(
            inspection_last_day(&LegalRules::default(), d("2025-05-09"), 7),
            Some(d("2025-05-15"))
        );
        assert_eq!(
            delivery_last_day(&LegalRules::default(), d("2025-03-01")),
            Some(d("2025-03-06"))
        );
        let late_from = at("2025-05-08T17:00:00Z");
        assert!(answered_late(late_from, at("2025-05-08T16:59:59Z")).is_none());
        assert!(answered_late(late_from, late_from).is_some());
        assert!(answer_overdue(late_from, at("2025-05-09T00:00:00Z")).is_some());
    }

    #[test]
    fn an_agreement_due_date_is_late_from_the_next_local_midnight() {
        let due = answer_due_by_agreement(&LegalRules::default(), d("2025-05-01"), 7).unwrap();
        assert_eq!(due.due_on, d("2025-05-08"));
        assert_eq!(due.late_from, at("2025-05-08T17:00:00Z"));
        let own = answer_due_by_request(at("2025-05-08T10:00:00Z")).unwrap();
        assert_eq!(own.late_from, at("2025-05-08T10:00:00.000001Z"));
    }
}
